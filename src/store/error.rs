use std::path::{Path, PathBuf};

/// What can go wrong with a run's stored log. A broken chain names the first line that
/// breaks it, which is what an auditor needs to look at.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}, line {line}: {reason}", path.display())]
    Broken {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error(
        "{}, line {line}: written in event format {found}, and this runbook reads format {}",
        path.display(),
        super::event::SCHEMA_VERSION
    )]
    Schema {
        path: PathBuf,
        line: usize,
        found: u32,
    },
    #[error("{}: not a lock file ({reason}); if no engine is working on this run, remove it", path.display())]
    BadLock { path: PathBuf, reason: String },
    #[error(
        "{}: the run is held by the engine with pid {} on {} since {} (ms since the epoch); wait for it to stop, or stop it",
        path.display(), holder.pid, holder.host, holder.since_ms
    )]
    Locked {
        path: PathBuf,
        holder: super::lock::Holder,
    },
}

impl StoreError {
    pub(super) fn io(path: &Path, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
