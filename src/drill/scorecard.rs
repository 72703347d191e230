//! What a drill measured, read from its log: when the first failure came and how
//! long after the onset of what it detected, how long until the rollback started,
//! until the state before the change was back, the outage; each against the plan's
//! objectives. Then what was rolled back, what was told to whom, how the run ended,
//! and what the drill exposed.

use std::fmt::Write as _;

use super::confirmation::Confirmation;
use super::findings::{exposed, Finding};
use super::logged::{self, Logged};
use super::onset::{Detection, Onset};
use crate::ast::{duration_text, Word as _};
use crate::engine::facts::{Fact, RunStatus};
use crate::store::Event;

/// One objective as the drill decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measured {
    pub objective: String,
    pub limit_ms: u64,
    /// `None`: the drill ended before it could be told.
    pub met: Option<bool>,
    pub after_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scorecard {
    pub run: String,
    /// Run for real (`--real`): on the real clock, with messages really sent.
    pub real: bool,
    /// Time from the drill's start to its last event, on the drill's clock.
    pub lasted_ms: u64,
    pub injected: Vec<String>,
    /// The first failure: after how long, and what it was.
    pub first_failure: Option<(u64, String)>,
    /// How long the first failure took to come after the onset of what it detected.
    pub detection: Option<Detection>,
    pub objectives: Vec<Measured>,
    /// Each failure policy's approval: how long it took against its time, and how soon
    /// the rollback followed.
    pub confirmations: Vec<Confirmation>,
    pub rolled_back: usize,
    pub notices: usize,
    pub ended: Ended,
    /// What the drill exposed, a line each.
    pub exposed: Vec<Finding>,
}

/// How the drill's run ended, as its log says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Ended {
    /// The log has no end: the engine stopped without closing it.
    #[default]
    NotClosed,
    Finished(RunStatus),
    Paused(String),
}

impl Ended {
    /// Whether the drill got to an end its plan provides for; not when a rollback
    /// failed or the log was left open.
    pub fn as_planned(&self) -> bool {
        !matches!(
            self,
            Ended::NotClosed | Ended::Finished(RunStatus::RollbackFailed)
        )
    }
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::NotClosed => f.write_str("stopped without closing"),
            Ended::Finished(RunStatus::Completed) => f.write_str("completed"),
            Ended::Finished(RunStatus::Failed) => f.write_str("failed"),
            Ended::Finished(RunStatus::RollbackFailed) => f.write_str("a rollback failed"),
            Ended::Paused(reason) => write!(f, "paused: {reason}"),
        }
    }
}

impl Scorecard {
    pub fn of(events: &[Event]) -> Self {
        let log = logged::read(events);
        let mut card = Scorecard::default();
        let start = log.first().map_or(0, |logged| logged.time_ms);
        card.lasted_ms = log
            .last()
            .map_or(0, |logged| logged.time_ms.saturating_sub(start));
        for Logged { time_ms, fact, .. } in &log {
            match fact {
                Fact::RunStarted(started) => {
                    card.run.clone_from(&started.run);
                    card.real = started.drill.as_ref().is_some_and(|mark| !mark.simulated);
                    card.injected = started
                        .drill
                        .as_ref()
                        .map(|mark| mark.injected.clone())
                        .unwrap_or_default();
                }
                Fact::Failure {
                    node,
                    host,
                    summary,
                    class,
                    ..
                } if card.first_failure.is_none() => {
                    let on = host
                        .as_deref()
                        .map(|host| format!(" on {host}"))
                        .unwrap_or_default();
                    card.first_failure = Some((
                        time_ms.saturating_sub(start),
                        format!("{} failure at {node}{on}: {summary}", class.word()),
                    ));
                }
                Fact::Objective {
                    objective,
                    limit_ms,
                    met,
                    after_ms,
                } => {
                    card.objectives
                        .retain(|known| known.objective != *objective);
                    card.objectives.push(Measured {
                        objective: objective.clone(),
                        limit_ms: *limit_ms,
                        met: Some(*met),
                        after_ms: *after_ms,
                    });
                }
                Fact::RollbackStarted { units, .. } => card.rolled_back += units.len(),
                Fact::Notice { .. } => card.notices += 1,
                Fact::RunPaused { reason } => card.ended = Ended::Paused(reason.clone()),
                Fact::RunFinished { status } => card.ended = Ended::Finished(*status),
                _ => {}
            }
        }
        card.detection = Detection::of(&log);
        card.confirmations = Confirmation::all(&log);
        card.exposed = exposed(&log);
        card
    }

    /// Whether an objective, or the time a policy gives its confirmation, was breached.
    pub fn breached(&self) -> bool {
        self.objectives
            .iter()
            .any(|measured| measured.met == Some(false))
            || self
                .confirmations
                .iter()
                .any(|confirmation| confirmation.met() == Some(false))
    }

    pub fn render(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "drill {}: {} of {} time, {}",
            self.run,
            duration_text(self.lasted_ms),
            if self.real { "real" } else { "virtual" },
            self.ended
        );
        if !self.injected.is_empty() {
            let _ = writeln!(text, "  injected: {}", self.injected.join(", "));
        }
        match &self.first_failure {
            Some((after, what)) => {
                let _ = writeln!(
                    text,
                    "  first failure after {}: {what}",
                    duration_text(*after)
                );
            }
            None => {
                let _ = writeln!(text, "  no failure: the failure path was not exercised");
            }
        }
        if let Some(detection) = &self.detection {
            let _ = writeln!(text, "  {}", self.time_to_detect(detection));
        }
        for measured in &self.objectives {
            let verdict = match measured.met {
                Some(true) => "met",
                Some(false) => "BREACHED",
                None => "not decided",
            };
            let took = measured
                .after_ms
                .map(|after| format!(" after {}", duration_text(after)))
                .unwrap_or_default();
            let _ = writeln!(
                text,
                "  objective {} ({}): {verdict}{took}",
                measured.objective,
                duration_text(measured.limit_ms)
            );
        }
        for confirmation in &self.confirmations {
            let _ = writeln!(text, "  {}", confirmation.line());
        }
        let _ = writeln!(
            text,
            "  rolled back: {} unit(s); notices: {}{}",
            self.rolled_back,
            self.notices,
            if self.real {
                ""
            } else {
                " (recorded, not sent)"
            }
        );
        text.push_str(&self.exposed_text());
        text
    }

    /// From the onset to the first failure; and, as the alert objective counts from
    /// the failure only, how long from the onset people were alerted (a second line).
    fn time_to_detect(&self, detection: &Detection) -> String {
        let onset = duration_text(detection.onset_ms);
        let from = match &detection.onset {
            Onset::Fault(fault) => format!("the onset of {fault} ({onset} in)"),
            Onset::Probe { given, condition } => {
                format!("the onset of {given} ({onset} in), which broke `{condition}`,")
            }
        };
        let mut line = format!(
            "time to detect: {}, from {from} to the first failure",
            duration_text(detection.took_ms)
        );
        let alert = self
            .objectives
            .iter()
            .find(|measured| measured.objective == "alert");
        if let Some(Measured {
            limit_ms,
            after_ms: Some(after),
            ..
        }) = alert
        {
            let _ = write!(
                line,
                "\n  people alerted {} after the onset (the {} alert objective counts from the first failure)",
                duration_text(detection.took_ms.saturating_add(*after)),
                duration_text(*limit_ms)
            );
        }
        line
    }

    /// The section "what the drill exposed", a finding a line.
    fn exposed_text(&self) -> String {
        if self.exposed.is_empty() {
            return "  what the drill exposed: nothing\n".to_string();
        }
        let mut text = "  what the drill exposed:\n".to_string();
        for finding in &self.exposed {
            let _ = writeln!(text, "    {finding}");
        }
        text
    }
}

impl Scorecard {
    /// The scorecard as a JUnit report for CI systems: one suite for the drill, a case
    /// per objective (failed when breached, skipped when the drill did not decide it)
    /// and one for the run's own end, with what the drill exposed as its output.
    pub fn junit(&self) -> Result<String, quick_junit::SerializeError> {
        use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
        let mut suite = TestSuite::new(format!("drill {}", self.run));
        for measured in &self.objectives {
            let name = format!(
                "objective {} ({})",
                measured.objective,
                duration_text(measured.limit_ms)
            );
            let status = match measured.met {
                Some(true) => TestCaseStatus::success(),
                Some(false) => {
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    status.set_message(format!(
                        "breached: not within {}",
                        duration_text(measured.limit_ms)
                    ));
                    status
                }
                None => TestCaseStatus::skipped(),
            };
            let mut case = TestCase::new(name, status);
            case.set_classname("runbook.drill");
            if let Some(after) = measured.after_ms {
                case.set_time(std::time::Duration::from_millis(after));
            }
            suite.add_test_case(case);
        }
        for confirmation in &self.confirmations {
            let status = match confirmation.met() {
                Some(true) => TestCaseStatus::success(),
                Some(false) => {
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    status.set_message(confirmation.line());
                    status
                }
                None => TestCaseStatus::skipped(),
            };
            let mut case = TestCase::new(format!("confirmation {}", confirmation.node), status);
            case.set_classname("runbook.drill");
            suite.add_test_case(case);
        }
        let ended = if self.ended.as_planned() {
            TestCaseStatus::success()
        } else {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(self.ended.to_string());
            status
        };
        let mut case = TestCase::new(format!("run ends: {}", self.ended), ended);
        case.set_classname("runbook.drill");
        // What the drill exposed goes with the run's own case, a finding a line.
        case.set_system_out(if self.exposed.is_empty() {
            "the drill exposed nothing\n".to_string()
        } else {
            self.exposed
                .iter()
                .map(|finding| format!("{finding}\n"))
                .collect()
        });
        suite.add_test_case(case);
        suite.set_system_out(self.render());
        let mut report = Report::new("runbook drill");
        report.add_test_suite(suite);
        report.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scorecard_says_when_the_drill_exposed_nothing() {
        let card = Scorecard {
            run: "r".to_string(),
            ended: Ended::Finished(RunStatus::Completed),
            ..Scorecard::default()
        };
        assert!(
            card.render()
                .ends_with("  what the drill exposed: nothing\n"),
            "{}",
            card.render()
        );
        let junit = card.junit().expect("a report");
        assert!(junit.contains("the drill exposed nothing"), "{junit}");
    }
}
