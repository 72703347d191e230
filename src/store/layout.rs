use std::path::{Path, PathBuf};

/// Where runs are kept when neither `--state-dir` nor `RUNBOOK_STATE_DIR` says.
pub const DEFAULT_STATE_DIR: &str = ".runbook";

/// The state folder: the one given, else `RUNBOOK_STATE_DIR`, else `.runbook` in the
/// working directory.
pub fn state_dir(given: Option<&Path>) -> PathBuf {
    given
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("RUNBOOK_STATE_DIR").map(PathBuf::from))
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR))
}

/// Whether `run` can name a run: a single plain folder name, so that no run id reaches
/// outside `STATE/runs`.
pub fn is_run_id(run: &str) -> bool {
    !run.is_empty()
        && run.len() <= 128
        && run != "."
        && run != ".."
        && run
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The folder of one run.
pub fn run_dir(state: &Path, run: &str) -> PathBuf {
    state.join("runs").join(run)
}

/// The event log of one run: `STATE/runs/RUN/events.jsonl`.
pub fn events_path(state: &Path, run: &str) -> PathBuf {
    run_dir(state, run).join("events.jsonl")
}
