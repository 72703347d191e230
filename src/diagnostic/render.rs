//! The edge where our diagnostics meet miette (for people) and JSON (for tools).

use std::fmt;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, SourceCode, SourceSpan,
    SpanContents,
};
use serde::Serialize;

use super::{Diagnostic, Severity};
use crate::source::{SourceFile, Span};

/// Renders findings as miette draws them. `color` is off for files, pipes and tests.
pub fn render_human(file: &SourceFile, diagnostics: &[Diagnostic], color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let source = WindowedSource { file };
    let mut out = String::new();
    for diagnostic in diagnostics {
        let report = Report {
            diagnostic,
            source: &source,
            text_len: file.text().len(),
        };
        if handler.render_report(&mut out, &report).is_err() {
            out.push_str(&format!("{}: {}\n", diagnostic.code, diagnostic.message));
        }
    }
    out
}

/// The stable JSON shape of a finding (`runbook check --format json`). Fields are only
/// ever added, never renamed or removed; a test freezes them.
#[derive(Debug, Clone, Serialize)]
pub struct JsonDiagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub span: JsonSpan,
    pub help: Option<String>,
    pub labels: Vec<JsonLabel>,
}

#[derive(Debug, Clone, Serialize)]
pub struct JsonSpan {
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct JsonLabel {
    pub message: String,
    pub line: usize,
    pub column: usize,
    pub span: JsonSpan,
}

pub fn render_json(file: &SourceFile, diagnostic: &Diagnostic) -> JsonDiagnostic {
    let span = diagnostic.primary_span().unwrap_or_default();
    let (line, column) = file.line_column(span.start);
    JsonDiagnostic {
        code: diagnostic.code.as_str(),
        severity: diagnostic.severity,
        message: diagnostic.message.clone(),
        file: file.name().to_string(),
        line,
        column,
        span: JsonSpan {
            start: span.start,
            end: span.end,
        },
        help: diagnostic.help.clone(),
        labels: diagnostic
            .labels
            .iter()
            .map(|label| {
                let (line, column) = file.line_column(label.span.start);
                JsonLabel {
                    message: label.message.clone(),
                    line,
                    column,
                    span: JsonSpan {
                        start: label.span.start,
                        end: label.span.end,
                    },
                }
            })
            .collect(),
    }
}

struct Report<'a> {
    diagnostic: &'a Diagnostic,
    source: &'a WindowedSource<'a>,
    text_len: usize,
}

/// The file as miette reads it, but starting the read a few lines before each label
/// instead of at the top of the file: miette's own reader scans from the start for
/// every label, which made 20,000 findings in a large file take minutes. The result
/// is the same; only the line numbers are shifted back by the window's first line.
struct WindowedSource<'a> {
    file: &'a SourceFile,
}

impl SourceCode for WindowedSource<'_> {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let first_line = self
            .file
            .line_index(span.offset())
            .saturating_sub(context_lines_before + 1);
        let window_start = self.file.line_start(first_line);
        let window = &self.file.text().as_bytes()[window_start..];
        let relative = SourceSpan::new(
            span.offset().saturating_sub(window_start).into(),
            span.len(),
        );
        let contents = window.read_span(&relative, context_lines_before, context_lines_after)?;
        let absolute = SourceSpan::new(
            (contents.span().offset() + window_start).into(),
            contents.span().len(),
        );
        Ok(Box::new(Shifted {
            data: contents.data(),
            span: absolute,
            line: contents.line() + first_line,
            column: contents.column(),
            line_count: contents.line_count() + first_line,
            name: self.file.name(),
        }))
    }
}

struct Shifted<'a> {
    data: &'a [u8],
    span: SourceSpan,
    line: usize,
    column: usize,
    line_count: usize,
    name: &'a str,
}

impl<'a> SpanContents<'a> for Shifted<'a> {
    fn data(&self) -> &'a [u8] {
        self.data
    }

    fn span(&self) -> &SourceSpan {
        &self.span
    }

    fn name(&self) -> Option<&str> {
        Some(self.name)
    }

    fn line(&self) -> usize {
        self.line
    }

    fn column(&self) -> usize {
        self.column
    }

    fn line_count(&self) -> usize {
        self.line_count
    }

    fn language(&self) -> Option<&str> {
        Some("")
    }
}

impl Report<'_> {
    /// miette refuses spans past the end of the text; clamp rather than lose the label.
    fn clamp(&self, span: Span) -> Span {
        let start = span.start.min(self.text_len);
        Span::new(start, span.end.clamp(start, self.text_len))
    }
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diagnostic, f)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.diagnostic.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|help| Box::new(help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        if self.diagnostic.labels.is_empty() {
            None
        } else {
            Some(self.source)
        }
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.diagnostic.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.diagnostic.labels.iter().map(|label| {
            let span = self.clamp(label.span);
            let text = (!label.message.is_empty()).then(|| label.message.clone());
            if label.primary {
                LabeledSpan::new_primary_with_span(text, span)
            } else {
                LabeledSpan::new_with_span(text, span)
            }
        })))
    }
}
