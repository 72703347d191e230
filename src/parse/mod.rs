//! Parse stage: source text -> AST. The only module that knows pest.

pub mod codes;
mod depth;
mod errors;
mod grammar;
mod lower;

use std::sync::Mutex;

use pest::Parser;

use crate::ast::Runbook;
use crate::diagnostic::Diagnostic;
use crate::internal::InternalError;
use crate::source::SourceFile;

pub use depth::MAX_DEPTH;
use grammar::{Rule, RunbookParser};

/// What parsing one file produced: a tree when the text follows the grammar, and the
/// findings either way (a syntax error, or escapes and numbers that are wrong).
#[derive(Debug)]
pub struct Parsed {
    pub runbook: Option<Runbook>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses a runbook. User mistakes come back as diagnostics; only a bug in the parser
/// itself is an `Err`.
pub fn parse(file: &SourceFile) -> Result<Parsed, InternalError> {
    let text = file.text();
    if text.trim().is_empty() || only_comments(text) {
        return Ok(Parsed {
            runbook: None,
            diagnostics: vec![errors::empty(text)],
        });
    }
    if let Some(too_deep) = depth::check_depth(text) {
        return Ok(Parsed {
            runbook: None,
            diagnostics: vec![too_deep],
        });
    }
    let mut pairs = match RunbookParser::parse(Rule::file, text) {
        Ok(pairs) => pairs,
        Err(_) => {
            return Ok(Parsed {
                runbook: None,
                diagnostics: vec![detailed_error(text)],
            })
        }
    };
    let Some(root) = pairs.next() else {
        return Err(InternalError::new(
            "parse",
            "the grammar matched but produced no tree",
            None,
        ));
    };
    let mut lowerer = lower::Lowerer::new();
    let runbook = lowerer.file(root)?;
    Ok(Parsed {
        runbook: Some(runbook),
        diagnostics: lowerer.diagnostics,
    })
}

fn only_comments(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .all(|line| line.is_empty() || line.starts_with('#'))
}

/// Parses again with pest's error detail on, which lists the literal keywords that were
/// expected. It slows parsing by about 40%, so only a file that failed pays for it.
/// The setting is process-wide: the lock keeps one detailed parse from switching it
/// off under another, so messages do not depend on what other threads are doing.
fn detailed_error(text: &str) -> Diagnostic {
    static DETAIL: Mutex<()> = Mutex::new(());
    let _guard = DETAIL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    pest::set_error_detail(true);
    let result = RunbookParser::parse(Rule::file, text);
    pest::set_error_detail(false);
    match result {
        Err(error) => errors::rewrite(text, &error),
        // The same text cannot parse the second time; say so rather than lose the error.
        Ok(_) => Diagnostic::new(codes::SYNTAX, "the file could not be parsed"),
    }
}
