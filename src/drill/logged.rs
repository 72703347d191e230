//! A drill's log as its scorecard reads it: each event decoded once into the fact it
//! states, with its time and the person who said it.

use crate::engine::facts::Fact;
use crate::store::Event;

#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    pub time_ms: u64,
    pub fact: Fact,
    pub person: Option<String>,
}

/// The events this build can read, in log order.
pub fn read(events: &[Event]) -> Vec<Logged> {
    events
        .iter()
        .filter_map(|event| {
            Some(Logged {
                time_ms: event.time_ms,
                fact: Fact::of(event)?,
                person: event.actor.as_ref().and_then(|actor| actor.person.clone()),
            })
        })
        .collect()
}

/// Logs written by hand, for the tests of what the scorecard reads from them.
#[cfg(test)]
pub(super) mod written {
    use super::Logged;
    use crate::engine::facts::Fact;

    pub const MINUTE: u64 = 60_000;

    /// One event: its time from the drill's start, kind and payload.
    pub fn at(time_ms: u64, kind: &str, payload: serde_json::Value) -> Logged {
        let fact: Fact = serde_json::from_value(serde_json::json!({
            "kind": kind,
            "payload": payload,
        }))
        .unwrap_or_else(|error| panic!("a `{kind}` fact: {error}"));
        Logged {
            time_ms,
            fact,
            person: None,
        }
    }

    /// The drill's first event: the plan's source and the drill's mark.
    pub fn started(source: &str, drill: serde_json::Value) -> Logged {
        at(
            0,
            "run_started",
            serde_json::json!({
                "run": "r", "runbook": "plan", "file": "plan.rbk", "machine": "m",
                "started_by": "bao", "source_sha256": "0", "source": source,
                "params": {}, "inventories": {}, "seed": 1, "engine_version": "0",
                "drill": drill,
            }),
        )
    }
}
