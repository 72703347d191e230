//! What a person sees while a run goes: progress on a terminal, plain timestamped
//! lines elsewhere, or every event as a JSON line. Everything shown comes from the
//! facts being recorded, which carry no secret, and from names in the graph (a step's
//! owner, the keys a manual step records), which are not secret either.
//!
//! On a terminal an indicatif display sits below the lines that scroll: the run's title,
//! each unit running on its own, a "hosts done / total" bar for a step fanned out over
//! hosts and one for a `waves` block, and for each wait for a person how long it has
//! waited, who may answer and the command that answers. The engine tells the display
//! the few things its facts do not say (`fan_out`, `wave`, `waiting`: a resumed run
//! does not log again a wave it is in, nor a wait it is in); the rest follows the facts.
//!
//! `Reporter` picks what is shown by the output mode; `line` is the plain text of each
//! fact and the times beside it; `live` draws the terminal display, and `messages` is
//! the text of its lines.

mod line;
mod live;
mod messages;

use std::io::{IsTerminal, Write};

use indicatif::ProgressDrawTarget;

use super::facts::Fact;
use super::history::History;
use crate::store::Event;
pub use line::{clock_time, line, timestamp};
pub use live::suspend;
use live::{Live, ACTIVE};
use messages::WavesDone;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputMode {
    /// Progress on a terminal, plain lines otherwise.
    Auto,
    /// Plain timestamped lines.
    Plain,
    /// Every event as one JSON line, as written to the log.
    Json,
    /// Nothing but errors.
    Quiet,
}

pub struct Reporter {
    mode: OutputMode,
    live: Option<Live>,
}

impl Reporter {
    pub fn new(mode: OutputMode) -> Self {
        match mode {
            OutputMode::Auto if on_terminal() => {
                let mut live = Live::new(ProgressDrawTarget::stderr(), true);
                if let Ok(mut active) = ACTIVE.lock() {
                    *active = Some(live.multi.clone());
                    live.registered = true;
                }
                Self {
                    mode,
                    live: Some(live),
                }
            }
            OutputMode::Auto => Self {
                mode: OutputMode::Plain,
                live: None,
            },
            other => Self {
                mode: other,
                live: None,
            },
        }
    }

    /// Whether a terminal display is drawn: what only it needs is worked out only then.
    pub fn live(&self) -> bool {
        self.live.is_some()
    }

    /// A fact as it is recorded.
    pub fn show(&mut self, time_ms: u64, fact: &Fact, history: &History) {
        if matches!(self.mode, OutputMode::Json | OutputMode::Quiet) {
            return;
        }
        if let Some(live) = &mut self.live {
            live.follow(time_ms, fact, history);
        }
        // A watch reads its numbers every interval: while they hold, the log and the
        // transcript keep them, and the person watching sees only what does not.
        if matches!(
            fact,
            Fact::Evaluated {
                holds: Some(true),
                ..
            }
        ) {
            return;
        }
        let Some(line) = line(fact) else {
            return;
        };
        let line = format!("{} {line}", clock_time(time_ms));
        match &self.live {
            Some(live) => live.println(&line),
            None => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
            }
        }
    }

    /// A step begins over several hosts: its units (by key), of which `done` already
    /// finished before a resume. `within` is the `waves` block it runs in, if any.
    /// Returns what `fan_in` takes when the step is over.
    pub fn fan_out(
        &mut self,
        node: &str,
        within: Option<&str>,
        units: Vec<String>,
        done: usize,
    ) -> Option<usize> {
        self.live
            .as_mut()
            .and_then(|live| live.fan_out(node, within, units, done))
    }

    /// The step of a `fan_out` is over.
    pub fn fan_in(&mut self, token: usize) {
        if let Some(live) = &mut self.live {
            live.fan_in(token);
        }
    }

    /// A wave of a `waves` block begins (or goes on, after a resume): wave `index` of
    /// `count` over `hosts`, after `before` of the block's `total` hosts.
    pub fn wave(
        &mut self,
        waves: &str,
        index: usize,
        count: usize,
        hosts: &[String],
        before: usize,
        total: usize,
    ) {
        if let Some(live) = &mut self.live {
            let progress = WavesDone {
                index,
                count,
                hosts: hosts.to_vec(),
                before,
                total,
                failed: 0,
                finished: false,
            };
            live.wave(waves, progress);
        }
    }

    /// The engine waits for a person to answer this `Fact::Waiting` (logged now or by an
    /// earlier engine); `owner` is the role that owns the step, `records` the keys a
    /// confirmation enters.
    pub fn waiting(&mut self, fact: &Fact, owner: Option<&str>, records: &[&str]) {
        if let Some(live) = &mut self.live {
            live.waiting(fact, owner, records);
        }
    }

    /// A line for the person at the terminal (a prompt): above the display when one is
    /// drawn, else on standard error, so that `--output json` keeps standard output.
    pub fn say(&mut self, text: &str) {
        match &self.live {
            Some(live) => live.println(text),
            None => eprintln!("{text}"),
        }
    }

    /// Events once they are on disk: what `--output json` streams.
    pub fn written(&mut self, events: &[Event]) {
        if self.mode != OutputMode::Json {
            return;
        }
        let mut out = std::io::stdout().lock();
        for event in events {
            if let Ok(line) = serde_json::to_string(event) {
                let _ = writeln!(out, "{line}");
            }
        }
        let _ = out.flush();
    }

    pub fn finish(&mut self) {
        self.live = None;
    }
}

/// Progress is drawn when both standard output and standard error are a terminal that
/// can move its cursor: `runbook run x.rbk > out.txt` gets plain lines in the file.
fn on_terminal() -> bool {
    std::io::stdout().is_terminal()
        && std::io::stderr().is_terminal()
        && std::env::var_os("TERM").is_none_or(|term| term != "dumb")
}
