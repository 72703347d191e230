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
use lower::Next;

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
    match pieces(text)? {
        Some((runbook, diagnostics)) => Ok(Parsed {
            runbook: Some(runbook),
            diagnostics,
        }),
        None => Ok(Parsed {
            runbook: None,
            diagnostics: vec![detailed_error(text)],
        }),
    }
}

/// Parses and lowers the header, then a few top-level items at a time, so that
/// pest's tokens for only one piece are alive at once (they take about ten times the
/// piece's size). `None` when the text does not follow the grammar.
fn pieces(text: &str) -> Result<Option<(Runbook, Vec<Diagnostic>)>, InternalError> {
    let mut lowerer = lower::Lowerer::new(text);
    let mut rule = Rule::head;
    let mut at = 0;
    loop {
        let Ok(mut pairs) = RunbookParser::parse(rule, &text[at..]) else {
            return Ok(None);
        };
        let Some(pair) = pairs.next() else {
            return Err(InternalError::new(
                "parse",
                format!("the grammar matched {rule:?} but produced no tree"),
                None,
            ));
        };
        match lowerer.piece(at, pair)? {
            Next::At(next) => at = next,
            Next::End => break,
        }
        rule = Rule::next_items;
    }
    lowerer.finish().map(Some)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `.rbk` file under a folder of the repository, recursively.
    fn files_under(folder: &str) -> Vec<std::path::PathBuf> {
        let mut found = Vec::new();
        let mut folders = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(folder)];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    folders.push(path);
                } else if path.extension().is_some_and(|extension| extension == "rbk") {
                    found.push(path);
                }
            }
        }
        found
    }

    /// Reading a file piece by piece must accept exactly what the one-rule grammar
    /// (`file`) accepts, which is what error messages are explained from.
    #[test]
    fn pieces_accept_what_the_whole_file_rule_accepts() {
        let mut texts: Vec<String> = files_under("tests/cases")
            .into_iter()
            .chain(files_under("runbooks"))
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .collect();
        assert!(texts.len() > 50, "the case files were not found");
        let many_roles: String = (0..70).map(|n| format!("role r{n} # {n}\n")).collect();
        texts.push(format!("runbook \"x\" {{ }}\n{many_roles}# the end"));
        texts.push(format!(
            "runbook \"x\" {{ }}\n{many_roles}step s {{ run \"a\" }}\nstep"
        ));
        let (mut accepted, mut refused) = (0, 0);
        for text in &texts {
            let whole = RunbookParser::parse(Rule::file, text).is_ok();
            let pieces = match pieces(text) {
                Ok(runbook) => runbook.is_some(),
                Err(internal) => panic!("{internal}"),
            };
            assert_eq!(pieces, whole, "pieces and `file` disagree on:\n{text}");
            if whole {
                accepted += 1;
            } else {
                refused += 1;
            }
        }
        assert!(
            accepted > 0 && refused > 0,
            "{accepted} accepted, {refused} refused"
        );
    }

    #[test]
    fn a_piece_boundary_keeps_comments_and_items_in_order() {
        let roles: String = (0..70).map(|n| format!("role r{n} # c{n}\n")).collect();
        let text = format!("runbook \"x\" {{ }}\n{roles}# last\n");
        let (runbook, diagnostics) = pieces(&text)
            .unwrap_or_else(|internal| panic!("{internal}"))
            .unwrap_or_else(|| panic!("refused"));
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(runbook.items.len(), 70);
        let comments: Vec<&str> = runbook.comments.iter().map(|c| c.text.trim()).collect();
        let expected: Vec<String> = (0..70)
            .map(|n| format!("c{n}"))
            .chain(["last".to_string()])
            .collect();
        assert_eq!(comments, expected);
        for comment in &runbook.comments {
            assert_eq!(
                &text[comment.span.start..comment.span.end],
                format!("#{}", comment.text)
            );
        }
        // The comments after the last item are not part of the runbook.
        assert!(text[..runbook.span.end].ends_with("role r69"));
    }
}
