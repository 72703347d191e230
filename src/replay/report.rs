//! What `runbook replay` says: that the replay made every decision the run made, or
//! the first it did not, with both sides and the fields that changed.

use std::fmt::Write as _;

use serde_json::Value;

use super::compare::{Change, Comparison};
use crate::engine::report::timestamp;
use crate::store::Event;

/// The longest a value is shown; the logs hold the rest.
const SHOWN_CHARS: usize = 160;

impl Comparison {
    /// The report of a replay of run `run`, against `against` (an edited file) or the
    /// runbook the run recorded.
    pub fn render(&self, run: &str, against: Option<&str>) -> String {
        let mut out = String::new();
        let runbook = against.map_or_else(
            || "the runbook it recorded".to_string(),
            |file| format!("`{file}`"),
        );
        let _ = writeln!(
            out,
            "replayed run {run} ({} events) against {runbook}",
            self.recorded
        );
        let Some(divergence) = &self.divergence else {
            let _ = writeln!(
                out,
                "no divergence: the replay made every decision the run made ({} of {} events reproduced)",
                self.matched, self.recorded
            );
            return out;
        };
        match (&divergence.recorded, &divergence.replayed) {
            (Some(recorded), replayed) => {
                let _ = writeln!(
                    out,
                    "FIRST DIVERGENCE at event {} of the run ({}, {}):",
                    recorded.seq,
                    timestamp(recorded.time_ms),
                    recorded.kind
                );
                let _ = writeln!(out, "  the run:    {}", describe(recorded));
                match replayed {
                    Some(replayed) => {
                        let _ = writeln!(out, "  the replay: {}", describe(replayed));
                    }
                    None => {
                        let _ = writeln!(out, "  the replay: nothing here; it never got to it");
                    }
                }
            }
            (None, Some(replayed)) => {
                let place = divergence.after.as_ref().map_or_else(
                    || "at the start".to_string(),
                    |after| format!("after event {} ({})", after.seq, after.kind),
                );
                let _ = writeln!(out, "FIRST DIVERGENCE {place}:");
                let _ = writeln!(out, "  the run:    nothing more here");
                let _ = writeln!(out, "  the replay: {}", describe(replayed));
            }
            (None, None) => {}
        }
        if !divergence.changes.is_empty() {
            let _ = writeln!(out, "  why: what changed");
            for change in &divergence.changes {
                let _ = writeln!(out, "    {}", change_line(change));
            }
        }
        let _ = writeln!(
            out,
            "{} of {} events reproduced before it",
            self.matched, self.recorded
        );
        out
    }
}

/// An event in one line: its kind and what it says.
fn describe(event: &Event) -> String {
    let payload = shown(&event.payload);
    let person = event
        .actor
        .as_ref()
        .and_then(|actor| actor.person.as_deref())
        .map(|person| format!(" by {person}"))
        .unwrap_or_default();
    format!("{}{person} {payload}", event.kind)
}

fn change_line(change: &Change) -> String {
    let side = |value: &Option<Value>| value.as_ref().map_or_else(|| "(none)".to_string(), shown);
    format!(
        "{}: {} -> {}",
        change.field,
        side(&change.recorded),
        side(&change.replayed)
    )
}

fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= SHOWN_CHARS {
        return text;
    }
    let cut: String = text.chars().take(SHOWN_CHARS).collect();
    format!("{cut}…")
}
