//! People in a drill: each answer a person gives, and how long after being asked.
//! Given with `--respond node=go,person=alice,after=2m[,answer=reject][,host=h1]`:
//! `node` is what people answer to (a step, a gate, `failure:severe`, a waves block
//! for its pause), `answer` one of approve (the default, also confirming a manual step
//! and ending a pause), reject, retry, skip, fail. A responder answers every wait of its
//! node once (each host's, each approval's). Nobody else answers: a wait with no
//! responder lasts until its own time runs out, or the drill pauses there.

use std::collections::BTreeMap;

use crate::engine::facts::{Decision, Need};
use crate::engine::inbox::Answer;

/// Why `--respond` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not a responder: {why}")]
pub struct BadResponse {
    pub given: String,
    pub why: &'static str,
}

/// What a responder says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Says {
    Approve,
    Reject,
    Retry,
    Skip,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub node: String,
    pub host: Option<String>,
    pub person: String,
    /// How long after the wait began the answer comes.
    pub after_ms: u64,
    pub says: Says,
}

impl Response {
    pub fn parse(given: &str) -> Result<Self, BadResponse> {
        let bad = |why| BadResponse {
            given: given.to_string(),
            why,
        };
        let mut fields = BTreeMap::new();
        for pair in given.split(',') {
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                bad("write node=NAME,person=NAME[,after=DURATION][,answer=WORD][,host=HOST]")
            })?;
            if fields.insert(key.trim(), value.trim()).is_some() {
                return Err(bad("each key is given once"));
            }
        }
        let take = |key: &str| fields.get(key).copied().filter(|value| !value.is_empty());
        let node = take("node").ok_or_else(|| bad("`node` names what is answered"))?;
        let person =
            take("person").ok_or_else(|| bad("`person` names who answers, as the roster does"))?;
        let after_ms = match take("after") {
            Some(after) => humantime::parse_duration(after)
                .map(|after| u64::try_from(after.as_millis()).unwrap_or(u64::MAX))
                .map_err(|_| bad("`after` is a duration such as 90s, 2m or 40m"))?,
            None => 0,
        };
        let says = match take("answer").unwrap_or("approve") {
            "approve" => Says::Approve,
            "reject" => Says::Reject,
            "retry" => Says::Retry,
            "skip" => Says::Skip,
            "fail" => Says::Fail,
            _ => return Err(bad("`answer` is one of approve, reject, retry, skip, fail")),
        };
        if let Some(unknown) = fields
            .keys()
            .find(|key| !["node", "person", "after", "answer", "host"].contains(key))
        {
            let _ = unknown;
            return Err(bad("the keys are node, person, after, answer and host"));
        }
        Ok(Self {
            node: node.to_string(),
            host: take("host").map(str::to_string),
            person: person.to_string(),
            after_ms,
            says,
        })
    }

    /// Whether this responder answers the wait for `node` on `host`.
    pub fn answers(&self, node: &str, host: Option<&str>) -> bool {
        self.node == node && (self.host.is_none() || self.host.as_deref() == host)
    }

    /// The answer given to a wait of this need; a confirmation enters each value the
    /// step records as `(drill)`.
    pub fn answer(&self, need: Need, records: &[&str]) -> Answer {
        let reason = Some(format!("drill: {} answers", self.person));
        match need {
            Need::Confirmation => Answer::Confirmed(
                records
                    .iter()
                    .map(|key| ((*key).to_string(), "(drill)".to_string()))
                    .collect(),
            ),
            Need::Approval => Answer::Voted {
                approve: self.says != Says::Reject,
                reason,
            },
            Need::SkipPause => Answer::SkipPause { reason },
            Need::Decision => Answer::Decided(match self.says {
                Says::Skip => Decision::Skip,
                Says::Fail | Says::Reject => Decision::Fail,
                Says::Approve | Says::Retry => Decision::Retry,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responders_read_as_written() {
        let response =
            Response::parse("node=go,person=alice,after=2m,answer=reject").expect("a responder");
        assert_eq!(response.after_ms, 120_000);
        assert_eq!(response.says, Says::Reject);
        assert!(response.answers("go", Some("h1")));
        assert!(!response.answers("other", None));
        let on_host = Response::parse("node=install,person=carlos,host=h2").expect("a responder");
        assert!(on_host.answers("install", Some("h2")));
        assert!(!on_host.answers("install", Some("h1")));
        assert_eq!(on_host.after_ms, 0);
    }

    #[test]
    fn malformed_responders_say_why() {
        for given in [
            "go",
            "node=go",
            "person=alice",
            "node=go,person=a,after=soon",
            "node=go,person=a,answer=maybe",
            "node=go,person=a,colour=red",
            "node=go,node=x,person=a",
        ] {
            assert!(Response::parse(given).is_err(), "{given}");
        }
    }
}
