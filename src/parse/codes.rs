//! The parse stage's diagnostics catalogue.

use crate::diagnostic::Code;

pub const SYNTAX: Code = Code::error(
    "rbk::parse::syntax",
    "the text does not follow the grammar at this point",
);
pub const EMPTY: Code = Code::error("rbk::parse::empty", "the file holds no runbook");
pub const UNTERMINATED_STRING: Code = Code::error(
    "rbk::parse::unterminated_string",
    "a string is opened but never closed",
);
pub const INVALID_ESCAPE: Code = Code::error(
    "rbk::parse::invalid_escape",
    "a backslash escape in a string is not one the language knows",
);
pub const NUMBER_TOO_LARGE: Code = Code::error(
    "rbk::parse::number_too_large",
    "a number or duration is too large to be meant",
);
pub const TOO_DEEP: Code = Code::error(
    "rbk::parse::too_deep",
    "brackets or blocks are nested deeper than the language allows",
);

pub const MISSING_SPACE: Code = Code::error(
    "rbk::parse::missing_space",
    "two words are written together without a space",
);

pub const ALL: &[Code] = &[
    SYNTAX,
    EMPTY,
    UNTERMINATED_STRING,
    INVALID_ESCAPE,
    NUMBER_TOO_LARGE,
    TOO_DEEP,
    MISSING_SPACE,
];
