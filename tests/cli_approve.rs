//! Approvals by role, end to end through the binary: a quorum of different people,
//! separation of duties (`distinct`), refusals (a stranger, a wrong role, a second
//! vote) that are explained and logged, a rejection, each `on timeout`, a vote from a
//! second process while the engine waits, and an approval a failure policy asks for
//! before it rolls back.

mod common;

use common::session::{of_kind, wait_until, Ran, Session};
use serde_json::Value;

const ROSTER: &str = r#"[people.alice]
name = "Alice Chen"
roles = ["commander"]

[people.bao]
roles = ["commander", "dba"]

[people.chen]
roles = ["dba"]

[people.dev]
roles = ["executor"]
"#;

/// A step, a gate asking `approve`, and a step that leaves a mark once the gate opens.
fn gated(approve: &str) -> String {
    format!(
        r#"runbook "gated" {{
  roster "roster.toml"
}}
role commander "decides"
role dba "databases"
role executor "runs it"
step prepare "Prepare" {{
  run "true"
  rollback "true"
}}
gate go "Go / no-go" {{
  {approve}
}}
step act "Act" {{
  run "touch acted"
  rollback "rm -f acted"
}}
"#
    )
}

fn session_with(runbook: &str) -> Session {
    let session = Session::new();
    session.file("roster.toml", ROSTER);
    session.file("plan.rbk", runbook);
    session
}

fn person(event: &Value) -> &str {
    event["actor"]["person"].as_str().unwrap_or_default()
}

fn approve(session: &Session, run: &str, gate: &str, person: &str, more: &[&str]) -> Ran {
    let mut args = vec!["approve", run, gate, "--as", person];
    args.extend_from_slice(more);
    session.runbook(&args)
}

#[test]
fn a_quorum_needs_as_many_different_people_and_each_refusal_is_logged() {
    let session = session_with(&gated(
        r#"approve by 2 of [commander, dba] "Backups verified: start""#,
    ));
    session
        .runbook(&["run", "plan.rbk", "--no-wait", "--as", "dev"])
        .expect(3, "the run waits at the gate");
    let run = session.run_id();
    approve(&session, &run, "go", "alice", &["--reason", "backups ok"]).expect(0, "alice");
    session
        .runbook(&["resume", &run, "--no-wait"])
        .expect(3, "one approval of two does not open the gate");
    let status = session.runbook(&["status", &run]);
    assert!(
        status
            .stdout
            .contains("approval by 2 of [commander, dba] (1 of 2 so far: alice)"),
        "{}",
        status.stdout
    );
    for (who, refused) in [
        ("alice", "`alice` has already voted on this approval"),
        ("mallory", "`mallory` is not in the run's roster"),
        (
            "dev",
            "`dev` holds `executor`, and this approval asks for `commander`, `dba`",
        ),
    ] {
        let ran = approve(&session, &run, "go", who, &[]);
        ran.expect(1, who);
        assert!(
            ran.stderr.contains("error[rbk::run::refused]"),
            "{}",
            ran.stderr
        );
        assert!(ran.stderr.contains(refused), "{}", ran.stderr);
    }
    approve(&session, &run, "go", "chen", &[]).expect(0, "chen, the second person");
    session
        .runbook(&["resume", &run, "--no-wait"])
        .expect(0, "the gate opens and the run completes");
    assert!(
        session.path("acted").exists(),
        "the step after the gate ran"
    );

    let events = session.events(&run);
    let votes: Vec<(&str, &str, Option<&str>)> = of_kind(&events, "voted")
        .into_iter()
        .map(|vote| {
            (
                person(vote),
                vote["payload"]["role"].as_str().unwrap_or_default(),
                vote["payload"]["reason"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        votes,
        [
            ("alice", "commander", Some("backups ok")),
            ("chen", "dba", None)
        ]
    );
    let refused: Vec<&str> = of_kind(&events, "refused")
        .into_iter()
        .map(person)
        .collect();
    assert_eq!(refused, ["alice", "mallory", "dev"]);
    for vote in of_kind(&events, "voted") {
        assert!(
            vote["actor"]["os_user"].is_string(),
            "the OS user beside: {vote}"
        );
    }
    let settled = of_kind(&events, "approval_settled");
    assert_eq!(settled.len(), 1);
    assert_eq!(settled[0]["payload"]["approved"], true);
    assert_eq!(settled[0]["payload"]["by"], "votes");
    session
        .runbook(&["verify", &run])
        .expect(0, "the log verifies");
}

#[test]
fn distinct_keeps_out_whoever_started_or_answered_for_the_run() {
    let session = session_with(
        r#"runbook "separated" {
  roster "roster.toml"
}
role commander "decides"
role dba "databases"
step notice "Publish the notice" {
  manual "Publish it"
}
gate go "Go / no-go" {
  approve by 1 of [commander, dba] distinct "Start?"
}
step act "Act" {
  run "touch acted"
  irreversible "a test"
}
"#,
    );
    session
        .runbook(&["run", "plan.rbk", "--no-wait", "--as", "bao"])
        .expect(3, "the run waits for the notice");
    let run = session.run_id();
    session
        .runbook(&["confirm", &run, "notice", "--as", "chen"])
        .expect(0, "chen confirms the notice");
    session
        .runbook(&["resume", &run, "--no-wait", "--as", "bao"])
        .expect(3, "the run waits at the gate");
    for who in ["bao", "chen"] {
        let ran = approve(&session, &run, "go", who, &[]);
        ran.expect(1, who);
        assert!(
            ran.stderr.contains(&format!(
                "`{who}` started, resumed or answered for this run"
            )),
            "{}",
            ran.stderr
        );
    }
    approve(&session, &run, "go", "alice", &[]).expect(0, "alice took no part");
    session
        .runbook(&["resume", &run, "--no-wait"])
        .expect(0, "the run completes");
}

#[test]
fn a_rejection_fails_the_gate_and_ends_the_run_after_its_policy() {
    let session = session_with(&gated(r#"approve by commander "Start?""#));
    session
        .runbook(&["run", "plan.rbk", "--no-wait", "--as", "dev"])
        .expect(3, "the run waits at the gate");
    let run = session.run_id();
    approve(
        &session,
        &run,
        "go",
        "bao",
        &["--reject", "--reason", "payments are degraded"],
    )
    .expect(0, "a rejection is a vote");
    let resumed = session.runbook(&["resume", &run, "--no-wait"]);
    resumed.expect(1, "the run fails");
    assert!(
        resumed
            .stdout
            .contains("go failed (functional): rejected by bao (commander): payments are degraded"),
        "{}",
        resumed.stdout
    );
    assert!(
        !session.path("acted").exists(),
        "nothing after the gate ran"
    );
    let events = session.events(&run);
    let rollback = of_kind(&events, "rollback_started");
    assert_eq!(
        rollback.len(),
        1,
        "the default policy rolls back everything"
    );
    assert_eq!(
        rollback[0]["payload"]["units"],
        serde_json::json!(["prepare"])
    );
}

/// Runs `plan.rbk` with the engine waiting for people, to its end.
fn run_waiting(session: &Session) -> Ran {
    session.runbook(&["run", "plan.rbk", "--wait", "--as", "dev"])
}

#[test]
fn on_timeout_continue_approves_and_abort_rejects() {
    let session = session_with(&gated(
        r#"approve by commander within 1ms on timeout continue "Start unless stopped""#,
    ));
    let ran = run_waiting(&session);
    ran.expect(0, "nobody stops it: the run goes on");
    assert!(session.path("acted").exists());
    let events = session.events(&session.run_id());
    let settled = of_kind(&events, "approval_settled");
    assert_eq!(
        (
            &settled[0]["payload"]["approved"],
            &settled[0]["payload"]["by"]
        ),
        (&Value::Bool(true), &Value::from("timeout"))
    );

    let session = session_with(&gated(
        r#"approve by commander within 1ms on timeout abort "Start?""#,
    ));
    let ran = run_waiting(&session);
    ran.expect(1, "nobody approves: the gate is rejected");
    assert!(
        ran.stdout
            .contains("rejected: nobody answered in time (`on timeout abort`)"),
        "{}",
        ran.stdout
    );
    assert!(!session.path("acted").exists());
}

#[test]
fn an_escalation_lets_the_commander_answer_from_another_terminal_while_the_engine_waits() {
    let session = session_with(&gated(
        r#"approve by dba within 1ms on timeout escalate "Start?""#,
    ));
    let engine = session.spawn(&[
        "run", "plan.rbk", "--wait", "--as", "dev", "--output", "plain",
    ]);
    let run = session.wait_for_run();
    wait_until("the escalation", || {
        session.log(&run).contains("\"kind\":\"escalated\"")
    });

    let refused = approve(&session, &run, "go", "dev", &[]);
    refused.expect(1, "the engine refuses dev and says why");
    assert!(
        refused
            .stderr
            .contains("`dev` holds `executor`, and this approval asks for `dba`, `commander`"),
        "{}",
        refused.stderr
    );
    let taken = approve(
        &session,
        &run,
        "go",
        "alice",
        &["--reason", "on call for the dba"],
    );
    taken.expect(0, "the commander may answer once escalated");
    assert!(
        taken.stdout.contains("the engine logged the answer for go"),
        "{}",
        taken.stdout
    );

    let output = engine.wait_with_output().expect("the engine ends");
    let shown = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("escalated to commander, still waiting"),
        "{shown}"
    );
    assert!(
        shown.contains("go: approved as commander: on call for the dba"),
        "{shown}"
    );
    let events = session.events(&run);
    let escalated = of_kind(&events, "escalated");
    assert_eq!(
        escalated[0]["payload"]["roles"],
        serde_json::json!(["commander"])
    );
    assert_eq!(
        of_kind(&events, "refused").len(),
        1,
        "the refusal is logged"
    );
}

#[test]
fn a_failure_policy_asks_before_it_rolls_back_and_asks_again_after_a_rejection() {
    let session = session_with(
        r#"runbook "guarded" {
  roster "roster.toml"
}
role commander "decides"
step prepare "Prepare" {
  run "touch prepared"
  rollback "rm prepared"
}
step act "Act" {
  run "false"
  rollback "true"
}
on failure functional {
  approve by commander within 1h on timeout abort "Roll back everything after {{failure.summary}}?"
  rollback all
  abort
}
"#,
    );
    session
        .runbook(&["run", "plan.rbk", "--no-wait", "--as", "dev"])
        .expect(3, "the policy waits for the commander");
    let run = session.run_id();
    assert!(
        session.path("prepared").exists(),
        "nothing rolled back before the approval"
    );
    let status = session.runbook(&["status", &run]);
    assert!(
        status.stdout.contains(&format!(
            "runbook approve {run} failure:functional --as NAME"
        )),
        "{}",
        status.stdout
    );
    approve(&session, &run, "failure:functional", "bao", &["--reject"]).expect(0, "bao");
    session.runbook(&["resume", &run, "--no-wait"]).expect(
        3,
        "rejected: the rest of the policy is not taken, people decide",
    );
    assert!(session.path("prepared").exists(), "still not rolled back");
    session
        .runbook(&["resume", &run, "--no-wait"])
        .expect(3, "a resume asks again");
    approve(&session, &run, "failure:functional", "alice", &[]).expect(0, "alice");
    session
        .runbook(&["resume", &run, "--no-wait"])
        .expect(1, "rolled back, and the policy ends the run");
    assert!(
        !session.path("prepared").exists(),
        "rolled back once approved"
    );

    let events = session.events(&run);
    let asked: Vec<&str> = of_kind(&events, "waiting")
        .into_iter()
        .filter_map(|event| event["payload"]["text"].as_str())
        .collect();
    assert_eq!(
        asked, ["Roll back everything after command 1: exit code 1?"; 2],
        "asked twice, each time with the failure as it happened"
    );
    let approved_before_rollback = events
        .iter()
        .position(|event| {
            event["kind"] == "approval_settled" && event["payload"]["approved"] == true
        })
        .expect("approved");
    let rollback = events
        .iter()
        .position(|event| event["kind"] == "rollback_started")
        .expect("rolled back");
    assert!(approved_before_rollback < rollback);
}

/// What people see when they are refused, or when a run cannot ask for approvals.
#[test]
fn refusals_are_explained() {
    let mut shown = String::new();
    let mut show = |title: &str, ran: &Ran| {
        shown.push_str(&format!(
            "--- {title} (exit {})\n{}",
            ran.code(),
            ran.stderr
        ));
    };
    let session = session_with(
        r#"runbook "explained" {
  roster "roster.toml"
}
role commander "decides"
step notice "Publish the notice" {
  manual "Publish it"
}
gate go "Go / no-go" {
  approve by 2 of [commander] distinct "Start?"
}
"#,
    );
    show(
        "run as a stranger",
        &session.runbook(&["run", "plan.rbk", "--no-wait", "--as", "mallory"]),
    );
    session
        .runbook(&["run", "plan.rbk", "--no-wait", "--as", "alice"])
        .expect(3, "waits for the notice");
    let run = session.run_id();
    show(
        "a stranger confirms",
        &session.runbook(&["confirm", &run, "notice", "--as", "mallory"]),
    );
    show(
        "an approval nobody waits for yet",
        &approve(&session, &run, "go", "bao", &[]),
    );
    session
        .runbook(&["confirm", &run, "notice", "--as", "dev"])
        .expect(0, "dev confirms");
    session
        .runbook(&["resume", &run, "--no-wait", "--as", "alice"])
        .expect(3, "waits at the gate");
    show("a wrong role", &approve(&session, &run, "go", "chen", &[]));
    show(
        "the person who started it",
        &approve(&session, &run, "go", "alice", &[]),
    );
    approve(&session, &run, "go", "bao", &[]).expect(0, "bao");
    show("a second vote", &approve(&session, &run, "go", "bao", &[]));

    let without = Session::new();
    without.file(
        "plan.rbk",
        "runbook \"unlisted\" { }\nrole commander \"decides\"\ngate go { approve by commander }\n",
    );
    show(
        "no roster",
        &without.runbook(&["run", "plan.rbk", "--no-wait"]),
    );
    insta::assert_snapshot!(shown.replace(&run, "RUN"));
}

#[test]
fn a_rejected_gate_whose_policy_waits_for_a_person_pauses_rather_than_ending() {
    let session = session_with(
        r#"runbook "no-go" {
  roster "roster.toml"
}
role commander "decides"
step prepare "Prepare" {
  run "touch prepared"
  rollback "rm prepared"
}
gate go "Go / no-go" {
  approve by commander "Start?"
}
on failure functional {
  approve by commander "Undo the preparation?"
  rollback all
  abort
}
"#,
    );
    session
        .runbook(&["run", "plan.rbk", "--no-wait", "--as", "dev"])
        .expect(3, "the run waits at the gate");
    let run = session.run_id();
    approve(&session, &run, "go", "bao", &["--reject"]).expect(0, "no-go");
    session.runbook(&["resume", &run, "--no-wait"]).expect(
        3,
        "the gate's policy waits for the commander: the run is not over",
    );
    approve(&session, &run, "failure:functional", "alice", &[]).expect(0, "undo it");
    session
        .runbook(&["resume", &run, "--no-wait"])
        .expect(1, "rolled back, and the rejected gate ends the run");
    assert!(
        !session.path("prepared").exists(),
        "the preparation was undone"
    );
}

#[test]
fn a_vote_names_one_approval_when_several_wait_under_one_name() {
    let session = session_with(
        r#"runbook "twice" {
  roster "roster.toml"
}
role commander "decides"
inventory pair hosts ["h1", "h2"]
step act "Act on each host" {
  on pair
  run "false"
  rollback "true"
}
on failure functional {
  approve by commander "Roll back {{failure.host}}?"
  rollback step
}
"#,
    );
    session
        .runbook(&["run", "plan.rbk", "--no-wait", "--as", "dev"])
        .expect(3, "two failures, two approvals waiting");
    let run = session.run_id();
    let ambiguous = approve(&session, &run, "failure:functional", "alice", &[]);
    ambiguous.expect(1, "which one?");
    assert!(
        ambiguous
            .stderr
            .contains("2 approvals of `failure:functional` are open"),
        "{}",
        ambiguous.stderr
    );
    let h2 = "failure:act@h2#1/0";
    assert!(ambiguous.stderr.contains(h2), "{}", ambiguous.stderr);
    approve(
        &session,
        &run,
        h2,
        "alice",
        &["--reject", "--reason", "h2 only"],
    )
    .expect(0, "h2");
    let events = session.events(&run);
    let votes = of_kind(&events, "voted");
    assert_eq!(votes.len(), 1);
    assert_eq!(
        votes[0]["payload"]["unit"], h2,
        "the vote is for h2's approval"
    );
    approve(&session, &run, "failure:functional", "alice", &[]).expect(0, "only h1 is open now");
    let events = session.events(&run);
    let settled: Vec<(&str, bool)> = of_kind(&events, "approval_settled")
        .into_iter()
        .map(|event| {
            (
                event["payload"]["unit"].as_str().unwrap_or_default(),
                event["payload"]["approved"] == true,
            )
        })
        .collect();
    assert_eq!(settled, [(h2, false), ("failure:act@h1#1/0", true)]);
}

#[test]
fn a_decided_approval_takes_no_more_votes_and_a_lapsed_one_none_but_its_timeout() {
    let session = session_with(&gated(r#"approve by commander "Start?""#));
    session
        .runbook(&["run", "plan.rbk", "--no-wait", "--as", "dev"])
        .expect(3, "the run waits at the gate");
    let run = session.run_id();
    approve(&session, &run, "go", "alice", &[]).expect(0, "the quorum of one");
    approve(&session, &run, "go", "bao", &["--reject"]).expect(1, "too late: decided");
    session
        .runbook(&["resume", &run, "--no-wait"])
        .expect(0, "the approval stands");

    let session = session_with(&gated(
        r#"approve by commander within 2s on timeout abort "Start?""#,
    ));
    session
        .runbook(&["run", "plan.rbk", "--no-wait", "--as", "dev"])
        .expect(3, "the run waits at the gate");
    let run = session.run_id();
    // The subject here is the wall clock passing the deadline while nobody holds the
    // run: wait until it has, by the time the log gave the wait.
    let asked_ms = session
        .events(&run)
        .iter()
        .find(|event| event["kind"] == "waiting")
        .and_then(|event| event["time_ms"].as_u64())
        .expect("the wait's time");
    wait_until("the 2s allowed to pass", || {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis();
        now > u128::from(asked_ms) + 2_000
    });
    let late = approve(&session, &run, "go", "alice", &[]);
    late.expect(1, "the time allowed ran out: `on timeout abort` applies");
    assert!(
        late.stderr.contains("not waiting for an approval"),
        "{}",
        late.stderr
    );
    let events = session.events(&run);
    assert!(of_kind(&events, "voted").is_empty(), "no vote was logged");
    assert_eq!(
        of_kind(&events, "approval_settled")[0]["payload"]["by"],
        "timeout"
    );
}

#[test]
fn whoever_resumed_the_run_under_their_account_took_part_in_it() {
    let session = Session::new();
    session.file(
        "roster.toml",
        &format!("{ROSTER}\n[people.carol]\nroles = [\"commander\"]\n"),
    );
    session.file(
        "plan.rbk",
        &gated(r#"approve by commander distinct "Start?""#),
    );
    session
        .runbook(&["run", "plan.rbk", "--no-wait", "--as", "dev"])
        .expect(3, "the run waits at the gate");
    let run = session.run_id();
    session
        .runbook_with(&["resume", &run, "--no-wait"], &[("USER", "carol")])
        .expect(3, "carol's account resumed it, without --as");
    let refused = approve(&session, &run, "go", "carol", &[]);
    refused.expect(1, "carol took part");
    assert!(
        refused
            .stderr
            .contains("`carol` started, resumed or answered"),
        "{}",
        refused.stderr
    );
}

#[test]
fn status_shows_a_deadline_beyond_the_calendar_without_failing() {
    let session = session_with(&gated(
        r#"approve by commander within 5000000d on timeout abort "Start?""#,
    ));
    session
        .runbook(&["run", "plan.rbk", "--no-wait", "--as", "dev"])
        .expect(3, "the run waits at the gate");
    let status = session.runbook(&["status", &session.run_id()]);
    status.expect(0, "status");
    assert!(
        status.stdout.contains("until 9999-12-31T23:59:59Z"),
        "{}",
        status.stdout
    );
}
