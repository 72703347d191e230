//! The local shell executor: one command through `sh -c`, in its own process group so
//! that a timeout or an interrupt stops everything it started, with its output handed
//! to the caller as it arrives.

use std::future::Future;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

use super::{Executor, ShellCommand};

/// Which of the command's streams some output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Why a command was stopped before it finished by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Timeout,
    Interrupt,
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal ended it (not one of ours).
    Signal(i32),
    /// We stopped it, and its whole process group.
    Stopped(StopReason),
    /// The host it was for could not be reached: it never started.
    Unreachable,
    /// The connection to its host was lost while it ran: it may have run in part.
    ConnectionLost,
}

impl Exit {
    pub fn succeeded(self) -> bool {
        self == Exit::Code(0)
    }
}

/// Time a stopped group gets between SIGTERM and SIGKILL.
pub(super) const GRACE: Duration = Duration::from_secs(2);
/// Once the command has exited, how long output still held open by something it left
/// running in the background is read before the pipes are let go.
pub(super) const DRAIN: Duration = Duration::from_millis(500);
pub(super) const READ_BUFFER: usize = 8 * 1024;

/// Runs commands on this machine: through `sh -c`, or directly when `sh` would only
/// start one program (`plain_words`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Local;

impl Executor for Local {
    fn run<'a>(
        &'a self,
        command: ShellCommand<'a>,
        stop: futures_util::future::LocalBoxFuture<'a, StopReason>,
        on_output: &'a mut dyn FnMut(Stream, &[u8]),
    ) -> futures_util::future::LocalBoxFuture<'a, std::io::Result<Exit>> {
        Box::pin(run(command, stop, on_output))
    }
}

/// Runs `command` until it exits or `stop` resolves, calling `on_output` with each
/// piece of output as it arrives. An `Err` means the command could not be started.
pub async fn run(
    command: ShellCommand<'_>,
    stop: impl Future<Output = StopReason>,
    mut on_output: impl FnMut(Stream, &[u8]),
) -> std::io::Result<Exit> {
    // A program that cannot be started directly (not found, not runnable, a script
    // without `#!`) has not run: `sh` then runs it, or says why not in its own words and
    // with its own exit code.
    let direct = plain_words(command.script).and_then(|words| {
        let mut process = prepared(&command, &words[0], &words[1..]);
        // `sh` sets PWD to the folder it starts in; a program started directly
        // would otherwise inherit the engine's.
        if let Some(cwd) = command.cwd.filter(|cwd| cwd.is_absolute()) {
            process.env("PWD", cwd);
        }
        process.spawn().ok()
    });
    let mut child = match direct {
        Some(child) => child,
        None => prepared(&command, "/bin/sh", &["-c", command.script]).spawn()?,
    };
    tracing::debug!(pid = child.id(), "command spawned in its own process group");
    let group = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let (mut out_buffer, mut err_buffer) = (vec![0; READ_BUFFER], vec![0; READ_BUFFER]);
    tokio::pin!(stop);
    let exit = loop {
        tokio::select! {
            read = read_some(&mut stdout, &mut out_buffer) => {
                deliver(read, &mut stdout, &out_buffer, Stream::Stdout, &mut on_output);
            }
            read = read_some(&mut stderr, &mut err_buffer) => {
                deliver(read, &mut stderr, &err_buffer, Stream::Stderr, &mut on_output);
            }
            status = child.wait() => break exit_of(status?),
            reason = &mut stop => {
                stop_group(&mut child, group).await;
                break Exit::Stopped(reason);
            }
        }
    };
    // Whatever the command wrote just before it ended is still in the pipes.
    let drained = async {
        while stdout.is_some() || stderr.is_some() {
            tokio::select! {
                read = read_some(&mut stdout, &mut out_buffer) => {
                    deliver(read, &mut stdout, &out_buffer, Stream::Stdout, &mut on_output);
                }
                read = read_some(&mut stderr, &mut err_buffer) => {
                    deliver(read, &mut stderr, &err_buffer, Stream::Stderr, &mut on_output);
                }
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN, drained).await;
    Ok(exit)
}

/// The process for `program` with `args`, set up as every command is: the engine's
/// environment plus the command's, no input, output piped, a process group of its own.
fn prepared<S: AsRef<std::ffi::OsStr>>(
    command: &ShellCommand<'_>,
    program: &str,
    args: &[S],
) -> Command {
    let mut process = Command::new(program);
    process
        .args(args)
        .envs(command.env.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(cwd) = command.cwd {
        process.current_dir(cwd);
    }
    process
}

/// Words `sh` would run as one program with its arguments and nothing else (no
/// expansion, quoting, redirection, separator or builtin), so running them directly
/// means the same and saves starting a shell: a step of `/usr/bin/true` costs one
/// process, not two. Anything else, or a doubt, goes through `sh -c`.
fn plain_words(script: &str) -> Option<Vec<String>> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-=+,:@%".contains(c);
    if !script.chars().all(|c| c == ' ' || plain(c)) {
        return None;
    }
    let words: Vec<String> = script
        .split(' ')
        .filter(|word| !word.is_empty())
        .map(str::to_string)
        .collect();
    let program = words.first()?;
    // `NAME=value cmd` sets a variable; builtins change the shell itself or differ
    // from the program of the same name (`echo -e`, `pwd`).
    if program.contains('=') || SHELL_WORDS.contains(&program.as_str()) {
        return None;
    }
    Some(words)
}

/// Builtins and reserved words of `sh` (POSIX, dash and bash), which are not programs.
const SHELL_WORDS: &[&str] = &[
    ".", ":", "alias", "bg", "break", "builtin", "case", "cd", "command", "continue", "declare",
    "do", "done", "echo", "elif", "else", "esac", "eval", "exec", "exit", "export", "false", "fc",
    "fg", "fi", "for", "function", "getopts", "hash", "if", "in", "jobs", "kill", "let", "local",
    "printf", "pwd", "read", "readonly", "return", "select", "set", "shift", "source", "test",
    "then", "time", "times", "trap", "true", "type", "typeset", "ulimit", "umask", "unalias",
    "unset", "until", "wait", "while",
];

/// Reads from a pipe that is still open; a closed one never resolves, so `select!`
/// waits on the other branches.
pub(super) async fn read_some<R: AsyncReadExt + Unpin>(
    pipe: &mut Option<R>,
    buffer: &mut [u8],
) -> std::io::Result<usize> {
    match pipe {
        Some(pipe) => pipe.read(buffer).await,
        None => std::future::pending().await,
    }
}

fn deliver<R>(
    read: std::io::Result<usize>,
    pipe: &mut Option<R>,
    buffer: &[u8],
    stream: Stream,
    on_output: &mut impl FnMut(Stream, &[u8]),
) {
    match read {
        Ok(0) | Err(_) => *pipe = None,
        Ok(length) => on_output(stream, &buffer[..length]),
    }
}

pub(super) fn exit_of(status: std::process::ExitStatus) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(signal)) => Exit::Signal(signal),
        (None, None) => Exit::Code(-1),
    }
}

/// SIGTERM to the whole group, SIGKILL after the grace period if the leader is still
/// there, and SIGKILL to the group in any case so nothing it started lingers.
async fn stop_group(child: &mut Child, group: Option<Pid>) {
    if let Some(group) = group {
        let _ = killpg(group, Signal::SIGTERM);
    }
    if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    if let Some(group) = group {
        let _ = killpg(group, Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(script: &str) -> ShellCommand<'_> {
        ShellCommand {
            run_id: "",
            script,
            env: &[],
            cwd: None,
            host: None,
            step: None,
            undoing: false,
        }
    }

    async fn collect(script: &str, env: &[(String, String)]) -> (Exit, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let exit = run(
            ShellCommand {
                run_id: "",
                script,
                env,
                cwd: None,
                host: None,
                step: None,
                undoing: false,
            },
            std::future::pending(),
            |stream, bytes| match stream {
                Stream::Stdout => out.extend_from_slice(bytes),
                Stream::Stderr => err.extend_from_slice(bytes),
            },
        )
        .await
        .unwrap();
        (
            exit,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn only_a_lone_program_with_plain_arguments_skips_the_shell() {
        let words = |script| plain_words(script);
        assert_eq!(
            words("/usr/bin/env  -u X ls /tmp"),
            Some(
                vec!["/usr/bin/env", "-u", "X", "ls", "/tmp"]
                    .into_iter()
                    .map(String::from)
                    .collect()
            )
        );
        for needs_sh in [
            "echo -e hi",
            "cd /tmp",
            "X=1 env",
            "ls *.txt",
            "ls ~",
            "cat 'a b'",
            "ls $HOME",
            "true; reboot",
            "ls\nreboot",
            "ls	reboot",
            "ls > out",
            "a | b",
            "ls # a comment",
            "",
            "   ",
        ] {
            assert_eq!(words(needs_sh), None, "{needs_sh:?}");
        }
    }

    #[tokio::test]
    async fn a_program_run_directly_behaves_as_under_sh() {
        let (exit, out, _) = collect("/usr/bin/env", &[("RUNBOOK_X".into(), "1".into())]).await;
        assert_eq!(exit, Exit::Code(0));
        assert!(out.lines().any(|line| line == "RUNBOOK_X=1"), "{out}");
        // A program that is not there: `sh` reports it, with its exit code.
        let (exit, _, err) = collect("no-such-program-here --flag", &[]).await;
        assert_eq!(exit, Exit::Code(127));
        assert!(err.contains("not found"), "{err}");
    }

    #[tokio::test]
    async fn a_script_without_a_shebang_still_runs_under_sh_in_its_folder() {
        let folder = tempfile::tempdir().unwrap();
        let script = folder.path().join("plain-script");
        std::fs::write(&script, "echo ran in \"$PWD\"\n").unwrap();
        let mut permissions = std::fs::metadata(&script).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&script, permissions).unwrap();
        let mut out = Vec::new();
        let exit = run(
            ShellCommand {
                run_id: "",
                script: "./plain-script",
                env: &[],
                cwd: Some(folder.path()),
                host: None,
                step: None,
                undoing: false,
            },
            std::future::pending(),
            |_, bytes| out.extend_from_slice(bytes),
        )
        .await
        .unwrap();
        assert_eq!(exit, Exit::Code(0));
        let printed = String::from_utf8(out).unwrap();
        assert_eq!(printed, format!("ran in {}\n", folder.path().display()));
    }

    #[tokio::test]
    async fn output_exit_code_and_environment() {
        let env = [("GREETING".to_string(), "hello".to_string())];
        let (exit, out, err) = collect("echo $GREETING; echo oops >&2; exit 3", &env).await;
        assert_eq!(exit, Exit::Code(3));
        assert_eq!(out, "hello\n");
        assert_eq!(err, "oops\n");
    }

    #[tokio::test]
    async fn a_stop_ends_the_whole_process_group() {
        // A grandchild reports its pid, then the command waits to be stopped.
        let (printed, stop) = tokio::sync::oneshot::channel::<()>();
        let mut printed = Some(printed);
        let mut out = Vec::new();
        let exit = run(
            command("sleep 30 & echo $!; sleep 30"),
            async {
                let _ = stop.await;
                StopReason::Timeout
            },
            |_, bytes| {
                out.extend_from_slice(bytes);
                if out.ends_with(b"\n") {
                    if let Some(printed) = printed.take() {
                        let _ = printed.send(());
                    }
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(exit, Exit::Stopped(StopReason::Timeout));
        let pid: i32 = String::from_utf8(out).unwrap().trim().parse().unwrap();
        // SIGKILL is sent to the group before `run` returns; the kernel finishes the
        // process when it next schedules it (on a loaded machine, a moment later), and
        // it may linger as a zombie until its new parent reaps it. Had it not been
        // signalled, it would sleep on for 30 s: well past this wait.
        let running = || {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let alive = state
                .rsplit(") ")
                .next()
                .and_then(|rest| rest.chars().next())
                .is_some_and(|state| state != 'Z' && state != 'X');
            alive.then_some(state)
        };
        let since = std::time::Instant::now();
        while let Some(state) = running() {
            assert!(
                since.elapsed() < Duration::from_secs(10),
                "the grandchild outlived the stop: {state}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_background_process_holding_the_pipe_does_not_hang_the_step() {
        let (exit, out, _) = collect("echo started; sleep 30 &", &[]).await;
        assert_eq!(exit, Exit::Code(0));
        assert_eq!(out, "started\n");
    }
}
