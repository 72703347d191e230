//! The text format (the default): a timeline to the second, commands with their
//! output folded in where the log has it, as `runbook run --transcript` prints it.

use std::fmt::Write as _;

use super::model::{seconds, About, Entry, Header, Piece, Transcript};

/// Output lines shown per command; the rest are counted, and kept in the log.
const OUTPUT_LINES: usize = 10;

/// Who started the run from which runbook (its hash), then every step, command (with
/// exit and duration, its output collapsed), answer with the person who gave it,
/// failure and rollback, to the second, in UTC.
pub fn render(transcript: &Transcript) -> String {
    let mut text = String::new();
    // Output is kept with its command; it is shown where the log has it.
    let mut pieces: Vec<&Piece> = transcript
        .commands
        .iter()
        .flat_map(|command| &command.output)
        .collect();
    pieces.sort_by_key(|piece| piece.seq);
    let mut pieces = pieces.into_iter().peekable();
    let mut output = Folded::default();
    for entry in &transcript.timeline {
        while let Some(piece) = pieces.next_if(|piece| piece.seq < entry.seq) {
            output.piece(&mut text, piece);
        }
        entry_lines(&mut text, transcript, entry, &mut output);
    }
    for piece in pieces {
        output.piece(&mut text, piece);
    }
    output.flush(&mut text);
    if let Some(chain) = &transcript.chain {
        let _ = writeln!(
            text,
            "\n{} events from {} to {}; the chain verifies (last hash {})",
            chain.events, chain.first.time, chain.last.time, chain.last_hash
        );
    }
    text
}

fn entry_lines(text: &mut String, transcript: &Transcript, entry: &Entry, output: &mut Folded) {
    let clock = entry.at.clock();
    let who = match (&entry.person, &entry.os_user) {
        (Some(person), Some(user)) => format!(" (by {person}, OS user {user})"),
        (Some(person), None) => format!(" (by {person})"),
        (None, _) => String::new(),
    };
    match entry.about {
        About::Run => {
            if let Some(header) = &transcript.header {
                header_lines(text, header, &who);
            }
        }
        About::CommandStarted { command } => {
            output.flush(text);
            output.shown = 0;
            if let Some(command) = transcript.commands.get(command) {
                let _ = writeln!(
                    text,
                    "{clock}     $ {}",
                    command.command.replace('\n', "\n           ")
                );
            }
        }
        About::CommandFinished { command } => {
            output.flush(text);
            if let Some(command) = transcript.commands.get(command) {
                let file = command
                    .full_output
                    .as_deref()
                    .map(|file| format!(", output in {file}"))
                    .unwrap_or_default();
                let _ = writeln!(
                    text,
                    "             {} after {}{file}",
                    command.ended_text(),
                    seconds(command.duration_ms.unwrap_or_default())
                );
            }
        }
        About::Answer { answer } => match transcript.answers.get(answer) {
            Some(confirmed) if confirmed.answer == "confirm" && confirmed.refused.is_none() => {
                let entered: Vec<String> = confirmed
                    .values
                    .iter()
                    .map(|(key, value)| format!("{key}={value}"))
                    .collect();
                let _ = writeln!(
                    text,
                    "{clock} ✔ {} confirmed{who}{}",
                    confirmed.about,
                    if entered.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", entered.join(", "))
                    }
                );
            }
            _ => said(text, &clock, entry, &who),
        },
        // A delivery that went well is not worth a line here; one that failed is.
        About::Delivery {
            delivered: true, ..
        } => {}
        About::Unknown => {
            let _ = writeln!(text, "{clock} {}", entry.text);
        }
        About::Notice { .. } | About::Delivery { .. } | About::Event => {
            said(text, &clock, entry, &who);
        }
    }
}

fn said(text: &mut String, clock: &str, entry: &Entry, who: &str) {
    let _ = writeln!(
        text,
        "{clock} {}{who}",
        entry.text.replace('\n', "\n         ")
    );
}

fn header_lines(text: &mut String, header: &Header, who: &str) {
    let _ = writeln!(text, "Run {}", header.run);
    let _ = writeln!(text, "  runbook   {} ({})", header.runbook, header.file);
    if let Some(title) = &header.title {
        let _ = writeln!(text, "  title     {title}");
    }
    let _ = writeln!(text, "  source    sha256 {}", header.source_sha256);
    let _ = writeln!(
        text,
        "  started   {} on {}{who}",
        header.started.time, header.machine
    );
    if let Some(drill) = &header.drill {
        let _ = writeln!(text, "  drill     {}", super::drill_words(drill));
    }
    for (name, value) in &header.params {
        let _ = writeln!(text, "  param     {name} = {value}");
    }
    for (name, hosts) in &header.inventories {
        let _ = writeln!(text, "  hosts     {name}: {}", hosts.join(", "));
    }
    let _ = writeln!(text, "\nTimeline (UTC)");
}

/// A command's output as it comes: the first lines shown, the rest counted.
#[derive(Default)]
struct Folded {
    shown: usize,
    hidden: usize,
}

impl Folded {
    fn piece(&mut self, text: &mut String, piece: &Piece) {
        for output_line in piece.text.lines() {
            if self.shown < OUTPUT_LINES {
                let mark = if piece.stream == "stderr" { "!" } else { "|" };
                let _ = writeln!(text, "           {mark} {output_line}");
                self.shown += 1;
            } else {
                self.hidden += 1;
            }
        }
    }

    fn flush(&mut self, text: &mut String) {
        if self.hidden > 0 {
            let _ = writeln!(text, "           … {} more line(s) in the log", self.hidden);
            self.hidden = 0;
        }
    }
}
