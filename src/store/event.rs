use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The version of the event format this build writes and reads. A log written by
/// another version is refused with a clear error rather than misread.
pub const SCHEMA_VERSION: u32 = 1;

/// The `prev` of the first event: there is nothing before it.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who did something: the person who said so (`--as NAME`) and the account the
/// command ran under. Either may be unknown, for events the engine makes by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_user: Option<String>,
}

/// One line of a run's log. The log is the run's checkpoint, its transcript and its
/// replay input: everything the engine knows of a run is a fold over these.
///
/// Each event seals the one before it: `hash` is the SHA-256 of the event's own fields
/// (everything but `hash`, in this order, as compact JSON with the payload's keys
/// sorted) and `prev` is the hash of the event before. Changing, removing or
/// reordering any event breaks the chain there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub schema: u32,
    /// 0 for the first event of a run, then one more for each.
    pub seq: u64,
    /// Milliseconds since the Unix epoch, by the clock the engine was handed (a virtual
    /// one in drills).
    pub time_ms: u64,
    /// What happened, in the engine's words (`run_started`, `step_finished`, ...).
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// The details of the event; its shape belongs to the kind.
    pub payload: serde_json::Value,
    pub prev: String,
    pub hash: String,
}

/// An event before it has its place in a log: what the caller says happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub time_ms: u64,
    pub kind: String,
    pub actor: Option<Actor>,
    pub payload: serde_json::Value,
}

/// The fields `hash` covers, in the order they are hashed.
#[derive(Serialize)]
struct Sealed<'a> {
    schema: u32,
    seq: u64,
    time_ms: u64,
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: &'a Option<Actor>,
    payload: Canonical<'a>,
    prev: &'a str,
}

/// A JSON value written with every object's keys in sorted order, whatever order its
/// map keeps them in: serde_json keeps insertion order when any crate in a build turns
/// on its `preserve_order` feature, and a log's hashes must not depend on how the
/// build that reads it was made.
struct Canonical<'a>(&'a serde_json::Value);

impl Serialize for Canonical<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.0 {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<(&String, &serde_json::Value)> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                let mut out = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    out.serialize_entry(key, &Canonical(value))?;
                }
                out.end()
            }
            serde_json::Value::Array(items) => serializer.collect_seq(items.iter().map(Canonical)),
            other => other.serialize(serializer),
        }
    }
}

impl Event {
    /// Places a draft after the event whose hash is `prev`, as number `seq`.
    pub fn seal(draft: Draft, seq: u64, prev: &str) -> Event {
        let mut event = Event {
            schema: SCHEMA_VERSION,
            seq,
            time_ms: draft.time_ms,
            kind: draft.kind,
            actor: draft.actor,
            payload: draft.payload,
            prev: prev.to_string(),
            hash: String::new(),
        };
        event.hash = event.computed_hash();
        event
    }

    /// The hash the event's fields call for, whatever its `hash` field says.
    pub fn computed_hash(&self) -> String {
        let sealed = Sealed {
            schema: self.schema,
            seq: self.seq,
            time_ms: self.time_ms,
            kind: &self.kind,
            actor: &self.actor,
            payload: Canonical(&self.payload),
            prev: &self.prev,
        };
        // Serialising plain data (strings, numbers, JSON values) cannot fail.
        let bytes = serde_json::to_vec(&sealed).unwrap_or_default();
        format!("{:x}", Sha256::digest(&bytes))
    }
}
