//! What the two end-to-end tests of the shipped high-risk example share
//! (tests/high_risk_example.rs over local demo hosts, tests/high_risk_ssh.rs over SSH):
//! the example's values, the simulated payment traffic Prometheus scrapes, the people's
//! confirmations, and reading the demo hosts' state.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::prometheus::Exporter;
use serde_json::Value;

use super::session::{objectives, of_kind, Session};
use super::webhook::Webhook;

pub const PREVIOUS_KERNEL: &str = "5.14.0-427.el9";
/// The example's `kernel` param.
pub const NEW_KERNEL: &str = "5.14.0-503.el9";
pub const CLOUD_TOKEN: &str = "cloud-token-3f9a61c2";
pub const CHAT_TOKEN: &str = "chat-hook-b72e04d9";
pub const STATUS_TOKEN: &str = "status-hook-55c1aa07";
/// The example's `tx_success` probe, to see what the watch will see.
pub const TX_SUCCESS: &str = r#"sum(rate(payment_transactions_total{result="ok"}[5m])) / sum(rate(payment_transactions_total[5m]))"#;
/// The watch reads every minute: the breach is seen within one reading and a margin.
pub const BREACH_SEEN_WITHIN: Duration = Duration::from_secs(150);

pub fn answer_confirmations(session: &Session, run: &str) {
    let events = session.events(run);
    let confirmed: Vec<&Value> = of_kind(&events, "confirmed")
        .iter()
        .map(|event| &event["payload"]["unit"])
        .collect();
    for waiting in of_kind(&events, "waiting") {
        let payload = &waiting["payload"];
        if payload["need"] != "confirmation" || confirmed.contains(&&payload["unit"]) {
            continue;
        }
        let mut args = vec![
            "confirm",
            run,
            payload["node"].as_str().expect("a node"),
            "--as",
            "carlos",
        ];
        if let Some(host) = payload["host"].as_str() {
            args.extend(["--host", host]);
        }
        // Refused when it was answered in the meantime: the next look sees that.
        session.runbook(&args);
    }
}

/// Backups run on every host before the waves.
pub fn is_backup(line: &str) -> bool {
    let tool = line.split(' ').nth(1).unwrap_or_default();
    matches!(
        tool,
        "cloudctl" | "dbbackup" | "tar" | "rpm" | "uname" | "rclone"
    )
}

pub fn host_state(demo: &Path, host: &str, what: &str) -> String {
    fs::read_to_string(demo.join("hosts").join(host).join(what))
        .unwrap_or_else(|error| panic!("{host}/{what}: {error}"))
        .trim()
        .to_string()
}

pub fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Per second, healthy and degraded: how the counters of the payment service grow.
#[rustfmt::skip]
pub const COUNTERS: [(&str, f64, f64); 10] = [
    (r#"payment_transactions_total{result="ok"}"#, 100.0, 100.0),
    (r#"payment_transactions_total{result="failed"}"#, 0.0, 60.0),
    (r#"http_requests_total{service="payment-api",code="200"}"#, 100.0, 100.0),
    (r#"http_requests_total{service="payment-api",code="500"}"#, 0.0, 0.0),
    (r#"http_request_duration_seconds_bucket{service="payment-api",le="0.1"}"#, 50.0, 50.0),
    (r#"http_request_duration_seconds_bucket{service="payment-api",le="0.25"}"#, 99.0, 99.0),
    (r#"http_request_duration_seconds_bucket{service="payment-api",le="+Inf"}"#, 100.0, 100.0),
    (r#"mysql_global_status_commands_total{cluster="payment",command="commit"}"#, 50.0, 50.0),
    (r#"node_disk_read_time_seconds_total{cluster="payment"}"#, 0.002, 0.002),
    (r#"node_disk_reads_completed_total{cluster="payment"}"#, 1.0, 1.0),
];

/// Values that hold still: database connections, memory, network errors.
#[rustfmt::skip]
pub const GAUGES: [(&str, f64); 5] = [
    (r#"mysql_global_status_threads_connected{cluster="payment"}"#, 40.0),
    (r#"node_memory_MemAvailable_bytes{cluster="payment"}"#, 6e9),
    (r#"node_memory_MemTotal_bytes{cluster="payment"}"#, 8e9),
    (r#"node_network_receive_errs_total{cluster="payment"}"#, 0.0),
    (r#"node_network_transmit_errs_total{cluster="payment"}"#, 0.0),
];

/// Host CPU: `rate(x[5m])` divides by the whole five minutes however young the series
/// is, so a host 90% idle shows its 270 idle seconds of the window at once (0 at the
/// first scrape, then 270) rather than 0.9 more each second, which would read as a host
/// nearly 100% busy for the test's first minutes.
pub const IDLE: &str = r#"node_cpu_seconds_total{cluster="payment",mode="idle"}"#;

/// Payment traffic as the exporter shows it, every 200 ms, until `degrade` makes a
/// share of the transactions fail.
pub struct Traffic {
    degraded: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Traffic {
    const TICK: Duration = Duration::from_millis(200);

    pub fn start(exporter: Exporter) -> Self {
        let degraded = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        for (series, value) in GAUGES {
            exporter.set(series, value);
        }
        exporter.set(IDLE, 0.0);
        let since = Instant::now();
        let thread = {
            let (degraded, stop) = (Arc::clone(&degraded), Arc::clone(&stop));
            thread::spawn(move || {
                let mut totals = [0.0; COUNTERS.len()];
                let seconds = Self::TICK.as_secs_f64();
                while !stop.load(Ordering::SeqCst) {
                    let bad = degraded.load(Ordering::SeqCst);
                    for ((series, healthy, degraded), total) in COUNTERS.iter().zip(&mut totals) {
                        *total += if bad { degraded } else { healthy } * seconds;
                        exporter.set(series, *total);
                    }
                    if since.elapsed() > Duration::from_millis(1500) {
                        exporter.set(IDLE, 0.9 * 300.0);
                    }
                    thread::sleep(Self::TICK);
                }
            })
        };
        Self {
            degraded,
            stop,
            thread: Some(thread),
        }
    }

    pub fn degrade(&self) {
        self.degraded.store(true, Ordering::SeqCst);
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The engine, killed if the test fails before it ends: it must not outlive the test.
pub struct Engine(pub Child);

impl Drop for Engine {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The end of both runs: people were told, every objective met, no secret shown, the
/// log intact.
pub fn assert_told_met_and_sealed(
    session: &Session,
    run: &str,
    events: &[Value],
    receiver: &Webhook,
    shown: &str,
) {
    // People were told: comms of the failure, executors of the pause and rollback, all
    // through the chat webhook.
    let to_chat: Vec<Value> = receiver
        .accepted()
        .iter()
        .filter(|delivery| delivery.path.contains(CHAT_TOKEN))
        .map(|delivery| serde_json::from_str(&delivery.body).expect("a JSON message"))
        .collect();
    let told = |audience: &str, words: &str| {
        to_chat.iter().any(|message| {
            message["runbook"]["audience"] == audience
                && message["text"]
                    .as_str()
                    .is_some_and(|text| text.contains(words))
        })
    };
    assert!(
        told("comms", "functional failure"),
        "comms are told: {to_chat:?}"
    );
    assert!(told("executor", "Rollout paused"), "{to_chat:?}");
    assert!(
        receiver
            .accepted()
            .iter()
            .any(|delivery| delivery.path.contains(STATUS_TOKEN)),
        "users were told the window started"
    );

    // Every objective is logged, and met.
    let objectives = objectives(events);
    let names: Vec<&str> = objectives.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["alert", "outage", "restored", "rollback_start"]);
    assert!(
        objectives.iter().all(|(_, met)| *met),
        "{objectives:?}\n{shown}"
    );
    let status = session.runbook(&["status", run]);
    assert!(status.stdout.contains("met"), "{}", status.stdout);

    // No secret anywhere it could be read, and the log is intact.
    let text = session.log(run);
    for secret in [
        CLOUD_TOKEN,
        CHAT_TOKEN,
        STATUS_TOKEN,
        "demo-backup-password",
    ] {
        assert!(!text.contains(secret), "{secret} in the log");
        assert!(!shown.contains(secret), "{secret} in the output");
    }
    session
        .runbook(&["verify", run])
        .expect(0, "the log verifies");
}
