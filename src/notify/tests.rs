//! Webhooks talk to a canned server on loopback, started by each test; commands run
//! real `sh`. The clock only records the waits asked for, so retries take no time.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{mpsc, Mutex};
use std::time::Instant;

use super::webhook::shown_url;
use super::*;
use crate::source::Span;

fn channel(kind: ChannelKind) -> Channel {
    Channel {
        name: "chat".to_string(),
        kind,
        span: Span::new(0, 0),
    }
}

fn webhook(url: &str) -> Channel {
    channel(ChannelKind::Webhook {
        url: url.to_string(),
    })
}

fn command(script: &str) -> Channel {
    channel(ChannelKind::Command {
        command: script.to_string(),
    })
}

fn message() -> Message {
    Message {
        audience: "executor".to_string(),
        text: "Wave 2 of 3 \"done\":\n40 hosts ✓".to_string(),
        event: "wave".to_string(),
        run_id: "upgrade-20250101-0900".to_string(),
    }
}

fn settings() -> Settings {
    Settings {
        timeout: Duration::from_secs(10),
        attempts: 4,
        backoff: Duration::from_secs(1),
        work_dir: std::env::temp_dir(),
        env: Vec::new(),
    }
}

fn secs(seconds: &[u64]) -> Vec<Duration> {
    seconds.iter().map(|&s| Duration::from_secs(s)).collect()
}

/// Delivers with a clock that waits for nothing and records what it was asked.
async fn send(
    channel: &Channel,
    settings: &Settings,
) -> (Result<Delivered, NotifyError>, Vec<Duration>) {
    let waits = Mutex::new(Vec::new());
    let sleep = |wait: Duration| -> Pin<Box<dyn Future<Output = ()> + Send>> {
        waits.lock().unwrap().push(wait);
        Box::pin(std::future::ready(()))
    };
    let outcome = deliver(channel, &message(), settings, &sleep).await;
    (outcome, waits.into_inner().unwrap())
}

async fn error(channel: &Channel, settings: &Settings) -> (NotifyError, Vec<Duration>) {
    match send(channel, settings).await {
        (Ok(delivered), _) => panic!("expected an error, got {delivered:?}"),
        (Err(error), waits) => (error, waits),
    }
}

// ---------------------------------------------------------------- the canned server

/// What the server does with one connection.
#[derive(Clone)]
enum Reply {
    Answer(u16, Vec<(&'static str, String)>, &'static str),
    /// Reads the request and never answers.
    Hang,
}

fn status(code: u16) -> Reply {
    Reply::Answer(code, Vec::new(), "")
}

/// One request as the server read it.
struct Request {
    line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Answers the n-th connection on 127.0.0.1 with `replies[n]` (the last one over
/// again once they run out), one request per connection, and sends every request
/// read on the returned channel.
fn serve(replies: Vec<Reply>) -> (String, mpsc::Receiver<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (sent, asked) = mpsc::channel();
    std::thread::spawn(move || {
        for (index, stream) in listener.incoming().enumerate() {
            let Ok(stream) = stream else { continue };
            let reply = replies[index.min(replies.len() - 1)].clone();
            let sent = sent.clone();
            std::thread::spawn(move || answer(stream, reply, &sent));
        }
    });
    (base, asked)
}

fn answer(mut stream: TcpStream, reply: Reply, sent: &mpsc::Sender<Request>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_string(), value.trim().to_string()))
        .collect();
    let length = headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    if stream.read_exact(&mut body).is_err() {
        return;
    }
    let body = String::from_utf8(body).unwrap();
    let _ = sent.send(Request {
        line,
        headers,
        body,
    });
    let (code, extra, text) = match reply {
        Reply::Hang => {
            // Until the client gives up and closes.
            let _ = stream.read_to_end(&mut Vec::new());
            return;
        }
        Reply::Answer(code, extra, text) => (code, extra, text),
    };
    let mut response = format!(
        "HTTP/1.1 {code} Canned\r\nContent-Length: {}\r\nConnection: close\r\n",
        text.len()
    );
    for (name, value) in extra {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(text);
    let _ = stream.write_all(response.as_bytes());
}

/// The address of a port nothing listens on.
fn refused_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

// ---------------------------------------------------------------- webhook

#[tokio::test]
async fn a_webhook_gets_slack_json_and_a_2xx_is_delivered() {
    let (base, asked) = serve(vec![Reply::Answer(200, Vec::new(), "ok")]);
    let url = format!("{base}/services/T000/B000/XXXXsecret");
    let (outcome, waits) = send(&webhook(&url), &settings()).await;
    let delivered = outcome.unwrap();
    assert_eq!(delivered.attempts, 1);
    assert_eq!(
        delivered.detail,
        format!("{base} (path hidden) answered HTTP 200 OK")
    );
    assert!(waits.is_empty());

    let request = asked.recv().unwrap();
    assert_eq!(request.line, "POST /services/T000/B000/XXXXsecret HTTP/1.1");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "text": "Wave 2 of 3 \"done\":\n40 hosts ✓",
            "runbook": {
                "run": "upgrade-20250101-0900",
                "audience": "executor",
                "event": "wave",
            },
        })
    );
}

#[tokio::test]
async fn server_errors_are_retried_with_doubling_waits() {
    let (base, asked) = serve(vec![status(500), status(502), status(204)]);
    let (outcome, waits) = send(&webhook(&format!("{base}/hook")), &settings()).await;
    let delivered = outcome.unwrap();
    assert_eq!(delivered.attempts, 3);
    assert_eq!(waits, secs(&[1, 2]));
    assert_eq!(asked.try_iter().count(), 3);
}

#[tokio::test]
async fn retry_after_is_respected_capped_and_does_not_stop_the_doubling() {
    let (base, _) = serve(vec![
        Reply::Answer(429, vec![("Retry-After", "7".to_string())], ""),
        status(429),
        Reply::Answer(503, vec![("Retry-After", "3600".to_string())], ""),
        status(200),
    ]);
    let (outcome, waits) = send(&webhook(&format!("{base}/hook")), &settings()).await;
    assert_eq!(outcome.unwrap().attempts, 4);
    // The server's 7 s, the backoff's 2 s (the second wait), 3600 s cut to 60 s.
    assert_eq!(waits, secs(&[7, 2, 60]));
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let (base, asked) = serve(vec![
        status(500),
        Reply::Answer(400, Vec::new(), "\ninvalid_payload\nmore"),
    ]);
    let (failure, waits) = error(&webhook(&format!("{base}/hook")), &settings()).await;
    assert_eq!(
        failure.to_string(),
        format!(
            "not delivered, and not retried (attempt 2): POST {base} (path hidden) \
             answered HTTP 400 Bad Request: invalid_payload"
        )
    );
    assert!(matches!(failure, NotifyError::Refused { attempts: 2, .. }));
    assert_eq!(waits, secs(&[1]));
    assert_eq!(asked.try_iter().count(), 2);

    // Nor is a redirect: followed, a POST would become a GET and the message lost.
    let (base, _) = serve(vec![Reply::Answer(
        301,
        vec![("Location", "/elsewhere".to_string())],
        "",
    )]);
    let (moved, waits) = error(&webhook(&format!("{base}/hook")), &settings()).await;
    assert!(
        matches!(moved.reason(), AttemptError::HttpStatus { status: 301, .. }),
        "{moved}"
    );
    assert_eq!((moved.attempts(), waits), (1, Vec::new()));
}

#[tokio::test]
async fn when_every_attempt_fails_the_error_names_the_attempts_and_the_last_status() {
    let (base, asked) = serve(vec![status(500), status(500), status(500), status(503)]);
    let (failure, waits) = error(&webhook(&format!("{base}/hook")), &settings()).await;
    assert_eq!(
        failure.to_string(),
        format!(
            "not delivered after 4 attempts: POST {base} (path hidden) answered \
             HTTP 503 Service Unavailable"
        )
    );
    assert!(matches!(
        failure,
        NotifyError::GaveUp {
            attempts: 4,
            last: AttemptError::HttpStatus { status: 503, .. }
        }
    ));
    assert_eq!(waits, secs(&[1, 2, 4]));
    assert_eq!(asked.try_iter().count(), 4);
}

#[tokio::test]
async fn a_refused_connection_is_retried_and_shows_no_secret() {
    let address = refused_address();
    let url = format!("http://bot:s3cret@{address}/hooks/T0K3N?token=abc123");
    let settings = Settings {
        attempts: 2,
        ..settings()
    };
    let (failure, waits) = error(&webhook(&url), &settings).await;
    let message = failure.to_string();
    assert!(
        matches!(failure.reason(), AttemptError::Connection { .. }),
        "{message}"
    );
    assert_eq!((failure.attempts(), waits), (2, secs(&[1])));
    assert!(
        message.starts_with(&format!(
            "not delivered after 2 attempts: POST http://{address} (path hidden) failed: "
        )),
        "{message}"
    );
    for secret in ["s3cret", "bot", "T0K3N", "abc123", "hooks"] {
        assert!(!message.contains(secret), "{secret} in {message}");
    }
}

#[tokio::test]
async fn an_answer_quoting_the_path_has_it_hidden() {
    let (base, _) = serve(vec![Reply::Answer(
        404,
        Vec::new(),
        "no hook at /hooks/T0K3N?key=abc123",
    )]);
    let url = format!("{base}/hooks/T0K3N?key=abc123");
    let (failure, _) = error(&webhook(&url), &settings()).await;
    assert_eq!(
        failure.to_string(),
        format!(
            "not delivered, and not retried (attempt 1): POST {base} (path hidden) \
             answered HTTP 404 Not Found: no hook at (path hidden)"
        )
    );
}

#[tokio::test]
async fn a_webhook_that_does_not_answer_times_out_and_is_retried() {
    let (base, asked) = serve(vec![Reply::Hang]);
    let settings = Settings {
        timeout: Duration::from_millis(300),
        attempts: 2,
        ..settings()
    };
    let started = Instant::now();
    let (failure, waits) = error(&webhook(&format!("{base}/hook")), &settings).await;
    assert_eq!(
        failure.to_string(),
        format!(
            "not delivered after 2 attempts: POST {base} (path hidden): no answer within 300ms"
        )
    );
    assert_eq!(waits, secs(&[1]));
    assert_eq!(asked.try_iter().count(), 2);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_url_that_is_no_url_is_not_retried_and_not_shown() {
    let (failure, waits) = error(&webhook("hooks.example/T0K3N"), &settings()).await;
    assert!(
        matches!(failure, NotifyError::Refused { attempts: 1, .. }),
        "{failure}"
    );
    assert!(waits.is_empty());
    assert!(!failure.to_string().contains("T0K3N"), "{failure}");
}

#[test]
fn urls_are_shown_as_scheme_and_host_only() {
    assert_eq!(
        shown_url("https://hooks.slack.com/services/T0/B0/XXXX"),
        "https://hooks.slack.com (path hidden)"
    );
    assert_eq!(
        shown_url("https://user:pw@chat.example:8443?key=1#top"),
        "https://chat.example:8443 (path hidden)"
    );
    assert_eq!(shown_url("http://status.example/"), "http://status.example");
    assert_eq!(
        shown_url("http://status.example#x"),
        "http://status.example"
    );
    assert_eq!(shown_url("status.example/T0K3N"), "(hidden)");
}

// ---------------------------------------------------------------- log

#[tokio::test]
async fn the_log_channel_delivers_at_once() {
    let (outcome, waits) = send(&channel(ChannelKind::Log), &settings()).await;
    assert_eq!(outcome.unwrap().attempts, 1);
    assert!(waits.is_empty());
}

// ---------------------------------------------------------------- command

#[tokio::test]
async fn a_command_gets_the_text_on_stdin_the_env_and_the_work_dir() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        work_dir: dir.path().to_path_buf(),
        env: vec![("PAGER_TEAM".to_string(), "payment".to_string())],
        ..settings()
    };
    let script = r#"cat > out.txt; printf '%s' "$PAGER_TEAM" > team.txt"#;
    let (outcome, waits) = send(&command(script), &settings).await;
    assert_eq!(
        outcome.unwrap(),
        Delivered {
            attempts: 1,
            detail: "the command exited 0".to_string()
        }
    );
    assert!(waits.is_empty());
    let out = std::fs::read_to_string(dir.path().join("out.txt")).unwrap();
    assert_eq!(out, "Wave 2 of 3 \"done\":\n40 hosts ✓\n");
    let team = std::fs::read_to_string(dir.path().join("team.txt")).unwrap();
    assert_eq!(team, "payment");
}

#[tokio::test]
async fn a_failing_command_is_retried_until_it_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        work_dir: dir.path().to_path_buf(),
        ..settings()
    };
    let script = r#"n=$(( $(cat n 2>/dev/null || echo 0) + 1 )); echo $n > n
        [ $n -ge 3 ] || { echo "gateway down" >&2; exit 1; }"#;
    let (outcome, waits) = send(&command(script), &settings).await;
    assert_eq!(outcome.unwrap().attempts, 3);
    assert_eq!(waits, secs(&[1, 2]));
}

#[tokio::test]
async fn a_command_failing_every_time_gives_its_status_and_first_stderr_line() {
    let script = "cat >/dev/null; echo; echo '  sms gateway: 503' >&2; echo more >&2; exit 2";
    let (failure, waits) = error(&command(script), &settings()).await;
    assert_eq!(
        failure.to_string(),
        "not delivered after 4 attempts: the command failed with exit code 2: sms gateway: 503"
    );
    assert_eq!(waits, secs(&[1, 2, 4]));
    let settings = Settings {
        attempts: 1,
        ..settings()
    };
    let (quiet, waits) = error(&command("exit 1"), &settings).await;
    assert_eq!(
        quiet.to_string(),
        "not delivered after 1 attempt: the command failed with exit code 1 (nothing on stderr)"
    );
    assert!(waits.is_empty());
}

#[tokio::test]
async fn a_slow_command_is_killed_at_the_timeout_and_retried() {
    let settings = Settings {
        timeout: Duration::from_millis(300),
        attempts: 2,
        ..settings()
    };
    let started = Instant::now();
    let (failure, waits) = error(&command("sleep 30"), &settings).await;
    assert_eq!(
        failure.to_string(),
        "not delivered after 2 attempts: the command did not finish within 300ms"
    );
    assert_eq!(waits, secs(&[1]));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_process_left_running_does_not_hold_the_delivery() {
    let started = Instant::now();
    let (outcome, _) = send(&command("sleep 30 & cat >/dev/null"), &settings()).await;
    assert_eq!(outcome.unwrap().attempts, 1);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_command_that_cannot_start_is_not_retried() {
    let settings = Settings {
        work_dir: std::env::temp_dir().join("runbook-notify-no-such-dir"),
        ..settings()
    };
    let (failure, waits) = error(&command("true"), &settings).await;
    assert!(
        matches!(
            failure,
            NotifyError::Refused {
                attempts: 1,
                reason: AttemptError::Spawn { .. }
            }
        ),
        "{failure}"
    );
    assert!(waits.is_empty());
}

// ---------------------------------------------------------------- settings

#[tokio::test]
async fn zero_attempts_count_as_one() {
    let settings = Settings {
        attempts: 0,
        ..settings()
    };
    let (failure, waits) = error(&command("exit 1"), &settings).await;
    assert_eq!((failure.attempts(), waits), (1, Vec::new()));
}

#[test]
fn settings_never_print_env_values() {
    let settings = Settings {
        env: vec![("PAGER_TOKEN".to_string(), "s3cret".to_string())],
        ..settings()
    };
    let shown = format!("{settings:?}");
    assert!(
        shown.contains("PAGER_TOKEN") && !shown.contains("s3cret"),
        "{shown}"
    );
}
