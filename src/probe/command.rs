//! `command` probes: a [`brief`] command, its stdout the reading.

use crate::executor::brief::{self, Brief, Ended};

use super::{ProbeError, Settings, EXCERPT_CHARS};

/// Output kept per stream. A number, or a JSON answer holding one, is far smaller.
const OUTPUT_LIMIT: usize = 4 << 20;

/// Runs `script` and gives its stdout, or why there is no usable stdout.
pub(super) async fn run(script: &str, settings: &Settings) -> Result<String, ProbeError> {
    let ended = brief::run(Brief {
        script,
        env: &settings.env,
        cwd: &settings.work_dir,
        stdin: None,
        keep_stdout: true,
        timeout: settings.timeout,
        output_limit: OUTPUT_LIMIT,
    })
    .await;
    match ended {
        Ended::Exited { status, stdout, .. } if status.success() => {
            Ok(String::from_utf8_lossy(&stdout).into_owned())
        }
        Ended::Exited { status, stderr, .. } => Err(ProbeError::CommandFailed {
            status: brief::describe(status),
            stderr: brief::first_line(&stderr, EXCERPT_CHARS),
        }),
        Ended::TimedOut => Err(ProbeError::TimedOut {
            after: settings.timeout,
        }),
        Ended::NotStarted(error) | Ended::WaitFailed(error) => Err(ProbeError::Spawn {
            reason: error.to_string(),
        }),
    }
}
