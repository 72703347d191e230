//! One typed view of a run, built once from its verified log, that every format
//! renders: the formats differ in layout, never in what they say happened. The JSON
//! format is this value serialised, so its shape is these types.

mod answer;
mod at;
mod build;
mod command;
mod entry;
mod evaluation;
mod header;
mod moment;
mod notice;
mod objective;
mod person;
mod postmortem;
#[cfg(test)]
pub(crate) mod sealed;

use serde::Serialize;

pub use answer::Answer;
pub use at::{elapsed, At};
pub use command::{exit_text, seconds, Collapsed, Command, Piece};
pub use entry::{About, Entry};
pub use evaluation::{Evaluation, EvaluationKind};
pub use header::{Drill, Edit, Header, RunState};
pub use moment::{Moment, MomentKind};
pub use notice::{Delivery, Notice};
pub use objective::Objective;
pub use person::Person;
pub use postmortem::{Action, FailureNote, Part, Postmortem, TO_FILL_IN};

/// The version of the JSON shape: raised when a field changes meaning or goes away,
/// not when one is added.
pub const SCHEMA: u32 = 1;

/// A run as its log tells it, section by section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transcript {
    pub schema: u32,
    /// Nothing when the log does not start with a run (it is not a run's log).
    pub header: Option<Header>,
    pub key_moments: Vec<Moment>,
    pub timeline: Vec<Entry>,
    pub answers: Vec<Answer>,
    pub commands: Vec<Command>,
    pub evaluations: Vec<Evaluation>,
    pub objectives: Vec<Objective>,
    pub notices: Vec<Notice>,
    pub postmortem: Postmortem,
    /// Nothing for an empty log.
    pub chain: Option<Chain>,
}

/// What the transcript rests on: how many events, over what time, and the last hash,
/// which seals every event before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chain {
    pub events: usize,
    pub first: At,
    pub last: At,
    pub last_hash: String,
}

impl Transcript {
    /// The people of the run's roster, as its first event recorded them.
    pub fn people(&self) -> &[Person] {
        self.header
            .as_ref()
            .map(|header| header.people.as_slice())
            .unwrap_or_default()
    }

    /// `alice (Alice Chen; commander), OS user alice`: who said an entry, if anyone.
    pub fn who(&self, person: Option<&str>, os_user: Option<&str>) -> Option<String> {
        match (person, os_user) {
            (Some(person), Some(user)) => Some(format!(
                "{}, OS user {user}",
                Person::described(person, self.people())
            )),
            (Some(person), None) => Some(Person::described(person, self.people())),
            (None, Some(user)) => Some(format!("OS user {user}")),
            (None, None) => None,
        }
    }
}
