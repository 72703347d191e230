use std::fmt;

use crate::source::Span;

/// A bug in this program, kept apart from mistakes in the user's file: a stage found
/// its input in a shape the previous stage promised it would never have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalError {
    pub stage: &'static str,
    pub message: String,
    pub span: Option<Span>,
}

impl InternalError {
    pub fn new(stage: &'static str, message: impl Into<String>, span: Option<Span>) -> Self {
        Self {
            stage,
            message: message.into(),
            span,
        }
    }
}

impl std::error::Error for InternalError {}

impl fmt::Display for InternalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "internal error in the {} stage: {}",
            self.stage, self.message
        )?;
        if let Some(span) = self.span {
            write!(f, " at bytes {}..{}", span.start, span.end)?;
        }
        write!(
            f,
            " (this is a bug in runbook; please report it with the file that caused it)"
        )
    }
}
