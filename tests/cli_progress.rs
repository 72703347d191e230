//! What a person sees while `runbook run` goes: tracing logs only under `RUST_LOG` and
//! only on standard error, never a secret in them; and on a terminal (a pseudo-terminal
//! from `script`), the progress display with its "hosts done / total" bars.
//!
//! The lines the display shows are tested where they are built
//! (src/engine/report/messages.rs and live.rs).

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::session::Session;

const PLAN: &str = r#"runbook "traced" { }
inventory pair hosts ["h1", "h2"]
step hello "Say hello on each host" {
  on pair
  run "echo hello {{host}}"
  irreversible "test"
}
step after "Then once here" {
  run "true"
  irreversible "test"
}
"#;

/// A session with `plan` as `plan.rbk`.
fn folder_with(plan: &str) -> Session {
    let session = Session::new();
    session.file("plan.rbk", plan);
    session
}

fn is_tracing_line(line: &str) -> bool {
    let level = line.split_whitespace().nth(1).unwrap_or_default();
    line.get(..4)
        .is_some_and(|year| year.bytes().all(|b| b.is_ascii_digit()))
        && line.get(10..11) == Some("T")
        && ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level)
}

/// Standard output without its times and run ids, to compare two runs' lines.
fn shape(stdout: &str) -> Vec<String> {
    let mut lines: Vec<String> = stdout
        .lines()
        .filter(|line| !line.contains(" started: "))
        .map(|line| line.get(9..).unwrap_or(line).to_string())
        .collect();
    // The hosts of a step run at once, so their lines come in either order.
    lines.sort();
    lines
}

#[test]
fn rust_log_writes_tracing_lines_on_stderr_and_none_on_stdout() {
    let dir = folder_with(PLAN);
    let quiet = dir.runbook_with(&["run", "plan.rbk", "--output", "plain"], &[]);
    quiet.expect(0, "unexpected exit");
    let traced = dir.runbook_with(
        &["run", "plan.rbk", "--output", "plain"],
        &[("RUST_LOG", "debug")],
    );
    traced.expect(0, "unexpected exit");

    let logs: Vec<&str> = traced
        .stderr
        .lines()
        .filter(|line| is_tracing_line(line))
        .collect();
    assert!(!logs.is_empty(), "{}", traced.stderr);
    let all = logs.join("\n");
    // A unit beginning and ending with its key, a command's pid and its exit, each log
    // flush with its events and the time it took.
    for expected in [
        "unit{key=\"hello@h1\"}",
        "unit begins",
        "unit finished unit=\"hello@h2\" outcome=\"succeeded\"",
        "command starts phase=Run index=0 command=echo hello 'h1'",
        "command spawned in its own process group pid=",
        "command ended phase=Run index=0 exit=Code(0)",
        "log flushed events=",
        "took_us=",
    ] {
        assert!(all.contains(expected), "no `{expected}` in:\n{all}");
    }
    assert!(!traced.stderr.contains('\u{1b}'), "colour under NO_COLOR");

    // Standard output is what it is without RUST_LOG: the same lines, no log line.
    assert!(
        !traced.stdout.lines().any(is_tracing_line),
        "{}",
        traced.stdout
    );
    assert!(!traced.stdout.contains("runbook::"), "{}", traced.stdout);
    assert_eq!(shape(&traced.stdout), shape(&quiet.stdout));
}

#[test]
fn without_rust_log_nothing_is_logged() {
    let dir = folder_with(PLAN);
    for output in ["plain", "json", "quiet"] {
        let ran = dir.runbook_with(&["run", "plan.rbk", "--output", output], &[]);
        ran.expect(0, "unexpected exit");
        for text in [&ran.stdout, &ran.stderr] {
            assert!(!text.lines().any(is_tracing_line), "{output}: {text}");
            assert!(!text.contains("runbook::engine"), "{output}: {text}");
        }
    }
}

#[test]
fn json_output_stays_json_lines_under_rust_log() {
    let dir = folder_with(PLAN);
    let ran = dir.runbook_with(
        &["run", "plan.rbk", "--output", "json"],
        &[("RUST_LOG", "trace")],
    );
    ran.expect(0, "unexpected exit");
    assert!(ran.stderr.lines().any(is_tracing_line), "{}", ran.stderr);
    assert!(ran.stdout.lines().count() > 5, "{}", ran.stdout);
    for line in ran.stdout.lines() {
        let event: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        assert!(event.get("kind").is_some(), "{line}");
    }
}

#[test]
fn tracing_never_shows_a_secret() {
    let dir = folder_with(
        r#"runbook "secretive" { }
secret token from env "DEMO_TOKEN"
step leak "A command that holds the secret" {
  run "echo token={{token}}; exit 3"
  retry 1 backoff 1s
  irreversible "test"
}
"#,
    );
    let secret = "s3cr3t-value-42";
    let ran = dir.runbook_with(
        &["run", "plan.rbk", "--output", "plain"],
        &[("RUST_LOG", "trace"), ("DEMO_TOKEN", secret)],
    );
    ran.expect(1, "unexpected exit");
    assert!(
        ran.stderr.contains("command=echo token='[secret token]'"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("attempt failed; retrying"),
        "{}",
        ran.stderr
    );
    let everything = format!("{}{}", ran.stdout, ran.stderr);
    assert!(
        !everything.contains(secret),
        "the secret leaked:\n{everything}"
    );
}

/// `script` (util-linux, an essential package on Debian) gives the command a
/// pseudo-terminal, as a person's would be. Without it the test fails: it does not
/// pass by skipping what it is for.
fn script() -> PathBuf {
    ["/usr/bin/script", "/bin/script"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .expect("`script` (util-linux) to give the run a terminal")
}

#[test]
fn on_a_terminal_the_run_shows_bars_of_hosts_done() {
    let script = script();
    let dir = Session::new();
    dir.shipped("runbooks/demo-upgrade.rbk", "demo.rbk");
    let fleet = dir.path("fleet");
    // A terminal as wide as a person's, rather than the 80 columns of none at all.
    let command = format!(
        "stty cols 200 rows 50 2>/dev/null; '{}' run demo.rbk -p 'fleet={}'",
        env!("CARGO_BIN_EXE_runbook"),
        fleet.display()
    );
    let output = Command::new(script)
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .current_dir(dir.root())
        .env("SHELL", "/bin/sh")
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env("RUNBOOK_STATE_DIR", dir.path("state"))
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("script runs");
    let screen = String::from_utf8_lossy(&output.stdout);
    let end = screen
        .char_indices()
        .rev()
        .nth(3000)
        .map_or(&*screen, |(at, _)| &screen[at..]);
    assert_eq!(output.status.code(), Some(0), "...{end}");
    // The header with the run's title, a bar for each step over the fleet and for the
    // waves, and the finished lines above them.
    for expected in [
        "Demo: kernel upgrade of eight local hosts · run ",
        " provision [",
        "/8 hosts done",
        " rollout [",
        "0/8 hosts done · wave 1 of 3: demo-01",
        "1/8 hosts done · wave 2 of 3: demo-02, demo-03, demo-04",
        "  drain [",
        "✔ fleet_check@demo-08",
        "run completed",
    ] {
        assert!(screen.contains(expected), "no `{expected}` in:\n...{end}");
    }
    assert!(has_colour("\u{1b}[32m✔") && !has_colour("\u{1b}[3A"));
    assert!(!has_colour(&screen), "colour under NO_COLOR");
}

/// Whether `text` sets a foreground colour (`ESC [ 3x m` or `ESC [ 3x ;`, x a digit);
/// cursor moves such as `ESC [ 3 A` are not colour.
fn has_colour(text: &str) -> bool {
    text.match_indices("\u{1b}[3").any(|(at, found)| {
        let rest = &text.as_bytes()[at + found.len()..];
        rest.first().is_some_and(u8::is_ascii_digit) && matches!(rest.get(1), Some(b'm' | b';'))
    })
}

/// Runs `runbook ARGS` on a pseudo-terminal in `dir`, types `typed` once the screen
/// shows `prompt` (lines typed before a wait begins answer nothing), and returns how
/// the run ended with everything the terminal showed.
fn answered_at_the_terminal(
    dir: &Session,
    args: &str,
    prompt: &str,
    typed: &str,
) -> (Option<i32>, String) {
    use std::io::{Read, Write};

    // Were the typing not taken, the run would wait for ever: `timeout` ends it,
    // staying in the terminal's foreground group (which it would leave without
    // `--foreground`, and the engine with it, so the engine would not read the keyboard).
    let command = format!(
        "timeout --foreground 60 '{}' {args}",
        env!("CARGO_BIN_EXE_runbook")
    );
    let mut child = Command::new(script())
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .current_dir(dir.root())
        // `script` runs the command with $SHELL, which differs between machines; CI has
        // none, so /bin/sh (which forks rather than execs the last command).
        .env("SHELL", "/bin/sh")
        .env("NO_COLOR", "1")
        .env("RUNBOOK_STATE_DIR", dir.path("state"))
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("script runs");
    let mut keyboard = child.stdin.take().expect("stdin");
    let mut shown = child.stdout.take().expect("stdout");
    // What the terminal shows, read as it comes so the test types only once asked.
    let (screen_sender, screen_chunks) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buffer = [0; 4096];
        while let Ok(read) = shown.read(&mut buffer) {
            if read == 0 || screen_sender.send(buffer[..read].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut screen = Vec::new();
    while !String::from_utf8_lossy(&screen).contains(prompt) {
        match screen_chunks.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(chunk) => screen.extend(chunk),
            Err(_) => panic!("no prompt:\n{}", String::from_utf8_lossy(&screen)),
        }
    }
    keyboard.write_all(typed.as_bytes()).expect("typed");
    // The terminal stays open until the run is over.
    let status = child.wait().expect("the run ends");
    drop(keyboard);
    reader.join().expect("reader");
    screen.extend(screen_chunks.try_iter().flatten());
    (status.code(), String::from_utf8_lossy(&screen).into_owned())
}

/// A manual step answered at the run's own terminal: a word that answers nothing is
/// asked again, `done` asks for each value the step records, and the confirmation is
/// logged as said by the person who started the run there.
#[test]
fn a_manual_step_is_confirmed_by_typing_at_the_terminal() {
    let dir = Session::new();
    dir.file(
        "manual.rbk",
        r#"runbook "manual" { }
step announce "Publish the notice" {
  manual "Publish the notice and paste its address"
  record url "The notice's address"
}
step after "Use it" {
  run "echo published at {{announce.url}}"
  irreversible "only prints"
}
"#,
    );
    let (code, screen) = answered_at_the_terminal(
        &dir,
        "run manual.rbk --as alice --output plain",
        "type `done` here",
        "what\ndone\nhttps://notice/1\n",
    );
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        screen.contains("type `done` here once `announce` is done"),
        "{screen}"
    );
    assert!(screen.contains("url:"), "{screen}");
    assert!(screen.contains("run completed"), "{screen}");
    let run = dir.run_id();
    let log = dir.log(&run);
    let confirmed = log
        .lines()
        .find(|line| line.contains("\"kind\":\"confirmed\""))
        .expect("a confirmation in the log");
    assert!(confirmed.contains("\"person\":\"alice\""), "{confirmed}");
    assert!(
        confirmed.contains("\"url\":\"https://notice/1\""),
        "{confirmed}"
    );
    let output = fs::read_dir(dir.run_file(&run, "output"))
        .map(|entries| entries.count())
        .unwrap_or(0);
    assert!(output > 0, "the next step ran and printed");
}

/// An approval given at the run's own terminal, by the person who started the run
/// there: a word that answers nothing is asked again, and the vote is logged with its
/// reason and the role it counts for.
#[test]
fn an_approval_is_given_by_typing_at_the_terminal() {
    let dir = Session::new();
    dir.file(
        "roster.toml",
        "[people.alice]\nroles = [\"commander\"]\n[people.dev]\nroles = [\"executor\"]\n",
    );
    dir.file(
        "gate.rbk",
        r#"runbook "gated" {
  roster "roster.toml"
}
role commander "decides"
gate go "Go / no-go" {
  approve by commander "Start the change?"
}
step after "Then this" {
  run "true"
  irreversible "only a test"
}
"#,
    );
    let (code, screen) = answered_at_the_terminal(
        &dir,
        "run gate.rbk --as alice --output plain",
        "type `approve [why]` or `reject [why]` here",
        "perhaps\napprove the window is open\n",
    );
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        screen.contains("go: approved as commander: the window is open"),
        "{screen}"
    );
    let log = dir.log(&dir.run_id());
    let voted = log
        .lines()
        .find(|line| line.contains("\"kind\":\"voted\""))
        .expect("a vote in the log");
    assert!(voted.contains("\"person\":\"alice\""), "{voted}");
    assert!(voted.contains("\"role\":\"commander\""), "{voted}");
    assert!(!log.contains("\"kind\":\"refused\""), "{log}");
}
