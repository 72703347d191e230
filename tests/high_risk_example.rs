//! The shipped high-risk example (runbooks/cloud-host-upgrade-high.rbk), run as it is
//! written, end to end, over local demo hosts (tests/demo-hosts: this machine standing
//! in for the payment fleet, its tools replaced by stand-ins that keep each host's state,
//! inside a private mount namespace), with a real Prometheus scraping simulated payment
//! traffic, and a real webhook receiver standing in for chat and the status page.
//!
//! People answer from other terminals as they would: a comms member confirms the notice
//! to users, a commander and a business member approve the go, the commander cuts the
//! hour between waves short. During wave 2 the transaction success rate drops: the
//! business watch sees it at its next reading (it reads every minute, so this test takes
//! a minute or more), the functional policy pauses the rollout so wave 3 never starts,
//! and wave 2's hosts are rolled back to the kernel they ran, an executor confirming each
//! host came back. Comms are told, and every objective is logged as met.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::prometheus::{Exporter, Prometheus};
use common::session::{objectives, of_kind, Session};
use common::webhook::Webhook;
use serde_json::Value;

const PREVIOUS_KERNEL: &str = "5.14.0-427.el9";
/// The example's `kernel` param.
const NEW_KERNEL: &str = "5.14.0-503.el9";
const CLOUD_TOKEN: &str = "cloud-token-3f9a61c2";
const CHAT_TOKEN: &str = "chat-hook-b72e04d9";
const STATUS_TOKEN: &str = "status-hook-55c1aa07";
/// The example's `tx_success` probe, to see what the watch will see.
const TX_SUCCESS: &str = r#"sum(rate(payment_transactions_total{result="ok"}[5m])) / sum(rate(payment_transactions_total[5m]))"#;
/// The watch reads every minute: the breach is seen within one reading and a margin.
const BREACH_SEEN_WITHIN: Duration = Duration::from_secs(150);

#[test]
fn a_breach_in_wave_2_of_the_high_risk_example_holds_wave_3_and_rolls_wave_2_back() {
    let prometheus = Prometheus::start();
    let traffic = Traffic::start(prometheus.exporter().clone());
    prometheus.exporter().serve_json(
        "/api/v1/checks/order-journey",
        r#"{"latency_p95_seconds": 0.8}"#,
    );
    prometheus.wait_for(TX_SUCCESS, |samples| {
        samples.len() == 1 && samples[0].value == 1.0
    });
    let receiver = Webhook::start();

    let session = Session::new();
    let demo = session.path("demo");
    fs::create_dir_all(demo.join("hold")).expect("demo hosts folder");
    let example = repository().join("runbooks/cloud-host-upgrade-high.rbk");
    let enter = repository().join("tests/demo-hosts/enter");
    let synthetics = format!("synthetics=http://{}", prometheus.exporter().address());
    // The engine prints a line per event: into files, so a full pipe never stalls it.
    let stdout = fs::File::create(session.path("engine.out")).expect("engine.out");
    let stderr = fs::File::create(session.path("engine.err")).expect("engine.err");
    let mut engine = session
        .command_through(
            &[enter.as_os_str()],
            &[
                "run",
                example.to_str().expect("a UTF-8 path"),
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
        .env("DEMO_HOSTS", &demo)
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
        .expect("the engine starts");
    let run = session.wait_for_run();
    let waiting_for = |node: &str| {
        wait_for(
            &session,
            &run,
            &format!("the run to wait on {node}"),
            |events| {
                of_kind(events, "waiting")
                    .iter()
                    .any(|event| event["payload"]["node"] == node)
            },
        )
    };

    // Before the window: comms publish the notice to users.
    waiting_for("announce_window");
    session
        .runbook(&[
            "confirm",
            &run,
            "announce_window",
            "--as",
            "hannah",
            "--set",
            "notice_url=https://status.example.com/notices/42",
        ])
        .expect(0, "hannah confirms the notice is out");

    // Go / no-go: the metrics hold; a commander and a business member approve, neither of
    // them the one who started the run.
    waiting_for("go");
    for (person, why) in [("alice", "backups verified"), ("fang", "business healthy")] {
        session
            .runbook(&["approve", &run, "go", "--as", person, "--reason", why])
            .expect(0, &format!("{person} approves the go"));
    }

    // Wave 1 done; the hour's pause is cut short by a commander. Wave 2's hosts will
    // wait at the load balancer's health check until the breach has been seen.
    wait_for(&session, &run, "the pause after wave 1", |events| {
        !of_kind(events, "wave_pause").is_empty()
    });
    fs::write(demo.join("hold/lbctl-undrain"), "").expect("hold the health checks");
    session
        .runbook(&[
            "skip-pause",
            &run,
            "--as",
            "alice",
            "--reason",
            "canary healthy",
        ])
        .expect(0, "the commander skips the pause");
    let calls = demo.join("calls.log");
    wait_for(&session, &run, "wave 2's hosts to be upgraded", |_| {
        fs::read_to_string(&calls).is_ok_and(|log| log.contains(" lbctl undrain "))
    });

    // Transactions start failing while wave 2 is under way.
    traffic.degrade();
    prometheus.wait_for(TX_SUCCESS, |samples| {
        samples.len() == 1 && samples[0].value < 0.999
    });
    wait_for_within(
        &session,
        &run,
        "the watch to see the breach",
        BREACH_SEEN_WITHIN,
        |events| !of_kind(events, "failure").is_empty(),
    );
    fs::remove_file(demo.join("hold/lbctl-undrain")).expect("release the health checks");

    // The rollback asks an executor to confirm each host came back.
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = engine.0.try_wait().expect("poll the engine") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the engine did not end in time:\n{}",
            session.read("engine.out")
        );
        answer_confirmations(&session, &run);
        thread::sleep(Duration::from_millis(100));
    };
    let shown = format!(
        "{}\n--- stderr\n{}",
        session.read("engine.out"),
        session.read("engine.err")
    );
    assert_eq!(status.code(), Some(3), "paused by the policy:\n{shown}");
    let events = session.events(&run);

    // The breach: read from Prometheus during wave 2, a functional failure of the watch.
    let failures = of_kind(&events, "failure");
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["payload"]["node"], "business_impact");
    assert_eq!(failures[0]["payload"]["class"], "functional");
    let breach = of_kind(&events, "evaluated")
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

    // Wave 3 never started; wave 2 was under way when the breach was seen.
    let waves: Vec<&Value> = of_kind(&events, "wave_started");
    let indexes: Vec<u64> = waves
        .iter()
        .filter_map(|wave| wave["payload"]["index"].as_u64())
        .collect();
    assert_eq!(indexes, [0, 1], "wave 3 never starts:\n{shown}");
    let hosts = |index: usize| -> Vec<String> {
        waves[index]["payload"]["hosts"]
            .as_array()
            .expect("hosts")
            .iter()
            .map(|host| host.as_str().expect("a host").to_string())
            .collect()
    };
    let (first, second) = (hosts(0), hosts(1));
    assert!(
        of_kind(&events, "wave_finished")
            .iter()
            .all(|wave| wave["payload"]["index"] != 1),
        "wave 2 had not finished when the breach was seen"
    );

    // Wave 2's hosts that changed are rolled back, and only they: back on their kernel
    // and in the pool. The canary keeps the new kernel; the rest were never touched.
    let rollback = of_kind(&events, "rollback_started");
    assert_eq!(rollback.len(), 1, "{rollback:?}");
    let undone: Vec<&str> = rollback[0]["payload"]["units"]
        .as_array()
        .expect("units")
        .iter()
        .map(|unit| unit.as_str().expect("a unit"))
        .collect();
    let log = fs::read_to_string(&calls).expect("the call log");
    let touched: Vec<&String> = second
        .iter()
        .filter(|host| log.contains(&format!("\n{host} lbctl drain ")))
        .collect();
    assert!(!touched.is_empty(), "wave 2 had begun");
    for host in &touched {
        assert!(
            undone.contains(&format!("install@{host}").as_str()),
            "{host}'s upgrade is undone: {undone:?}"
        );
        assert_eq!(host_state(&demo, host, "kernel"), PREVIOUS_KERNEL, "{host}");
        assert_eq!(host_state(&demo, host, "pool"), "in", "{host}");
        assert_eq!(host_state(&demo, host, "jobs"), "running", "{host}");
    }
    assert!(
        undone.iter().all(|unit| second
            .iter()
            .any(|host| unit.ends_with(&format!("@{host}")))),
        "nothing but wave 2 is rolled back: {undone:?}"
    );
    assert_eq!(first.len(), 1);
    assert_eq!(host_state(&demo, &first[0], "kernel"), NEW_KERNEL);
    let finished = of_kind(&events, "rollback_finished");
    assert_eq!(finished[0]["payload"]["succeeded"], true, "{shown}");
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
    let objectives = objectives(&events);
    let names: Vec<&str> = objectives.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["alert", "outage", "restored", "rollback_start"]);
    assert!(
        objectives.iter().all(|(_, met)| *met),
        "{objectives:?}\n{shown}"
    );
    let status = session.runbook(&["status", &run]);
    assert!(status.stdout.contains("met"), "{}", status.stdout);

    // No secret anywhere it could be read, and the log is intact.
    let text = session.log(&run);
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
        .runbook(&["verify", &run])
        .expect(0, "the log verifies");
    drop(traffic);
}

/// Confirms, as an executor, every manual step the run waits on and nobody confirmed.
fn answer_confirmations(session: &Session, run: &str) {
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
fn is_backup(line: &str) -> bool {
    let tool = line.split(' ').nth(1).unwrap_or_default();
    matches!(
        tool,
        "cloudctl" | "dbbackup" | "tar" | "rpm" | "uname" | "rclone"
    )
}

fn host_state(demo: &Path, host: &str, what: &str) -> String {
    fs::read_to_string(demo.join("hosts").join(host).join(what))
        .unwrap_or_else(|error| panic!("{host}/{what}: {error}"))
        .trim()
        .to_string()
}

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn wait_for(session: &Session, run: &str, what: &str, ready: impl Fn(&[Value]) -> bool) {
    wait_for_within(session, run, what, Duration::from_secs(60), ready);
}

/// Waits until the run's events satisfy `ready`; fails with the last events otherwise.
fn wait_for_within(
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

/// Per second, healthy and degraded: how the counters of the payment service grow.
#[rustfmt::skip]
const COUNTERS: [(&str, f64, f64); 10] = [
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
const GAUGES: [(&str, f64); 5] = [
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
const IDLE: &str = r#"node_cpu_seconds_total{cluster="payment",mode="idle"}"#;

/// Payment traffic as the exporter shows it, every 200 ms, until `degrade` makes a
/// share of the transactions fail.
struct Traffic {
    degraded: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Traffic {
    const TICK: Duration = Duration::from_millis(200);

    fn start(exporter: Exporter) -> Self {
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

    fn degrade(&self) {
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
struct Engine(Child);

impl Drop for Engine {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
