//! Lowering pest's pairs into the AST: one function per grammar rule, in the order the
//! grammar declares them. A pair that does not have the shape the grammar promises is
//! an internal error (a bug here), never a user diagnostic.

use pest::iterators::{Pair, Pairs};
use pest::Token;

use super::codes;
use super::grammar::Rule;
use crate::ast::*;
use crate::diagnostic::Diagnostic;
use crate::internal::InternalError;
use crate::source::Span;

type Result<T> = std::result::Result<T, InternalError>;

/// Lowers the parse trees of one file, collecting user-level findings (bad escapes,
/// numbers too large) as it goes instead of stopping at the first. The file is parsed
/// a piece at a time (the header, then each top-level item), so each tree's positions
/// count from `base`, where its piece starts in `text`.
pub(super) struct Lowerer<'t> {
    pub diagnostics: Vec<Diagnostic>,
    text: &'t str,
    base: usize,
    header: Option<Header>,
    items: Vec<Item>,
    comments: Vec<Comment>,
    /// Where the last run of words-glued-together was reported, so it is reported once.
    glued_at: Option<usize>,
    /// The end of the last leaf pair: text between leaves is grammar literals only.
    covered_to: usize,
}

/// Where to go on after a piece of the file.
pub(super) enum Next {
    /// The next piece starts at this position.
    At(usize),
    /// Only blanks and comments were left.
    End,
}

/// The children of a pair without the comments pest interleaves with them.
struct Children<'i> {
    inner: Pairs<'i, Rule>,
    parent: Rule,
    base: usize,
}

impl<'i> Children<'i> {
    fn next(&mut self) -> Option<Pair<'i, Rule>> {
        self.inner
            .by_ref()
            .find(|pair| pair.as_rule() != Rule::comment)
    }

    fn expect(&mut self, rule: Rule) -> Result<Pair<'i, Rule>> {
        match self.next() {
            Some(pair) if pair.as_rule() == rule => Ok(pair),
            Some(pair) => Err(unexpected(
                self.parent,
                pair.as_rule(),
                local_span(&pair).shifted(self.base),
            )),
            None => Err(missing(self.parent, rule)),
        }
    }

    fn expect_any(&mut self) -> Result<Pair<'i, Rule>> {
        self.next().ok_or(missing(self.parent, Rule::EOI))
    }

    /// The next child if it has the given rule.
    fn optional(&mut self, rule: Rule) -> Option<Pair<'i, Rule>> {
        let mut peek = self.inner.clone();
        let next = peek.by_ref().find(|pair| pair.as_rule() != Rule::comment)?;
        if next.as_rule() == rule {
            self.inner = peek;
            Some(next)
        } else {
            None
        }
    }

    fn rest(self) -> impl Iterator<Item = Pair<'i, Rule>> {
        self.inner.filter(|pair| pair.as_rule() != Rule::comment)
    }
}

fn unexpected(parent: Rule, found: Rule, span: Span) -> InternalError {
    InternalError::new(
        "parse",
        format!("while lowering {parent:?}: unexpected {found:?}"),
        Some(span),
    )
}

fn missing(parent: Rule, wanted: Rule) -> InternalError {
    InternalError::new(
        "parse",
        format!("while lowering {parent:?}: missing {wanted:?}"),
        None,
    )
}

/// The pair's span, in its piece's positions, without the blanks and comments pest
/// skipped while trying an optional element at its end (`role x` followed by a comment
/// and blank lines).
fn local_span(pair: &Pair<'_, Rule>) -> Span {
    let span = pair.as_span();
    let (text, start, end) = (span.get_input(), span.start(), span.end());
    let ends_blank = text[..end].ends_with(|c: char| c.is_whitespace());
    let ends_in_comment = || {
        pair.clone()
            .into_inner()
            .next_back()
            .is_some_and(|last| last.as_rule() == Rule::comment)
    };
    if end == start || !(ends_blank || ends_in_comment()) {
        return Span::new(start, end);
    }
    let comments: Vec<(usize, usize)> = pair
        .clone()
        .into_inner()
        .filter(|inner| inner.as_rule() == Rule::comment)
        // The `#` before a comment's text is part of it.
        .map(|inner| (inner.as_span().start() - 1, inner.as_span().end()))
        .collect();
    trimmed(text, start, end, &comments)
}

/// `start..end` of `text` with the blanks, and the listed comments, at its end cut off.
fn trimmed(text: &str, start: usize, mut end: usize, comments: &[(usize, usize)]) -> Span {
    loop {
        end = start + text[start..end].trim_end().len();
        match comments
            .iter()
            .rev()
            .find(|(_, comment_end)| *comment_end == end)
        {
            Some((comment_start, _)) if *comment_start > start => end = *comment_start,
            _ => break,
        }
    }
    Span::new(start, end)
}

impl<'t> Lowerer<'t> {
    pub fn new(text: &'t str) -> Self {
        Self {
            diagnostics: Vec::new(),
            text,
            base: 0,
            header: None,
            items: Vec::new(),
            comments: Vec::new(),
            glued_at: None,
            covered_to: 0,
        }
    }

    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        local_span(pair).shifted(self.base)
    }

    fn start(&self, pair: &Pair<'_, Rule>) -> usize {
        self.base + pair.as_span().start()
    }

    /// Lowers each child (comments aside) into a vector allocated once at its final
    /// size: a large runbook has hundreds of thousands of these lists, and a vector
    /// grown by doubling holds up to twice the memory it needs.
    fn each<'i, T>(
        &mut self,
        children: Children<'i>,
        mut lower: impl FnMut(&mut Self, Pair<'i, Rule>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut lowered = Vec::with_capacity(children.inner.len());
        for pair in children.rest() {
            lowered.push(lower(self, pair)?);
        }
        Ok(lowered)
    }

    fn children<'i>(&self, pair: Pair<'i, Rule>) -> Children<'i> {
        let parent = pair.as_rule();
        Children {
            inner: pair.into_inner(),
            parent,
            base: self.base,
        }
    }

    /// Lowers the tree of one piece of the file, which starts at `base`: the header
    /// (`head`) or the next items (`next_items`).
    pub fn piece(&mut self, base: usize, pair: Pair<'_, Rule>) -> Result<Next> {
        self.base = base;
        self.scan(&pair);
        let end = self.start(&pair) + pair.as_str().len();
        for child in self.children(pair).rest() {
            match child.as_rule() {
                Rule::header => self.header = Some(self.header(child)?),
                Rule::EOI => return Ok(Next::End),
                _ => {
                    let item = self.item(child)?;
                    self.items.push(item);
                }
            }
        }
        Ok(Next::At(end))
    }

    /// The whole file, once every piece has been lowered.
    pub fn finish(mut self) -> Result<(Runbook, Vec<Diagnostic>)> {
        let header = self.header.take().ok_or_else(|| {
            InternalError::new("parse", "the file ended before its header was read", None)
        })?;
        self.glued_keywords(self.covered_to, self.text.len());
        // Comments after the last item are not part of the runbook's span.
        let comments: Vec<(usize, usize)> = self
            .comments
            .iter()
            .map(|comment| (comment.span.start, comment.span.end))
            .collect();
        let whole = trimmed(self.text, 0, self.text.len(), &comments);
        self.items.shrink_to_fit();
        let runbook = Runbook {
            header,
            items: self.items,
            comments: self.comments,
            span: whole,
        };
        Ok((runbook, self.diagnostics))
    }

    /// Collects the comments of a piece and looks for words run together in it.
    fn scan(&mut self, pair: &Pair<'_, Rule>) {
        for inner in pair.clone().into_inner().flatten() {
            let start = self.start(&inner);
            if inner.as_rule() == Rule::comment {
                // The span takes in the `#` before the text.
                let span = self.span(&inner);
                self.comments.push(Comment {
                    text: inner.as_str().to_string(),
                    span: Span::new(span.start - 1, span.end),
                });
            } else if self.glued_at != Some(start) {
                self.glued_at = self.glued_to_previous_word(start).then_some(start);
            }
            // A leaf's start token is followed by its own end token (cheaper to see
            // than counting its children, which `into_inner` does).
            let leaf = matches!(inner.clone().tokens().nth(1), Some(Token::End { .. }));
            if leaf {
                self.glued_keywords(self.covered_to, start);
                self.covered_to = self.covered_to.max(start + inner.as_str().len());
            }
        }
    }

    // ------------------------------------------------------------ lexical

    /// Text no leaf pair covers holds only the grammar's literals (keywords and
    /// punctuation), so a word there that is no keyword is keywords run together
    /// (`approveby`, `onfailure`), which pest would otherwise read as two words.
    fn glued_keywords(&mut self, from: usize, to: usize) {
        let Some(gap) = self.text.get(from..to) else {
            return;
        };
        let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let mut offset = 0;
        for word in gap.split(|c: char| !is_word(c)) {
            let start = from + offset;
            offset += word.len() + 1;
            if word.is_empty() || keywords().contains(word) {
                continue;
            }
            let split = (1..word.len())
                .find(|&at| keywords().contains(&word[..at]) && keywords().contains(&word[at..]));
            let (message, help) = match split {
                Some(at) => (
                    format!(
                        "`{}` and `{}` are written together",
                        &word[..at],
                        &word[at..]
                    ),
                    format!(
                        "put a space between them: `{} {}`",
                        &word[..at],
                        &word[at..]
                    ),
                ),
                None => (
                    format!("`{word}` runs several keywords together"),
                    "put a space between the keywords".to_string(),
                ),
            };
            self.diagnostics.push(
                Diagnostic::new(codes::MISSING_SPACE, message)
                    .with_label(
                        Span::new(start, start + word.len()),
                        "read as separate words",
                    )
                    .with_help(help),
            );
        }
    }

    /// pest cannot look behind, so `ownerexecutor` would read as `owner executor`.
    /// A token that starts with a word character right after one is two words run
    /// together; reported once per place.
    fn glued_to_previous_word(&mut self, start: usize) -> bool {
        let text = self.text.as_bytes();
        let is_word = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'_';
        let glued =
            start > 0 && text.get(start).copied().is_some_and(is_word) && is_word(text[start - 1]);
        if !glued {
            return false;
        }
        let left_start = text[..start]
            .iter()
            .rposition(|&byte| !is_word(byte))
            .map_or(0, |at| at + 1);
        let right_end = text[start..]
            .iter()
            .position(|&byte| !is_word(byte))
            .map_or(text.len(), |at| start + at);
        let input = self.text;
        let (left, right) = (&input[left_start..start], &input[start..right_end]);
        self.diagnostics.push(
            Diagnostic::new(
                codes::MISSING_SPACE,
                format!("`{left}` and `{right}` are written together"),
            )
            .with_label(Span::new(left_start, right_end), "read as two words")
            .with_help(format!("put a space between them: `{left} {right}`")),
        );
        true
    }

    fn ident(&mut self, pair: Pair<'_, Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    fn ident_list(&mut self, pair: Pair<'_, Rule>) -> Vec<Ident> {
        self.children(pair)
            .rest()
            .map(|pair| self.ident(pair))
            .collect()
    }

    fn name_list(&mut self, pair: Pair<'_, Rule>) -> Vec<Ident> {
        self.ident_list(pair)
    }

    fn string(&mut self, pair: Pair<'_, Rule>) -> Result<Text> {
        let whole = self.span(&pair);
        let raw = pair.as_str();
        Ok(match raw.strip_prefix("\"\"\"") {
            Some(rest) => Text {
                value: rest[..rest.len() - 3].to_string(),
                style: TextStyle::Triple,
                span: whole,
                literal_braces: Vec::new(),
            },
            None => {
                let mut literal_braces = Vec::new();
                let value = self.unescape(raw, whole.start, &mut literal_braces);
                if !literal_braces.is_empty() {
                    literal_braces = crate::compile::literal_openings(&value, &literal_braces);
                }
                Text {
                    value,
                    style: TextStyle::Quoted,
                    span: whole,
                    literal_braces,
                }
            }
        })
    }

    /// Decodes `\"`, `\\`, `\n`, `\t`, `\r`, `\{` and `\u{...}`; anything else is reported.
    /// Where each `\{` landed in the value is noted in `literal_braces`.
    fn unescape(&mut self, quoted: &str, start: usize, literal_braces: &mut Vec<u32>) -> String {
        let body = &quoted[1..quoted.len() - 1];
        let mut value = String::with_capacity(body.len());
        let mut chars = body.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            if c != '\\' {
                value.push(c);
                continue;
            }
            let escape_start = start + 1 + at;
            match chars.next() {
                Some((_, '"')) => value.push('"'),
                Some((_, '\\')) => value.push('\\'),
                Some((_, 'n')) => value.push('\n'),
                Some((_, 't')) => value.push('\t'),
                Some((_, 'r')) => value.push('\r'),
                Some((_, '{')) => {
                    // A string is at most the file's size limit, far below u32::MAX.
                    literal_braces.push(u32::try_from(value.len()).unwrap_or(u32::MAX));
                    value.push('{');
                }
                Some((_, 'u')) => {
                    let mut digits = String::new();
                    let mut end = at + 2;
                    let mut closed = false;
                    if chars.peek().map(|&(_, c)| c) == Some('{') {
                        chars.next();
                        end += 1;
                        for (offset, c) in chars.by_ref() {
                            end = offset + c.len_utf8();
                            if c == '}' {
                                closed = true;
                                break;
                            }
                            digits.push(c);
                        }
                    }
                    let number = closed
                        .then(|| u32::from_str_radix(&digits, 16).ok())
                        .flatten()
                        .filter(|_| (1..=6).contains(&digits.len()));
                    match number.map(|number| (number, char::from_u32(number))) {
                        Some((_, Some(c))) => {
                            // `\u{7b}` is an escaped brace like `\{`: literal text.
                            if c == '{' {
                                literal_braces.push(u32::try_from(value.len()).unwrap_or(u32::MAX));
                            }
                            value.push(c);
                        }
                        Some((number, None)) => self.diagnostics.push(
                            Diagnostic::new(
                                codes::INVALID_ESCAPE,
                                format!("`\\u{{{digits}}}` is not a character"),
                            )
                            .with_label(
                                Span::new(escape_start, start + 1 + end),
                                if (0xD800..=0xDFFF).contains(&number) {
                                    "a UTF-16 surrogate, which is half of a character"
                                } else {
                                    "beyond the last character, `\\u{10FFFF}`"
                                },
                            )
                            .with_help("write the character itself, or its code point as `\\u{1F600}`"),
                        ),
                        None => self.diagnostics.push(
                            Diagnostic::new(codes::INVALID_ESCAPE, "invalid unicode escape")
                                .with_label(
                                    Span::new(escape_start, start + 1 + end),
                                    "not a valid `\\u{...}` escape",
                                )
                                .with_help("write a unicode escape as `\\u{1F600}`: one to six hex digits in braces, or type the character itself"),
                        ),
                    }
                }
                Some((offset, other)) => self.diagnostics.push(
                    Diagnostic::new(codes::INVALID_ESCAPE, format!("unknown escape `\\{other}`"))
                        .with_label(
                            Span::new(escape_start, start + 1 + offset + other.len_utf8()),
                            "this escape means nothing",
                        )
                        .with_help("strings know `\\\"`, `\\\\`, `\\n`, `\\t`, `\\r`, `\\{` and `\\u{...}`; for a literal backslash write `\\\\`, or use a \"\"\"triple-quoted\"\"\" string, which takes text as it is"),
                ),
                None => value.push('\\'),
            }
        }
        value
    }

    fn count(&mut self, pair: Pair<'_, Rule>) -> Count {
        let at = self.span(&pair);
        let value = pair.as_str().parse::<u64>().unwrap_or_else(|_| {
            self.too_large(at, "this number");
            u64::MAX
        });
        Count { value, span: at }
    }

    /// Numbers are held as f64; a whole number beyond 2^53 would silently become
    /// another number (and `fmt` would print that one), so it is refused. The test is
    /// on the text: 2^53 + 1 already rounds to 2^53 as an f64.
    fn number(&mut self, pair: Pair<'_, Rule>) -> f64 {
        const EXACT_INTEGERS: u128 = 1 << 53;
        let text = pair.as_str();
        let value = text.parse::<f64>().unwrap_or(f64::NAN);
        let inexact_integer = !text.contains('.')
            && text
                .parse::<i128>()
                .map_or(true, |whole| whole.unsigned_abs() > EXACT_INTEGERS);
        if !value.is_finite() || inexact_integer {
            self.too_large(self.span(&pair), "this number");
        }
        value
    }

    fn percent(&mut self, pair: Pair<'_, Rule>) -> Percent {
        let at = self.span(&pair);
        let text = pair.as_str();
        let value = text[..text.len() - 1].parse::<f64>().unwrap_or(f64::NAN);
        if !value.is_finite() {
            self.too_large(at, "this percentage");
        }
        Percent { value, span: at }
    }

    fn duration(&mut self, pair: Pair<'_, Rule>) -> Duration {
        let at = self.span(&pair);
        let text = pair.as_str();
        let mut millis: u64 = 0;
        let mut digits_start = 0;
        let mut overflow = false;
        let mut index = 0;
        let bytes = text.as_bytes();
        while index < bytes.len() {
            if bytes[index].is_ascii_digit() {
                index += 1;
                continue;
            }
            let number: Option<u64> = text[digits_start..index].parse().ok();
            let (unit, width) = match &text[index..] {
                rest if rest.starts_with("ms") => (1, 2),
                rest if rest.starts_with('s') => (1_000, 1),
                rest if rest.starts_with('m') => (60_000, 1),
                rest if rest.starts_with('h') => (3_600_000, 1),
                _ => (86_400_000, 1),
            };
            match number
                .and_then(|number| number.checked_mul(unit))
                .and_then(|part| millis.checked_add(part))
            {
                Some(total) => millis = total,
                None => overflow = true,
            }
            index += width;
            digits_start = index;
        }
        if overflow {
            self.too_large(at, "this duration");
            // Saturate, so later findings do not mistake a partial sum for the value.
            millis = u64::MAX;
        }
        Duration { millis, span: at }
    }

    fn too_large(&mut self, at: Span, what: &str) {
        let help = if what.contains("duration") {
            "use a realistic value; durations are written like `90s`, `30m`, `2h`, `7d`"
        } else {
            "use a realistic value: whole numbers up to 2^53 (9007199254740992) are exact"
        };
        self.diagnostics.push(
            Diagnostic::new(codes::NUMBER_TOO_LARGE, format!("{what} is too large"))
                .with_label(at, "too large to be meant")
                .with_help(help),
        );
    }

    fn keyword<T>(
        &mut self,
        pair: Pair<'_, Rule>,
        parse: fn(&str) -> Option<T>,
    ) -> Result<Keyword<T>> {
        let at = self.span(&pair);
        let value =
            parse(pair.as_str()).ok_or_else(|| unexpected(pair.as_rule(), pair.as_rule(), at))?;
        Ok(Keyword { value, span: at })
    }

    fn failure_class(&mut self, pair: Pair<'_, Rule>) -> Result<Keyword<FailureClass>> {
        self.keyword(pair, |word| match word {
            "minor" => Some(FailureClass::Minor),
            "functional" => Some(FailureClass::Functional),
            "severe" => Some(FailureClass::Severe),
            _ => None,
        })
    }

    fn condition(&mut self, pair: Pair<'_, Rule>) -> Condition {
        // The grammar lets trailing blanks into a condition; they are not part of it.
        let raw = pair.as_str();
        let trimmed = raw.trim_end();
        let start = self.start(&pair);
        Condition {
            source: trimmed.to_string(),
            span: Span::new(start, start + trimmed.len()),
        }
    }

    // ------------------------------------------------------------ header

    fn header(&mut self, pair: Pair<'_, Rule>) -> Result<Header> {
        let whole = self.span(&pair);
        let mut children = self.children(pair);
        let name = self.string(children.expect(Rule::string)?)?;
        let entries = self.each(children, Self::header_entry)?;
        Ok(Header {
            name,
            entries,
            span: whole,
        })
    }

    fn header_entry(&mut self, pair: Pair<'_, Rule>) -> Result<HeaderEntry> {
        let at = self.span(&pair);
        let rule = pair.as_rule();
        let mut children = self.children(pair);
        let kind = match rule {
            Rule::title => HeaderEntryKind::Title(self.string(children.expect(Rule::string)?)?),
            Rule::description => {
                HeaderEntryKind::Description(self.string(children.expect(Rule::string)?)?)
            }
            Rule::version => HeaderEntryKind::Version(self.string(children.expect(Rule::string)?)?),
            Rule::risk => {
                HeaderEntryKind::Risk(self.risk_level(children.expect(Rule::risk_level)?)?)
            }
            Rule::objective => HeaderEntryKind::Objective(self.objective(children)?),
            Rule::environment => {
                HeaderEntryKind::Environment(self.ident(children.expect(Rule::ident)?))
            }
            Rule::change => HeaderEntryKind::Change(self.ident(children.expect(Rule::ident)?)),
            Rule::commander => {
                HeaderEntryKind::Commander(self.ident(children.expect(Rule::ident)?))
            }
            Rule::default_timeout => {
                HeaderEntryKind::DefaultTimeout(self.duration(children.expect(Rule::duration)?))
            }
            Rule::roster => HeaderEntryKind::Roster(self.string(children.expect(Rule::string)?)?),
            Rule::prometheus_url => {
                HeaderEntryKind::PrometheusUrl(self.string(children.expect(Rule::string)?)?)
            }
            Rule::drill_every => {
                HeaderEntryKind::DrillEvery(self.duration(children.expect(Rule::duration)?))
            }
            Rule::review_every => {
                HeaderEntryKind::ReviewEvery(self.duration(children.expect(Rule::duration)?))
            }
            Rule::postmortem => {
                let by = self.ident(children.expect(Rule::ident)?);
                let within = children
                    .optional(Rule::duration)
                    .map(|pair| self.duration(pair));
                HeaderEntryKind::Postmortem { by, within }
            }
            other => return Err(unexpected(Rule::header, other, at)),
        };
        Ok(HeaderEntry { kind, span: at })
    }

    fn risk_level(&mut self, pair: Pair<'_, Rule>) -> Result<Keyword<Risk>> {
        self.keyword(pair, |word| match word {
            "high" => Some(Risk::High),
            "medium" => Some(Risk::Medium),
            "low" => Some(Risk::Low),
            _ => None,
        })
    }

    fn objective(&mut self, mut children: Children<'_>) -> Result<Objective> {
        let kind = self.keyword(children.expect(Rule::objective_kind)?, |word| match word {
            "rollback_start" => Some(ObjectiveKind::RollbackStart),
            "restored" => Some(ObjectiveKind::Restored),
            "outage" => Some(ObjectiveKind::Outage),
            "alert" => Some(ObjectiveKind::Alert),
            _ => None,
        })?;
        let bound_pair = children.expect_any()?;
        let bound = match bound_pair.as_rule() {
            Rule::objective_within => ObjectiveBound::WithinOfFailure,
            Rule::objective_at_most => ObjectiveBound::AtMost,
            other => return Err(unexpected(Rule::objective, other, self.span(&bound_pair))),
        };
        let limit = self.duration(self.children(bound_pair).expect(Rule::duration)?);
        Ok(Objective { kind, bound, limit })
    }

    // ------------------------------------------------------------ declarations

    fn item(&mut self, pair: Pair<'_, Rule>) -> Result<Item> {
        Ok(match pair.as_rule() {
            Rule::role => Item::Role(self.role(pair)?),
            Rule::audience => Item::Audience(self.audience(pair)?),
            Rule::inventory => Item::Inventory(self.inventory(pair)?),
            Rule::param => Item::Param(Box::new(self.param(pair)?)),
            Rule::secret => Item::Secret(self.secret(pair)?),
            Rule::probe => Item::Probe(Box::new(self.probe(pair)?)),
            Rule::channel => Item::Channel(self.channel(pair)?),
            Rule::notify => Item::Notify(Box::new(self.notify(pair)?)),
            Rule::ship => Item::Ship(self.ship(pair)?),
            Rule::policy => Item::Policy(self.policy(pair)?),
            Rule::step => Item::Step(self.step(pair)?),
            Rule::gate => Item::Gate(self.gate(pair)?),
            Rule::timer => Item::Timer(Box::new(self.timer(pair)?)),
            Rule::watch => Item::Watch(self.watch(pair)?),
            Rule::waves => Item::Waves(self.waves(pair)?),
            other => return Err(unexpected(Rule::file, other, self.span(&pair))),
        })
    }

    fn optional_string(&mut self, children: &mut Children<'_>) -> Result<Option<Text>> {
        children
            .optional(Rule::string)
            .map(|pair| self.string(pair))
            .transpose()
    }

    fn role(&mut self, pair: Pair<'_, Rule>) -> Result<Role> {
        let at = self.span(&pair);
        let mut children = self.children(pair);
        let name = self.ident(children.expect(Rule::ident)?);
        let description = self.optional_string(&mut children)?;
        Ok(Role {
            name,
            description,
            span: at,
        })
    }

    fn audience(&mut self, pair: Pair<'_, Rule>) -> Result<Audience> {
        let at = self.span(&pair);
        let mut children = self.children(pair);
        let name = self.ident(children.expect(Rule::ident)?);
        let description = self.optional_string(&mut children)?;
        Ok(Audience {
            name,
            description,
            span: at,
        })
    }

    fn inventory(&mut self, pair: Pair<'_, Rule>) -> Result<Inventory> {
        let at = self.span(&pair);
        let mut children = self.children(pair);
        let name = self.ident(children.expect(Rule::ident)?);
        let source_pair = children.expect_any()?;
        let source = match source_pair.as_rule() {
            Rule::inventory_file => InventorySource::File(
                self.string(self.children(source_pair).expect(Rule::string)?)?,
            ),
            Rule::inventory_from => InventorySource::Inventory(
                self.ident(self.children(source_pair).expect(Rule::ident)?),
            ),
            Rule::inventory_hosts => {
                InventorySource::Hosts(self.each(self.children(source_pair), Self::string)?)
            }
            other => return Err(unexpected(Rule::inventory, other, self.span(&source_pair))),
        };
        let filter = match children.optional(Rule::inventory_filter) {
            Some(filter) => self.inventory_filter(filter)?,
            None => Vec::new(),
        };
        Ok(Inventory {
            name,
            source,
            filter,
            span: at,
        })
    }

    fn inventory_filter(&mut self, pair: Pair<'_, Rule>) -> Result<Vec<LabelMatch>> {
        self.children(pair)
            .rest()
            .map(|pair| self.label_match(pair))
            .collect()
    }

    fn label_match(&mut self, pair: Pair<'_, Rule>) -> Result<LabelMatch> {
        let at = self.span(&pair);
        let mut children = self.children(pair);
        let label = self.ident(children.expect(Rule::ident)?);
        let equal = children.expect(Rule::label_op)?.as_str() != "!=";
        let value = self.string(children.expect(Rule::string)?)?;
        Ok(LabelMatch {
            label,
            equal,
            value,
            span: at,
        })
    }

    fn ship(&mut self, pair: Pair<'_, Rule>) -> Result<Ship> {
        let at = self.span(&pair);
        let path = self.string(self.children(pair).expect(Rule::string)?)?;
        Ok(Ship { path, span: at })
    }

    fn param(&mut self, pair: Pair<'_, Rule>) -> Result<Param> {
        let at = self.span(&pair);
        let mut children = self.children(pair);
        let name = self.ident(children.expect(Rule::ident)?);
        let ty = self.keyword(children.expect(Rule::param_type)?, |word| match word {
            "string" => Some(ParamType::String),
            "int" => Some(ParamType::Int),
            "float" => Some(ParamType::Float),
            "bool" => Some(ParamType::Bool),
            "duration" => Some(ParamType::Duration),
            _ => None,
        })?;
        let default = children
            .optional(Rule::literal)
            .map(|pair| self.literal(pair))
            .transpose()?;
        let description = self.optional_string(&mut children)?;
        Ok(Param {
            name,
            ty,
            default,
            description,
            span: at,
        })
    }

    fn literal(&mut self, pair: Pair<'_, Rule>) -> Result<Literal> {
        let inner = self.children(pair).expect_any()?;
        let at = self.span(&inner);
        Ok(match inner.as_rule() {
            Rule::string => Literal::String(self.string(inner)?),
            Rule::duration => Literal::Duration(self.duration(inner)),
            Rule::percent => Literal::Percent(self.percent(inner)),
            Rule::boolean => Literal::Bool {
                value: inner.as_str() == "true",
                span: at,
            },
            Rule::number => Literal::Number {
                value: self.number(inner),
                span: at,
            },
            other => return Err(unexpected(Rule::literal, other, at)),
        })
    }

    fn secret(&mut self, pair: Pair<'_, Rule>) -> Result<Secret> {
        let at = self.span(&pair);
        let mut children = self.children(pair);
        let name = self.ident(children.expect(Rule::ident)?);
        let source_pair = children.expect_any()?;
        let rule = source_pair.as_rule();
        let from = self.string(self.children(source_pair).expect(Rule::string)?)?;
        let source = match rule {
            Rule::secret_env => SecretSource::Env(from),
            Rule::secret_file => SecretSource::File(from),
            other => return Err(unexpected(Rule::secret, other, at)),
        };
        Ok(Secret {
            name,
            source,
            span: at,
        })
    }

    fn probe(&mut self, pair: Pair<'_, Rule>) -> Result<Probe> {
        let at = self.span(&pair);
        let mut children = self.children(pair);
        let name = self.ident(children.expect(Rule::ident)?);
        let source_pair = children.expect_any()?;
        let rule = source_pair.as_rule();
        let target = self.string(self.children(source_pair).expect(Rule::string)?)?;
        let source = match rule {
            Rule::probe_prometheus => ProbeSource::Prometheus(target),
            Rule::probe_command => ProbeSource::Command(target),
            Rule::probe_http => ProbeSource::Http(target),
            other => return Err(unexpected(Rule::probe, other, at)),
        };
        let json_path = match children.optional(Rule::probe_json) {
            Some(json) => Some(self.string(self.children(json).expect(Rule::string)?)?),
            None => None,
        };
        Ok(Probe {
            name,
            source,
            json_path,
            span: at,
        })
    }

    fn channel(&mut self, pair: Pair<'_, Rule>) -> Result<Channel> {
        let at = self.span(&pair);
        let mut children = self.children(pair);
        let name = self.ident(children.expect(Rule::ident)?);
        let kind_pair = children.expect_any()?;
        let kind = match kind_pair.as_rule() {
            Rule::channel_webhook => {
                ChannelKind::Webhook(self.string(self.children(kind_pair).expect(Rule::string)?)?)
            }
            Rule::channel_command => {
                ChannelKind::Command(self.string(self.children(kind_pair).expect(Rule::string)?)?)
            }
            Rule::channel_log => ChannelKind::Log,
            other => return Err(unexpected(Rule::channel, other, at)),
        };
        Ok(Channel {
            name,
            kind,
            span: at,
        })
    }

    fn notify(&mut self, pair: Pair<'_, Rule>) -> Result<Notify> {
        let at = self.span(&pair);
        let mut children = self.children(pair);
        let audience = self.ident(children.expect(Rule::ident)?);
        let channel = self.ident(children.expect(Rule::ident)?);
        let trigger_pair = children.expect_any()?;
        let trigger = match trigger_pair.as_rule() {
            Rule::notify_every => NotifyTrigger::Every(
                self.duration(self.children(trigger_pair).expect(Rule::duration)?),
            ),
            Rule::notify_on => {
                NotifyTrigger::On(self.each(self.children(trigger_pair), Self::event)?)
            }
            other => return Err(unexpected(Rule::notify, other, at)),
        };
        let message = self.optional_string(&mut children)?;
        Ok(Notify {
            audience,
            channel,
            trigger,
            message,
            span: at,
        })
    }

    fn event(&mut self, pair: Pair<'_, Rule>) -> Result<Event> {
        let at = self.span(&pair);
        let mut children = self.children(pair);
        let kind = self.keyword(children.expect(Rule::event_kind)?, |word| match word {
            "start" => Some(EventKind::Start),
            "finish" => Some(EventKind::Finish),
            "wave" => Some(EventKind::Wave),
            "gate" => Some(EventKind::Gate),
            "failure" => Some(EventKind::Failure),
            "rollback" => Some(EventKind::Rollback),
            "breach" => Some(EventKind::Breach),
            _ => None,
        })?;
        let class = children
            .optional(Rule::failure_class)
            .map(|pair| self.failure_class(pair))
            .transpose()?;
        Ok(Event {
            kind,
            class,
            span: at,
        })
    }

    // ------------------------------------------------------------ steps

    fn step(&mut self, pair: Pair<'_, Rule>) -> Result<Step> {
        let at = self.span(&pair);
        let mut children = self.children(pair);
        let name = self.ident(children.expect(Rule::ident)?);
        let description = self.optional_string(&mut children)?;
        let entries = self.each(children, Self::step_entry)?;
        Ok(Step {
            name,
            description,
            entries,
            span: at,
        })
    }

    fn step_entry(&mut self, pair: Pair<'_, Rule>) -> Result<StepEntry> {
        let at = self.span(&pair);
        let rule = pair.as_rule();
        let mut children = self.children(pair);
        let kind = match rule {
            Rule::owner => StepEntryKind::Owner(self.ident(children.expect(Rule::ident)?)),
            Rule::target_sample => {
                let share = self.percent(children.expect(Rule::percent)?);
                let of = self.ident(children.expect(Rule::ident)?);
                StepEntryKind::OnSample { share, of }
            }
            Rule::target => StepEntryKind::On(self.ident(children.expect(Rule::ident)?)),
            Rule::parallel => StepEntryKind::Parallel(self.count(children.expect(Rule::integer)?)),
            Rule::timeout => {
                StepEntryKind::Timeout(self.duration(children.expect(Rule::duration)?))
            }
            Rule::retry => {
                let attempts = self.count(children.expect(Rule::integer)?);
                let backoff = children
                    .optional(Rule::duration)
                    .map(|pair| self.duration(pair));
                StepEntryKind::Retry { attempts, backoff }
            }
            Rule::idempotent => StepEntryKind::Idempotent,
            Rule::irreversible => {
                StepEntryKind::Irreversible(self.string(children.expect(Rule::string)?)?)
            }
            Rule::readonly => StepEntryKind::Readonly,
            Rule::background => StepEntryKind::Background,
            Rule::after => StepEntryKind::After(self.name_list(children.expect(Rule::name_list)?)),
            Rule::raises => {
                StepEntryKind::Raises(self.failure_class(children.expect(Rule::failure_class)?)?)
            }
            Rule::backup => StepEntryKind::Backup,
            Rule::run => StepEntryKind::Run(self.string(children.expect(Rule::string)?)?),
            Rule::script => StepEntryKind::Script(self.string(children.expect(Rule::string)?)?),
            Rule::manual => StepEntryKind::Manual(self.string(children.expect(Rule::string)?)?),
            Rule::record => {
                let key = self.ident(children.expect(Rule::ident)?);
                let prompt = self.optional_string(&mut children)?;
                StepEntryKind::Record { key, prompt }
            }
            Rule::expect => StepEntryKind::Expect(self.string(children.expect(Rule::string)?)?),
            Rule::remedy => StepEntryKind::Remedy(self.string(children.expect(Rule::string)?)?),
            Rule::verify => StepEntryKind::Verify(self.string(children.expect(Rule::string)?)?),
            Rule::rollback => StepEntryKind::Rollback(self.rollback(children)?),
            other => return Err(unexpected(Rule::step, other, at)),
        };
        Ok(StepEntry { kind, span: at })
    }

    fn rollback(&mut self, mut children: Children<'_>) -> Result<Rollback> {
        let body = children.expect_any()?;
        match body.as_rule() {
            Rule::string => Ok(Rollback::Command(self.string(body)?)),
            Rule::rollback_block => {
                let at = self.span(&body);
                let entries = self.each(self.children(body), Self::rollback_entry)?;
                Ok(Rollback::Block { entries, span: at })
            }
            other => Err(unexpected(Rule::rollback, other, self.span(&body))),
        }
    }

    fn rollback_entry(&mut self, pair: Pair<'_, Rule>) -> Result<RollbackEntry> {
        let at = self.span(&pair);
        let rule = pair.as_rule();
        let mut children = self.children(pair);
        let kind = match rule {
            Rule::run => RollbackEntryKind::Run(self.string(children.expect(Rule::string)?)?),
            Rule::script => RollbackEntryKind::Script(self.string(children.expect(Rule::string)?)?),
            Rule::manual => RollbackEntryKind::Manual(self.string(children.expect(Rule::string)?)?),
            Rule::timeout => {
                RollbackEntryKind::Timeout(self.duration(children.expect(Rule::duration)?))
            }
            other => return Err(unexpected(Rule::rollback_block, other, at)),
        };
        Ok(RollbackEntry { kind, span: at })
    }

    // ------------------------------------------------------------ gates, timers, watches

    fn gate(&mut self, pair: Pair<'_, Rule>) -> Result<Gate> {
        let at = self.span(&pair);
        let mut children = self.children(pair);
        let name = self.ident(children.expect(Rule::ident)?);
        let description = self.optional_string(&mut children)?;
        let entries = self.each(children, Self::gate_entry)?;
        Ok(Gate {
            name,
            description,
            entries,
            span: at,
        })
    }

    fn gate_entry(&mut self, pair: Pair<'_, Rule>) -> Result<GateEntry> {
        let at = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::owner => {
                GateEntryKind::Owner(self.ident(self.children(pair).expect(Rule::ident)?))
            }
            Rule::after => {
                GateEntryKind::After(self.name_list(self.children(pair).expect(Rule::name_list)?))
            }
            Rule::approve => GateEntryKind::Approve(self.approve(pair)?),
            Rule::require => GateEntryKind::Require(self.require(pair)?),
            Rule::poll => {
                let mut children = self.children(pair);
                let interval = self.duration(children.expect(Rule::duration)?);
                let limit = self.duration(children.expect(Rule::duration)?);
                GateEntryKind::Poll { interval, limit }
            }
            other => return Err(unexpected(Rule::gate, other, at)),
        };
        Ok(GateEntry { kind, span: at })
    }

    fn approve(&mut self, pair: Pair<'_, Rule>) -> Result<Approval> {
        let at = self.span(&pair);
        let mut children = self.children(pair);
        let approvers = children.expect_any()?;
        let (quorum, roles) = match approvers.as_rule() {
            Rule::quorum => {
                let mut quorum = self.children(approvers);
                let count = self.count(quorum.expect(Rule::integer)?);
                let roles = self.ident_list(quorum.expect(Rule::ident_list)?);
                (Some(count), roles)
            }
            Rule::ident => (None, vec![self.ident(approvers)]),
            other => return Err(unexpected(Rule::approve, other, self.span(&approvers))),
        };
        let distinct = children.optional(Rule::distinct).is_some();
        let (within, on_timeout) = match children.optional(Rule::approve_limit) {
            Some(limit) => {
                let mut limit = self.children(limit);
                let within = self.duration(limit.expect(Rule::duration)?);
                let on_timeout = limit
                    .optional(Rule::timeout_action)
                    .map(|pair| {
                        self.keyword(pair, |word| match word {
                            "escalate" => Some(TimeoutAction::Escalate),
                            "abort" => Some(TimeoutAction::Abort),
                            "continue" => Some(TimeoutAction::Continue),
                            _ => None,
                        })
                    })
                    .transpose()?;
                (Some(within), on_timeout)
            }
            None => (None, None),
        };
        let reason = self.optional_string(&mut children)?;
        Ok(Approval {
            quorum,
            roles,
            distinct,
            within,
            on_timeout,
            reason,
            span: at,
        })
    }

    fn require(&mut self, pair: Pair<'_, Rule>) -> Result<Requirement> {
        let at = self.span(&pair);
        let mut children = self.children(pair);
        let condition = self.condition(children.expect(Rule::condition)?);
        let sustained = children
            .optional(Rule::duration)
            .map(|pair| self.duration(pair));
        let raises = children
            .optional(Rule::failure_class)
            .map(|pair| self.failure_class(pair))
            .transpose()?;
        // Without `for` or `else`, the pair ends after the condition's trailing blanks.
        let end = raises
            .map(|class| class.span.end)
            .or(sustained.map(|duration| duration.span.end))
            .unwrap_or(condition.span.end);
        Ok(Requirement {
            condition,
            sustained,
            raises,
            span: Span::new(at.start, end),
        })
    }

    fn timer(&mut self, pair: Pair<'_, Rule>) -> Result<Timer> {
        let at = self.span(&pair);
        let mut children = self.children(pair);
        let name = self.ident(children.expect(Rule::ident)?);
        let duration = self.duration(children.expect(Rule::duration)?);
        let description = self.optional_string(&mut children)?;
        let entries = match children.optional(Rule::timer_body) {
            Some(body) => self.each(self.children(body), Self::timer_entry)?,
            None => Vec::new(),
        };
        Ok(Timer {
            name,
            duration,
            description,
            entries,
            span: at,
        })
    }

    fn timer_entry(&mut self, pair: Pair<'_, Rule>) -> Result<TimerEntry> {
        let at = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::owner => {
                TimerEntryKind::Owner(self.ident(self.children(pair).expect(Rule::ident)?))
            }
            Rule::after => {
                TimerEntryKind::After(self.name_list(self.children(pair).expect(Rule::name_list)?))
            }
            other => return Err(unexpected(Rule::timer_body, other, at)),
        };
        Ok(TimerEntry { kind, span: at })
    }

    fn watch(&mut self, pair: Pair<'_, Rule>) -> Result<Watch> {
        let at = self.span(&pair);
        let mut children = self.children(pair);
        let name = self.ident(children.expect(Rule::ident)?);
        let description = self.optional_string(&mut children)?;
        let entries = self.each(children, Self::watch_entry)?;
        Ok(Watch {
            name,
            description,
            entries,
            span: at,
        })
    }

    fn watch_entry(&mut self, pair: Pair<'_, Rule>) -> Result<WatchEntry> {
        let at = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::owner => {
                WatchEntryKind::Owner(self.ident(self.children(pair).expect(Rule::ident)?))
            }
            Rule::after => {
                WatchEntryKind::After(self.name_list(self.children(pair).expect(Rule::name_list)?))
            }
            Rule::every => {
                WatchEntryKind::Every(self.duration(self.children(pair).expect(Rule::duration)?))
            }
            Rule::during => {
                WatchEntryKind::During(self.duration(self.children(pair).expect(Rule::duration)?))
            }
            Rule::require => WatchEntryKind::Require(self.require(pair)?),
            other => return Err(unexpected(Rule::watch, other, at)),
        };
        Ok(WatchEntry { kind, span: at })
    }

    // ------------------------------------------------------------ waves

    fn waves(&mut self, pair: Pair<'_, Rule>) -> Result<Waves> {
        let at = self.span(&pair);
        let mut children = self.children(pair);
        let name = self.ident(children.expect(Rule::ident)?);
        let description = self.optional_string(&mut children)?;
        let entries = self.each(children, Self::waves_entry)?;
        Ok(Waves {
            name,
            description,
            entries,
            span: at,
        })
    }

    fn waves_entry(&mut self, pair: Pair<'_, Rule>) -> Result<WavesEntry> {
        let at = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::over => {
                WavesEntryKind::Over(self.ident(self.children(pair).expect(Rule::ident)?))
            }
            Rule::stages => WavesEntryKind::Stages(self.stages(pair)?),
            Rule::pause => {
                WavesEntryKind::Pause(self.duration(self.children(pair).expect(Rule::duration)?))
            }
            Rule::parallel => {
                WavesEntryKind::Parallel(self.count(self.children(pair).expect(Rule::integer)?))
            }
            Rule::max_failed => {
                let budget = self.children(pair).expect_any()?;
                WavesEntryKind::MaxFailed(match budget.as_rule() {
                    Rule::percent => Budget::Percent(self.percent(budget)),
                    _ => Budget::Count(self.count(budget)),
                })
            }
            Rule::after => {
                WavesEntryKind::After(self.name_list(self.children(pair).expect(Rule::name_list)?))
            }
            Rule::step => WavesEntryKind::Step(self.step(pair)?),
            Rule::gate => WavesEntryKind::Gate(self.gate(pair)?),
            Rule::timer => WavesEntryKind::Timer(self.timer(pair)?),
            Rule::watch => WavesEntryKind::Watch(self.watch(pair)?),
            other => return Err(unexpected(Rule::waves, other, at)),
        };
        Ok(WavesEntry { kind, span: at })
    }

    fn stages(&mut self, pair: Pair<'_, Rule>) -> Result<Vec<Stage>> {
        Ok(self
            .children(pair)
            .rest()
            .map(|stage| match stage.as_rule() {
                Rule::percent => Stage::Percent(self.percent(stage)),
                _ => Stage::Count(self.count(stage)),
            })
            .collect())
    }

    // ------------------------------------------------------------ failure policies

    fn policy(&mut self, pair: Pair<'_, Rule>) -> Result<Policy> {
        let at = self.span(&pair);
        let mut children = self.children(pair);
        let class = self.failure_class(children.expect(Rule::failure_class)?)?;
        let actions = self.each(children, Self::action)?;
        Ok(Policy {
            class,
            actions,
            span: at,
        })
    }

    fn action(&mut self, pair: Pair<'_, Rule>) -> Result<Action> {
        let at = self.span(&pair);
        Ok(match pair.as_rule() {
            Rule::action_continue => Action::Continue { span: at },
            Rule::action_pause => Action::Pause { span: at },
            Rule::action_abort => Action::Abort { span: at },
            Rule::action_rollback => {
                let scope =
                    self.keyword(self.children(pair).expect(Rule::rollback_scope)?, |word| {
                        match word {
                            "step" => Some(RollbackScope::Step),
                            "hosts" => Some(RollbackScope::Hosts),
                            "wave" => Some(RollbackScope::Wave),
                            "all" => Some(RollbackScope::All),
                            _ => None,
                        }
                    })?;
                Action::Rollback { scope, span: at }
            }
            Rule::approve => Action::Approve(self.approve(pair)?),
            Rule::action_notify => {
                let mut children = self.children(pair);
                let audience = self.ident(children.expect(Rule::ident)?);
                let channel = children.optional(Rule::ident).map(|pair| self.ident(pair));
                let text = self.string(children.expect(Rule::string)?)?;
                Action::Notify(Message {
                    audience,
                    channel,
                    text,
                    span: at,
                })
            }
            Rule::step => Action::Step(self.step(pair)?),
            other => return Err(unexpected(Rule::policy, other, at)),
        })
    }
}

/// Every word the grammar spells out, read from the grammar itself so the two cannot
/// drift apart.
/// Looked up for every word between tokens, hence the fast hash.
fn keywords() -> &'static ahash::AHashSet<&'static str> {
    static KEYWORDS: std::sync::OnceLock<ahash::AHashSet<&'static str>> =
        std::sync::OnceLock::new();
    KEYWORDS.get_or_init(|| {
        literals(include_str!("../../grammar/runbook.pest"))
            .into_iter()
            .filter(|literal| literal.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .filter(|literal| !literal.is_empty())
            .collect()
    })
}

/// The `"..."` literals of a pest grammar, outside its `//` comments.
fn literals(grammar: &'static str) -> Vec<&'static str> {
    let mut found = Vec::new();
    for line in grammar.lines() {
        let mut chars = line.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '/' if chars.peek().is_some_and(|&(_, next)| next == '/') => break,
                '\'' => {
                    // A character literal such as '\u{22}': skip to its closing quote.
                    for (_, inner) in chars.by_ref() {
                        if inner == '\'' {
                            break;
                        }
                    }
                }
                '"' => {
                    let mut end = None;
                    while let Some((inner_at, inner)) = chars.next() {
                        match inner {
                            '\\' => {
                                chars.next();
                            }
                            '"' => {
                                end = Some(inner_at);
                                break;
                            }
                            _ => {}
                        }
                    }
                    if let Some(end) = end {
                        found.push(&line[at + 1..end]);
                    }
                }
                _ => {}
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keyword_set_is_read_from_the_grammar() {
        for word in [
            "runbook",
            "step",
            "approve",
            "by",
            "on",
            "failure",
            "max_failed",
            "ms",
        ] {
            assert!(keywords().contains(word), "{word}");
        }
        for not_a_keyword in ["", "\\", "#", "{", "approveby"] {
            assert!(!keywords().contains(not_a_keyword), "{not_a_keyword:?}");
        }
    }
}
