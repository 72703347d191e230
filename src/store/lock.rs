use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::StoreError;

/// Who holds a run: the engine working on it, so that a second one stays off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holder {
    pub host: String,
    pub pid: u32,
    /// Milliseconds since the Unix epoch, by the holding engine's clock.
    pub since_ms: u64,
}

/// The lock file of a run, held while this value lives and removed when it is dropped.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    holder: Holder,
    /// The holder whose lock was taken over: an engine on this host that is gone.
    pub replaced: Option<Holder>,
}

impl RunLock {
    /// Takes the run's lock for this process. A lock left by an engine that died on
    /// this host (its process is gone) is taken over and reported in `replaced`; a lock
    /// held by a live engine, or by one on another host, is refused with its holder.
    pub fn acquire(path: &Path, since_ms: u64) -> Result<RunLock, StoreError> {
        let holder = Holder {
            host: host_name(),
            pid: std::process::id(),
            since_ms,
        };
        match write_new(path, &holder) {
            Ok(()) => Ok(RunLock {
                path: path.to_path_buf(),
                holder,
                replaced: None,
            }),
            Err(error) if error.kind() == ErrorKind::AlreadyExists => {
                let current = read_holder(path)?;
                if current.host != holder.host || process_is_alive(current.pid) {
                    return Err(StoreError::Locked {
                        path: path.to_path_buf(),
                        holder: current,
                    });
                }
                fs::remove_file(path).map_err(|source| StoreError::io(path, source))?;
                write_new(path, &holder).map_err(|source| StoreError::io(path, source))?;
                Ok(RunLock {
                    path: path.to_path_buf(),
                    holder,
                    replaced: Some(current),
                })
            }
            Err(source) => Err(StoreError::io(path, source)),
        }
    }

    pub fn holder(&self) -> &Holder {
        &self.holder
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Only our own lock is removed: never one another engine took over meanwhile.
        if read_holder(&self.path).is_ok_and(|current| current == self.holder) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// The engine holding a run, if one does: a lock left by an engine that died on this
/// host holds nothing.
pub fn live_holder(path: &Path) -> Option<Holder> {
    let holder = read_holder(path).ok()?;
    (holder.host != host_name() || process_is_alive(holder.pid)).then_some(holder)
}

/// Creates the lock file only if there is none (atomic on local file systems), with
/// the holder in it, synced.
fn write_new(path: &Path, holder: &Holder) -> std::io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    let text = serde_json::to_string(holder).map_err(std::io::Error::other)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

fn read_holder(path: &Path) -> Result<Holder, StoreError> {
    let text = fs::read_to_string(path).map_err(|source| StoreError::io(path, source))?;
    serde_json::from_str(&text).map_err(|error| StoreError::BadLock {
        path: path.to_path_buf(),
        reason: error.to_string(),
    })
}

/// The machine's name, to tell a lock left on this host from one held elsewhere.
pub fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown-host".to_string())
}

/// Whether a process with this id runs on this host. Where that cannot be known (no
/// `/proc`), the process is taken to be alive, so a lock is never taken over wrongly.
fn process_is_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}
