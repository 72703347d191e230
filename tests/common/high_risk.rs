//! What the two end-to-end tests of the shipped high-risk example share
//! (tests/high_risk_example.rs over local demo hosts, tests/high_risk_ssh.rs over SSH):
//! the example's values, the simulated payment traffic Prometheus scrapes, the engine's
//! start, the people's answers, the breach, and the checks of what it leaves.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::prometheus::{Exporter, Prometheus};
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

/// Starts the engine on `runbook` (a path, or a name in the session's folder) through
/// the demo hosts' namespace, with the example's values, secrets and Prometheus.
pub fn start_engine(
    session: &Session,
    runbook: &str,
    demo: &Path,
    prometheus: &Prometheus,
    receiver: &Webhook,
) -> Engine {
    let enter = repository().join("tests/demo-hosts/enter");
    let synthetics = format!("synthetics=http://{}", prometheus.exporter().address());
    // The engine prints a line per event: into files, so a full pipe never stalls it.
    let stdout = fs::File::create(session.path("engine.out")).expect("engine.out");
    let stderr = fs::File::create(session.path("engine.err")).expect("engine.err");
    session
        .command_through(
            &[enter.as_os_str()],
            &[
                "run",
                runbook,
                "--as",
                "bao",
                "--wait",
                "--output",
                "plain",
                "--prometheus",
                &prometheus.url(),
                "-p",
                &synthetics,
            ],
        )
        .env("DEMO_HOSTS", demo)
        .env("DEMO_PREVIOUS_KERNEL", PREVIOUS_KERNEL)
        .env("CLOUD_API_TOKEN", CLOUD_TOKEN)
        .env(
            "PAYMENT_CHAT_WEBHOOK",
            format!("{}/hooks/{CHAT_TOKEN}", receiver.url()),
        )
        .env(
            "STATUS_PAGE_WEBHOOK",
            format!("{}/incidents/{STATUS_TOKEN}", receiver.url()),
        )
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .map(Engine)
        .expect("the engine starts")
}

/// Before the window comms publish the notice; at the go (waited for up to
/// `go_within`), a commander and a business member approve, neither of them the one
/// who started the run.
pub fn announce_and_go(session: &Session, run: &str, step_within: Duration, go_within: Duration) {
    waiting_for(session, run, "announce_window", step_within);
    session
        .runbook(&[
            "confirm",
            run,
            "announce_window",
            "--as",
            "hannah",
            "--set",
            "notice_url=https://status.example.com/notices/42",
        ])
        .expect(0, "hannah confirms the notice is out");
    waiting_for(session, run, "go", go_within);
    for (person, why) in [("alice", "backups verified"), ("fang", "business healthy")] {
        session
            .runbook(&["approve", run, "go", "--as", person, "--reason", why])
            .expect(0, &format!("{person} approves the go"));
    }
}

/// Once wave 1 is done (waited for up to `within`), holds wave 2's hosts at the load
/// balancer's health check until the breach has been seen, and has a commander cut
/// the hour's pause short.
pub fn hold_wave_2_and_skip_the_pause(session: &Session, run: &str, demo: &Path, within: Duration) {
    wait_for_within(session, run, "the pause after wave 1", within, |events| {
        !of_kind(events, "wave_pause").is_empty()
    });
    fs::write(demo.join("hold/lbctl-undrain"), "").expect("hold the health checks");
    session
        .runbook(&[
            "skip-pause",
            run,
            "--as",
            "alice",
            "--reason",
            "canary healthy",
        ])
        .expect(0, "the commander skips the pause");
}

/// Transactions start failing while wave 2 is under way; once the watch has seen it,
/// wave 2's hosts are let go.
pub fn breach_while_wave_2_waits(
    session: &Session,
    run: &str,
    demo: &Path,
    prometheus: &Prometheus,
    traffic: &Traffic,
) {
    traffic.degrade();
    prometheus.wait_for(TX_SUCCESS, |samples| {
        samples.len() == 1 && samples[0].value < 0.999
    });
    wait_for_within(
        session,
        run,
        "the watch to see the breach",
        BREACH_SEEN_WITHIN,
        |events| !of_kind(events, "failure").is_empty(),
    );
    fs::remove_file(demo.join("hold/lbctl-undrain")).expect("release the health checks");
}

/// Answers the rollback's confirmations until the engine ends, within `limit`; its
/// exit status, and what it printed (to show when a check fails).
pub fn end_answering_confirmations(
    session: &Session,
    run: &str,
    engine: &mut Engine,
    limit: Duration,
) -> (ExitStatus, String) {
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = engine.0.try_wait().expect("poll the engine") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the engine did not end in time:\n{}",
            session.read("engine.out")
        );
        answer_confirmations(session, run);
        thread::sleep(Duration::from_millis(100));
    };
    let shown = format!(
        "{}\n--- stderr\n{}",
        session.read("engine.out"),
        session.read("engine.err")
    );
    (status, shown)
}

/// The waves the breach split: wave 1's hosts, wave 2's, and those of wave 2 that
/// had begun to change.
pub struct WaveTwoUndone {
    pub first: Vec<String>,
    pub second: Vec<String>,
    pub touched: Vec<String>,
}

/// What the breach in wave 2 must leave, over any executor: one functional failure of
/// the watch, read from Prometheus; wave 3 never started and wave 2 unfinished; wave 2's
/// hosts that changed rolled back, and only they, onto their kernel and into the pool;
/// the canary still on the new kernel; no later wave's host changed. `log` is the demo
/// hosts' call log.
pub fn assert_wave_two_undone(
    events: &[Value],
    demo: &Path,
    log: &str,
    shown: &str,
) -> WaveTwoUndone {
    let failures = of_kind(events, "failure");
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["payload"]["node"], "business_impact");
    assert_eq!(failures[0]["payload"]["class"], "functional");
    let breach = of_kind(events, "evaluated")
        .into_iter()
        .find(|event| {
            event["payload"]["holds"] == false
                && event["payload"]["condition"]
                    .as_str()
                    .is_some_and(|condition| condition.starts_with("tx_success"))
        })
        .expect("the reading that breached is logged");
    let tx_success = breach["payload"]["values"]["tx_success"]
        .as_f64()
        .expect("the value it read");
    assert!(tx_success < 0.999, "{breach}");

    let indexes: Vec<u64> = of_kind(events, "wave_started")
        .iter()
        .filter_map(|wave| wave["payload"]["index"].as_u64())
        .collect();
    assert_eq!(indexes, [0, 1], "wave 3 never starts:\n{shown}");
    let (first, second) = (wave_hosts(events, 0), wave_hosts(events, 1));
    assert!(
        of_kind(events, "wave_finished")
            .iter()
            .all(|wave| wave["payload"]["index"] != 1),
        "wave 2 had not finished when the breach was seen"
    );

    let rollback = of_kind(events, "rollback_started");
    assert_eq!(rollback.len(), 1, "{rollback:?}");
    let undone: Vec<&str> = rollback[0]["payload"]["units"]
        .as_array()
        .expect("units")
        .iter()
        .map(|unit| unit.as_str().expect("a unit"))
        .collect();
    let finished = of_kind(events, "rollback_finished");
    assert_eq!(
        finished[0]["payload"]["succeeded"],
        true,
        "{}\n{shown}",
        output_of(events, |unit| unit.starts_with("rollback:"))
    );
    let touched: Vec<String> = second
        .iter()
        .filter(|host| log.contains(&format!("\n{host} lbctl drain ")))
        .cloned()
        .collect();
    assert!(!touched.is_empty(), "wave 2 had begun");
    for host in &touched {
        assert!(
            undone.contains(&format!("install@{host}").as_str()),
            "{host}'s upgrade is undone: {undone:?}"
        );
        assert_eq!(host_state(demo, host, "kernel"), PREVIOUS_KERNEL, "{host}");
        assert_eq!(host_state(demo, host, "pool"), "in", "{host}");
        assert_eq!(host_state(demo, host, "jobs"), "running", "{host}");
    }
    assert!(
        undone.iter().all(|unit| second
            .iter()
            .any(|host| unit.ends_with(&format!("@{host}")))),
        "nothing but wave 2 is rolled back: {undone:?}"
    );
    assert_eq!(first.len(), 1);
    assert_eq!(host_state(demo, &first[0], "kernel"), NEW_KERNEL);
    let later: Vec<&str> = log
        .lines()
        .filter(|line| {
            let host = line.split(' ').next().unwrap_or_default();
            host != "-" && !first.iter().any(|h| h == host) && !second.iter().any(|h| h == host)
        })
        .filter(|line| !is_backup(line))
        .collect();
    assert!(
        later.is_empty(),
        "no later wave's host was changed: {later:?}"
    );
    WaveTwoUndone {
        first,
        second,
        touched,
    }
}

/// The hosts of wave `index` (from 0), once it has started.
pub fn wave_hosts(events: &[Value], index: u64) -> Vec<String> {
    of_kind(events, "wave_started")
        .iter()
        .filter(|wave| wave["payload"]["index"] == index)
        .flat_map(|wave| wave["payload"]["hosts"].as_array().expect("hosts"))
        .map(|host| host.as_str().expect("a host").to_string())
        .collect()
}

/// What the commands of the units `keep` picks printed, a line each.
pub fn output_of(events: &[Value], keep: impl Fn(&str) -> bool) -> String {
    of_kind(events, "output")
        .iter()
        .filter(|output| output["payload"]["unit"].as_str().is_some_and(&keep))
        .map(|output| {
            format!(
                "{}: {}\n",
                output["payload"]["unit"],
                output["payload"]["text"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// What the commands that failed printed, unit by unit.
pub fn failed_output(events: &[Value]) -> String {
    let failed: BTreeSet<&str> = of_kind(events, "command_finished")
        .iter()
        .filter(|finished| finished["payload"]["exit"] != serde_json::json!({"code": 0}))
        .filter_map(|finished| finished["payload"]["unit"].as_str())
        .collect();
    output_of(events, |unit| failed.contains(unit))
}

/// Waits until the run waits on `node`.
pub fn waiting_for(session: &Session, run: &str, node: &str, limit: Duration) {
    wait_for_within(
        session,
        run,
        &format!("the run to wait on {node}"),
        limit,
        |events| {
            of_kind(events, "waiting")
                .iter()
                .any(|event| event["payload"]["node"] == node)
        },
    );
}

/// Waits until the run's events satisfy `ready`; fails with the last events otherwise,
/// at once if the run stops first (with what its failed commands printed).
pub fn wait_for_within(
    session: &Session,
    run: &str,
    what: &str,
    limit: Duration,
    ready: impl Fn(&[Value]) -> bool,
) {
    let since = Instant::now();
    loop {
        let events = session.events(run);
        if ready(&events) {
            return;
        }
        let stopped = ["run_paused", "run_finished"]
            .iter()
            .any(|kind| !of_kind(&events, kind).is_empty());
        if stopped {
            panic!(
                "the run stopped before {what}: {:?}\n{}",
                of_kind(&events, "failure"),
                failed_output(&events)
            );
        }
        if since.elapsed() > limit {
            let last: Vec<String> = events
                .iter()
                .rev()
                .take(15)
                .map(|event| format!("{} {}", event["kind"], event["payload"]))
                .collect();
            panic!(
                "waited {limit:?} for {what}; the last events, newest first:\n{}",
                last.join("\n")
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Prometheus scraping healthy payment traffic (and serving the synthetic journey
/// check), and a webhook receiver for chat and the status page: where both runs start.
pub fn healthy_payment_service() -> (Prometheus, Traffic, Webhook) {
    let prometheus = Prometheus::start();
    let traffic = Traffic::start(prometheus.exporter().clone());
    prometheus.exporter().serve_json(
        "/api/v1/checks/order-journey",
        r#"{"latency_p95_seconds": 0.8}"#,
    );
    prometheus.wait_for(TX_SUCCESS, |samples| {
        samples.len() == 1 && samples[0].value == 1.0
    });
    (prometheus, traffic, Webhook::start())
}
