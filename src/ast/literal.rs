use serde::{Deserialize, Serialize};

use crate::source::Span;

/// A name: a role, step, probe, param, inventory. ASCII identifiers, so they can be
/// typed on a command line (`runbook approve RUN go`) and used in Rhai conditions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A string literal, decoded. The span covers the quotes; interpolations
/// (`{{name}}`) are found by the checker in the source text the span covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    pub value: String,
    pub style: TextStyle,
    pub span: Span,
    /// Byte offsets in `value` of braces written `\{`: literal text, never the start
    /// of an interpolation. Empty (and unallocated) in nearly every string.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub literal_braces: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextStyle {
    /// `"..."` with backslash escapes, on one line.
    Quoted,
    /// `"""..."""`, raw and possibly over several lines (scripts, instructions).
    Triple,
}

impl Text {
    /// Span of the value without its quotes.
    pub fn content_span(&self) -> Span {
        let quote = match self.style {
            TextStyle::Quoted => 1,
            TextStyle::Triple => 3,
        };
        Span::new(self.span.start + quote, self.span.end.saturating_sub(quote))
    }
}

/// `90s`, `30m`, `1h30m`, `7d`, held in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duration {
    pub millis: u64,
    pub span: Span,
}

/// Characters a reader cannot see, or that reorder what they see (bidirectional
/// overrides: "Trojan Source"): printed as `\u{...}` escapes wherever runbook writes a
/// quoted string back (`fmt`, the graph's text view), so a reviewer sees them.
pub fn shown_escaped(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// The canonical spelling of a duration, shared by `fmt`, the graph and the checker's
/// messages: largest units first (`90m` is `1h30m`, `1500ms` is `1s500ms`), zero `0s`.
pub fn duration_text(millis: u64) -> String {
    const UNITS: [(&str, u64); 5] = [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    if millis == 0 {
        return "0s".to_string();
    }
    let mut rest = millis;
    let mut text = String::new();
    for (unit, size) in UNITS {
        if rest >= size {
            text.push_str(&(rest / size).to_string());
            text.push_str(unit);
            rest %= size;
        }
    }
    text
}

/// `10%`, `0.5%`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percent {
    pub value: f64,
    pub span: Span,
}
