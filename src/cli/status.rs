use std::process::ExitCode;

use runbook::engine::facts::Need;
use runbook::engine::history::History;
use runbook::engine::report::timestamp;
use runbook::engine::{fold_log, status_word, EngineError};
use runbook::store;

use super::launch::{self, StateArg};
use super::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// One run to show in full; without it, every run in one line each.
    #[arg(value_name = "RUN")]
    run: Option<String>,
    #[command(flatten)]
    state: StateArg,
}

/// Where every run stands, or one run in detail: its state, its current step, and
/// what (and whom) it waits for.
pub fn run(args: Args) -> ExitCode {
    let state_dir = args.state.dir();
    match &args.run {
        Some(run) => one(&state_dir, run),
        None => all(&state_dir),
    }
}

fn all(state_dir: &std::path::Path) -> ExitCode {
    let mut runs: Vec<String> = std::fs::read_dir(state_dir.join("runs"))
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok())
                .filter(|entry| entry.path().join("events.jsonl").is_file())
                .filter_map(|entry| entry.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    runs.sort();
    if runs.is_empty() {
        output::print_stdout(&format!("no runs in {}\n", state_dir.display()));
        return ExitCode::SUCCESS;
    }
    let mut text = String::new();
    for run in runs {
        let (state, _) = describe(state_dir, &run);
        text.push_str(&format!("{run}  {state}\n"));
    }
    output::print_stdout(&text);
    ExitCode::SUCCESS
}

fn one(state_dir: &std::path::Path, run: &str) -> ExitCode {
    if let Err(code) = launch::existing_log(state_dir, run) {
        return code;
    }
    let (state, history) = describe(state_dir, run);
    let mut text = format!("run      {run}\nstate    {state}\n");
    if let Some(history) = history {
        if let Some(started) = &history.started {
            text.push_str(&format!(
                "runbook  {} ({})\nstarted  {} on {}\n",
                started.runbook,
                started.file,
                timestamp(history.started_ms),
                started.machine
            ));
        }
        if let Some(current) = &history.current {
            text.push_str(&format!("current  {current}\n"));
        }
        text.push_str(&format!(
            "done     {} unit(s); {} event(s), the last at {}\n",
            history.completed.len(),
            history.events,
            timestamp(history.last_time_ms)
        ));
        let mut waiting: Vec<(&str, Need)> = history.waiting().collect();
        waiting.sort();
        for (unit, need) in waiting {
            let record = history.unit(unit).cloned().unwrap_or_default();
            let host = record
                .host
                .as_deref()
                .map(|host| format!(" --host {host}"))
                .unwrap_or_default();
            let how = match need {
                Need::Confirmation => format!(
                    "runbook confirm {run} {}{host} --as NAME [--set key=value]",
                    record.node
                ),
                Need::Decision => format!(
                    "runbook decide {run} {}{host} retry|skip|fail --as NAME",
                    record.node
                ),
                Need::Approval => {
                    let asked = history
                        .approvals
                        .get(unit)
                        .map(|approval| {
                            let until = approval
                                .deadline_ms()
                                .map(|deadline| format!(", until {}", timestamp(deadline)))
                                .unwrap_or_default();
                            format!("{}{until}: ", approval.describe())
                        })
                        .unwrap_or_default();
                    format!(
                        "{asked}runbook approve {run} {} --as NAME [--reject] [--reason TEXT]",
                        record.node
                    )
                }
                Need::SkipPause => continue,
            };
            text.push_str(&format!("waits    {unit}: {how}\n"));
        }
        if let Some(failure) = history.clocks.failure_ms {
            text.push_str(&format!(
                "failure  first at {}: the objectives' clocks run from here\n",
                timestamp(failure)
            ));
        }
        for (objective, (met, after)) in &history.clocks.decided {
            let after = after
                .map(|after| format!(" after {}", runbook::ast::duration_text(after)))
                .unwrap_or_default();
            let word = if *met { "met" } else { "BREACHED" };
            text.push_str(&format!("goal     {objective}: {word}{after}\n"));
        }
        if let Some(pause) = history.pause.as_ref().filter(|pause| !pause.skipped) {
            text.push_str(&format!(
                "pauses   {}: until {} before wave {}: runbook skip-pause {run} --as NAME [--reason TEXT]\n",
                pause.waves,
                timestamp(pause.until_ms),
                pause.index + 1
            ));
        }
    }
    output::print_stdout(&text);
    ExitCode::SUCCESS
}

/// A run's state in a few words, and its history when the log could be read.
fn describe(state_dir: &std::path::Path, run: &str) -> (String, Option<History>) {
    let history = match store::Events::open(&store::events_path(state_dir, run))
        .map_err(EngineError::from)
        .and_then(|mut events| {
            let history = fold_log(&mut events)?;
            events.refuse_torn()?;
            Ok(history)
        }) {
        Ok(history) => history,
        Err(error) => {
            return (
                format!("log unreadable ({error}): `runbook verify {run}`"),
                None,
            )
        }
    };
    let holder = store::live_holder(&store::run_dir(state_dir, run).join("lock"));
    let state = if let Some(status) = history.finished {
        status_word(status).to_string()
    } else if let Some(reason) = &history.paused {
        format!("paused: {reason}")
    } else if let Some(holder) = holder {
        format!("running (engine pid {} on {})", holder.pid, holder.host)
    } else {
        "stopped without closing (the engine died?): `runbook resume` goes on".to_string()
    };
    (state, Some(history))
}
