//! Prints nodes as indented lines and puts every comment back: in source order, each
//! before the statement that follows it or after the statement it trails.

use crate::ast::Comment;

use super::layout::{Body, Node};

const INDENT: &str = "  ";
/// A small block stays on one line only if that line fits in this many columns.
const MAX_WIDTH: usize = 100;

pub(super) struct Printer<'a> {
    source: &'a str,
    comments: &'a [Comment],
    /// Comments are printed in source order; this is the first not yet printed.
    next_comment: usize,
    out: String,
    depth: usize,
    /// Where in the source the last printed thing (statement, brace, comment) ended,
    /// to see whether the author left a blank line before the next one.
    last_end: usize,
    /// Nothing printed yet in the current block (or file): no blank line goes here.
    block_start: bool,
    /// A blank line must come before the next line printed.
    force_blank: bool,
}

impl<'a> Printer<'a> {
    pub fn new(source: &'a str, comments: &'a [Comment]) -> Self {
        Self {
            source,
            comments,
            next_comment: 0,
            out: String::with_capacity(source.len()),
            depth: 0,
            last_end: 0,
            block_start: true,
            force_blank: false,
        }
    }

    /// Prints the top level: the header, then the items. Items are separated by a blank
    /// line, except one-line declarations of one kind the author kept together.
    pub fn print(mut self, nodes: &[Node]) -> String {
        let mut previous: Option<&Node> = None;
        for node in nodes {
            let grouped = previous
                .is_some_and(|previous| previous.group.is_some() && previous.group == node.group);
            if previous.is_some() && !grouped {
                self.separate_from_previous(node);
            }
            self.statement(node);
            previous = Some(node);
        }
        self.leading_comments(usize::MAX);
        self.out
    }

    /// Asks for a blank line before `node` and the comments leading it, unless the
    /// author already left one somewhere among them (then that one is kept).
    fn separate_from_previous(&mut self, node: &Node) {
        let boundary = self.comment_boundary(node);
        let mut from = self.last_end;
        let mut author_blank = false;
        for comment in self.pending_comments_before(boundary) {
            author_blank |= self.blank_line_between(from, comment.span.start);
            from = comment.span.end;
        }
        author_blank |= self.blank_line_between(from, node.start);
        self.force_blank = !author_blank;
    }

    fn statement(&mut self, node: &Node) {
        match &node.body {
            None => self.one_line(node, &node.text),
            Some(body) => match self.block_on_one_line(node, body) {
                Some(line) => self.one_line(node, &line),
                None => self.block(node, body),
            },
        }
    }

    fn one_line(&mut self, node: &Node, line: &str) {
        self.leading_comments(node.end);
        self.line(line, node.start);
        self.last_end = node.end;
        self.trailing_comment(node.end);
    }

    fn block(&mut self, node: &Node, body: &Body) {
        self.leading_comments(body.open);
        self.line(&format!("{} {{", node.text), node.start);
        self.last_end = body.open + 1;
        self.trailing_comment(body.open + 1);
        self.depth += 1;
        self.block_start = true;
        for child in &body.children {
            self.statement(child);
        }
        self.leading_comments(body.close);
        self.depth -= 1;
        self.block_start = true;
        self.line("}", body.close);
        self.last_end = body.close + 1;
        self.trailing_comment(body.close + 1);
    }

    /// Up to where comments are printed before a statement: inside a statement printed
    /// on one line they move before it; a block's own comments stay inside it.
    fn comment_boundary(&self, node: &Node) -> usize {
        match &node.body {
            Some(body) if self.block_on_one_line(node, body).is_none() => body.open,
            _ => node.end,
        }
    }

    /// A block on one line: an empty one, or a compact one the author wrote on one
    /// line, that fits and holds no comment between its braces.
    fn block_on_one_line(&self, node: &Node, body: &Body) -> Option<String> {
        let first_inside = self
            .comments
            .partition_point(|comment| comment.span.start <= body.open);
        let has_comments = self
            .comments
            .get(first_inside)
            .is_some_and(|comment| comment.span.start < body.close);
        if has_comments {
            return None;
        }
        match body.children.as_slice() {
            [] => Some(format!("{} {{}}", node.text)),
            [only] if body.compact && only.body.is_none() => {
                let written_on_one_line = self
                    .source
                    .get(node.start..node.end)
                    .is_some_and(|written| !written.contains('\n'));
                let line = format!("{} {{ {} }}", node.text, only.text);
                let width = self.depth * INDENT.len() + line.chars().count();
                (written_on_one_line && !line.contains('\n') && width <= MAX_WIDTH).then_some(line)
            }
            _ => None,
        }
    }

    fn pending_comments_before(&self, boundary: usize) -> impl Iterator<Item = &'a Comment> {
        self.comments[self.next_comment.min(self.comments.len())..]
            .iter()
            .take_while(move |comment| comment.span.start < boundary)
    }

    /// Prints, each on its own line, the comments that start before `boundary`.
    fn leading_comments(&mut self, boundary: usize) {
        while let Some(comment) = self.comments.get(self.next_comment) {
            if comment.span.start >= boundary {
                break;
            }
            self.line(&comment_text(comment), comment.span.start);
            self.last_end = comment.span.end;
            self.next_comment += 1;
        }
    }

    /// Appends the next comment to the line just printed if the author wrote it on
    /// the same line, right after what that line printed. (After a condition it cannot
    /// start with `{`: the parser would have read `#{` as part of the condition.)
    fn trailing_comment(&mut self, after: usize) {
        let Some(comment) = self.comments.get(self.next_comment) else {
            return;
        };
        let same_line = comment.span.start >= after
            && self
                .source
                .get(after..comment.span.start)
                .is_some_and(|gap| gap.chars().all(|c| matches!(c, ' ' | '\t' | '\u{FEFF}')));
        if !same_line {
            return;
        }
        self.out.pop();
        self.out.push_str("  ");
        self.out.push_str(&comment_text(comment));
        self.out.push('\n');
        self.last_end = comment.span.end;
        self.next_comment += 1;
    }

    /// Prints one line at the current depth, after a blank line if one is wanted.
    fn line(&mut self, text: &str, source_start: usize) {
        let blank = !self.block_start
            && (self.force_blank || self.blank_line_between(self.last_end, source_start));
        if blank {
            self.out.push('\n');
        }
        self.force_blank = false;
        self.block_start = false;
        for _ in 0..self.depth {
            self.out.push_str(INDENT);
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// Whether the source has a line holding only blanks between two offsets.
    fn blank_line_between(&self, from: usize, to: usize) -> bool {
        let Some(gap) = self.source.get(from..to) else {
            return false;
        };
        let mut lines = gap.split('\n');
        lines.next_back();
        lines.skip(1).any(|line| {
            line.chars()
                .all(|c| matches!(c, ' ' | '\t' | '\r' | '\u{FEFF}'))
        })
    }
}

/// A comment as written, without the blanks it trailed with.
fn comment_text(comment: &Comment) -> String {
    format!("#{}", comment.text.trim_end())
}
