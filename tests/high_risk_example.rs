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
use std::time::Duration;

use common::high_risk::{
    announce_and_go, assert_told_met_and_sealed, assert_wave_two_undone, breach_while_wave_2_waits,
    end_answering_confirmations, healthy_payment_service, hold_wave_2_and_skip_the_pause,
    repository, start_engine, wait_for_within,
};
use common::session::Session;

/// Any step of the run the test waits for.
const STEP_WITHIN: Duration = Duration::from_secs(60);

#[test]
fn a_breach_in_wave_2_of_the_high_risk_example_holds_wave_3_and_rolls_wave_2_back() {
    let (prometheus, traffic, receiver) = healthy_payment_service();

    let session = Session::new();
    let demo = session.path("demo");
    fs::create_dir_all(demo.join("hold")).expect("demo hosts folder");
    let example = repository().join("runbooks/cloud-host-upgrade-high.rbk");
    let example = example.to_str().expect("a UTF-8 path");
    let mut engine = start_engine(&session, example, &demo, &prometheus, &receiver);
    let run = session.wait_for_run();

    announce_and_go(&session, &run, STEP_WITHIN, STEP_WITHIN);
    hold_wave_2_and_skip_the_pause(&session, &run, &demo, STEP_WITHIN);
    let calls = demo.join("calls.log");
    wait_for_within(
        &session,
        &run,
        "wave 2's hosts to be upgraded",
        STEP_WITHIN,
        |_| fs::read_to_string(&calls).is_ok_and(|log| log.contains(" lbctl undrain ")),
    );
    breach_while_wave_2_waits(&session, &run, &demo, &prometheus, &traffic);

    let (status, shown) =
        end_answering_confirmations(&session, &run, &mut engine, Duration::from_secs(120));
    assert_eq!(status.code(), Some(3), "paused by the policy:\n{shown}");
    let events = session.events(&run);
    let log = fs::read_to_string(&calls).expect("the call log");
    assert_wave_two_undone(&events, &demo, &log, &shown);
    assert_told_met_and_sealed(&session, &run, &events, &receiver, &shown);
    drop(traffic);
}
