//! Probes deciding a run, through the binary: gate conditions and watches over
//! command probes and over a real Prometheus server (tests/common/prometheus.rs) that
//! scrapes values the test sets. Every value a decision rests on is in the log, and a
//! probe that cannot be read fails what depends on it.

mod common;

use std::fs;

use common::prometheus::Prometheus;
use common::session::{finish, of_kind, wait_until, Session};
use serde_json::Value;

const GATED: &str = r#"runbook "gated" { }
probe load = command "cat load.txt"
gate calm "The load is low" {
  require load < 5 else severe
}
step act "Act" {
  run "touch acted"
  irreversible "a test"
}
"#;

#[test]
fn a_gate_opens_on_values_that_hold_and_fails_on_values_that_do_not() {
    let session = Session::new();
    session.file("plan.rbk", GATED).file("load.txt", "1\n");
    session
        .runbook(&["run", "plan.rbk"])
        .expect(0, "the load is low: the gate opens");
    assert!(session.path("acted").exists());
    let run = session.run_id();
    let events = session.events(&run);
    let evaluated = of_kind(&events, "evaluated");
    assert_eq!(evaluated.len(), 1);
    assert_eq!(evaluated[0]["payload"]["values"]["load"], 1.0);
    assert_eq!(evaluated[0]["payload"]["holds"], true);

    let session = Session::new();
    session.file("plan.rbk", GATED).file("load.txt", "9\n");
    let ran = session.runbook(&["run", "plan.rbk"]);
    ran.expect(1, "the load is high: the gate fails and the run ends");
    assert!(
        ran.stdout
            .contains("calm failed (severe): `load < 5` does not hold (load = 9)"),
        "{}",
        ran.stdout
    );
    assert!(!session.path("acted").exists());
}

#[test]
fn a_probe_that_cannot_be_read_is_a_finding_not_a_pass() {
    let session = Session::new();
    session.file("plan.rbk", GATED).file("load.txt", "high\n");
    let ran = session.runbook(&["run", "plan.rbk"]);
    ran.expect(1, "an unreadable probe fails the gate");
    assert!(
        ran.stdout
            .contains("probe `load` could not be read: expected a number, got \"high\""),
        "{}",
        ran.stdout
    );
    let events = session.events(&session.run_id());
    let evaluated = of_kind(&events, "evaluated");
    assert!(evaluated[0]["payload"].get("holds").is_none(), "not told");
    assert!(evaluated[0]["payload"]["unreadable"]["load"].is_string());
}

/// A real Prometheus decides: a gate polls until the value it needs is scraped, the
/// baseline is taken before the first wave, and a breach sustained in the second wave
/// of three rolls that wave's hosts back and holds the third wave.
#[test]
fn prometheus_values_open_a_gate_and_a_sustained_breach_in_wave_2_stops_the_rollout() {
    let prometheus = Prometheus::start();
    prometheus.set("error_rate", 0.5);
    prometheus.set("order_latency_seconds", 1.0);
    prometheus.wait_for_value("order_latency_seconds", 1.0);
    prometheus.wait_for_value("error_rate", 0.5);

    let session = Session::new();
    session.file(
        "plan.rbk",
        r#"runbook "canary" { }
probe error_rate = prometheus "max(error_rate)"
probe latency = prometheus "max(order_latency_seconds)"
inventory fleet hosts ["h1", "h2", "h3"]
gate healthy "Errors are under 5% before we start" {
  require error_rate < 0.05
  poll every 500ms for 1m
}
waves upgrade {
  over fleet
  stages [1, 1, 1]
  step install "Install" {
    run "touch installed-{{host}}"
    rollback "rm installed-{{host}}"
  }
  watch orders {
    every 500ms
    during 8s
    require latency < 5 for 2s
    require latency < 10 * baseline.latency
  }
}
on failure functional {
  pause
  rollback wave
}
"#,
    );
    let engine = session.spawn(&[
        "run",
        "plan.rbk",
        "--output",
        "plain",
        "--prometheus",
        &prometheus.url(),
    ]);
    let run = session.wait_for_run();
    wait_until("the gate to see the errors", || {
        session.log(&run).contains("\"holds\":false")
    });
    prometheus.set("error_rate", 0.01);
    wait_until("the first wave to end", || {
        session.log(&run).contains("\"kind\":\"wave_finished\"")
    });
    prometheus.set("order_latency_seconds", 9.0);

    let output = engine.wait_with_output().expect("the engine ends");
    let shown = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(3),
        "paused by the policy:\n{shown}"
    );
    assert!(
        shown.contains(
            "orders#w2 failed (functional): `latency < 5` does not hold (latency = 9) for 2s"
        ),
        "{shown}"
    );
    let events = session.events(&run);
    let baseline = of_kind(&events, "baseline");
    assert_eq!(baseline.len(), 1);
    assert_eq!(baseline[0]["payload"]["values"]["latency"], 1.0);
    let waves: Vec<u64> = of_kind(&events, "wave_started")
        .iter()
        .filter_map(|event| event["payload"]["index"].as_u64())
        .collect();
    assert_eq!(waves, [0, 1], "the third wave never started");
    let rollback = of_kind(&events, "rollback_started");
    assert_eq!(
        rollback[0]["payload"]["units"],
        serde_json::json!(["install@h2"]),
        "only the second wave's host is rolled back"
    );
    assert!(session.path("installed-h1").exists());
    assert!(!session.path("installed-h2").exists());
    assert!(!session.path("installed-h3").exists());
    let breaches: Vec<&Value> = of_kind(&events, "evaluated")
        .into_iter()
        .filter(|event| event["payload"]["holds"] == false)
        .collect();
    assert!(
        breaches
            .iter()
            .any(|event| event["payload"]["values"]["latency"] == 9.0),
        "the breaching values are logged"
    );
    session
        .runbook(&["verify", &run])
        .expect(0, "the log verifies");
}

/// A watch beside the rollout (P7): a breach while the second of three waves is in its
/// pause holds the third wave, and `rollback hosts` undoes the second wave's hosts,
/// the change in progress, since the breach is no single host's.
#[test]
fn a_watch_beside_the_rollout_holds_later_waves_and_rolls_back_the_wave_in_progress() {
    let session = Session::new();
    session.file("load.txt", "1\n").file(
        "plan.rbk",
        r#"runbook "beside" { }
probe load = command "cat load.txt"
inventory fleet hosts ["h1", "h2", "h3"]
step prepare "Prepare" {
  run "true"
  irreversible "a test"
}
watch health "The load stays low" {
  after prepare
  every 100ms
  during 1m
  require load < 5
}
waves roll {
  after prepare
  over fleet
  stages [1, 1, 1]
  pause 3s
  step act "Act" {
    run "touch acted-{{host}}"
    rollback "rm acted-{{host}}"
  }
}
on failure functional {
  pause
  rollback hosts
}
"#,
    );
    let engine = session.spawn(&["run", "plan.rbk", "--output", "plain"]);
    let run = session.wait_for_run();
    wait_until("the second wave's host to be done", || {
        session.path("acted-h2").exists()
    });
    session.file("load.txt", "9\n");
    let output = engine.wait_with_output().expect("the engine ends");
    let shown = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(3),
        "paused by the policy:\n{shown}"
    );
    let events = session.events(&run);
    let waves: Vec<u64> = of_kind(&events, "wave_started")
        .iter()
        .filter_map(|event| event["payload"]["index"].as_u64())
        .collect();
    assert_eq!(waves, [0, 1], "the third wave was held:\n{shown}");
    let rollback = of_kind(&events, "rollback_started");
    assert_eq!(
        rollback[0]["payload"]["units"],
        serde_json::json!(["act@h2"]),
        "{shown}"
    );
    assert!(session.path("acted-h1").exists());
    assert!(!session.path("acted-h2").exists());
    assert!(!session.path("acted-h3").exists());
}

/// A watch that compares with the baseline and starts before the rollout does (here the
/// rollout waits for a slower step) reads the baseline itself, once, rather than
/// comparing with one that is not there yet and seeing a breach that is not there.
#[test]
fn a_watch_that_starts_before_the_rollout_reads_the_baseline_itself() {
    let session = Session::new();
    session.file(
        "plan.rbk",
        r#"runbook "early" { }
probe load = command "echo 1"
inventory fleet hosts ["h1", "h2"]
step prepare "Prepare" {
  run "true"
  irreversible "a test"
}
watch health "The load stays near where it was" {
  after prepare
  every 100ms
  during 1s
  require load <= 2 * baseline.load
}
step settle "Settle" {
  after prepare
  run "sleep 0.5"
  irreversible "a test"
}
waves roll {
  after settle
  over fleet
  stages [1, 1]
  step act "Act" {
    run "true"
    rollback "true"
  }
}
"#,
    );
    let ran = session.runbook(&["run", "plan.rbk", "--output", "plain"]);
    ran.expect(0, "the load never moved");
    let events = session.events(&session.run_id());
    let baselines = of_kind(&events, "baseline");
    assert_eq!(baselines.len(), 1, "read once: {baselines:?}");
    assert_eq!(baselines[0]["payload"]["taken_for"], "health");
    assert_eq!(baselines[0]["payload"]["values"]["load"], 1.0);
    assert!(of_kind(&events, "unit_failed").is_empty(), "{}", ran.stdout);
}

/// A breach seen while the wave's hosts are mid-step: the rollback waits for the steps
/// under way to end, then undoes them too, so nothing runs forward on a host while it
/// is rolled back. Another watch, with hours left, ends when the policy pauses the run
/// rather than keeping it going.
#[test]
fn a_rollback_waits_for_the_steps_under_way_and_a_pause_ends_every_watch() {
    let session = Session::new();
    session.file("load.txt", "1\n").file(
        "plan.rbk",
        r#"runbook "mid-step" { }
probe load = command "cat load.txt"
probe disk = command "echo 10"
inventory fleet hosts ["h1", "h2"]
step prepare "Prepare" {
  run "true"
  irreversible "a test"
}
watch health "The load stays low" {
  after prepare
  every 100ms
  during 1m
  require load < 5
}
watch space "The disk has room" {
  after prepare
  every 1h
  during 8h
  require disk < 90
}
waves roll {
  after prepare
  over fleet
  stages [2]
  step act "Act" {
    run "touch acted-{{host}}"
    rollback "rm acted-{{host}}"
  }
  step settle "Settle" {
    run "touch settling-{{host}}; while [ -e hold ]; do sleep 0.05; done; touch settled-{{host}}"
    rollback "rm settled-{{host}}"
  }
}
on failure functional {
  pause
  rollback hosts
}
"#,
    );
    session.file("hold", "");
    let engine = session.spawn(&["run", "plan.rbk", "--output", "plain"]);
    let run = session.wait_for_run();
    wait_until("both hosts to be mid-step", || {
        session.path("settling-h1").exists() && session.path("settling-h2").exists()
    });
    session.file("load.txt", "9\n");
    wait_until("the breach", || {
        session.log(&run).contains("\"kind\":\"failure\"")
    });
    assert!(
        !session.log(&run).contains("\"kind\":\"rollback_started\""),
        "no rollback while the hosts are mid-step"
    );
    fs::remove_file(session.path("hold")).expect("release the hosts");
    let output = finish(engine, std::time::Duration::from_secs(60));
    let shown = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(3),
        "paused by the policy, the other watch ended with it:\n{shown}"
    );
    let events = session.events(&run);
    let undone: Vec<&str> = of_kind(&events, "rollback_started")[0]["payload"]["units"]
        .as_array()
        .expect("units")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for host in ["h1", "h2"] {
        assert!(
            undone.contains(&format!("settle@{host}").as_str()),
            "{undone:?}"
        );
        assert!(
            undone.contains(&format!("act@{host}").as_str()),
            "{undone:?}"
        );
        assert!(
            !session.path(&format!("settled-{host}")).exists(),
            "{shown}"
        );
        assert!(!session.path(&format!("acted-{host}")).exists(), "{shown}");
    }
    assert!(
        !of_kind(&events, "unit_finished")
            .iter()
            .any(|event| event["payload"]["unit"] == "space"),
        "the long watch was stopped, not finished: a resume watches on"
    );
}
