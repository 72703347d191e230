//! `command` probes: `sh -c` in a process group of its own, bounded by the timeout.

use std::process::Stdio;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use super::{excerpt, ProbeError, Settings};

/// Output kept per stream; the rest is read and dropped so the command never
/// blocks on a full pipe. A number, or a JSON answer holding one, is far smaller.
const OUTPUT_LIMIT: usize = 4 << 20;

/// Runs `script` and gives its stdout, or why there is no usable stdout.
///
/// When the shell exits, whatever it left running in its group is killed: a probe
/// reads, and a stray holding the pipe open would otherwise hold the reading too.
pub(super) async fn run(script: &str, settings: &Settings) -> Result<String, ProbeError> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .envs(settings.env.iter().map(|(key, value)| (key, value)))
        .current_dir(&settings.work_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| ProbeError::Spawn {
            reason: error.to_string(),
        })?;
    let group = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    let kill_group = || {
        if let Some(group) = group {
            let _ = killpg(group, Signal::SIGKILL);
        }
    };
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let exited = async {
        let status = child.wait().await;
        kill_group();
        status
    };
    let finished = tokio::time::timeout(settings.timeout, async {
        tokio::join!(exited, read_capped(stdout), read_capped(stderr))
    })
    .await;
    let Ok((status, stdout, stderr)) = finished else {
        kill_group();
        let _ = child.start_kill();
        let _ = child.wait().await;
        return Err(ProbeError::TimedOut {
            after: settings.timeout,
        });
    };
    let status = status.map_err(|error| ProbeError::Spawn {
        reason: error.to_string(),
    })?;
    if !status.success() {
        return Err(ProbeError::CommandFailed {
            status: describe(status),
            stderr: first_line(&stderr),
        });
    }
    Ok(String::from_utf8_lossy(&stdout).into_owned())
}

/// Up to [`OUTPUT_LIMIT`] bytes of `pipe`, read to its end.
async fn read_capped<R: AsyncRead + Unpin>(pipe: Option<R>) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut pipe) = pipe else {
        return kept;
    };
    let mut buffer = [0u8; 8192];
    loop {
        match pipe.read(&mut buffer).await {
            Ok(0) | Err(_) => return kept,
            Ok(length) => {
                let room = OUTPUT_LIMIT.saturating_sub(kept.len());
                kept.extend_from_slice(&buffer[..length.min(room)]);
            }
        }
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => "an unknown status".to_string(),
    }
}

/// The first non-blank line of `stderr`, cut short: usually the message that says why.
fn first_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let line = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("");
    excerpt(line)
}
