//! Executors: what runs one action of a step (a shell command, a sandboxed script)
//! and reports what happened. They know nothing of the graph or the log.
//!
//! Shell commands go through the `Executor` trait, because where they run changes:
//! this machine (`shell::Local`), a simulation in drills, a host over SSH. Rhai scripts
//! do not: they are sandboxed computations that touch nothing outside the engine, so
//! the engine runs them itself wherever it is (`script`).

pub mod brief;
pub mod fleet;
pub mod quote;
pub mod redact;
pub mod script;
pub mod shell;
pub mod ssh;

use std::collections::BTreeMap;
use std::path::Path;

use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};

pub use shell::{Exit, StopReason, Stream};

/// One shell command for an executor to run, already quoted and redacted where
/// it is shown; the engine has announced it in the log before handing it over.
#[derive(Debug, Clone, Copy)]
pub struct ShellCommand<'a> {
    /// The run it belongs to: a remote executor keeps the run's files under it.
    pub run_id: &'a str,
    pub script: &'a str,
    /// Added to the engine's own environment.
    pub env: &'a [(String, String)],
    /// The folder it runs in, where that means something (this machine).
    pub cwd: Option<&'a Path>,
    /// The inventory host it is for, if any. The local executor runs every command on
    /// this machine (the host is only a value in the command); others go to the host.
    pub host: Option<&'a str>,
    /// The step it belongs to, as people name it, and whether it undoes that step: a
    /// label for an executor that answers by step (a drill's injected faults).
    pub step: Option<&'a str>,
    pub undoing: bool,
}

/// Which hosts an executor reaches remotely, and how: logged when an engine starts,
/// so an auditor knows where each command ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteAccess {
    /// Each host reached over SSH, as `user@address:port`, and its jump host.
    pub ssh: BTreeMap<String, String>,
    /// Whether host keys not yet known were accepted (`--accept-new-host-keys`).
    pub accept_new_host_keys: bool,
    /// The files copied to each of those hosts before its first command.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shipped: Vec<ShippedFile>,
}

/// A file of the runbook's folder copied to remote hosts, and its content's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShippedFile {
    /// Relative to the runbook's folder, and to the run's folder on each host.
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

/// Runs shell commands somewhere and says how each ended.
pub trait Executor {
    /// Runs `command` until it ends or `stop` resolves (then it is stopped, with
    /// everything it started), handing each piece of output to `on_output` as it
    /// comes. An `Err` means the command could not be started at all.
    fn run<'a>(
        &'a self,
        command: ShellCommand<'a>,
        stop: LocalBoxFuture<'a, StopReason>,
        on_output: &'a mut dyn FnMut(Stream, &[u8]),
    ) -> LocalBoxFuture<'a, std::io::Result<Exit>>;

    /// The hosts this executor reaches remotely; `None` when every command runs here.
    fn remote(&self) -> Option<RemoteAccess> {
        None
    }

    /// Lets go of what the executor holds open between commands (connections), once
    /// an engine is done with it; `run_ended` when the run is over for good (completed,
    /// or failed and rolled back), so what it left on hosts for a resume can go too.
    fn close(&self, _run_ended: bool) -> LocalBoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }
}
