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

/// An existing log, read to its end and open again for appending.
#[derive(Debug)]
pub struct Reopened {
    pub log: RunLog,
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

    /// Opens an existing log to go on with its run, once its events have been read
    /// (and so verified) to the end: removes a final line the engine did not finish
    /// writing, and continues the chain after the last event. Whatever the reader has
    /// not read yet is read first.
    pub fn reopen(mut events: Events, durability: Durability) -> Result<Reopened, StoreError> {
        for event in &mut events {
            event?;
        }
        // A reader that stopped at a bad line (its error already handed to the caller)
        // never continues that log.
        if let Some(line) = events.failed_at {
            return Err(events.broken(
                line,
                "the log does not verify from this line on; nothing is added after it".to_string(),
            ));
        }
        let path = events.path;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|source| StoreError::io(&path, source))?;
        if events.torn.is_some() {
            file.set_len(events.complete_bytes)
                .map_err(|source| StoreError::io(&path, source))?;
            if durability == Durability::Synced {
                file.sync_all()
                    .map_err(|source| StoreError::io(&path, source))?;
            }
        }
        file.seek(SeekFrom::End(0))
            .map_err(|source| StoreError::io(&path, source))?;
        Ok(Reopened {
            log: RunLog {
                path,
                file,
                durability,
                next_seq: events.next_seq,
                last_hash: events.last_hash,
            },
            dropped_torn_line: events.torn.is_some(),
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
    let mut events = Events::open(path)?;
    let all = (&mut events).collect::<Result<Vec<Event>, StoreError>>()?;
    events.refuse_torn()?;
    Ok(all)
}

/// A log's events one at a time, each checked against the one before it: its schema,
/// its number, its `prev` and its own hash. Only the last event's hash is kept, so
/// reading a long log takes memory for one line, not for the log.
///
/// A final line without its newline (the engine stopped while writing it) ends the
/// events without an error; `refuse_torn` turns it into one for readers that expect a
/// finished log, and `RunLog::reopen` removes it.
#[derive(Debug)]
pub struct Events {
    path: PathBuf,
    reader: BufReader<File>,
    buffer: Vec<u8>,
    /// The number of the next line, from 1.
    line: usize,
    next_seq: u64,
    last_hash: String,
    /// Bytes up to the end of the last complete line.
    complete_bytes: u64,
    /// The number of a final line that has no newline, once reached.
    torn: Option<usize>,
    /// Set at the end or after an error: nothing more is read.
    finished: bool,
    /// The line whose error ended the reading, if one did.
    failed_at: Option<usize>,
}

impl Events {
    pub fn open(path: &Path) -> Result<Events, StoreError> {
        let file = File::open(path).map_err(|source| StoreError::io(path, source))?;
        Ok(Events {
            path: path.to_path_buf(),
            reader: BufReader::new(file),
            buffer: Vec::new(),
            line: 1,
            next_seq: 0,
            last_hash: GENESIS.to_string(),
            complete_bytes: 0,
            torn: None,
            finished: false,
            failed_at: None,
        })
    }

    /// The number of events read so far.
    pub fn events_read(&self) -> u64 {
        self.next_seq
    }

    /// An error if the log ended in a line cut short.
    pub fn refuse_torn(&self) -> Result<(), StoreError> {
        match self.torn {
            Some(line) => Err(StoreError::Broken {
                path: self.path.clone(),
                line,
                reason: "the last line is cut short: the engine stopped while writing it"
                    .to_string(),
            }),
            None => Ok(()),
        }
    }

    fn next_event(&mut self) -> Result<Option<Event>, StoreError> {
        self.buffer.clear();
        let read = self
            .reader
            .read_until(b'\n', &mut self.buffer)
            .map_err(|source| StoreError::io(&self.path, source))?;
        if read == 0 {
            return Ok(None);
        }
        let line = self.line;
        if self.buffer.last() != Some(&b'\n') {
            self.torn = Some(line);
            return Ok(None);
        }
        self.buffer.pop();
        let text = std::str::from_utf8(&self.buffer)
            .map_err(|_| self.broken(line, "the line is not UTF-8 text".to_string()))?;
        let event = self.check(line, text)?;
        self.line += 1;
        self.complete_bytes += read as u64;
        self.next_seq = event.seq + 1;
        self.last_hash.clone_from(&event.hash);
        Ok(Some(event))
    }

    /// Parses one line and checks that it continues the chain.
    fn check(&self, line: usize, text: &str) -> Result<Event, StoreError> {
        let schema_error = |found| StoreError::Schema {
            path: self.path.clone(),
            line,
            found,
        };
        let event: Event = match serde_json::from_str(text) {
            Ok(event) => event,
            // Another version's fields would not fit: say that, not what failed to parse.
            Err(error) => {
                return Err(match serde_json::from_str::<SchemaOnly>(text) {
                    Ok(other) if other.schema != SCHEMA_VERSION => schema_error(other.schema),
                    _ => self.broken(line, format!("not an event: {error}")),
                })
            }
        };
        if event.schema != SCHEMA_VERSION {
            return Err(schema_error(event.schema));
        }
        if event.seq != self.next_seq {
            return Err(self.broken(
                line,
                format!(
                    "event number {} where {} should be: an event is missing or out of order",
                    event.seq, self.next_seq
                ),
            ));
        }
        if event.prev != self.last_hash {
            return Err(self.broken(
                line,
                "it does not follow the event before it (its `prev` is not that event's hash)"
                    .to_string(),
            ));
        }
        if event.hash != event.computed_hash() {
            return Err(self.broken(
                line,
                "its content does not match its hash: it was changed after it was written"
                    .to_string(),
            ));
        }
        Ok(event)
    }

    fn broken(&self, line: usize, reason: String) -> StoreError {
        StoreError::Broken {
            path: self.path.clone(),
            line,
            reason,
        }
    }
}

impl Iterator for Events {
    type Item = Result<Event, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let next = self.next_event().transpose();
        if !matches!(next, Some(Ok(_))) {
            self.finished = true;
        }
        if matches!(next, Some(Err(_))) {
            self.failed_at = Some(self.line);
        }
        next
    }
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
