use std::path::PathBuf;
use std::process::ExitCode;

use runbook::engine::facts::Need;
use runbook::engine::history::History;
use runbook::engine::report::timestamp;
use runbook::engine::status_word;
use runbook::store;

use super::output;
use super::EXIT_USAGE;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// One run to show in full; without it, every run in one line each.
    #[arg(value_name = "RUN")]
    run: Option<String>,
    /// Where runs are kept; else RUNBOOK_STATE_DIR, else .runbook in this folder.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

/// Where every run stands, or one run in detail: its state, its current step, and
/// what (and whom) it waits for.
pub fn run(args: Args) -> ExitCode {
    let state_dir = store::state_dir(args.state_dir.as_deref());
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
    if !store::is_run_id(run) || !store::events_path(state_dir, run).is_file() {
        eprintln!(
            "error[rbk::run::no_such_run]: no run `{run}` in {}\n  help: `runbook status` lists the runs",
            state_dir.display()
        );
        return ExitCode::from(EXIT_USAGE);
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
            };
            text.push_str(&format!("waits    {unit}: {how}\n"));
        }
    }
    output::print_stdout(&text);
    ExitCode::SUCCESS
}

/// A run's state in a few words, and its history when the log could be read.
fn describe(state_dir: &std::path::Path, run: &str) -> (String, Option<History>) {
    let events = match store::read(&store::events_path(state_dir, run)) {
        Ok(events) => events,
        Err(error) => {
            return (
                format!("log unreadable ({error}): `runbook verify {run}`"),
                None,
            )
        }
    };
    let history = match History::fold(&events) {
        Ok(history) => history,
        Err(error) => return (format!("log unreadable: {error}"), None),
    };
    let locked = store::run_dir(state_dir, run).join("lock").exists();
    let state = if let Some(status) = history.finished {
        status_word(status).to_string()
    } else if let Some(reason) = &history.paused {
        format!("paused: {reason}")
    } else if locked {
        "running".to_string()
    } else {
        "stopped without closing (the engine died?): `runbook resume` goes on".to_string()
    };
    (state, Some(history))
}
