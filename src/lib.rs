//! runbook: a runbook-as-code language and its interpreter.
//!
//! The pipeline, one module per stage, each handing the next a typed artifact:
//! `source` (text) -> `parse` (AST) -> `check` (checked runbook) -> `compile` (graph).
//! `format` prints an AST back as canonical text. See src/README.md.

pub mod ast;
pub mod check;
pub mod compile;
pub mod diagnostic;
pub mod drill;
pub mod engine;
pub mod executor;
pub mod format;
pub mod internal;
pub mod inventory;
pub mod notify;
pub mod parse;
pub mod pipeline;
pub mod probe;
pub mod replay;
pub mod roster;
pub mod source;
pub mod store;
pub mod transcript;

use diagnostic::Code;

/// Every diagnostic code the program can emit, from every stage's catalogue.
pub fn all_codes() -> Vec<Code> {
    [
        source::codes::ALL,
        parse::codes::ALL,
        check::codes::ALL,
        engine::codes::ALL,
        drill::codes::ALL,
        replay::codes::ALL,
    ]
    .concat()
}
