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
    /// The unit answered, when the answer is for one (a vote is for one approval):
    /// an engine waiting on another unit of the same node leaves it alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
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
    Voted {
        approve: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// `runbook skip-pause`: end the wait between two waves now.
    SkipPause {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

impl Answer {
    pub fn need(&self) -> Need {
        match self {
            Answer::Confirmed(_) => Need::Confirmation,
            Answer::Decided(_) => Need::Decision,
            Answer::Voted { .. } => Need::Approval,
            Answer::SkipPause { .. } => Need::SkipPause,
        }
    }

    /// The word logged when this answer is refused.
    pub fn word(&self) -> &'static str {
        match self {
            Answer::Confirmed(_) => "confirm",
            Answer::Decided(_) => "decide",
            Answer::Voted { approve: true, .. } => "approve",
            Answer::Voted { approve: false, .. } => "reject",
            Answer::SkipPause { .. } => "skip-pause",
        }
    }
}

impl Answer {
    /// The event that records this answer for `unit`; a vote counts for `role`. A
    /// pause is answered under its waves block's name and the wave it comes before.
    pub fn fact(&self, unit: &str, role: &str) -> Fact {
        match self {
            Answer::SkipPause { reason } => {
                let (waves, index) = crate::engine::run::parse_wave_key(unit).unwrap_or_default();
                Fact::PauseSkipped {
                    waves,
                    index,
                    reason: reason.clone(),
                }
            }
            Answer::Confirmed(values) => Fact::Confirmed {
                unit: unit.to_string(),
                values: values.clone(),
            },
            Answer::Decided(decision) => Fact::Decided {
                unit: unit.to_string(),
                decision: *decision,
            },
            Answer::Voted { approve, reason } => Fact::Voted {
                unit: unit.to_string(),
                role: role.to_string(),
                approve: *approve,
                reason: reason.clone(),
            },
        }
    }
}

/// The engine's word on a request it took: logged, or refused and why. The command
/// that left the request waits for it and shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    pub taken: bool,
    pub message: String,
    /// The diagnostic code of a refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

/// A request taken from the inbox, and where its reply goes.
#[derive(Debug)]
pub struct Taken {
    pub request: Request,
    reply_to: PathBuf,
}

impl Taken {
    /// Leaves the reply for the command that is waiting for it (written aside, then
    /// renamed). A reply nobody reads is harmless: the answer is in the log.
    pub fn reply(&self, reply: &Reply) {
        let partial = self.reply_to.with_extension("reply.partial");
        let written = serde_json::to_vec(reply)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&partial, bytes))
            .and_then(|()| std::fs::rename(&partial, &self.reply_to));
        if let Err(error) = written {
            tracing::warn!(%error, "could not leave a reply in the inbox");
        }
    }
}

/// Where the reply to the request at `request` is left.
pub fn reply_path(request: &Path) -> PathBuf {
    request.with_extension("reply")
}

/// Reads (and removes) the reply to the request at `request`, once there is one.
pub fn take_reply(request: &Path) -> Option<Reply> {
    let path = reply_path(request);
    let bytes = std::fs::read(&path).ok()?;
    let _ = std::fs::remove_file(&path);
    serde_json::from_slice(&bytes).ok()
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

/// Takes the first request answering `need` for `node` (on `host`, for `unit`): removes
/// it from the inbox and returns it. Requests for anything else stay where they are.
pub fn take(
    run_dir: &Path,
    node: &str,
    host: Option<&str>,
    unit: &str,
    need: Need,
) -> Option<Taken> {
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
        let unit_matches = request.unit.as_deref().is_none_or(|asked| asked == unit);
        if request.node == node && host_matches && unit_matches && request.answer.need() == need {
            let _ = std::fs::remove_file(&path);
            return Some(Taken {
                request,
                reply_to: reply_path(&path),
            });
        }
    }
    None
}
