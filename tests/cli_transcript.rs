//! `runbook transcript RUN --format text|md|html|json`, through the binary: a run made
//! with the CLI as people would make it (a manual step confirmed, an approval with a
//! refusal, waves with a pause cut short, a host that fails, a rollback, notices,
//! objectives) shows in every format; a fixed, hash-chained log of that same run
//! (tests/cases/transcript/, made by its `generate` script) is frozen in every format
//! and in the JSON's shape; a shipped drill started at a fixed time (`--start`) writes
//! the same Markdown and HTML every time, frozen but for the machine's name, the OS user
//! and its folder; and the HTML is rendered by a real browser (Debian's chromium,
//! headless), where text from the log stays text.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::session::{finish, wait_until, Session};
use common::{Output, Test};
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
        [
            ("alert", true),
            ("restored", true),
            ("rollback_start", true)
        ]
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

/// The DOM that headless chromium makes of an HTML page, serialised.
fn dom_in_chromium(html: &str) -> String {
    let chromium = chromium();
    let folder = tempfile::tempdir().expect("temporary folder");
    let page = folder.path().join("transcript.html");
    fs::write(&page, html).expect("write the page");
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
    let dom = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(
        shown.status.success() && dom.contains("</html>"),
        "chromium could not render the page ({:?})\n--- stderr\n{}",
        shown.status,
        String::from_utf8_lossy(&shown.stderr)
    );
    dom
}

#[test]
fn the_html_renders_in_a_real_browser_and_text_from_the_log_stays_text() {
    let dom = dom_in_chromium(&fixture(&["transcript", FIXTURE_RUN, "--format", "html"]));
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

/// The shipped drill of the low-risk plan (a host's check fails; it alone is restored
/// from its snapshot), started at a fixed time, so that it writes the same log, and so
/// the same transcripts, every time.
const DRILL: &str = "runbooks/drills/low-functional.drill.toml";
const DRILL_START: &str = "2026-03-01T02:00:00Z";
const DRILL_RUN: &str = "20260301-020000-cloud-host-upgrade-low";

/// Runs the drill from the repository's files (the scenario, its runbook, the
/// runbook's inventory and roster) in a folder of its own, its state in `state`.
fn fixed_drill() -> Output {
    Test::new()
        .shipped(DRILL)
        .shipped("runbooks/cloud-host-upgrade-low.rbk")
        .shipped("runbooks/inventory/internal-tools.txt")
        .shipped("runbooks/roster.toml")
        .args(["drill", DRILL, "--start", DRILL_START])
        .args(["--state-dir", "state", "--output", "quiet"])
        .stdout_contains(format!(
            "drill {DRILL_RUN}: 2h2s of virtual time, completed"
        ))
        .run()
}

/// `runbook ARGS --state-dir` the drill's, which must exit 0: what it printed.
fn of_the_drill(drill: &Output, args: &[&str]) -> String {
    Test::new()
        .args(args.iter().copied())
        .arg("--state-dir")
        .arg(drill.path("state").to_str().expect("a UTF-8 path"))
        .run()
        .stdout
}

/// Snapshot settings hiding what differs from one machine to the next, and nothing
/// else: the machine's name, the OS user, and the drill's folder, which the log holds
/// in the runbook's absolute path (so the chain's last hash differs with it too).
fn machine_neutral(drill: &Output) -> insta::Settings {
    let folder = drill.dir.path().canonicalize().expect("the drill's folder");
    let folder = folder.to_str().expect("a UTF-8 path");
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex::escape(folder), "[folder]");
    // Markdown prose escapes what it would read as markup (the timeline's `_`, `~`...).
    settings.add_filter(&regex::escape(&markdown_escaped(folder)), "[folder]");
    settings.add_filter(r"(last hash (?:`|<code>))[0-9a-f]{64}", "${1}[hash]");
    settings.add_filter(r"(\| Machine \| )[^|]+( \|)", "${1}[machine]${2}");
    settings.add_filter(
        r#"(<th scope="row">Machine</th><td>)[^<]+(</td>)"#,
        "${1}[machine]${2}",
    );
    settings.add_filter(r"(OS user )[^\s|<]+", "${1}[os-user]");
    // The first key moment: `run RUN started by USER on MACHINE` (no `--as`).
    settings.add_filter(
        r"(run \S+ started by )[^\s|<]+( on )[^\s|<]+",
        "${1}[os-user]${2}[machine]",
    );
    settings
}

/// `value` as the Markdown format writes text: each character it escapes, escaped.
fn markdown_escaped(value: &str) -> String {
    value
        .chars()
        .flat_map(|c| {
            let escaped = "\\`*_[]<>|~&!".contains(c);
            escaped.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

#[test]
fn a_fixed_drill_has_golden_markdown_and_html_transcripts() {
    let drill = fixed_drill();
    let verified = of_the_drill(&drill, &["verify", DRILL_RUN]);
    assert!(verified.contains("chain intact"), "{verified}");
    let md = of_the_drill(&drill, &["transcript", DRILL_RUN, "--format", "md"]);
    let html = of_the_drill(&drill, &["transcript", DRILL_RUN, "--format", "html"]);
    machine_neutral(&drill).bind(|| {
        insta::assert_snapshot!("drill_md", md);
        insta::assert_snapshot!("drill_html", html);
    });
}

#[test]
fn a_fixed_drills_page_shows_the_drill_its_objectives_and_its_rollback() {
    let drill = fixed_drill();
    let html = of_the_drill(&drill, &["transcript", DRILL_RUN, "--format", "html"]);
    let dom = dom_in_chromium(&html);
    assert!(!dom.to_lowercase().contains("<script"), "{dom}");
    let text = rendered_text(&dom);
    for said in [
        "Drill: 云主机安全补丁 — 内部工具 / Security patch for internal tools",
        "Drill yes : simulated on a virtual clock; injected fail:basic_check@tools-wiki-01",
        "Started 2026-03-01 02:00:00 UTC",
        "Objectives Objective Limit Result Decided at (UTC) \
         rollback_start 5m met after 0s 2026-03-01 02:03:10 \
         restored 10m met after 1s 2026-03-01 02:03:11",
        "Rollback started 2026-03-01 02:03:10 3m10s 0ms rollback (hosts) of 1 unit(s)",
        "Restored 2026-03-01 02:03:11 3m11s 1s the rollback finished well",
        "↺ undo apply on tools-wiki-01",
        "#41: rollback:apply@tools-wiki-01 on tools-wiki-01",
        "↺ rollback done",
    ] {
        assert!(
            text.contains(said),
            "the page does not show {said:?}:\n{text}"
        );
    }
}

/// A plan that only looks, whose drill ends at once: its run id is the drill's start,
/// to the second.
const QUICK: &str = "runbook \"quick\" { }\nstep hello {\n  readonly\n  run \"echo hello\"\n}\n";

#[test]
fn a_drill_starts_at_the_time_given_and_the_command_line_wins_over_the_scenario() {
    let drill = |args: &[&str], run: &str| {
        Test::new()
            .file("plan.rbk", QUICK)
            .file(
                "quick.drill.toml",
                "runbook = \"plan.rbk\"\nstart = \"2026-03-01T02:00:00Z\"\n",
            )
            .args(["drill", "--state-dir", "state", "--output", "quiet"])
            .args(args.iter().copied())
            .stdout_contains(format!("drill {run}: "))
            .run()
    };
    let ran = drill(
        &["plan.rbk", "--start", "2026-03-01T02:00:00Z"],
        "20260301-020000-quick",
    );
    let log = ran.read("state/runs/20260301-020000-quick/events.jsonl");
    let first: Value = serde_json::from_str(log.lines().next().expect("an event")).expect("JSON");
    assert_eq!(first["time_ms"], 1_772_330_400_000_u64, "{first}");
    drill(&["quick.drill.toml"], "20260301-020000-quick");
    drill(
        &["quick.drill.toml", "--start", "2027-01-02T03:04:05.678Z"],
        "20270102-030405-quick",
    );
}

#[test]
fn a_start_that_is_not_an_rfc_3339_time_in_utc_is_a_usage_error() {
    for (given, why) in [
        ("2026-03-01", "timestamp format is invalid"),
        ("2026-03-01T02:00:00+01:00", "timestamp format is invalid"),
        ("2026-02-30T02:00:00Z", "numeric component is out of range"),
    ] {
        Test::new()
            .file("plan.rbk", QUICK)
            .args(["drill", "plan.rbk", "--start", given])
            .status(2)
            .stdout("")
            .stderr(format!(
                "error[rbk::drill::bad_drill]: `{given}` is not a start time in RFC 3339 and UTC: {why}\n  help: e.g. --start 2026-03-01T02:00:00Z\n"
            ))
            .run();
    }
}
