//! The auditor's view of a run, from its verified log. `model` folds the events into
//! one typed `Transcript`; each format renders that same value, so text, Markdown,
//! HTML and JSON never disagree on what happened. Markdown and HTML share one walk of
//! it (`document`), each a `Markup` saying how the pieces look.

mod document;
mod html;
mod json;
mod markdown;
mod markup;
pub mod model;
mod text;

use crate::store::Event;
pub use model::Transcript;

/// How `runbook transcript` writes a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// A timeline to the second, for a terminal.
    #[default]
    Text,
    /// GitHub-flavoured Markdown, for a ticket or a post-mortem document.
    Md,
    /// One self-contained HTML page (no scripts, no external files), to read or print.
    Html,
    /// The transcript's sections as JSON (a stable, versioned shape).
    Json,
}

/// The text transcript: what `runbook run --transcript` prints when a run ends.
pub fn render(events: &[Event]) -> String {
    render_as(events, Format::Text)
}

pub fn render_as(events: &[Event], format: Format) -> String {
    let transcript = Transcript::from_events(events);
    match format {
        Format::Text => text::render(&transcript),
        Format::Md => markdown::render(&transcript),
        Format::Html => html::render(&transcript),
        Format::Json => json::render(&transcript),
    }
}

/// `simulated on a virtual clock; injected fail:install@h3`: what a drill marker says.
fn drill_words(drill: &model::Drill) -> String {
    let mut words = vec![if drill.simulated {
        "simulated on a virtual clock".to_string()
    } else {
        "run for real".to_string()
    }];
    if !drill.injected.is_empty() {
        words.push(format!("injected {}", drill.injected.join(", ")));
    }
    if !drill.probes.is_empty() {
        words.push(format!("probes scripted {}", drill.probes.join(", ")));
    }
    if !drill.responders.is_empty() {
        words.push(format!("responders {}", drill.responders.join(", ")));
    }
    words.join("; ")
}
