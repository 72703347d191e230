//! The simulated executor of a drill: nothing is executed. Each command takes a virtual
//! second and succeeds, unless an injected fault says otherwise: it fails, it hangs until
//! the step's timeout (or an interrupt) stops it, or the step's rollback fails.

use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt as _;

use super::fault::{Fault, FaultKind};
use crate::executor::{Executor, Exit, ShellCommand, StopReason, Stream};

/// How long a command takes on the drill's clock when nothing says otherwise.
pub const COMMAND_TIME: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Default)]
pub struct Simulated {
    faults: Vec<Fault>,
}

impl Simulated {
    pub fn with_faults(faults: Vec<Fault>) -> Self {
        Self { faults }
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

impl Executor for Simulated {
    fn run<'a>(
        &'a self,
        command: ShellCommand<'a>,
        stop: LocalBoxFuture<'a, StopReason>,
        on_output: &'a mut dyn FnMut(Stream, &[u8]),
    ) -> LocalBoxFuture<'a, std::io::Result<Exit>> {
        let fault = self.fault_for(&command);
        async move {
            let (took, exit, said) = match fault {
                // Only a fault says anything: output is kept in a file per command,
                // and a thousand hosts' worth of "succeeded" costs more than the drill.
                None => (Some(COMMAND_TIME), Exit::Code(0), ""),
                Some(FaultKind::Fail | FaultKind::FailRollback) => (
                    Some(COMMAND_TIME),
                    Exit::Code(1),
                    "drill: injected failure, exit 1\n",
                ),
                Some(FaultKind::Hang) => (None, Exit::Code(0), "drill: injected hang\n"),
            };
            let stream = if exit.succeeded() {
                Stream::Stdout
            } else {
                Stream::Stderr
            };
            if !said.is_empty() {
                on_output(stream, said.as_bytes());
            }
            let ran = async {
                match took {
                    Some(took) => tokio::time::sleep(took).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = ran => Ok(exit),
                reason = stop => Ok(Exit::Stopped(reason)),
            }
        }
        .boxed_local()
    }
}
