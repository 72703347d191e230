//! The `runbook` command line. Each subcommand lives in its own file under src/cli/.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::run()
}
