use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;

use super::output::{self, Loaded};
use super::{CheckOptions, EXIT_FINDINGS, EXIT_INTERNAL, EXIT_USAGE};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The runbook to compile (`-` for standard input).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    options: CheckOptions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Dot,
    Mermaid,
    Json,
}

pub fn run(args: Args) -> ExitCode {
    let (file, outcome) = match output::load_and_check(&args.file, &args.options) {
        Ok(Loaded::Checked { file, outcome }) => (file, outcome),
        Ok(Loaded::Unreadable(error)) => {
            eprint!("{}", output::render_input_error(&error));
            return ExitCode::from(EXIT_USAGE);
        }
        Err(internal) => {
            eprintln!("{internal}");
            return ExitCode::from(EXIT_INTERNAL);
        }
    };
    let Some(graph) = outcome.graph() else {
        eprint!("{}", output::render(&file, &outcome.diagnostics));
        eprintln!("the graph is compiled only from a runbook that checks without errors");
        let unreadable = outcome.diagnostics.iter().any(output::is_unreadable);
        return ExitCode::from(if unreadable {
            EXIT_USAGE
        } else {
            EXIT_FINDINGS
        });
    };
    if !outcome.diagnostics.is_empty() {
        eprint!("{}", output::render(&file, &outcome.diagnostics));
    }
    let text = match args.format {
        Format::Text => graph.to_text(),
        Format::Dot => graph.to_dot(),
        Format::Mermaid => graph.to_mermaid(),
        Format::Json => match serde_json::to_string_pretty(&graph) {
            Ok(json) => json + "\n",
            Err(error) => {
                eprintln!("cannot write JSON: {error}");
                return ExitCode::from(EXIT_USAGE);
            }
        },
    };
    output::print_stdout(&text);
    ExitCode::SUCCESS
}
