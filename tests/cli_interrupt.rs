//! Interrupts and tampering on real runs: Ctrl-C (SIGINT) then `resume`, and `verify`
//! on every changed, removed or moved event of a real run's log.

mod common;

use std::fs;
use std::process::Child;
use std::time::{Duration, Instant};

use common::session::{finish, Ran, Session};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The runbook both interrupt tests run: `first` tells the test it began, then waits
/// until the test lets it finish (a file `go`), so the signal lands while it runs.
const HELD: &str = r#"runbook "held" { }
step first "Hold until the test says go" {
  run "touch began; while [ ! -f go ]; do sleep 0.02; done; echo first >> ledger"
  rollback "echo undo-first >> ledger"
}
step second "After the interrupt" {
  run "echo second >> ledger"
  rollback "echo undo-second >> ledger"
}
"#;

/// How long the test waits for the engine to reach a point; far longer than it needs.
const PATIENCE: Duration = Duration::from_secs(30);

/// A session with `runbook` as `plan.rbk`.
fn scene(runbook: &str) -> Session {
    let session = Session::new();
    session.file("plan.rbk", runbook);
    session
}

/// Waits until the engine has made `relative`; fails if it ends first or never does.
fn wait_for_file(session: &Session, relative: &str, engine: &mut Child) {
    let since = Instant::now();
    while !session.path(relative).exists() {
        if let Some(status) = engine.try_wait().expect("engine status") {
            panic!("the engine ended ({status}) before `{relative}` appeared");
        }
        assert!(since.elapsed() < PATIENCE, "`{relative}` never appeared");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn interrupt(engine: &Child) {
    let pid = i32::try_from(engine.id()).expect("pid");
    kill(Pid::from_raw(pid), Signal::SIGINT).expect("SIGINT");
}

fn text(bytes: impl AsRef<[u8]>) -> String {
    String::from_utf8_lossy(bytes.as_ref()).into_owned()
}

#[test]
fn ctrl_c_lets_the_running_command_finish_pauses_and_resume_goes_on() {
    let scene = scene(HELD);
    let mut engine = scene.spawn(&["run", "plan.rbk", "--output", "plain"]);
    wait_for_file(&scene, "began", &mut engine);
    interrupt(&engine);
    // The interrupt is taken while `first` runs; it then may finish.
    let log_says_interrupted = || {
        fs::read_dir(scene.path("state/runs"))
            .ok()
            .and_then(|mut runs| runs.next())
            .and_then(|run| run.ok())
            .map(|run| fs::read_to_string(run.path().join("events.jsonl")).unwrap_or_default())
            .is_some_and(|log| log.contains("\"kind\":\"command_started\""))
    };
    assert!(log_says_interrupted(), "the command was announced first");
    fs::write(scene.path("go"), "").expect("go");
    let ended = engine.wait_with_output().expect("engine ends");
    assert_eq!(ended.status.code(), Some(3), "{}", text(&ended.stderr));
    assert!(
        text(&ended.stderr).contains("paused (interrupted)"),
        "{}",
        text(&ended.stderr)
    );
    assert_eq!(
        scene.read("ledger"),
        "first\n",
        "nothing new began after the interrupt"
    );
    let run = scene.run_id();
    let status = scene.runbook(&["status", &run]);
    assert!(
        text(&status.stdout).contains("paused: interrupted"),
        "{}",
        text(&status.stdout)
    );

    let resumed = scene.runbook(&["resume", &run]);
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed.stderr));
    assert_eq!(scene.read("ledger"), "first\nsecond\n", "each command once");
    assert_eq!(scene.runbook(&["verify", &run]).status.code(), Some(0));
}

#[test]
fn ctrl_c_with_kill_stops_the_command_and_its_group_and_asks_before_running_it_again() {
    let scene = scene(HELD);
    let mut engine = scene.spawn(&["run", "plan.rbk", "--on-interrupt", "kill"]);
    wait_for_file(&scene, "began", &mut engine);
    interrupt(&engine);
    let ended = engine.wait_with_output().expect("engine ends");
    assert_eq!(ended.status.code(), Some(3), "{}", text(&ended.stderr));
    // The command was stopped: had it lived on, it would write its line once `go` is
    // there.
    fs::write(scene.path("go"), "").expect("go");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        scene.read("ledger"),
        "",
        "the command's process group was stopped"
    );
    let run = scene.run_id();

    // `first` is not idempotent and was cut short: a person decides.
    let resumed = scene.runbook(&["resume", &run]);
    assert_eq!(resumed.status.code(), Some(3), "{}", text(&resumed.stderr));
    let status = text(&scene.runbook(&["status", &run]).stdout);
    assert!(status.contains("runbook decide"), "{status}");
    let decided = scene.runbook(&["decide", &run, "first", "retry", "--as", "tester"]);
    assert_eq!(decided.status.code(), Some(0), "{}", text(&decided.stderr));
    let resumed = scene.runbook(&["resume", &run]);
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed.stderr));
    assert_eq!(scene.read("ledger"), "first\nsecond\n");
    assert_eq!(scene.runbook(&["verify", &run]).status.code(), Some(0));
}

/// A finished run's log, as lines.
fn finished_log(scene: &Session) -> (String, Vec<String>) {
    fs::write(scene.path("go"), "").expect("go");
    let ran = scene.runbook(&["run", "plan.rbk"]);
    assert_eq!(ran.status.code(), Some(0), "{}", text(&ran.stderr));
    let run = scene.run_id();
    let lines = fs::read_to_string(scene.log_path(&run))
        .expect("log")
        .lines()
        .map(str::to_string)
        .collect();
    (run, lines)
}

fn verify_lines(scene: &Session, run: &str, lines: &[String]) -> Ran {
    let joined: String = lines.iter().map(|line| format!("{line}\n")).collect();
    fs::write(scene.log_path(run), joined).expect("write");
    scene.runbook(&["verify", run])
}

fn expect_broken_at(verified: &Ran, line: usize, what: &str) {
    let stdout = text(&verified.stdout);
    assert_eq!(verified.status.code(), Some(1), "{what}: {stdout}");
    assert!(
        stdout.contains(&format!("events.jsonl, line {line}:")),
        "{what}: expected line {line} named:\n{stdout}"
    );
}

#[test]
fn changing_removing_or_moving_any_event_of_a_real_run_fails_verify_there() {
    let scene = scene(HELD);
    let (run, lines) = finished_log(&scene);
    assert!(lines.len() >= 8, "{}", lines.len());
    for index in 0..lines.len() {
        let line = index + 1;
        // Changed: one more space in the time stamp's neighbour, the payload.
        let mut changed = lines.clone();
        changed[index] = changed[index].replacen("\"payload\":{", "\"payload\":{\"x\":1,", 1);
        if changed[index] == lines[index] {
            changed[index] = changed[index].replacen("\"time_ms\":", "\"time_ms\":1", 1);
        }
        assert_ne!(changed[index], lines[index]);
        expect_broken_at(&verify_lines(&scene, &run, &changed), line, "changed");

        // Removed: the event after it is where the chain breaks (unless it was last,
        // which the chain cannot show: verify says the log ends open).
        let mut removed = lines.clone();
        removed.remove(index);
        let verified = verify_lines(&scene, &run, &removed);
        if index + 1 < lines.len() {
            expect_broken_at(&verified, line, "removed");
        } else {
            assert_eq!(verified.status.code(), Some(0));
            assert!(
                text(&verified.stdout).contains("note: the log does not end with the run"),
                "{}",
                text(&verified.stdout)
            );
        }

        // Moved: swapped with the one after it.
        if index + 1 < lines.len() {
            let mut moved = lines.clone();
            moved.swap(index, index + 1);
            expect_broken_at(&verify_lines(&scene, &run, &moved), line, "moved");
        }
    }
    // And the original still verifies, without a note.
    let intact = verify_lines(&scene, &run, &lines);
    assert_eq!(intact.status.code(), Some(0));
    assert!(
        !text(&intact.stdout).contains("note:"),
        "{}",
        text(&intact.stdout)
    );
}

#[test]
fn verify_says_when_a_log_ends_without_the_run_closing() {
    let scene = scene(HELD);
    fs::write(scene.path("go"), "").expect("go");
    let killed = scene
        .command(&["run", "plan.rbk"])
        .env("RUNBOOK_TEST_KILL_AFTER_EVENT", "3")
        .output()
        .expect("runbook runs");
    assert_eq!(killed.status.code(), None, "killed by its signal");
    let run = scene.run_id();
    let verified = scene.runbook(&["verify", &run]);
    assert_eq!(verified.status.code(), Some(0));
    let stdout = text(&verified.stdout);
    assert!(
        stdout.contains("note: the log does not end with the run finishing or pausing: the engine stopped without closing it"),
        "{stdout}"
    );
    assert!(scene.log_path(&run).exists());
}

#[test]
fn a_script_the_engine_died_in_runs_again_without_asking_and_nothing_else_does() {
    const SCRIPTED: &str = r#"runbook "scripted" { }
step s "A command, then a script" {
  run "echo a >> ledger"
  script "let x = 1; x + 1"
  irreversible "only a ledger line"
}
step t "After it" {
  run "echo t >> ledger"
  irreversible "only a ledger line"
}
"#;
    // Where the script is announced, in a run nobody stopped.
    let whole = scene(SCRIPTED);
    assert_eq!(whole.runbook(&["run", "plan.rbk"]).status.code(), Some(0));
    let log = fs::read_to_string(whole.log_path(&whole.run_id())).expect("log");
    let script_seq = log
        .lines()
        .position(|line| line.contains("\"command\":\"let x = 1; x + 1\""))
        .expect("the script is announced");

    let scene = scene(SCRIPTED);
    let killed = scene
        .command(&["run", "plan.rbk"])
        .env("RUNBOOK_TEST_KILL_AFTER_EVENT", script_seq.to_string())
        .output()
        .expect("runbook runs");
    assert_eq!(killed.status.code(), None, "killed by its signal");
    assert_eq!(scene.read("ledger"), "a\n");
    let run = scene.run_id();
    let resumed = scene.runbook(&["resume", &run]);
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed.stderr));
    assert_eq!(
        scene.read("ledger"),
        "a\nt\n",
        "the command before the script ran once"
    );
    let log = fs::read_to_string(scene.log_path(&run)).expect("log");
    assert!(!log.contains("\"kind\":\"waiting\""), "nobody was asked");
}

/// Ctrl-C while a policy's background step runs beside the policy's next step: as in
/// the main flow, both commands may finish, the policy starts nothing after them, and
/// it ends (the run pausing) only once the background step has; the resume runs what
/// was left, and neither step again.
#[test]
fn ctrl_c_lets_a_policys_background_step_finish_and_resume_goes_on_after_it() {
    let scene = scene(
        r#"runbook "beside" { }
step broken "A step that fails" {
  readonly
  run "exit 1"
}
on failure functional {
  step failover "Move traffic away" {
    background
    run "touch failover-began; while [ ! -f go ]; do sleep 0.02; done; sleep 0.2; echo failover >> ledger"
    irreversible "traffic comes back by hand"
  }
  step hold "Hold until the test says go" {
    run "touch hold-began; while [ ! -f go ]; do sleep 0.02; done; echo hold >> ledger"
    irreversible "only a ledger line"
  }
  step after "After the interrupt" {
    run "echo after >> ledger"
    irreversible "only a ledger line"
  }
}
"#,
    );
    let mut engine = scene.spawn(&["run", "plan.rbk", "--output", "plain"]);
    wait_for_file(&scene, "failover-began", &mut engine);
    wait_for_file(&scene, "hold-began", &mut engine);
    interrupt(&engine);
    // The engine takes the signal at once; the commands go on until they are let go.
    std::thread::sleep(Duration::from_millis(200));
    fs::write(scene.path("go"), "").expect("go");
    let ended = finish(engine, PATIENCE);
    assert_eq!(ended.status.code(), Some(3), "{}", text(&ended.stderr));
    assert!(
        text(&ended.stderr).contains("paused (interrupted)"),
        "{}",
        text(&ended.stderr)
    );
    // The failover, which ends last, ended before the engine did.
    assert_eq!(scene.read("ledger"), "hold\nfailover\n");

    let run = scene.run_id();
    let resumed = scene.runbook(&["resume", &run]);
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed.stderr));
    assert_eq!(scene.read("ledger"), "hold\nfailover\nafter\n", "each once");
    assert_eq!(scene.runbook(&["verify", &run]).status.code(), Some(0));
}
