//! `runbook run`, `resume`, `confirm`, `decide`, `status`, `transcript`: the engine
//! through the command line, on real processes in a temporary folder.

mod common;

use std::fs;

use common::session::{Ran, Session};

fn expect(ran: &Ran, status: i32) {
    ran.expect(status, "unexpected exit");
}

#[test]
fn the_demo_runs_to_the_end_and_its_log_verifies() {
    let session = Session::new();
    session.shipped("runbooks/demo-upgrade.rbk", "demo.rbk");
    let fleet = session.path("fleet");
    let fleet_arg = format!("fleet={}", fleet.display());
    let ran = session.runbook(&["run", "demo.rbk", "-p", &fleet_arg, "--transcript"]);
    expect(&ran, 0);
    let run = session.run_id();
    for host in 1..=8 {
        let kernel = session.read(&format!("fleet/{run}/demo-0{host}/kernel"));
        assert_eq!(kernel, "6.1.0-27\n", "demo-0{host}");
    }
    assert!(ran.stdout.contains("Timeline (UTC)"), "{}", ran.stdout);
    assert!(ran.stdout.contains("run completed"), "{}", ran.stdout);
    expect(&session.runbook(&["verify", &run]), 0);
    let status = session.runbook(&["status", &run]);
    assert!(
        status.stdout.contains("state    completed"),
        "{}",
        status.stdout
    );
}

#[test]
fn a_failure_rolls_back_newest_first_and_exits_1() {
    let session = Session::new();
    session.shipped("runbooks/demo-upgrade.rbk", "demo.rbk");
    let fleet_arg = format!("fleet={}", session.path("fleet").display());
    let ran = session.runbook(&["run", "demo.rbk", "-p", &fleet_arg, "-p", "fail_on=demo-03"]);
    expect(&ran, 1);
    let run = session.run_id();
    // Waves 1 and 2 were touched; every touched host is back on its kernel and in the
    // pool, and wave 3 never started.
    for host in 1..=4 {
        let kernel = session.read(&format!("fleet/{run}/demo-0{host}/kernel"));
        assert_eq!(kernel, "5.10.0-32\n", "demo-0{host}");
        let pool = session.read(&format!("fleet/{run}/demo-0{host}/pool"));
        assert_eq!(pool, "in-pool\n", "demo-0{host}");
    }
    let log = session.log(&run);
    assert!(!log.contains("\"node\":\"drain\",\"host\":\"demo-05\""));
    let transcript = session.runbook(&["transcript", &run]).stdout;
    let undo_install = transcript.find("undo install on demo-02").expect("undone");
    let undo_drain = transcript.find("undo drain on demo-02").expect("undone");
    assert!(undo_install < undo_drain, "newest first:\n{transcript}");
    expect(&session.runbook(&["verify", &run]), 0);
}

#[test]
fn hostile_values_arrive_as_one_literal_argument() {
    let session = Session::new();
    session.file(
        "plan.rbk",
        r#"runbook "hostile" { }
param value: string "anything"
step write "Write the value" {
  run "printf '%s|' {{value}} > plain.txt"
  run "printf '%s|' \"{{value}}\" > double.txt"
  run "printf '%s|' 'a{{value}}b' > single.txt"
  irreversible "test"
}
"#,
    );
    for hostile in [
        "x; touch pwned",
        "$(touch pwned)",
        "`touch pwned`",
        "it's \"quoted\" \\ $HOME",
        "a\nb",
    ] {
        let param = format!("value={hostile}");
        expect(&session.runbook(&["run", "plan.rbk", "-p", &param]), 0);
        assert_eq!(session.read("plain.txt"), format!("{hostile}|"));
        assert_eq!(session.read("double.txt"), format!("{hostile}|"));
        assert_eq!(session.read("single.txt"), format!("a{hostile}b|"));
        assert!(!session.path("pwned").exists(), "{hostile} ran");
    }
}

#[test]
fn a_secret_a_command_echoes_is_redacted_everywhere() {
    let session = Session::new();
    session.file(
        "plan.rbk",
        r#"runbook "secretive" { }
secret token from env "DEMO_TOKEN"
step leak "A command that prints the secret" {
  run "echo token={{token}}; echo env=$RUNBOOK_SECRET_TOKEN >&2"
  irreversible "test"
}
"#,
    );
    let secret = "s3cr3t-value-42";
    let env = [("DEMO_TOKEN", secret)];
    let plain = session.runbook_with(&["run", "plan.rbk", "--output", "plain"], &env);
    expect(&plain, 0);
    let json = session.runbook_with(&["run", "plan.rbk", "--output", "json"], &env);
    expect(&json, 0);
    assert!(json.stdout.contains("[secret token]"), "{}", json.stdout);
    let mut everything = format!(
        "{}{}{}{}",
        plain.stdout, plain.stderr, json.stdout, json.stderr
    );
    for entry in fs::read_dir(session.path("state/runs")).expect("runs") {
        let run = entry
            .expect("run")
            .file_name()
            .into_string()
            .expect("utf-8");
        everything.push_str(&session.log(&run));
        everything.push_str(&session.runbook(&["transcript", &run]).stdout);
        everything.push_str(&session.runbook(&["status", &run]).stdout);
        for output in
            fs::read_dir(session.path(&format!("state/runs/{run}/output"))).expect("output")
        {
            everything.push_str(&fs::read_to_string(output.expect("file").path()).expect("read"));
        }
    }
    assert!(everything.contains("token=[secret token]"), "{everything}");
    assert!(
        !everything.contains(secret),
        "the secret leaked:\n{everything}"
    );
}

#[test]
fn a_manual_step_waits_then_is_confirmed_from_another_terminal_and_resumed() {
    let session = Session::new();
    session.file(
        "plan.rbk",
        r#"runbook "manual" { }
step ask "Publish the notice" {
  manual "Publish the notice and paste its address"
  record url "The notice's address"
}
step use "Use the recorded value" {
  run "printf %s {{ask.url}} > url.txt"
  irreversible "test"
}
"#,
    );
    let ran = session.runbook(&["run", "plan.rbk", "--no-wait"]);
    expect(&ran, 3);
    let run = session.run_id();
    let status = session.runbook(&["status", &run]);
    assert!(
        status.stdout.contains("runbook confirm"),
        "{}",
        status.stdout
    );
    let confirmed = session.runbook(&[
        "confirm",
        &run,
        "ask",
        "--as",
        "alice",
        "--set",
        "url=https://status.example/1",
    ]);
    expect(&confirmed, 0);
    expect(&session.runbook(&["resume", &run, "--no-wait"]), 0);
    assert_eq!(session.read("url.txt"), "https://status.example/1");
    let log = session.log(&run);
    assert!(log.contains("\"person\":\"alice\""), "{log}");
    expect(&session.runbook(&["verify", &run]), 0);
}

#[test]
fn a_second_engine_is_refused_with_the_holder() {
    let session = Session::new();
    session.file(
        "plan.rbk",
        r#"runbook "manual" { }
step ask "Wait for a person" {
  manual "Say when"
}
"#,
    );
    expect(&session.runbook(&["run", "plan.rbk", "--no-wait"]), 3);
    let run = session.run_id();
    // A lock held by a live process (this test) on this host.
    let holder = serde_json::json!({
        "host": runbook::store::host_name(),
        "pid": std::process::id(),
        "since_ms": 1_000,
    });
    session.file(&format!("state/runs/{run}/lock"), &holder.to_string());
    let refused = session.runbook(&["resume", &run, "--no-wait"]);
    expect(&refused, 2);
    assert!(
        refused.stderr.contains("rbk::run::locked"),
        "{}",
        refused.stderr
    );
    assert!(refused
        .stderr
        .contains(&format!("pid {}", std::process::id())));
}

/// The errors that stop a run before it starts or goes on, each with its code.
#[test]
fn run_errors_have_codes() {
    let session = Session::new();
    session.file(
        "plan.rbk",
        r#"runbook "params" { }
param needed: string "no default"
param count: int = 3 "a number"
secret token from env "RUNBOOK_TEST_UNSET_SECRET"
step s "Echo" {
  run "echo {{needed}} {{count}}"
  irreversible "test"
}
"#,
    );
    session.file("state-is-a-file", "");
    let mut shown = String::new();
    let mut show = |title: &str, ran: Ran| {
        shown.push_str(&format!(
            "## {title} (exit {})\n{}\n",
            ran.code(),
            ran.stderr
        ));
    };
    show(
        "parameters",
        session.runbook(&["run", "plan.rbk", "-p", "count=many", "-p", "nope=1"]),
    );
    show(
        "secret",
        session.runbook(&["run", "plan.rbk", "-p", "needed=x"]),
    );
    show("no such run", session.runbook(&["resume", "nothing-here"]));
    show(
        "state folder unusable",
        session.runbook_with(
            &[
                "run",
                "plan.rbk",
                "-p",
                "needed=x",
                "--state-dir",
                "state-is-a-file",
            ],
            &[("RUNBOOK_TEST_UNSET_SECRET", "abcdef")],
        ),
    );
    session.file(
        "manual.rbk",
        "runbook \"manual\" { }\nstep ask \"Wait\" {\n  manual \"Say when\"\n}\n",
    );
    expect(&session.runbook(&["run", "manual.rbk", "--no-wait"]), 3);
    let run = session.run_id();
    show(
        "not waiting",
        session.runbook(&["confirm", &run, "elsewhere", "--as", "alice"]),
    );
    session.file(
        "manual.rbk",
        "runbook \"manual\" { }\nstep ask \"Wait, edited\" {\n  manual \"Say when\"\n}\n",
    );
    show("edited", session.runbook(&["resume", &run, "--no-wait"]));
    let host = runbook::store::host_name();
    let lock = format!("state/runs/{run}/lock");
    let holder = serde_json::json!({"host": host, "pid": std::process::id(), "since_ms": 1_000});
    session.file(&lock, &holder.to_string());
    show("held by another engine", session.runbook(&["resume", &run]));
    fs::remove_file(session.path(&lock)).expect("lock removed");
    expect(
        &session.runbook(&["confirm", &run, "ask", "--as", "alice"]),
        0,
    );
    expect(
        &session.runbook(&["resume", &run, "--no-wait", "--accept-changes"]),
        0,
    );
    show("finished", session.runbook(&["resume", &run]));
    let log_path = format!("state/runs/{run}/events.jsonl");
    let intact = session.read(&log_path);
    session.file(
        &log_path,
        &intact.replacen("\"schema\":1", "\"schema\":0", 1),
    );
    show("another version's log", session.runbook(&["resume", &run]));
    session.file(&log_path, &intact.replacen("\"manual\"", "\"manuel\"", 1));
    show(
        "a log that does not verify",
        session.runbook(&["resume", &run]),
    );
    let shown = shown
        .replace(&run, "RUN")
        .replace(&format!("pid {}", std::process::id()), "pid PID")
        .replace(&format!(" on {host} "), " on HOST ")
        .replace(&session.root().display().to_string(), "TMP");
    let shown = regex_free_hashes(&shown);
    insta::assert_snapshot!(shown);
}

/// sha256 sums differ with every edit of a test; the snapshot keeps their place.
fn regex_free_hashes(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            let hex = word.trim_matches(|c: char| !c.is_ascii_hexdigit());
            if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
                word.replace(hex, "SHA256")
            } else {
                word.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `on sample P% of ...` runs on a share of the hosts (rounded up), chosen once from the
/// run's seed and logged: the units are exactly the logged hosts, and a resume keeps
/// the choice.
#[test]
fn a_sample_is_chosen_once_logged_and_kept_by_a_resume() {
    let session = Session::new();
    session.file(
        "plan.rbk",
        r#"runbook "sampled" { }
inventory fleet hosts ["h1", "h2", "h3", "h4", "h5", "h6"]
waves roll {
  over fleet
  stages [50%, 100%]
  step act "Act" {
    run "true"
    rollback "true"
  }
}
step spot "Spot check" {
  on sample 34% of roll
  readonly
  run "echo {{host}} >> spotted"
}
step ask "Say when" {
  manual "Look at the spot check"
}
"#,
    );
    session
        .runbook(&["run", "plan.rbk", "--no-wait"])
        .expect(3, "the run waits at the manual step");
    let run = session.run_id();
    let log = session.log(&run);
    let sampled: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("JSON"))
        .filter(|event| event["kind"] == "sampled")
        .collect();
    assert_eq!(sampled.len(), 1);
    let hosts: Vec<String> = sampled[0]["payload"]["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|host| host.as_str().expect("a name").to_string())
        .collect();
    assert_eq!(hosts.len(), 3, "34% of 6 hosts, rounded up");
    let mut spotted: Vec<String> = session.read("spotted").lines().map(String::from).collect();
    spotted.sort();
    assert_eq!(spotted, hosts, "the step ran on exactly the hosts logged");
    session
        .runbook(&["confirm", &run, "ask", "--as", "tester"])
        .expect(0, "confirmed");
    session
        .runbook(&["resume", &run, "--no-wait"])
        .expect(0, "the run completes");
    assert_eq!(
        session.log(&run).matches("\"kind\":\"sampled\"").count(),
        1,
        "a resume does not choose again"
    );
}

/// A sample of a rollout that has not run yet would spot-check nothing: it fails.
#[test]
fn a_sample_of_nothing_fails_rather_than_passing() {
    let session = Session::new();
    session.file(
        "plan.rbk",
        r#"runbook "early" { }
inventory fleet hosts ["h1", "h2"]
step look "Spot check" {
  on sample 50% of roll
  readonly
  run "true"
}
waves roll {
  over fleet
  stages [100%]
  step act "Act" {
    run "true"
    rollback "true"
  }
}
"#,
    );
    let ran = session.runbook(&["run", "plan.rbk", "--output", "plain"]);
    ran.expect(1, "the spot check fails");
    assert!(
        ran.stdout
            .contains("nothing to sample: `roll` has no host (yet)"),
        "{}",
        ran.stdout
    );
}

/// A policy's `background` step starts when the policy reaches it and runs beside the
/// actions after it: here the failover goes on until the check, which comes after the
/// rollback, has seen it running. The policy, and the run with it, ends only once the
/// failover has. Its rollback neither waits for the failover nor undoes it.
#[test]
fn a_background_step_of_a_policy_runs_beside_the_actions_after_it() {
    let session = Session::new();
    session.file(
        "plan.rbk",
        r#"runbook "beside" { }
step change "Change something" {
  run "touch changed"
  rollback "rm changed"
}
step broken "A step that fails" {
  readonly
  run "exit 1"
}
on failure functional {
  abort
  step failover "Move traffic away until the check is done" {
    background
    timeout 30s
    run "touch failover-began; while [ ! -f checked ]; do sleep 0.02; done"
    rollback "touch failover-undone"
  }
  rollback all
  step check "Checked while the failover runs" {
    timeout 30s
    run "for i in $(seq 500); do [ -f failover-began ] && break; sleep 0.02; done; test -f failover-began && test ! -f changed && touch checked"
    irreversible "only a marker for the test"
  }
}
"#,
    );
    let ran = session.runbook(&["run", "plan.rbk", "--output", "plain"]);
    ran.expect(1, "the policy aborts the run");
    let run = session.run_id();
    let events = session.events(&run);
    let seq = |kind: &str, unit: &str| {
        events
            .iter()
            .find(|event| {
                event["kind"] == kind
                    && event["payload"]["unit"]
                        .as_str()
                        .or_else(|| event["payload"]["key"].as_str())
                        .is_some_and(|name| name.starts_with(unit))
            })
            .and_then(|event| event["seq"].as_u64())
            .unwrap_or_else(|| panic!("no {kind} of {unit}:\n{}", ran.stdout))
    };
    let failover_started = seq("unit_started", "failover!");
    let failover_finished = seq("unit_finished", "failover!");
    assert!(failover_started < seq("rollback_started", "failure:broken#1/"));
    assert!(seq("rollback_finished", "failure:broken#1/") < seq("unit_started", "check!"));
    assert!(seq("unit_finished", "check!") < failover_finished);
    let finished = common::session::of_kind(&events, "run_finished");
    assert!(failover_finished < finished[0]["seq"].as_u64().expect("a seq"));
    assert_eq!(finished[0]["payload"]["status"], "failed");
    let outcomes: Vec<_> = common::session::of_kind(&events, "unit_finished")
        .iter()
        .map(|event| {
            (
                event["payload"]["unit"].as_str().unwrap_or_default(),
                event["payload"]["outcome"]["outcome"]
                    .as_str()
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("change", "succeeded"),
            ("broken", "failed"),
            ("rollback:change", "succeeded"),
            ("check!failure:broken#1", "succeeded"),
            ("failover!failure:broken#1", "succeeded"),
        ]
    );
    assert!(!session.path("changed").exists(), "the change was undone");
    assert!(
        !session.path("failover-undone").exists(),
        "the policy's rollback leaves its own failover alone"
    );
}
