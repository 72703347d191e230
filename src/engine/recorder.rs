//! The one place events are written: each fact is applied to the run's state, shown to
//! the person watching, and appended to the log. Facts that announce an effect are
//! committed (written and synced) before the effect starts; the others wait in memory
//! and go out with the next commit, so that a run of short steps costs one sync a step.

use super::facts::Fact;
use super::history::History;
use super::report::Reporter;
use crate::store::{Actor, Draft, RunLog, StoreError};

/// Pending facts are written once this many wait, whatever comes next.
const MAX_PENDING: usize = 512;

pub struct Recorder {
    log: RunLog,
    pending: Vec<Draft>,
    pub history: History,
    reporter: Reporter,
    /// Test hook (`RUNBOOK_TEST_KILL_AFTER_EVENT`): the engine kills itself with SIGKILL
    /// once the event with this number is on disk, to test every crash point.
    kill_after: Option<u64>,
    /// A replay of a run whose engine died once this event was on disk: nothing after
    /// it is written, as nothing was, and the replay's engine stops (`dead`).
    die_after: Option<u64>,
    dead: bool,
}

impl Recorder {
    pub fn new(log: RunLog, history: History, reporter: Reporter) -> Self {
        let kill_after = std::env::var("RUNBOOK_TEST_KILL_AFTER_EVENT")
            .ok()
            .and_then(|seq| seq.parse().ok());
        Self {
            log,
            pending: Vec::new(),
            history,
            reporter,
            kill_after,
            die_after: None,
            dead: false,
        }
    }

    /// Makes this engine die, as a replay, once event `seq` is on disk.
    pub fn die_after(&mut self, seq: u64) {
        self.die_after = Some(seq);
    }

    /// Whether the replay's engine has died where the recorded one did.
    pub fn dead(&self) -> bool {
        self.dead
    }

    pub fn reporter(&mut self) -> &mut Reporter {
        &mut self.reporter
    }

    /// Records a fact that announces nothing: it is written with the next commit.
    pub fn note(&mut self, time_ms: u64, fact: Fact) -> Result<(), StoreError> {
        self.note_as(time_ms, fact, None)
    }

    pub fn note_as(
        &mut self,
        time_ms: u64,
        fact: Fact,
        actor: Option<Actor>,
    ) -> Result<(), StoreError> {
        self.keep(time_ms, fact, actor);
        if self.pending.len() >= MAX_PENDING {
            self.flush()?;
        }
        Ok(())
    }

    /// Records a fact and returns once it, and everything noted before it, is on disk.
    pub fn commit(&mut self, time_ms: u64, fact: Fact) -> Result<(), StoreError> {
        self.commit_as(time_ms, fact, None)
    }

    pub fn commit_as(
        &mut self,
        time_ms: u64,
        fact: Fact,
        actor: Option<Actor>,
    ) -> Result<(), StoreError> {
        self.keep(time_ms, fact, actor);
        self.flush()
    }

    /// Applies a fact to the state, shows it, and queues it for the log.
    fn keep(&mut self, time_ms: u64, fact: Fact, actor: Option<Actor>) {
        self.history.apply_fact(time_ms, &fact, actor.as_ref());
        self.reporter.show(time_ms, &fact, &self.history);
        self.pending.push(fact.draft(time_ms, actor));
    }

    /// Writes and syncs whatever is pending.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut drafts = std::mem::take(&mut self.pending);
        if self.dead {
            return Ok(());
        }
        if let Some(last) = self.die_after {
            let room = usize::try_from((last + 1).saturating_sub(self.history.events))
                .unwrap_or(usize::MAX);
            if drafts.len() >= room {
                drafts.truncate(room);
                self.dead = true;
            }
        }
        let began = std::time::Instant::now();
        let events = self.log.append_all(drafts)?;
        tracing::debug!(
            events = events.len(),
            took_us = began.elapsed().as_micros() as u64,
            "log flushed"
        );
        if let Some(last) = events.last() {
            self.history.last_time_ms = last.time_ms;
            self.history.events = last.seq + 1;
            self.reporter.written(&events);
            if self.kill_after.is_some_and(|kill| last.seq >= kill) {
                let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
            }
        }
        Ok(())
    }
}
