//! Command probes run real `sh`; http and prometheus probes talk to a canned server
//! on loopback, started by each test.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::*;
use crate::source::Span;

fn probe(source: ProbeSource, json_path: Option<&str>) -> Probe {
    Probe {
        name: "p".to_string(),
        source,
        json_path: json_path.map(str::to_string),
        span: Span::new(0, 0),
    }
}

fn command(script: &str, json_path: Option<&str>) -> Probe {
    probe(
        ProbeSource::Command {
            command: script.to_string(),
        },
        json_path,
    )
}

fn http_probe(url: &str, json_path: Option<&str>) -> Probe {
    probe(
        ProbeSource::Http {
            url: url.to_string(),
        },
        json_path,
    )
}

fn prometheus_probe(query: &str) -> Probe {
    probe(
        ProbeSource::Prometheus {
            query: query.to_string(),
        },
        None,
    )
}

fn settings() -> Settings {
    Settings {
        prometheus_url: None,
        timeout: Duration::from_secs(10),
        work_dir: std::env::temp_dir(),
        env: Vec::new(),
    }
}

fn with_prometheus(url: String) -> Settings {
    Settings {
        prometheus_url: Some(url),
        ..settings()
    }
}

async fn value(probe: &Probe, settings: &Settings) -> f64 {
    match read(probe, settings).await {
        Ok(reading) => reading.value,
        Err(error) => panic!("expected a number, got the error: {error}"),
    }
}

async fn error(probe: &Probe, settings: &Settings) -> ProbeError {
    match read(probe, settings).await {
        Ok(reading) => panic!("expected an error, got {reading:?}"),
        Err(error) => error,
    }
}

// ---------------------------------------------------------------- command

#[tokio::test]
async fn a_command_gives_its_trimmed_stdout_as_a_number() {
    let reading = read(&command("echo '  42 '", None), &settings())
        .await
        .unwrap();
    assert_eq!(reading.value, 42.0);
    assert_eq!(reading.detail, "42");
    assert_eq!(
        value(&command("echo -0.25", None), &settings()).await,
        -0.25
    );
    assert_eq!(value(&command("echo 1e3", None), &settings()).await, 1000.0);
}

#[tokio::test]
async fn a_command_sees_the_settings_env_and_runs_in_the_work_dir() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("count"), "7\n").unwrap();
    let settings = Settings {
        work_dir: dir.path().to_path_buf(),
        env: vec![("PROBE_OFFSET".to_string(), "3".to_string())],
        ..settings()
    };
    let script = "echo $(( $(cat count) + PROBE_OFFSET ))";
    assert_eq!(value(&command(script, None), &settings).await, 10.0);
}

#[tokio::test]
async fn a_json_path_picks_the_number_out_of_a_commands_json() {
    let script = r#"echo '{"passed": 17, "suite": {"ratio": "0.93"}, "runs": [1, 2]}'"#;
    assert_eq!(
        value(&command(script, Some("$.passed")), &settings()).await,
        17.0
    );
    // A quoted number counts.
    let ratio = value(&command(script, Some("$.suite.ratio")), &settings()).await;
    assert_eq!(ratio, 0.93);

    let nothing = error(&command(script, Some("$.failed")), &settings()).await;
    assert!(matches!(nothing, ProbeError::JsonPathMatchedNothing { .. }));
    let several = error(&command(script, Some("$.runs[*]")), &settings()).await;
    assert!(matches!(
        several,
        ProbeError::JsonPathMatchedSeveral { count: 2, .. }
    ));
    assert_eq!(
        several.to_string(),
        r#"the JSON path "$.runs[*]" matched 2 values, not one"#
    );
    let object = error(&command(script, Some("$.suite")), &settings()).await;
    assert_eq!(
        object.to_string(),
        r#"the JSON path "$.suite" matched "{"ratio":"0.93"}", not a number"#
    );
    let invalid = error(&command(script, Some("passed")), &settings()).await;
    assert!(
        matches!(invalid, ProbeError::BadJsonPath { .. }),
        "{invalid}"
    );
    let not_json = error(&command("echo 'passed: 3'", Some("$.passed")), &settings()).await;
    assert!(matches!(not_json, ProbeError::NotJson { .. }), "{not_json}");
}

#[tokio::test]
async fn output_that_is_no_number_is_an_error_that_shows_it_cut_short() {
    let failure = error(&command("echo 'ok: 3 hosts'", None), &settings()).await;
    assert_eq!(
        failure.to_string(),
        r#"expected a number, got "ok: 3 hosts""#
    );
    let empty = error(&command("true", None), &settings()).await;
    assert_eq!(empty.to_string(), "expected a number, got nothing");
    let long = error(&command("printf 'x%.0s' $(seq 1 500)", None), &settings()).await;
    let ProbeError::NotANumber { got } = &long else {
        panic!("{long}");
    };
    assert_eq!(got.chars().count(), 201, "200 characters and an ellipsis");
    let nan = error(&command("echo NaN", None), &settings()).await;
    assert_eq!(nan.to_string(), "the value is NaN, not a finite number");
}

#[tokio::test]
async fn a_failing_command_gives_its_exit_code_and_first_line_of_stderr() {
    let script = "echo 12; echo; echo '  journalctl: no such unit' >&2; echo more >&2; exit 3";
    let failure = error(&command(script, None), &settings()).await;
    assert_eq!(
        failure.to_string(),
        "the command failed with exit code 3: journalctl: no such unit"
    );
    let quiet = error(&command("exit 1", None), &settings()).await;
    assert_eq!(
        quiet.to_string(),
        "the command failed with exit code 1 (nothing on stderr)"
    );
    let killed = error(&command("kill -9 $$", None), &settings()).await;
    assert!(killed.to_string().contains("signal 9"), "{killed}");
}

#[tokio::test]
async fn a_slow_command_times_out() {
    let settings = Settings {
        timeout: Duration::from_millis(300),
        ..settings()
    };
    let started = Instant::now();
    let failure = error(&command("sleep 30; echo 1", None), &settings).await;
    assert!(matches!(failure, ProbeError::TimedOut { .. }), "{failure}");
    assert_eq!(failure.to_string(), "no answer within 300ms");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_process_left_running_does_not_hold_the_reading() {
    // The background `sleep` keeps stdout open; it is killed when the shell exits.
    let started = Instant::now();
    let script = "sleep 30 & echo 5";
    assert_eq!(value(&command(script, None), &settings()).await, 5.0);
    assert!(started.elapsed() < Duration::from_secs(10));
}

// ---------------------------------------------------------------- the canned server

/// A canned answer: status, extra headers, body.
type Canned = (u16, Vec<(&'static str, String)>, String);

/// Serves `routes` (by path, query ignored) on 127.0.0.1, one thread per
/// connection; `/hang` reads and never answers. Every request target is sent on
/// the returned channel, so a test can check what was asked.
fn serve(routes: Vec<(&'static str, Canned)>) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let routes: HashMap<&'static str, Canned> = routes.into_iter().collect();
    let (sent, asked) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let routes = routes.clone();
            let sent = sent.clone();
            std::thread::spawn(move || answer(stream, &routes, &sent));
        }
    });
    (url, asked)
}

fn answer(mut stream: TcpStream, routes: &HashMap<&str, Canned>, sent: &mpsc::Sender<String>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let target = head.split(' ').nth(1).unwrap_or("").to_string();
    let _ = sent.send(target.clone());
    let path = target.split('?').next().unwrap_or("");
    if path == "/hang" {
        // Until the client gives up and closes.
        let _ = stream.read_to_end(&mut Vec::new());
        return;
    }
    let (status, headers, body) =
        routes
            .get(path)
            .cloned()
            .unwrap_or((404, Vec::new(), "no such route".to_string()));
    let mut response = format!(
        "HTTP/1.1 {status} Canned\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(&body);
    let _ = stream.write_all(response.as_bytes());
}

fn ok(body: &str) -> Canned {
    (200, Vec::new(), body.to_string())
}

/// `application/x-www-form-urlencoded` decoding, as Prometheus (Go's `url.ParseQuery`)
/// reads a query string.
fn form_decode(text: &str) -> String {
    let mut bytes = Vec::new();
    let mut rest = text.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        match first {
            b'+' => {
                bytes.push(b' ');
                rest = tail;
            }
            b'%' => {
                let hex = std::str::from_utf8(&tail[..2]).unwrap();
                bytes.push(u8::from_str_radix(hex, 16).unwrap());
                rest = &tail[2..];
            }
            other => {
                bytes.push(other);
                rest = tail;
            }
        }
    }
    String::from_utf8(bytes).unwrap()
}

// ---------------------------------------------------------------- http

#[tokio::test]
async fn an_http_body_is_the_number_or_json_with_a_path() {
    let (url, _) = serve(vec![
        ("/number", ok("42\n")),
        (
            "/checks/order",
            ok(r#"{"latency_p95_seconds": 0.25, "name": "order"}"#),
        ),
        (
            "/moved",
            (
                302,
                vec![("Location", "/number".to_string())],
                String::new(),
            ),
        ),
    ]);
    let reading = read(&http_probe(&format!("{url}/number"), None), &settings())
        .await
        .unwrap();
    assert_eq!((reading.value, reading.detail.as_str()), (42.0, "42"));
    let order = http_probe(
        &format!("{url}/checks/order"),
        Some("$.latency_p95_seconds"),
    );
    assert_eq!(value(&order, &settings()).await, 0.25);
    let name = http_probe(&format!("{url}/checks/order"), Some("$.name"));
    assert_eq!(
        error(&name, &settings()).await.to_string(),
        r#"the JSON path "$.name" matched ""order"", not a number"#
    );
    assert_eq!(
        value(&http_probe(&format!("{url}/moved"), None), &settings()).await,
        42.0
    );
}

#[tokio::test]
async fn an_http_error_status_is_named() {
    let (url, _) = serve(vec![("/broken", (500, Vec::new(), "oops".to_string()))]);
    let failure = error(&http_probe(&format!("{url}/broken"), None), &settings()).await;
    assert_eq!(
        failure.to_string(),
        format!("GET {url}/broken answered HTTP 500 Internal Server Error")
    );
    let missing = error(&http_probe(&format!("{url}/nowhere"), None), &settings()).await;
    assert!(
        missing.to_string().ends_with("answered HTTP 404 Not Found"),
        "{missing}"
    );
}

#[tokio::test]
async fn a_redirect_loop_stops() {
    let (url, _) = serve(vec![(
        "/loop",
        (302, vec![("Location", "/loop".to_string())], String::new()),
    )]);
    let failure = error(&http_probe(&format!("{url}/loop"), None), &settings()).await;
    assert_eq!(
        failure.to_string(),
        format!("GET {url}/loop failed: more than 5 redirects")
    );
}

#[tokio::test]
async fn an_http_server_that_does_not_answer_times_out() {
    let (url, _) = serve(Vec::new());
    let settings = Settings {
        timeout: Duration::from_millis(300),
        ..settings()
    };
    let failure = error(&http_probe(&format!("{url}/hang"), None), &settings).await;
    assert!(matches!(failure, ProbeError::TimedOut { .. }), "{failure}");
}

#[tokio::test]
async fn a_refused_connection_is_an_error_that_shows_no_password() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://probe:s3cret@127.0.0.1:{port}/number");
    let failure = error(&http_probe(&url, None), &settings()).await;
    let message = failure.to_string();
    assert!(!message.contains("s3cret"), "{message}");
    assert!(
        message.contains(&format!("127.0.0.1:{port}/number")),
        "{message}"
    );
}

#[test]
fn urls_are_shown_without_userinfo() {
    assert_eq!(
        shown_url("https://user:pw@host:9090/a@b?c=@d"),
        "https://host:9090/a@b?c=@d"
    );
    assert_eq!(shown_url("http://host/x"), "http://host/x");
    assert_eq!(shown_url("not a url"), "not a url");
}

// ---------------------------------------------------------------- prometheus

fn prometheus_routes() -> Vec<(&'static str, Canned)> {
    let vector = |samples: &str| {
        ok(&format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{samples}]}}}}"#
        ))
    };
    let sample = |job: &str, value: &str| {
        format!(
            r#"{{"metric":{{"__name__":"up","job":"{job}"}},"value":[1700000000.5,"{value}"]}}"#
        )
    };
    vec![
        ("/one/api/v1/query", vector(&sample("api", "0.993"))),
        (
            "/sum/api/v1/query",
            vector(r#"{"metric":{},"value":[1700000000,"12"]}"#),
        ),
        (
            "/three/api/v1/query",
            vector(
                &["a", "b", "c"]
                    .map(|job| sample(job, "1"))
                    .join(","),
            ),
        ),
        ("/none/api/v1/query", vector("")),
        ("/nan/api/v1/query", vector(&sample("api", "NaN"))),
        ("/inf/api/v1/query", vector(&sample("api", "+Inf"))),
        (
            "/scalar/api/v1/query",
            ok(r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"3.5"]}}"#),
        ),
        (
            "/matrix/api/v1/query",
            ok(r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2,"2"]]}]}}"#),
        ),
        (
            "/string/api/v1/query",
            ok(r#"{"status":"success","data":{"resultType":"string","result":[1,"hello"]}}"#),
        ),
        (
            "/bad/api/v1/query",
            (
                400,
                Vec::new(),
                r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}"#
                    .to_string(),
            ),
        ),
        ("/html/api/v1/query", (502, Vec::new(), "<html>Bad Gateway</html>".to_string())),
    ]
}

#[tokio::test]
async fn prometheus_gives_the_one_series_or_scalar_and_its_labels() {
    let (url, _) = serve(prometheus_routes());
    let query = prometheus_probe("up");
    let one = read(&query, &with_prometheus(format!("{url}/one")))
        .await
        .unwrap();
    assert_eq!(one.value, 0.993);
    assert_eq!(one.detail, r#"up{job="api"}"#);
    // A trailing slash on the base URL is fine.
    let sum = read(&query, &with_prometheus(format!("{url}/sum/")))
        .await
        .unwrap();
    assert_eq!((sum.value, sum.detail.as_str()), (12.0, "{}"));
    let scalar = read(&query, &with_prometheus(format!("{url}/scalar")))
        .await
        .unwrap();
    assert_eq!((scalar.value, scalar.detail.as_str()), (3.5, "scalar"));
}

#[tokio::test]
async fn prometheus_answers_that_are_not_one_number_are_errors_that_say_why() {
    let (url, _) = serve(prometheus_routes());
    let query = prometheus_probe("up");
    let at = |prefix: &str| with_prometheus(format!("{url}/{prefix}"));
    assert_eq!(
        error(&query, &at("three")).await.to_string(),
        "the query returned a vector of 3 series, not one number: \
         reduce it with `sum(...)`, `max(...)` or similar"
    );
    assert!(matches!(
        error(&query, &at("none")).await,
        ProbeError::PrometheusNoSeries
    ));
    let matrix = error(&query, &at("matrix")).await;
    assert!(
        matrix
            .to_string()
            .starts_with("the query returned a matrix, not one number"),
        "{matrix}"
    );
    assert!(matches!(
        error(&query, &at("string")).await,
        ProbeError::PrometheusResultType { kind } if kind == "string"
    ));
    assert_eq!(
        error(&query, &at("nan")).await.to_string(),
        "the value is NaN, not a finite number"
    );
    assert!(matches!(
        error(&query, &at("inf")).await,
        ProbeError::NotFinite { value } if value == f64::INFINITY
    ));
    assert_eq!(
        error(&query, &at("bad")).await.to_string(),
        "Prometheus answered an error (bad_data): 1:5: parse error: unexpected end of input"
    );
    assert!(error(&query, &at("html"))
        .await
        .to_string()
        .ends_with("answered HTTP 502 Bad Gateway"));
    assert!(matches!(
        error(&query, &settings()).await,
        ProbeError::NoPrometheusUrl
    ));
}

#[tokio::test]
async fn the_prometheus_query_is_url_encoded() {
    let (url, asked) = serve(prometheus_routes());
    let promql =
        r#"sum(rate(payment_transactions_total{result="ok", zone=~"a|b"}[5m])) / 2 + 1 & #é"#;
    value(
        &prometheus_probe(promql),
        &with_prometheus(format!("{url}/one")),
    )
    .await;
    let target = asked.recv().unwrap();
    let query = target
        .strip_prefix("/one/api/v1/query?query=")
        .unwrap_or_else(|| panic!("asked {target}"));
    assert!(
        query
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"%-._~()*!".contains(&byte)),
        "only unreserved characters and escapes: {query}"
    );
    assert!(query.contains("%2B") && query.contains("%26") && query.contains("%23"));
    assert_eq!(form_decode(query), promql);
}
