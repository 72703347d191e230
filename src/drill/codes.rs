//! The drill's diagnostics catalogue: what stops a drill from starting.

use crate::diagnostic::Code;

pub const BAD_DRILL: Code = Code::error(
    "rbk::drill::bad_drill",
    "an `--inject` fault, a `--probe` value, a `--respond` answer or a `--start` time is not written as the drill reads it, or was given to a drill run for real (`--real`), which takes no `--probe`, `--respond` or `--start`",
);

pub const ALL: &[Code] = &[BAD_DRILL];
