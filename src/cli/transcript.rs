use std::process::ExitCode;

use runbook::store;
use runbook::transcript::{self, Format};

use super::launch::{self, StateArg};
use super::output;
use super::EXIT_FINDINGS;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run to show.
    #[arg(value_name = "RUN")]
    run: String,
    /// How to write it: `text` for a terminal, `md` (GitHub-flavoured Markdown), `html`
    /// (one self-contained page, to read or print) or `json` (a stable shape, for tools).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    state: StateArg,
}

/// A run as its verified log tells it: who started it from which runbook, the key
/// moments, then every step, command, answer, failure and rollback, with the probe
/// values, objectives, notices and a post-mortem to fill in (text shows the timeline).
pub fn run(args: Args) -> ExitCode {
    let path = match launch::existing_log(&args.state.dir(), &args.run) {
        Ok(path) => path,
        Err(code) => return code,
    };
    match store::read(&path) {
        Ok(events) => {
            output::print_stdout(&transcript::render_as(&events, args.format));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!(
                "error: the log does not verify, so no transcript is made from it: {error}\n  help: `runbook verify {}` names the first bad event",
                args.run
            );
            ExitCode::from(EXIT_FINDINGS)
        }
    }
}
