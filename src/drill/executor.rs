//! The executors of a drill. Both strike the commands an injected fault names, the same
//! way: a struck command is not run; it fails (exit 1), it hangs until the step's
//! timeout (or an interrupt) stops it, or, for a rollback's command, it fails. They
//! differ in what runs every other command:
//!
//! - `Simulated` (a drill on a virtual clock): nothing is executed; each command takes a
//!   virtual second and succeeds.
//! - `Injected` (a drill run for real, `--real`): the real executor runs it.

use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt as _;

use super::fault::{Fault, FaultKind};
use crate::executor::{Executor, Exit, ShellCommand, StopReason, Stream};

/// How long a command takes on the drill's clock when nothing says otherwise.
pub const COMMAND_TIME: Duration = Duration::from_secs(1);

/// The faults a drill injects, over whatever runs the commands they do not strike.
pub struct Injected<'a> {
    faults: Vec<Fault>,
    /// Runs every command no fault strikes.
    real: &'a dyn Executor,
    /// How long a struck command takes to fail.
    failing_takes: Duration,
}

impl<'a> Injected<'a> {
    /// `faults` striking commands that `real` would otherwise run. A struck command
    /// fails at once.
    pub fn over(real: &'a dyn Executor, faults: Vec<Fault>) -> Self {
        Self {
            faults,
            real,
            failing_takes: Duration::ZERO,
        }
    }

    /// The fault striking this command: by the step it belongs to and its host.
    fn fault_for(&self, command: &ShellCommand<'_>) -> Option<FaultKind> {
        let step = command.step?;
        self.faults
            .iter()
            .find(|fault| fault.strikes(step, command.host, command.undoing))
            .map(|fault| fault.kind)
    }
}

impl std::fmt::Debug for Injected<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Injected")
            .field("faults", &self.faults)
            .field("failing_takes", &self.failing_takes)
            .finish_non_exhaustive()
    }
}

impl Executor for Injected<'_> {
    fn run<'a>(
        &'a self,
        command: ShellCommand<'a>,
        stop: LocalBoxFuture<'a, StopReason>,
        on_output: &'a mut dyn FnMut(Stream, &[u8]),
    ) -> LocalBoxFuture<'a, std::io::Result<Exit>> {
        match self.fault_for(&command) {
            None => self.real.run(command, stop, on_output),
            Some(kind) => struck(kind, self.failing_takes, stop, on_output),
        }
    }

    fn remote(&self) -> Option<crate::executor::RemoteAccess> {
        self.real.remote()
    }

    fn close(&self, run_ended: bool) -> LocalBoxFuture<'_, ()> {
        self.real.close(run_ended)
    }
}

/// What a struck command does instead of running: says it was injected, then fails
/// after `failing_takes`, or hangs until it is stopped.
fn struck<'a>(
    kind: FaultKind,
    failing_takes: Duration,
    stop: LocalBoxFuture<'a, StopReason>,
    on_output: &'a mut dyn FnMut(Stream, &[u8]),
) -> LocalBoxFuture<'a, std::io::Result<Exit>> {
    async move {
        let (took, exit, stream, said) = match kind {
            FaultKind::Fail | FaultKind::FailRollback => (
                Some(failing_takes),
                Exit::Code(1),
                Stream::Stderr,
                "drill: injected failure, exit 1\n",
            ),
            FaultKind::Hang => (
                None,
                Exit::Code(0),
                Stream::Stdout,
                "drill: injected hang\n",
            ),
        };
        on_output(stream, said.as_bytes());
        let ran = async {
            match took {
                Some(took) => tokio::time::sleep(took).await,
                None => std::future::pending().await,
            }
        };
        // Biased as the engine's own selects: a stop at the instant the command would
        // end wins, the same way in a drill and in its replay.
        tokio::select! {
            biased;
            reason = stop => Ok(Exit::Stopped(reason)),
            () = ran => Ok(exit),
        }
    }
    .boxed_local()
}

/// Runs nothing: each command takes a second on the drill's clock and succeeds, saying
/// nothing (output is kept in a file per command, and a thousand hosts' worth of
/// "succeeded" costs more than the drill).
struct Nothing;

impl Executor for Nothing {
    fn run<'a>(
        &'a self,
        _command: ShellCommand<'a>,
        stop: LocalBoxFuture<'a, StopReason>,
        _on_output: &'a mut dyn FnMut(Stream, &[u8]),
    ) -> LocalBoxFuture<'a, std::io::Result<Exit>> {
        async move {
            tokio::select! {
                biased;
                reason = stop => Ok(Exit::Stopped(reason)),
                () = tokio::time::sleep(COMMAND_TIME) => Ok(Exit::Code(0)),
            }
        }
        .boxed_local()
    }
}

/// The simulated executor of a drill: nothing is executed. Each command takes a virtual
/// second and succeeds, unless an injected fault strikes it (a struck command that
/// fails takes its second too).
#[derive(Debug)]
pub struct Simulated(Injected<'static>);

impl Simulated {
    pub fn with_faults(faults: Vec<Fault>) -> Self {
        Self(Injected {
            faults,
            real: &Nothing,
            failing_takes: COMMAND_TIME,
        })
    }
}

impl Default for Simulated {
    fn default() -> Self {
        Self::with_faults(Vec::new())
    }
}

impl Executor for Simulated {
    fn run<'a>(
        &'a self,
        command: ShellCommand<'a>,
        stop: LocalBoxFuture<'a, StopReason>,
        on_output: &'a mut dyn FnMut(Stream, &[u8]),
    ) -> LocalBoxFuture<'a, std::io::Result<Exit>> {
        self.0.run(command, stop, on_output)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// Stands for the real executor: notes what it was handed, and succeeds.
    #[derive(Default)]
    struct Handed(RefCell<Vec<String>>);

    impl Executor for Handed {
        fn run<'a>(
            &'a self,
            command: ShellCommand<'a>,
            _stop: LocalBoxFuture<'a, StopReason>,
            _on_output: &'a mut dyn FnMut(Stream, &[u8]),
        ) -> LocalBoxFuture<'a, std::io::Result<Exit>> {
            self.0.borrow_mut().push(command.script.to_string());
            async { Ok(Exit::Code(0)) }.boxed_local()
        }
    }

    fn command<'a>(script: &'a str, host: &'a str, undoing: bool) -> ShellCommand<'a> {
        ShellCommand {
            run_id: "",
            script,
            env: &[],
            cwd: None,
            host: Some(host),
            step: Some("install"),
            undoing,
        }
    }

    /// Runs `command` through `executor`, stopped at once for a timeout when `stopped`;
    /// how it ended and what it said.
    fn ran(executor: &dyn Executor, command: ShellCommand<'_>, stopped: bool) -> (Exit, String) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        let mut said = String::new();
        let mut on_output =
            |_: Stream, bytes: &[u8]| said.push_str(&String::from_utf8_lossy(bytes));
        let stop: LocalBoxFuture<'_, StopReason> = if stopped {
            async { StopReason::Timeout }.boxed_local()
        } else {
            std::future::pending().boxed_local()
        };
        let exit = runtime
            .block_on(executor.run(command, stop, &mut on_output))
            .expect("it ran");
        (exit, said)
    }

    #[test]
    fn only_the_commands_a_fault_strikes_are_kept_from_the_real_executor() {
        let real = Handed::default();
        let faults = [
            "fail:install@h2",
            "fail-rollback:install@h1",
            "hang:install@h3",
        ]
        .map(|given| Fault::parse(given).expect("a fault"));
        let injected = Injected::over(&real, faults.to_vec());
        let failed = (
            Exit::Code(1),
            "drill: injected failure, exit 1\n".to_string(),
        );
        assert_eq!(
            ran(&injected, command("do h1", "h1", false), false),
            (Exit::Code(0), String::new())
        );
        assert_eq!(ran(&injected, command("do h2", "h2", false), false), failed);
        assert_eq!(
            ran(&injected, command("undo h1", "h1", true), false),
            failed
        );
        assert_eq!(
            ran(&injected, command("undo h2", "h2", true), false),
            (Exit::Code(0), String::new())
        );
        assert_eq!(
            ran(&injected, command("do h3", "h3", false), true),
            (
                Exit::Stopped(StopReason::Timeout),
                "drill: injected hang\n".to_string()
            ),
            "a hung command ends only when it is stopped"
        );
        assert_eq!(*real.0.borrow(), ["do h1", "undo h2"]);
    }
}
