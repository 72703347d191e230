//! `command` channels: a [`brief`] command, the message on stdin.

use crate::executor::brief::{self, Brief, Ended};

use super::{first_line, Attempt, AttemptError, Message, Settings};

/// Stderr kept. Only its first line is quoted.
const STDERR_LIMIT: usize = 64 << 10;

/// Runs `script` once with the message's text and a newline on stdin, then stdin
/// closed. Exit 0 is delivered; any other end may pass (a pager's gateway down),
/// so it is retried, except a command that cannot start at all.
///
/// Leftovers in its process group are killed when the shell exits: exit 0 says
/// the message is delivered, and a stray must not hold the delivery.
pub(super) async fn run(script: &str, message: &Message, settings: &Settings) -> Attempt {
    let text = format!("{}\n", message.text);
    let ended = brief::run(Brief {
        script,
        env: &settings.env,
        cwd: &settings.work_dir,
        stdin: Some(text.as_bytes()),
        keep_stdout: false,
        timeout: settings.timeout,
        output_limit: STDERR_LIMIT,
    })
    .await;
    let error = match ended {
        Ended::Exited { status, .. } if status.success() => {
            return Attempt::Delivered("the command exited 0".to_string())
        }
        Ended::Exited { status, stderr, .. } => AttemptError::CommandFailed {
            status: brief::describe(status),
            stderr: first_line(&stderr),
        },
        Ended::TimedOut => AttemptError::CommandTimedOut {
            after: settings.timeout,
        },
        // A missing shell or work directory: the next attempt would meet it too.
        Ended::NotStarted(error) => {
            return Attempt::Final(AttemptError::Spawn {
                reason: error.to_string(),
            })
        }
        Ended::WaitFailed(error) => AttemptError::Spawn {
            reason: error.to_string(),
        },
    };
    Attempt::Passing {
        error,
        retry_after: None,
    }
}
