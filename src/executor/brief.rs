//! A brief command: run to its end for what it prints or says, never left behind.
//!
//! `sh -c` in a process group of its own, bounded by a timeout. Probes read one,
//! `command` channels deliver through one; a step's commands go through
//! [`super::Executor`] instead, since they stream output and are stopped on request.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// One command to run. No `Debug`: `env` holds secrets.
pub struct Brief<'a> {
    pub script: &'a str,
    /// Added to the engine's own environment.
    pub env: &'a [(String, String)],
    pub cwd: &'a Path,
    /// Written to stdin, which is then closed (line readers such as `read` need the
    /// end); `None` gives no stdin at all.
    pub stdin: Option<&'a [u8]>,
    /// Whether stdout is read; if not, it goes to `/dev/null`.
    pub keep_stdout: bool,
    /// The longest the whole run may take.
    pub timeout: Duration,
    /// Bytes kept per stream; the rest is read and dropped so the command never
    /// blocks on a full pipe.
    pub output_limit: usize,
}

/// How a [`Brief`] ended. Nothing it started is left running in any case.
#[derive(Debug)]
pub enum Ended {
    /// `stdout` is empty unless [`Brief::keep_stdout`].
    Exited {
        status: ExitStatus,
        stdout: Vec<u8>,
        stderr: Vec<u8>,
    },
    TimedOut,
    /// It could not be started (no shell, no such folder).
    NotStarted(io::Error),
    /// It started, but waiting for it failed.
    WaitFailed(io::Error),
}

/// Runs `brief` to its end or its timeout.
///
/// When the shell exits, whatever it left running in its group is killed: the
/// caller wants the answer now, and a stray holding a pipe open would otherwise
/// hold the reading until the timeout.
pub async fn run(brief: Brief<'_>) -> Ended {
    let spawned = Command::new("sh")
        .arg("-c")
        .arg(brief.script)
        .envs(brief.env.iter().map(|(key, value)| (key, value)))
        .current_dir(brief.cwd)
        .stdin(match brief.stdin {
            Some(_) => Stdio::piped(),
            None => Stdio::null(),
        })
        .stdout(if brief.keep_stdout {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) => return Ended::NotStarted(error),
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
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let input = brief.stdin;
    let fed = async move {
        if let (Some(mut stdin), Some(input)) = (stdin, input) {
            // A command that reads no stdin closes it early: that is its choice.
            let _ = stdin.write_all(input).await;
        }
        // Dropped here, so the command sees the end of its input.
    };
    let exited = async {
        let status = child.wait().await;
        kill_group();
        status
    };
    let limit = brief.output_limit;
    let finished = tokio::time::timeout(brief.timeout, async {
        tokio::join!(
            exited,
            read_capped(stdout, limit),
            read_capped(stderr, limit),
            fed
        )
    })
    .await;
    let Ok((status, stdout, stderr, ())) = finished else {
        kill_group();
        let _ = child.start_kill();
        let _ = child.wait().await;
        return Ended::TimedOut;
    };
    match status {
        Ok(status) => Ended::Exited {
            status,
            stdout,
            stderr,
        },
        Err(error) => Ended::WaitFailed(error),
    }
}

/// Up to `limit` bytes of `pipe`, read to its end.
async fn read_capped<R: AsyncRead + Unpin>(pipe: Option<R>, limit: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut pipe) = pipe else {
        return kept;
    };
    let mut buffer = [0u8; 8192];
    loop {
        match pipe.read(&mut buffer).await {
            Ok(0) | Err(_) => return kept,
            Ok(length) => {
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&buffer[..length.min(room)]);
            }
        }
    }
}

/// `exit code 2`, `signal 9`: how a failure reads in a message.
pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => "an unknown status".to_string(),
    }
}

/// The first non-blank line of `stderr`, cut to `max_chars` with `…`: usually the
/// message that says why.
pub fn first_line(stderr: &[u8], max_chars: usize) -> String {
    let text = String::from_utf8_lossy(stderr);
    let line = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("");
    match line.char_indices().nth(max_chars) {
        None => line.to_string(),
        Some((end, _)) => format!("{}…", &line[..end]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brief<'a>(script: &'a str, cwd: &'a Path, timeout: Duration) -> Brief<'a> {
        Brief {
            script,
            env: &[],
            cwd,
            stdin: None,
            keep_stdout: true,
            timeout,
            output_limit: 16,
        }
    }

    fn alive(pid: i32) -> bool {
        nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok()
    }

    #[tokio::test]
    async fn output_past_the_limit_is_read_and_dropped() {
        let cwd = std::env::temp_dir();
        // 1 MiB: far more than a pipe holds, so an unread pipe would block the command.
        let script = "head -c 1048576 /dev/zero | tr '\\0' x; echo done >&2";
        match run(brief(script, &cwd, Duration::from_secs(10))).await {
            Ended::Exited {
                status,
                stdout,
                stderr,
            } => {
                assert!(status.success());
                assert_eq!(stdout, b"x".repeat(16));
                assert_eq!(stderr, b"done\n");
            }
            other => panic!("expected an exit, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let script = "sleep 30 & echo $! > stray; sleep 30";
        let ended = run(brief(script, dir.path(), Duration::from_millis(500))).await;
        assert!(matches!(ended, Ended::TimedOut), "{ended:?}");
        let stray: i32 = std::fs::read_to_string(dir.path().join("stray"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // SIGKILL is delivered at once, but the zombie may linger until reaped.
        let gone = (0..50).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            !alive(stray) || is_zombie(stray)
        });
        assert!(gone, "the background sleep ({stray}) outlived the timeout");
    }

    fn is_zombie(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| {
                stat.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(true)
    }

    #[test]
    fn first_line_skips_blanks_and_cuts_long_lines() {
        assert_eq!(first_line(b"\n  \n  oops  \nmore", 10), "oops");
        assert_eq!(first_line("ééééé".as_bytes(), 3), "ééé…");
        assert_eq!(first_line(b"", 3), "");
    }
}
