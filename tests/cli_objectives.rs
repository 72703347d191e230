//! Objectives measured while a run goes: the clocks start at the first failure, each
//! objective is logged once as met (with the time it took) or breached (as soon as its
//! limit passes), a breach is told to the `breach` subscriptions, and `status` shows it.

mod common;

use common::session::Session;
use serde_json::Value;

const MEASURED: &str = r#"runbook "measured" {
  objective rollback_start within 1m of failure
  objective alert within 1m of failure
  objective restored within 2s of failure
  objective outage at most 1m
}
audience ops "Operators"
channel pager command "cat >> paged.txt"
notify ops via pager on failure, breach
step prepare "Prepare" {
  run "true"
  rollback "sleep 3"
}
step act "Act" {
  run "false"
  rollback "true"
}
on failure functional {
  rollback all
  abort
}
"#;

#[test]
fn objectives_are_met_or_breached_from_the_first_failure_and_a_breach_is_told() {
    let session = Session::new();
    session.file("plan.rbk", MEASURED);
    session
        .runbook(&["run", "plan.rbk"])
        .expect(1, "the run fails and rolls back");
    let run = session.run_id();
    let decided: Vec<(String, bool, Option<u64>)> = session
        .log(&run)
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("JSON"))
        .filter(|event| event["kind"] == "objective")
        .map(|event| {
            let payload = &event["payload"];
            (
                payload["objective"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                payload["met"] == true,
                payload["after_ms"].as_u64(),
            )
        })
        .collect();
    let find = |name: &str| {
        decided
            .iter()
            .find(|(objective, ..)| objective == name)
            .unwrap_or_else(|| panic!("no `{name}` in {decided:?}"))
            .clone()
    };
    assert!(find("rollback_start").1, "{decided:?}");
    assert!(
        find("alert").1,
        "the failure page went out at once: {decided:?}"
    );
    // The undo of `prepare` takes 3 s: restored is breached at 2 s, while it runs.
    let restored = find("restored");
    assert!(!restored.1 && restored.2.is_none(), "{decided:?}");
    let outage = find("outage");
    assert!(
        outage.1 && outage.2.is_some_and(|after| after >= 3_000),
        "{decided:?}"
    );
    assert_eq!(decided.len(), 4, "each once: {decided:?}");

    let paged = session.read("paged.txt");
    assert!(
        paged.contains("objective restored (2s) BREACHED"),
        "{paged}"
    );
    let status = session.runbook(&["status", &run]);
    assert!(
        status.stdout.contains("goal     restored: BREACHED"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("goal     rollback_start: met after"),
        "{}",
        status.stdout
    );
    let transcript = session.runbook(&["transcript", &run]);
    assert!(
        transcript
            .stdout
            .contains("objective restored (2s) BREACHED"),
        "{}",
        transcript.stdout
    );
}

#[test]
fn a_run_without_a_failure_starts_no_clock() {
    let session = Session::new();
    session.file(
        "plan.rbk",
        &MEASURED.replace("run \"false\"", "run \"true\""),
    );
    session.runbook(&["run", "plan.rbk"]).expect(0, "completes");
    let log = session.log(&session.run_id());
    assert!(!log.contains("\"kind\":\"objective\""), "{log}");
}

/// A run that ends right after its failure, while the alert is still on its way (a
/// slow pager): the alert's delivery, after the flow has ended, still decides the
/// `alert` objective.
#[test]
fn an_alert_delivered_after_the_run_ended_still_decides_the_objective() {
    let session = Session::new();
    session.file(
        "plan.rbk",
        r#"runbook "late alert" {
  objective alert within 1m of failure
}
audience ops "Operators"
channel pager command "sleep 1; cat >> paged.txt"
notify ops via pager on failure
step act "Act" {
  run "false"
  irreversible "a test"
}
on failure functional {
  abort
}
"#,
    );
    session
        .runbook(&["run", "plan.rbk"])
        .expect(1, "the run fails");
    let events: Vec<Value> = session
        .log(&session.run_id())
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON"))
        .collect();
    let alert: Vec<&Value> = events
        .iter()
        .filter(|event| event["kind"] == "objective" && event["payload"]["objective"] == "alert")
        .collect();
    assert_eq!(alert.len(), 1, "decided once: {alert:?}");
    assert_eq!(alert[0]["payload"]["met"], true);
    assert!(!session.read("paged.txt").is_empty(), "the page went out");
}
