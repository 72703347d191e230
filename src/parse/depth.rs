//! A cheap scan that bounds nesting before the parser recurses, so that 10,000 nested
//! blocks or brackets get a clear diagnostic instead of exhausting the stack.

use crate::diagnostic::Diagnostic;
use crate::source::Span;

use super::codes;

/// Deeper than any runbook needs (the grammar itself nests three levels), shallow
/// enough that every later stage can recurse safely.
pub const MAX_DEPTH: usize = 32;

/// Finds the first bracket that opens level `MAX_DEPTH + 1`, skipping strings and comments.
pub fn check_depth(text: &str) -> Option<Diagnostic> {
    let bytes = text.as_bytes();
    let mut openers: Vec<usize> = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'#' if bytes.get(at + 1) != Some(&b'{') => {
                at = memchr_newline(bytes, at);
                continue;
            }
            b'"' if bytes[at..].starts_with(b"\"\"\"") => {
                at = match text[at + 3..].find("\"\"\"") {
                    Some(end) => at + 3 + end + 3,
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
            b'{' | b'(' | b'[' => {
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
            b'}' | b')' | b']' => {
                openers.pop();
            }
            _ => {}
        }
        at += 1;
    }
    None
}

fn memchr_newline(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&byte| byte == b'\n')
        .map_or(bytes.len(), |offset| from + offset)
}
