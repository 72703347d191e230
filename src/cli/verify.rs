use std::process::ExitCode;

use runbook::engine::facts::Fact;
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
    match check(&path) {
        Ok(None) => {
            output::print_stdout(&format!("{}: the log is empty\n", args.run));
            ExitCode::SUCCESS
        }
        Ok(Some(checked)) => {
            let mut summary = format!(
                "{}: {} events, chain intact, from {} to {} (ms since the epoch), last hash {}\n",
                args.run, checked.count, checked.first_ms, checked.last.time_ms, checked.last.hash
            );
            let closed = matches!(
                Fact::of(&checked.last),
                Some(Fact::RunFinished { .. } | Fact::RunPaused { .. })
            );
            if !closed {
                // The chain cannot show events cut off its end: say that it ends open.
                let lock = store::run_dir(&state, &args.run).join("lock");
                let why = match store::live_holder(&lock) {
                    Some(holder) => format!(
                        "an engine (pid {} on {}) is still running it",
                        holder.pid, holder.host
                    ),
                    None => "the engine stopped without closing it (killed?), or events were cut off its end".to_string(),
                };
                summary.push_str(&format!(
                    "note: the log does not end with the run finishing or pausing: {why}\n"
                ));
            }
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

/// What a verified log holds, read one event at a time; `None` for an empty log.
struct Checked {
    count: u64,
    first_ms: u64,
    last: store::Event,
}

fn check(path: &std::path::Path) -> Result<Option<Checked>, StoreError> {
    let mut events = store::Events::open(path)?;
    let mut first_ms = None;
    let mut last = None;
    for event in &mut events {
        let event = event?;
        first_ms.get_or_insert(event.time_ms);
        last = Some(event);
    }
    events.refuse_torn()?;
    Ok(last.map(|last| Checked {
        count: events.events_read(),
        first_ms: first_ms.unwrap_or(last.time_ms),
        last,
    }))
}
