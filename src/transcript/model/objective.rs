use serde::Serialize;

use super::At;
use crate::ast::duration_text;

/// One of the header's objectives, decided while the run went: met when what it
/// measures came within its limit of the first failure, breached when the limit
/// passed first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Objective {
    /// When it was decided.
    pub at: At,
    /// `rollback_start`, `restored`, `outage` or `alert`.
    pub objective: String,
    pub limit_ms: u64,
    pub met: bool,
    /// From the first failure to what it measures, when that came.
    pub after_ms: Option<u64>,
}

impl Objective {
    /// `1m`.
    pub fn limit(&self) -> String {
        duration_text(self.limit_ms)
    }

    /// `met after 3s`, `BREACHED`.
    pub fn result(&self) -> String {
        let word = if self.met { "met" } else { "BREACHED" };
        match self.after_ms {
            Some(after) => format!("{word} after {}", duration_text(after)),
            None => word.to_string(),
        }
    }
}
