//! The fixtures for end-to-end tests against real servers work: a real Prometheus
//! scraping the test's exporter, and the webhook receiver.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::prometheus::Prometheus;
use common::webhook::Webhook;

#[test]
fn prometheus_serves_the_gauges_the_test_sets() {
    let started = Instant::now();
    let prometheus = Prometheus::start();
    eprintln!(
        "Prometheus ready and scraping at {} after {:?}",
        prometheus.url(),
        started.elapsed()
    );
    assert_eq!(
        prometheus.get("/-/ready").expect("reachable").0,
        200,
        "ready"
    );

    prometheus.set("order_latency_seconds", 4.2);
    let sample = prometheus.wait_for_value("order_latency_seconds", 4.2);
    assert_eq!(sample.label("job"), Some("exporter"));
    assert_eq!(sample.label("__name__"), Some("order_latency_seconds"));

    let changed = Instant::now();
    prometheus.set("order_latency_seconds", 0.25);
    prometheus.wait_for_value("order_latency_seconds", 0.25);
    eprintln!("a changed value was seen after {:?}", changed.elapsed());
    // Once scraped, an instant query returns it straight away.
    let now = prometheus.query("order_latency_seconds");
    assert_eq!(now.len(), 1);
    assert_eq!(now[0].value, 0.25);

    prometheus.set(r#"queue_depth{queue="orders"}"#, 3.0);
    prometheus.set(r#"queue_depth{queue="refunds"}"#, 7.0);
    let both = prometheus.wait_for("queue_depth", |samples| samples.len() == 2);
    let orders = both
        .iter()
        .find(|sample| sample.label("queue") == Some("orders"))
        .expect("the orders series");
    assert_eq!(orders.value, 3.0);
    let total = prometheus.wait_for_value("sum(queue_depth)", 10.0);
    assert!(total.labels.is_empty(), "{total:?}");
    assert_eq!(prometheus.query("scalar(sum(queue_depth))")[0].value, 10.0);

    // A series the exporter stops serving goes stale.
    prometheus.remove(r#"queue_depth{queue="refunds"}"#);
    prometheus.wait_for("queue_depth", |samples| samples.len() == 1);
}

#[test]
#[should_panic(expected = "did not satisfy the predicate")]
fn prometheus_wait_for_fails_loudly_when_the_value_never_comes() {
    let prometheus = Prometheus::start();
    prometheus.set("never_this", 1.0);
    prometheus.wait_for_within("never_this", Duration::from_secs(2), |samples| {
        samples.iter().any(|sample| sample.value == 2.0)
    });
}

#[test]
#[should_panic(expected = "query \"sum(\" failed: rejected")]
fn prometheus_rejected_promql_fails_at_once() {
    let prometheus = Prometheus::start();
    prometheus.wait_for("sum(", |_| true);
}

/// Sends raw bytes on one connection and reads `responses` responses (each with a
/// Content-Length) back; returns their status codes.
fn exchange(stream: &mut TcpStream, request: &str, responses: usize) -> Vec<u16> {
    stream.write_all(request.as_bytes()).expect("send");
    let mut statuses = Vec::new();
    let mut buffer = Vec::new();
    while statuses.len() < responses {
        let mut chunk = [0; 1024];
        let read = stream.read(&mut chunk).expect("receive");
        assert!(read > 0, "connection closed early: {buffer:?}");
        buffer.extend_from_slice(&chunk[..read]);
        while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("Content-Length: "))
                .map_or(0, |length| length.parse().expect("length"));
            if buffer.len() < end + 4 + length {
                break;
            }
            statuses.push(head[9..12].parse().expect("status"));
            buffer.drain(..end + 4 + length);
        }
    }
    statuses
}

fn post(url_address: std::net::SocketAddr, path: &str, body: &str) -> u16 {
    let mut stream = TcpStream::connect(url_address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {url_address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let statuses = exchange(&mut stream, &request, 1);
    // Connection: close is honoured.
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("the server closes");
    assert!(rest.is_empty(), "{rest:?}");
    statuses[0]
}

#[test]
fn the_webhook_records_posts() {
    let webhook = Webhook::start();
    assert!(webhook.url().starts_with("http://127.0.0.1:"));
    assert_eq!(
        post(webhook.address(), "/hooks/deploy", r#"{"text":"hello"}"#),
        200
    );
    let got = webhook.wait_for(1);
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].path, "/hooks/deploy");
    assert_eq!(got[0].body, r#"{"text":"hello"}"#);
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    assert_eq!(got[0].status, 200);

    // Keep-alive: two requests on one connection, the second chunked.
    let mut stream = TcpStream::connect(webhook.address()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let requests = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none\
                    POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
                    3\r\ntwo\r\n6;ext=1\r\n, four\r\n0\r\nX-Trailer: t\r\n\r\n";
    assert_eq!(exchange(&mut stream, requests, 2), [200, 200]);
    let got = webhook.wait_for(3);
    assert_eq!(got[1].path, "/a");
    assert_eq!(got[1].body, "one");
    assert_eq!(got[2].path, "/b");
    assert_eq!(got[2].body, "two, four");
}

#[test]
fn the_webhook_fails_the_first_requests_when_asked() {
    let webhook = Webhook::start();
    webhook.fail_next(2);
    let statuses: Vec<u16> = (1..=3)
        .map(|attempt| post(webhook.address(), "/retry", &format!("attempt {attempt}")))
        .collect();
    assert_eq!(statuses, [500, 500, 200]);
    let got = webhook.wait_for_accepted(1);
    assert_eq!(got.len(), 3);
    assert_eq!(
        got.iter().map(|d| d.status).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    assert_eq!(webhook.accepted().len(), 1);
    assert_eq!(webhook.accepted()[0].body, "attempt 3");

    webhook.fail_next_with(1, 503);
    assert_eq!(post(webhook.address(), "/retry", "again"), 503);
    assert_eq!(post(webhook.address(), "/retry", "again"), 200);
}

#[test]
#[should_panic(expected = "did not get 2 request(s)")]
fn the_webhook_wait_fails_loudly() {
    let webhook = Webhook::start();
    post(webhook.address(), "/only-one", "");
    webhook.wait_for_within(2, Duration::from_millis(300));
}
