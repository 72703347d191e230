//! Parse stage: source text -> AST. The only module that knows pest.

pub mod codes;
mod depth;
mod errors;
mod grammar;
mod lower;

use std::sync::Once;

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
    static DETAIL: Once = Once::new();
    // Literal keywords only appear in pest's errors with detail on; its cost is
    // measured in docs/performance.md.
    DETAIL.call_once(|| pest::set_error_detail(true));

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
        Err(error) => {
            return Ok(Parsed {
                runbook: None,
                diagnostics: vec![errors::rewrite(text, &error)],
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
