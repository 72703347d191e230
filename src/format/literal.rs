//! The canonical spelling of literals: strings, durations, percentages and numbers.
//! Each is printed from its value, so two spellings of one value print alike.

use std::fmt::Write;

use crate::ast::{Text, TextStyle};

pub use crate::ast::duration_text as duration;

/// `10%`, `0.5%`: the shortest decimal that reads back as the same value.
pub fn percent(value: f64) -> String {
    format!("{value}%")
}

/// The shortest decimal that reads back as the same value (`5`, `-3.25`).
pub fn number(value: f64) -> String {
    format!("{value}")
}

/// A triple-quoted string exactly as written; a quoted one with canonical escapes.
/// `source` is the whole file: it tells which `{` the author escaped.
pub fn text(text: &Text, source: &str) -> String {
    match text.style {
        TextStyle::Triple => format!("\"\"\"{}\"\"\"", text.value),
        TextStyle::Quoted => quoted(text, source),
    }
}

/// One character of a decoded string, and whether the author wrote it as an escape.
/// Only escaped braces matter: `\{{` is text, `{{` is an interpolation.
#[derive(Clone, Copy)]
struct Unit {
    char: char,
    escaped: bool,
}

fn quoted(text: &Text, source: &str) -> String {
    let units = source
        .get(text.span.start..text.span.end)
        .and_then(units_of_literal)
        .filter(|units| units.iter().map(|unit| unit.char).eq(text.value.chars()))
        // The value is the truth; without matching source text no brace was escaped.
        .unwrap_or_else(|| {
            text.value
                .chars()
                .map(|char| Unit {
                    char,
                    escaped: false,
                })
                .collect()
        });
    let mut out = String::with_capacity(text.value.len() + 2);
    out.push('"');
    for (index, unit) in units.iter().enumerate() {
        match unit.char {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '{' if unit.escaped && next_to_brace(&units, index) => out.push_str("\\{"),
            control if crate::ast::shown_escaped(control) => {
                let _ = write!(out, "\\u{{{:x}}}", control as u32);
            }
            other => out.push(other),
        }
    }
    out.push('"');
    out
}

/// An escaped `{` stays escaped only where dropping the backslash could make `{{`.
fn next_to_brace(units: &[Unit], index: usize) -> bool {
    let is_brace = |at: Option<&Unit>| at.is_some_and(|unit| unit.char == '{');
    is_brace(index.checked_sub(1).and_then(|before| units.get(before)))
        || is_brace(units.get(index + 1))
}

/// Decodes a quoted literal as the parser does, keeping which characters were escapes.
fn units_of_literal(literal: &str) -> Option<Vec<Unit>> {
    let body = literal.strip_prefix('"')?.strip_suffix('"')?;
    let mut units = Vec::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(char) = chars.next() {
        if char != '\\' {
            units.push(Unit {
                char,
                escaped: false,
            });
            continue;
        }
        let decoded = match chars.next() {
            Some('"') => Some('"'),
            Some('\\') => Some('\\'),
            Some('n') => Some('\n'),
            Some('t') => Some('\t'),
            Some('r') => Some('\r'),
            Some('{') => Some('{'),
            Some('u') if chars.peek() == Some(&'{') => {
                chars.next();
                let digits: String = chars.by_ref().take_while(|&c| c != '}').collect();
                u32::from_str_radix(&digits, 16)
                    .ok()
                    .and_then(char::from_u32)
            }
            Some(_) => None,
            None => Some('\\'),
        };
        units.extend(decoded.map(|char| Unit {
            char,
            escaped: true,
        }));
    }
    Some(units)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Span;

    fn quoted_from(source: &str, value: &str) -> String {
        let text = Text {
            value: value.to_string(),
            style: TextStyle::Quoted,
            span: Span::new(0, source.len()),
            literal_braces: Vec::new(),
        };
        self::text(&text, source)
    }

    #[test]
    fn durations_are_written_largest_unit_first() {
        assert_eq!(duration(90 * 60_000), "1h30m");
        assert_eq!(duration(3_600_000), "1h");
        assert_eq!(duration(1_500), "1s500ms");
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(7 * 86_400_000 + 1), "7d1ms");
    }

    #[test]
    fn numbers_and_percentages_are_shortest() {
        assert_eq!(percent(10.0), "10%");
        assert_eq!(percent(0.5), "0.5%");
        assert_eq!(number(-3.25), "-3.25");
        assert_eq!(number(1000.0), "1000");
    }

    #[test]
    fn invisible_and_reordering_characters_are_shown_as_escapes() {
        let value = "echo \u{202e}evil\u{200b}";
        assert_eq!(
            quoted_from("\"echo \u{202e}evil\u{200b}\"", value),
            "\"echo \\u{202e}evil\\u{200b}\""
        );
    }

    #[test]
    fn escapes_are_canonical() {
        assert_eq!(quoted_from(r#""a\u{22}b""#, "a\"b"), r#""a\"b""#);
        assert_eq!(
            quoted_from(r#""other""#, "a\"b"),
            r#""a\"b""#,
            "source text that does not match the value is ignored"
        );
        assert_eq!(quoted_from("\"a\tb\"", "a\tb"), r#""a\tb""#);
        assert_eq!(quoted_from(r#""\u{7}""#, "\u{7}"), r#""\u{7}""#);
        assert_eq!(quoted_from("\"升级 ✓\"", "升级 ✓"), "\"升级 ✓\"");
    }

    #[test]
    fn braces_keep_their_meaning() {
        assert_eq!(quoted_from(r#""{{x}}""#, "{{x}}"), r#""{{x}}""#);
        assert_eq!(quoted_from(r#""\{{x}}""#, "{{x}}"), r#""\{{x}}""#);
        assert_eq!(quoted_from(r#""{\{x}}""#, "{{x}}"), r#""{\{x}}""#);
        assert_eq!(quoted_from(r#""\u{7b}{x}}""#, "{{x}}"), r#""\{{x}}""#);
        assert_eq!(quoted_from(r#""\{x}""#, "{x}"), r#""{x}""#);
    }
}
