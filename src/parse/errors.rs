//! pest's errors rewritten in the words of the person writing the runbook: "expected a
//! duration such as `30m`", never "expected duration_unit".

use std::collections::BTreeSet;

use pest::error::{Error, ErrorVariant, InputLocation};

use super::codes;
use super::grammar::Rule;
use crate::diagnostic::Diagnostic;
use crate::source::Span;

pub(super) fn empty(text: &str) -> Diagnostic {
    Diagnostic::new(codes::EMPTY, "this file holds no runbook")
        .with_label(Span::point(text.len()), "nothing but blank lines and comments")
        .with_help("a runbook starts with its header, for example:\n  runbook \"kernel-upgrade\" {\n    title \"Kernel upgrade\"\n    risk high\n  }")
}

pub(super) fn rewrite(text: &str, error: &Error<Rule>) -> Diagnostic {
    let at = match error.location {
        InputLocation::Pos(at) => at,
        InputLocation::Span((start, _)) => start,
    };
    if let Some(unterminated) = unterminated_string(text, at) {
        return unterminated;
    }
    let mut expected: BTreeSet<Expectation> = BTreeSet::new();
    if let ErrorVariant::ParsingError { positives, .. } = &error.variant {
        expected.extend(positives.iter().filter_map(|rule| describe(*rule)));
    }
    if let Some(attempts) = error.parse_attempts() {
        if attempts.max_position == at {
            // pest does not export its token type; its Display is the literal itself.
            for token in attempts.expected_tokens() {
                if let Some(expectation) = literal(&token.to_string()) {
                    expected.insert(expectation);
                }
            }
        }
    }
    // pest may report a rule that failed part-way through at its start: "expected
    // `runbook`, found `runbook`". What is missing is where the parse got furthest.
    let paradox = match expected.iter().collect::<Vec<_>>().as_slice() {
        [Expectation::Keyword(word)] => starts_with_word(&text[at..], word),
        _ => false,
    };
    let at = match error.parse_attempts() {
        Some(attempts) if paradox && attempts.max_position > at => {
            expected = attempts
                .expected_tokens()
                .iter()
                .filter_map(|token| literal(&token.to_string()))
                .collect();
            attempts.max_position
        }
        _ => at,
    };
    // A value such as "a failure class (`minor`, ...)" already lists its words.
    let listed: Vec<&'static str> = expected
        .iter()
        .filter_map(|expectation| match expectation {
            Expectation::Value(text) => Some(*text),
            _ => None,
        })
        .collect();
    expected.retain(|expectation| match expectation {
        Expectation::Keyword(word) => !listed
            .iter()
            .any(|text| text.contains(&format!("`{word}`"))),
        _ => true,
    });
    let condition = Expectation::Value("a condition such as `error_rate < 0.05`");
    if let Some(open) = text[at..]
        .chars()
        .next()
        .filter(|c| matches!(c, '(' | '[' | '{'))
    {
        if expected.contains(&condition) {
            let close = match open {
                '(' => ')',
                '[' => ']',
                _ => '}',
            };
            return Diagnostic::new(codes::SYNTAX, format!("this `{open}` is never closed"))
                .with_label(Span::new(at, at + 1), format!("opened here, no `{close}` follows"))
                .with_help(format!("close it with `{close}`; a condition's brackets may span lines, but its strings may not"));
        }
    }
    let found = found(text, at);
    let message = match expected.len() {
        0 => format!("unexpected {found}"),
        _ => format!("expected {}, found {found}", join(&expected)),
    };
    let label_span = token_span(text, at);
    let label = if expected.is_empty() {
        "not expected here".to_string()
    } else {
        format!("expected {}", join_short(&expected))
    };
    let diagnostic = Diagnostic::new(codes::SYNTAX, message).with_label(label_span, label);
    match unclosed_block(text, at, &expected) {
        Some(open) => diagnostic
            .with_secondary(Span::new(open, open + 1), "this block is never closed")
            .with_help(if at >= text.trim_end().len() {
                "a `}` is missing: close the block at the end of the file"
            } else {
                "a `}` is missing: close the block before this"
            }),
        None => diagnostic.with_help(help(&expected, text, at)),
    }
}

/// Words that start a top-level item: where one is found inside a block, the block
/// was most likely left open.
const ITEM_KEYWORDS: &[&str] = &[
    "step",
    "gate",
    "waves",
    "watch",
    "timer",
    "on",
    "role",
    "audience",
    "inventory",
    "param",
    "secret",
    "probe",
    "channel",
    "notify",
    "ship",
];

/// The `{` of the innermost block still open at `at`, when a `}` would have been
/// accepted there and what is found is the start of a new item or the end of the
/// file: the usual sign of a forgotten `}`.
fn unclosed_block(text: &str, at: usize, expected: &BTreeSet<Expectation>) -> Option<usize> {
    if !expected.contains(&Expectation::Punctuation("}".to_string())) {
        return None;
    }
    let at_end = at >= text.trim_end().len();
    if !at_end && !ITEM_KEYWORDS.contains(&word_at(text, at)) {
        return None;
    }
    super::depth::open_blocks(&text[..at.min(text.len())]).pop()
}

/// Something the parser would have accepted, ordered so values read before keywords.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Expectation {
    Value(&'static str),
    Keyword(String),
    Punctuation(String),
}

impl Expectation {
    fn text(&self) -> String {
        match self {
            Expectation::Value(text) => text.to_string(),
            Expectation::Keyword(word) | Expectation::Punctuation(word) => format!("`{word}`"),
        }
    }
}

/// Whether `text` begins with the keyword `word` (not a longer identifier).
fn starts_with_word(text: &str, word: &str) -> bool {
    text.strip_prefix(word).is_some_and(|rest| {
        !rest
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

fn literal(token: &str) -> Option<Expectation> {
    let starts_with_letter = token
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic());
    if starts_with_letter && token.chars().all(|c| c.is_ascii_alphabetic() || c == '_') {
        Some(Expectation::Keyword(token.to_string()))
    } else if token.trim().is_empty()
        || token.starts_with('#')
        || token == "\""
        || token == "\"\"\""
    {
        // Whitespace, comments and string quotes are implied by other expectations.
        None
    } else if matches!(
        token,
        "{" | "}" | "[" | "]" | "," | ":" | "=" | "==" | "!=" | "%" | "(" | ")"
    ) {
        Some(Expectation::Punctuation(token.to_string()))
    } else {
        None
    }
}

/// The words for a rule, or `None` for rules that are never what the user "meant"
/// (pieces of tokens, whitespace).
fn describe(rule: Rule) -> Option<Expectation> {
    use Expectation::{Keyword, Value};
    let keyword = |word: &str| Some(Keyword(word.to_string()));
    match rule {
        Rule::ident => Some(Value("a name such as `web`")),
        Rule::string | Rule::quoted_string | Rule::triple_string => {
            Some(Value("a quoted string such as `\"text\"`"))
        }
        Rule::integer => Some(Value("a whole number such as `3`")),
        Rule::number => Some(Value("a number such as `0.5`")),
        Rule::percent => Some(Value("a percentage such as `10%`")),
        Rule::duration => Some(Value("a duration such as `30m`")),
        Rule::boolean => Some(Value("`true` or `false`")),
        Rule::literal => Some(Value(
            "a value such as `\"text\"`, `3`, `30m`, `10%` or `true`",
        )),
        Rule::condition => Some(Value("a condition such as `error_rate < 0.05`")),
        Rule::failure_class => Some(Value("a failure class (`minor`, `functional` or `severe`)")),
        Rule::risk_level => Some(Value("a risk tier (`high`, `medium` or `low`)")),
        Rule::objective_kind => Some(Value(
            "an objective (`rollback_start`, `restored`, `outage` or `alert`)",
        )),
        Rule::param_type => Some(Value(
            "a type (`string`, `int`, `float`, `bool` or `duration`)",
        )),
        Rule::event_kind => Some(Value(
            "an event (`start`, `finish`, `wave`, `gate`, `failure`, `rollback` or `breach`)",
        )),
        Rule::timeout_action => Some(Value("`escalate`, `abort` or `continue`")),
        Rule::rollback_scope => Some(Value("a rollback scope (`step`, `hosts`, `wave` or `all`)")),
        Rule::label_op => Some(Value("`=` or `!=`")),
        Rule::EOI => Some(Value("the end of the file")),
        Rule::header => keyword("runbook"),
        Rule::title => keyword("title"),
        Rule::description => keyword("description"),
        Rule::version => keyword("version"),
        Rule::risk => keyword("risk"),
        Rule::objective => keyword("objective"),
        Rule::environment => keyword("environment"),
        Rule::change => keyword("change"),
        Rule::commander => keyword("commander"),
        Rule::default_timeout | Rule::timeout => keyword("timeout"),
        Rule::roster => keyword("roster"),
        Rule::drill_every => keyword("drill"),
        Rule::review_every => keyword("review"),
        Rule::postmortem => keyword("postmortem"),
        Rule::role => keyword("role"),
        Rule::audience => keyword("audience"),
        Rule::inventory => keyword("inventory"),
        Rule::param => keyword("param"),
        Rule::secret => keyword("secret"),
        Rule::probe => keyword("probe"),
        Rule::channel => keyword("channel"),
        Rule::notify | Rule::action_notify => keyword("notify"),
        Rule::ship => keyword("ship"),
        Rule::policy | Rule::target | Rule::target_sample => keyword("on"),
        Rule::step => keyword("step"),
        Rule::gate => keyword("gate"),
        Rule::timer => keyword("timer"),
        Rule::watch => keyword("watch"),
        Rule::waves => keyword("waves"),
        Rule::owner => keyword("owner"),
        Rule::parallel => keyword("parallel"),
        Rule::retry => keyword("retry"),
        Rule::idempotent => keyword("idempotent"),
        Rule::irreversible => keyword("irreversible"),
        Rule::readonly => keyword("readonly"),
        Rule::background => keyword("background"),
        Rule::after => keyword("after"),
        Rule::raises => keyword("failure"),
        Rule::backup => keyword("backup"),
        Rule::run => keyword("run"),
        Rule::script => keyword("script"),
        Rule::manual => keyword("manual"),
        Rule::record => keyword("record"),
        Rule::expect => keyword("expect"),
        Rule::remedy => keyword("remedy"),
        Rule::verify => keyword("verify"),
        Rule::rollback | Rule::action_rollback => keyword("rollback"),
        Rule::approve => keyword("approve"),
        Rule::require => keyword("require"),
        Rule::poll => keyword("poll"),
        Rule::every | Rule::notify_every => keyword("every"),
        Rule::during => keyword("during"),
        Rule::over => keyword("over"),
        Rule::stages => keyword("stages"),
        Rule::pause | Rule::action_pause => keyword("pause"),
        Rule::max_failed => keyword("max_failed"),
        Rule::action_continue => keyword("continue"),
        Rule::action_abort => keyword("abort"),
        Rule::distinct => keyword("distinct"),
        Rule::approve_limit => keyword("within"),
        Rule::inventory_filter => keyword("where"),
        Rule::probe_json => keyword("json"),
        Rule::quorum => Some(Value("a quorum such as `2 of [commander, dba]`")),
        Rule::ident_list => Some(Value("a list of names such as `[commander, dba]`")),
        _ => None,
    }
}

fn join(expected: &BTreeSet<Expectation>) -> String {
    let texts: Vec<String> = expected.iter().map(Expectation::text).collect();
    match texts.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The label under the code stays short; the message has the full list.
fn join_short(expected: &BTreeSet<Expectation>) -> String {
    if expected.len() <= 4 {
        join(expected)
    } else {
        let first: BTreeSet<Expectation> = expected.iter().take(3).cloned().collect();
        format!(
            "{}, or {} more",
            join(&first).replacen(" or ", ", ", 1),
            expected.len() - 3
        )
    }
}

fn help(expected: &BTreeSet<Expectation>, text: &str, at: usize) -> String {
    let word = word_at(text, at);
    if let Some(suggestion) = closest_keyword(expected, word) {
        return format!("did you mean `{suggestion}`?");
    }
    let non_ascii_word = word
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() && !c.is_ascii());
    if non_ascii_word && expected.contains(&Expectation::Value("a name such as `web`")) {
        return "names are ASCII letters, digits and `_`, so they can be typed on a command line and used in conditions; write text in any language in the quoted description that follows the name".to_string();
    }
    if expected.contains(&Expectation::Value("a duration such as `30m`")) {
        return "durations are a number and a unit: `ms`, `s`, `m`, `h` or `d`, as in `90s`, `30m`, `1h30m`".to_string();
    }
    if expected
        .iter()
        .any(|e| matches!(e, Expectation::Value(v) if v.starts_with("a quoted string")))
    {
        return "text is written in double quotes, `\"like this\"`, or in triple quotes for several lines".to_string();
    }
    if word == "}" || text[at..].starts_with('}') {
        return "a block was closed before it was complete, or a `}` is left over".to_string();
    }
    if at >= text.trim_end().len() {
        return "the file ended early: is a `}` missing?".to_string();
    }
    "see docs/language.md for what may be written here".to_string()
}

/// A keyword the user probably misspelt.
fn closest_keyword(expected: &BTreeSet<Expectation>, word: &str) -> Option<String> {
    if word.is_empty() || !word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    let keywords = expected.iter().filter_map(|expectation| match expectation {
        Expectation::Keyword(keyword) => Some(keyword.as_str()),
        _ => None,
    });
    crate::diagnostic::closest(word, keywords).map(str::to_string)
}

fn word_at(text: &str, at: usize) -> &str {
    let rest = text.get(at..).unwrap_or("");
    let end = rest
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map_or(rest.len(), |(index, _)| index);
    if end == 0 {
        rest.chars().next().map_or("", |c| &rest[..c.len_utf8()])
    } else {
        &rest[..end]
    }
}

fn token_span(text: &str, at: usize) -> Span {
    let word = word_at(text, at);
    Span::new(at, at + word.len())
}

fn found(text: &str, at: usize) -> String {
    let word = word_at(text, at);
    match word {
        "" => "the end of the file".to_string(),
        "\n" | "\r" => "the end of the line".to_string(),
        _ => format!("`{}`", word.escape_debug()),
    }
}

/// A `"` at the error with no closing quote on its line is the real problem.
fn unterminated_string(text: &str, at: usize) -> Option<Diagnostic> {
    let rest = text.get(at..)?;
    if let Some(after_quotes) = rest.strip_prefix("\"\"\"") {
        return (!after_quotes.contains("\"\"\"")).then(|| {
            Diagnostic::new(
                codes::UNTERMINATED_STRING,
                "this triple-quoted string is never closed",
            )
            .with_label(Span::new(at, at + 3), "opened here")
            .with_help("close it with `\"\"\"`")
        });
    }
    if !rest.starts_with('"') {
        return None;
    }
    let line = rest[1..].split('\n').next().unwrap_or("");
    let mut escaped = false;
    for c in line.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return None,
            _ => escaped = false,
        }
    }
    Some(
        Diagnostic::new(codes::UNTERMINATED_STRING, "this string is not closed on its line")
            .with_label(Span::new(at, at + 1 + line.trim_end_matches('\r').len()), "opened here, never closed")
            .with_help("close it with `\"` on the same line; for text over several lines use \"\"\"triple quotes\"\"\""),
    )
}

#[cfg(test)]
mod tests {
    use super::ITEM_KEYWORDS;

    /// `ITEM_KEYWORDS` must be the words that start the grammar's top-level items, so
    /// the two cannot drift apart: read them from the `item` rule and each item's rule.
    #[test]
    fn item_keywords_are_the_first_words_of_the_grammar_items() {
        let grammar = include_str!("../../grammar/runbook.pest");
        let rule = |name: &str| {
            grammar
                .lines()
                .find(|line| {
                    line.split_whitespace().next() == Some(name)
                        && line.split_whitespace().nth(1) == Some("=")
                })
                .unwrap_or_else(|| panic!("no rule `{name}` in the grammar"))
        };
        let items_start = grammar
            .find("\nitem = _{")
            .unwrap_or_else(|| panic!("no `item` rule"));
        let items_body = &grammar[items_start..];
        let items_body = &items_body[items_body.find('{').unwrap_or(0) + 1
            ..items_body.find("\n}").unwrap_or(items_body.len())];
        let mut first_words: Vec<&str> = items_body
            .split(|c: char| c == '|' || c.is_whitespace())
            .filter(|name| !name.is_empty())
            .map(|name| {
                let line = rule(name);
                let quoted = line.split('"').nth(1);
                quoted.unwrap_or_else(|| panic!("rule `{name}` starts with no literal"))
            })
            .collect();
        first_words.sort_unstable();
        let mut listed = ITEM_KEYWORDS.to_vec();
        listed.sort_unstable();
        assert_eq!(listed, first_words);
    }
}
