//! The check stage's diagnostics catalogue.

use crate::diagnostic::Code;

pub const ALL: &[Code] = &[];
