//! The documentation and the shipped examples stay true: examples check clean and are
//! formatted, every language.md snippet parses, and every line that seed-coverage.md
//! points at exists and says what the table claims.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::Test;
use runbook::parse;
use runbook::source::SourceFile;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A shipped file's path from the repository root, as the CLI is given it.
fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .expect("under the repository")
        .to_string_lossy()
        .into_owned()
}

fn examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(root().join("runbooks"))
        .expect("runbooks/ exists")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rbk"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "the four shipped examples exist");
    files
}

#[test]
fn shipped_examples_check_clean_even_with_warnings_denied() {
    let mut test = Test::new().args(["check", "--deny", "warnings"]);
    for entry in walk(&root().join("runbooks")) {
        let relative = relative(&entry);
        test = test.shipped(&relative);
    }
    for example in examples() {
        let relative = relative(&example);
        if relative != DEMO {
            test = test.arg(relative);
        }
    }
    test.stdout_contains("0 errors, 0 warnings").run();
}

/// The demo the README runs has no risk tier: every tier asks for a gate, and gates
/// need approvals and probes, which this engine does not run yet (its header says so).
const DEMO: &str = "runbooks/demo-upgrade.rbk";

#[test]
fn the_demo_checks_with_only_its_missing_risk_tier() {
    Test::new()
        .shipped(DEMO)
        .args(["check", DEMO])
        .stdout_contains("rbk::check::missing_risk")
        .stdout_contains("0 errors, 1 warning")
        .run();
}

#[test]
fn shipped_examples_are_formatted() {
    let mut test = Test::new().args(["fmt", "--check"]);
    for example in examples() {
        let relative = relative(&example);
        test = test.shipped(&relative).arg(relative);
    }
    test.stdout("").run();
}

#[test]
fn every_language_reference_snippet_parses() {
    let reference = fs::read_to_string(root().join("docs/language.md")).unwrap();
    let mut snippets = 0;
    for (index, snippet) in fenced(&reference, "rbk").into_iter().enumerate() {
        // A snippet shown without a header gets a minimal one, as the reference says.
        let has_header = snippet.lines().any(|line| line.starts_with("runbook "));
        let text = if has_header {
            snippet.clone()
        } else {
            format!("runbook \"snippet\" {{\n}}\n{snippet}")
        };
        let file = SourceFile::new(format!("language.md snippet {}", index + 1), text);
        let parsed = parse::parse(&file).expect("no internal error");
        let rendered = runbook::diagnostic::render_human(&file, &parsed.diagnostics, false);
        assert!(
            parsed.runbook.is_some() && parsed.diagnostics.is_empty(),
            "snippet {} of docs/language.md does not parse:\n{snippet}\n{rendered}",
            index + 1
        );
        snippets += 1;
    }
    assert!(
        snippets >= 20,
        "the reference shows an example per construct"
    );
}

#[test]
fn seed_coverage_points_at_real_lines() {
    let coverage = fs::read_to_string(root().join("docs/seed-coverage.md")).unwrap();
    let mut references = 0;
    for row in coverage.lines().filter(|line| {
        line.starts_with("| ") && (line.contains(".rbk:") || line.contains(".toml:"))
    }) {
        let cells: Vec<&str> = row.split(" | ").collect();
        let construct = cells.get(1).copied().unwrap_or("");
        let keywords: Vec<&str> = construct
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|word| word.len() >= 2)
            .collect();
        let mut lines_of_row = Vec::new();
        for reference in backticked(row)
            .into_iter()
            .filter(|code| code.contains(':'))
        {
            let Some((path, line)) = reference.rsplit_once(':') else {
                continue;
            };
            let Ok(line) = line.parse::<usize>() else {
                continue;
            };
            let text = fs::read_to_string(root().join(path))
                .unwrap_or_else(|_| panic!("seed-coverage.md names {path}, which does not exist"));
            let found = text.lines().nth(line - 1).unwrap_or_else(|| {
                panic!("seed-coverage.md points at {path}:{line}, past the end of the file")
            });
            assert!(
                !found.trim().is_empty(),
                "{path}:{line} is blank (row: {row})"
            );
            // A reference may point at the start of a block whose body holds the construct.
            let block: Vec<&str> = text.lines().skip(line - 1).take(BLOCK_LINES).collect();
            lines_of_row.push(block.join("\n"));
            references += 1;
        }
        // A "(later)" row names future work, not the construct on the line.
        let later = construct.trim_start().starts_with("(later)");
        if !later && !keywords.is_empty() && !lines_of_row.is_empty() {
            assert!(
                lines_of_row
                    .iter()
                    .any(|line| keywords.iter().any(|keyword| line.contains(keyword))),
                "no line this row points at mentions {keywords:?}; the line numbers have drifted?\nrow: {row}\nlines: {lines_of_row:#?}"
            );
        }
    }
    assert!(
        references >= 40,
        "seed-coverage.md references the examples ({references})"
    );
}

/// How far below a referenced line the construct may appear (inside the block it opens).
const BLOCK_LINES: usize = 12;

fn fenced(markdown: &str, language: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.trim() == format!("```{language}") => current = Some(String::new()),
            Some(block) if line.trim() == "```" => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    blocks
}

fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
