//! The edge where our diagnostics meet miette (for people) and JSON (for tools).

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};
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
    let source = NamedSource::new(file.name(), file.shared_text().to_string()).with_language("");
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
    source: &'a NamedSource<String>,
    text_len: usize,
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
