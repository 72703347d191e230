use std::collections::BTreeMap;

use serde::Serialize;

use super::At;

/// The probe values a decision rested on: a gate's or a watch's condition, or the
/// baseline read before the change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub at: At,
    pub kind: EvaluationKind,
    /// The unit that decided, or for a baseline what it was read for.
    pub of: String,
    /// Nothing for a baseline.
    pub condition: Option<String>,
    pub values: BTreeMap<String, f64>,
    /// Probes that could not be read, and why.
    pub unreadable: BTreeMap<String, String>,
    /// Nothing when it could not be told (or for a baseline).
    pub holds: Option<bool>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvaluationKind {
    Condition,
    Baseline,
}

impl Evaluation {
    /// `p99 = 0.2, errors unreadable: timed out`.
    pub fn values_text(&self) -> String {
        let mut read: Vec<String> = self
            .values
            .iter()
            .map(|(name, value)| format!("{name} = {value}"))
            .collect();
        read.extend(
            self.unreadable
                .iter()
                .map(|(name, why)| format!("{name} unreadable: {why}")),
        );
        read.join(", ")
    }

    /// `holds`, `DOES NOT HOLD`, `cannot be told: ...`, or `baseline`.
    pub fn verdict(&self) -> String {
        match (self.kind, self.holds, &self.error) {
            (EvaluationKind::Baseline, ..) => "baseline".to_string(),
            (_, Some(true), _) => "holds".to_string(),
            (_, Some(false), _) => "DOES NOT HOLD".to_string(),
            (_, None, Some(error)) => format!("cannot be told: {error}"),
            (_, None, None) => "cannot be told".to_string(),
        }
    }
}
