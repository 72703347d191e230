//! Answers from other terminals. While an engine holds a run, nobody else writes its
//! log: `runbook confirm` and `runbook decide` leave a request in the run's inbox, and
//! the engine, waiting for exactly that answer, takes it and logs it as said by the
//! person named, beside the account they ran under.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::facts::{Decision, Fact, Need};

/// How often (in milliseconds of the run's clock) a waiting engine looks for an answer.
pub const POLL_MS: u64 = 200;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub node: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub answer: Answer,
    pub person: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_user: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Confirmed(BTreeMap<String, String>),
    Decided(Decision),
}

impl Answer {
    pub fn need(&self) -> Need {
        match self {
            Answer::Confirmed(_) => Need::Confirmation,
            Answer::Decided(_) => Need::Decision,
        }
    }
}

impl Request {
    /// The event that records this answer for `unit`.
    pub fn into_fact(self, unit: &str) -> (Fact, Answer) {
        let fact = match &self.answer {
            Answer::Confirmed(values) => Fact::Confirmed {
                unit: unit.to_string(),
                values: values.clone(),
            },
            Answer::Decided(decision) => Fact::Decided {
                unit: unit.to_string(),
                decision: *decision,
            },
        };
        (fact, self.answer)
    }
}

pub fn inbox_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("inbox")
}

/// Leaves a request for the engine: written aside, then renamed into the inbox, so
/// the engine never reads half of one. Returns the file, which disappears once taken.
pub fn deliver(run_dir: &Path, request: &Request, nonce: u64) -> std::io::Result<PathBuf> {
    let dir = inbox_dir(run_dir);
    std::fs::create_dir_all(&dir)?;
    let name = format!("{nonce:016x}-{}", std::process::id());
    let partial = dir.join(format!(".{name}.partial"));
    let path = dir.join(format!("{name}.json"));
    let bytes = serde_json::to_vec(request).map_err(std::io::Error::other)?;
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

/// Takes the first request answering `need` for `node` (on `host`): removes it from the
/// inbox and returns it. Requests for anything else stay where they are.
pub fn take(run_dir: &Path, node: &str, host: Option<&str>, need: Need) -> Option<Request> {
    let entries = std::fs::read_dir(inbox_dir(run_dir)).ok()?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    for path in paths {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let Ok(request) = serde_json::from_slice::<Request>(&bytes) else {
            // Not a request this engine can read: set aside, so it is not read again.
            let _ = std::fs::rename(&path, path.with_extension("unreadable"));
            continue;
        };
        let host_matches = request.host.is_none() || request.host.as_deref() == host;
        if request.node == node && host_matches && request.answer.need() == need {
            let _ = std::fs::remove_file(&path);
            return Some(request);
        }
    }
    None
}
