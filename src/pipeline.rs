//! The stages run in order for one file: parse, check, compile. The CLI, the tests,
//! the benchmarks and the fuzzers all go through here, so they test what users run.

use std::path::PathBuf;

use crate::ast::Runbook;
use crate::check::{self, CheckedRunbook, Context};
use crate::compile::{self, Graph};
use crate::diagnostic::{self, Diagnostic};
use crate::internal::InternalError;
use crate::parse;
use crate::source::SourceFile;

/// How far one file got, with every finding on the way.
#[derive(Debug)]
pub struct Outcome {
    /// The tree, when the file parsed but did not check clean (else see `checked`).
    unchecked: Option<Runbook>,
    pub checked: Option<CheckedRunbook>,
    pub diagnostics: Vec<Diagnostic>,
    /// Compiled here rather than on demand, so that a compiler bug surfaces as the
    /// `InternalError` of `check_source` in every command, `check` included.
    graph: Option<Graph>,
    /// What the runbook refers to, as loaded for the check: a run uses the same hosts.
    context: Context,
}

impl Outcome {
    /// The roster and the inventories' hosts the check saw.
    pub fn context(&self) -> &Context {
        &self.context
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The tree, whether or not it checked clean; `None` when the file did not parse.
    pub fn ast(&self) -> Option<&Runbook> {
        self.checked
            .as_ref()
            .map(CheckedRunbook::ast)
            .or(self.unchecked.as_ref())
    }

    /// The executable graph, when the file checked clean.
    pub fn graph(&self) -> Option<&Graph> {
        self.graph.as_ref()
    }
}

/// Where a runbook's relative paths (inventories, roster) are resolved, and a roster
/// that overrides the runbook's own.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub base_dir: Option<PathBuf>,
    pub roster: Option<PathBuf>,
    /// `--deny warnings`: every warning is an error, so nothing with one compiles.
    pub deny_warnings: bool,
}

/// Parses, checks when the parse succeeded, and compiles when the check found no error.
/// Findings from every stage are kept.
pub fn check_source(file: &SourceFile, options: &Options) -> Result<Outcome, InternalError> {
    let parsed = parse::parse(file)?;
    let mut diagnostics = parsed.diagnostics;
    let Some(ast) = parsed.runbook else {
        return Ok(Outcome {
            unchecked: None,
            checked: None,
            diagnostics,
            graph: None,
            context: Context::default(),
        });
    };
    let parse_clean = diagnostics.iter().all(|diagnostic| !diagnostic.is_error());
    let (context, context_findings) =
        Context::load(options.base_dir.as_deref(), &ast, options.roster.as_deref());
    let context_clean = context_findings.iter().all(|finding| !finding.is_error());
    diagnostics.extend(context_findings);
    let checked = check::check(file, ast, &context);
    diagnostics.extend(checked.diagnostics);
    diagnostic::sort(&mut diagnostics);
    let denied = options.deny_warnings && !diagnostics.is_empty();
    if options.deny_warnings {
        for diagnostic in &mut diagnostics {
            diagnostic.severity = diagnostic::Severity::Error;
        }
    }
    let (checked, unchecked) = match checked.runbook {
        Ok(runbook) if parse_clean && context_clean && !denied => (Some(runbook), None),
        Ok(runbook) => (None, Some(runbook.into_ast())),
        Err(runbook) => (None, Some(runbook)),
    };
    let graph = checked.as_ref().map(compile::compile).transpose()?;
    Ok(Outcome {
        unchecked,
        checked,
        diagnostics,
        graph,
        context,
    })
}
