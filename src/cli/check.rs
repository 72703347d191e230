use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
use runbook::diagnostic::{self, Diagnostic};

use super::output::{self, Loaded};
use super::{CheckOptions, EXIT_FINDINGS, EXIT_INTERNAL, EXIT_USAGE};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runbook files to check (`-` for standard input).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// How to print findings; the JSON form is stable (see docs/cli.md).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    #[command(flatten)]
    options: CheckOptions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
}

pub fn run(args: Args) -> ExitCode {
    let mut errors = 0;
    let mut warnings = 0;
    let mut unreadable = false;
    let mut internal = false;
    let mut json = Vec::new();
    let mut human = String::new();
    for path in &args.files {
        let loaded = match output::load_and_check(path, &args.options) {
            Ok(loaded) => loaded,
            Err(bug) => {
                // Reported, and the other files are still checked.
                eprintln!("{}: {bug}", path.display());
                internal = true;
                continue;
            }
        };
        match loaded {
            Loaded::Unreadable(error) => {
                unreadable = true;
                errors += 1;
                match args.format {
                    Format::Human => human.push_str(&output::render_input_error(&error)),
                    Format::Json => json.push(output::input_error_json(&error)),
                }
            }
            Loaded::Checked { file, outcome } => {
                unreadable |= outcome.diagnostics.iter().any(output::is_unreadable);
                errors += outcome.diagnostics.iter().filter(|d| d.is_error()).count();
                warnings += outcome.diagnostics.iter().filter(|d| !d.is_error()).count();
                match args.format {
                    Format::Human => human.push_str(&output::render(&file, &outcome.diagnostics)),
                    Format::Json => json.extend(
                        outcome
                            .diagnostics
                            .iter()
                            .map(|finding: &Diagnostic| diagnostic::render_json(&file, finding)),
                    ),
                }
            }
        }
    }
    match args.format {
        Format::Human => {
            output::print_stdout(&human);
            output::print_stdout(&format!(
                "{}\n",
                summary(args.files.len(), errors, warnings)
            ));
        }
        Format::Json => match serde_json::to_string_pretty(&json) {
            Ok(text) => output::print_stdout(&format!("{text}\n")),
            Err(error) => {
                eprintln!("cannot write JSON: {error}");
                return ExitCode::from(EXIT_USAGE);
            }
        },
    }
    if internal {
        ExitCode::from(EXIT_INTERNAL)
    } else if unreadable {
        ExitCode::from(EXIT_USAGE)
    } else if errors > 0 {
        ExitCode::from(EXIT_FINDINGS)
    } else {
        ExitCode::SUCCESS
    }
}

fn summary(files: usize, errors: usize, warnings: usize) -> String {
    let plural = |count: usize, word: &str| {
        if count == 1 {
            format!("1 {word}")
        } else {
            format!("{count} {word}s")
        }
    };
    format!(
        "checked {}: {}, {}",
        plural(files, "file"),
        plural(errors, "error"),
        plural(warnings, "warning")
    )
}
