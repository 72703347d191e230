use std::process::ExitCode;

use runbook::engine::inbox::Answer;

use super::answer::{self, Given};
use super::launch::StateArg;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run waiting for the approval.
    #[arg(value_name = "RUN")]
    run: String,
    /// The gate, or `failure:CLASS` for a failure policy's approval (`runbook status`
    /// names it).
    #[arg(value_name = "GATE")]
    gate: String,
    /// Who votes, as the run's roster names them (logged with the OS user).
    #[arg(long = "as", value_name = "NAME")]
    person: String,
    /// Vote against: one rejection rejects the approval.
    #[arg(long)]
    reject: bool,
    /// Why, for the log and the transcript.
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    #[command(flatten)]
    state: StateArg,
}

/// Votes on an approval a run waits for.
pub fn run(args: Args) -> ExitCode {
    answer::give(Given {
        state_dir: &args.state.dir(),
        run: &args.run,
        step: &args.gate,
        host: None,
        person: &args.person,
        answer: Answer::Voted {
            approve: !args.reject,
            reason: args.reason.clone(),
        },
    })
}
