//! Logs for unit tests, chained as the store chains them.

use serde_json::Value;

use crate::store::{Actor, Draft, Event, GENESIS};

/// A chained log of `(time, kind, payload, person)` events.
pub fn log(events: &[(u64, &str, Value, Option<&str>)]) -> Vec<Event> {
    let mut sealed: Vec<Event> = Vec::new();
    for (seq, (time_ms, kind, payload, person)) in (0..).zip(events) {
        let prev = sealed.last().map_or(GENESIS, |event| event.hash.as_str());
        let draft = Draft {
            time_ms: *time_ms,
            kind: (*kind).to_string(),
            actor: person.map(|person| Actor {
                person: Some(person.to_string()),
                os_user: Some("ops".to_string()),
            }),
            payload: payload.clone(),
        };
        let event = Event::seal(draft, seq, prev);
        sealed.push(event);
    }
    sealed
}
