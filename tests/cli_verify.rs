//! `runbook verify RUN`: an auditor's check of a run's event log.

mod common;

use common::Test;
use runbook::store::{Draft, Durability, RunLog};

/// The bytes of a valid log of `count` events, written by the store itself.
fn log_bytes(count: u64) -> Vec<u8> {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("events.jsonl");
    let mut log = RunLog::create(&path, Durability::Unsynced).expect("new log");
    for n in 0..count {
        log.append(Draft {
            time_ms: 1_000 + n,
            kind: "step_finished".to_string(),
            actor: None,
            payload: serde_json::json!({ "step": format!("s{n}"), "exit": 0 }),
        })
        .expect("append");
    }
    std::fs::read(&path).expect("read back")
}

#[test]
fn an_intact_log_verifies_with_its_count_and_last_hash() {
    Test::new()
        .file("state/runs/r1/events.jsonl", log_bytes(5))
        .args(["verify", "r1", "--state-dir", "state"])
        .stdout_contains("r1: 5 events, chain intact, from 1000 to 1004")
        .run();
}

#[test]
fn the_state_folder_comes_from_the_environment_when_not_given() {
    Test::new()
        .file("elsewhere/runs/r1/events.jsonl", log_bytes(2))
        .env("RUNBOOK_STATE_DIR", "elsewhere")
        .args(["verify", "r1"])
        .stdout_contains("r1: 2 events, chain intact")
        .run();
}

#[test]
fn a_changed_event_fails_verification_at_its_line() {
    let text = String::from_utf8(log_bytes(5)).expect("UTF-8");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[2] = lines[2].replace("\"exit\":0", "\"exit\":1");
    let tampered: String = lines.iter().map(|line| format!("{line}\n")).collect();
    assert_ne!(tampered, text);
    Test::new()
        .file("state/runs/r1/events.jsonl", tampered)
        .args(["verify", "r1", "--state-dir", "state"])
        .status(1)
        .stdout_contains("r1: NOT VERIFIED")
        .stdout_contains("line 3: its content does not match its hash")
        .run();
}

#[test]
fn a_missing_run_or_a_bad_run_id_is_a_usage_error() {
    Test::new()
        .dir("state/runs")
        .args(["verify", "nope", "--state-dir", "state"])
        .status(2)
        .stderr_contains("error: no run `nope` in state")
        .run();
    Test::new()
        .args(["verify", "../etc", "--state-dir", "state"])
        .status(2)
        .stderr_contains("is not a run id")
        .run();
}
