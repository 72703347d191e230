//! Executors: what runs one action of a step (a shell command, a sandboxed script)
//! and reports what happened. They know nothing of the graph or the log.
//!
//! Shell commands go through the `Executor` trait, because where they run changes:
//! this machine (`shell::Local`), a simulation in drills, a host over SSH. Rhai scripts
//! do not: they are sandboxed computations that touch nothing outside the engine, so
//! the engine runs them itself wherever it is (`script`).

pub mod brief;
pub mod quote;
pub mod redact;
pub mod script;
pub mod shell;

use std::path::Path;

use futures_util::future::LocalBoxFuture;

pub use shell::{Exit, StopReason, Stream};

/// One shell command for an executor to run, already quoted and redacted where
/// it is shown; the engine has announced it in the log before handing it over.
#[derive(Debug, Clone, Copy)]
pub struct ShellCommand<'a> {
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
}
