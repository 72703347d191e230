//! `runbook fmt`: an AST printed back as canonical text, every comment kept.
//!
//! Canonical means: two-space indentation, one statement a line, settings in the
//! author's order, literals spelt one way (durations largest unit first, shortest
//! numbers, canonical string escapes), one blank line between top-level items (one-line
//! declarations of one kind may stay together), and at most one blank line anywhere.
//! Triple-quoted strings and `require` conditions are printed exactly as written: they
//! are values, and `fmt` never changes a value.
//!
//! Two passes: `layout` turns the AST into statements with their canonical text and
//! source positions; `printer` prints them and puts each comment back where it was
//! relative to them.

mod layout;
mod literal;
mod printer;

use crate::ast::Runbook;
use crate::source::SourceFile;

use layout::Layout;
use printer::Printer;

/// The canonical text of a runbook parsed from `file`. Formatting it again changes
/// nothing, and it parses back to the same runbook.
pub fn format(file: &SourceFile, runbook: &Runbook) -> String {
    let nodes = Layout::new(file.text(), &runbook.comments).runbook(runbook);
    Printer::new(file.text(), &runbook.comments).print(&nodes)
}
