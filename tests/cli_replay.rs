//! `runbook replay`: a recorded run run again on its recorded outcomes. Against the
//! runbook it recorded it makes every decision again; against an edited one it names
//! the first decision the edit changes. (Every run any session test leaves is also
//! replayed when its test ends: `tests/common/session.rs`.)

mod common;

use std::path::Path;

use common::session::{of_kind, Session};
use serde_json::Value;

/// The shipped runbooks, their roster, inventories and drills, copied into the session
/// so a test can edit one.
fn with_shipped_runbooks(session: &Session) {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks");
    copy_dir(&shipped, &session.path("runbooks"));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("folder");
    for entry in std::fs::read_dir(from).expect("shipped folder") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// The shipped functional-failure drill of the high-risk plan, run in a session that
/// holds a copy of the shipped runbooks; its run's id.
fn drilled(session: &Session) -> String {
    with_shipped_runbooks(session);
    session
        .runbook(&[
            "drill",
            "runbooks/drills/high-functional-wave2.drill.toml",
            "--output",
            "quiet",
        ])
        .expect(0, "the drill passes");
    session.run_id()
}

/// The report with what changes from run to run (the run's id and the clock's start)
/// left out.
fn stable(report: &str, run: &str) -> String {
    let mut stable = report.replace(run, "RUN");
    while let Some(at) = stable.find("Z,") {
        // `(2026-11-22T02:38:23Z, evaluated)`: the drill's clock starts at the wall clock.
        let start = stable[..at].rfind('(').map_or(at, |open| open + 1);
        stable.replace_range(start..=at, "TIME");
    }
    stable
}

#[test]
fn a_drill_replays_with_every_decision_made_again() {
    let session = Session::new();
    let run = drilled(&session);
    let events = session.events(&run);
    let replayed = session.runbook(&["replay", &run]);
    replayed.expect(0, "the replay makes every decision again");
    assert_eq!(
        replayed.stdout,
        format!(
            "replayed run {run} ({n} events) against the runbook it recorded\n\
             no divergence: the replay made every decision the run made ({n} of {n} events reproduced)\n",
            n = events.len()
        )
    );
}

#[test]
fn an_edited_threshold_diverges_at_the_reading_it_decides_otherwise() {
    let session = Session::new();
    let run = drilled(&session);
    let events = session.events(&run);
    // The business watch's threshold, lowered below what the drill's probe reads when
    // transactions fail (0.95): the edited plan sees nothing wrong there.
    let plan = session.read("runbooks/cloud-host-upgrade-high.rbk");
    let watched = "require tx_success >= min_tx_success else functional";
    assert!(plan.contains(watched), "the plan's business watch");
    session.file(
        "runbooks/edited.rbk",
        &plan.replace(watched, "require tx_success >= 0.94 else functional"),
    );
    let replayed = session.runbook(&["replay", &run, "--against", "runbooks/edited.rbk"]);
    replayed.expect(1, "the edit changes a decision");
    // The right event: the first reading of the business watch that did not hold.
    let expected = of_kind(&events, "evaluated")
        .into_iter()
        .find(|event| {
            event["payload"]["unit"] == "business_impact"
                && event["payload"]["holds"] == Value::Bool(false)
        })
        .expect("the recorded breach");
    assert_eq!(expected["payload"]["values"]["tx_success"], 0.95);
    let seq = expected["seq"].as_u64().expect("a seq");
    assert!(
        replayed
            .stdout
            .contains(&format!("FIRST DIVERGENCE at event {seq} of the run")),
        "{}",
        replayed.stdout
    );
    insta::assert_snapshot!(format!(
        "{}--- stderr\n{}",
        stable(&replayed.stdout, &run).replace(&seq.to_string(), "SEQ"),
        replayed.stderr
    ));
}

#[test]
fn the_same_runbook_edited_in_wording_only_diverges_nowhere() {
    let session = Session::new();
    let run = drilled(&session);
    // A condition written another way decides the same: no decision changes.
    let plan = session.read("runbooks/cloud-host-upgrade-high.rbk");
    session.file(
        "runbooks/reworded.rbk",
        &plan.replace(
            "require tx_success >= min_tx_success else functional",
            "require min_tx_success <= tx_success else functional",
        ),
    );
    session
        .runbook(&["replay", &run, "--against", "runbooks/reworded.rbk"])
        .expect(0, "rewording is not a decision");
}

#[test]
fn a_run_resumed_after_a_crash_and_answered_while_stopped_replays() {
    let session = Session::new();
    session.file(
        "plan.rbk",
        r#"runbook "answered" {}
role operator "Operators"
step first {
  owner operator
  run "echo one >> ledger"
  rollback "echo undo-one >> ledger"
}
step check {
  owner operator
  manual "Look at the ledger"
  record seen "What it says"
  after first
}
step last {
  owner operator
  run "echo two >> ledger"
  rollback "echo undo-two >> ledger"
  after check
}
"#,
    );
    // The engine dies after its first command starts; the resume finds the command may
    // have run, and a person answers while no engine runs.
    let ran = session.runbook_with(
        &["run", "plan.rbk", "--output", "quiet"],
        &[("RUNBOOK_TEST_KILL_AFTER_EVENT", "2")],
    );
    assert_eq!(ran.code(), -1, "killed: {}", ran.stderr);
    let run = session.run_id();
    session
        .runbook(&["resume", &run, "--output", "quiet"])
        .expect(3, "waits for a person");
    session.runbook(&["status", &run]).expect(0, "status");
    let waiting = session.events(&run);
    let asked = of_kind(&waiting, "waiting");
    let node = asked.last().expect("a wait")["payload"]["node"]
        .as_str()
        .expect("a node")
        .to_string();
    if node == "first" {
        session
            .runbook(&["decide", &run, "first", "retry", "--as", "ops"])
            .expect(0, "decided");
        session
            .runbook(&["resume", &run, "--output", "quiet"])
            .expect(3, "waits for the check");
    }
    session
        .runbook(&["confirm", &run, "check", "--as", "ops", "--set", "seen=one"])
        .expect(0, "confirmed");
    session
        .runbook(&["resume", &run, "--output", "quiet"])
        .expect(0, "completes");
    let replayed = session.runbook(&["replay", &run]);
    replayed.expect(0, "every decision made again");
}

#[test]
fn a_log_that_does_not_verify_is_not_replayed() {
    let session = Session::new();
    session.file(
        "plan.rbk",
        "runbook \"tampered\" {}\nstep only {\n  readonly\n  run \"true\"\n}\n",
    );
    session
        .runbook(&["run", "plan.rbk", "--output", "quiet"])
        .expect(0, "runs");
    let run = session.run_id();
    let log = session.log(&run).replace("\"true\"", "\"false\"");
    std::fs::write(session.log_path(&run), log).expect("tampered");
    let replayed = session.runbook(&["replay", &run]);
    replayed.expect(2, "not replayable");
    let root = session.root().to_str().expect("a UTF-8 folder");
    insta::assert_snapshot!(replayed.stderr.replace(&run, "RUN").replace(root, "TMP"));
}
