//! The replay's diagnostics catalogue.

use crate::diagnostic::Code;

pub const DIVERGED: Code = Code::error(
    "rbk::replay::diverged",
    "the replay made a decision the recorded run did not make",
);
pub const UNREPLAYABLE: Code = Code::error(
    "rbk::replay::unreplayable",
    "the log cannot be replayed as it stands",
);

pub const ALL: &[Code] = &[DIVERGED, UNREPLAYABLE];
