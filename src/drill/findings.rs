//! What a drill exposed, a line each, read from its log alone (the plan's source is in
//! its first event): the objectives breached and by how much, the longest a person
//! kept the rollback waiting, waits nobody answered, steps that timed out, rollbacks
//! that failed, notices not delivered and audiences told nothing after the failure,
//! faults that never struck.

use std::collections::HashMap;
use std::fmt;

use super::logged::Logged;
use super::onset::{strikes, units};
use crate::ast::{duration_text, Item};
use crate::engine::facts::{ExitRecord, Fact, Need, Outcome, Settlement};
use crate::engine::history::History;

/// A wait for a person, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    pub need: Need,
    pub node: String,
    pub host: Option<String>,
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on = self
            .host
            .as_deref()
            .map(|host| format!(" on {host}"))
            .unwrap_or_default();
        let node = &self.node;
        match self.need {
            Need::Approval => write!(f, "the approval at {node}{on}"),
            Need::Confirmation => write!(f, "the confirmation of {node}{on}"),
            Need::Decision => write!(f, "the decision on {node}{on}"),
            Need::SkipPause => write!(f, "the pause at {node}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// When what the objective measures came after the first failure, if it did, and
    /// when the drill ended after it.
    Breached {
        objective: String,
        limit_ms: u64,
        came_ms: Option<u64>,
        ended_ms: u64,
    },
    /// The longest a person kept the rollback waiting, asked after the first failure
    /// and answered before the rollback started; against `rollback_start`'s limit.
    LongestWait {
        wait: Wait,
        by: Option<String>,
        took_ms: u64,
        allowed_ms: Option<u64>,
    },
    /// An approval's time ran out unanswered and it escalated: the plan waited on.
    Escalated {
        wait: Wait,
        within_ms: Option<u64>,
    },
    /// An approval's time ran out unanswered and its `on timeout` settled it.
    Lapsed {
        wait: Wait,
        within_ms: Option<u64>,
        approved: bool,
    },
    /// A wait still open where the log ends: the drill stopped waiting there.
    Unanswered {
        wait: Wait,
        waited_ms: u64,
    },
    TimedOut {
        node: String,
        hosts: Vec<String>,
        after_ms: u64,
    },
    RollbackFailed {
        step: String,
        host: Option<String>,
    },
    /// A notice whose delivery failed (`why`), or was never logged as done.
    Undelivered {
        audience: String,
        channel: String,
        why: Option<String>,
    },
    /// An audience of the plan told nothing from the first failure on.
    Untold {
        audience: String,
    },
    NeverStruck {
        fault: String,
    },
}

/// How many hosts a line names before it only counts them.
const HOSTS_SHOWN: usize = 3;

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Breached {
                objective,
                limit_ms,
                came_ms,
                ended_ms,
            } => {
                let (came, not_yet) = measures(objective);
                let limit = duration_text(*limit_ms);
                write!(f, "objective {objective} ({limit}) breached: ")?;
                match came_ms {
                    Some(at) => write!(
                        f,
                        "{came} {} after the first failure, {} past its limit",
                        duration_text(*at),
                        duration_text(at.saturating_sub(*limit_ms))
                    ),
                    None => write!(
                        f,
                        "{not_yet} when the drill ended, {} after the first failure",
                        duration_text(*ended_ms)
                    ),
                }
            }
            Finding::LongestWait {
                wait,
                by,
                took_ms,
                allowed_ms,
            } => {
                let by = by
                    .as_deref()
                    .map(|person| format!(" by {person}"))
                    .unwrap_or_default();
                write!(
                    f,
                    "the longest wait for a person before the rollback started: {wait}, answered{by} after {}",
                    duration_text(*took_ms)
                )?;
                match allowed_ms {
                    Some(allowed) => write!(
                        f,
                        ", of the {} allowed for the rollback to start",
                        duration_text(*allowed)
                    ),
                    None => Ok(()),
                }
            }
            Finding::Escalated { wait, within_ms } => write!(
                f,
                "nobody answered {wait}{}: it escalated and the plan waited on",
                within(*within_ms)
            ),
            Finding::Lapsed {
                wait,
                within_ms,
                approved,
            } => {
                let how = if *approved {
                    "`on timeout continue` approved it"
                } else {
                    "`on timeout abort` rejected it"
                };
                write!(f, "nobody answered {wait}{}: {how}", within(*within_ms))
            }
            Finding::Unanswered { wait, waited_ms } => write!(
                f,
                "nobody answered {wait}: the drill stopped waiting after {}",
                duration_text(*waited_ms)
            ),
            Finding::TimedOut {
                node,
                hosts,
                after_ms,
            } => {
                let on = match hosts.as_slice() {
                    [] => String::new(),
                    shown if shown.len() <= HOSTS_SHOWN => format!(" on {}", shown.join(", ")),
                    many => format!(
                        " on {} hosts ({}, ...)",
                        many.len(),
                        many[..HOSTS_SHOWN].join(", ")
                    ),
                };
                write!(
                    f,
                    "step {node} timed out{on} after {}",
                    duration_text(*after_ms)
                )
            }
            Finding::RollbackFailed { step, host } => {
                let on = host
                    .as_deref()
                    .map(|host| format!(" on {host}"))
                    .unwrap_or_default();
                write!(f, "the rollback of {step}{on} failed")
            }
            Finding::Undelivered {
                audience,
                channel,
                why,
            } => match why {
                Some(why) => write!(
                    f,
                    "a notice to {audience} via {channel} was not delivered: {why}"
                ),
                None => write!(
                    f,
                    "a notice to {audience} via {channel} was never delivered"
                ),
            },
            Finding::Untold { audience } => write!(
                f,
                "audience {audience} was told nothing from the first failure on"
            ),
            Finding::NeverStruck { fault } => write!(
                f,
                "the fault {fault} never struck: no command of its step ran where it strikes"
            ),
        }
    }
}

/// What an objective measures, as it came and as it had not yet.
fn measures(objective: &str) -> (&'static str, &'static str) {
    match objective {
        "rollback_start" => ("the rollback started", "the rollback had not started"),
        "restored" | "outage" => (
            "the state before the change was back",
            "the state before the change was not back",
        ),
        "alert" => (
            "the first message was delivered",
            "no message had been delivered",
        ),
        _ => ("it came", "it had not come"),
    }
}

fn within(within_ms: Option<u64>) -> String {
    within_ms
        .map(|within| format!(" within its {}", duration_text(within)))
        .unwrap_or_default()
}

/// A wait still open: what it is, when it was asked, and the time it was given.
struct Open {
    wait: Wait,
    asked_ms: u64,
    within_ms: Option<u64>,
}

/// How a notice's delivery went, by the log's end.
enum Delivery {
    Pending,
    Done,
    Failed(String),
}

struct Sent {
    audience: String,
    channel: Option<String>,
    delivery: Delivery,
}

/// What the drill exposed, from its log.
pub fn exposed(log: &[Logged]) -> Vec<Finding> {
    let mut reading = Reading {
        units: units(log),
        ..Reading::default()
    };
    for logged in log {
        reading
            .history
            .apply_fact(logged.time_ms, &logged.fact, None);
        reading.take(logged);
    }
    reading.findings(log)
}

/// The one pass over the log, and what it keeps for the findings.
#[derive(Default)]
struct Reading<'a> {
    /// The run's own fold: its clocks are those the objectives were judged by.
    history: History,
    units: HashMap<&'a str, (&'a str, Option<&'a str>)>,
    /// Each breached objective with its limit, and `rollback_start`'s limit.
    breached: Vec<(String, u64)>,
    rollback_limit: Option<u64>,
    open: HashMap<&'a str, Open>,
    /// Who voted last on each approval.
    voters: HashMap<&'a str, &'a str>,
    /// The waits asked after the first failure and answered: what, by whom, when
    /// asked and answered.
    answered: Vec<(Wait, Option<String>, u64, u64)>,
    /// Escalated and lapsed approvals, in log order.
    waits: Vec<Finding>,
    /// Each step that timed out: on which hosts, after how long at most.
    timed_out: Vec<(String, Vec<String>, u64)>,
    rollbacks: Vec<Finding>,
    sent: Vec<(&'a str, Sent)>,
    told_after_failure: Vec<&'a str>,
}

impl<'a> Reading<'a> {
    fn take(&mut self, logged: &'a Logged) {
        match &logged.fact {
            Fact::Objective {
                objective,
                limit_ms,
                met,
                ..
            } => {
                if objective == "rollback_start" {
                    self.rollback_limit = Some(*limit_ms);
                }
                if !met {
                    self.breached.push((objective.clone(), *limit_ms));
                }
            }
            Fact::Waiting {
                unit,
                node,
                host,
                need,
                approval,
                ..
            } if *need != Need::SkipPause => {
                let wait = Wait {
                    need: *need,
                    node: node.clone(),
                    host: host.clone(),
                };
                let within_ms = approval.as_ref().and_then(|ask| ask.within_ms);
                let asked_ms = logged.time_ms;
                self.open.insert(
                    unit,
                    Open {
                        wait,
                        asked_ms,
                        within_ms,
                    },
                );
            }
            Fact::Voted { unit, .. } => {
                if let Some(person) = logged.person.as_deref() {
                    self.voters.insert(unit, person);
                }
            }
            Fact::Escalated { unit, .. } => {
                if let Some(open) = self.open.get(unit.as_str()) {
                    self.waits.push(Finding::Escalated {
                        wait: open.wait.clone(),
                        within_ms: open.within_ms,
                    });
                }
            }
            Fact::ApprovalSettled {
                unit,
                approved,
                by: Settlement::Timeout,
            } => {
                if let Some(open) = self.open.remove(unit.as_str()) {
                    self.waits.push(Finding::Lapsed {
                        wait: open.wait,
                        within_ms: open.within_ms,
                        approved: *approved,
                    });
                }
            }
            Fact::ApprovalSettled {
                unit,
                by: Settlement::Votes,
                ..
            } => {
                let by = self
                    .voters
                    .get(unit.as_str())
                    .map(|person| person.to_string());
                self.answered(unit, logged.time_ms, by);
            }
            Fact::Confirmed { unit, .. } | Fact::Decided { unit, .. } => {
                self.answered(unit, logged.time_ms, logged.person.clone());
            }
            Fact::UnitFinished { unit, outcome, .. } => {
                self.open.remove(unit.as_str());
                let undone = self
                    .units
                    .get(unit.as_str())
                    .and_then(|&(node, host)| Some((node.strip_prefix("rollback:")?, host)));
                if let (Outcome::Failed { .. }, Some((step, host))) = (outcome, undone) {
                    self.rollbacks.push(Finding::RollbackFailed {
                        step: step.to_string(),
                        host: host.map(str::to_string),
                    });
                }
            }
            Fact::CommandFinished {
                unit,
                exit: ExitRecord::Timeout,
                duration_ms,
                ..
            } => {
                if let Some(&(node, host)) = self.units.get(unit.as_str()) {
                    self.timed_out_on(node, host, *duration_ms);
                }
            }
            Fact::Notice {
                key,
                audience,
                channel,
                ..
            } => {
                if self.history.clocks.failure_ms.is_some() {
                    self.told_after_failure.push(audience);
                }
                self.sent.retain(|(known, _)| known != key);
                let sent = Sent {
                    audience: audience.clone(),
                    channel: channel.clone(),
                    delivery: Delivery::Pending,
                };
                self.sent.push((key, sent));
            }
            Fact::Delivered {
                key, ok, detail, ..
            } => {
                if let Some((_, sent)) = self.sent.iter_mut().find(|(known, _)| known == key) {
                    sent.delivery = if *ok {
                        Delivery::Done
                    } else {
                        Delivery::Failed(detail.clone())
                    };
                }
            }
            _ => {}
        }
    }

    /// A person answered the wait of `unit`.
    fn answered(&mut self, unit: &str, at: u64, by: Option<String>) {
        let Some(open) = self.open.remove(unit) else {
            return;
        };
        let after_failure = self
            .history
            .clocks
            .failure_ms
            .is_some_and(|failed| open.asked_ms >= failed);
        if after_failure {
            self.answered.push((open.wait, by, open.asked_ms, at));
        }
    }

    fn timed_out_on(&mut self, node: &str, host: Option<&str>, after_ms: u64) {
        let index = match self.timed_out.iter().position(|(known, ..)| known == node) {
            Some(index) => index,
            None => {
                self.timed_out.push((node.to_string(), Vec::new(), 0));
                self.timed_out.len() - 1
            }
        };
        let (_, hosts, after) = &mut self.timed_out[index];
        if let Some(host) = host.filter(|host| !hosts.iter().any(|known| known == host)) {
            hosts.push(host.to_string());
        }
        *after = (*after).max(after_ms);
    }

    fn findings(self, log: &[Logged]) -> Vec<Finding> {
        let (Some(first), Some(last)) = (log.first(), log.last()) else {
            return Vec::new();
        };
        let clocks = &self.history.clocks;
        let failed = clocks.failure_ms.unwrap_or(first.time_ms);
        let mut findings: Vec<Finding> = self
            .breached
            .into_iter()
            .map(|(objective, limit_ms)| {
                let came = match objective.as_str() {
                    "rollback_start" => clocks.rollback_started_ms,
                    "restored" | "outage" => clocks.restored_ms,
                    "alert" => clocks.alerted_ms,
                    _ => None,
                };
                Finding::Breached {
                    objective,
                    limit_ms,
                    came_ms: came.map(|at| at.saturating_sub(failed)),
                    ended_ms: last.time_ms.saturating_sub(failed),
                }
            })
            .collect();
        // The longest wait the rollback waited on: answered before it started.
        let longest = self
            .answered
            .into_iter()
            .filter(|(.., answered)| {
                clocks
                    .rollback_started_ms
                    .is_some_and(|started| *answered <= started)
            })
            .max_by_key(|(_, _, asked, answered)| answered.saturating_sub(*asked));
        if let Some((wait, by, asked, answered)) = longest {
            findings.push(Finding::LongestWait {
                wait,
                by,
                took_ms: answered.saturating_sub(asked),
                allowed_ms: self.rollback_limit,
            });
        }
        findings.extend(self.waits);
        let mut still_open: Vec<Open> = self.open.into_values().collect();
        still_open.sort_by_key(|open| open.asked_ms);
        findings.extend(still_open.into_iter().map(|open| Finding::Unanswered {
            waited_ms: last.time_ms.saturating_sub(open.asked_ms),
            wait: open.wait,
        }));
        findings.extend(self.timed_out.into_iter().map(|(node, hosts, after_ms)| {
            Finding::TimedOut {
                node,
                hosts,
                after_ms,
            }
        }));
        findings.extend(self.rollbacks);
        findings.extend(self.sent.into_iter().filter_map(|(_, sent)| {
            let why = match sent.delivery {
                Delivery::Done => return None,
                Delivery::Pending => None,
                Delivery::Failed(why) => Some(why),
            };
            Some(Finding::Undelivered {
                audience: sent.audience,
                channel: sent.channel?,
                why,
            })
        }));
        if clocks.failure_ms.is_some() {
            findings.extend(
                audiences(log)
                    .into_iter()
                    .filter(|audience| !self.told_after_failure.contains(&audience.as_str()))
                    .map(|audience| Finding::Untold { audience }),
            );
        }
        findings.extend(never_struck(log));
        findings
    }
}

/// The faults the drill injected that struck nothing.
fn never_struck(log: &[Logged]) -> Vec<Finding> {
    let Some(injected) = log.iter().find_map(|logged| match &logged.fact {
        Fact::RunStarted(started) => started.drill.as_ref().map(|mark| &mark.injected),
        _ => None,
    }) else {
        return Vec::new();
    };
    let struck = strikes(log, injected);
    injected
        .iter()
        .filter(|fault| !struck.iter().any(|strike| strike.fault == **fault))
        .map(|fault| Finding::NeverStruck {
            fault: fault.clone(),
        })
        .collect()
}

/// The audiences the plan declares, from the source its run started with.
fn audiences(log: &[Logged]) -> Vec<String> {
    let Some(source) = log.iter().find_map(|logged| match &logged.fact {
        Fact::RunStarted(started) => Some(started.source.clone()),
        _ => None,
    }) else {
        return Vec::new();
    };
    let file = crate::source::SourceFile::new("the drilled runbook", source);
    let Ok(parsed) = crate::parse::parse(&file) else {
        return Vec::new();
    };
    parsed
        .runbook
        .map(|runbook| {
            runbook
                .items
                .into_iter()
                .filter_map(|item| match item {
                    Item::Audience(audience) => Some(audience.name.name),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::drill::logged::written::{at, started, MINUTE};

    const PLAN: &str =
        "runbook \"p\" { }\naudience users \"Users\"\naudience board \"The board\"\n";

    fn exposed_by(log: &[Logged]) -> Vec<String> {
        exposed(log).iter().map(ToString::to_string).collect()
    }

    fn by(person: &str, mut logged: Logged) -> Logged {
        logged.person = Some(person.to_string());
        logged
    }

    #[test]
    fn a_late_rollback_shows_its_breach_by_how_much_and_the_wait_that_held_it() {
        let unit = "failure:watch#1/1";
        let log = vec![
            started(
                PLAN,
                json!({"simulated": true, "injected": ["fail:never@h9"]}),
            ),
            at(
                10 * MINUTE,
                "failure",
                json!({"key": "failure:watch#1", "class": "severe", "node": "watch", "summary": "down"}),
            ),
            at(
                10 * MINUTE,
                "notice",
                json!({"key": "n1", "audience": "users", "channel": "status", "message": "sorry"}),
            ),
            at(
                10 * MINUTE,
                "delivered",
                json!({"key": "n1", "channel": "status", "ok": true, "attempts": 1, "detail": "200"}),
            ),
            at(
                10 * MINUTE,
                "notice",
                json!({"key": "n2", "audience": "ops", "channel": "pager", "message": "page"}),
            ),
            at(
                11 * MINUTE,
                "delivered",
                json!({"key": "n2", "channel": "pager", "ok": false, "attempts": 3, "detail": "exit 1"}),
            ),
            at(
                10 * MINUTE,
                "waiting",
                json!({"unit": unit, "node": "failure:severe", "need": "approval", "text": "roll back?",
                "approval": {"roles": ["commander"], "quorum": 1, "within_ms": 3 * MINUTE, "on_timeout": "escalate"}}),
            ),
            at(13 * MINUTE, "escalated", json!({"unit": unit, "roles": []})),
            at(
                40 * MINUTE,
                "objective",
                json!({"objective": "rollback_start", "limit_ms": 30 * MINUTE, "met": false}),
            ),
            by(
                "alice",
                at(
                    50 * MINUTE,
                    "voted",
                    json!({"unit": unit, "role": "commander", "approve": true}),
                ),
            ),
            at(
                50 * MINUTE,
                "approval_settled",
                json!({"unit": unit, "approved": true, "by": "votes"}),
            ),
            at(
                50 * MINUTE,
                "rollback_started",
                json!({"key": "k", "scope": "all", "units": ["change@h1"]}),
            ),
            at(
                50 * MINUTE,
                "unit_started",
                json!({"unit": "rollback:change@h1", "node": "rollback:change", "host": "h1", "attempt": 1}),
            ),
            at(
                70 * MINUTE,
                "command_finished",
                json!({"unit": "rollback:change@h1", "phase": "rollback", "index": 0, "attempt": 1, "exit": "timeout", "duration_ms": 20 * MINUTE}),
            ),
            at(
                70 * MINUTE,
                "unit_finished",
                json!({"unit": "rollback:change@h1", "outcome": {"outcome": "failed", "class": "functional"}}),
            ),
            at(
                70 * MINUTE,
                "rollback_finished",
                json!({"key": "k", "succeeded": false}),
            ),
        ];
        assert_eq!(
            exposed_by(&log),
            [
                "objective rollback_start (30m) breached: the rollback started 40m after the first failure, 10m past its limit",
                "the longest wait for a person before the rollback started: the approval at failure:severe, answered by alice after 40m, of the 30m allowed for the rollback to start",
                "nobody answered the approval at failure:severe within its 3m: it escalated and the plan waited on",
                "step rollback:change timed out on h1 after 20m",
                "the rollback of change on h1 failed",
                "a notice to ops via pager was not delivered: exit 1",
                "audience board was told nothing from the first failure on",
                "the fault fail:never@h9 never struck: no command of its step ran where it strikes",
            ]
        );
    }

    #[test]
    fn a_breach_before_what_it_measures_came_says_when_the_drill_ended() {
        let log = vec![
            started(PLAN, json!({"simulated": true})),
            at(
                MINUTE,
                "failure",
                json!({"key": "f", "class": "functional", "node": "s", "summary": "x"}),
            ),
            at(
                MINUTE,
                "notice",
                json!({"key": "n", "audience": "users", "message": "m"}),
            ),
            at(
                MINUTE,
                "notice",
                json!({"key": "b", "audience": "board", "channel": "mail", "message": "m"}),
            ),
            at(
                2 * MINUTE,
                "waiting",
                json!({"unit": "look", "node": "look", "need": "confirmation", "text": "look"}),
            ),
            at(
                6 * MINUTE,
                "objective",
                json!({"objective": "restored", "limit_ms": 5 * MINUTE, "met": false}),
            ),
            at(
                9 * MINUTE,
                "run_paused",
                json!({"reason": "waiting for a person"}),
            ),
        ];
        assert_eq!(
            exposed_by(&log),
            [
                "objective restored (5m) breached: the state before the change was not back when the drill ended, 8m after the first failure",
                "nobody answered the confirmation of look: the drill stopped waiting after 7m",
                "a notice to board via mail was never delivered",
            ]
        );
    }

    #[test]
    fn a_drill_without_a_failure_exposes_nothing_of_it() {
        let log = vec![
            started(PLAN, json!({"simulated": true})),
            at(MINUTE, "run_finished", json!({"status": "completed"})),
        ];
        assert!(exposed_by(&log).is_empty());
    }
}
