use serde::Serialize;

use super::At;

/// What every part of the post-mortem says until people write it.
pub const TO_FILL_IN: &str = "to fill in";

/// The post-mortem, ready to fill in: the failures as the log tells them, and for each
/// part prompts drawn from the log, never conclusions. The texts and the one action
/// row are empty: they are for people to write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Postmortem {
    /// Always `to fill in`: a transcript never writes a post-mortem's conclusions.
    pub status: String,
    pub failures: Vec<FailureNote>,
    pub root_cause: Part,
    pub corrective_actions: Vec<Action>,
    pub went_well: Part,
    pub went_badly: Part,
}

/// A failure as logged: the post-mortem's starting point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureNote {
    pub at: At,
    /// `minor`, `functional` or `severe`.
    pub class: String,
    pub node: String,
    pub host: Option<String>,
    pub summary: String,
}

/// One part to write, with what the log suggests looking at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Part {
    pub prompts: Vec<String>,
    pub text: String,
}

/// A row of the corrective actions' table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Action {
    pub action: String,
    pub owner: String,
    pub due: String,
}

impl FailureNote {
    /// `functional failure at install on web-03: command 1: exit code 1`.
    pub fn text(&self) -> String {
        let on = self
            .host
            .as_deref()
            .map(|host| format!(" on {host}"))
            .unwrap_or_default();
        format!(
            "{} failure at {}{on}: {}",
            self.class, self.node, self.summary
        )
    }
}
