//! Check stage: AST -> checked runbook. Finds every mistake it can before anything runs.
//!
//! The symbol table (`symbols`) and the dependency graph (`deps`) are built once; then
//! each pass, one file each, reads them and adds its findings. Passes never stop at
//! the first finding and never depend on each other's findings.

pub mod codes;
mod context;

mod approvals;
mod conditions;
mod deadlines;
mod deps;
mod facts;
mod interpolation;
mod inventories;
mod names;
mod notify;
mod order;
mod phrases;
mod rollback;
mod settings;
mod shipped;
mod symbols;
mod tiers;
mod values;
mod waves;

pub use context::{Context, LoadedRoster, MAX_SHIPPED_BYTES};

use std::cell::Cell;

use crate::ast::Runbook;
use crate::diagnostic::Diagnostic;
use crate::source::SourceFile;

use deps::Dependencies;
use symbols::Symbols;

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

    /// Gives the tree back, for a caller that must refuse the runbook after all (an
    /// error found outside the checker, in parsing or loading its files).
    pub fn into_ast(self) -> Runbook {
        self.runbook
    }
}

/// The checker's verdict: every finding, and the checked runbook when none is an error.
#[derive(Debug)]
pub struct Checked {
    /// The checked runbook, or the tree handed back when an error stops it, so that
    /// callers never need a second copy.
    pub runbook: Result<CheckedRunbook, Runbook>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Everything a pass may read.
struct Checker<'a> {
    file: &'a SourceFile,
    runbook: &'a Runbook,
    context: &'a Context,
    symbols: Symbols<'a>,
    deps: Dependencies<'a>,
    /// How many more names may be compared when looking for a typo. A plan with
    /// thousands of unknown names gets suggestions for the first ones only, so that
    /// checking stays fast on any input.
    suggestion_budget: Cell<usize>,
}

/// Name comparisons allowed per check for "did you mean" suggestions.
const SUGGESTION_BUDGET: usize = 200_000;

impl Checker<'_> {
    /// " Did you mean `x`?" (to append to a help line), or nothing.
    fn did_you_mean<'c>(
        &self,
        name: &str,
        candidates: impl IntoIterator<Item = &'c str>,
    ) -> String {
        let left = self.suggestion_budget.get();
        let mut compared = 0;
        let limited = candidates.into_iter().take(left).inspect(|_| compared += 1);
        let suggestion = phrases::did_you_mean(name, limited);
        self.suggestion_budget.set(left - compared);
        suggestion
    }
}

type Pass = fn(&Checker<'_>, &mut Vec<Diagnostic>);

/// The passes, in the order a reader would check a plan by hand.
const PASSES: &[Pass] = &[
    names::check,
    inventories::check,
    shipped::check,
    settings::check,
    values::check,
    order::check,
    rollback::check,
    conditions::check,
    interpolation::check,
    waves::check,
    approvals::check,
    notify::check,
    tiers::check,
    deadlines::check,
];

/// Crate-private: `pipeline::check_source` is the one way in, so a runbook with parse
/// errors or unreadable files can never come out checked.
pub(crate) fn check(file: &SourceFile, runbook: Runbook, context: &Context) -> Checked {
    let diagnostics = findings(file, &runbook, context);
    let clean = diagnostics.iter().all(|diagnostic| !diagnostic.is_error());
    Checked {
        runbook: if clean {
            Ok(CheckedRunbook { runbook })
        } else {
            Err(runbook)
        },
        diagnostics,
    }
}

fn findings(file: &SourceFile, runbook: &Runbook, context: &Context) -> Vec<Diagnostic> {
    let symbols = Symbols::build(runbook);
    let deps = Dependencies::build(&symbols);
    let checker = Checker {
        file,
        runbook,
        context,
        symbols,
        deps,
        suggestion_budget: Cell::new(SUGGESTION_BUDGET),
    };
    let mut diagnostics = Vec::new();
    for pass in PASSES {
        pass(&checker, &mut diagnostics);
    }
    diagnostics
}
