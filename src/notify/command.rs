//! `command` channels: `sh -c` in a process group of its own, the message on stdin.

use std::process::Stdio;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::{first_line, Attempt, AttemptError, Message, Settings};

/// Stderr kept; the rest is read and dropped so the command never blocks on a full
/// pipe. Only its first line is quoted.
const STDERR_LIMIT: usize = 64 << 10;

/// Runs `script` once with the message's text and a newline on stdin, then stdin
/// closed (line readers such as `read` need the line ended). Exit 0 is delivered;
/// any other end may pass (a pager's gateway down), so it is retried, except a
/// command that cannot start at all.
///
/// When the shell exits, whatever it left running in its group is killed: exit 0
/// says the message is delivered, and a stray holding stderr open would otherwise
/// hold the delivery until the timeout.
pub(super) async fn run(script: &str, message: &Message, settings: &Settings) -> Attempt {
    let spawned = Command::new("sh")
        .arg("-c")
        .arg(script)
        .envs(settings.env.iter().map(|(key, value)| (key, value)))
        .current_dir(&settings.work_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        // A missing shell or work directory: the next attempt would meet it too.
        Err(error) => {
            return Attempt::Final(AttemptError::Spawn {
                reason: error.to_string(),
            })
        }
    };
    let group = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    let kill_group = || {
        if let Some(group) = group {
            let _ = killpg(group, Signal::SIGKILL);
        }
    };
    let stdin = child.stdin.take();
    let stderr = child.stderr.take();
    let text = format!("{}\n", message.text);
    let fed = async move {
        if let Some(mut stdin) = stdin {
            // A command that reads no stdin closes it early: that is its choice.
            let _ = stdin.write_all(text.as_bytes()).await;
        }
        // Dropped here, so the command sees the end of its input.
    };
    let exited = async {
        let status = child.wait().await;
        kill_group();
        status
    };
    let finished = tokio::time::timeout(settings.timeout, async {
        tokio::join!(exited, read_capped(stderr), fed)
    })
    .await;
    let Ok((status, stderr, ())) = finished else {
        kill_group();
        let _ = child.start_kill();
        let _ = child.wait().await;
        return Attempt::Passing {
            error: AttemptError::CommandTimedOut {
                after: settings.timeout,
            },
            retry_after: None,
        };
    };
    let error = match status {
        Ok(status) if status.success() => {
            return Attempt::Delivered("the command exited 0".to_string())
        }
        Ok(status) => AttemptError::CommandFailed {
            status: describe(status),
            stderr: first_line(&stderr),
        },
        Err(error) => AttemptError::Spawn {
            reason: error.to_string(),
        },
    };
    Attempt::Passing {
        error,
        retry_after: None,
    }
}

/// Up to [`STDERR_LIMIT`] bytes of `pipe`, read to its end.
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
                let room = STDERR_LIMIT.saturating_sub(kept.len());
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
