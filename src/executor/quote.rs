//! Filling a step's shell command template with values.
//!
//! A value (a host name, a parameter, a recorded value) must reach `sh -c` as
//! literal data: never run, never split, never globbed. Quoting that is right in
//! one place is wrong in another (`'...'` inside `"..."` is two literal quotes), so
//! [`render`] reads the template's literal text the way a POSIX shell would, finds
//! the quoting context of each `{{hole}}`, and quotes the value for that context.
//! Where it cannot be sure (a here-document body, `$'...'`, arithmetic, `eval`,
//! or any construct it does not follow), it refuses instead of guessing.
//!
//! The context is computed from the template's text alone: a value never changes
//! it, which is exactly what the quoting guarantees.

use std::borrow::Cow;

use crate::compile::Segment;

/// Why a template could not be filled in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    /// The template names a value the run does not have.
    #[error("no value for `{{{{{name}}}}}`")]
    UnknownValue { name: String },
    /// A shell command is a C string: a NUL would silently cut it short.
    #[error(
        "the value of `{{{{{name}}}}}` contains a NUL byte, which a shell command cannot carry"
    )]
    NulByte { name: String },
    /// The hole sits where no quoting is known to keep the value literal.
    #[error("`{{{{{name}}}}}` cannot be quoted safely {why}")]
    UnsafePlace { name: String, why: String },
}

/// Fill `segments` into one `sh -c` command, quoting each value for where it lands.
///
/// Literal text is copied as is. Holes are handled in order, and the first failure
/// wins: a place that cannot be quoted, then a missing value, then a NUL byte.
/// `value` is asked only for holes whose place is safe.
pub fn render<'v>(
    segments: &[Segment],
    mut value: impl FnMut(&str) -> Option<Cow<'v, str>>,
) -> Result<String, QuoteError> {
    let mut places = scan(segments).into_iter();
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Text(text) => out.push_str(text),
            Segment::Value(name) => {
                let place = places
                    .next()
                    .unwrap_or(Err("past the end of what the scanner read"));
                let quoting = place.map_err(|why| QuoteError::UnsafePlace {
                    name: name.clone(),
                    why: why.to_string(),
                })?;
                let v =
                    value(name).ok_or_else(|| QuoteError::UnknownValue { name: name.clone() })?;
                if v.contains('\0') {
                    return Err(QuoteError::NulByte { name: name.clone() });
                }
                out.push_str(&quote(&v, quoting));
            }
        }
    }
    Ok(out)
}

/// The quoting a hole needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Quoting {
    context: Context,
    /// Inside `` `...` ``: the shell strips one level of backslashes from the body
    /// before parsing it, so the quoted text gets one more level. `true` when the
    /// backticks sit directly inside double quotes, where `\"` is stripped too.
    backtick: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    Unquoted,
    Single,
    Double,
}

fn quote(value: &str, quoting: Quoting) -> String {
    let inner = match quoting.context {
        Context::Unquoted => format!("'{}'", value.replace('\'', r"'\''")),
        Context::Single => value.replace('\'', r"'\''"),
        Context::Double => escape(value, |c| matches!(c, '\\' | '$' | '`' | '"')),
    };
    match quoting.backtick {
        None => inner,
        Some(in_double) => escape(&inner, |c| {
            matches!(c, '\\' | '$' | '`') || (in_double && c == '"')
        }),
    }
}

fn escape(text: &str, special: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if special(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One step of the template: a character of literal text, or a hole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    Ch(char),
    Hole,
}

/// Where each hole lands, in order: its quoting, or why it cannot be quoted.
type Place = Result<Quoting, &'static str>;

fn scan(segments: &[Segment]) -> Vec<Place> {
    let mut items = Vec::new();
    for segment in segments {
        match segment {
            Segment::Text(text) => items.extend(text.chars().map(Item::Ch)),
            Segment::Value(_) => items.push(Item::Hole),
        }
    }
    let mut scanner = Scanner {
        items,
        pos: 0,
        stack: vec![Frame::Unq(Unq::new(Kind::Top))],
        places: Vec::new(),
        lost: None,
        refuse_next: None,
        pending: Vec::new(),
        pending_depth: 0,
        body: None,
    };
    scanner.run();
    scanner.places
}

/// A nesting level of the shell's grammar.
#[derive(Debug)]
enum Frame {
    /// Unquoted command text: the top level, `$(...)` or `` `...` ``.
    Unq(Unq),
    Single,
    /// `"..."`; `translated` for bash's `$"..."`.
    Double {
        translated: bool,
    },
    /// `$'...'` (bash): backslash escapes are decoded, so no quoting holds.
    AnsiC,
    /// `${...}`.
    Brace,
    /// `$((...))` or `((...))`: `depth` counts open inner parentheses.
    Arith {
        depth: u32,
    },
    /// `# ...` up to the end of the line.
    Comment,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Top,
    Paren,
    Backtick { in_double: bool },
}

/// State of an unquoted level, including the word being read (for keywords).
#[derive(Debug)]
struct Unq {
    kind: Kind,
    /// Open plain parentheses (subshells), so `)` closes `$(` only at zero.
    depth: u32,
    /// A command that evaluates its arguments as code is being read.
    guard: Option<Guard>,
    in_word: bool,
    /// The current word with quotes removed, while it has no expansion or hole.
    word: String,
    literal: bool,
    /// The word so far is an unquoted shell name (so `[` opens a subscript).
    name_prefix: bool,
    /// Inside `name[...`: bash evaluates subscripts as arithmetic.
    subscript: bool,
}

impl Unq {
    fn new(kind: Kind) -> Self {
        Unq {
            kind,
            depth: 0,
            guard: None,
            in_word: false,
            word: String::new(),
            literal: true,
            name_prefix: false,
            subscript: false,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Guard {
    why: &'static str,
    /// Lasts until the word `]]` rather than the end of the command.
    brackets: bool,
}

/// Words after which a value could be run or evaluated as code.
fn guard_for(word: &str) -> Option<Guard> {
    let why = match word {
        "eval" | "trap" | "alias" => "in the arguments of `eval`, `trap` or `alias`, which run text as shell code",
        "let" | "declare" | "typeset" | "local" => {
            "in the arguments of `let`, `declare`, `typeset` or `local`, which may evaluate text as arithmetic"
        }
        "[[" => {
            return Some(Guard {
                why: "inside `[[ ]]`, where bash may evaluate an operand as arithmetic",
                brackets: true,
            })
        }
        _ => return None,
    };
    Some(Guard {
        why,
        brackets: false,
    })
}

/// A here-document announced by `<<` whose body has not been read yet.
#[derive(Debug)]
struct Doc {
    delim: String,
    strip_tabs: bool,
    /// The delimiter was unquoted: the body is expanded.
    expand: bool,
}

#[derive(Debug)]
struct Body {
    docs: Vec<Doc>,
    line: String,
}

struct Scanner {
    items: Vec<Item>,
    pos: usize,
    stack: Vec<Frame>,
    places: Vec<Place>,
    /// Set once the scanner meets something it does not follow: every later hole
    /// is refused with this reason.
    lost: Option<&'static str>,
    /// The next item is a hole in a place seen from just before it (after `$`, `\`).
    refuse_next: Option<&'static str>,
    pending: Vec<Doc>,
    /// Stack height at which the pending here-documents were announced.
    pending_depth: usize,
    body: Option<Body>,
}

impl Scanner {
    fn run(&mut self) {
        while let Some(item) = self.items.get(self.pos).copied() {
            self.pos += 1;
            match item {
                Item::Hole => {
                    let place = match self.refuse_next.take() {
                        Some(why) => Err(why),
                        None => self.place(),
                    };
                    self.places.push(place);
                    self.after_hole();
                }
                Item::Ch(c) => {
                    if self.lost.is_none() {
                        self.char(c);
                    }
                }
            }
        }
    }

    fn peek(&self) -> Option<Item> {
        self.items.get(self.pos).copied()
    }

    /// Take the next item if it is the character `c`.
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(Item::Ch(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn lose(&mut self, why: &'static str) {
        if self.lost.is_none() {
            self.lost = Some(why);
        }
    }

    fn top(&self) -> Option<&Frame> {
        self.stack.last()
    }

    /// The nearest unquoted level: the one whose word the current text belongs to.
    fn owner(&mut self) -> Option<&mut Unq> {
        self.stack.iter_mut().rev().find_map(|f| match f {
            Frame::Unq(u) => Some(u),
            _ => None,
        })
    }

    fn backtick(&self) -> Option<bool> {
        self.stack.iter().find_map(|f| match f {
            Frame::Unq(Unq {
                kind: Kind::Backtick { in_double },
                ..
            }) => Some(*in_double),
            _ => None,
        })
    }

    fn push(&mut self, frame: Frame) {
        self.mark_expansion();
        self.stack.push(frame);
    }

    fn pop(&mut self) {
        if self.stack.len() > 1 {
            self.stack.pop();
        }
        if !self.pending.is_empty() && self.stack.len() < self.pending_depth {
            self.lose(
                "after a here-document announced inside a construct that closed before its body",
            );
        }
    }

    fn place(&self) -> Place {
        if let Some(why) = self.lost {
            return Err(why);
        }
        if self.body.is_some() {
            return Err("inside a here-document body");
        }
        for frame in &self.stack {
            match frame {
                Frame::Unq(u) => {
                    if let Some(guard) = u.guard {
                        return Err(guard.why);
                    }
                    if u.subscript {
                        return Err(
                            "inside an array subscript, which bash evaluates as arithmetic",
                        );
                    }
                }
                Frame::Double { translated: true } => {
                    return Err("inside `$\"...\"`, which bash may replace by a translation")
                }
                Frame::AnsiC => return Err("inside `$'...'`, where backslash escapes are decoded"),
                Frame::Brace => {
                    return Err("inside `${...}`, whose quoting rules differ between shells")
                }
                Frame::Arith { .. } => {
                    return Err("inside arithmetic, which may evaluate a value as code")
                }
                Frame::Comment => {
                    return Err("inside a `#` comment, which a newline in the value would end")
                }
                Frame::Single | Frame::Double { .. } => {}
            }
        }
        if let Some(i) = self.stack.iter().position(|f| {
            matches!(
                f,
                Frame::Unq(Unq {
                    kind: Kind::Backtick { in_double: true },
                    ..
                })
            )
        }) {
            if self.stack[i..]
                .iter()
                .any(|f| matches!(f, Frame::Double { .. }))
            {
                // POSIX leaves this nesting unspecified; bash's brace expansion
                // misreads it (`"`printf %s "{,}"`"` prints nothing).
                return Err("inside double quotes nested in `` `...` `` within double quotes, which shells read differently");
            }
        }
        let context = match self.top() {
            Some(Frame::Single) => Context::Single,
            Some(Frame::Double { .. }) => Context::Double,
            Some(Frame::Unq(_)) => Context::Unquoted,
            _ => return Err("in a place the scanner does not model"),
        };
        Ok(Quoting {
            context,
            backtick: self.backtick(),
        })
    }

    fn after_hole(&mut self) {
        if let Some(body) = &mut self.body {
            // Keep the line from ever matching a delimiter.
            body.line.push('\0');
            return;
        }
        self.mark_expansion();
    }

    /// The current word now holds something other than literal text.
    fn mark_expansion(&mut self) {
        if let Some(u) = self.owner() {
            u.in_word = true;
            u.literal = false;
            u.word.clear();
            u.name_prefix = false;
        }
    }

    /// A literal character of the current word (quoted or not).
    fn word_char(&mut self, c: char) {
        if let Some(u) = self.owner() {
            u.in_word = true;
            if u.literal {
                u.word.push(c);
                // Only short words can be keywords.
                if u.word.len() > 16 {
                    u.literal = false;
                    u.word.clear();
                }
            }
        }
    }

    fn end_word(&mut self) {
        let mut lose_case = false;
        if let Some(Frame::Unq(u)) = self.stack.last_mut() {
            if u.in_word && u.literal {
                if u.word == "]]" && u.guard.is_some_and(|g| g.brackets) {
                    u.guard = None;
                } else if u.guard.is_none() {
                    u.guard = guard_for(&u.word);
                }
                lose_case = u.word == "case" && u.kind == Kind::Paren;
            }
            u.in_word = false;
            u.word.clear();
            u.literal = true;
            u.name_prefix = false;
            u.subscript = false;
        }
        if lose_case {
            self.lose(
                "after a `case` inside `$(...)`, whose `)` patterns this scanner does not follow",
            );
        }
    }

    fn end_command(&mut self) {
        if let Some(Frame::Unq(u)) = self.stack.last_mut() {
            if u.guard.is_some_and(|g| !g.brackets) {
                u.guard = None;
            }
        }
    }

    fn char(&mut self, c: char) {
        if self.body.is_some() {
            self.body_char(c);
            return;
        }
        if self.backtick().is_some() {
            // The body of `...` is unescaped before it is parsed; not modelled.
            if c == '\\' {
                self.lose(
                    "after a backslash inside `` `...` ``, which this scanner does not follow",
                );
                return;
            }
            if c == '`' {
                if matches!(
                    self.top(),
                    Some(Frame::Unq(Unq {
                        kind: Kind::Backtick { .. },
                        ..
                    }))
                ) {
                    self.end_word();
                    self.pop();
                } else {
                    self.lose("after a `` ` `` closing an unfinished construct");
                }
                return;
            }
        }
        match self.top() {
            Some(Frame::Unq(_)) => self.unquoted_char(c),
            Some(Frame::Single) => {
                if c == '\'' {
                    self.pop();
                } else {
                    self.word_char(c);
                }
            }
            Some(Frame::Double { .. }) => self.double_char(c),
            Some(Frame::AnsiC) => match c {
                // bash and dash end `$'...'` at different quotes after a backslash.
                '\\' => self.lose("after a backslash inside `$'...'`"),
                '\'' => self.pop(),
                _ => {}
            },
            Some(Frame::Brace) => self.brace_char(c),
            Some(Frame::Arith { .. }) => self.arith_char(c),
            Some(Frame::Comment) => {
                if c == '\n' {
                    self.pop();
                    self.unquoted_char(c);
                }
            }
            None => self.lose("after the scanner's stack emptied"),
        }
    }

    fn unquoted_char(&mut self, c: char) {
        let (in_word, name_prefix) = match self.top() {
            Some(Frame::Unq(u)) => (u.in_word, u.name_prefix),
            _ => return,
        };
        match c {
            ' ' | '\t' => self.end_word(),
            '\n' => {
                self.end_word();
                self.end_command();
                if !self.pending.is_empty() {
                    if self.stack.len() == self.pending_depth {
                        self.body = Some(Body {
                            docs: std::mem::take(&mut self.pending),
                            line: String::new(),
                        });
                    } else {
                        self.lose("after a here-document whose body starts in another construct");
                    }
                }
            }
            ';' | '&' | '|' => {
                self.end_word();
                self.end_command();
            }
            '(' => {
                self.end_word();
                if !in_word && self.eat('(') {
                    self.push(Frame::Arith { depth: 0 });
                } else {
                    self.end_command();
                    if let Some(Frame::Unq(u)) = self.stack.last_mut() {
                        u.depth = u.depth.saturating_add(1);
                    }
                }
            }
            ')' => {
                self.end_word();
                self.end_command();
                let mut close = false;
                if let Some(Frame::Unq(u)) = self.stack.last_mut() {
                    if u.depth > 0 {
                        u.depth -= 1;
                    } else {
                        // At the top level an unmatched `)` ends a `case` pattern.
                        close = u.kind == Kind::Paren;
                    }
                }
                if close {
                    self.pop();
                }
            }
            '<' | '>' => {
                self.end_word();
                if c == '<' && self.eat('<') && !self.eat('<') {
                    let strip_tabs = self.eat('-');
                    self.here_doc(strip_tabs);
                }
            }
            '\'' => {
                self.word_char_quoted();
                self.stack.push(Frame::Single);
            }
            '"' => {
                self.word_char_quoted();
                self.stack.push(Frame::Double { translated: false });
            }
            '`' => self.push(Frame::Unq(Unq::new(Kind::Backtick { in_double: false }))),
            '$' => self.dollar(false),
            '\\' => match self.peek() {
                Some(Item::Hole) => self.refuse_next = Some("right after a backslash"),
                Some(Item::Ch('\n')) => self.pos += 1,
                Some(Item::Ch(x)) => {
                    self.pos += 1;
                    self.word_char_quoted();
                    self.word_char(x);
                }
                None => {}
            },
            '#' if !in_word => self.stack.push(Frame::Comment),
            _ => {
                let name_char = c == '_' || c.is_ascii_alphanumeric();
                if let Some(Frame::Unq(u)) = self.stack.last_mut() {
                    if c == '[' && name_prefix {
                        u.subscript = true;
                    } else if c == ']' {
                        u.subscript = false;
                    }
                    u.name_prefix = if in_word {
                        name_prefix && name_char
                    } else {
                        name_char && !c.is_ascii_digit()
                    };
                }
                self.word_char(c);
            }
        }
    }

    /// A quoted part starts in the current word: it is no longer a bare name.
    fn word_char_quoted(&mut self) {
        if let Some(u) = self.owner() {
            u.in_word = true;
            u.name_prefix = false;
        }
    }

    fn double_char(&mut self, c: char) {
        match c {
            '"' => self.pop(),
            '\\' => match self.peek() {
                Some(Item::Hole) => self.refuse_next = Some("right after a backslash"),
                Some(Item::Ch(x)) => {
                    self.pos += 1;
                    if x != '\n' {
                        self.word_char(x);
                    }
                }
                None => {}
            },
            '$' => self.dollar(true),
            '`' => self.push(Frame::Unq(Unq::new(Kind::Backtick { in_double: true }))),
            _ => self.word_char(c),
        }
    }

    /// Take a special parameter's name after `$` (`$$`, `$#`, `$1`...), so that
    /// it is not read as the start of something else.
    fn eat_special(&mut self) -> bool {
        match self.peek() {
            Some(Item::Ch(c))
                if matches!(c, '$' | '#' | '?' | '-' | '!' | '@' | '*') || c.is_ascii_digit() =>
            {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    /// After a `$` in unquoted text or in double quotes.
    fn dollar(&mut self, in_double: bool) {
        if self.eat_special() {
            self.mark_expansion();
            return;
        }
        match self.peek() {
            Some(Item::Hole) => {
                self.refuse_next = Some("right after `$`, where the value would name a parameter")
            }
            Some(Item::Ch('(')) => {
                self.pos += 1;
                if self.eat('(') {
                    self.push(Frame::Arith { depth: 0 });
                } else {
                    self.push(Frame::Unq(Unq::new(Kind::Paren)));
                }
            }
            Some(Item::Ch('{')) => {
                self.pos += 1;
                self.push(Frame::Brace);
            }
            Some(Item::Ch('[')) => self.lose("after `$[`, which this scanner does not follow"),
            Some(Item::Ch('\'')) if !in_double => {
                self.pos += 1;
                self.push(Frame::AnsiC);
            }
            Some(Item::Ch('"')) if !in_double => {
                self.pos += 1;
                self.push(Frame::Double { translated: true });
            }
            _ => self.mark_expansion(),
        }
    }

    fn brace_char(&mut self, c: char) {
        const WHY: &str = "after a `${...}` too complex for this scanner to follow";
        match c {
            '}' => self.pop(),
            '$' if self.eat_special() => {}
            '$' => match self.peek() {
                Some(Item::Ch('{')) => {
                    self.pos += 1;
                    self.stack.push(Frame::Brace);
                }
                Some(Item::Ch('(' | '[' | '\'' | '"')) => self.lose(WHY),
                _ => {}
            },
            '{' | '\'' | '"' | '`' | '\\' => self.lose(WHY),
            _ => {}
        }
    }

    fn arith_char(&mut self, c: char) {
        const WHY: &str = "after arithmetic too complex for this scanner to follow";
        match c {
            '(' => {
                if let Some(Frame::Arith { depth }) = self.stack.last_mut() {
                    *depth = depth.saturating_add(1);
                }
            }
            ')' => {
                let mut close = false;
                if let Some(Frame::Arith { depth }) = self.stack.last_mut() {
                    if *depth > 0 {
                        *depth -= 1;
                    } else {
                        close = true;
                    }
                }
                if close {
                    if self.eat(')') {
                        self.pop();
                    } else {
                        self.lose(WHY);
                    }
                }
            }
            '$' if self.eat_special() => {}
            '$' => match self.peek() {
                Some(Item::Ch('(')) => {
                    self.pos += 1;
                    if self.eat('(') {
                        self.stack.push(Frame::Arith { depth: 0 });
                    } else {
                        self.stack.push(Frame::Unq(Unq::new(Kind::Paren)));
                    }
                }
                Some(Item::Ch('{')) => {
                    self.pos += 1;
                    self.stack.push(Frame::Brace);
                }
                Some(Item::Ch('\'' | '"' | '[')) => self.lose(WHY),
                _ => {}
            },
            '`' => self
                .stack
                .push(Frame::Unq(Unq::new(Kind::Backtick { in_double: false }))),
            '\'' | '"' | '\\' => self.lose(WHY),
            _ => {}
        }
    }

    /// After `<<` or `<<-`: read the delimiter word and queue the document.
    fn here_doc(&mut self, strip_tabs: bool) {
        const WHY: &str = "after a here-document delimiter this scanner does not follow";
        if self.backtick().is_some() {
            self.lose("after a here-document inside `` `...` ``");
            return;
        }
        while self.eat(' ') || self.eat('\t') {}
        let mut delim = String::new();
        let mut quoted = false;
        loop {
            let c = match self.peek() {
                Some(Item::Ch(c)) => c,
                Some(Item::Hole) => {
                    self.lose("in a here-document delimiter");
                    return;
                }
                None => break,
            };
            if matches!(
                c,
                ' ' | '\t' | '\n' | ';' | '&' | '|' | '(' | ')' | '<' | '>'
            ) {
                break;
            }
            self.pos += 1;
            match c {
                '\'' => {
                    quoted = true;
                    loop {
                        match self.peek() {
                            Some(Item::Ch('\'')) => {
                                self.pos += 1;
                                break;
                            }
                            Some(Item::Ch(x)) => {
                                self.pos += 1;
                                delim.push(x);
                            }
                            Some(Item::Hole) | None => {
                                self.lose(WHY);
                                return;
                            }
                        }
                    }
                }
                '"' => {
                    quoted = true;
                    loop {
                        match self.peek() {
                            Some(Item::Ch('"')) => {
                                self.pos += 1;
                                break;
                            }
                            Some(Item::Ch('\\' | '$' | '`')) | Some(Item::Hole) | None => {
                                self.lose(WHY);
                                return;
                            }
                            Some(Item::Ch(x)) => {
                                self.pos += 1;
                                delim.push(x);
                            }
                        }
                    }
                }
                '\\' => {
                    quoted = true;
                    match self.peek() {
                        Some(Item::Ch(x)) if x != '\n' => {
                            self.pos += 1;
                            delim.push(x);
                        }
                        _ => {
                            self.lose(WHY);
                            return;
                        }
                    }
                }
                '$' | '`' => {
                    self.lose(WHY);
                    return;
                }
                _ => delim.push(c),
            }
        }
        if delim.is_empty() {
            self.lose(WHY);
            return;
        }
        if !self.pending.is_empty() && self.pending_depth != self.stack.len() {
            self.lose(WHY);
            return;
        }
        self.pending_depth = self.stack.len();
        self.pending.push(Doc {
            delim,
            strip_tabs,
            expand: !quoted,
        });
        if let Some(Frame::Unq(u)) = self.stack.last_mut() {
            u.in_word = false;
        }
    }

    /// A character of a here-document body: only the delimiter line matters.
    fn body_char(&mut self, c: char) {
        let mut lose = None;
        let next = self.peek();
        if let Some(body) = &mut self.body {
            if c != '\n' {
                // Some shells (dash) parse `$(...)` and `` `...` `` while reading an
                // expanded body, so a delimiter line inside them does not end it.
                let expand = body.docs.first().is_some_and(|d| d.expand);
                if expand && (c == '`' || (c == '$' && matches!(next, Some(Item::Ch('(' | '{'))))) {
                    lose = Some("after a substitution in a here-document body");
                }
                body.line.push(c);
            } else {
                self.body_line();
            }
        }
        if let Some(why) = lose {
            self.lose(why);
        }
    }

    /// The end of a here-document body line: the delimiter ends the document.
    fn body_line(&mut self) {
        let mut lose = false;
        if let Some(body) = &mut self.body {
            let mut done = false;
            if let Some(doc) = body.docs.first() {
                let line = if doc.strip_tabs {
                    body.line.trim_start_matches('\t')
                } else {
                    body.line.as_str()
                };
                if line == doc.delim {
                    body.docs.remove(0);
                    done = body.docs.is_empty();
                } else if doc.expand && body.line.ends_with('\\') {
                    lose = true;
                }
            } else {
                done = true;
            }
            body.line.clear();
            if done {
                self.body = None;
            }
        }
        if lose {
            self.lose("after a line continuation in a here-document body");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::Path;
    use std::process::Command;

    /// A template from text with `{{name}}` holes.
    fn template(text: &str) -> Vec<Segment> {
        let mut out = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                out.push(Segment::Text(rest[..start].to_string()));
            }
            let Some(end) = rest[start..].find("}}").map(|e| e + start) else {
                break;
            };
            out.push(Segment::Value(rest[start + 2..end].trim().to_string()));
            rest = &rest[end + 2..];
        }
        if !rest.is_empty() {
            out.push(Segment::Text(rest.to_string()));
        }
        out
    }

    fn fill(text: &str, v: &str) -> Result<String, QuoteError> {
        render(&template(text), |_| Some(Cow::Owned(v.to_string())))
    }

    fn refused(text: &str) -> bool {
        matches!(fill(text, "x"), Err(QuoteError::UnsafePlace { .. }))
    }

    fn sh(shell: &str, command: &str, dir: &Path) -> Vec<u8> {
        let out = Command::new(shell)
            .arg("-c")
            .arg(command)
            .current_dir(dir)
            .output()
            .expect("run shell");
        assert!(
            out.status.success(),
            "{shell} failed on {command:?}: {out:?}"
        );
        out.stdout
    }

    #[test]
    fn unquoted() {
        let cases = [
            ("a {{v}} b", "h1", "a 'h1' b"),
            ("a {{v}}", "", "a ''"),
            ("a {{v}}", "it's", r"a 'it'\''s'"),
            ("a --m={{v}}", "x; y", "a --m='x; y'"),
            (
                "a {{v}}",
                "$(reboot) `id` * \\ \"",
                "a '$(reboot) `id` * \\ \"'",
            ),
            ("a {{v}}#c", "x", "a 'x'#c"),
            ("a $(b {{v}})", "x y", "a $(b 'x y')"),
            ("a \"$(b {{v}})\"", "\"q\"", "a \"$(b '\"q\"')\""),
        ];
        for (text, v, want) in cases {
            assert_eq!(fill(text, v).as_deref(), Ok(want), "{text}");
        }
    }

    #[test]
    fn single_quoted() {
        let cases = [
            (
                "echo 'AllowUsers *@{{v}}' > f",
                "b1",
                "echo 'AllowUsers *@b1' > f",
            ),
            ("echo '{{v}}'", "it's", r"echo 'it'\''s'"),
            ("echo '{{v}}'", "$x \\ \" `", "echo '$x \\ \" `'"),
            ("echo '{{v}}'", "", "echo ''"),
            ("echo \"$(echo '{{v}}')\"", "'", r#"echo "$(echo ''\''')""#),
        ];
        for (text, v, want) in cases {
            assert_eq!(fill(text, v).as_deref(), Ok(want), "{text}");
        }
    }

    #[test]
    fn double_quoted() {
        let cases = [
            (r#"grep -qx "{{v}}""#, "5.15", r#"grep -qx "5.15""#),
            (
                r#"echo "{{v}}""#,
                r#"$a `b` "c" \d"#,
                r#"echo "\$a \`b\` \"c\" \\d""#,
            ),
            (r#"echo "{{v}}""#, "'\n", "echo \"'\n\""),
            (r#"echo "a'{{v}}'b""#, "x'", r#"echo "a'x''b""#),
            (
                r#"test "$(cat /x/{{v}}/f)" = ok"#,
                "h 1",
                r#"test "$(cat /x/'h 1'/f)" = ok"#,
            ),
            (r#"echo "$(echo "{{v}}")""#, "$", r#"echo "$(echo "\$")""#),
        ];
        for (text, v, want) in cases {
            assert_eq!(fill(text, v).as_deref(), Ok(want), "{text}");
        }
    }

    #[test]
    fn backticks() {
        let cases = [
            ("echo `echo {{v}}`", r"a'$\", r"echo `echo 'a'\\''\$\\'`"),
            (
                r#"echo "`echo '{{v}}'`""#,
                r#"'""#,
                r#"echo "`echo ''\\''\"'`""#,
            ),
            ("echo `echo \"{{v}}\"`", r#"""#, r#"echo `echo "\\""`"#),
        ];
        for (text, v, want) in cases {
            assert_eq!(fill(text, v).as_deref(), Ok(want), "{text}");
        }
    }

    #[test]
    fn here_documents() {
        // On the announcing line and after the body, holes are fine.
        assert_eq!(
            fill("cat <<EOF > {{v}}\nbody\nEOF\necho {{v}}", "f").as_deref(),
            Ok("cat <<EOF > 'f'\nbody\nEOF\necho 'f'")
        );
        assert_eq!(
            fill("cat <<-'E O' >x\n\tE O2\n\tE O\necho {{v}}", "f").as_deref(),
            Ok("cat <<-'E O' >x\n\tE O2\n\tE O\necho 'f'")
        );
        assert_eq!(fill("cat <<<{{v}}", "f").as_deref(), Ok("cat <<<'f'"));
        assert!(refused("cat <<EOF\n{{v}}\nEOF"));
        assert!(refused("cat <<'EOF'\nx {{v}}\nEOF\n"));
        assert!(refused("cat <<EOF; echo {{v}}\nbody {{v}}\nEOF"));
        assert!(refused("cat <<{{v}}\nx\n"));
        assert!(refused("cat <<EOF\na\\\nEOF\nEOF\necho {{v}}"));
        assert!(refused("cat <<E\n$(\nE\n)\necho {{v}}"));
        assert_eq!(
            fill("cat <<'E'\n$(\nE\necho {{v}}", "y").as_deref(),
            Ok("cat <<'E'\n$(\nE\necho 'y'")
        );
    }

    #[test]
    fn refuses_unsafe_places() {
        for text in [
            "echo ${{v}}",
            "echo \"${{v}}\"",
            "echo \\{{v}}",
            "echo \"\\{{v}}\"",
            "echo $'{{v}}'",
            "echo $\"{{v}}\"",
            "echo ${x:-{{v}}}",
            "echo \"${x:-{{v}}}\"",
            "echo $(( {{v}} + 1 ))",
            "(( x = {{v}} ))",
            "echo $(( $(echo {{v}}) ))",
            "echo # {{v}}",
            "echo a\n# {{v}}\n",
            "eval {{v}}",
            "eval \"echo {{v}}\"",
            "trap 'rm {{v}}' EXIT",
            "let x={{v}}",
            "declare -i n={{v}}",
            "[[ $x -eq {{v}} ]]",
            "[[ a && $x -eq {{v}} ]]",
            "a[{{v}}]=1",
            "a['{{v}}']=1",
            "echo $(case x in x) ;; esac) {{v}}",
            "echo $[1] {{v}}",
            "echo `echo \\$x {{v}}`",
            "echo `echo '`' {{v}}",
            "echo \"`echo \"{{v}}\"`\"",
            "echo \"`echo $(echo \"{{v}}\")`\"",
        ] {
            assert!(refused(text), "{text:?} should be refused");
        }
    }

    #[test]
    fn guards_end_with_their_command() {
        assert_eq!(
            fill("eval x; echo {{v}}", "y").as_deref(),
            Ok("eval x; echo 'y'")
        );
        assert_eq!(
            fill("[[ a ]] && echo {{v}}", "y").as_deref(),
            Ok("[[ a ]] && echo 'y'")
        );
        assert_eq!(fill("a[1]={{v}}", "y").as_deref(), Ok("a[1]='y'"));
        assert_eq!(
            fill("echo $((1)) {{v}}", "y").as_deref(),
            Ok("echo $((1)) 'y'")
        );
        assert_eq!(
            fill("echo ${x:-a} {{v}}", "y").as_deref(),
            Ok("echo ${x:-a} 'y'")
        );
        assert_eq!(fill("echo a#b {{v}}", "y").as_deref(), Ok("echo a#b 'y'"));
        assert_eq!(fill("echo $${ {{v}}", "y").as_deref(), Ok("echo $${ 'y'"));
        assert_eq!(fill("echo $# {{v}}", "y").as_deref(), Ok("echo $# 'y'"));
        assert_eq!(
            fill("echo # c\necho {{v}}", "y").as_deref(),
            Ok("echo # c\necho 'y'")
        );
        assert_eq!(
            fill("case {{v}} in a) ;; esac", "y").as_deref(),
            Ok("case 'y' in a) ;; esac")
        );
    }

    #[test]
    fn error_variants() {
        let segments = template("echo {{missing}}");
        assert_eq!(
            render(&segments, |_| None),
            Err(QuoteError::UnknownValue {
                name: "missing".into()
            })
        );
        assert_eq!(
            fill("echo {{v}}", "a\0b"),
            Err(QuoteError::NulByte { name: "v".into() })
        );
        let err = fill("echo $'{{v}}'", "x").unwrap_err();
        assert!(matches!(&err, QuoteError::UnsafePlace { name, .. } if name == "v"));
        assert!(err
            .to_string()
            .starts_with("`{{v}}` cannot be quoted safely inside `$'"));
        assert_eq!(
            QuoteError::UnknownValue {
                name: "host".into()
            }
            .to_string(),
            "no value for `{{host}}`"
        );
    }

    #[test]
    fn never_panics_on_odd_templates() {
        for text in [
            "",
            "$",
            "\\",
            "`",
            "'",
            "\"",
            "$(",
            "$((",
            "${",
            "<<",
            "<<-",
            "((",
            ")",
            "))",
            "$(()",
            "cat <<",
            "cat <<'E",
            "cat <<\"E\\",
            "# {{v}}",
            "{{v}}",
            "{{v}}{{v}}",
            "$((1)",
            "`$(`",
            "\"`'`\"",
            "${$",
            "$'\\",
            "a[",
            "]]",
            "cat <<E\n",
        ] {
            let _ = fill(text, "x");
        }
    }

    fn hostile(canary: &Path) -> Vec<String> {
        let c = canary.display();
        vec![
            format!("x; touch {c}"),
            format!("$(touch {c})"),
            format!("`touch {c}`"),
            format!("'; touch {c}; '"),
            format!("\"; touch {c}; \""),
            format!("\\\"; touch {c}; #"),
            format!("'\"$(touch {c})\"'"),
            format!("\n touch {c}\n"),
            format!("a\\\ntouch {c}"),
            format!("' `touch {c}` '\\"),
            "*".to_string(),
            "\\".to_string(),
            String::new(),
            "-n".to_string(),
        ]
    }

    /// Templates whose output is exactly the value (`trim`: command substitution
    /// drops trailing newlines).
    const ROUND_TRIPS: &[(&str, bool)] = &[
        ("printf %s {{v}}", false),
        ("printf %s '{{v}}'", false),
        ("printf %s \"{{v}}\"", false),
        ("printf %s \"$(printf %s {{v}})\"", true),
        ("printf %s \"$(printf %s '{{v}}')\"", true),
        ("printf %s \"$(printf %s \"{{v}}\")\"", true),
        ("x=$(printf %s {{v}}); printf %s \"$x\"", true),
        ("printf %s \"`printf %s {{v}}`\"", true),
        ("printf %s \"`printf %s '{{v}}'`\"", true),
        ("x=`printf %s '{{v}}'`; printf %s \"$x\"", true),
        ("x=`printf %s \"{{v}}\"`; printf %s \"$x\"", true),
        ("printf %s \"`printf %s \"\" {{v}} \"\"`\"", true),
        ("cat <<'EOF' >/dev/null\n$(x)\nEOF\nprintf %s {{v}}", false),
    ];

    fn expected(value: &str, trim: bool) -> Vec<u8> {
        if trim {
            value.trim_end_matches('\n').as_bytes().to_vec()
        } else {
            value.as_bytes().to_vec()
        }
    }

    fn shells() -> Vec<&'static str> {
        ["/bin/sh", "/bin/bash", "/bin/dash"]
            .into_iter()
            .filter(|s| Path::new(s).exists())
            .collect()
    }

    #[test]
    fn shell_gets_the_value_and_runs_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let canary = dir.path().join("canary");
        for shell in shells() {
            for value in hostile(&canary) {
                for &(text, trim) in ROUND_TRIPS {
                    let command = fill(text, &value).expect("renders");
                    let out = sh(shell, &command, dir.path());
                    assert_eq!(out, expected(&value, trim), "{shell}: {command:?}");
                    assert!(!canary.exists(), "{shell} ran {command:?}");
                }
                let command = fill("printf %s \"a{{v}}b\"", &value).expect("renders");
                let out = sh(shell, &command, dir.path());
                assert_eq!(
                    out,
                    format!("a{value}b").into_bytes(),
                    "{shell}: {command:?}"
                );
                assert!(!canary.exists(), "{shell} ran {command:?}");
            }
        }
    }

    fn round_trip(text: &str, trim: bool, value: &str) -> Result<(), TestCaseError> {
        round_trip_to(text, value, &expected(value, trim))
    }

    fn round_trip_to(text: &str, value: &str, want: &[u8]) -> Result<(), TestCaseError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let command = fill(text, value).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for shell in shells() {
            let out = sh(shell, &command, dir.path());
            prop_assert_eq!(&out[..], want, "{} {:?}", shell, command);
        }
        Ok(())
    }

    /// Pieces of shell text from which random templates are built.
    const PIECES: &[&str] = &[
        "{{v}}",
        "{{v}}",
        "{{v}}",
        " ",
        " ",
        "\n",
        "'",
        "\"",
        "`",
        "$(",
        "$((",
        ")",
        "))",
        "${",
        "}",
        "$'",
        "$\"",
        "\\",
        "#",
        ";",
        "&&",
        "|",
        "(",
        "echo ",
        "printf %s ",
        "eval ",
        "trap ",
        "[[ ",
        " ]]",
        "let ",
        "a[",
        "]",
        "=",
        "case x in x) ",
        " esac",
        "cat <<E\n",
        "cat <<'E'\n",
        "cat <<-E\n",
        "\nE\n",
        "\tE\n",
        "<<<",
        "$x",
        "$",
        "1 + ",
        "{a,b}",
        "*",
        "~",
        ",",
        ":-",
        "a",
    ];

    /// A value that breaks out of any context it is misquoted for.
    fn breakout(canary: &Path) -> String {
        let c = canary.display();
        format!(
            "';touch {c};'\";touch {c};\"`touch {c}`$(touch {c})\ntouch {c}\n); touch {c}; (}}]]\nE\n))\\"
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the template, a render either is refused or runs no value.
        #[test]
        fn random_templates_never_run_a_value(
            picks in proptest::collection::vec(0..PIECES.len(), 0..24)
        ) {
            let text: String = picks.iter().filter_map(|&i| PIECES.get(i).copied()).collect();
            let dir = tempfile::tempdir().expect("tempdir");
            let canary = dir.path().join("canary");
            if let Ok(command) = fill(&text, &breakout(&canary)) {
                for shell in shells() {
                    let _ = Command::new("timeout")
                        .arg("5")
                        .arg(shell)
                        .arg("-c")
                        .arg(&command)
                        .current_dir(dir.path())
                        .stdin(std::process::Stdio::null())
                        .output();
                    prop_assert!(!canary.exists(), "{} ran the value in {:?}", shell, command);
                }
            }
        }
    }

    const VALUES: &str = "[ -~\\n\\t'\"$`\\\\;|&(){}*?!#é]{0,40}";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn round_trip_unquoted(v in VALUES) {
            round_trip(ROUND_TRIPS[0].0, false, &v)?;
        }

        #[test]
        fn round_trip_single(v in VALUES) {
            round_trip(ROUND_TRIPS[1].0, false, &v)?;
        }

        #[test]
        fn round_trip_double(v in VALUES) {
            round_trip(ROUND_TRIPS[2].0, false, &v)?;
            round_trip_to("printf %s \"a{{v}}b\"", &v, format!("a{v}b").as_bytes())?;
        }

        #[test]
        fn round_trip_command_substitution(v in VALUES) {
            for &(text, trim) in &ROUND_TRIPS[3..7] {
                round_trip(text, trim, &v)?;
            }
        }

        #[test]
        fn round_trip_backticks(v in VALUES) {
            for &(text, trim) in &ROUND_TRIPS[7..12] {
                round_trip(text, trim, &v)?;
            }
        }
    }
}
