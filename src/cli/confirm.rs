use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use runbook::engine::inbox::Answer;

use super::answer::{self, Given};
use super::EXIT_USAGE;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run waiting for the confirmation.
    #[arg(value_name = "RUN")]
    run: String,
    /// The manual step that is done.
    #[arg(value_name = "STEP")]
    step: String,
    /// Who confirms (logged with the OS user).
    #[arg(long = "as", value_name = "NAME")]
    person: String,
    /// A value the step records, `key=value` (repeat for several).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    values: Vec<String>,
    /// Only the step's unit on this host.
    #[arg(long, value_name = "HOST")]
    host: Option<String>,
    /// Where runs are kept; else RUNBOOK_STATE_DIR, else .runbook in this folder.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

/// Confirms a manual step, with the values it records.
pub fn run(args: Args) -> ExitCode {
    let mut values = BTreeMap::new();
    for pair in &args.values {
        let Some((key, value)) = pair.split_once('=') else {
            eprintln!("error: `--set {pair}` is not `key=value`");
            return ExitCode::from(EXIT_USAGE);
        };
        values.insert(key.trim().to_string(), value.to_string());
    }
    let state_dir = runbook::store::state_dir(args.state_dir.as_deref());
    answer::give(Given {
        state_dir: &state_dir,
        run: &args.run,
        step: &args.step,
        host: args.host.as_deref(),
        person: &args.person,
        answer: Answer::Confirmed(values),
    })
}
