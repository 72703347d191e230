//! Crash points: the engine is killed with SIGKILL after each event of a run in turn
//! (the `RUNBOOK_TEST_KILL_AFTER_EVENT` hook), then resumed until the run ends, deciding
//! where it asks. Every time, the run must end as the uninterrupted one did: the same
//! units with the same outcomes, the same status, and the same ledger, in which each
//! non-idempotent command writes one line, so a command run twice shows twice.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitStatus;

use common::session::Session;

use runbook::engine::facts::{Fact, Outcome};
use runbook::engine::history::History;
use runbook::store;

const RUNBOOK: &str = "tests/cases/run/crash-points.rbk";

/// Resumes a crashed run takes at most: one after the kill, one after each decision.
const MAX_RESUMES: usize = 10;

/// How a run ended, as far as the test compares runs.
#[derive(Debug, PartialEq, Eq)]
struct Ending {
    status: Option<String>,
    /// Each unit's final outcome: `succeeded`, `failed` or `skipped`.
    units: BTreeMap<String, &'static str>,
    ledger: Vec<String>,
}

/// A session holding the crash-point runbook, and what the test reads of its runs.
struct Scene {
    session: Session,
}

impl Scene {
    fn new() -> Self {
        let session = Session::new();
        session.shipped(RUNBOOK, "crash-points.rbk");
        Self { session }
    }

    fn runbook(&self, args: &[&str], kill_after: Option<usize>) -> ExitStatus {
        let seq = kill_after.map(|seq| seq.to_string());
        let env: Vec<(&str, &str)> = seq
            .iter()
            .map(|seq| ("RUNBOOK_TEST_KILL_AFTER_EVENT", seq.as_str()))
            .collect();
        self.session.runbook_with(args, &env).status
    }

    fn run_id(&self) -> String {
        self.session.run_id()
    }

    fn events_path(&self, run: &str) -> PathBuf {
        self.session.log_path(run)
    }

    fn history(&self, run: &str) -> History {
        let events =
            store::read(&self.events_path(run)).expect("the log reads and its chain holds");
        fold(&events)
    }

    fn ledger(&self) -> Vec<String> {
        self.session
            .read("ledger")
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn ending(&self, run: &str) -> Ending {
        let history = self.history(run);
        Ending {
            status: history.finished.map(|status| format!("{status:?}")),
            units: history
                .units
                .iter()
                .map(|(unit, record)| {
                    let outcome = match &record.outcome {
                        Some(Outcome::Succeeded { .. }) => "succeeded",
                        Some(Outcome::Failed { .. }) => "failed",
                        Some(Outcome::Skipped {}) => "skipped",
                        None => "unfinished",
                    };
                    (unit.clone(), outcome)
                })
                .collect(),
            ledger: self.ledger(),
        }
    }

    /// Answers what the run waits for as a careful operator would: a command whose
    /// ledger line is there ran, so it is skipped (taken as done); one whose line is
    /// missing never ran, so it is retried.
    fn decide_what_waits(&self, run: &str) -> usize {
        let events = store::read(&self.events_path(run)).expect("the log reads");
        let history = fold(&events);
        let ledger = self.ledger();
        let mut asked = 0;
        for event in &events {
            let Some(Fact::Waiting {
                unit, node, host, ..
            }) = Fact::of(event)
            else {
                continue;
            };
            let Some(record) = history.unit(&unit) else {
                continue;
            };
            if record.waiting.is_none() {
                continue;
            }
            asked += 1;
            let token = last_command_token(&events, &unit);
            let decision = if token.is_some_and(|token| ledger.contains(&token)) {
                "skip"
            } else {
                "retry"
            };
            let mut args = vec!["decide", run, &node, decision, "--as", "tester"];
            if let Some(host) = &host {
                args.extend(["--host", host]);
            }
            let status = self.runbook(&args, None);
            assert_eq!(status.code(), Some(0), "decide {decision} on {unit}");
        }
        assert!(asked > 0, "the run paused without waiting for anything");
        asked
    }
}

/// The run's state by its events.
fn fold(events: &[store::Event]) -> History {
    let mut history = History::default();
    for event in events {
        history.apply(event).expect("every event is known");
    }
    history
}

/// The ledger line the last command of a unit writes (`echo TOKEN >> ledger`), if any.
fn last_command_token(events: &[store::Event], unit: &str) -> Option<String> {
    events.iter().rev().find_map(|event| match Fact::of(event) {
        Some(Fact::CommandStarted {
            unit: started,
            command,
            ..
        }) if started == unit => {
            let rest = command.strip_prefix("echo ")?;
            Some(rest.split(" >> ledger").next()?.to_string())
        }
        _ => None,
    })
}

/// The run without interruption, which every crashed run must end like.
fn uninterrupted() -> (Ending, usize) {
    let scene = Scene::new();
    let status = scene.runbook(&["run", "crash-points.rbk"], None);
    assert_eq!(status.code(), Some(1), "the run fails and rolls back");
    let run = scene.run_id();
    let events = store::read(&scene.events_path(&run)).expect("the log reads");
    (scene.ending(&run), events.len())
}

/// Kills the engine after event `k`, resumes until the run ends, and compares.
/// Returns how many decisions the run asked for.
fn crash_at(k: usize, expected: &Ending) -> usize {
    use std::os::unix::process::ExitStatusExt;

    let scene = Scene::new();
    let status = scene.runbook(&["run", "crash-points.rbk"], Some(k));
    assert_eq!(
        status.signal(),
        Some(9),
        "killed after event {k}: {status:?}"
    );
    let run = scene.run_id();
    let mut resumes = 0;
    let mut decisions = 0;
    while scene.history(&run).finished.is_none() {
        resumes += 1;
        assert!(
            resumes <= MAX_RESUMES,
            "crash after event {k}: no end after {MAX_RESUMES} resumes"
        );
        let status = scene.runbook(&["resume", &run], None);
        match status.code() {
            Some(1) => {}
            Some(3) => decisions += scene.decide_what_waits(&run),
            other => panic!("crash after event {k}: resume exited {other:?}"),
        }
    }
    let ending = scene.ending(&run);
    assert_eq!(ending.status, expected.status, "crash after event {k}");
    assert_eq!(ending.units, expected.units, "crash after event {k}");
    assert_eq!(
        ending.ledger, expected.ledger,
        "crash after event {k}: the ledger"
    );
    let verified = scene.runbook(&["verify", &run], None);
    assert_eq!(
        verified.code(),
        Some(0),
        "crash after event {k}: the log verifies"
    );
    decisions
}

#[test]
fn every_crash_point_resumes_to_the_uninterrupted_ending() {
    let (expected, events) = uninterrupted();
    assert!(
        expected.units.len() >= 20,
        "the runbook has 20+ units: {:?}",
        expected.units.keys()
    );
    let mut sorted = expected.ledger.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        expected.ledger.len(),
        "every line once: {:?}",
        expected.ledger
    );
    assert!(
        expected.ledger.contains(&"undo-s02".to_string()),
        "it rolled back"
    );

    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(4);
    let decisions: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                let expected = &expected;
                scope.spawn(move || {
                    (worker..events)
                        .step_by(workers)
                        .map(|k| crash_at(k, expected))
                        .sum::<usize>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a worker"))
            .sum()
    });
    // A kill just after a non-idempotent command was announced leaves it for a person.
    assert!(decisions > 0, "no crash point asked for a decision");
}

/// A policy whose `background` step runs beside the step after it.
const BESIDE: &str = r#"runbook "beside" { }
step broken "A step that fails" {
  readonly
  run "exit 1"
}
on failure functional {
  step failover "Move traffic away" {
    background
    run "echo failover >> ledger"
    irreversible "traffic comes back by hand"
  }
  step check "Checked beside the failover" {
    readonly
    run "echo check >> checks"
  }
}
"#;

/// An engine killed once a policy's background step has announced its command: the
/// resume does not run that command again on its own (it is not idempotent), while the
/// policy's other step goes on; a person decides, and the step runs once.
#[test]
fn a_background_step_the_engine_died_in_is_not_run_again_without_asking() {
    let clean = Session::new();
    clean.file("plan.rbk", BESIDE);
    clean
        .runbook(&["run", "plan.rbk"])
        .expect(0, "the policy continues and the run completes");
    let run = clean.run_id();
    let events = store::read(&clean.log_path(&run)).expect("the log reads");
    let announced = events
        .iter()
        .find(|event| {
            matches!(Fact::of(event), Some(Fact::CommandStarted { unit, .. })
                if unit.starts_with("failover!"))
        })
        .expect("the failover's command")
        .seq;

    let session = Session::new();
    session.file("plan.rbk", BESIDE);
    let seq = announced.to_string();
    let killed = session.runbook_with(
        &["run", "plan.rbk"],
        &[("RUNBOOK_TEST_KILL_AFTER_EVENT", &seq)],
    );
    assert_eq!(killed.code(), -1, "killed after event {seq}");
    let run = session.run_id();
    assert_eq!(
        session.read("ledger"),
        "",
        "killed before the command began"
    );
    session
        .runbook(&["resume", &run])
        .expect(3, "the failover waits for a decision");
    assert_eq!(session.read("ledger"), "", "not run again without asking");
    assert_eq!(
        session.read("checks"),
        "check\n",
        "the policy went on beside it"
    );
    let status = session.runbook(&["status", &run]).stdout;
    assert!(status.contains("runbook decide"), "{status}");
    session
        .runbook(&["decide", &run, "failover", "retry", "--as", "tester"])
        .expect(0, "decided");
    session
        .runbook(&["resume", &run])
        .expect(0, "the run completes");
    assert_eq!(session.read("ledger"), "failover\n", "once");
    assert_eq!(session.read("checks"), "check\n", "done once");
}
