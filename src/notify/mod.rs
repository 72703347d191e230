//! Delivering one message to one channel, knowing nothing of the engine or the graph.
//!
//! The engine calls [`deliver`] and logs what it returns; a message that cannot be
//! delivered is logged, never fatal, since a run must not stop because a chat server
//! is down. So every delivery ends: each attempt is bounded by [`Settings::timeout`],
//! and there are at most [`Settings::attempts`] of them.
//!
//! Retries wait on the caller's clock (the `sleep` argument), so the engine's virtual
//! clock governs drills and tests spend no wall time on backoff.
//!
//! Secrets: a webhook URL is one in practice (Slack's path holds its token), so
//! messages show only its scheme and host; a command's secrets come from
//! [`Settings::env`], which nothing here echoes. An error may quote a server's or a
//! command's own words, which the caller redacts like any command output.

mod command;
#[cfg(test)]
mod tests;
mod webhook;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use crate::compile::{Channel, ChannelKind};

/// How many characters of a server's or a command's words an error quotes.
const EXCERPT_CHARS: usize = 200;

/// The longest wait a server's `Retry-After` may ask for: a notification that comes
/// an hour late is worth little, and the run's log says it was late.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);

/// One message for one audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The role or audience it is for (`comms`), as the runbook names it.
    pub audience: String,
    /// What the people read, interpolated already.
    pub text: String,
    /// The event that caused it (`failure`, `wave`, `every`), for receivers that sort.
    pub event: String,
    pub run_id: String,
}

/// What a delivery needs from its caller.
#[derive(Clone)]
pub struct Settings {
    /// The longest one attempt may take: a request, or a command's whole run.
    pub timeout: Duration,
    /// Attempts in all, the first included; 0 counts as 1.
    pub attempts: u32,
    /// The wait before the second attempt, doubled before each one after.
    pub backoff: Duration,
    /// Where `command` channels run.
    pub work_dir: PathBuf,
    /// Variables added to `command` channels' environment (secrets among them).
    pub env: Vec<(String, String)>,
}

/// Never prints the environment's values: secrets are among them.
impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.env.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("Settings")
            .field("timeout", &self.timeout)
            .field("attempts", &self.attempts)
            .field("backoff", &self.backoff)
            .field("work_dir", &self.work_dir)
            .field("env", &names)
            .finish()
    }
}

/// A delivered message, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Attempts made, the successful one included.
    pub attempts: u32,
    /// Short: `https://chat.example (path hidden) answered HTTP 200 OK`.
    pub detail: String,
}

/// The caller's clock: a future that ends after the given time, real or virtual.
pub type Sleep<'a> =
    dyn Fn(Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> + Send + Sync + 'a;

/// Why a message was not delivered. Messages do not name the channel: the caller does.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// Every attempt failed, the last for `last`; each failure could have passed.
    #[error("not delivered after {attempts} {}: {last}", plural(*.attempts))]
    GaveUp { attempts: u32, last: AttemptError },
    /// An attempt failed for a reason the next attempt would meet again (the request
    /// itself is wrong), so none followed.
    #[error("not delivered, and not retried (attempt {attempts}): {reason}")]
    Refused { attempts: u32, reason: AttemptError },
}

impl NotifyError {
    /// Attempts made.
    pub fn attempts(&self) -> u32 {
        match self {
            NotifyError::GaveUp { attempts, .. } | NotifyError::Refused { attempts, .. } => {
                *attempts
            }
        }
    }

    /// Why the last attempt failed.
    pub fn reason(&self) -> &AttemptError {
        match self {
            NotifyError::GaveUp { last, .. } => last,
            NotifyError::Refused { reason, .. } => reason,
        }
    }
}

/// Why one attempt failed. URLs are shown as `scheme://host`, never their path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttemptError {
    #[error("POST {url} answered HTTP {}{}", status_text(*.status), said_suffix(.said))]
    HttpStatus {
        url: String,
        status: u16,
        /// The first non-blank line of the answer's body, cut short (Slack says
        /// `invalid_payload` or `no_service` there).
        said: String,
    },
    #[error("POST {url}: no answer within {}", humantime::format_duration(*.after))]
    HttpTimedOut { url: String, after: Duration },
    #[error("POST {url} failed: {reason}")]
    Connection { url: String, reason: String },
    #[error("{url} is not a URL this program can POST to: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("could not start the command: {reason}")]
    Spawn { reason: String },
    #[error("the command failed with {status}{}", stderr_suffix(.stderr))]
    CommandFailed {
        /// `exit code 2` or `signal 9`.
        status: String,
        /// The first non-blank line of its stderr, cut short.
        stderr: String,
    },
    #[error("the command did not finish within {}", humantime::format_duration(*.after))]
    CommandTimedOut { after: Duration },
}

/// How one attempt ended, and whether another may follow.
enum Attempt {
    Delivered(String),
    /// Another attempt may fare better, after `retry_after` if the server asked.
    Passing {
        error: AttemptError,
        retry_after: Option<Duration>,
    },
    /// Another attempt would fail the same way.
    Final(AttemptError),
}

/// Delivers `message` through `channel`, trying again on failures that may pass,
/// waiting on `sleep` between attempts: `backoff`, then twice that, and so on, or
/// what a server's `Retry-After` asks (at most 60 s).
///
/// - `webhook`: a JSON POST in Slack's shape (see `webhook.rs`); 2xx is delivered;
///   connection errors, timeouts, 429 and 5xx are retried; other answers are not,
///   since the request itself is wrong (a bad token, a removed hook, a moved URL)
///   and would be again.
/// - `command`: `sh -c` with the text and a newline on stdin; exit 0 is delivered,
///   anything else (a timeout too) is retried. The command must finish delivering
///   before it exits: whatever it leaves running is killed then.
/// - `log`: delivered at once; the engine's own log entry is the delivery.
pub async fn deliver(
    channel: &Channel,
    message: &Message,
    settings: &Settings,
    sleep: &Sleep<'_>,
) -> Result<Delivered, NotifyError> {
    let attempts = settings.attempts.max(1);
    let mut backoff = settings.backoff;
    let mut attempt = 1;
    loop {
        let outcome = match &channel.kind {
            ChannelKind::Webhook { url } => webhook::post(url, message, settings.timeout).await,
            ChannelKind::Command { command } => command::run(command, message, settings).await,
            ChannelKind::Log => Attempt::Delivered("written to the run's log".to_string()),
        };
        match outcome {
            Attempt::Delivered(detail) => {
                return Ok(Delivered {
                    attempts: attempt,
                    detail,
                })
            }
            Attempt::Final(reason) => {
                return Err(NotifyError::Refused {
                    attempts: attempt,
                    reason,
                })
            }
            Attempt::Passing { error, .. } if attempt >= attempts => {
                return Err(NotifyError::GaveUp {
                    attempts: attempt,
                    last: error,
                })
            }
            Attempt::Passing { retry_after, .. } => {
                sleep(retry_after.map_or(backoff, |asked| asked.min(RETRY_AFTER_CAP))).await;
                backoff = backoff.saturating_mul(2);
                attempt += 1;
            }
        }
    }
}

fn plural(attempts: u32) -> &'static str {
    if attempts == 1 {
        "attempt"
    } else {
        "attempts"
    }
}

/// `500 Internal Server Error`, or the bare number for a status without a name.
fn status_text(status: u16) -> String {
    match ureq::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|code| code.canonical_reason())
    {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

fn said_suffix(said: &str) -> String {
    if said.is_empty() {
        String::new()
    } else {
        format!(": {said}")
    }
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        " (nothing on stderr)".to_string()
    } else {
        format!(": {stderr}")
    }
}

fn first_line(text: &[u8]) -> String {
    crate::executor::brief::first_line(text, EXCERPT_CHARS)
}
