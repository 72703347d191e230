use std::process::ExitCode;

use clap_complete::Shell;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to generate completions for.
    shell: Shell,
}

pub fn run(args: Args) -> ExitCode {
    let mut command = super::command();
    clap_complete::generate(args.shell, &mut command, "runbook", &mut std::io::stdout());
    ExitCode::SUCCESS
}
