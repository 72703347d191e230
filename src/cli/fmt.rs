use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use runbook::parse;
use runbook::source::{self, SourceFile};
use similar::TextDiff;

use super::output;
use super::{EXIT_FINDINGS, EXIT_INTERNAL, EXIT_USAGE};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runbook files to format in place (`-` reads standard input, writes standard output).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Change nothing; print a diff of what would change and exit 1 if anything would.
    #[arg(long)]
    check: bool,
}

enum Verdict {
    Unchanged,
    Changed,
    Failed,
    Unreadable,
    Internal,
}

pub fn run(args: Args) -> ExitCode {
    let mut changed = 0;
    let mut failed = false;
    let mut unreadable = false;
    let mut internal = false;
    for path in &args.files {
        match format_one(path, args.check) {
            Verdict::Unchanged => {}
            Verdict::Changed => changed += 1,
            Verdict::Failed => failed = true,
            Verdict::Unreadable => unreadable = true,
            Verdict::Internal => internal = true,
        }
    }
    if args.check && changed > 0 {
        eprintln!(
            "{changed} of {} file{} would be reformatted; run `runbook fmt` to fix",
            args.files.len(),
            if args.files.len() == 1 { "" } else { "s" }
        );
    }
    if internal {
        ExitCode::from(EXIT_INTERNAL)
    } else if unreadable {
        ExitCode::from(EXIT_USAGE)
    } else if failed || (args.check && changed > 0) {
        ExitCode::from(EXIT_FINDINGS)
    } else {
        ExitCode::SUCCESS
    }
}

fn format_one(path: &Path, check: bool) -> Verdict {
    let stdin = path == Path::new("-");
    let loaded = if stdin {
        let mut bytes = Vec::new();
        if let Err(error) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes) {
            eprintln!("cannot read standard input: {error}");
            return Verdict::Unreadable;
        }
        source::from_bytes("<stdin>", bytes)
    } else {
        source::load(path)
    };
    let file = match loaded {
        Ok(file) => file,
        Err(error) => {
            eprint!("{}", output::render_input_error(&error));
            return Verdict::Unreadable;
        }
    };
    let parsed = match parse::parse(&file) {
        Ok(parsed) => parsed,
        Err(internal) => {
            eprintln!("{internal}");
            return Verdict::Internal;
        }
    };
    let runbook = match parsed.runbook {
        Some(runbook) if !parsed.diagnostics.iter().any(|d| d.is_error()) => runbook,
        _ => {
            eprint!("{}", output::render(&file, &parsed.diagnostics));
            eprintln!("{}: not formatted, because it does not parse", file.name());
            return if parsed.diagnostics.iter().any(output::is_unreadable) {
                Verdict::Unreadable
            } else {
                Verdict::Failed
            };
        }
    };
    let formatted = runbook::format::format(&file, &runbook);
    if stdin && !check {
        output::print_stdout(&formatted);
        return Verdict::Unchanged;
    }
    if formatted == file.text() && !file.normalized_line_endings() {
        return Verdict::Unchanged;
    }
    if check {
        if formatted == file.text() {
            output::print_stdout(&format!("{}: line endings would become LF\n", file.name()));
        } else {
            output::print_stdout(&diff(&file, &formatted));
        }
        return Verdict::Changed;
    }
    // Through a symbolic link, the file it points at is rewritten; the link stays.
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    match write_atomically(&target, &formatted) {
        Ok(()) => Verdict::Changed,
        Err(error) => {
            eprintln!("{}: cannot write: {error}", path.display());
            Verdict::Failed
        }
    }
}

/// A minimal diff of a large, much-changed file costs time quadratic in its length;
/// past the timeout the diff is still correct, only less minimal.
const DIFF_TIMEOUT: Duration = Duration::from_secs(1);

fn diff(file: &SourceFile, formatted: &str) -> String {
    TextDiff::configure()
        .timeout(DIFF_TIMEOUT)
        .diff_lines(file.text(), formatted)
        .unified_diff()
        .context_radius(3)
        .header(file.name(), &format!("{} (formatted)", file.name()))
        .to_string()
}

/// Writes beside the file and renames over it, so an interrupted `fmt` never leaves a
/// half-written runbook. The original's permissions are kept.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let directory = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = directory.join(format!(".{name}.fmt-{}", std::process::id()));
    let result = (|| {
        let mut out = fs::File::create(&temporary)?;
        out.write_all(text.as_bytes())?;
        out.sync_all()?;
        if let Ok(metadata) = fs::metadata(path) {
            fs::set_permissions(&temporary, metadata.permissions())?;
        }
        fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}
