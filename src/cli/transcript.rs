use std::path::PathBuf;
use std::process::ExitCode;

use runbook::store;
use runbook::transcript;

use super::output;
use super::{EXIT_FINDINGS, EXIT_USAGE};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run to show.
    #[arg(value_name = "RUN")]
    run: String,
    /// Where runs are kept; else RUNBOOK_STATE_DIR, else .runbook in this folder.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

/// A readable timeline of a run, from its verified log: who started it from which
/// runbook, then every step, command, answer, failure and rollback, to the minute.
pub fn run(args: Args) -> ExitCode {
    let state_dir = store::state_dir(args.state_dir.as_deref());
    let path = store::events_path(&state_dir, &args.run);
    if !store::is_run_id(&args.run) || !path.is_file() {
        eprintln!(
            "error[rbk::run::no_such_run]: no run `{}` in {}\n  help: `runbook status` lists the runs",
            args.run,
            state_dir.display()
        );
        return ExitCode::from(EXIT_USAGE);
    }
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
