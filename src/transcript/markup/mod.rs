//! What the document walker (`document.rs`) asks of a format: the blocks and the
//! inline pieces a transcript is made of. The walker decides what is said and in what
//! order; a `Markup` decides how it looks, and escapes everything from the log, so the
//! Markdown and the HTML cannot drift apart in what they say.

mod cell;
mod look;
mod region;
mod table;

use std::collections::BTreeMap;

pub use cell::Cell;
pub use look::Look;
pub use region::Region;
pub use table::Table;

use super::model::Command;

/// A format the document walker writes into.
///
/// Block methods write into the document. Inline methods return a piece to place in a
/// heading, a paragraph, a list item or a cell. What comes from the log is escaped by
/// `text`, `plain`, `code` and `command_excerpt`, and by the blocks that take a `body`
/// or a `Command`; every other argument is a piece already made by this same `Markup`,
/// or the walker's own words.
pub trait Markup {
    /// Before anything else: `title` names the document where the format has a place
    /// for it (an HTML page's `<title>`).
    fn begin_document(&mut self, title: &str);
    fn end_document(&mut self);
    /// A region of the document; each is closed with `close`, the innermost first.
    fn open(&mut self, region: &Region);
    fn close(&mut self, region: &Region);
    /// A heading, level 1 for the transcript's own, 3 within a section.
    fn heading(&mut self, level: u8, inline: &str);
    fn paragraph(&mut self, look: Look, inline: &str);
    /// A paragraph set apart, that the reader must not miss.
    fn banner(&mut self, inline: &str);
    fn list(&mut self, look: Look, items: &[String]);
    /// A table; `row` adds to it until `end_table`.
    fn table(&mut self, table: &Table);
    /// A row of the open table; `anchor` names it for links, where the format has them.
    fn row(&mut self, anchor: Option<&str>, cells: &[Cell]);
    fn end_table(&mut self);
    /// Text shown as it is, such as a command (`info` names its language).
    fn code_block(&mut self, body: &str, info: &str);
    /// A long text shown as it is behind its summary (the runbook's source), where the
    /// format can fold it.
    fn folded_code(&mut self, summary: &str, body: &str);
    /// Says, under a heading, that what follows is for people to write (`words`), where
    /// the format has no space drawn to write in.
    fn to_fill_in(&mut self, words: &str);
    /// The space an answer is written in, after its prompts, holding what is written
    /// (or `blank`).
    fn writing_space(&mut self, inline: &str);
    /// How one command went: `summary`, then the file holding its whole output.
    fn command_summary(&mut self, summary: &str, whole_output: Option<&str>);
    /// A command's output as the log holds it, collapsed as the format can.
    fn output(&mut self, ran: &Command);
    /// What the transcript rests on, after everything else.
    fn footer(&mut self, inline: &str);

    /// Text from the log, escaped so that it reads as itself.
    fn text(&self, value: &str) -> String;
    /// The engine's own words (times, limits, outcomes), which need no escaping where
    /// the format's markup cannot be written by them.
    fn plain(&self, words: &str) -> String;
    /// Inline code: a command, a hash, a value.
    fn code(&self, value: &str) -> String;
    fn strong(&self, inline: &str) -> String;
    /// An outcome that went well or badly: a bad one stands out.
    fn outcome(&self, good: bool, inline: &str) -> String;
    /// How the run ended, which always stands out; `good` when it completed.
    fn status(&self, good: bool, words: &str) -> String;
    /// The `yes` of the header's Drill row.
    fn drill_yes(&self) -> String;
    /// `#N`, the command numbered so in the Commands section, linked to it where the
    /// format has links.
    fn command_reference(&self, number: usize) -> String;
    /// A command as the timeline quotes it.
    fn command_excerpt(&self, command: &str) -> String;
    /// The timeline's entry for a command's end: `#N` and what the log says of it.
    fn command_ended(&self, number: usize, said: &str, failed: bool) -> String;
    /// The values a person entered with an answer, after the answer's words (not yet
    /// escaped).
    fn entered_values(&self, values: &BTreeMap<String, String>) -> String;
    /// What an answer not written yet shows.
    fn blank(&self) -> String;
    /// How the Commands section shows each output, in a sentence.
    fn outputs_shown(&self) -> String;
}
