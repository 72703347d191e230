//! A string as the engine fills it in: literal text and `{{name}}` holes kept apart,
//! so that a literal `\{{x}}` written in a runbook never becomes a value, and so that
//! each value can be quoted for where it lands.

use serde::Serialize;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    /// Text taken as written (escapes already decoded).
    Text(String),
    /// The name inside `{{ }}`, trimmed: `host`, `run.id`, `announce_window.notice_url`.
    Value(String),
}

/// Splits a string into text and holes, the way the checker found its interpolations:
/// `{{` opens a hole unless either brace was written `\{`; an unclosed `{{` (which the
/// checker refuses) stays text.
pub(super) fn template(text: &crate::ast::Text) -> Vec<Segment> {
    segments(&text.value, &text.literal_braces)
}

/// Splits a decoded string, given where its escaped braces are (none for a string
/// that never had escapes, such as a triple-quoted one).
pub fn segments(value: &str, literal_braces: &[u32]) -> Vec<Segment> {
    let literal =
        |at: usize| u32::try_from(at).is_ok_and(|at| literal_braces.binary_search(&at).is_ok());
    let mut segments = Vec::new();
    let mut plain_from = 0;
    let mut search_from = 0;
    while let Some(found) = value[search_from..].find("{{") {
        let open = search_from + found;
        if literal(open) || literal(open + 1) {
            search_from = open + 1;
            continue;
        }
        let Some(close) = value[open + 2..].find("}}") else {
            break;
        };
        if plain_from < open {
            segments.push(Segment::Text(value[plain_from..open].to_string()));
        }
        let inner = &value[open + 2..open + 2 + close];
        segments.push(Segment::Value(inner.trim().to_string()));
        plain_from = open + 2 + close + 2;
        search_from = plain_from;
    }
    if plain_from < value.len() {
        segments.push(Segment::Text(value[plain_from..].to_string()));
    }
    segments
}

/// Where literal `{{` begin, as the template scan meets them: one canonical set for
/// every way of escaping the same text (`\{{`, `{\{`, `\{\{`), and nothing for an
/// escaped brace that could never open a hole, so equal meanings compare equal.
pub fn literal_openings(value: &str, literal_braces: &[u32]) -> Vec<u32> {
    let literal =
        |at: usize| u32::try_from(at).is_ok_and(|at| literal_braces.binary_search(&at).is_ok());
    let mut openings = Vec::new();
    let mut search_from = 0;
    while let Some(found) = value[search_from..].find("{{") {
        let open = search_from + found;
        if !value[open + 2..].contains("}}") {
            // Unclosed: text however it was written.
            break;
        }
        if literal(open) || literal(open + 1) {
            openings.push(u32::try_from(open).unwrap_or(u32::MAX));
            search_from = open + 1;
            continue;
        }
        let Some(close) = value[open + 2..].find("}}") else {
            break;
        };
        search_from = open + 2 + close + 2;
    }
    openings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::{Text, TextStyle};
    use crate::source::Span;

    fn text(value: &str, literal_braces: Vec<u32>) -> Text {
        Text {
            value: value.to_string(),
            style: TextStyle::Quoted,
            span: Span::new(0, 0),
            literal_braces,
        }
    }

    fn value(name: &str) -> Segment {
        Segment::Value(name.to_string())
    }

    fn plain(text: &str) -> Segment {
        Segment::Text(text.to_string())
    }

    #[test]
    fn holes_and_text_alternate() {
        assert_eq!(
            template(&text(
                "lbctl drain --member {{ host }} --pool {{pool}}",
                vec![]
            )),
            [
                plain("lbctl drain --member "),
                value("host"),
                plain(" --pool "),
                value("pool")
            ]
        );
        assert_eq!(
            template(&text("{{a}}{{b}}", vec![])),
            [value("a"), value("b")]
        );
        assert_eq!(template(&text("", vec![])), []);
    }

    #[test]
    fn an_escaped_brace_is_text() {
        // Written `echo \{{host}} {{host}}`: the first is literal.
        assert_eq!(
            template(&text("echo {{host}} {{host}}", vec![5])),
            [plain("echo {{host}} "), value("host")]
        );
        // Written `{\{x}}`: the second brace was escaped.
        assert_eq!(template(&text("{{x}}", vec![1])), [plain("{{x}}")]);
    }

    #[test]
    fn an_unclosed_hole_stays_text() {
        assert_eq!(template(&text("a {{b", vec![])), [plain("a {{b")]);
    }
}
