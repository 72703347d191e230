//! The confirmation a failure policy asks for before it acts (P7: "the commander
//! confirms; the rollback starts within 3 minutes"), as a drill measured it: how long
//! the answer took against the time the plan gives it, who gave it, and how soon after
//! it the rollback started.

use std::collections::BTreeMap;

use super::logged::Logged;
use crate::ast::duration_text;
use crate::engine::facts::{Fact, Need, Settlement};

/// One policy approval, from its question to the rollback that followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    /// What people answer to: `failure:CLASS`.
    pub node: String,
    /// The time the plan gives the answer (`within D`), when it gives one.
    pub within_ms: Option<u64>,
    /// From the question to its settling; `None` when it was never settled.
    pub answered_after_ms: Option<u64>,
    pub approved: bool,
    /// Who settled it with their vote; `None` when its time ran out.
    pub by: Option<String>,
    /// From the settling to the rollback's start, when one started after it.
    pub rollback_after_ms: Option<u64>,
}

impl Confirmation {
    /// Every failure policy's approval in the log, in the order they were asked.
    pub fn all(log: &[Logged]) -> Vec<Confirmation> {
        let mut asked: BTreeMap<String, (u64, usize)> = BTreeMap::new();
        let mut found: Vec<Confirmation> = Vec::new();
        let mut last_voter: BTreeMap<String, String> = BTreeMap::new();
        // Settled confirmations still waiting for the rollback that follows them.
        let mut settled: Vec<(usize, u64)> = Vec::new();
        for logged in log {
            match &logged.fact {
                Fact::Waiting {
                    unit,
                    node,
                    need: Need::Approval,
                    approval,
                    ..
                } if node.starts_with("failure:") && !asked.contains_key(unit) => {
                    asked.insert(unit.clone(), (logged.time_ms, found.len()));
                    found.push(Confirmation {
                        node: node.clone(),
                        within_ms: approval.as_ref().and_then(|ask| ask.within_ms),
                        answered_after_ms: None,
                        approved: false,
                        by: None,
                        rollback_after_ms: None,
                    });
                }
                Fact::Voted { unit, .. } => {
                    if let Some(person) = &logged.person {
                        last_voter.insert(unit.clone(), person.clone());
                    }
                }
                Fact::ApprovalSettled { unit, approved, by } => {
                    if let Some((at, index)) = asked.get(unit) {
                        let confirmation = &mut found[*index];
                        confirmation.answered_after_ms = Some(logged.time_ms.saturating_sub(*at));
                        confirmation.approved = *approved;
                        confirmation.by = match by {
                            Settlement::Votes => last_voter.get(unit).cloned(),
                            Settlement::Timeout => None,
                        };
                        settled.push((*index, logged.time_ms));
                    }
                }
                Fact::RollbackStarted { .. } => {
                    for (index, at) in settled.drain(..) {
                        found[index].rollback_after_ms = Some(logged.time_ms.saturating_sub(at));
                    }
                }
                _ => {}
            }
        }
        found
    }

    /// Answered within the time the plan gives it; `None` when it gives none, or the
    /// question was never settled.
    pub fn met(&self) -> Option<bool> {
        let answered = self.answered_after_ms?;
        Some(answered <= self.within_ms?)
    }

    /// The scorecard's line: `confirmation failure:severe (3m): met, approved by alice
    /// after 2m; the rollback started 0s after it`.
    pub fn line(&self) -> String {
        let limit = self
            .within_ms
            .map(|within| format!(" ({})", duration_text(within)))
            .unwrap_or_default();
        let verdict = match self.met() {
            Some(true) => "met, ",
            Some(false) => "BREACHED, ",
            None => "",
        };
        let Some(answered) = self.answered_after_ms else {
            return format!("confirmation {}{limit}: never answered", self.node);
        };
        let how = match (&self.by, self.approved) {
            (Some(person), true) => format!("approved by {person}"),
            (Some(person), false) => format!("rejected by {person}"),
            (None, approved) => format!(
                "its time ran out ({})",
                if approved {
                    "taken as approved"
                } else {
                    "taken as rejected"
                }
            ),
        };
        let rollback = self
            .rollback_after_ms
            .map(|after| format!("; the rollback started {} after it", duration_text(after)))
            .unwrap_or_else(|| "; no rollback started after it".to_string());
        format!(
            "confirmation {}{limit}: {verdict}{how} after {}{rollback}",
            self.node,
            duration_text(answered)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::logged::written::{at, MINUTE};
    use super::*;

    fn voted(time_ms: u64, person: &str) -> Logged {
        let mut logged = at(
            time_ms,
            "voted",
            serde_json::json!({"unit": "failure:severe#1/0", "role": "commander", "approve": true}),
        );
        logged.person = Some(person.to_string());
        logged
    }

    fn log(answered_at: u64) -> Vec<Logged> {
        vec![
            at(
                0,
                "waiting",
                serde_json::json!({
                    "unit": "failure:severe#1/0", "node": "failure:severe",
                    "need": "approval", "text": "confirm",
                    "approval": {"roles": ["commander"], "quorum": 1, "within_ms": 3 * MINUTE},
                }),
            ),
            voted(answered_at, "alice"),
            at(
                answered_at,
                "approval_settled",
                serde_json::json!({"unit": "failure:severe#1/0", "approved": true, "by": "votes"}),
            ),
            at(
                answered_at,
                "rollback_started",
                serde_json::json!({"key": "failure:severe#1/1", "scope": "all", "units": []}),
            ),
        ]
    }

    #[test]
    fn a_confirmation_within_its_time_is_met_and_says_when_the_rollback_followed() {
        let found = Confirmation::all(&log(2 * MINUTE));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].met(), Some(true));
        assert_eq!(
            found[0].line(),
            "confirmation failure:severe (3m): met, approved by alice after 2m; the rollback started 0s after it"
        );
    }

    #[test]
    fn a_confirmation_past_its_time_is_breached() {
        let found = Confirmation::all(&log(40 * MINUTE));
        assert_eq!(found[0].met(), Some(false));
        assert!(found[0]
            .line()
            .contains("BREACHED, approved by alice after 40m"));
    }
}
