//! How long a drill took to detect what it set going wrong: from the onset of the
//! trouble to the first failure. Everything is read from the log, where the drill's
//! mark holds what was scripted. The onset is, for an injected fault, when the first
//! command it struck on the failing unit failed (or, for a hang, started); for scripted
//! probe values, when the value began that broke the condition behind the first
//! failure: the earliest change to one of its probes after it last held.

use std::collections::HashMap;

use super::fault::{Fault, FaultKind};
use super::logged::Logged;
use super::probes::ScriptedValue;
use crate::engine::facts::{ExitRecord, Fact};

/// What began the trouble that the first failure detected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Onset {
    /// An injected fault, as given.
    Fault(String),
    /// A scripted probe value, as given, and the condition it broke.
    Probe { given: String, condition: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    pub onset: Onset,
    /// From the drill's start to the onset.
    pub onset_ms: u64,
    /// From the onset to the first failure.
    pub took_ms: u64,
}

/// Where an injected fault first struck a unit, by the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Strike {
    /// The fault, as given.
    pub fault: String,
    /// The unit's node (`rollback:STEP` for an undo) and host.
    pub node: String,
    pub host: Option<String>,
    pub at_ms: u64,
}

/// Each unit's node and host, from its start.
pub(super) fn units(log: &[Logged]) -> HashMap<&str, (&str, Option<&str>)> {
    log.iter()
        .filter_map(|logged| match &logged.fact {
            Fact::UnitStarted {
                unit, node, host, ..
            } => Some((unit.as_str(), (node.as_str(), host.as_deref()))),
            _ => None,
        })
        .collect()
}

/// The first strike of each injected fault on each unit it struck, in log order: a
/// command that failed (for `fail` and `fail-rollback`) or started (for `hang`).
pub fn strikes(log: &[Logged], injected: &[String]) -> Vec<Strike> {
    let faults: Vec<Fault> = injected
        .iter()
        .filter_map(|given| Fault::parse(given).ok())
        .collect();
    if faults.is_empty() {
        return Vec::new();
    }
    let units = units(log);
    let mut found: Vec<Strike> = Vec::new();
    for logged in log {
        let (unit, began, failed) = match &logged.fact {
            Fact::CommandStarted { unit, .. } => (unit, true, false),
            Fact::CommandFinished { unit, exit, .. } => (unit, false, *exit != ExitRecord::Code(0)),
            _ => continue,
        };
        let Some(&(node, host)) = units.get(unit.as_str()) else {
            continue;
        };
        let (step, undoing) = match node.strip_prefix("rollback:") {
            Some(step) => (step, true),
            None => (node, false),
        };
        for fault in &faults {
            let struck = match fault.kind {
                FaultKind::Hang => began,
                FaultKind::Fail | FaultKind::FailRollback => failed,
            };
            if !struck || !fault.strikes(step, host, undoing) {
                continue;
            }
            let given = fault.to_string();
            let known = found.iter().any(|strike| {
                strike.fault == given && strike.node == node && strike.host.as_deref() == host
            });
            if !known {
                found.push(Strike {
                    fault: given,
                    node: node.to_string(),
                    host: host.map(str::to_string),
                    at_ms: logged.time_ms,
                });
            }
        }
    }
    found
}

impl Detection {
    /// The onset of what the first failure detected, when the log shows one.
    pub fn of(log: &[Logged]) -> Option<Self> {
        let start = log.first()?.time_ms;
        let mark = log.iter().find_map(|logged| match &logged.fact {
            Fact::RunStarted(started) => started.drill.as_ref(),
            _ => None,
        })?;
        let (failed_ms, node, host, summary) =
            log.iter().find_map(|logged| match &logged.fact {
                Fact::Failure {
                    node,
                    host,
                    summary,
                    ..
                } => Some((logged.time_ms, node, host, summary)),
                _ => None,
            })?;
        let (onset, onset_at) = strikes(log, &mark.injected)
            .into_iter()
            .find(|strike| {
                strike.node == *node && strike.host == *host && strike.at_ms <= failed_ms
            })
            .map(|strike| (Onset::Fault(strike.fault), strike.at_ms))
            .or_else(|| {
                let failure = (failed_ms, node.as_str(), summary.as_str());
                probe_onset(log, &mark.probes, start, failure)
            })?;
        Some(Self {
            onset,
            onset_ms: onset_at.saturating_sub(start),
            took_ms: failed_ms.saturating_sub(onset_at),
        })
    }
}

/// One decision of a condition, as logged.
struct Decided<'a> {
    at_ms: u64,
    condition: &'a str,
    probes: Vec<&'a str>,
    held: bool,
}

/// The scripted value that broke the condition behind a failure of `node` at
/// `failed_ms`: the condition that did not hold when it failed (the one its summary
/// quotes), and the earliest change to a probe it reads after it last held.
fn probe_onset(
    log: &[Logged],
    scripted: &[String],
    start: u64,
    (failed_ms, node, summary): (u64, &str, &str),
) -> Option<(Onset, u64)> {
    let decided: Vec<Decided> = log
        .iter()
        .take_while(|logged| logged.time_ms <= failed_ms)
        .filter_map(|logged| match &logged.fact {
            Fact::Evaluated {
                unit,
                condition,
                values,
                unreadable,
                holds,
                ..
            } if unit == node => Some(Decided {
                at_ms: logged.time_ms,
                condition: condition.trim(),
                probes: values
                    .keys()
                    .chain(unreadable.keys())
                    .map(String::as_str)
                    .collect(),
                held: *holds == Some(true),
            }),
            _ => None,
        })
        .collect();
    let broken = decided
        .iter()
        .rev()
        .filter(|decision| !decision.held)
        .find(|decision| summary.contains(&format!("`{}`", decision.condition)))
        .or_else(|| decided.iter().rev().find(|decision| !decision.held))?;
    let held_last = decided
        .iter()
        .filter(|decision| decision.held && decision.condition == broken.condition)
        .map(|decision| decision.at_ms)
        .max();
    scripted
        .iter()
        .filter_map(|given| {
            let value = ScriptedValue::parse(given).ok()?;
            let at = start.saturating_add(value.from_ms);
            let after_held = held_last.is_none_or(|held| at > held);
            let read = broken.probes.contains(&value.probe.as_str());
            (read && after_held && at <= failed_ms).then_some((given, at))
        })
        .min_by_key(|(_, at)| *at)
        .map(|(given, at)| {
            let onset = Onset::Probe {
                given: given.clone(),
                condition: broken.condition.to_string(),
            };
            (onset, at)
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::drill::logged::written::{at, started, MINUTE};

    fn load_decided(time_ms: u64, load: f64) -> Logged {
        at(
            time_ms,
            "evaluated",
            json!({"unit": "calm", "condition": "load < 5", "values": {"load": load}, "holds": load < 5.0}),
        )
    }

    #[test]
    fn a_probe_onset_is_the_change_after_the_condition_last_held() {
        // A blip at 10m that passed, then the breach that lasted from 20m on.
        let mut log = vec![started(
            "",
            json!({"simulated": true, "probes": ["load=1", "load=9@10m", "load=1@12m", "load=9@20m", "other=3@21m"]}),
        )];
        for minute in 9..=25 {
            let load = if (10..12).contains(&minute) || minute >= 20 {
                9.0
            } else {
                1.0
            };
            log.push(load_decided(minute * MINUTE, load));
        }
        log.push(at(
            25 * MINUTE,
            "failure",
            json!({"key": "failure:calm#1", "class": "functional", "node": "calm", "summary": "`load < 5` does not hold (load = 9) for 5m"}),
        ));
        let detection = Detection::of(&log).expect("an onset");
        assert_eq!(
            detection.onset,
            Onset::Probe {
                given: "load=9@20m".to_string(),
                condition: "load < 5".to_string()
            }
        );
        assert_eq!(detection.onset_ms, 20 * MINUTE);
        assert_eq!(detection.took_ms, 5 * MINUTE);
    }

    #[test]
    fn a_fault_onset_is_its_first_command_that_failed_or_hung_on_the_failing_unit() {
        let mark = json!({"simulated": true, "injected": ["fail:change@h2", "hang:drain@h1"]});
        let log = vec![
            started("", mark),
            at(
                MINUTE,
                "unit_started",
                json!({"unit": "drain@h1", "node": "drain", "host": "h1", "attempt": 1}),
            ),
            at(
                MINUTE,
                "command_started",
                json!({"unit": "drain@h1", "phase": "run", "index": 0, "attempt": 1, "command": "x"}),
            ),
            at(
                2 * MINUTE,
                "unit_started",
                json!({"unit": "change@h2", "node": "change", "host": "h2", "attempt": 1}),
            ),
            at(
                2 * MINUTE,
                "command_started",
                json!({"unit": "change@h2", "phase": "run", "index": 0, "attempt": 1, "command": "x"}),
            ),
            at(
                3 * MINUTE,
                "command_finished",
                json!({"unit": "change@h2", "phase": "run", "index": 0, "attempt": 1, "exit": {"code": 1}, "duration_ms": MINUTE}),
            ),
            at(
                4 * MINUTE,
                "failure",
                json!({"key": "failure:change@h2#1", "class": "functional", "node": "change", "host": "h2", "summary": "exit code 1"}),
            ),
        ];
        let struck: Vec<(&str, u64)> =
            strikes(&log, &["fail:change@h2".into(), "hang:drain@h1".into()])
                .iter()
                .map(|strike| {
                    (
                        if strike.node == "drain" {
                            "hang"
                        } else {
                            "fail"
                        },
                        strike.at_ms,
                    )
                })
                .collect();
        assert_eq!(struck, [("hang", MINUTE), ("fail", 3 * MINUTE)]);
        let detection = Detection::of(&log).expect("an onset");
        assert_eq!(detection.onset, Onset::Fault("fail:change@h2".to_string()));
        assert_eq!(
            (detection.onset_ms, detection.took_ms),
            (3 * MINUTE, MINUTE)
        );
    }

    #[test]
    fn no_onset_without_a_drill_mark_or_a_failure() {
        assert_eq!(
            Detection::of(&[started("", json!({"simulated": true}))]),
            None
        );
        assert_eq!(Detection::of(&[]), None);
    }
}
