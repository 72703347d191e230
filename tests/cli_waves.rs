//! The wait between two waves: logged when it begins, kept across an interrupt and a
//! resume (the run waits only what is left), and cut short only by someone holding
//! the commander's role, from another terminal, with refusals explained and logged.

mod common;

use common::session::{wait_until, Session};

const ROSTER: &str = r#"[people.alice]
roles = ["commander"]
[people.chen]
roles = ["dba"]
"#;

const PAUSED: &str = r#"runbook "paused" {
  roster "roster.toml"
}
role commander "decides"
role dba "databases"
inventory fleet hosts ["h1", "h2"]
waves roll {
  over fleet
  stages [1, 1]
  pause 1h
  step act "Act" {
    run "touch acted-{{host}}"
    rollback "true"
  }
}
"#;

#[test]
fn a_pause_is_kept_across_a_resume_and_cut_short_only_by_the_commander() {
    let session = Session::new();
    session.file("roster.toml", ROSTER).file("plan.rbk", PAUSED);
    let first = session.spawn(&["run", "plan.rbk", "--output", "plain"]);
    let run = session.wait_for_run();
    wait_until("the pause", || {
        session.log(&run).contains("\"kind\":\"wave_pause\"")
    });
    let until = |log: &str| -> Vec<u64> {
        log.lines()
            .filter(|line| line.contains("\"kind\":\"wave_pause\""))
            .filter_map(|line| {
                let event: serde_json::Value = serde_json::from_str(line).ok()?;
                event["payload"]["until_ms"].as_u64()
            })
            .collect()
    };
    let logged = until(&session.log(&run));

    // Ctrl-C during the pause: the run stops, resumable.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(first.id()).expect("a pid")),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("interrupt");
    let output = first.wait_with_output().expect("the engine ends");
    assert_eq!(output.status.code(), Some(3), "paused by the interrupt");
    let status = session.runbook(&["status", &run]);
    assert!(
        status.stdout.contains(&format!(
            "pauses   roll: until {}",
            &runbook::engine::report::timestamp(logged[0])
        )),
        "{}",
        status.stdout
    );

    let second = session.spawn(&["resume", &run, "--output", "plain"]);
    wait_until("the resume", || {
        session.log(&run).contains("\"kind\":\"run_resumed\"")
    });
    let refused = session.runbook(&["skip-pause", &run, "--as", "chen"]);
    refused.expect(1, "chen is no commander");
    assert!(
        refused
            .stderr
            .contains("`chen` holds `dba`, and skipping this pause asks for `commander`"),
        "{}",
        refused.stderr
    );
    session
        .runbook(&[
            "skip-pause",
            &run,
            "--as",
            "alice",
            "--reason",
            "canary clean",
        ])
        .expect(0, "the commander ends the pause");
    let output = second.wait_with_output().expect("the resumed engine ends");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(session.path("acted-h2").exists(), "the second wave ran");

    let log = session.log(&run);
    assert_eq!(until(&log), logged, "the resume kept the pause's end");
    let skipped: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("\"kind\":\"pause_skipped\""))
        .collect();
    assert_eq!(skipped.len(), 1);
    assert!(
        skipped[0].contains("\"person\":\"alice\""),
        "{}",
        skipped[0]
    );
    assert!(skipped[0].contains("canary clean"), "{}", skipped[0]);
    assert!(
        log.contains("\"kind\":\"refused\""),
        "the refusal is logged"
    );
}

#[test]
fn skip_pause_without_a_pause_under_way_says_so() {
    let session = Session::new();
    session.file("roster.toml", ROSTER).file(
        "plan.rbk",
        "runbook \"plain\" { }\nstep ask \"Ask\" {\n  manual \"Say when\"\n}\n",
    );
    session
        .runbook(&["run", "plan.rbk", "--no-wait"])
        .expect(3, "waits at the manual step");
    let run = session.run_id();
    let ran = session.runbook(&["skip-pause", &run, "--as", "alice"]);
    ran.expect(1, "nothing to skip");
    assert!(
        ran.stderr
            .contains("is not waiting for the end of a pause between waves"),
        "{}",
        ran.stderr
    );
}

#[test]
fn without_a_roster_nobody_can_cut_a_pause_short() {
    let session = Session::new();
    session.file(
        "plan.rbk",
        &PAUSED
            .replace("  roster \"roster.toml\"\n", "")
            .replace("role dba \"databases\"\n", ""),
    );
    let engine = session.spawn(&["run", "plan.rbk", "--output", "plain"]);
    let run = session.wait_for_run();
    wait_until("the pause", || {
        session.log(&run).contains("\"kind\":\"wave_pause\"")
    });
    let refused = session.runbook(&["skip-pause", &run, "--as", "anyone"]);
    refused.expect(1, "refused");
    assert!(
        refused.stderr.contains("this run has no roster"),
        "{}",
        refused.stderr
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(engine.id()).expect("a pid")),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("interrupt");
    let output = engine.wait_with_output().expect("the engine ends");
    assert_eq!(output.status.code(), Some(3));
}
