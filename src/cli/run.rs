use std::path::{Path, PathBuf};
use std::process::ExitCode;

use runbook::engine::clock::RealClock;
use runbook::engine::{self, Launch};

use super::launch::{self, DriveArgs};
use super::CheckOptions;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The runbook to run.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// A parameter's value, `name=value` (repeat for several).
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Print the run's transcript when it ends.
    #[arg(long)]
    transcript: bool,
    #[command(flatten)]
    drive: DriveArgs,
    #[command(flatten)]
    check: CheckOptions,
}

/// Checks the runbook, then runs it with a new run id under STATE/runs.
pub fn run(args: Args) -> ExitCode {
    let ready = match launch::load(&args.file, &args.check) {
        Ok(ready) => ready,
        Err(code) => return code,
    };
    let params = match launch::params(&ready, &args.params) {
        Ok(params) => params,
        Err(code) => return code,
    };
    let base_dir = args.file.parent().unwrap_or(Path::new("."));
    let secrets = match launch::secrets(&ready, base_dir) {
        Ok(secrets) => secrets,
        Err(code) => return code,
    };
    let fleet = match launch::fleet(&ready, base_dir, &args.drive) {
        Ok(fleet) => fleet,
        Err(code) => return code,
    };
    let state_dir = args.drive.state.dir();
    let started = engine::start(
        Launch {
            graph: ready.graph(),
            source: ready.file.text(),
            file: &args.file,
            state_dir: &state_dir,
            params,
            secrets,
            inventories: ready.outcome.context().host_lists(),
            roster: launch::roster(&ready),
            person: args.drive.person.clone(),
            prometheus: args.drive.prometheus(ready.graph()),
            options: args.drive.options(),
            executor: &fleet,
            replay: None,
            drill: None,
        },
        &RealClock,
    );
    match started {
        Ok((run_id, ending)) => {
            if args.transcript {
                launch::print_transcript(&state_dir, &run_id);
            }
            launch::ending(&run_id, &ending)
        }
        Err(error) => launch::engine_error(&error),
    }
}
