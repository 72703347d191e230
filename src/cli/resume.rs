use std::path::{Path, PathBuf};
use std::process::ExitCode;

use runbook::engine::clock::RealClock;
use runbook::engine::{self, Resumption, Stopped};

use super::launch::{self, DriveArgs};
use super::CheckOptions;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run to continue.
    #[arg(value_name = "RUN")]
    run: String,
    /// Go on with the runbook as edited since the run started; the edit is logged.
    #[arg(long)]
    accept_changes: bool,
    #[command(flatten)]
    drive: DriveArgs,
    #[command(flatten)]
    check: CheckOptions,
}

/// Takes a stopped run up again from its log: what is done stays done.
pub fn run(args: Args) -> ExitCode {
    let state_dir = args.drive.state.dir();
    let stopped = match Stopped::open(&state_dir, &args.run, &RealClock) {
        Ok(stopped) => stopped,
        Err(error) => return launch::engine_error(&error),
    };
    let file = PathBuf::from(&stopped.started.file);
    let ready = match launch::load(&file, &args.check) {
        Ok(ready) => ready,
        Err(code) => return code,
    };
    let base_dir = file.parent().unwrap_or(Path::new("."));
    let secrets = match launch::secrets(&ready, base_dir) {
        Ok(secrets) => secrets,
        Err(code) => return code,
    };
    let fleet = match launch::fleet(&ready, base_dir, &args.drive) {
        Ok(fleet) => fleet,
        Err(code) => return code,
    };
    let resumed = engine::resume(
        stopped,
        Resumption {
            graph: ready.graph(),
            source: ready.file.text(),
            secrets,
            accept_changes: args.accept_changes,
            person: args.drive.person.clone(),
            prometheus: args.drive.prometheus(ready.graph()),
            options: args.drive.options(),
            executor: &fleet,
            replay: None,
        },
        &RealClock,
    );
    match resumed {
        Ok(ending) => launch::ending(&args.run, &ending),
        Err(error) => launch::engine_error(&error),
    }
}
