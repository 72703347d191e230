//! What `runbook check` tells a person about a file it cannot read as a runbook, one
//! snapshot per `rbk::input::*` code. Files are named relative to the test's directory,
//! and any mention of that directory is replaced, so the snapshots are the same on
//! every machine.

mod common;

use common::Test;

const PLAN: &str = "plan.rbk";

/// The human output of `check` on `PLAN` as `prepare` left it, which must exit 2.
fn check_output(prepare: impl FnOnce(Test) -> Test) -> String {
    let output = prepare(Test::new()).args(["check", PLAN]).status(2).run();
    let directory = output.dir.path().display().to_string();
    output.stdout.replace(&directory, "[TEMP]")
}

#[test]
fn not_found() {
    insta::assert_snapshot!(check_output(|test| test));
}

#[test]
fn is_directory() {
    insta::assert_snapshot!(check_output(|test| test.dir(PLAN)));
}

#[cfg(unix)]
#[test]
fn unreadable() {
    insta::assert_snapshot!(check_output(|test| {
        if let Err(error) = std::os::unix::net::UnixListener::bind(test.path().join(PLAN)) {
            panic!("cannot create a socket: {error}");
        }
        test
    }));
}

#[test]
fn too_large() {
    let line = "# padding, as a log passed by mistake would be\n";
    let text = line.repeat(33 * 1024 * 1024 / line.len() + 1);
    insta::assert_snapshot!(check_output(|test| test.file(PLAN, text)));
}

#[test]
fn not_utf8() {
    insta::assert_snapshot!(check_output(
        |test| test.file(PLAN, b"runbook \"mise \xe0 jour\" {\n  risk low\n}\n")
    ));
}

#[test]
fn nul_byte() {
    insta::assert_snapshot!(check_output(
        |test| test.file(PLAN, b"runbook \"x\" {\n  risk low\0\n}\n")
    ));
}

#[test]
fn line_too_long() {
    let text = format!(
        "runbook \"long\" {{\n  title \"{}\"\n}}\n",
        "a".repeat(70 * 1024)
    );
    insta::assert_snapshot!(check_output(|test| test.file(PLAN, text)));
}
