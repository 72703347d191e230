//! `webhook` channels: one JSON POST per attempt, ureq on a blocking thread.
//!
//! The body is what a Slack incoming webhook (and Mattermost's, Rocket.Chat's) reads:
//!
//! ```json
//! {"text": "...", "runbook": {"run": "...", "audience": "...", "event": "..."}}
//! ```
//!
//! Slack ignores keys it does not know, so `runbook` costs it nothing and lets a
//! relay or a status page sort messages without parsing the text. Services that want
//! another shape (WeCom, DingTalk) take a `command` channel running `curl` or a relay.

use std::sync::OnceLock;
use std::time::Duration;

use super::{first_line, status_text, Attempt, AttemptError, Message};

/// The most of an answer's body read: only its first line is quoted.
const BODY_LIMIT: u64 = 64 << 10;

/// One agent for the process, so a chat server's connection is reused from one
/// message to the next. Redirects are not followed: a POST redirected becomes a GET
/// and the message is lost, so a 3xx is reported instead (the hook has moved).
fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("runbook/", env!("CARGO_PKG_VERSION")))
            .build()
            .into()
    })
}

/// The JSON body for `message`.
pub(super) fn body(message: &Message) -> String {
    serde_json::json!({
        "text": message.text,
        "runbook": {
            "run": message.run_id,
            "audience": message.audience,
            "event": message.event,
        },
    })
    .to_string()
}

/// POSTs `message` to `url` once, within `timeout` in all, and says whether another
/// attempt may fare better: after a refused connection, a timeout, a 429 or a 5xx
/// yes (the server is down or busy); after any other answer no (the request itself
/// is wrong: a bad token, a removed hook, a moved URL, a payload it rejects).
pub(super) async fn post(url: &str, message: &Message, timeout: Duration) -> Attempt {
    let shown = shown_url(url);
    let body = body(message);
    let target = url.to_string();
    let task = tokio::task::spawn_blocking(move || {
        let mut response = agent()
            .post(&target)
            .content_type("application/json")
            .config()
            .timeout_global(Some(timeout))
            .build()
            .send(body.as_bytes())?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // The status is the answer; a body that cannot be read only loses the quote.
        let said = response
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_vec()
            .unwrap_or_default();
        Ok::<_, ureq::Error>((status, retry_after, said))
    });
    let passing = |error| Attempt::Passing {
        error,
        retry_after: None,
    };
    let connection = |reason: String| AttemptError::Connection {
        url: shown.clone(),
        reason: scrub(&reason, url, &shown),
    };
    match task.await {
        Ok(Ok((status, retry_after, said))) => {
            if (200..300).contains(&status) {
                return Attempt::Delivered(format!(
                    "{shown} answered HTTP {}",
                    status_text(status)
                ));
            }
            let error = AttemptError::HttpStatus {
                url: shown.clone(),
                status,
                said: scrub(&first_line(&said), url, &shown),
            };
            if status == 429 || (500..600).contains(&status) {
                Attempt::Passing { error, retry_after }
            } else {
                Attempt::Final(error)
            }
        }
        Ok(Err(ureq::Error::Timeout(_))) => passing(AttemptError::HttpTimedOut {
            url: shown.clone(),
            after: timeout,
        }),
        // ureq's message quotes the URL, token and all.
        Ok(Err(ureq::Error::BadUri(_) | ureq::Error::Http(_))) => {
            Attempt::Final(AttemptError::BadUrl {
                url: shown.clone(),
                reason: "it needs a scheme and a host, as in https://host/path".to_string(),
            })
        }
        Ok(Err(ureq::Error::Io(error))) => passing(connection(error.to_string())),
        // TLS, DNS, a proxy: some pass, and telling which is guesswork.
        Ok(Err(error)) => passing(connection(error.to_string())),
        Err(error) => passing(connection(format!("the request task ended: {error}"))),
    }
}

/// `scheme://host:port` of `url`, without userinfo, and `(path hidden)` when it has a
/// path or a query: a webhook's path or query usually is its token.
pub(super) fn shown_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|at| at + 3) else {
        // Not a URL: it may still be a token, so none of it is shown.
        return "(hidden)".to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host = authority
        .rfind('@')
        .map_or(authority, |at| &authority[at + 1..]);
    let tail = rest[authority_end..].split('#').next().unwrap_or("");
    let shown = format!("{}{host}", &url[..scheme_end]);
    if tail.is_empty() || tail == "/" {
        shown
    } else {
        format!("{shown} (path hidden)")
    }
}

/// `reason` with `url`, its path or its query, were they quoted, hidden: a server's
/// or a library's words are not ours to trust.
fn scrub(reason: &str, url: &str, shown: &str) -> String {
    let mut scrubbed = if url.is_empty() {
        reason.to_string()
    } else {
        reason.replace(url, shown)
    };
    let Some(scheme_end) = url.find("://").map(|at| at + 3) else {
        return scrubbed;
    };
    let rest = &url[scheme_end..];
    let tail = &rest[rest.find(['/', '?', '#']).unwrap_or(rest.len())..];
    let tail = tail.split('#').next().unwrap_or("");
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    for secret in [tail, path, query] {
        if secret.len() > 1 {
            scrubbed = scrubbed.replace(secret, "(path hidden)");
        }
    }
    scrubbed
}
