//! Where a replay parts from the run it replays.
//!
//! Branches of a run (hosts of a wave, a watch beside them) interleave in its log as
//! they happened to, so the two logs are not compared line by line: each event belongs
//! to a thread (its unit, its rollout, its failure, its objective, the run itself), and
//! each thread must say the same things in the same order. The first divergence is the
//! earliest point of the recorded log where a thread parts.
//!
//! What is compared is what the run decided. Times are not (the replay's clock follows
//! the recorded one, without the time the engine itself spent), nor what only says
//! where the run was kept (its id, folder, machine, account).

use std::collections::{HashMap, HashSet, VecDeque};

use serde_json::Value;

use crate::store::Event;

/// One field that differs, by its path in the payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub field: String,
    pub recorded: Option<Value>,
    pub replayed: Option<Value>,
}

/// Where the two logs part: the recorded event the replay did not reproduce (`None`
/// when the replay did something past the end of its thread), and what the replay did
/// there instead (`None` when it did nothing).
#[derive(Debug, Clone)]
pub struct Divergence {
    pub recorded: Option<Event>,
    pub replayed: Option<Event>,
    /// The recorded event after which the replay did more, when `recorded` is `None`.
    pub after: Option<Event>,
    pub changes: Vec<Change>,
}

/// The two logs side by side.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub recorded: usize,
    /// Events reproduced before the first divergence, or all of them.
    pub matched: usize,
    pub divergence: Option<Divergence>,
}

/// A divergence found, with where it sits in the recorded log: twice the seq of the
/// recorded event, one more for "just after it".
struct Candidate {
    position: u64,
    divergence: Divergence,
}

pub fn compare(recorded: &[Event], replayed: &[Event]) -> Comparison {
    let mut threads: HashMap<String, VecDeque<&Event>> = HashMap::new();
    for event in recorded {
        threads.entry(thread(event)).or_default().push_back(event);
    }
    // The recorded event the replay reproduced last, in the replay's order: where
    // something the replay did beyond its thread is placed.
    let mut last_matched: Option<&Event> = None;
    let mut parted: HashSet<String> = HashSet::new();
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut matched = 0;
    for event in replayed {
        let key = thread(event);
        if parted.contains(&key) {
            continue;
        }
        let queue = threads.entry(key.clone()).or_default();
        match queue.front() {
            Some(original) if same_decision(original, event) => {
                last_matched = queue.pop_front();
                matched += 1;
            }
            Some(original) => {
                candidates.push(Candidate {
                    position: original.seq * 2,
                    divergence: Divergence {
                        recorded: Some((*original).clone()),
                        replayed: Some(event.clone()),
                        after: None,
                        changes: changes(&decided(original), &decided(event)),
                    },
                });
                parted.insert(key);
            }
            None => {
                let after = last_matched;
                candidates.push(Candidate {
                    position: after.map_or(0, |event| event.seq * 2 + 1),
                    divergence: Divergence {
                        recorded: None,
                        replayed: Some(event.clone()),
                        after: after.cloned(),
                        changes: Vec::new(),
                    },
                });
                parted.insert(key);
            }
        }
    }
    for (key, queue) in &threads {
        if parted.contains(key) {
            continue;
        }
        if let Some(original) = queue.front() {
            candidates.push(Candidate {
                position: original.seq * 2,
                divergence: Divergence {
                    recorded: Some((*original).clone()),
                    replayed: None,
                    after: None,
                    changes: Vec::new(),
                },
            });
        }
    }
    let first = candidates
        .into_iter()
        .min_by_key(|candidate| candidate.position);
    let matched = match &first {
        // What the replay reproduced of the recorded log before the point it parts.
        Some(first) => recorded
            .iter()
            .take_while(|event| event.seq * 2 < first.position)
            .count()
            .min(matched),
        None => matched,
    };
    Comparison {
        recorded: recorded.len(),
        matched,
        divergence: first.map(|candidate| candidate.divergence),
    }
}

/// The thread an event belongs to: events of one thread happen in one order in every
/// run that makes the same decisions.
fn thread(event: &Event) -> String {
    let field = |name: &str| {
        event
            .payload
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    match event.kind.as_str() {
        "unit_started" | "command_started" | "output" | "command_finished" | "waiting"
        | "confirmed" | "decided" | "voted" | "escalated" | "approval_settled" | "evaluated"
        | "unit_finished" => format!("unit {}", field("unit")),
        "refused" => format!("answers {}", field("node")),
        "baseline" => "baseline".to_string(),
        "sampled" => format!("sampled {}", field("key")),
        "wave_started" | "wave_finished" | "wave_pause" | "pause_skipped" => {
            format!("waves {}", field("waves"))
        }
        "failure" | "policy_action" | "rollback_started" | "rollback_finished" => {
            format!("failure {}", field("key"))
        }
        "notice" => format!("notice {}", field("key")),
        "delivered" => format!("delivered {} {}", field("key"), field("channel")),
        "objective" => format!("objective {}", field("objective")),
        _ => "run".to_string(),
    }
}

/// The payload fields of a kind that only tell time or place.
fn placing(kind: &str) -> &'static [&'static str] {
    match kind {
        // Where and when the run was kept; the runbook it ran is compared event by
        // event, as what it made the run do.
        "run_started" | "run_resumed" | "changes_accepted" => &["*"],
        "command_finished" => &["duration_ms", "full_output"],
        "wave_pause" => &["until_ms"],
        "objective" => &["after_ms"],
        _ => &[],
    }
}

/// The payload fields of a kind that hold the runbook's wording.
fn wording(kind: &str) -> &'static [&'static str] {
    match kind {
        "evaluated" => &["condition"],
        "unit_finished" | "failure" => &["summary"],
        "notice" => &["message"],
        "waiting" => &["text"],
        _ => &[],
    }
}

/// Whether the replay's event makes the recorded one's decision: the same kind, said
/// by the same person, with the same payload but for time, place and wording. Checked
/// in place, as nearly every event of a replay is the same.
fn same_decision(recorded: &Event, replayed: &Event) -> bool {
    let person = |event: &Event| event.actor.as_ref().and_then(|actor| actor.person.clone());
    if recorded.kind != replayed.kind || person(recorded) != person(replayed) {
        return false;
    }
    let skipped = placing(&recorded.kind);
    if skipped == ["*"] {
        return true;
    }
    let (Value::Object(before), Value::Object(after)) = (&recorded.payload, &replayed.payload)
    else {
        return recorded.payload == replayed.payload;
    };
    let counts = |field: &&String| {
        !skipped.contains(&field.as_str()) && !wording(&recorded.kind).contains(&field.as_str())
    };
    let same_field = |field: &String| match (before.get(field), after.get(field)) {
        (Some(Value::Array(old)), Some(Value::Array(new)))
            if recorded.kind == "rollback_started" =>
        {
            as_set(old) == as_set(new)
        }
        (old, new) => old == new,
    };
    before
        .keys()
        .chain(after.keys())
        .filter(counts)
        .all(same_field)
}

/// A list's items in a stable order, for lists whose order is not a decision.
fn as_set(items: &[Value]) -> Vec<String> {
    let mut items: Vec<String> = items.iter().map(Value::to_string).collect();
    items.sort();
    items
}

/// What an event says, as one value to diff where a replay parted from the run: its
/// kind, who said it, and its payload without the fields that only tell time or place.
/// The wording stays, to explain the decision that changed.
fn decided(event: &Event) -> Value {
    let mut payload = event.payload.clone();
    let ignored = placing(&event.kind);
    if let Value::Object(map) = &mut payload {
        // What a rollback undoes is the decision; the order of units that ended at the
        // same moment is how branches happened to interleave (each undo's own thread
        // keeps its order).
        if event.kind == "rollback_started" {
            if let Some(Value::Array(units)) = map.get_mut("units") {
                units.sort_by_key(Value::to_string);
            }
        }
        if ignored == ["*"] {
            map.clear();
        } else {
            for field in ignored {
                map.remove(*field);
            }
        }
    }
    let person = event.actor.as_ref().and_then(|actor| actor.person.clone());
    serde_json::json!({ "kind": event.kind, "person": person, "payload": payload })
}

/// The fields that differ between two decided events, by path.
fn changes(recorded: &Value, replayed: &Value) -> Vec<Change> {
    let mut found = Vec::new();
    diff("", recorded, replayed, &mut found);
    found
}

fn diff(path: &str, recorded: &Value, replayed: &Value, found: &mut Vec<Change>) {
    match (recorded, replayed) {
        (Value::Object(before), Value::Object(after)) => {
            let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let field = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match (before.get(key), after.get(key)) {
                    (Some(old), Some(new)) => diff(&field, old, new, found),
                    (old, new) => found.push(Change {
                        field: field.trim_start_matches("payload.").to_string(),
                        recorded: old.cloned(),
                        replayed: new.cloned(),
                    }),
                }
            }
        }
        (old, new) if old != new => found.push(Change {
            field: path.trim_start_matches("payload.").to_string(),
            recorded: Some(old.clone()),
            replayed: Some(new.clone()),
        }),
        _ => {}
    }
}
