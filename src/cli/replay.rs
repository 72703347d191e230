use std::path::{Path, PathBuf};
use std::process::ExitCode;

use runbook::engine::report::OutputMode;
use runbook::replay::{self, Recording, Replay, Runbook};
use runbook::source::SourceFile;

use super::launch::{self, StateArg};
use super::{output, CheckOptions, EXIT_FINDINGS, EXIT_USAGE};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The recorded run to replay.
    #[arg(value_name = "RUN")]
    run: String,
    /// Replay it with this runbook (an edited version) instead of the one it recorded:
    /// the report names the first decision the edit changes.
    #[arg(long, value_name = "FILE")]
    against: Option<PathBuf>,
    /// Keep the replay's own run (a normal log, marked `replay_of`) in this state
    /// folder, to read with `runbook transcript`; else it is removed.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    #[command(flatten)]
    state: StateArg,
    #[command(flatten)]
    check: CheckOptions,
}

/// Runs a recorded run again, deterministically, on the outcomes it recorded, and
/// says whether the replay made every decision the run made. Exit 0 when it did, 1 at
/// the first divergence, 2 when the run cannot be replayed.
pub fn run(args: Args) -> ExitCode {
    let path = match launch::existing_log(&args.state.dir(), &args.run) {
        Ok(path) => path,
        Err(code) => return code,
    };
    let events = match runbook::store::read(&path) {
        Ok(events) => events,
        Err(error) => {
            return unreplayable(
                &format!("the log does not verify: {error}"),
                &format!("`runbook verify {}` names the first bad event", args.run),
            )
        }
    };
    let recording = match Recording::of(events) {
        Ok(recording) => recording,
        Err(error) => {
            return unreplayable(
                &error.to_string(),
                "a replay needs a whole log from this build",
            )
        }
    };
    // The runbook of each engine of the run: the edited file for all, or the recorded
    // source and each edit a resume accepted.
    let readies = match &args.against {
        Some(file) => launch::load(file, &args.check).map(|ready| vec![ready]),
        None => recorded_runbooks(&recording, &args.check),
    };
    let readies = match readies {
        Ok(readies) => readies,
        Err(code) => return code,
    };
    let temporary;
    let state_dir: &Path = match &args.keep {
        Some(dir) => dir,
        None => match tempfile::Builder::new().prefix("runbook-replay-").tempdir() {
            Ok(dir) => {
                temporary = dir;
                temporary.path()
            }
            Err(error) => {
                return unreplayable(
                    &format!("cannot make a folder for the replay: {error}"),
                    "free some space in the temporary folder, or give one with --keep DIR",
                )
            }
        },
    };
    let file = args
        .against
        .clone()
        .unwrap_or_else(|| PathBuf::from(&recording.started.file));
    let mut runbooks: Vec<Runbook<'_>> = Vec::new();
    let mut taken = readies.iter();
    for segment in &recording.segments {
        let next = if runbooks.is_empty() || segment.accepted_source.is_some() {
            taken.next()
        } else {
            None
        };
        let runbook = match (next, runbooks.last()) {
            (Some(ready), _) => Runbook {
                graph: ready.graph(),
                source: ready.file.text(),
            },
            (None, Some(previous)) => *previous,
            (None, None) => break,
        };
        runbooks.push(runbook);
    }
    let replay = Replay {
        recording: &recording,
        runbooks,
        file: &file,
        state_dir,
        output: OutputMode::Quiet,
    };
    let replay_id = match replay::run(&replay) {
        Ok((run_id, _)) => run_id,
        Err(error) => return launch::engine_error(&error),
    };
    let replayed = match runbook::store::read(&runbook::store::events_path(state_dir, &replay_id)) {
        Ok(events) => events,
        Err(error) => return launch::engine_error(&error.into()),
    };
    let comparison = replay::compare(&recording.events, &replayed);
    // Both logs go with the process, which ends now: freeing a hundred thousand events
    // one by one would take longer than comparing them did.
    drop(replay);
    std::mem::forget(replayed);
    std::mem::forget(recording);
    let against = args.against.as_ref().map(|file| file.display().to_string());
    output::print_stdout(&comparison.render(&args.run, against.as_deref()));
    if args.keep.is_some() {
        eprintln!(
            "the replay's run is {replay_id}, kept in {}",
            state_dir.display()
        );
    }
    if comparison.divergence.is_some() {
        output::coded_error(
            replay::codes::DIVERGED,
            "the replay parted from the run",
            "the decision above is where the runbook (or this build) now does otherwise",
        );
        return ExitCode::from(EXIT_FINDINGS);
    }
    ExitCode::SUCCESS
}

/// The runbook as the run recorded it, then each edit a resume accepted, checked
/// again beside the recorded file's folder (where its roster and inventories were);
/// the hosts and roster the replay uses are the recorded ones.
fn recorded_runbooks(
    recording: &Recording,
    check: &CheckOptions,
) -> Result<Vec<launch::Ready>, ExitCode> {
    let started = &recording.started;
    let base_dir = Path::new(&started.file).parent().map(Path::to_path_buf);
    std::iter::once(&started.source)
        .chain(
            recording
                .segments
                .iter()
                .filter_map(|segment| segment.accepted_source.as_ref()),
        )
        .map(|source| {
            let file = SourceFile::new(started.file.clone(), source.clone());
            match output::check_loaded(file, base_dir.clone(), check) {
                Ok((file, outcome)) => launch::ready(file, outcome),
                Err(internal) => {
                    eprintln!("internal error: {internal}");
                    Err(ExitCode::from(super::EXIT_INTERNAL))
                }
            }
        })
        .collect()
}

fn unreplayable(message: &str, help: &str) -> ExitCode {
    output::coded_error(replay::codes::UNREPLAYABLE, message, help);
    ExitCode::from(EXIT_USAGE)
}
