use std::path::PathBuf;
use std::process::ExitCode;

use runbook::engine::facts::Decision;
use runbook::engine::inbox::Answer;

use super::answer::{self, Given};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run waiting for the decision.
    #[arg(value_name = "RUN")]
    run: String,
    /// The step it is about.
    #[arg(value_name = "STEP")]
    step: String,
    /// `retry` runs it again from its first command, `skip` counts it as done, `fail`
    /// counts it as failed (its failure policy applies).
    #[arg(value_enum, value_name = "DECISION")]
    decision: Decision,
    /// Who decides (logged with the OS user).
    #[arg(long = "as", value_name = "NAME")]
    person: String,
    /// Only the step's unit on this host.
    #[arg(long, value_name = "HOST")]
    host: Option<String>,
    /// Where runs are kept; else RUNBOOK_STATE_DIR, else .runbook in this folder.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

/// Decides what becomes of a step that was interrupted or failed.
pub fn run(args: Args) -> ExitCode {
    let state_dir = runbook::store::state_dir(args.state_dir.as_deref());
    answer::give(Given {
        state_dir: &state_dir,
        run: &args.run,
        step: &args.step,
        host: args.host.as_deref(),
        person: &args.person,
        answer: Answer::Decided(args.decision),
    })
}
