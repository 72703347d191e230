//! Input that is not a runbook at all: every command refuses it with a stable code, a
//! help line and exit status 2, and never panics or overflows the stack (the `Test`
//! builder fails any run whose stderr says "panicked at").

mod common;

#[path = "../benches/support/generate.rs"]
mod generate;

use std::process::Command;

use common::Test;
use serde_json::Value;

const PLAN: &str = "plan.rbk";

/// Exit status for usage errors and input that is not a runbook.
const NOT_A_RUNBOOK: i32 = 2;

/// `check` names the code and says how to fix it; `fmt` and `graph` refuse the same
/// input the same way. `prepare` puts the bad input at `PLAN` in a fresh directory.
fn refused_by_every_command(prepare: impl Fn(Test) -> Test, code: &str) {
    prepare(Test::new())
        .args(["check", PLAN])
        .status(NOT_A_RUNBOOK)
        .stdout_contains(code)
        .stdout_contains("help:")
        .run();
    for command in ["fmt", "graph"] {
        prepare(Test::new())
            .args([command, PLAN])
            .status(NOT_A_RUNBOOK)
            .stderr_contains(code)
            .stderr_contains("help:")
            .run();
    }
}

/// A file at `PLAN` holding `contents`.
fn plan(contents: impl AsRef<[u8]> + Clone) -> impl Fn(Test) -> Test {
    move |test| test.file(PLAN, contents.clone())
}

/// The findings `check --format json` prints, which must be a JSON array.
fn json_findings(prepare: impl Fn(Test) -> Test) -> Vec<Value> {
    let output = prepare(Test::new())
        .args(["check", "--format", "json", PLAN])
        .status(NOT_A_RUNBOOK)
        .run();
    match serde_json::from_str(&output.stdout) {
        Ok(Value::Array(findings)) => findings,
        other => panic!("check --format json printed {other:?}:\n{}", output.stdout),
    }
}

fn nested(opening: &str, levels: usize, closing: &str) -> String {
    format!("{}x{}", opening.repeat(levels), closing.repeat(levels))
}

#[test]
fn a_missing_file() {
    refused_by_every_command(|test| test, "rbk::input::not_found");
}

#[test]
fn a_directory() {
    refused_by_every_command(|test| test.dir(PLAN), "rbk::input::is_directory");
}

#[cfg(unix)]
#[test]
fn a_socket() {
    refused_by_every_command(
        |test| {
            // The socket file stays after the listener is dropped; opening it still fails.
            if let Err(error) = std::os::unix::net::UnixListener::bind(test.path().join(PLAN)) {
                panic!("cannot create a socket: {error}");
            }
            test
        },
        "rbk::input::unreadable",
    );
}

#[test]
fn an_empty_file() {
    refused_by_every_command(plan(""), "rbk::parse::empty");
}

#[test]
fn a_file_of_blank_lines_and_comments() {
    refused_by_every_command(plan("\n  \n# nothing yet\n\t\n"), "rbk::parse::empty");
}

#[test]
fn bytes_that_are_not_utf8() {
    let latin1 = b"runbook \"mise \xe0 jour\" {\n  risk low\n}\n".to_vec();
    refused_by_every_command(plan(latin1.clone()), "rbk::input::not_utf8");

    let findings = json_findings(plan(latin1));
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let finding = &findings[0];
    assert_eq!(finding["code"], "rbk::input::not_utf8");
    assert_eq!(finding["file"], PLAN);
    assert_eq!(finding["line"], 1);
    assert_eq!(finding["column"], 15);
    assert!(finding["help"].is_string(), "{finding:#?}");
}

#[test]
fn a_nul_byte() {
    refused_by_every_command(
        plan(b"runbook \"x\" {\n  risk low\0\n}\n".to_vec()),
        "rbk::input::nul_byte",
    );
}

#[test]
fn a_binary_file() {
    let image: Vec<u8> = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    refused_by_every_command(plan(image), "rbk::input::nul_byte");
}

#[test]
fn a_50_mib_file() {
    let step = "step s {\n  owner ops\n  run \"true\"\n  rollback \"true\"\n}\n";
    let text = step.repeat(50 * 1024 * 1024 / step.len() + 1);
    refused_by_every_command(plan(text), "rbk::input::too_large");
}

#[test]
fn a_1_mib_line() {
    let text = format!(
        "runbook \"long\" {{\n  title \"{}\"\n}}\n",
        "a".repeat(1024 * 1024)
    );
    refused_by_every_command(plan(text), "rbk::input::line_too_long");
}

#[test]
fn ten_thousand_nested_blocks() {
    let text = format!(
        "runbook \"deep\" {{\n  risk low\n}}\n\n{}{}",
        "step a {\n".repeat(10_000),
        "}\n".repeat(10_000)
    );
    refused_by_every_command(plan(text), "rbk::parse::too_deep");
}

#[test]
fn ten_thousand_unclosed_blocks() {
    let text = format!(
        "runbook \"deep\" {{\n  risk low\n}}\n\n{}",
        "step a {\n".repeat(10_000)
    );
    refused_by_every_command(plan(text), "rbk::parse::too_deep");
}

#[test]
fn ten_thousand_nested_parentheses_in_a_condition() {
    let text = format!(
        "runbook \"deep\" {{\n  risk low\n}}\n\ngate g {{\n  require {}\n}}\n",
        nested("(", 10_000, ")")
    );
    refused_by_every_command(plan(text.clone()), "rbk::parse::too_deep");

    let findings = json_findings(plan(text));
    let finding = &findings[0];
    assert_eq!(finding["code"], "rbk::parse::too_deep");
    assert_eq!(finding["file"], PLAN);
    assert_eq!(finding["line"], 6);
    // The gate's brace is level 1, so the 32nd parenthesis, after `  require `, is 33.
    assert_eq!(finding["column"], 42);
    assert!(finding["help"].is_string(), "{finding:#?}");
}

#[test]
fn ten_thousand_nested_square_brackets() {
    let text = format!(
        "runbook \"deep\" {{\n  risk low\n}}\n\nwaves w {{\n  stages {}\n}}\n",
        nested("[", 10_000, "]")
    );
    refused_by_every_command(plan(text), "rbk::parse::too_deep");
}

/// Far larger than anyone writes, but within the limits: it must be checked, not
/// refused. Whether it has findings is the checker's business.
#[test]
fn twenty_thousand_steps_are_checked_not_refused() {
    let test = Test::new().file(PLAN, generate::runbook(20_000));
    let output = Command::new(env!("CARGO_BIN_EXE_runbook"))
        .args(["check", PLAN])
        .current_dir(test.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("runbook binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let context = format!("status: {}\n{stdout}\n{stderr}", output.status);
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "expected a verdict, not a refusal or a crash\n{context}"
    );
    assert!(!stderr.contains("panicked at"), "{context}");
    assert!(stdout.contains("checked 1 file"), "{context}");
}
