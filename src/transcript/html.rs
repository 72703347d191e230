//! The HTML format: how each piece of the transcript `document` walks through looks on
//! one self-contained page, readable on screen and on paper. Its style is inline and it
//! has no script at all; a Content-Security-Policy forbids every script and every
//! external file, so even a mistake in escaping could not run anything. Each command's
//! output is in a `<details>` element, opened when printed. Every piece of text from
//! the log is escaped: `text`, `plain`, `code` and the blocks that take a body escape
//! it, and the rest take pieces already escaped.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::document;
use super::markup::{Cell, Look, Markup, Region, Table};
use super::model::{Command, Transcript, TO_FILL_IN};
use crate::ast::shown_escaped;

const STYLE: &str = r#"
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b; max-width: 80rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .5rem; }
h2 { font-size: 1.25rem; border-bottom: 1px solid #c8c8c8; margin-top: 2.2rem; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
th, td { border: 1px solid #d4d4d4; padding: .3rem .5rem; text-align: left; vertical-align: top; }
thead th, table.facts th { background: #f2f2f2; }
table.facts { width: auto; }
caption { text-align: left; font-weight: 600; padding: .4rem 0 .2rem; }
td.time { white-space: nowrap; font-variant-numeric: tabular-nums; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .88em; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; padding: .5rem .6rem; white-space: pre-wrap; overflow-wrap: anywhere; margin: .3rem 0; }
.lines { white-space: pre-wrap; overflow-wrap: anywhere; }
.bad { color: #a30000; font-weight: 600; }
.good { color: #1d5e00; }
.muted { color: #666; }
.stderr { color: #a30000; }
.note { font-style: italic; color: #555; }
.fill { border: 2px dashed #8a8a8a; padding: .6rem .9rem; margin: .5rem 0 1rem; min-height: 3rem; }
.banner { border-left: 4px solid #b58900; background: #fff8e1; padding: .5rem .8rem; }
details > summary { cursor: pointer; color: #333; }
@media print {
  body { max-width: none; margin: 0; padding: 0; font-size: 9.5pt; color: #000; }
  thead th, table.facts th, pre, .banner { background: none; }
  a { color: inherit; text-decoration: none; }
  tr, .command > p { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
  details::details-content { content-visibility: visible; display: block; }
  details > summary { list-style: none; }
}
"#;

pub fn render(transcript: &Transcript) -> String {
    let mut html = Html::default();
    document::write(transcript, &mut html);
    html.out
}

/// The page being written.
#[derive(Debug, Default)]
struct Html {
    out: String,
    /// What closes the open table, as it was opened.
    table_end: &'static str,
}

impl Markup for Html {
    fn begin_document(&mut self, title: &str) {
        let _ = write!(
            self.out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
            escape(title)
        );
    }

    fn end_document(&mut self) {
        self.out.push_str("</body>\n</html>\n");
    }

    fn open(&mut self, region: &Region) {
        match region {
            Region::Header => self.out.push_str("<header>\n"),
            Region::Section { id, title } => {
                let _ = writeln!(self.out, "<section id=\"{id}\">\n<h2>{title}</h2>");
            }
            Region::Command { number } => {
                let _ = writeln!(
                    self.out,
                    "<article class=\"command\" id=\"command-{number}\">"
                );
            }
        }
    }

    fn close(&mut self, region: &Region) {
        self.out.push_str(match region {
            Region::Header => "</header>\n",
            Region::Section { .. } => "</section>\n",
            Region::Command { .. } => "</article>\n",
        });
    }

    fn heading(&mut self, level: u8, inline: &str) {
        let _ = writeln!(self.out, "<h{level}>{inline}</h{level}>");
    }

    fn paragraph(&mut self, look: Look, inline: &str) {
        let _ = writeln!(self.out, "<p{}>{inline}</p>", class(look));
    }

    fn banner(&mut self, inline: &str) {
        let _ = writeln!(self.out, "<p class=\"banner\">{inline}</p>");
    }

    fn list(&mut self, look: Look, items: &[String]) {
        let _ = writeln!(self.out, "<ul{}>", class(look));
        for item in items {
            let _ = writeln!(self.out, "<li>{item}</li>");
        }
        self.out.push_str("</ul>\n");
    }

    fn table(&mut self, table: &Table) {
        let columns = match table {
            Table::Facts => {
                self.out.push_str("<table class=\"facts\">\n");
                self.table_end = "</table>\n";
                return;
            }
            Table::Columns(columns) => {
                self.out.push_str("<table>\n");
                self.table_end = "</tbody>\n</table>\n";
                columns
            }
            Table::Captioned { caption, columns } => {
                let _ = writeln!(self.out, "<table>\n<caption>{}</caption>", escape(caption));
                self.table_end = "</tbody></table>\n";
                columns
            }
        };
        self.out.push_str("<thead><tr>");
        for column in *columns {
            let _ = write!(self.out, "<th scope=\"col\">{column}</th>");
        }
        self.out.push_str("</tr></thead>\n<tbody>\n");
    }

    fn row(&mut self, anchor: Option<&str>, cells: &[Cell]) {
        match anchor {
            Some(anchor) => {
                let _ = write!(self.out, "<tr id=\"{anchor}\">");
            }
            None => self.out.push_str("<tr>"),
        }
        for cell in cells {
            let look = class(cell.look);
            if cell.heads_row {
                let _ = write!(self.out, "<th scope=\"row\"{look}>{}</th>", cell.inline);
            } else {
                let _ = write!(self.out, "<td{look}>{}</td>", cell.inline);
            }
        }
        self.out.push_str("</tr>\n");
    }

    fn end_table(&mut self) {
        self.out.push_str(self.table_end);
    }

    fn code_block(&mut self, body: &str, _info: &str) {
        let _ = writeln!(self.out, "<pre>{}</pre>", escape(body));
    }

    fn folded_code(&mut self, summary: &str, body: &str) {
        let _ = writeln!(
            self.out,
            "<details><summary>{summary}</summary><pre>{}</pre></details>",
            escape(body)
        );
    }

    /// The page draws the spaces to write in instead (`writing_space`, `blank`).
    fn to_fill_in(&mut self, _words: &str) {}

    fn writing_space(&mut self, inline: &str) {
        let _ = writeln!(self.out, "<div class=\"fill\">{inline}</div>");
    }

    fn command_summary(&mut self, summary: &str, whole_output: Option<&str>) {
        let whole = whole_output
            .map(|file| format!("; whole output in {} in the run's folder", self.code(file)))
            .unwrap_or_default();
        let _ = writeln!(self.out, "<p>{summary}{whole}</p>");
    }

    /// Every line the log holds, folded behind a summary (unfolded on paper), the
    /// streams told apart.
    fn output(&mut self, ran: &Command) {
        let lines: Vec<(&str, &str)> = ran.lines().collect();
        if lines.is_empty() {
            return;
        }
        let _ = write!(
            self.out,
            "<details><summary>Output: {} line{}</summary><pre>",
            lines.len(),
            if lines.len() == 1 { "" } else { "s" }
        );
        for (stream, line) in lines {
            match stream {
                "stderr" | "note" => {
                    let _ = writeln!(self.out, "<span class=\"{stream}\">{}</span>", escape(line));
                }
                _ => {
                    let _ = writeln!(self.out, "{}", escape(line));
                }
            }
        }
        self.out.push_str("</pre></details>\n");
    }

    fn footer(&mut self, inline: &str) {
        let _ = writeln!(self.out, "<footer><p class=\"muted\">{inline}</p></footer>");
    }

    fn text(&self, value: &str) -> String {
        escape(value)
    }

    fn plain(&self, words: &str) -> String {
        escape(words)
    }

    fn code(&self, value: &str) -> String {
        format!("<code>{}</code>", escape(value))
    }

    fn strong(&self, inline: &str) -> String {
        format!("<strong>{inline}</strong>")
    }

    fn outcome(&self, good: bool, inline: &str) -> String {
        let look = if good { "good" } else { "bad" };
        format!("<span class=\"{look}\">{inline}</span>")
    }

    fn status(&self, good: bool, words: &str) -> String {
        self.outcome(good, &escape(words))
    }

    fn drill_yes(&self) -> String {
        self.strong("yes")
    }

    fn command_reference(&self, number: usize) -> String {
        format!("<a href=\"#command-{number}\">#{number}</a>")
    }

    /// The whole command: the page wraps it.
    fn command_excerpt(&self, command: &str) -> String {
        self.code(command)
    }

    fn command_ended(&self, number: usize, said: &str, failed: bool) -> String {
        let look = if failed { " class=\"bad\"" } else { "" };
        format!(
            "{}: <span{look}>{said}</span>",
            self.command_reference(number)
        )
    }

    /// A line each, under the answer.
    fn entered_values(&self, values: &BTreeMap<String, String>) -> String {
        values
            .iter()
            .map(|(key, value)| format!("\n{key} = {value}"))
            .collect()
    }

    fn blank(&self) -> String {
        format!("<span class=\"muted\">({TO_FILL_IN})</span>")
    }

    fn outputs_shown(&self) -> String {
        "Each output is the part the log holds; the run's folder holds it whole.".to_string()
    }
}

/// ` class="..."` for a look that has one.
fn class(look: Look) -> &'static str {
    match look {
        Look::Plain => "",
        Look::Time => " class=\"time\"",
        Look::Lines => " class=\"lines\"",
        Look::Good => " class=\"good\"",
        Look::Bad => " class=\"bad\"",
        Look::Muted => " class=\"muted\"",
    }
}

/// Text as HTML shows it, in an element or an attribute: `& < > " '` as references,
/// and invisible characters (bidirectional overrides, zero-width spaces) as `\u{...}`,
/// so that a reader sees them.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if shown_escaped(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_log_is_escaped_for_html() {
        assert_eq!(
            escape("<script>alert(\"x\")</script> & 'y'"),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(escape("a\u{202e}b\u{0}c\nd"), "a\\u{202e}b\\u{0}c\nd");
        assert_eq!(escape("&amp;"), "&amp;amp;");
    }
}
