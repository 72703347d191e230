use std::process::ExitCode;

use runbook::store;
use runbook::transcript;

use super::launch::{self, StateArg};
use super::output;
use super::EXIT_FINDINGS;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run to show.
    #[arg(value_name = "RUN")]
    run: String,
    #[command(flatten)]
    state: StateArg,
}

/// A readable timeline of a run, from its verified log: who started it from which
/// runbook, then every step, command, answer, failure and rollback, to the minute.
pub fn run(args: Args) -> ExitCode {
    let path = match launch::existing_log(&args.state.dir(), &args.run) {
        Ok(path) => path,
        Err(code) => return code,
    };
    match store::read(&path) {
        Ok(events) => {
            output::print_stdout(&transcript::render(&events));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!(
                "error: the log does not verify, so no transcript is made from it: {error}\n  help: `runbook verify {}` names the first bad event",
                args.run
            );
            ExitCode::from(EXIT_FINDINGS)
        }
    }
}
