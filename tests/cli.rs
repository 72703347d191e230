//! The command line as a user meets it: arguments, files, output and exit status.

mod common;

use common::Test;

const CLEAN: &str = r#"runbook "restart-agent" {
  title "Restart the metrics agent"
  risk low
}

role ops "On-call operations"

probe agent_up = command "systemctl is-active --quiet metrics-agent && echo 1 || echo 0"

gate healthy "Agent answers before we touch it" {
  require agent_up == 1
}

step restart "Restart the agent" {
  owner ops
  run "systemctl restart metrics-agent"
  rollback "systemctl start metrics-agent"
}

on failure functional {
  rollback step
}
"#;

const SYNTAX_ERROR: &str = "runbook \"typo\" {\n  risk low\n}\n\nstep a {\n  timeout 5\n}\n";

#[test]
fn check_clean_file_exits_zero_with_a_summary() {
    Test::new()
        .file("restart.rbk", CLEAN)
        .args(["check", "restart.rbk"])
        .stdout("checked 1 file: 0 errors, 0 warnings\n")
        .run();
}

#[test]
fn check_reports_findings_and_exits_one() {
    Test::new()
        .file("typo.rbk", SYNTAX_ERROR)
        .args(["check", "typo.rbk"])
        .status(1)
        .stdout_contains("rbk::parse::syntax")
        .stdout_contains("expected a duration such as `30m`, found `5`")
        .stdout_contains("typo.rbk:6:11")
        .stdout_contains("checked 1 file: 1 error, 0 warnings")
        .run();
}

#[test]
fn check_json_shape_is_frozen() {
    let output = Test::new()
        .file("typo.rbk", SYNTAX_ERROR)
        .args(["check", "--format", "json", "typo.rbk"])
        .status(1)
        .run();
    let json: serde_json::Value = serde_json::from_str(&output.stdout).expect("valid JSON");
    insta::assert_json_snapshot!(json);
}

#[test]
fn check_json_of_a_clean_file_is_an_empty_list() {
    Test::new()
        .file("restart.rbk", CLEAN)
        .args(["check", "--format", "json", "restart.rbk"])
        .stdout("[]\n")
        .run();
}

#[test]
fn check_many_files_reports_each_and_unreadable_wins() {
    Test::new()
        .file("restart.rbk", CLEAN)
        .file("typo.rbk", SYNTAX_ERROR)
        .args(["check", "restart.rbk", "typo.rbk", "missing.rbk"])
        .status(2)
        .stdout_contains("rbk::parse::syntax")
        .stdout_contains("rbk::input::not_found")
        .stdout_contains("checked 3 files: 2 errors, 0 warnings")
        .run();
}

#[test]
fn check_reads_standard_input() {
    Test::new()
        .stdin(CLEAN)
        .args(["check", "-"])
        .stdout("checked 1 file: 0 errors, 0 warnings\n")
        .run();
}

#[test]
fn check_without_files_is_a_usage_error() {
    Test::new()
        .args(["check"])
        .status(2)
        .stderr_contains("Usage")
        .run();
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    Test::new()
        .args(["chekc"])
        .status(2)
        .stderr_contains("unrecognized subcommand")
        .run();
}

#[test]
fn help_shows_examples_and_exit_codes() {
    Test::new()
        .args(["--help"])
        .stdout_contains("Examples:")
        .stdout_contains("runbook check runbooks/*.rbk")
        .stdout_contains("Exit codes")
        .run();
    Test::new()
        .args(["check", "--help"])
        .stdout_contains("--deny")
        .stdout_contains("--format")
        .stdout_contains("Examples:")
        .run();
}

#[test]
fn completions_are_generated_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let output = Test::new().args(["completions", shell]).run();
        assert!(
            output.stdout.contains("runbook"),
            "{shell}: {}",
            output.stdout
        );
    }
    Test::new()
        .args(["completions", "tcsh"])
        .status(2)
        .stderr_contains("invalid value")
        .run();
}

#[test]
fn graph_refuses_a_runbook_with_errors() {
    Test::new()
        .file("typo.rbk", SYNTAX_ERROR)
        .args(["graph", "typo.rbk"])
        .status(1)
        .stderr_contains("rbk::parse::syntax")
        .stderr_contains("only from a runbook that checks without errors")
        .run();
}

#[test]
fn graph_of_a_missing_file_is_a_usage_error() {
    Test::new()
        .args(["graph", "nowhere.rbk"])
        .status(2)
        .stderr_contains("rbk::input::not_found")
        .run();
}

/// `readonly` with `irreversible` is contradictory: a warning, not an error.
const ONE_WARNING: &str = r#"runbook "status" {
  title "Show the agent status"
}

step status "Show the agent status" {
  readonly
  irreversible "nothing to undo"
  run "systemctl status metrics-agent"
}
"#;

#[test]
fn deny_warnings_blocks_the_graph_as_it_fails_the_check() {
    Test::new()
        .file("status.rbk", ONE_WARNING)
        .args(["graph", "status.rbk"])
        .stderr_contains("rbk::check::contradictory_settings")
        .stdout_contains("step status")
        .run();
    Test::new()
        .file("status.rbk", ONE_WARNING)
        .args(["check", "--deny", "warnings", "status.rbk"])
        .status(1)
        .stdout_contains("checked 1 file: 1 error, 0 warnings")
        .run();
    Test::new()
        .file("status.rbk", ONE_WARNING)
        .args(["graph", "--deny", "warnings", "status.rbk"])
        .status(1)
        .stdout("")
        .stderr_contains("only from a runbook that checks without errors")
        .run();
}

#[test]
fn standard_input_reads_no_file_relative_to_the_working_directory() {
    let runbook = CLEAN.replace(
        "role ops \"On-call operations\"",
        "role ops \"On-call operations\"\ninventory web from \"hosts.txt\"",
    );
    // A file that would be invalid as an inventory: were it read, check would fail.
    Test::new()
        .file("hosts.txt", "DB_PASSWORD = hunter2\n")
        .stdin(runbook)
        .args(["check", "-"])
        .stdout("checked 1 file: 0 errors, 0 warnings\n")
        .run();
}

#[test]
fn line_numbers_agree_whatever_the_line_endings() {
    for ending in ["\r\n", "\r"] {
        let file = SYNTAX_ERROR.replace('\n', ending);
        let human = Test::new()
            .file("typo.rbk", &file)
            .args(["check", "typo.rbk"])
            .status(1)
            .stdout_contains("typo.rbk:6:11")
            .run();
        assert!(!human.stdout.contains('\r'), "{ending:?}: {}", human.stdout);
        Test::new()
            .file("typo.rbk", &file)
            .args(["check", "--format", "json", "typo.rbk"])
            .status(1)
            .stdout_contains("\"line\": 6")
            .stdout_contains("\"column\": 11")
            .run();
    }
}

#[test]
fn codes_lists_the_whole_catalogue_with_severities() {
    let output = Test::new().args(["codes"]).run();
    let lines: Vec<&str> = output.stdout.lines().collect();
    assert_eq!(lines.len(), runbook::all_codes().len());
    assert!(output
        .stdout
        .lines()
        .any(|line| line.starts_with("rbk::check::missing_rollback") && line.contains("error")));
    assert!(output
        .stdout
        .lines()
        .any(|line| line.starts_with("rbk::check::missing_risk") && line.contains("warning")));
}
