use std::process::ExitCode;

use runbook::store::{self, StoreError};

use super::launch::StateArg;
use super::{output, EXIT_FINDINGS, EXIT_USAGE};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run whose log to check (its folder name under STATE/runs).
    #[arg(value_name = "RUN")]
    run: String,
    #[command(flatten)]
    state: StateArg,
}

/// Checks a run's hash chain from its first event to its last: exit 0 when it is
/// intact, 1 when it is broken (naming the first bad line), 2 when there is no such run.
pub fn run(args: Args) -> ExitCode {
    if !store::is_run_id(&args.run) {
        eprintln!(
            "error: `{}` is not a run id: run ids are folder names of letters, digits, `-`, `_` and `.`",
            args.run
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let state = args.state.dir();
    let path = store::events_path(&state, &args.run);
    if !path.is_file() {
        eprintln!(
            "error: no run `{}` in {} (no {})\n  help: each run is a folder in STATE/runs; give the state folder with --state-dir",
            args.run,
            state.display(),
            path.display()
        );
        return ExitCode::from(EXIT_USAGE);
    }
    match store::read(&path) {
        Ok(events) => {
            let summary = match (events.first(), events.last()) {
                (Some(first), Some(last)) => format!(
                    "{}: {} events, chain intact, from {} to {} (ms since the epoch), last hash {}\n",
                    args.run,
                    events.len(),
                    first.time_ms,
                    last.time_ms,
                    last.hash
                ),
                _ => format!("{}: the log is empty\n", args.run),
            };
            output::print_stdout(&summary);
            ExitCode::SUCCESS
        }
        Err(error @ (StoreError::Broken { .. } | StoreError::Schema { .. })) => {
            output::print_stdout(&format!("{}: NOT VERIFIED: {error}\n", args.run));
            ExitCode::from(EXIT_FINDINGS)
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
