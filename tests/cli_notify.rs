//! Notifications through the binary, to a real loopback webhook receiver
//! (tests/common/webhook.rs) and a command channel: the run's start and end, each wave,
//! a failure, the rollback's start and end, a policy's own `notify`, a periodic status;
//! a delivery that fails is retried, logged, and never fails the run; no secret is sent.

mod common;

use common::session::{of_kind, Session};
use common::webhook::Webhook;
use serde_json::Value;

fn plan(url: &str) -> String {
    format!(
        r#"runbook "told" {{ title "Told" }}
audience comms "Everyone who needs to know"
role ops "Operators"
secret token from env "RUNBOOK_TEST_NOTIFY_TOKEN"
channel chat webhook "{url}"
channel pager command "cat >> paged.txt"
inventory fleet hosts ["h1", "h2"]
timer settle 1s
notify comms via chat on start, wave, rollback, finish "{{{{run.title}}}} {{{{run.id}}}} is {{{{run.status}}}}"
notify ops via pager on failure "PAGE: {{{{failure.summary}}}}"
notify comms via chat every 400ms
waves roll {{
  over fleet
  stages [1, 1]
  step act "Act" {{
    run "touch acted-{{{{host}}}} && test {{{{host}}}} != h2 || (echo token {{{{token}}}}; exit 1)"
    rollback "rm acted-{{{{host}}}}"
  }}
}}
on failure functional {{
  rollback wave
  notify comms "Rolled back {{{{failure.host}}}}"
  abort
}}
"#
    )
}

#[test]
fn people_are_told_through_every_channel_and_no_secret_is_sent() {
    let receiver = Webhook::start();
    let session = Session::new();
    session.file(
        "plan.rbk",
        &plan(&format!("{}/hooks/upgrade", receiver.url())),
    );
    let ran = session.runbook_with(
        &["run", "plan.rbk"],
        &[("RUNBOOK_TEST_NOTIFY_TOKEN", "s3cr3t-t0ken")],
    );
    ran.expect(1, "the second wave fails and is rolled back");
    let run = session.run_id();

    let bodies: Vec<Value> = receiver
        .received()
        .iter()
        .map(|delivery| {
            assert_eq!(delivery.method, "POST");
            assert_eq!(delivery.path, "/hooks/upgrade");
            assert_eq!(delivery.header("content-type"), Some("application/json"));
            serde_json::from_str(&delivery.body).expect("a JSON body")
        })
        .collect();
    let texts: Vec<&str> = bodies
        .iter()
        .filter_map(|body| body["text"].as_str())
        .collect();
    // Start, the first wave, the rollback's start and end: each the subscription's
    // own message; then the policy's `notify`, the end with its status, and the
    // periodic status (no message of its own: the default).
    let running = format!("Told {run} is running");
    assert_eq!(
        texts.iter().filter(|text| **text == running).count(),
        4,
        "{texts:#?}"
    );
    for expected in ["Rolled back h2", &format!("Told {run} is failed")] {
        assert!(texts.contains(&expected), "no `{expected}` in {texts:#?}");
    }
    assert!(
        texts
            .iter()
            .any(|text| text.starts_with("Told: running for ")),
        "{texts:#?}"
    );
    assert!(
        bodies
            .iter()
            .all(|body| body["runbook"]["run"] == run.as_str()),
        "each names the run: {bodies:#?}"
    );
    let paged = session.read("paged.txt");
    assert!(paged.starts_with("PAGE: command 1: exit code 1"), "{paged}");
    let everything = format!("{texts:?}{paged}{}", session.log(&run));
    assert!(!everything.contains("s3cr3t-t0ken"), "the secret was sent");

    let events = session.events(&run);
    let delivered: Vec<&Value> = events
        .iter()
        .filter(|event| event["kind"] == "delivered")
        .collect();
    assert!(
        delivered.len() >= 6,
        "each message's delivery is logged: {delivered:#?}"
    );
    assert!(delivered.iter().all(|event| event["payload"]["ok"] == true));
    session
        .runbook(&["verify", &run])
        .expect(0, "the log verifies");
}

/// A plan that tells `comms` when it starts and ends, through a webhook at `url`.
fn short(url: &str) -> String {
    format!(
        r#"runbook "told" {{ }}
audience comms "Everyone"
channel chat webhook "{url}/hooks/upgrade"
notify comms via chat on start, finish
step act "Act" {{
  run "true"
  irreversible "a test"
}}
"#
    )
}

fn deliveries(session: &Session, run: &str) -> Vec<Value> {
    session
        .events(run)
        .into_iter()
        .filter(|event| event["kind"] == "delivered")
        .collect()
}

#[test]
fn a_delivery_that_fails_is_retried_then_logged_and_the_run_goes_on() {
    let receiver = Webhook::start();
    // A 503 is worth another attempt.
    receiver.fail_next_with(1, 503);
    let session = Session::new();
    session.file("plan.rbk", &short(&receiver.url()));
    session
        .runbook(&["run", "plan.rbk"])
        .expect(0, "the run completes");
    let delivered = deliveries(&session, &session.run_id());
    // The start and the end go out close together: whichever reached the receiver
    // first met the 503 and was sent again.
    let mut attempts: Vec<u64> = delivered
        .iter()
        .map(|event| {
            assert_eq!(event["payload"]["ok"], true, "{event}");
            event["payload"]["attempts"].as_u64().unwrap_or_default()
        })
        .collect();
    attempts.sort_unstable();
    assert_eq!(attempts, [1, 2], "one was retried after the 503");
    assert_eq!(receiver.received()[0].status, 503);

    // A 400 says the request itself is wrong: not sent again, logged, and the run
    // goes on to its end all the same.
    let receiver = Webhook::start();
    receiver.fail_next_with(10, 400);
    let session = Session::new();
    session.file("plan.rbk", &short(&receiver.url()));
    let ran = session.runbook(&["run", "plan.rbk", "--output", "plain"]);
    ran.expect(0, "notifications never fail a run");
    let delivered = deliveries(&session, &session.run_id());
    assert_eq!(delivered.len(), 2, "{delivered:#?}");
    for event in &delivered {
        assert_eq!(event["payload"]["ok"], false);
        assert_eq!(event["payload"]["attempts"], 1);
        let detail = event["payload"]["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("400"), "{detail}");
        assert!(
            !detail.contains("/hooks/upgrade"),
            "the path is hidden: {detail}"
        );
    }
    assert!(ran.stdout.contains("NOT DELIVERED"), "{}", ran.stdout);
}

/// The engine killed once a notice is on disk: the resume sends what was not seen
/// delivered (at least once). The channel's target is filled in (a command quoted for
/// the shell), and two subscriptions for one audience and channel both speak.
#[test]
fn a_notice_logged_before_a_crash_is_delivered_by_the_resume() {
    let session = Session::new();
    session.file(
        "plan.rbk",
        r#"runbook "told" { }
audience ops "Operators"
channel pager command "cat >> told-{{run.id}}.txt"
notify ops via pager on start "first"
notify ops via pager on start "second"
step act "Act" {
  run "true"
  irreversible "a test"
}
"#,
    );
    // Event 0 starts the run; 1 and 2 are the two notices, each synced before it goes.
    let killed = session.runbook_with(
        &["run", "plan.rbk"],
        &[("RUNBOOK_TEST_KILL_AFTER_EVENT", "1")],
    );
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&killed.status),
        Some(9),
        "{}",
        killed.stderr
    );
    let run = session.run_id();
    session
        .runbook(&["resume", &run])
        .expect(0, "the resume completes");
    let told = session.read(&format!("told-{run}.txt"));
    for message in ["first", "second"] {
        assert!(told.lines().any(|line| line == message), "{told}");
    }
    let events = session.events(&run);
    let delivered = of_kind(&events, "delivered");
    assert_eq!(delivered.len(), 2, "{delivered:#?}");
    assert!(delivered.iter().all(|event| event["payload"]["ok"] == true));
}
