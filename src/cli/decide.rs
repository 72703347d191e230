use std::process::ExitCode;

use runbook::engine::facts::Decision;
use runbook::engine::inbox::Answer;

use super::answer::AnswerArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    answer: AnswerArgs,
    /// `retry` runs it again from its first command, `skip` counts it as done, `fail`
    /// counts it as failed (its failure policy applies).
    #[arg(value_enum, value_name = "DECISION")]
    decision: Decision,
}

/// Decides what becomes of a step that was interrupted or failed.
pub fn run(args: Args) -> ExitCode {
    args.answer.give(Answer::Decided(args.decision))
}
