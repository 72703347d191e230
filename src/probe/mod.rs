//! Reading one probe's number, knowing nothing of the engine or the graph.
//!
//! The engine calls [`read`] every interval for gates and watches, so a reading must
//! end (a timeout bounds every kind), must never hang on a stray process, and must
//! give exactly one finite number or say precisely why not: the message is what an
//! operator sees when a gate will not open.
//!
//! Secrets: a probe's text is runbook text, and secrets reach a command only through
//! [`Settings::env`], which nothing here echoes; URLs are shown without userinfo.
//! Errors and [`Reading::detail`] may quote a command's or server's own answer, which
//! the caller redacts like any command output.

mod command;
mod http;
mod prometheus;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde_json_path::JsonPath;

use crate::compile::{Probe, ProbeSource};

/// How many characters of an answer a [`Reading::detail`] or an error quotes.
const EXCERPT_CHARS: usize = 200;

/// What a reading needs from its caller.
#[derive(Clone)]
pub struct Settings {
    /// Base URL of the Prometheus server (`http://prometheus:9090`), for `prometheus`
    /// probes; without one they fail with [`ProbeError::NoPrometheusUrl`].
    pub prometheus_url: Option<String>,
    /// The longest one reading may take, whatever its kind.
    pub timeout: Duration,
    /// Where `command` probes run.
    pub work_dir: PathBuf,
    /// Variables added to `command` probes' environment (secrets among them).
    pub env: Vec<(String, String)>,
}

/// Never prints the environment's values: secrets are among them.
impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.env.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("Settings")
            .field(
                "prometheus_url",
                &self.prometheus_url.as_deref().map(shown_url),
            )
            .field("timeout", &self.timeout)
            .field("work_dir", &self.work_dir)
            .field("env", &names)
            .finish()
    }
}

/// One probe's number and, for the log, what it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Always finite.
    pub value: f64,
    /// Short: a command's stdout or an HTTP body, trimmed and cut to 200 characters,
    /// or the labels of the Prometheus series (`up{job="api"}`, `scalar`).
    pub detail: String,
}

/// Why a probe gave no number. Messages do not name the probe: the caller does.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("could not start the command: {reason}")]
    Spawn { reason: String },
    #[error("the command failed with {status}{}", stderr_suffix(.stderr))]
    CommandFailed {
        /// `exit code 2` or `signal 9`.
        status: String,
        /// The first non-blank line of its stderr, cut short.
        stderr: String,
    },
    #[error("no answer within {}", humantime::format_duration(*.after))]
    TimedOut { after: Duration },
    #[error("expected a number, got {}", shown(.got))]
    NotANumber { got: String },
    #[error("the value is {value}, not a finite number")]
    NotFinite { value: f64 },
    #[error("the JSON path {path:?} is not valid: {reason}")]
    BadJsonPath { path: String, reason: String },
    #[error("expected JSON for the path {path:?} ({reason}), got {}", shown(.got))]
    NotJson {
        path: String,
        reason: String,
        got: String,
    },
    #[error("the JSON path {path:?} matched nothing in {}", shown(.got))]
    JsonPathMatchedNothing { path: String, got: String },
    #[error("the JSON path {path:?} matched {count} values, not one")]
    JsonPathMatchedSeveral { path: String, count: usize },
    #[error("the JSON path {path:?} matched {}, not a number", shown(.got))]
    JsonPathNotANumber { path: String, got: String },
    #[error("{url} is not a URL this program can GET: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("GET {url} answered HTTP {status}")]
    HttpStatus { url: String, status: String },
    #[error("GET {url} failed: {reason}")]
    Connection { url: String, reason: String },
    #[error("no Prometheus URL is configured, so prometheus probes cannot be read")]
    NoPrometheusUrl,
    #[error("Prometheus answered an error ({kind}): {message}")]
    Prometheus { kind: String, message: String },
    #[error("Prometheus gave an answer this program cannot read: {reason}")]
    PrometheusAnswer { reason: String },
    #[error(
        "the query returned no series (nothing matched), not one number: \
         append `or vector(0)` if no data means 0"
    )]
    PrometheusNoSeries,
    #[error(
        "the query returned a vector of {count} series, not one number: \
         reduce it with `sum(...)`, `max(...)` or similar"
    )]
    PrometheusSeveralSeries { count: usize },
    #[error(
        "the query returned a {kind}, not one number: a probe needs an instant \
         vector of one series or a scalar{}",
        if .kind == "matrix" { " (drop the range selector, or wrap it in a function such as `rate(...)`)" } else { "" }
    )]
    PrometheusResultType { kind: String },
}

/// Reads `probe` once. Every kind is bounded by `settings.timeout`.
///
/// A `command` probe counts only when it exits 0: `grep -c` (exit 1 when it counts
/// 0) needs `|| true`. `json_path` applies to `command` and `http` probes only.
pub async fn read(probe: &Probe, settings: &Settings) -> Result<Reading, ProbeError> {
    let path = probe.json_path.as_deref();
    match &probe.source {
        ProbeSource::Command { command } => {
            let stdout = command::run(command, settings).await?;
            number_in(&stdout, path)
        }
        ProbeSource::Http { url } => {
            let answer = http::get(url.clone(), Vec::new(), settings.timeout).await?;
            if !answer.success() {
                return Err(answer.status_error());
            }
            number_in(&answer.body, path)
        }
        ProbeSource::Prometheus { query } => {
            let base = settings
                .prometheus_url
                .as_deref()
                .ok_or(ProbeError::NoPrometheusUrl)?;
            prometheus::query(base, query, settings.timeout).await
        }
    }
}

/// The number a command or an HTTP body gives: the whole text, or the value the
/// JSON path picks out of it.
fn number_in(text: &str, json_path: Option<&str>) -> Result<Reading, ProbeError> {
    let value = match json_path {
        None => parse_number(text)?,
        Some(path) => number_at(text, path)?,
    };
    Ok(Reading {
        value,
        detail: excerpt(text.trim()),
    })
}

fn number_at(text: &str, path: &str) -> Result<f64, ProbeError> {
    let compiled = JsonPath::parse(path).map_err(|error| ProbeError::BadJsonPath {
        path: path.to_string(),
        reason: error.to_string(),
    })?;
    let document: serde_json::Value =
        serde_json::from_str(text).map_err(|error| ProbeError::NotJson {
            path: path.to_string(),
            reason: error.to_string(),
            got: excerpt(text.trim()),
        })?;
    let nodes = compiled.query(&document).all();
    let found = match nodes.as_slice() {
        [] => {
            return Err(ProbeError::JsonPathMatchedNothing {
                path: path.to_string(),
                got: excerpt(text.trim()),
            })
        }
        [one] => *one,
        several => {
            return Err(ProbeError::JsonPathMatchedSeveral {
                path: path.to_string(),
                count: several.len(),
            })
        }
    };
    let not_a_number = || ProbeError::JsonPathNotANumber {
        path: path.to_string(),
        got: excerpt(&found.to_string()),
    };
    match found {
        serde_json::Value::Number(number) => finite(number.as_f64().ok_or_else(not_a_number)?),
        // Some services quote their numbers ("42", "0.93").
        serde_json::Value::String(string) => match string.trim().parse::<f64>() {
            Ok(value) => finite(value),
            Err(_) => Err(not_a_number()),
        },
        _ => Err(not_a_number()),
    }
}

/// A whole answer as a number: integers and decimals, with an exponent or not.
fn parse_number(text: &str) -> Result<f64, ProbeError> {
    match text.trim().parse::<f64>() {
        Ok(value) => finite(value),
        Err(_) => Err(ProbeError::NotANumber {
            got: excerpt(text.trim()),
        }),
    }
}

/// NaN and infinities compare oddly in conditions: a gate must not open on them.
fn finite(value: f64) -> Result<f64, ProbeError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(ProbeError::NotFinite { value })
    }
}

/// At most [`EXCERPT_CHARS`] characters of `text`, with `…` when cut.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        None => text.to_string(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

/// Quoted, on one line (control characters become blanks), and otherwise as it came:
/// escaping it would hide a secret in it from the redaction that follows.
fn shown(got: &str) -> String {
    if got.is_empty() {
        return "nothing".to_string();
    }
    let line: String = got
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("\"{line}\"")
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        " (nothing on stderr)".to_string()
    } else {
        format!(": {stderr}")
    }
}

/// `url` without its userinfo (`https://user:password@host/` shows as
/// `https://host/`): a password must not reach a message or a log.
fn shown_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|at| at + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}{}", &url[..scheme_end], &rest[at + 1..]),
        None => url.to_string(),
    }
}
