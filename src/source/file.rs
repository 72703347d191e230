use std::sync::Arc;

use super::Span;

/// One runbook's text and where it came from, with a line index for turning byte
/// offsets into the line and column a person reads.
#[derive(Debug, Clone)]
pub struct SourceFile {
    name: String,
    text: Arc<str>,
    line_starts: Vec<usize>,
    /// The file on disk had CR or CRLF line endings, read here as LF.
    normalized_line_endings: bool,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Self {
        let text: Arc<str> = text.into();
        // Counted first so the table is allocated once, at its size.
        let lines = text.bytes().filter(|&byte| byte == b'\n').count();
        let mut line_starts = Vec::with_capacity(lines + 1);
        line_starts.push(0);
        line_starts.extend(text.match_indices('\n').map(|(at, _)| at + 1));
        Self {
            name: name.into(),
            text,
            line_starts,
            normalized_line_endings: false,
        }
    }

    /// Text whose CRLF and lone CR line endings were turned into LF when it was read.
    pub fn with_normalized_line_endings(mut self, normalized: bool) -> Self {
        self.normalized_line_endings = normalized;
        self
    }

    /// Whether the bytes on disk differ from `text()` by their line endings.
    pub fn normalized_line_endings(&self) -> bool {
        self.normalized_line_endings
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text a span covers; empty when the span is out of range.
    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.start..span.end).unwrap_or("")
    }

    /// 0-based index of the line holding a byte offset.
    pub fn line_index(&self, offset: usize) -> usize {
        match self.line_starts.binary_search(&offset.min(self.text.len())) {
            Ok(line) => line,
            Err(next) => next - 1,
        }
    }

    /// Byte offset where a 0-based line starts (the end of the text past the last line).
    pub fn line_start(&self, index: usize) -> usize {
        self.line_starts
            .get(index)
            .copied()
            .unwrap_or(self.text.len())
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_index(offset);
        let start = self.line_starts[line];
        let column = self
            .text
            .get(start..offset)
            .map(|prefix| prefix.chars().count())
            .unwrap_or(offset - start);
        (line + 1, column + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters_not_bytes() {
        let file = SourceFile::new("t.rbk", "ab\n升级x\n");
        assert_eq!(file.line_column(0), (1, 1));
        assert_eq!(file.line_column(3), (2, 1));
        let x = file.text().find('x').unwrap();
        assert_eq!(file.line_column(x), (2, 3));
    }
}
