//! Check stage: AST -> checked runbook. Finds every mistake it can before anything runs.

pub mod codes;

use crate::ast::Runbook;
use crate::diagnostic::Diagnostic;
use crate::source::SourceFile;

/// What the checker may know beyond the file itself (a roster, inventories), loaded
/// by the caller so that checking stays a pure function of its inputs.
#[derive(Debug, Clone, Default)]
pub struct Context {}

impl Context {
    /// Loads what the runbook refers to (its roster, its inventory files), relative to
    /// `base_dir`; `roster` given on the command line overrides the runbook's own.
    /// Files that cannot be read become findings, not failures.
    pub fn load(
        _base_dir: Option<&std::path::Path>,
        _runbook: &Runbook,
        _roster: Option<&std::path::Path>,
    ) -> (Self, Vec<Diagnostic>) {
        (Self::default(), Vec::new())
    }
}

/// A runbook that passed the checker with no error. Only this module can make one,
/// so a later stage that takes it can rely on names resolving and no cycles.
#[derive(Debug, Clone)]
pub struct CheckedRunbook {
    runbook: Runbook,
}

impl CheckedRunbook {
    pub fn ast(&self) -> &Runbook {
        &self.runbook
    }
}

/// The checker's verdict: every finding, and the checked runbook when none is an error.
#[derive(Debug)]
pub struct Checked {
    pub runbook: Option<CheckedRunbook>,
    pub diagnostics: Vec<Diagnostic>,
}

pub fn check(_file: &SourceFile, runbook: Runbook, _context: &Context) -> Checked {
    let diagnostics: Vec<Diagnostic> = Vec::new();
    let clean = diagnostics.iter().all(|diagnostic| !diagnostic.is_error());
    Checked {
        runbook: clean.then_some(CheckedRunbook { runbook }),
        diagnostics,
    }
}
