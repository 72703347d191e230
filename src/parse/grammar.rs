//! The pest parser generated from `grammar/runbook.pest`. Nothing outside `parse`
//! sees pest's types.

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/runbook.pest"]
pub(super) struct RunbookParser;
