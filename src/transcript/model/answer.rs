use std::collections::BTreeMap;

use serde::Serialize;

use super::At;
use crate::engine::facts::Decision;

/// A person's answer to the run: a vote, a confirmation, a decision or a pause cut
/// short, with the roles they held by the roster the run recorded; and the answers
/// that were refused, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Answer {
    pub at: At,
    /// `approve`, `reject`, `confirm`, `decide` or `skip-pause`.
    pub answer: String,
    /// What it answered: the unit (a gate's, a manual step's), or for a pause its
    /// waves block and the wave it came before.
    pub about: String,
    pub person: Option<String>,
    pub name: Option<String>,
    pub os_user: Option<String>,
    /// Every role the person held when the run started.
    pub roles: Vec<String>,
    /// For a vote: the role it counts for.
    pub role: Option<String>,
    pub decision: Option<Decision>,
    /// For a confirmation: the values the person entered.
    pub values: BTreeMap<String, String>,
    /// The person's own reason.
    pub reason: Option<String>,
    /// Why the answer was not taken; nothing when it was.
    pub refused: Option<String>,
}
