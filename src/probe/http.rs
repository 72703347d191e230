//! GETs for `http` and `prometheus` probes: ureq, on a blocking thread.

use std::sync::OnceLock;
use std::time::Duration;

use super::{shown_url, ProbeError};

/// Enough for a load balancer's or a login's hop or two; more is a loop.
const MAX_REDIRECTS: u32 = 5;

/// The most of a body read: Prometheus answers for unreduced queries can be large,
/// but a probe's number never needs more.
const BODY_LIMIT: u64 = 8 << 20;

/// An answer of any status: Prometheus explains its errors in a 4xx or 5xx body.
pub(super) struct Answer {
    pub status: u16,
    pub body: String,
    /// The URL as messages show it (no userinfo).
    pub url: String,
}

impl Answer {
    pub fn success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn status_error(&self) -> ProbeError {
        let reason = ureq::http::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|status| status.canonical_reason());
        ProbeError::HttpStatus {
            url: self.url.clone(),
            status: match reason {
                Some(reason) => format!("{} {reason}", self.status),
                None => self.status.to_string(),
            },
        }
    }
}

/// One agent for the process, so connections to the same server are reused from
/// one interval to the next.
fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(MAX_REDIRECTS)
            .user_agent(concat!("runbook/", env!("CARGO_PKG_VERSION")))
            .build()
            .into()
    })
}

/// GETs `url` with `query` appended (percent-encoded), within `timeout` in all,
/// redirects and body included.
pub(super) async fn get(
    url: String,
    query: Vec<(&'static str, String)>,
    timeout: Duration,
) -> Result<Answer, ProbeError> {
    let shown = shown_url(&url);
    let task = tokio::task::spawn_blocking(move || {
        let mut request = agent().get(&url);
        for (key, value) in &query {
            request = request.query(key, value);
        }
        let mut response = request
            .config()
            .timeout_global(Some(timeout))
            .build()
            .call()?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_string()?;
        Ok::<_, ureq::Error>((status, body))
    });
    let failed = |reason: String| ProbeError::Connection {
        url: shown.clone(),
        reason,
    };
    match task.await {
        Ok(Ok((status, body))) => Ok(Answer {
            status,
            body,
            url: shown.clone(),
        }),
        Ok(Err(ureq::Error::Timeout(_))) => Err(ProbeError::TimedOut { after: timeout }),
        // ureq's message quotes the URL, userinfo and all.
        Ok(Err(ureq::Error::BadUri(_) | ureq::Error::Http(_))) => Err(ProbeError::BadUrl {
            url: shown.clone(),
            reason: "it needs a scheme and a host, as in http://host:port/path".to_string(),
        }),
        Ok(Err(ureq::Error::TooManyRedirects)) => {
            Err(failed(format!("more than {MAX_REDIRECTS} redirects")))
        }
        Ok(Err(ureq::Error::BodyExceedsLimit(_))) => Err(failed(format!(
            "the answer is larger than {} MiB",
            BODY_LIMIT >> 20
        ))),
        Ok(Err(ureq::Error::Io(error))) => Err(failed(error.to_string())),
        Ok(Err(error)) => Err(failed(error.to_string())),
        Err(error) => Err(failed(format!("the request task ended: {error}"))),
    }
}
