//! Argument parsing and dispatch. Exit codes are part of the interface (docs/cli.md):
//! 0 clean, 1 findings at error level, 2 usage or unreadable input.

mod answer;
mod approve;
mod check;
mod codes;
mod completions;
mod confirm;
mod decide;
mod drill;
mod fmt;
mod graph;
mod launch;
mod output;
mod replay;
mod resume;
mod run;
mod skip_pause;
mod status;
mod transcript;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Runbooks as code: check a plan before anyone relies on it.
#[derive(Debug, Parser)]
#[command(
    name = "runbook",
    version,
    about = "Runbooks as code: check, format and graph operational plans",
    after_help = "Examples:\n  runbook check runbooks/*.rbk\n  runbook fmt --check runbooks/*.rbk\n  runbook graph runbooks/cloud-host-upgrade-high.rbk --format dot | dot -Tsvg > plan.svg\n\nExit codes: 0 clean, 1 findings at error level, 2 usage error or unreadable input, 70 internal error (a bug in runbook)."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check runbooks and report every finding, with its place and a fix.
    #[command(
        after_help = "Examples:\n  runbook check runbooks/*.rbk\n  runbook check --deny warnings --format json plan.rbk\n  runbook check --roster team.toml plan.rbk"
    )]
    Check(check::Args),
    /// Rewrite runbooks in the canonical layout, keeping comments.
    #[command(
        after_help = "Examples:\n  runbook fmt runbooks/*.rbk\n  runbook fmt --check runbooks/*.rbk   # in CI: print a diff, exit 1 if not formatted\n  runbook fmt - < plan.rbk              # standard input to standard output"
    )]
    Fmt(fmt::Args),
    /// Show the executable graph the engine would run.
    #[command(
        after_help = "Examples:\n  runbook graph plan.rbk\n  runbook graph plan.rbk --format dot | dot -Tsvg > plan.svg\n  runbook graph plan.rbk --format mermaid"
    )]
    Graph(graph::Args),
    /// List every diagnostic code with its severity and what it means.
    #[command(after_help = "Examples:\n  runbook codes\n  runbook codes | grep tiers")]
    Codes,
    /// Check a run's event log: every event sealed, none missing, changed or moved.
    #[command(
        after_help = "Examples:\n  runbook verify 2026-11-21-kernel-upgrade\n  runbook verify RUN --state-dir /var/lib/runbook\n\nExit codes: 0 the chain is intact, 1 it is broken (the first bad line is named), 2 no such run."
    )]
    Verify(verify::Args),
    /// Run a runbook: check it, then execute it with a log synced before every effect.
    #[command(
        after_help = "Examples:\n  runbook run runbooks/demo-upgrade.rbk\n  runbook run plan.rbk -p kernel=5.14.0-427 --as alice\n  runbook run plan.rbk --output json > events.jsonl\n\nExit codes: 0 completed, 1 failed (and rolled back as its policy says), 2 usage or check error, 3 paused or waiting for a person, 4 a rollback failed."
    )]
    Run(run::Args),
    /// Rehearse a runbook: the same engine on a virtual clock, nothing executed, faults
    /// injected (or, with --real, run for real on a staging inventory, faults injected),
    /// then the scorecard against the objectives.
    #[command(
        after_help = "Examples:\n  runbook drill runbooks/demo-upgrade.rbk\n  runbook drill plan.rbk --inject fail:install@pay-003 --probe tx_success=0.999\n  runbook drill plan.rbk --probe tx_success=0.999 --probe tx_success=0.95@2h\n  runbook drill staging.rbk --real --inject fail:install@stg-002\n\nExit codes: 0 every objective decided was met, 1 an objective was breached, 2 usage, check or drill error, 3 stopped where nobody answers, 4 a rollback failed."
    )]
    Drill(drill::Args),
    /// Continue a run after a crash, an interrupt or a pause.
    #[command(
        after_help = "Examples:\n  runbook resume 20261121-140327-kernel-upgrade\n  runbook resume RUN --accept-changes   # go on with the edited runbook\n\nExit codes: as for `run`."
    )]
    Resume(resume::Args),
    /// Run a recorded run again on the outcomes it recorded, and name the first
    /// decision that differs (with an edited runbook, where the edit bites).
    #[command(
        after_help = "Examples:\n  runbook replay 20261121-140327-kernel-upgrade\n  runbook replay RUN --against plan-edited.rbk\n  runbook replay RUN --keep /tmp/replays   # keep the replay's own log\n\nExit codes: 0 every decision reproduced, 1 a divergence (the first is shown), 2 the run cannot be replayed."
    )]
    Replay(replay::Args),
    /// Confirm a manual step a run waits for, with the values it records.
    #[command(
        after_help = "Examples:\n  runbook confirm RUN announce_window --as alice --set notice_url=https://status.example.com/1"
    )]
    Confirm(confirm::Args),
    /// Decide what becomes of a step that was interrupted or failed: retry, skip or fail.
    #[command(
        after_help = "Examples:\n  runbook decide RUN install retry --as alice\n  runbook decide RUN install skip --as alice --host web-3"
    )]
    Decide(decide::Args),
    /// Approve (or reject) what a run waits for at a gate or in a failure policy.
    #[command(
        after_help = "Examples:\n  runbook approve RUN go --as alice --reason \"backups verified\"\n  runbook approve RUN go --as bao --reject --reason \"payments are degraded\"\n  runbook approve RUN failure:severe --as alice\n\nExit codes: 0 the vote was logged, 1 it was refused (not in the roster, wrong role, a second vote, or `distinct`) or nothing waits for it, 2 no such run."
    )]
    Approve(approve::Args),
    /// End the wait between two waves of a run now.
    #[command(
        after_help = "Examples:\n  runbook skip-pause RUN --as alice --reason \"the canary is clean, the change window closes at 18:00\"\n\nExit codes: 0 logged, 1 refused (not the commander or the rollout's owner) or no pause under way, 2 no such run."
    )]
    SkipPause(skip_pause::Args),
    /// Where every run stands, or one run: its state, current step, what it waits for.
    #[command(after_help = "Examples:\n  runbook status\n  runbook status RUN")]
    Status(status::Args),
    /// A readable timeline of a run, from its verified log.
    #[command(after_help = "Examples:\n  runbook transcript RUN\n  runbook transcript RUN | less")]
    Transcript(transcript::Args),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  runbook completions bash > /etc/bash_completion.d/runbook\n  runbook completions zsh > ~/.zfunc/_runbook"
    )]
    Completions(completions::Args),
}

/// Shared by commands that check before they act.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckOptions {
    /// A roster (people and their roles) to check approvals against, instead of the
    /// runbook's own `roster`.
    #[arg(long, value_name = "FILE")]
    roster: Option<PathBuf>,
    /// Treat warnings as errors.
    #[arg(long, value_name = "LEVEL", value_enum)]
    deny: Option<Deny>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Deny {
    Warnings,
}

pub const EXIT_FINDINGS: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
/// A bug in runbook itself (sysexits' EX_SOFTWARE), never confused with a user's error.
pub const EXIT_INTERNAL: u8 = 70;

pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return match error.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(EXIT_USAGE),
            };
        }
    };
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Fmt(args) => fmt::run(args),
        Command::Graph(args) => graph::run(args),
        Command::Codes => codes::run(),
        Command::Completions(args) => completions::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Run(args) => run::run(args),
        Command::Drill(args) => drill::run(args),
        Command::Resume(args) => resume::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Confirm(args) => confirm::run(args),
        Command::Decide(args) => decide::run(args),
        Command::Approve(args) => approve::run(args),
        Command::SkipPause(args) => skip_pause::run(args),
        Command::Status(args) => status::run(args),
        Command::Transcript(args) => transcript::run(args),
    }
}

/// The CLI's definition, for completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
