use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::error::StoreError;
use super::event::{Draft, Event, GENESIS, SCHEMA_VERSION};

/// Whether each append reaches the disk before it returns. The engine always syncs: an
/// event is on disk before the effect it announces starts. Tests and the benchmark
/// that measures the engine's own overhead may skip it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Synced,
    Unsynced,
}

/// The event log of one run, open for appending. One line per event, JSON, each sealing
/// the one before it (see `Event`).
#[derive(Debug)]
pub struct RunLog {
    path: PathBuf,
    file: File,
    durability: Durability,
    next_seq: u64,
    last_hash: String,
}

/// What `open` found in an existing log.
#[derive(Debug)]
pub struct Reopened {
    pub log: RunLog,
    pub events: Vec<Event>,
    /// A final line cut short: the engine stopped while writing it. It was never synced,
    /// so the effect it would have announced never started; it has been removed.
    pub dropped_torn_line: bool,
}

impl RunLog {
    /// Starts the log of a new run; refuses a path that already holds one.
    pub fn create(path: &Path, durability: Durability) -> Result<RunLog, StoreError> {
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(path)
            .map_err(|source| StoreError::io(path, source))?;
        if durability == Durability::Synced {
            sync_parent(path)?;
        }
        Ok(RunLog {
            path: path.to_path_buf(),
            file,
            durability,
            next_seq: 0,
            last_hash: GENESIS.to_string(),
        })
    }

    /// Opens an existing log to go on with its run: reads and verifies every event, and
    /// removes a final line the engine did not finish writing.
    pub fn open(path: &Path, durability: Durability) -> Result<Reopened, StoreError> {
        let read = read_lines(path)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|source| StoreError::io(path, source))?;
        if read.torn.is_some() {
            file.set_len(read.complete_bytes)
                .map_err(|source| StoreError::io(path, source))?;
            if durability == Durability::Synced {
                file.sync_all()
                    .map_err(|source| StoreError::io(path, source))?;
            }
        }
        file.seek(SeekFrom::End(0))
            .map_err(|source| StoreError::io(path, source))?;
        let events = check_chain(path, read.lines)?;
        let (next_seq, last_hash) = match events.last() {
            Some(last) => (last.seq + 1, last.hash.clone()),
            None => (0, GENESIS.to_string()),
        };
        Ok(Reopened {
            log: RunLog {
                path: path.to_path_buf(),
                file,
                durability,
                next_seq,
                last_hash,
            },
            events,
            dropped_torn_line: read.torn.is_some(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event and, when synced, waits until it is on disk.
    pub fn append(&mut self, draft: Draft) -> Result<Event, StoreError> {
        let event = Event::seal(draft, self.next_seq, &self.last_hash);
        self.write(std::slice::from_ref(&event))?;
        Ok(event)
    }

    /// Appends several events with one write and one sync (group commit): for events
    /// that land at once, such as a wave's hosts starting together.
    pub fn append_all(&mut self, drafts: Vec<Draft>) -> Result<Vec<Event>, StoreError> {
        let mut events: Vec<Event> = Vec::with_capacity(drafts.len());
        for draft in drafts {
            let (seq, prev) = match events.last() {
                Some(before) => (before.seq + 1, before.hash.as_str()),
                None => (self.next_seq, self.last_hash.as_str()),
            };
            let event = Event::seal(draft, seq, prev);
            events.push(event);
        }
        self.write(&events)?;
        Ok(events)
    }

    /// Writes sealed events as lines, syncs when asked, and only then moves the chain on
    /// to the last of them.
    fn write(&mut self, events: &[Event]) -> Result<(), StoreError> {
        let Some(last) = events.last() else {
            return Ok(());
        };
        let mut bytes = Vec::new();
        for event in events {
            serde_json::to_writer(&mut bytes, event)
                .map_err(|error| StoreError::io(&self.path, error.into()))?;
            bytes.push(b'\n');
        }
        self.file
            .write_all(&bytes)
            .map_err(|source| StoreError::io(&self.path, source))?;
        if self.durability == Durability::Synced {
            self.file
                .sync_data()
                .map_err(|source| StoreError::io(&self.path, source))?;
        }
        self.next_seq = last.seq + 1;
        self.last_hash = last.hash.clone();
        Ok(())
    }
}

/// Reads every event of a log and checks the chain; the first event that breaks it is
/// named in the error.
pub fn read(path: &Path) -> Result<Vec<Event>, StoreError> {
    let read = read_lines(path)?;
    if let Some(line) = read.torn {
        return Err(StoreError::Broken {
            path: path.to_path_buf(),
            line,
            reason: "the last line is cut short: the engine stopped while writing it".to_string(),
        });
    }
    check_chain(path, read.lines)
}

struct Lines {
    /// Each complete line with its line number (from 1).
    lines: Vec<(usize, String)>,
    /// Bytes up to the end of the last complete line.
    complete_bytes: u64,
    /// The number of a final line that has no newline, if any.
    torn: Option<usize>,
}

fn read_lines(path: &Path) -> Result<Lines, StoreError> {
    let file = File::open(path).map_err(|source| StoreError::io(path, source))?;
    let mut reader = BufReader::new(file);
    let mut lines = Vec::new();
    let mut complete_bytes = 0;
    let mut torn = None;
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .map_err(|source| StoreError::io(path, source))?;
        if read == 0 {
            break;
        }
        let number = lines.len() + 1;
        if buffer.last() != Some(&b'\n') {
            torn = Some(number);
            break;
        }
        complete_bytes += read as u64;
        buffer.pop();
        let text =
            String::from_utf8(std::mem::take(&mut buffer)).map_err(|_| StoreError::Broken {
                path: path.to_path_buf(),
                line: number,
                reason: "the line is not UTF-8 text".to_string(),
            })?;
        lines.push((number, text));
    }
    Ok(Lines {
        lines,
        complete_bytes,
        torn,
    })
}

/// Parses each line and checks that it continues the chain: its schema, its number,
/// its `prev` and its own hash.
fn check_chain(path: &Path, lines: Vec<(usize, String)>) -> Result<Vec<Event>, StoreError> {
    let broken = |line: usize, reason: String| StoreError::Broken {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let mut events: Vec<Event> = Vec::with_capacity(lines.len());
    for (line, text) in lines {
        let schema_error = |found| StoreError::Schema {
            path: path.to_path_buf(),
            line,
            found,
        };
        let event: Event = match serde_json::from_str(&text) {
            Ok(event) => event,
            // Another version's fields would not fit: say that, not what failed to parse.
            Err(error) => {
                return Err(match serde_json::from_str::<SchemaOnly>(&text) {
                    Ok(other) if other.schema != SCHEMA_VERSION => schema_error(other.schema),
                    _ => broken(line, format!("not an event: {error}")),
                })
            }
        };
        if event.schema != SCHEMA_VERSION {
            return Err(schema_error(event.schema));
        }
        let (expected_seq, expected_prev) = match events.last() {
            Some(before) => (before.seq + 1, before.hash.as_str()),
            None => (0, GENESIS),
        };
        if event.seq != expected_seq {
            return Err(broken(
                line,
                format!(
                    "event number {} where {expected_seq} should be: an event is missing or out of order",
                    event.seq
                ),
            ));
        }
        if event.prev != expected_prev {
            return Err(broken(
                line,
                "it does not follow the event before it (its `prev` is not that event's hash)"
                    .to_string(),
            ));
        }
        if event.hash != event.computed_hash() {
            return Err(broken(
                line,
                "its content does not match its hash: it was changed after it was written"
                    .to_string(),
            ));
        }
        events.push(event);
    }
    Ok(events)
}

/// Just enough of a line to know which format it is in, read when the line is no event
/// of this version, so that a log from another version gets that error.
#[derive(serde::Deserialize)]
struct SchemaOnly {
    schema: u32,
}

/// A new file's name is only durable once its folder is synced.
fn sync_parent(path: &Path) -> Result<(), StoreError> {
    let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    else {
        return Ok(());
    };
    File::open(parent)
        .and_then(|folder| folder.sync_all())
        .map_err(|source| StoreError::io(parent, source))
}
