//! `runbook fmt` from the command line: in place, `--check`, standard input, and the
//! files it must refuse to touch.

mod common;

use common::Test;

const MESSY: &str = "runbook \"demo\" {  title \"Demo\"   timeout 90m }\n\
role ops # the executors\n\
step install { owner ops run \"install\" rollback \"uninstall\" }\n";

const FORMATTED: &str = "runbook \"demo\" {
  title \"Demo\"
  timeout 1h30m
}

role ops  # the executors

step install {
  owner ops
  run \"install\"
  rollback \"uninstall\"
}
";

#[test]
fn rewrites_a_messy_file_in_place() {
    let output = Test::new()
        .file("plan.rbk", MESSY)
        .args(["fmt", "plan.rbk"])
        .stdout("")
        .stderr("")
        .run();
    assert_eq!(output.read("plan.rbk"), FORMATTED);
}

#[test]
fn formatting_twice_changes_nothing_the_second_time() {
    let first = Test::new()
        .file("plan.rbk", MESSY)
        .args(["fmt", "plan.rbk"])
        .run();
    let once = first.read("plan.rbk");
    let second = Test::new()
        .file("plan.rbk", &once)
        .args(["fmt", "plan.rbk"])
        .stdout("")
        .stderr("")
        .run();
    assert_eq!(second.read("plan.rbk"), once);
}

#[test]
fn check_accepts_a_formatted_file_silently() {
    Test::new()
        .file("plan.rbk", FORMATTED)
        .args(["fmt", "--check", "plan.rbk"])
        .stdout("")
        .stderr("")
        .run();
}

#[test]
fn check_prints_a_diff_and_leaves_a_messy_file_alone() {
    let output = Test::new()
        .file("plan.rbk", MESSY)
        .args(["fmt", "--check", "plan.rbk"])
        .status(1)
        .stdout_contains("--- plan.rbk\n+++ plan.rbk (formatted)\n")
        .stdout_contains("-runbook \"demo\" {  title \"Demo\"   timeout 90m }\n")
        .stdout_contains("+  timeout 1h30m\n")
        .stdout_contains("+role ops  # the executors\n")
        .stderr_contains("1 of 1 file would be reformatted")
        .run();
    assert_eq!(output.read("plan.rbk"), MESSY);
}

#[test]
fn a_dash_reads_standard_input_and_writes_standard_output() {
    Test::new()
        .args(["fmt", "-"])
        .stdin(MESSY)
        .stdout(FORMATTED)
        .stderr("")
        .run();
}

#[test]
fn crlf_line_endings_become_lf() {
    Test::new()
        .args(["fmt", "-"])
        .stdin(MESSY.replace('\n', "\r\n"))
        .stdout(FORMATTED)
        .run();
}

#[test]
fn a_file_with_a_syntax_error_is_reported_and_left_untouched() {
    let broken = "runbook \"demo\" {\n  titel \"Demo\"\n}\n";
    let output = Test::new()
        .file("plan.rbk", broken)
        .args(["fmt", "plan.rbk"])
        .status(1)
        .stdout("")
        .stderr_contains("plan.rbk: not formatted, because it does not parse")
        .run();
    assert_eq!(output.read("plan.rbk"), broken);
}

#[test]
fn one_broken_file_does_not_stop_the_others() {
    let output = Test::new()
        .file("broken.rbk", "runbook \"demo\" {\n")
        .file("plan.rbk", MESSY)
        .args(["fmt", "broken.rbk", "plan.rbk"])
        .status(1)
        .stderr_contains("broken.rbk: not formatted")
        .run();
    assert_eq!(output.read("plan.rbk"), FORMATTED);
}

#[test]
fn a_missing_file_is_a_usage_error() {
    Test::new()
        .args(["fmt", "missing.rbk"])
        .status(2)
        .stdout("")
        .stderr_contains("missing.rbk")
        .run();
}

#[test]
fn formatting_through_a_symbolic_link_rewrites_the_target_and_keeps_the_link() {
    let test = Test::new().file("real/plan.rbk", "runbook \"x\" {\n  title   \"t\"\n}\n");
    std::os::unix::fs::symlink("real/plan.rbk", test.path().join("link.rbk")).unwrap();
    let output = test.args(["fmt", "link.rbk"]).run();
    let link = output.path("link.rbk");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        output.read("real/plan.rbk"),
        "runbook \"x\" {\n  title \"t\"\n}\n"
    );
}

#[test]
fn a_formatted_file_with_crlf_endings_is_rewritten_with_lf() {
    let crlf = FORMATTED.replace('\n', "\r\n");
    Test::new()
        .file("plan.rbk", &crlf)
        .args(["fmt", "--check", "plan.rbk"])
        .status(1)
        .stdout("plan.rbk: line endings would become LF\n")
        .run();
    let output = Test::new()
        .file("plan.rbk", &crlf)
        .args(["fmt", "plan.rbk"])
        .run();
    assert_eq!(output.read("plan.rbk"), FORMATTED);
}
