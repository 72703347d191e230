//! The store: one hash-chained, append-only event log per run
//! (`STATE/runs/RUN/events.jsonl`). It knows nothing of what the events mean; the engine
//! gives them their kinds and payloads, and folds them back into a run's state.

mod error;
mod event;
mod layout;
mod lock;
mod log;

pub use error::StoreError;
pub use event::{Actor, Draft, Event, GENESIS, SCHEMA_VERSION};
pub use layout::{events_path, is_run_id, run_dir, state_dir, DEFAULT_STATE_DIR};
pub use lock::{host_name, live_holder, Holder, RunLock};
pub use log::{read, Durability, Events, Reopened, RunLog};

#[cfg(test)]
mod tests;
