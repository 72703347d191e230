//! The auditor's view of a run: a readable timeline rendered from its verified log.
//! Richer formats (Markdown, HTML, JSON) come with the drill work; this is the text.

use std::fmt::Write as _;

use crate::engine::facts::{ExitRecord, Fact};
use crate::engine::report::{clock_time, line, timestamp};
use crate::store::Event;

/// Output lines shown per command; the rest are counted, and kept in the log.
const OUTPUT_LINES: usize = 10;

/// The timeline of a run's events: who started it from which runbook (its hash), then
/// every step, command (with exit and duration, its output collapsed), answer with the
/// person who gave it, failure and rollback, to the second, in UTC.
pub fn render(events: &[Event]) -> String {
    let mut text = String::new();
    let mut shown_output: usize = 0;
    let mut hidden_output: usize = 0;
    for event in events {
        let Some(fact) = Fact::of(event) else {
            let _ = writeln!(
                text,
                "{} (event {} of an unknown kind `{}`)",
                clock_time(event.time_ms),
                event.seq,
                event.kind
            );
            continue;
        };
        let who = event
            .actor
            .as_ref()
            .map(|actor| {
                let person = actor.person.as_deref().unwrap_or("?");
                match &actor.os_user {
                    Some(user) => format!(" (by {person}, OS user {user})"),
                    None => format!(" (by {person})"),
                }
            })
            .filter(|_| {
                event
                    .actor
                    .as_ref()
                    .is_some_and(|actor| actor.person.is_some())
            })
            .unwrap_or_default();
        match &fact {
            Fact::RunStarted(started) => {
                let _ = writeln!(text, "Run {}", started.run);
                let _ = writeln!(text, "  runbook   {} ({})", started.runbook, started.file);
                if let Some(title) = &started.title {
                    let _ = writeln!(text, "  title     {title}");
                }
                let _ = writeln!(text, "  source    sha256 {}", started.source_sha256);
                let _ = writeln!(
                    text,
                    "  started   {} on {}{who}",
                    timestamp(event.time_ms),
                    started.machine
                );
                for (name, value) in &started.params {
                    let _ = writeln!(text, "  param     {name} = {value}");
                }
                for (name, hosts) in &started.inventories {
                    let _ = writeln!(text, "  hosts     {name}: {}", hosts.join(", "));
                }
                let _ = writeln!(text, "\nTimeline (UTC)");
            }
            Fact::CommandStarted { command, .. } => {
                flush_hidden(&mut text, &mut hidden_output);
                shown_output = 0;
                let _ = writeln!(
                    text,
                    "{}     $ {}",
                    clock_time(event.time_ms),
                    command.replace('\n', "\n           ")
                );
            }
            Fact::Output {
                text: piece,
                stream,
                ..
            } => {
                for output_line in piece.lines() {
                    if shown_output < OUTPUT_LINES {
                        let mark = if stream == "stderr" { "!" } else { "|" };
                        let _ = writeln!(text, "           {mark} {output_line}");
                        shown_output += 1;
                    } else {
                        hidden_output += 1;
                    }
                }
            }
            Fact::CommandFinished {
                exit,
                duration_ms,
                full_output,
                ..
            } => {
                flush_hidden(&mut text, &mut hidden_output);
                let ended = match exit {
                    ExitRecord::Code(code) => format!("exit {code}"),
                    ExitRecord::Signal(signal) => format!("killed by signal {signal}"),
                    ExitRecord::Timeout => "timed out".to_string(),
                    ExitRecord::Interrupted => "interrupted".to_string(),
                    ExitRecord::Error => "could not run".to_string(),
                };
                let file = full_output
                    .as_deref()
                    .map(|file| format!(", output in {file}"))
                    .unwrap_or_default();
                let _ = writeln!(
                    text,
                    "             {ended} after {}{file}",
                    seconds(*duration_ms)
                );
            }
            Fact::Confirmed { unit, values } => {
                let entered: Vec<String> = values
                    .iter()
                    .map(|(key, value)| format!("{key}={value}"))
                    .collect();
                let _ = writeln!(
                    text,
                    "{} ✔ {unit} confirmed{who}{}",
                    clock_time(event.time_ms),
                    if entered.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", entered.join(", "))
                    }
                );
            }
            other => {
                if let Some(shown) = line(other) {
                    let _ = writeln!(
                        text,
                        "{} {}{who}",
                        clock_time(event.time_ms),
                        shown.replace('\n', "\n         ")
                    );
                }
            }
        }
    }
    flush_hidden(&mut text, &mut hidden_output);
    if let (Some(first), Some(last)) = (events.first(), events.last()) {
        let _ = writeln!(
            text,
            "\n{} events from {} to {}; the chain verifies (last hash {})",
            events.len(),
            timestamp(first.time_ms),
            timestamp(last.time_ms),
            last.hash
        );
    }
    text
}

fn flush_hidden(text: &mut String, hidden: &mut usize) {
    if *hidden > 0 {
        let _ = writeln!(text, "           … {hidden} more line(s) in the log");
        *hidden = 0;
    }
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}s", ms / 1000, ms % 1000)
}
