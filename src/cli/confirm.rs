use std::collections::BTreeMap;
use std::process::ExitCode;

use runbook::engine::inbox::Answer;

use super::answer::AnswerArgs;
use super::EXIT_USAGE;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    answer: AnswerArgs,
    /// A value the step records, `key=value` (repeat for several).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    values: Vec<String>,
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
    args.answer.give(Answer::Confirmed(values))
}
