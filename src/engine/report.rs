//! What a person sees while a run goes: progress on a terminal, plain timestamped
//! lines elsewhere, or every event as a JSON line. Everything shown comes from the
//! facts being recorded, which carry no secret.

use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};

use super::facts::{Fact, Need, Outcome, RunStatus};
use super::history::History;
use crate::ast::Word;
use crate::store::Event;

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
    bar: Option<ProgressBar>,
}

impl Reporter {
    pub fn new(mode: OutputMode) -> Self {
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let (mode, bar) = match mode {
            OutputMode::Auto if terminal => {
                let bar = ProgressBar::new_spinner();
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.enable_steady_tick(Duration::from_millis(120));
                (OutputMode::Auto, Some(bar))
            }
            OutputMode::Auto => (OutputMode::Plain, None),
            other => (other, None),
        };
        Self { mode, bar }
    }

    /// A fact as it is recorded.
    pub fn show(&mut self, time_ms: u64, fact: &Fact, history: &History) {
        if matches!(self.mode, OutputMode::Json | OutputMode::Quiet) {
            return;
        }
        if let Some(bar) = &self.bar {
            if let Some(status) = progress(fact, history) {
                bar.set_message(status);
            }
        }
        let Some(line) = line(fact) else {
            return;
        };
        let line = format!("{} {line}", clock_time(time_ms));
        match &self.bar {
            Some(bar) => bar.println(line),
            None => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
            }
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
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// `14:03:27`, in UTC like every time the tool shows.
pub fn clock_time(time_ms: u64) -> String {
    let stamp = timestamp(time_ms);
    stamp.get(11..19).unwrap_or(&stamp).to_string()
}

/// `2026-11-21T14:03:27Z`.
pub fn timestamp(time_ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(time_ms)).to_string()
}

fn progress(fact: &Fact, history: &History) -> Option<String> {
    match fact {
        Fact::UnitStarted {
            node,
            host,
            attempt,
            ..
        } => Some(format!(
            "{node}{}{}  ({} done)",
            host.as_deref()
                .map(|host| format!(" on {host}"))
                .unwrap_or_default(),
            if *attempt > 1 {
                format!(", attempt {attempt}")
            } else {
                String::new()
            },
            history.completed.len()
        )),
        Fact::Waiting { node, need, .. } => Some(match need {
            Need::Confirmation => format!("waiting for a person to confirm {node}"),
            Need::Decision => format!("waiting for a decision on {node}"),
        }),
        _ => None,
    }
}

/// The one-line form of the facts worth a line; the rest (output, command starts)
/// are in the log and the transcript.
pub fn line(fact: &Fact) -> Option<String> {
    let on = |host: &Option<String>| {
        host.as_deref()
            .map(|host| format!(" on {host}"))
            .unwrap_or_default()
    };
    Some(match fact {
        Fact::RunStarted(started) => format!(
            "run {} started: {} ({})",
            started.run, started.runbook, started.file
        ),
        Fact::RunResumed { .. } => "run resumed".to_string(),
        Fact::ChangesAccepted { .. } => "the edited runbook was accepted".to_string(),
        Fact::UnitStarted {
            unit,
            node,
            host,
            attempt,
        } => {
            let again = if *attempt > 1 {
                format!(" (attempt {attempt})")
            } else {
                String::new()
            };
            if unit.starts_with(crate::compile::ROLLBACK_PREFIX) {
                format!("↺ undo {node}{}{again}", on(host))
            } else {
                format!("▶ {node}{}{again}", on(host))
            }
        }
        Fact::UnitFinished {
            unit,
            outcome,
            summary,
        } => {
            let why = summary
                .as_deref()
                .map(|summary| format!(": {summary}"))
                .unwrap_or_default();
            match outcome {
                Outcome::Succeeded { .. } => format!("✔ {unit}"),
                Outcome::Failed { class } => format!("✘ {unit} failed ({}){why}", class.word()),
                Outcome::Skipped => format!("↷ {unit} skipped{why}"),
            }
        }
        Fact::Waiting {
            unit, need, text, ..
        } => match need {
            Need::Confirmation => format!("⏸ {unit} needs a person:\n{}", indent(text)),
            Need::Decision => format!("⏸ {unit} needs a decision: {text}"),
        },
        Fact::Confirmed { unit, .. } => format!("✔ {unit} confirmed"),
        Fact::Decided { unit, decision } => format!("{unit}: decided {decision:?}").to_lowercase(),
        Fact::WaveStarted {
            waves,
            index,
            count,
            hosts,
        } => format!(
            "{waves}: wave {} of {count}, {} host{}",
            index + 1,
            hosts.len(),
            if hosts.len() == 1 { "" } else { "s" }
        ),
        Fact::WaveFinished {
            waves,
            index,
            failed,
        } => {
            if failed.is_empty() {
                format!("{waves}: wave {} done", index + 1)
            } else {
                format!(
                    "{waves}: wave {} done, failed on {}",
                    index + 1,
                    failed.join(", ")
                )
            }
        }
        Fact::Failure {
            class,
            node,
            host,
            summary,
            ..
        } => format!("{} failure at {node}{}: {summary}", class.word(), on(host)),
        Fact::PolicyAction { action, .. } => format!("policy: {action}"),
        Fact::Notice {
            audience, message, ..
        } => format!("notice to {audience}: {message}"),
        Fact::RollbackStarted { scope, units, .. } => {
            format!("↺ rollback ({scope}) of {} unit(s)", units.len())
        }
        Fact::RollbackFinished { succeeded, .. } => {
            if *succeeded {
                "↺ rollback done".to_string()
            } else {
                "‼ ROLLBACK FAILED: people must take over".to_string()
            }
        }
        Fact::RunPaused { reason } => format!("run paused: {reason}"),
        Fact::RunFinished { status } => match status {
            RunStatus::Completed => "run completed".to_string(),
            RunStatus::Failed => "run failed".to_string(),
            RunStatus::RollbackFailed => "run ended with a failed rollback".to_string(),
        },
        Fact::CommandStarted { .. } | Fact::Output { .. } | Fact::CommandFinished { .. } => {
            return None
        }
    })
}

fn indent(text: &str) -> String {
    text.trim()
        .lines()
        .map(|line| format!("    {}", line.trim()))
        .collect::<Vec<_>>()
        .join("\n")
}
