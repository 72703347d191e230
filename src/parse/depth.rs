//! A cheap scan of the brackets outside strings and comments: it bounds nesting before
//! the parser recurses, so that 10,000 nested blocks or brackets get a clear diagnostic
//! instead of exhausting the stack, and finds the block a forgotten `}` leaves open.

use crate::diagnostic::Diagnostic;
use crate::source::Span;

use super::codes;

/// Deeper than any runbook needs (the grammar itself nests three levels), shallow
/// enough that every later stage can recurse safely.
pub const MAX_DEPTH: usize = 32;

/// Finds the first bracket that opens level `MAX_DEPTH + 1`.
pub fn check_depth(text: &str) -> Option<Diagnostic> {
    let mut openers: Vec<usize> = Vec::new();
    for (at, bracket) in brackets(text) {
        if !matches!(bracket, b'{' | b'(' | b'[') {
            openers.pop();
            continue;
        }
        openers.push(at);
        if openers.len() > MAX_DEPTH {
            let outermost = openers[0];
            return Some(
                Diagnostic::new(
                    codes::TOO_DEEP,
                    format!("nesting is deeper than {MAX_DEPTH} levels"),
                )
                .with_label(Span::new(at, at + 1), format!("level {} opens here", MAX_DEPTH + 1))
                .with_secondary(Span::new(outermost, outermost + 1), "the outermost level opens here")
                .with_help("a runbook needs a few levels at most: close the blocks or brackets that were left open, or flatten the structure"),
            );
        }
    }
    None
}

/// Where each `{` still open at the end of `text` was opened, outermost first: what a
/// syntax error points at when a block was never closed.
pub fn open_blocks(text: &str) -> Vec<usize> {
    let mut open = Vec::new();
    for (at, bracket) in brackets(text) {
        match bracket {
            b'{' => open.push(at),
            b'}' => {
                open.pop();
            }
            _ => {}
        }
    }
    open
}

/// Every bracket of `text` with its position, skipping strings and comments (a
/// condition's `#{` map is no comment: its braces count). A scan of the bytes, so that
/// it can run before the parser and on text the parser refused.
fn brackets(text: &str) -> impl Iterator<Item = (usize, u8)> + '_ {
    let bytes = text.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < bytes.len() {
            let here = at;
            match bytes[here] {
                b'#' if bytes.get(here + 1) != Some(&b'{') => {
                    at = memchr_newline(bytes, here);
                    continue;
                }
                b'"' if bytes[here..].starts_with(b"\"\"\"") => {
                    at = match text[here + 3..].find("\"\"\"") {
                        Some(end) => here + 3 + end + 3,
                        None => bytes.len(),
                    };
                    continue;
                }
                b'"' => {
                    at += 1;
                    while at < bytes.len() && bytes[at] != b'"' && bytes[at] != b'\n' {
                        at += if bytes[at] == b'\\' { 2 } else { 1 };
                    }
                }
                bracket @ (b'{' | b'(' | b'[' | b'}' | b')' | b']') => {
                    at += 1;
                    return Some((here, bracket));
                }
                _ => {}
            }
            at += 1;
        }
        None
    })
}

fn memchr_newline(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&byte| byte == b'\n')
        .map_or(bytes.len(), |offset| from + offset)
}
