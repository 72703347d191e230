use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::*;

fn draft(time_ms: u64, kind: &str, payload: serde_json::Value) -> Draft {
    Draft {
        time_ms,
        kind: kind.to_string(),
        actor: None,
        payload,
    }
}

/// A log of `count` events in a fresh folder, the last three written as one group.
fn written_log(count: u64) -> (tempfile::TempDir, PathBuf) {
    let folder = tempfile::tempdir().unwrap_or_else(|error| panic!("no temp dir: {error}"));
    let path = folder.path().join("events.jsonl");
    let mut log = RunLog::create(&path, Durability::Unsynced)
        .unwrap_or_else(|error| panic!("create: {error}"));
    let single = count.saturating_sub(3);
    for n in 0..single {
        log.append(draft(
            1_000 + n,
            "step_started",
            json!({ "step": format!("s{n}") }),
        ))
        .unwrap_or_else(|error| panic!("append: {error}"));
    }
    let group: Vec<Draft> = (single..count)
        .map(|n| {
            draft(
                1_000 + n,
                "host_started",
                json!({ "host": format!("web-{n}") }),
            )
        })
        .collect();
    log.append_all(group)
        .unwrap_or_else(|error| panic!("append_all: {error}"));
    (folder, path)
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("read: {error}"))
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    fs::write(path, text).unwrap_or_else(|error| panic!("write: {error}"));
}

fn broken_line(path: &Path) -> usize {
    match read(path) {
        Err(StoreError::Broken { line, .. }) => line,
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

#[test]
fn a_log_reads_back_what_was_appended_as_one_chain() {
    let (_folder, path) = written_log(6);
    let events = read(&path).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(events.len(), 6);
    for (index, event) in events.iter().enumerate() {
        assert_eq!(event.seq, index as u64);
        assert_eq!(event.schema, SCHEMA_VERSION);
        let prev = if index == 0 {
            GENESIS
        } else {
            &events[index - 1].hash
        };
        assert_eq!(event.prev, prev);
        assert_eq!(event.hash, event.computed_hash());
    }
    assert_eq!(events[4].payload, json!({ "host": "web-4" }));
}

#[test]
fn changing_any_event_breaks_the_chain_at_that_event() {
    let (_folder, path) = written_log(8);
    let original = lines(&path);
    for index in 0..original.len() {
        let mut changed = original.clone();
        changed[index] = changed[index].replacen("\"time_ms\":100", "\"time_ms\":200", 1);
        assert_ne!(
            changed[index], original[index],
            "line {index} was not changed"
        );
        write_lines(&path, &changed);
        assert_eq!(broken_line(&path), index + 1, "changed line {index}");
    }
}

#[test]
fn removing_any_event_but_the_last_breaks_the_chain_there() {
    let (_folder, path) = written_log(8);
    let original = lines(&path);
    // Cutting events off the end leaves a shorter valid chain: the engine's own record
    // of how far a run got (its final event) is what shows that.
    for index in 0..original.len() - 1 {
        let mut removed = original.clone();
        removed.remove(index);
        write_lines(&path, &removed);
        assert_eq!(broken_line(&path), index + 1, "removed line {index}");
    }
}

#[test]
fn swapping_two_neighbouring_events_breaks_the_chain_at_the_first() {
    let (_folder, path) = written_log(8);
    let original = lines(&path);
    for index in 0..original.len() - 1 {
        let mut swapped = original.clone();
        swapped.swap(index, index + 1);
        write_lines(&path, &swapped);
        assert_eq!(
            broken_line(&path),
            index + 1,
            "swapped lines {index} and {}",
            index + 1
        );
    }
}

#[test]
fn a_recomputed_hash_does_not_hide_a_change() {
    let (_folder, path) = written_log(5);
    let mut events = read(&path).unwrap_or_else(|error| panic!("{error}"));
    events[2].payload = json!({ "step": "forged" });
    events[2].hash = events[2].computed_hash();
    let forged: Vec<String> = events
        .iter()
        .map(|event| serde_json::to_string(event).unwrap_or_else(|error| panic!("{error}")))
        .collect();
    write_lines(&path, &forged);
    // The forged event is self-consistent; the next one no longer follows it.
    assert_eq!(broken_line(&path), 4);
}

#[test]
fn reopening_drops_a_line_cut_short_and_continues_the_chain() {
    let (_folder, path) = written_log(4);
    let mut text = fs::read_to_string(&path).unwrap_or_else(|error| panic!("{error}"));
    text.push_str("{\"schema\":1,\"seq\":4,\"time_ms\":");
    fs::write(&path, &text).unwrap_or_else(|error| panic!("{error}"));
    match read(&path) {
        Err(StoreError::Broken { line, reason, .. }) => {
            assert_eq!(line, 5);
            assert!(reason.contains("cut short"), "{reason}");
        }
        other => panic!("expected the torn line to be reported, got {other:?}"),
    }
    let mut events = Events::open(&path).unwrap_or_else(|error| panic!("{error}"));
    let before: Vec<Event> = (&mut events)
        .collect::<Result<_, _>>()
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(before.len(), 4);
    assert_eq!(events.events_read(), 4);
    let reopened =
        RunLog::reopen(events, Durability::Unsynced).unwrap_or_else(|error| panic!("{error}"));
    assert!(reopened.dropped_torn_line);
    let mut log = reopened.log;
    let next = log
        .append(draft(9_000, "run_resumed", json!({})))
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(next.seq, 4);
    assert_eq!(next.prev, before[3].hash);
    assert_eq!(read(&path).map(|events| events.len()).ok(), Some(5));
}

#[test]
fn a_log_in_another_format_version_is_refused_plainly() {
    let (_folder, path) = written_log(3);
    let mut changed = lines(&path);
    changed[1] = changed[1].replacen("\"schema\":1", "\"schema\":7", 1);
    write_lines(&path, &changed);
    match read(&path) {
        Err(
            error @ StoreError::Schema {
                line: 2, found: 7, ..
            },
        ) => {
            assert!(error.to_string().contains("format 7"), "{error}");
        }
        other => panic!("expected a schema error on line 2, got {other:?}"),
    } // A version with other fields gets the same error, not one about the fields.
    changed[1] = changed[1].replacen("\"seq\":", "\"lane\":3,\"seq\":", 1);
    write_lines(&path, &changed);
    assert!(
        matches!(
            read(&path),
            Err(StoreError::Schema {
                line: 2,
                found: 7,
                ..
            })
        ),
        "{:?}",
        read(&path)
    );
}

#[test]
fn a_new_log_never_overwrites_an_old_one() {
    let (_folder, path) = written_log(2);
    assert!(matches!(
        RunLog::create(&path, Durability::Unsynced),
        Err(StoreError::Io { .. })
    ));
    assert_eq!(read(&path).map(|events| events.len()).ok(), Some(2));
}

/// The stored form, frozen: a line is exactly these fields and no others, and its hash
/// is the one below. Changing either breaks every log already written.
#[test]
fn the_event_format_is_frozen() {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Mirror {
        schema: u32,
        seq: u64,
        time_ms: u64,
        kind: String,
        #[serde(default)]
        actor: Option<MirrorActor>,
        payload: serde_json::Value,
        prev: String,
        hash: String,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct MirrorActor {
        person: Option<String>,
        os_user: Option<String>,
    }

    let folder = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let path = folder.path().join("events.jsonl");
    let mut log =
        RunLog::create(&path, Durability::Unsynced).unwrap_or_else(|error| panic!("{error}"));
    log.append(Draft {
        time_ms: 1_763_700_000_000,
        kind: "step_confirmed".to_string(),
        actor: Some(Actor {
            person: Some("alice".to_string()),
            os_user: Some("ops".to_string()),
        }),
        payload: json!({ "step": "vendor_call", "values": { "ticket": "INC-42" } }),
    })
    .unwrap_or_else(|error| panic!("{error}"));
    let written = lines(&path);
    assert_eq!(
        written,
        [concat!(
            r#"{"schema":1,"seq":0,"time_ms":1763700000000,"kind":"step_confirmed","#,
            r#""actor":{"person":"alice","os_user":"ops"},"#,
            r#""payload":{"step":"vendor_call","values":{"ticket":"INC-42"}},"#,
            r#""prev":"0000000000000000000000000000000000000000000000000000000000000000","#,
            r#""hash":"HASH"}"#
        )
        .replace("HASH", FROZEN_HASH)]
    );
    for line in &written {
        serde_json::from_str::<Mirror>(line).unwrap_or_else(|error| panic!("{error}: {line}"));
    }
}

/// SHA-256 of the line without its `,"hash":...` (computed independently, with
/// Python's hashlib, so an auditor can check a log with common tools).
const FROZEN_HASH: &str = "fdf8cf14461d98c777a8bb62d5670f189acb9c41308119c557a1b4a1b44931a6";

#[test]
fn a_second_engine_is_kept_off_a_run_and_told_who_holds_it() {
    let folder = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let path = folder.path().join("lock");
    let first = RunLock::acquire(&path, 1_000).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(first.holder().pid, std::process::id());
    assert!(first.replaced.is_none());
    // This process is alive, so its lock holds against a second taker.
    match RunLock::acquire(&path, 2_000) {
        Err(error @ StoreError::Locked { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains(&std::process::id().to_string()),
                "{message}"
            );
            assert!(message.contains("since 1000"), "{message}");
        }
        other => panic!("expected the run to be locked, got {other:?}"),
    }
    drop(first);
    assert!(
        !path.exists(),
        "the lock is removed when its holder lets go"
    );
    let again = RunLock::acquire(&path, 3_000).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(again.holder().since_ms, 3_000);
}

#[test]
fn a_lock_left_by_a_dead_engine_on_this_host_is_taken_over() {
    let folder = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let path = folder.path().join("lock");
    // A child that has exited and been waited for: its pid names no live process.
    let mut child = std::process::Command::new("true")
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run `true`: {error}"));
    let dead = child.id();
    child.wait().unwrap_or_else(|error| panic!("{error}"));
    let taken = RunLock::acquire(&path, 1).unwrap_or_else(|error| panic!("{error}"));
    let host = taken.holder().host.clone();
    drop(taken);
    let left = Holder {
        host: host.clone(),
        pid: dead,
        since_ms: 5,
    };
    fs::write(&path, serde_json::to_string(&left).unwrap_or_default())
        .unwrap_or_else(|error| panic!("{error}"));
    let lock = RunLock::acquire(&path, 6).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(lock.replaced, Some(left));
    // Held by another host, the same lock would be refused: that engine may be alive.
    drop(lock);
    let elsewhere = Holder {
        host: format!("{host}-elsewhere"),
        pid: dead,
        since_ms: 7,
    };
    fs::write(&path, serde_json::to_string(&elsewhere).unwrap_or_default())
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(matches!(
        RunLock::acquire(&path, 8),
        Err(StoreError::Locked { holder, .. }) if holder == elsewhere
    ));
}

#[test]
fn a_reader_stopped_by_a_broken_line_never_reopens_the_log() {
    let (_folder, path) = written_log(4);
    let mut changed = lines(&path);
    changed[1] = changed[1].replacen("\"time_ms\":", "\"time_ms\":9", 1);
    write_lines(&path, &changed);
    let mut events = Events::open(&path).unwrap_or_else(|error| panic!("{error}"));
    // A caller that drops the error and goes on anyway...
    let read: Vec<_> = (&mut events).collect();
    assert!(read.iter().any(Result::is_err));
    // ...still cannot append after the bad line.
    match RunLog::reopen(events, Durability::Unsynced) {
        Err(StoreError::Broken { line: 2, .. }) => {}
        other => panic!("expected the log refused at line 2, got {other:?}"),
    }
}

proptest::proptest! {
    /// A probe's reading is any f64: read back from the log it must be the very same
    /// number, or the event's hash no longer matches and the log reads as tampered with
    /// (it did, for 0.9850768718801997, before serde_json's `float_roundtrip`).
    #[test]
    fn any_number_in_an_event_reads_back_exactly_and_verifies(
        values in proptest::collection::vec(proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO, 1..20)
    ) {
        let folder = tempfile::tempdir().unwrap_or_else(|error| panic!("no temp dir: {error}"));
        let path = folder.path().join("events.jsonl");
        let mut log = RunLog::create(&path, Durability::Unsynced)
            .unwrap_or_else(|error| panic!("create: {error}"));
        for (n, value) in values.iter().enumerate() {
            log.append(draft(1_000 + n as u64, "evaluated", json!({ "values": { "p": value } })))
                .unwrap_or_else(|error| panic!("append: {error}"));
        }
        let events = read(&path).unwrap_or_else(|error| panic!("{error}"));
        for (event, value) in events.iter().zip(&values) {
            proptest::prop_assert_eq!(event.payload["values"]["p"].as_f64(), Some(*value));
        }
    }
}

#[test]
fn a_reading_that_once_broke_the_chain_reads_back_and_verifies() {
    let folder = tempfile::tempdir().unwrap_or_else(|error| panic!("no temp dir: {error}"));
    let path = folder.path().join("events.jsonl");
    let mut log = RunLog::create(&path, Durability::Unsynced)
        .unwrap_or_else(|error| panic!("create: {error}"));
    log.append(draft(
        1,
        "evaluated",
        json!({ "values": { "cpu": 0.985_076_871_880_199_7 } }),
    ))
    .unwrap_or_else(|error| panic!("append: {error}"));
    let events = read(&path).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(events[0].payload["values"]["cpu"], 0.985_076_871_880_199_7);
}
