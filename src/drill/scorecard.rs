//! What a drill measured, read from its log: when the first failure came, how long
//! until the rollback started, until the state before the change was back, the
//! outage; each against the plan's objectives. Then what was rolled back, what was
//! told to whom, and how the run ended.

use std::fmt::Write as _;

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
    /// Virtual time from the drill's start to its last event.
    pub lasted_ms: u64,
    pub injected: Vec<String>,
    /// The first failure: after how long, and what it was.
    pub first_failure: Option<(u64, String)>,
    pub objectives: Vec<Measured>,
    pub rolled_back: usize,
    pub notices: usize,
    pub ended: Ended,
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
        let mut card = Scorecard::default();
        let start = events.first().map_or(0, |event| event.time_ms);
        card.lasted_ms = events
            .last()
            .map_or(0, |event| event.time_ms.saturating_sub(start));
        for event in events {
            let Some(fact) = Fact::of(event) else {
                continue;
            };
            match fact {
                Fact::RunStarted(started) => {
                    card.run = started.run;
                    card.injected = started.drill.map(|mark| mark.injected).unwrap_or_default();
                }
                Fact::Failure {
                    node,
                    host,
                    summary,
                    class,
                    ..
                } if card.first_failure.is_none() => {
                    let on = host.map(|host| format!(" on {host}")).unwrap_or_default();
                    card.first_failure = Some((
                        event.time_ms.saturating_sub(start),
                        format!("{} failure at {node}{on}: {summary}", class.word()),
                    ));
                }
                Fact::Objective {
                    objective,
                    limit_ms,
                    met,
                    after_ms,
                } => {
                    card.objectives.retain(|known| known.objective != objective);
                    card.objectives.push(Measured {
                        objective,
                        limit_ms,
                        met: Some(met),
                        after_ms,
                    });
                }
                Fact::RollbackStarted { units, .. } => card.rolled_back += units.len(),
                Fact::Notice { .. } => card.notices += 1,
                Fact::RunPaused { reason } => card.ended = Ended::Paused(reason),
                Fact::RunFinished { status } => card.ended = Ended::Finished(status),
                _ => {}
            }
        }
        card
    }

    /// Whether an objective was breached.
    pub fn breached(&self) -> bool {
        self.objectives
            .iter()
            .any(|measured| measured.met == Some(false))
    }

    pub fn render(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "drill {}: {} of virtual time, {}",
            self.run,
            duration_text(self.lasted_ms),
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
        let _ = writeln!(
            text,
            "  rolled back: {} unit(s); notices: {} (recorded, not sent)",
            self.rolled_back, self.notices
        );
        text
    }
}

impl Scorecard {
    /// The scorecard as a JUnit report for CI systems: one suite for the drill, a case
    /// per objective (failed when breached, skipped when the drill did not decide it)
    /// and one for the run's own end.
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
        let ended = if self.ended.as_planned() {
            TestCaseStatus::success()
        } else {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(self.ended.to_string());
            status
        };
        let mut case = TestCase::new(format!("run ends: {}", self.ended), ended);
        case.set_classname("runbook.drill");
        suite.add_test_case(case);
        suite.set_system_out(self.render());
        let mut report = Report::new("runbook drill");
        report.add_test_suite(suite);
        report.to_string()
    }
}
