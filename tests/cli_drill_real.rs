//! `runbook drill --real`: a game day. The same runbook runs for real on the inventory
//! it names, on the real clock, with real probes, people and secrets; the injected
//! faults still strike, and a command they strike is not run. Here the "hosts" are
//! files under the session's folder, so what ran and what was undone is read from the
//! filesystem.

mod common;

use common::session::{objectives, of_kind, Session};
use serde_json::Value;

/// Three hosts, a wave each. Each host's change leaves a file and notes that it ran;
/// its rollback removes the file, noting the hosts where there was one to remove.
const GAME_DAY: &str = r#"runbook "game-day" {
  objective rollback_start within 5m of failure
  objective restored within 10m of failure
}
inventory staging hosts ["h1", "h2", "h3"]
waves rollout {
  over staging
  stages [1, 1, 1]
  step change {
    timeout 1s
    run "echo {{host}} >> ran && touch changed-{{host}}"
    rollback "if [ -e changed-{{host}} ]; then rm changed-{{host}} && echo {{host}} >> removed; fi"
  }
}
on failure functional {
  abort
  rollback all
}
"#;

/// Milliseconds since the Unix epoch, by this machine's clock.
fn now_ms() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    u64::try_from(since.as_millis()).expect("a time")
}

/// Runs `runbook drill plan.rbk --real ARGS` and returns its exit, scorecard, the
/// span of wall time it ran in, and its (verified) log's events.
fn real_drill(session: &Session, args: &[&str]) -> (i32, String, (u64, u64), Vec<Value>) {
    let mut all = vec!["drill", "plan.rbk", "--real", "--output", "quiet"];
    all.extend_from_slice(args);
    let before = now_ms();
    let ran = session.runbook(&all);
    let after = now_ms();
    let run = session.run_id();
    session
        .runbook(&["verify", &run])
        .expect(0, "a real drill's log is a normal, verified log");
    (
        ran.code(),
        ran.stdout,
        (before, after),
        session.events(&run),
    )
}

/// The events of one unit's commands of a kind (`command_finished`, `output`).
fn of_unit<'a>(events: &'a [Value], kind: &str, unit: &str) -> Vec<&'a Value> {
    of_kind(events, kind)
        .into_iter()
        .filter(|event| event["payload"]["unit"] == unit)
        .collect()
}

#[test]
fn the_real_commands_run_and_the_struck_one_does_not() {
    let session = Session::new();
    session.file("plan.rbk", GAME_DAY);
    let (code, card, (before, after), events) =
        real_drill(&session, &["--inject", "fail:change@h2"]);
    assert_eq!(code, 0, "the rollback met every objective:\n{card}");

    // h1 changed for real, and its change was undone for real; h2's command was
    // struck, never run; the run stopped before h3.
    assert_eq!(session.read("ran"), "h1\n", "only h1's change ran");
    assert_eq!(
        session.read("removed"),
        "h1\n",
        "h1's file was there, and the rollback removed it"
    );
    for host in ["h1", "h2", "h3"] {
        assert!(!session.path(&format!("changed-{host}")).exists(), "{host}");
    }

    let started = &of_kind(&events, "run_started")[0];
    let mark = &started["payload"]["drill"];
    assert_eq!(mark["simulated"], false, "{mark}");
    assert_eq!(mark["injected"], serde_json::json!(["fail:change@h2"]));
    assert!(mark.get("probes").is_none() && mark.get("responders").is_none());
    // On the real clock: every event is stamped within the command's wall time.
    for event in &events {
        let time = event["time_ms"].as_u64().expect("a time");
        assert!((before..=after).contains(&time), "{event}");
    }

    let struck = of_unit(&events, "output", "change@h2");
    assert_eq!(struck.len(), 1, "{struck:?}");
    assert_eq!(struck[0]["payload"]["stream"], "stderr");
    assert_eq!(
        struck[0]["payload"]["text"],
        "drill: injected failure, exit 1\n"
    );
    let ended = of_unit(&events, "command_finished", "change@h2");
    assert_eq!(ended[0]["payload"]["exit"], serde_json::json!({"code": 1}));
    assert_eq!(
        of_kind(&events, "rollback_started")[0]["payload"]["units"],
        serde_json::json!(["change@h2", "change@h1"])
    );
    assert_eq!(
        objectives(&events),
        [
            ("restored".to_string(), true),
            ("rollback_start".to_string(), true)
        ]
    );

    let run = session.run_id();
    assert!(
        card.starts_with(&format!("drill {run}: ")) && card.contains(" of real time, failed\n"),
        "{card}"
    );
    for line in [
        "  injected: fail:change@h2\n",
        "  first failure after ",
        ": functional failure at change on h2: command 1: exit code 1\n",
        "  objective rollback_start (5m): met after ",
        "  objective restored (10m): met after ",
        "  rolled back: 2 unit(s); notices: 0\n",
        "  what the drill exposed: nothing\n",
    ] {
        assert!(card.contains(line), "{line:?} in:\n{card}");
    }
}

#[test]
fn a_hung_command_runs_until_its_steps_timeout_on_the_real_clock() {
    let session = Session::new();
    session.file("plan.rbk", GAME_DAY);
    let (code, card, _, events) = real_drill(&session, &["--inject", "hang:change@h2"]);
    assert_eq!(code, 0, "{card}");
    let hung = of_unit(&events, "command_finished", "change@h2");
    assert_eq!(hung[0]["payload"]["exit"], "timeout", "{}", hung[0]);
    let lasted = hung[0]["payload"]["duration_ms"]
        .as_u64()
        .expect("a duration");
    assert!(
        (900..10_000).contains(&lasted),
        "stopped by its 1s timeout (counted from the attempt's start), in real time: {lasted} ms"
    );
    assert_eq!(
        of_unit(&events, "output", "change@h2")[0]["payload"]["text"],
        "drill: injected hang\n"
    );
    assert_eq!(session.read("ran"), "h1\n");
    assert_eq!(session.read("removed"), "h1\n");
    assert!(
        card.contains("what the drill exposed:\n    step change timed out on h2 after "),
        "{card}"
    );
}

#[test]
fn a_struck_rollback_fails_and_leaves_the_host_for_people() {
    let session = Session::new();
    session.file("plan.rbk", GAME_DAY);
    let ran = session.runbook(&[
        "drill",
        "plan.rbk",
        "--real",
        "--output",
        "quiet",
        "--inject",
        "fail:change@h2",
        "--inject",
        "fail-rollback:change@h1",
    ]);
    let run = session.run_id();
    assert_eq!(ran.code(), 4, "a rollback failed:\n{}", ran.stdout);
    assert!(
        ran.stderr.contains(&format!(
            "drill {run}: A ROLLBACK FAILED on real hosts. People must take over"
        )),
        "{}",
        ran.stderr
    );
    // h1's rollback was struck: its file is still there, as on a host people must fix.
    assert_eq!(session.read("ran"), "h1\n");
    assert!(session.path("changed-h1").exists());
    assert_eq!(session.read("removed"), "", "no rollback removed anything");
    let events = session.events(&run);
    assert_eq!(
        of_unit(&events, "output", "rollback:change@h1")[0]["payload"]["text"],
        "drill: injected failure, exit 1\n"
    );
    assert!(
        ran.stdout.contains("rollback of change on h1 failed"),
        "{}",
        ran.stdout
    );
}

/// A gate reads a command probe and a step writes a secret where the test can read it:
/// in a real drill both are real (a simulated drill would want `--probe ready=...` and
/// hand the step `drill-token`).
const STAGED: &str = r#"runbook "staged" { }
secret token from env "RBK_TEST_DRILL_TOKEN"
probe ready = command "cat ready"
inventory staging hosts ["s1"]
waves rollout {
  over staging
  stages [1]
  gate healthy {
    require ready == 1
  }
  step install {
    run "printf %s {{token}} > token-{{host}}"
    rollback "rm -f token-{{host}}"
  }
}
"#;

#[test]
fn probes_and_secrets_are_read_as_a_run_reads_them() {
    let session = Session::new();
    session.file("plan.rbk", STAGED).file("ready", "1\n");
    let unset = session.runbook(&["drill", "plan.rbk", "--real"]);
    assert_eq!(unset.code(), 2, "{}", unset.stderr);
    for said in [
        "rbk::run::secret_unavailable",
        "secret `token` is not available: environment variable `RBK_TEST_DRILL_TOKEN` is not set",
    ] {
        assert!(unset.stderr.contains(said), "{said}: {}", unset.stderr);
    }
    assert!(!session.path("state/runs").exists(), "nothing started");

    let ran = session.runbook_with(
        &["drill", "plan.rbk", "--real", "--output", "quiet"],
        &[("RBK_TEST_DRILL_TOKEN", "s3cret")],
    );
    assert_eq!(ran.code(), 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.contains(" of real time, completed\n"),
        "{}",
        ran.stdout
    );
    assert_eq!(session.read("token-s1"), "s3cret");
    let run = session.run_id();
    let log = session.log(&run);
    assert!(!log.contains("s3cret"), "a secret is never logged");
    let decided = of_kind(&session.events(&run), "evaluated")
        .into_iter()
        .map(|event| event["payload"]["values"].clone())
        .collect::<Vec<_>>();
    assert_eq!(decided, [serde_json::json!({"ready": 1.0})], "{log}");
}

fn refused(session: &Session, args: &[&str]) -> String {
    let ran = session.runbook(args);
    format!(
        "--- {}: exit {}\n{}",
        args[2..].join(" "),
        ran.code(),
        ran.stderr
    )
}

#[test]
fn a_real_drill_takes_no_scripted_world_nor_start_and_is_run_again_not_resumed() {
    let session = Session::new();
    session.file("plan.rbk", GAME_DAY).file(
        "scripted.drill.toml",
        "runbook = \"plan.rbk\"\nprobes = [\"load=1\"]\n",
    );
    let mut shown = String::new();
    for args in [
        &["drill", "plan.rbk", "--real", "--probe", "load=1"][..],
        &[
            "drill",
            "plan.rbk",
            "--real",
            "--respond",
            "node=go,person=alice",
        ],
        &[
            "drill",
            "plan.rbk",
            "--real",
            "--start",
            "2026-03-01T02:00:00Z",
        ],
        &["drill", "scripted.drill.toml", "--real"],
    ] {
        shown.push_str(&refused(&session, args));
    }
    assert_eq!(
        shown,
        "--- --real --probe load=1: exit 2
error[rbk::drill::bad_drill]: `--probe` cannot be given with `--real`: a real drill's probes read the real world
  help: drop --probe; to read a staging Prometheus, give --prometheus URL
--- --real --respond node=go,person=alice: exit 2
error[rbk::drill::bad_drill]: `--respond` cannot be given with `--real`: in a real drill, real people answer
  help: drop --respond; people answer at the terminal, or with `runbook approve`, `confirm` and `decide` (give --wait when not at one)
--- --real --start 2026-03-01T02:00:00Z: exit 2
error[rbk::drill::bad_drill]: `--start` cannot be given with `--real`: a real drill runs on the real clock
  help: drop --start: a real drill starts when it is run
--- --real: exit 2
error[rbk::drill::bad_drill]: scripted.drill.toml has `probes`, which a drill run with `--real` cannot take: a real drill's probes read the real world
  help: run this scenario without --real, or keep one without `probes`, `respond` and `start` for the real drill
"
    );
    assert!(!session.path("state/runs").exists(), "nothing started");

    // Real people answer: with nobody at a terminal and no --wait, the drill stops
    // where it needs one; it is run again, not resumed.
    session.file(
        "manual.rbk",
        r#"runbook "asks" { }
step look "Look" {
  manual "Look at the dashboards"
}
"#,
    );
    let paused = session.runbook(&["drill", "manual.rbk", "--real", "--output", "quiet"]);
    let run = session.run_id();
    assert_eq!(paused.code(), 3, "{}", paused.stderr);
    assert_eq!(
        paused.stderr,
        format!(
            "drill {run} stopped (waiting for a person); a drill is not resumed: run it again\n"
        )
    );
    let resumed = session.runbook(&["resume", &run]);
    assert_eq!(
        resumed.stderr,
        format!(
            "error[rbk::run::drill_not_resumed]: run `{run}` is a drill: a drill is not resumed (resumed, its injected faults would no longer strike)
  help: run the drill again: `runbook drill FILE --real` with the same --inject
"
        )
    );
    assert_eq!(resumed.code(), 2);
}
