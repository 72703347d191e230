//! Loading files and showing findings the same way in every command.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use runbook::diagnostic::{self, Diagnostic, JsonDiagnostic, JsonSpan, Severity};
use runbook::parse::codes as parse_codes;
use runbook::pipeline::{self, Options, Outcome};
use runbook::source::{self, InputError, SourceFile};

use super::{CheckOptions, Deny};

/// One file taken through the pipeline, or the reason it could not be.
pub enum Loaded {
    Checked {
        file: SourceFile,
        outcome: Box<Outcome>,
    },
    Unreadable(InputError),
}

pub fn load_and_check(path: &Path, options: &CheckOptions) -> Result<Loaded, String> {
    let file = if path == Path::new("-") {
        let mut bytes = Vec::new();
        if let Err(error) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes) {
            return Err(format!("cannot read standard input: {error}"));
        }
        source::from_bytes("<stdin>", bytes)
    } else {
        source::load(path)
    };
    let file = match file {
        Ok(file) => file,
        Err(error) => return Ok(Loaded::Unreadable(error)),
    };
    let stdin = path == Path::new("-");
    // Standard input has no folder: its relative paths must not be read from wherever
    // the command happens to run.
    let base_dir = (!stdin)
        .then(|| path.parent().map(Path::to_path_buf))
        .flatten();
    let (file, outcome) = check_loaded(file, base_dir, options)?;
    Ok(Loaded::Checked { file, outcome })
}

/// A runbook already read, checked with its relative paths taken from `base_dir`.
pub fn check_loaded(
    file: SourceFile,
    base_dir: Option<PathBuf>,
    options: &CheckOptions,
) -> Result<(SourceFile, Box<Outcome>), String> {
    let pipeline_options = Options {
        base_dir,
        roster: options.roster.clone(),
        deny_warnings: options.deny == Some(Deny::Warnings),
    };
    let outcome =
        pipeline::check_source(&file, &pipeline_options).map_err(|error| error.to_string())?;
    Ok((file, Box::new(outcome)))
}

/// Findings that mean the file is not a runbook at all, which is a usage problem
/// (exit 2) rather than a finding in a runbook (exit 1).
pub fn is_unreadable(diagnostic: &Diagnostic) -> bool {
    diagnostic.code == parse_codes::EMPTY || diagnostic.code == parse_codes::TOO_DEEP
}

pub fn use_color() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

pub fn render_input_error(error: &InputError) -> String {
    let place = match error.position {
        Some((line, column)) => format!("{}:{line}:{column}", error.file),
        None => error.file.clone(),
    };
    format!(
        "error[{}]: {place}: {}\n  help: {}\n",
        error.code, error.message, error.help
    )
}

pub fn input_error_json(error: &InputError) -> JsonDiagnostic {
    let (line, column) = error
        .position
        .map_or((0, 0), |(line, column)| (line as usize, column as usize));
    JsonDiagnostic {
        code: error.code.as_str(),
        severity: Severity::Error,
        message: error.message.clone(),
        file: error.file.clone(),
        line,
        column,
        span: JsonSpan { start: 0, end: 0 },
        help: Some(error.help.to_string()),
        labels: Vec::new(),
    }
}

pub fn render(file: &SourceFile, diagnostics: &[Diagnostic]) -> String {
    diagnostic::render_human(file, diagnostics, use_color())
}

/// Writes to standard output, quietly stopping when the reader has gone away
/// (`runbook graph x | head`), instead of panicking on a broken pipe.
pub fn print_stdout(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// A coded error of a command (not a finding in a file), with its hint, on stderr.
pub fn coded_error(code: runbook::diagnostic::Code, message: &str, help: &str) {
    eprintln!("error[{}]: {message}\n  help: {help}", code.as_str());
}
