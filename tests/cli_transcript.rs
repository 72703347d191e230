//! `runbook transcript RUN --format text|md|html|json`, through the binary: a run made
//! with the CLI as people would make it (a manual step confirmed, an approval with a
//! refusal, waves with a pause cut short, a host that fails, a rollback, notices,
//! objectives) shows in every format; a fixed, hash-chained log of that same run
//! (tests/cases/transcript/, made by its `generate` script) is frozen in every format
//! and in the JSON's shape; and the HTML is rendered by a real browser (Debian's
//! chromium, headless), where text from the log stays text.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::session::{finish, wait_until, Session};
use serde_json::Value;

/// The fixture's run, in tests/cases/transcript/state.
const FIXTURE_RUN: &str = "20261122-005549-patch-web";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `runbook ARGS --state-dir` the fixture's, which must exit 0: what it printed.
fn fixture(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_runbook"))
        .args(args)
        .arg("--state-dir")
        .arg(root().join("tests/cases/transcript/state"))
        .env("NO_COLOR", "1")
        .output()
        .expect("runbook runs");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    assert!(
        output.status.success(),
        "{args:?}\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn the_fixture_is_a_valid_hash_chained_log() {
    let verified = fixture(&["verify", FIXTURE_RUN]);
    assert!(verified.contains("69 events, chain intact"), "{verified}");
}

#[test]
fn every_format_of_the_fixture_is_frozen() {
    let text = fixture(&["transcript", FIXTURE_RUN]);
    assert_eq!(
        text,
        fixture(&["transcript", FIXTURE_RUN, "--format", "text"]),
        "text is the default"
    );
    insta::assert_snapshot!("fixture_text", text);
    let md = fixture(&["transcript", FIXTURE_RUN, "--format", "md"]);
    insta::assert_snapshot!("fixture_md", md);
    let html = fixture(&["transcript", FIXTURE_RUN, "--format", "html"]);
    insta::assert_snapshot!("fixture_html", html);
    let json = fixture(&["transcript", FIXTURE_RUN, "--format", "json"]);
    insta::assert_snapshot!("fixture_json", json);
}

/// Every path of the JSON with the types found there (`[]` for the items of a list,
/// `*` for the keys of a map of names): the documented shape, frozen.
#[test]
fn the_json_shape_is_frozen() {
    let json: Value =
        serde_json::from_str(&fixture(&["transcript", FIXTURE_RUN, "--format", "json"]))
            .expect("JSON");
    let mut paths = BTreeSet::new();
    shape(&json, "", &mut paths);
    let paths: Vec<String> = paths.into_iter().collect();
    insta::assert_snapshot!("json_shape", paths.join("\n"));
}

fn shape(value: &Value, path: &str, paths: &mut BTreeSet<String>) {
    let named_keys = ["params", "inventories", "values", "unreadable"]
        .iter()
        .any(|map| path.ends_with(&format!(".{map}")));
    match value {
        Value::Object(fields) if fields.is_empty() => {
            paths.insert(format!("{path}: {{}}"));
        }
        Value::Object(fields) => {
            for (key, field) in fields {
                let key = if named_keys { "*" } else { key };
                shape(field, &format!("{path}.{key}"), paths);
            }
        }
        Value::Array(items) if items.is_empty() => {
            paths.insert(format!("{path}: []"));
        }
        Value::Array(items) => {
            for item in items {
                shape(item, &format!("{path}[]"), paths);
            }
        }
        Value::Null => {
            paths.insert(format!("{path}: null"));
        }
        Value::Bool(_) => {
            paths.insert(format!("{path}: bool"));
        }
        Value::Number(_) => {
            paths.insert(format!("{path}: number"));
        }
        Value::String(_) => {
            paths.insert(format!("{path}: string"));
        }
    }
}

/// The fixture's run, made again through the CLI: the notice confirmed by dev, dev's
/// vote refused and alice's taken, the pause between the waves cut short by alice
/// after dev was refused, h3 failing in wave 2 and everything rolled back.
fn made_through_the_cli() -> (Session, String) {
    let session = Session::new();
    session
        .shipped("tests/cases/transcript/plan.rbk", "plan.rbk")
        .shipped("tests/cases/transcript/roster.toml", "roster.toml");
    session
        .runbook(&["run", "plan.rbk", "--no-wait", "--as", "dev"])
        .expect(3, "the run waits for the notice");
    let run = session.run_id();
    session
        .runbook(&[
            "confirm",
            &run,
            "notice",
            "--as",
            "dev",
            "--set",
            "url=https://status.example.com/1",
        ])
        .expect(0, "dev confirms the notice");
    session
        .runbook(&["resume", &run, "--no-wait", "--as", "dev"])
        .expect(3, "the run waits at the gate");
    session
        .runbook(&["approve", &run, "go", "--as", "dev"])
        .expect(1, "dev holds no role asked");
    session
        .runbook(&[
            "approve",
            &run,
            "go",
            "--as",
            "alice",
            "--reason",
            "notice is up",
        ])
        .expect(0, "alice approves");
    let engine = session.spawn(&["resume", &run, "--as", "dev", "--output", "plain"]);
    wait_until("the pause between the waves", || {
        session.log(&run).contains("\"kind\":\"wave_pause\"")
    });
    session
        .runbook(&["skip-pause", &run, "--as", "dev"])
        .expect(1, "only the commander cuts the pause short");
    session
        .runbook(&[
            "skip-pause",
            &run,
            "--as",
            "alice",
            "--reason",
            "canary clean",
        ])
        .expect(0, "alice cuts the pause short");
    let ended = finish(engine, Duration::from_secs(120));
    assert_eq!(
        ended.status.code(),
        Some(1),
        "h3 fails and the run is rolled back\n{}",
        String::from_utf8_lossy(&ended.stdout)
    );
    (session, run)
}

#[test]
fn a_run_made_through_the_cli_shows_in_every_format() {
    let (session, run) = made_through_the_cli();
    let transcript = |format: &str| {
        let ran = session.runbook(&["transcript", &run, "--format", format]);
        ran.expect(0, format);
        ran.stdout.clone()
    };

    let text = transcript("text");
    for said in [
        "▶ install on h3",
        "exit 1 after",
        "go: approved as commander: notice is up (by alice, OS user",
        "roll: the pause before wave 2 was cut short: canary clean (by alice",
        "↺ rollback done",
        "◎ objective rollback_start (1m) met after",
        "◎ objective alert (1m) met after",
    ] {
        assert!(text.contains(said), "text lacks {said:?}:\n{text}");
    }

    let md = transcript("md");
    for said in [
        "## Key moments",
        "| Run started | ",
        "| First failure | ",
        "| Rollback started | ",
        "| Rollback finished | ",
        "| Restored | ",
        "| Run finished | ",
        "functional failure at install on h3: command 1: exit code 1",
        "| alice | Alice Chen | commander |",
        "| bao | Bao Wang | commander, dba |",
        "alice (Alice Chen), OS user",
        "| commander | approve as commander | go | notice is up | yes |",
        "| executor | approve | go |  | **REFUSED**: ",
        "| commander | skip-pause | roll, before wave 2 | canary clean | yes |",
        "| executor | confirm: url=https://status.example.com/1 | notice |",
        "install@h3 on h3",
        "**exit 1 after",
        "| rollback\\_start | 1m | met after",
        "| restored | 5m | met after",
        "| alert | 1m | met after",
        "| ops | sms | SMS: command 1: exit code 1 | **NOT DELIVERED after 4 attempt(s)",
        "| go | `errors < 1` | errors = 0 | holds |",
        "## Post-mortem (to fill in)",
        "| Action | Owner | Due |",
        "\\<script\\>alert(1)\\</script\\> \\& friends",
    ] {
        assert!(md.contains(said), "Markdown lacks {said:?}:\n{md}");
    }

    let html = transcript("html");
    for said in [
        "<th scope=\"row\">First failure</th>",
        "<th scope=\"row\">Restored</th>",
        "alice (Alice Chen; commander), OS user",
        "<span class=\"bad\">exit 1 after",
        "<td>rollback_start</td><td>1m</td><td class=\"good\">met after",
        "<details><summary>Output: 2 lines</summary>",
        "&lt;script&gt;alert(2)&lt;/script&gt; &amp; done",
    ] {
        assert!(html.contains(said), "HTML lacks {said:?}:\n{html}");
    }
    assert!(!html.contains("<script"), "{html}");

    let json: Value = serde_json::from_str(&transcript("json")).expect("JSON");
    assert_eq!(json["schema"], 1);
    assert_eq!(json["header"]["run"], run.as_str());
    assert_eq!(json["header"]["status"], "failed");
    let moments: Vec<(&str, bool)> = json["key_moments"]
        .as_array()
        .expect("key moments")
        .iter()
        .map(|moment| {
            (
                moment["moment"].as_str().unwrap_or_default(),
                moment["at"]["time"].is_string(),
            )
        })
        .collect();
    assert_eq!(
        moments,
        [
            ("started", true),
            ("first_failure", true),
            ("rollback_started", true),
            ("rollback_finished", true),
            ("restored", true),
            ("finished", true)
        ]
    );
    let answers: Vec<(&str, &str, &str, bool)> = json["answers"]
        .as_array()
        .expect("answers")
        .iter()
        .map(|answer| {
            (
                answer["person"].as_str().unwrap_or_default(),
                answer["answer"].as_str().unwrap_or_default(),
                answer["roles"][0].as_str().unwrap_or_default(),
                answer["refused"].is_null(),
            )
        })
        .collect();
    assert_eq!(
        answers,
        [
            ("dev", "confirm", "executor", true),
            ("dev", "approve", "executor", false),
            ("alice", "approve", "commander", true),
            ("dev", "skip-pause", "executor", false),
            ("alice", "skip-pause", "commander", true),
        ]
    );
    let failed: Vec<&Value> = json["commands"]
        .as_array()
        .expect("commands")
        .iter()
        .filter(|command| command["exit"]["code"] != 0)
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["host"], "h3");
    assert_eq!(failed[0]["exit"]["code"], 1);
    // `alert` is decided when the page is delivered, beside the flow: even a delivery
    // that ends after the flow is judged, so every objective is decided.
    let mut objectives: Vec<(&str, bool)> = json["objectives"]
        .as_array()
        .expect("objectives")
        .iter()
        .map(|objective| {
            (
                objective["objective"].as_str().unwrap_or_default(),
                objective["met"] == true,
            )
        })
        .collect();
    objectives.sort_unstable();
    assert_eq!(
        objectives,
        [("alert", true), ("restored", true), ("rollback_start", true)]
    );
    let delivered: Vec<(&str, bool)> = json["notices"]
        .as_array()
        .expect("notices")
        .iter()
        .map(|notice| {
            (
                notice["channel"].as_str().unwrap_or_default(),
                notice["deliveries"]
                    .as_array()
                    .is_some_and(|deliveries| deliveries.iter().any(|d| d["ok"] == true)),
            )
        })
        .collect();
    assert_eq!(delivered, [("pager", true), ("sms", false)]);
    assert_eq!(json["postmortem"]["status"], "to fill in");
}

#[test]
fn an_unknown_format_is_a_usage_error() {
    let ran = Command::new(env!("CARGO_BIN_EXE_runbook"))
        .args(["transcript", FIXTURE_RUN, "--format", "pdf", "--state-dir"])
        .arg(root().join("tests/cases/transcript/state"))
        .output()
        .expect("runbook runs");
    assert_eq!(ran.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert!(
        stderr.contains("[possible values: text, md, html, json]"),
        "{stderr}"
    );
}

/// Debian's chromium, installed by .ci/install-chromium when it is missing.
fn chromium() -> PathBuf {
    let binary = std::env::var_os("CHROMIUM_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !binary.exists() {
        let script = root().join(".ci/install-chromium");
        let status = Command::new("bash").arg(&script).status();
        eprintln!("{}: {status:?}", script.display());
    }
    assert!(
        binary.exists(),
        "this test renders an HTML transcript in Debian's chromium, and {} is missing; \
         .ci/install-chromium could not install it (it needs root and apt-get): install \
         the `chromium` package, or set CHROMIUM_BIN",
        binary.display()
    );
    binary
}

#[test]
fn the_html_renders_in_a_real_browser_and_text_from_the_log_stays_text() {
    let chromium = chromium();
    let folder = tempfile::tempdir().expect("temporary folder");
    let page = folder.path().join("transcript.html");
    fs::write(
        &page,
        fixture(&["transcript", FIXTURE_RUN, "--format", "html"]),
    )
    .expect("write the page");
    let browser = Command::new(&chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu"])
        .arg(format!(
            "--user-data-dir={}",
            folder.path().join("profile").display()
        ))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{} does not start: {error}", chromium.display()));
    let shown = finish(browser, Duration::from_secs(120));
    let dom = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.status.success() && dom.contains("</html>"),
        "chromium could not render the page ({:?})\n--- stderr\n{}",
        shown.status,
        String::from_utf8_lossy(&shown.stderr)
    );
    // An element the page does not have would come from the log.
    assert!(!dom.to_lowercase().contains("<script"), "{dom}");
    assert_eq!(
        dom.matches("<details").count(),
        7,
        "six outputs and the source"
    );
    let text = rendered_text(&dom);
    for said in [
        "Key moments",
        "Run started 2026-11-22 00:55:49 0ms",
        "First failure 2026-11-22 00:58:30 2m41s 0ms functional failure at install on h3",
        "Rollback started 2026-11-22 00:58:30",
        "Rollback finished 2026-11-22 00:58:30",
        "Restored 2026-11-22 00:58:30",
        "Run finished 2026-11-22 00:58:44 2m55s 14s run failed",
        "Web patch <script>alert(1)</script> & friends",
        "<script>alert(2)</script> & done",
        "alice (Alice Chen; commander), OS user alice",
        "REFUSED",
        "`dev` holds `executor`, and this approval asks for `commander`",
        "rollback_start 1m met after 2ms",
    ] {
        assert!(
            text.contains(said),
            "the page does not show {said:?}:\n{text}"
        );
    }
}

/// The text of a serialised DOM's body: its tags gone (text holds `<` only as `&lt;`),
/// its references read, its blanks collapsed.
fn rendered_text(dom: &str) -> String {
    let body = dom.find("<body").map_or(dom, |start| &dom[start..]);
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
