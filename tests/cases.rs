//! Tests as data: every `tests/cases/<stage>/*.rbk` is run through the pipeline and
//! its output (rendered diagnostics, or the compiled graph) is compared with a snapshot.
//! To add a case, drop a file in the right folder and run
//! `INSTA_UPDATE=always cargo test --test cases`, then read the new snapshot.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use runbook::diagnostic::render_human;
use runbook::pipeline::{check_source, Options};
use runbook::source::{self, SourceFile};

/// Loads a case with a stable name (the file name, not the machine's path).
fn load(path: &Path) -> SourceFile {
    let bytes = fs::read(path).expect("case file is readable");
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    match source::from_bytes(&name, bytes) {
        Ok(file) => file,
        Err(error) => panic!("case {name} is not loadable: {error}"),
    }
}

fn options(path: &Path) -> Options {
    Options {
        base_dir: path.parent().map(Path::to_path_buf),
        ..Options::default()
    }
}

/// The diagnostics as a person sees them, plus the verdict.
fn diagnostics_report(path: &Path) -> String {
    let file = load(path);
    let outcome = check_source(&file, &options(path)).expect("no internal error");
    let mut report = render_human(&file, &outcome.diagnostics, false);
    let errors = outcome.diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = outcome.diagnostics.len() - errors;
    report.push_str(&format!("-- {errors} error(s), {warnings} warning(s)\n"));
    report
}

#[test]
fn parse_cases() {
    insta::glob!("cases/parse/*.rbk", |path| {
        insta::assert_snapshot!(diagnostics_report(path));
    });
}

#[test]
fn check_cases() {
    insta::glob!("cases/check/*.rbk", |path| {
        insta::assert_snapshot!(diagnostics_report(path));
    });
}

/// The one check case with a side file too large to keep in the repository: it is
/// written into a temporary folder, as its case file would be in tests/cases/check.
#[test]
fn check_case_ship_too_large() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let plan = dir.path().join("ship-too-large.rbk");
    fs::write(
        &plan,
        r#"runbook "warehouse-seed" {
  title "Seed the reporting warehouse"
}

# A database dump is a payload, not a script: a step should fetch it on the host.
ship "seed/warehouse.dump"

step list "List what the seed data holds" {
  readonly
  run "pg_restore --list seed/warehouse.dump"
}
"#,
    )
    .expect("write the case");
    fs::create_dir(dir.path().join("seed")).expect("create the seed folder");
    let dump = fs::File::create(dir.path().join("seed/warehouse.dump")).expect("create the dump");
    dump.set_len(runbook::check::MAX_SHIPPED_BYTES + 1)
        .expect("size the dump");
    insta::assert_snapshot!(diagnostics_report(&plan));
}

#[test]
fn graph_cases() {
    insta::glob!("cases/graph/*.rbk", |path| {
        let file = load(path);
        let outcome = check_source(&file, &options(path)).expect("no internal error");
        let report = match outcome.graph() {
            Some(graph) => graph.to_text(),
            None => format!(
                "does not check clean:\n{}",
                render_human(&file, &outcome.diagnostics, false)
            ),
        };
        insta::assert_snapshot!(report);
    });
}

/// Every code in every stage's catalogue appears in at least one snapshot, so no
/// diagnostic ships without a case that shows it.
#[test]
fn every_code_has_a_case() {
    let mut seen = String::new();
    collect_snapshots(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .as_path(),
        &mut seen,
    );
    // A code counts where a finding shows it (miette's header line, `error[code]`, or
    // JSON's `"code"`), not where some help text merely mentions it.
    let shown: BTreeSet<&str> = seen
        .lines()
        .map(str::trim)
        .filter_map(|line| {
            line.strip_prefix("error[")
                .and_then(|rest| rest.split(']').next())
                .or_else(|| {
                    line.strip_prefix("\"code\": \"")
                        .and_then(|rest| rest.split('"').next())
                })
                .or(Some(line))
        })
        .collect();
    let missing: BTreeSet<&str> = runbook::all_codes()
        .iter()
        .map(|code| code.as_str())
        .filter(|code| !shown.contains(code))
        .collect();
    assert!(
        missing.is_empty(),
        "these codes have no case in any snapshot under tests/: {missing:#?}"
    );
}

fn collect_snapshots(dir: &Path, into: &mut String) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_snapshots(&path, into);
        } else if path.extension().is_some_and(|ext| ext == "snap") {
            into.push_str(&fs::read_to_string(&path).unwrap_or_default());
        }
    }
}
