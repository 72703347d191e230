//! The Markdown format (GitHub-flavoured), for a ticket or the post-mortem document: how
//! each piece of the transcript `document` walks through looks in Markdown. Everything
//! from the log is user data: it is escaped so that it can neither format nor break
//! the page (a step's output holding `|`, `*` or `<script>`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::document;
use super::markup::{Cell, Look, Markup, Region, Table};
use super::model::{Command, Transcript};
use crate::ast::shown_escaped;

/// Output lines shown per command; the rest are counted, and are in the log.
const OUTPUT_LINES: usize = 20;
/// A command is cut to this many characters in the timeline; its section has it whole.
const COMMAND_CHARS: usize = 80;

pub fn render(transcript: &Transcript) -> String {
    let mut markdown = Markdown::default();
    document::write(transcript, &mut markdown);
    markdown.out
}

/// The Markdown being written.
#[derive(Debug, Default)]
struct Markdown {
    out: String,
    /// Whether a table is open: in its cells a `|` ends the cell, even inside code.
    in_table: bool,
}

impl Markup for Markdown {
    fn begin_document(&mut self, _title: &str) {}

    fn end_document(&mut self) {}

    fn open(&mut self, region: &Region) {
        if let Region::Section { title, .. } = region {
            let _ = writeln!(self.out, "## {title}\n");
        }
    }

    fn close(&mut self, _region: &Region) {}

    fn heading(&mut self, level: u8, inline: &str) {
        let marks = "#".repeat(usize::from(level));
        let _ = writeln!(self.out, "{marks} {inline}\n");
    }

    fn paragraph(&mut self, _look: Look, inline: &str) {
        let _ = writeln!(self.out, "{inline}\n");
    }

    fn banner(&mut self, inline: &str) {
        let _ = writeln!(self.out, "> {inline}\n");
    }

    fn list(&mut self, _look: Look, items: &[String]) {
        for item in items {
            let _ = writeln!(self.out, "- {item}");
        }
        self.out.push('\n');
    }

    fn table(&mut self, table: &Table) {
        self.in_table = true;
        let columns = match table {
            Table::Facts => {
                self.out.push_str("| | |\n|---|---|\n");
                return;
            }
            Table::Columns(columns) => columns,
            Table::Captioned { caption, columns } => {
                let _ = writeln!(self.out, "{caption}:\n");
                columns
            }
        };
        let _ = writeln!(self.out, "| {} |", columns.join(" | "));
        let _ = writeln!(self.out, "|{}", "---|".repeat(columns.len()));
    }

    fn row(&mut self, _anchor: Option<&str>, cells: &[Cell]) {
        self.out.push('|');
        for cell in cells {
            if cell.look == Look::Bad {
                let _ = write!(self.out, " **{}** |", cell.inline);
            } else {
                let _ = write!(self.out, " {} |", cell.inline);
            }
        }
        self.out.push('\n');
    }

    fn end_table(&mut self) {
        self.out.push('\n');
        self.in_table = false;
    }

    fn code_block(&mut self, body: &str, info: &str) {
        let _ = writeln!(self.out, "{}", fenced(body, info));
    }

    fn folded_code(&mut self, summary: &str, body: &str) {
        let _ = writeln!(self.out, "{summary}:\n\n{}", fenced(body, ""));
    }

    fn to_fill_in(&mut self, words: &str) {
        let _ = writeln!(self.out, "_{words}_\n");
    }

    /// Markdown draws no space: the answer is written under the heading.
    fn writing_space(&mut self, _inline: &str) {}

    fn command_summary(&mut self, summary: &str, whole_output: Option<&str>) {
        let _ = writeln!(self.out, "- {summary}");
        if let Some(file) = whole_output {
            let _ = writeln!(
                self.out,
                "- whole output: {} in the run's folder",
                self.code(file)
            );
        }
        self.out.push('\n');
    }

    /// The first `OUTPUT_LINES` lines, and how many more the log holds.
    fn output(&mut self, ran: &Command) {
        let collapsed = ran.collapsed(OUTPUT_LINES);
        if collapsed.shown.is_empty() {
            return;
        }
        let shown: Vec<&str> = collapsed.shown.iter().map(|(_, line)| *line).collect();
        let _ = writeln!(self.out, "{}", fenced(&shown.join("\n"), "text"));
        if collapsed.hidden > 0 {
            let _ = writeln!(self.out, "… {} more lines in the log.\n", collapsed.hidden);
        }
    }

    fn footer(&mut self, inline: &str) {
        let _ = writeln!(self.out, "---\n\n{inline}");
    }

    fn text(&self, value: &str) -> String {
        text(value)
    }

    fn plain(&self, words: &str) -> String {
        words.to_string()
    }

    fn code(&self, value: &str) -> String {
        if self.in_table {
            cell_code(value)
        } else {
            code(value)
        }
    }

    fn strong(&self, inline: &str) -> String {
        format!("**{inline}**")
    }

    fn outcome(&self, good: bool, inline: &str) -> String {
        if good {
            inline.to_string()
        } else {
            self.strong(inline)
        }
    }

    fn status(&self, _good: bool, words: &str) -> String {
        self.strong(words)
    }

    fn drill_yes(&self) -> String {
        "yes".to_string()
    }

    fn command_reference(&self, number: usize) -> String {
        format!("#{number}")
    }

    /// Its first line, cut to `COMMAND_CHARS`: its section has it whole.
    fn command_excerpt(&self, command: &str) -> String {
        self.code(&shortened(command))
    }

    fn command_ended(&self, number: usize, said: &str, failed: bool) -> String {
        self.outcome(
            !failed,
            &format!("{}: {said}", self.command_reference(number)),
        )
    }

    fn entered_values(&self, values: &BTreeMap<String, String>) -> String {
        if values.is_empty() {
            return String::new();
        }
        let values: Vec<String> = values
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        format!(": {}", values.join(", "))
    }

    fn blank(&self) -> String {
        String::new()
    }

    fn outputs_shown(&self) -> String {
        format!("Each output shows at most its first {OUTPUT_LINES} lines, and counts the rest; the run's folder holds every output whole.")
    }
}

/// A command's first line, cut to `COMMAND_CHARS`.
fn shortened(command: &str) -> String {
    let first = command.lines().next().unwrap_or_default();
    let mut cut: String = first.chars().take(COMMAND_CHARS).collect();
    if cut.len() < command.len() {
        cut.push('…');
    }
    cut
}

/// Text that reads as itself in Markdown prose, list items and table cells: every
/// character Markdown (or the HTML it allows) gives a meaning is escaped, line breaks
/// become `<br>`, and invisible characters are shown as `\u{...}`.
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut digits_only = true;
    for (at, c) in value.chars().enumerate() {
        match c {
            '\n' => out.push_str("<br>"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '!' => {
                out.push('\\');
                out.push(c);
            }
            // At the start, these would make a list, a heading or a rule.
            '-' | '+' | '#' | '=' if at == 0 => {
                out.push('\\');
                out.push(c);
            }
            // `1.` or `1)` at the start would make a numbered list.
            '.' | ')' if digits_only && at > 0 => {
                out.push('\\');
                out.push(c);
            }
            c if shown_escaped(c) => {
                let _ = write!(out, "\\\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
        digits_only &= c.is_ascii_digit();
    }
    out
}

/// Inline code outside a table: a run of backticks longer than any inside it.
fn code(value: &str) -> String {
    let one_line: String = value
        .chars()
        .map(|c| match c {
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect();
    if one_line.trim().is_empty() {
        return text(value);
    }
    let ticks = "`".repeat(longest_run(&one_line, '`') + 1);
    let pad = if one_line.starts_with('`') || one_line.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{}{pad}{ticks}", visible(&one_line))
}

/// Inline code in a table cell, where a `|` would end the cell even inside code.
fn cell_code(value: &str) -> String {
    code(value).replace('|', "\\|")
}

/// A fenced block holding `body` as it is: its fence is longer than any run of
/// backticks in it.
fn fenced(body: &str, info: &str) -> String {
    let fence = "`".repeat((longest_run(body, '`') + 1).max(3));
    format!("{fence}{info}\n{}\n{fence}\n", visible(body))
}

/// Invisible characters as `\u{...}`, the rest as it is: for code, where escapes of
/// Markdown would show.
fn visible(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if shown_escaped(c) && c != '\n' && c != '\t' {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

fn longest_run(value: &str, of: char) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for c in value.chars() {
        run = if c == of { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::transcript::model::sealed::log;

    #[test]
    fn text_from_the_log_cannot_format_or_break_the_page() {
        assert_eq!(
            text("<script>alert(1)</script> & *bold* | x"),
            "\\<script\\>alert(1)\\</script\\> \\& \\*bold\\* \\| x"
        );
        assert_eq!(text("- item"), "\\- item");
        assert_eq!(text("1. first"), "1\\. first");
        assert_eq!(text("a-b 1.5"), "a-b 1.5");
        assert_eq!(text("two\nlines"), "two<br>lines");
        assert_eq!(text("a\u{202e}b"), "a\\\\u{202e}b");
    }

    #[test]
    fn code_takes_a_fence_longer_than_any_inside() {
        assert_eq!(code("ls"), "`ls`");
        assert_eq!(code("a `b` c"), "``a `b` c``");
        assert_eq!(code("`x`"), "`` `x` ``");
        assert_eq!(cell_code("a | b"), "`a \\| b`");
        assert_eq!(fenced("echo ```", "sh"), "````sh\necho ```\n````\n");
        assert_eq!(fenced("plain", ""), "```\nplain\n```\n");
    }

    #[test]
    fn a_long_output_shows_its_first_lines_and_counts_the_rest() {
        let lines: String = (1..=25).map(|n| format!("line {n}\n")).collect();
        let transcript = Transcript::from_events(&log(&[
            (
                0,
                "command_started",
                json!({"unit": "s", "phase": "run", "index": 0, "attempt": 1, "command": "seq 25"}),
                None,
            ),
            (
                1,
                "output",
                json!({"unit": "s", "stream": "stdout", "text": lines}),
                None,
            ),
            (
                2,
                "command_finished",
                json!({"unit": "s", "phase": "run", "index": 0, "attempt": 1,
                       "exit": {"code": 0}, "duration_ms": 1}),
                None,
            ),
        ]));
        let md = render(&transcript);
        assert!(md.contains("line 20\n```\n"), "{md}");
        assert!(!md.contains("line 21"), "{md}");
        assert!(md.contains("… 5 more lines in the log."), "{md}");
    }
}
