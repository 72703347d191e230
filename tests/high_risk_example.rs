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
use std::thread;
use std::time::{Duration, Instant};

use common::high_risk::{
    answer_confirmations, assert_told_met_and_sealed, host_state, is_backup, repository, Engine,
    Traffic, BREACH_SEEN_WITHIN, CHAT_TOKEN, CLOUD_TOKEN, NEW_KERNEL, PREVIOUS_KERNEL,
    STATUS_TOKEN, TX_SUCCESS,
};
use common::prometheus::Prometheus;
use common::session::{of_kind, Session};
use common::webhook::Webhook;
use serde_json::Value;

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

    assert_told_met_and_sealed(&session, &run, &events, &receiver, &shown);
    drop(traffic);
}

/// Confirms, as an executor, every manual step the run waits on and nobody confirmed.
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
