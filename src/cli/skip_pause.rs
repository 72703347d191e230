use std::process::ExitCode;

use runbook::engine::inbox::Answer;

use super::answer::{self, Given};
use super::launch::StateArg;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run pausing between two waves.
    #[arg(value_name = "RUN")]
    run: String,
    /// Who ends the pause: someone holding the commander's role or the rollout's owner
    /// in the run's roster (logged with the OS user).
    #[arg(long = "as", value_name = "NAME")]
    person: String,
    /// Why, for the log and the transcript.
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    #[command(flatten)]
    state: StateArg,
}

/// Ends the wait between two waves now.
pub fn run(args: Args) -> ExitCode {
    answer::give(Given {
        state_dir: &args.state.dir(),
        run: &args.run,
        step: "",
        host: None,
        person: &args.person,
        answer: Answer::SkipPause {
            reason: args.reason.clone(),
        },
    })
}
