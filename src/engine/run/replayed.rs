//! A replay's world: what the recorded run was given, handed to the engine where the
//! world would answer. Commands end as they ended and print what they printed, probes
//! read what they read, people answer as and when they answered, messages are
//! delivered as they were. Nothing is executed, read or sent.
//!
//! The replay's clock follows the recorded one: where the recorded run took longer
//! than its waits (a command's run, a probe's query), the replay waits until the
//! recorded moment, so timeouts, watch intervals and objectives fall as they fell.

use std::collections::BTreeSet;

use futures_util::future::LocalBoxFuture;

use super::observe::Readings;
use super::tell::Delivery;
use super::wait::{Heard, Wait};
use super::Run;
use crate::engine::facts::{ExitRecord, Fact, Phase};
use crate::executor::{Exit, StopReason, Stream};
use crate::replay::Recording;

/// How far a replay waits for a recorded moment when the replayed run has not reached
/// it: longer means the run itself changed (an edited runbook), and its own time goes.
const CATCH_UP_LIMIT_MS: u64 = 60_000;

/// How long, on the replay's clock, a command the recorded run never saw end waits to
/// be stopped as it was, before the replay gives it up.
const NEVER_ENDED_MS: u64 = 7 * 24 * 3_600_000;

/// Where a replayed command stands in the run.
pub(super) struct CommandPlace<'a> {
    pub unit: &'a str,
    pub phase: Phase,
    pub index: usize,
    pub attempt: u32,
}

impl Run<'_> {
    /// Waits until the recorded moment `at_ms` when it is ahead, but not far ahead.
    async fn catch_up(&self, at_ms: u64) {
        let ahead = at_ms.saturating_sub(self.now());
        if ahead > 0 && ahead <= CATCH_UP_LIMIT_MS {
            self.clock.sleep(ahead).await;
        }
    }

    /// A command as it went: its output, then its end when its time has passed. One
    /// the recorded run never ended (it was stopped, or its engine died) lasts until
    /// the replay stops it the same way.
    pub(super) async fn replayed_command(
        &self,
        recording: &Recording,
        place: CommandPlace<'_>,
        stop: LocalBoxFuture<'_, StopReason>,
        on_output: &mut dyn FnMut(Stream, &[u8]),
    ) -> std::io::Result<Exit> {
        let Some(command) = recording.command(place.unit, place.phase, place.index, place.attempt)
        else {
            return Err(std::io::Error::other(
                "the recorded run ran no command here (replay)",
            ));
        };
        for (stream, text) in &command.pieces {
            let stream = if stream == "stderr" {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            on_output(stream, text.as_bytes());
        }
        if command.truncated {
            // Past the log's share: only that there was more is visible.
            on_output(Stream::Stdout, b"[replay: output past the log's share]\n");
        }
        let ended = match command.exit {
            Some(ExitRecord::Code(code)) => Some(Ok(Exit::Code(code))),
            Some(ExitRecord::Signal(signal)) => Some(Ok(Exit::Signal(signal))),
            Some(ExitRecord::Unreachable) => Some(Ok(Exit::Unreachable)),
            Some(ExitRecord::ConnectionLost) => Some(Ok(Exit::ConnectionLost)),
            Some(ExitRecord::Error) => Some(Err(std::io::Error::other(
                "it could not be started in the recorded run (replay)",
            ))),
            // The executor's own limit (a host's `command_timeout`) stops a command the
            // engine's deadline would not have: it is the world's doing, replayed at its
            // time, unless the replay's engine stops the command first.
            Some(ExitRecord::Timeout) => {
                return tokio::select! {
                    biased;
                    reason = stop => Ok(Exit::Stopped(reason)),
                    () = self.clock.sleep(command.duration_ms) => Ok(Exit::Stopped(StopReason::Timeout)),
                };
            }
            Some(ExitRecord::Interrupted) | None => None,
        };
        let Some(ended) = ended else {
            // Stopped as the recorded one was (a timeout, an interrupt, the engine's
            // death); a replay that parted from the run may never stop it, and must end.
            return tokio::select! {
                biased;
                reason = stop => Ok(Exit::Stopped(reason)),
                () = self.clock.sleep(NEVER_ENDED_MS) => Err(std::io::Error::other(
                    "the recorded run never saw this command end (replay)",
                )),
            };
        };
        let started = self.now();
        let until = started.saturating_add(command.duration_ms).max(
            command
                .finished_ms
                .min(started.saturating_add(CATCH_UP_LIMIT_MS)),
        );
        tokio::select! {
            biased;
            () = self.clock.sleep(until.saturating_sub(started)) => ended,
            reason = stop => Ok(Exit::Stopped(reason)),
        }
    }

    /// The next reading recorded for `unit`; a probe it did not read is unreadable.
    pub(super) async fn replayed_reading(
        &self,
        recording: &Recording,
        unit: &str,
        names: &BTreeSet<String>,
    ) -> Readings {
        let reading = recording.next_reading(unit).unwrap_or_default();
        self.catch_up(reading.at_ms).await;
        let mut readings = Readings::default();
        for name in names {
            if let Some(value) = reading.values.get(name) {
                readings.values.insert(name.clone(), *value);
            } else {
                let why = reading.unreadable.get(name).cloned().unwrap_or_else(|| {
                    format!("the recorded run read no value of `{name}` here (replay)")
                });
                readings.unreadable.insert(name.clone(), why);
            }
        }
        readings
    }

    /// The next answer the recorded engine heard for this wait, at its recorded time;
    /// the wait's own deadline comes first if it is earlier. With no answer left, only
    /// the deadline can end the wait, or nothing can (`Nobody`).
    pub(super) async fn hear_recorded(
        &self,
        recording: &Recording,
        wait: &Wait<'_>,
        deadline: Option<u64>,
    ) -> Heard {
        let next = recording.next_answer(wait.key);
        let until = match self
            .sleep_until_answer(next.as_ref().map(|next| next.at_ms), deadline)
            .await
        {
            Ok(until) => until,
            Err(heard) => return heard,
        };
        match next {
            Some(next) if next.at_ms <= until => {
                recording.take_answer(wait.key);
                Heard::Answer {
                    answer: next.answer,
                    actor: next.actor,
                    taken: None,
                }
            }
            _ => Heard::TimeUp,
        }
    }

    /// A message's delivery as it went, when it went.
    pub(super) async fn replayed_delivery(&self, recording: &Recording, job: Delivery) -> Fact {
        let channel = job.channel.name;
        let Some(delivered) = recording.next_delivery(&job.key, &channel) else {
            return Fact::Delivered {
                key: job.key,
                channel,
                ok: false,
                attempts: 0,
                detail: "the recorded run delivered no such message (replay)".to_string(),
            };
        };
        self.catch_up(delivered.at_ms).await;
        Fact::Delivered {
            key: job.key,
            channel,
            ok: delivered.ok,
            attempts: delivered.attempts,
            detail: delivered.detail,
        }
    }
}
