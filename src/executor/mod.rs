//! Executors: what runs one action of a step (a shell command, a sandboxed script)
//! and reports what happened. They know nothing of the graph or the log.

pub mod quote;
pub mod redact;
pub mod script;
pub mod shell;
