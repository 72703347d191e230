//! The engine's files, frozen: a run's log (`STATE/runs/RUN/events.jsonl`), its lock
//! file and the answers other terminals leave in its inbox.
//!
//! These files outlive the build that wrote them: a later build resumes a run, an
//! auditor reads its log years on, `confirm` and `decide` may be a different build
//! from the engine they answer. So their serde shapes are a format, and a change to
//! one must be deliberate. The mirrors in `mirror` are independent copies of that
//! format, written by hand and denying unknown fields; nothing here parses with the
//! crate's own types. Real files, written by the real binary on runbooks that between
//! them log every kind of event, must parse with the mirrors line by line, and a field
//! the mirrors do not know must be refused. One sealed event is kept to the byte in a
//! snapshot, so that a change of field order, naming or hashing shows in review. A log
//! in another format version (older or newer) is refused by `verify`, `resume` and
//! `transcript`, naming the version.
//!
//! When a test here fails because the format changed on purpose: change the mirror,
//! raise `SCHEMA_VERSION`, and say how logs of the old version are read or refused.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::process::{Child, Stdio};
use std::sync::OnceLock;

use common::session::{wait_until, Session};
use serde_json::{json, Value};

/// Independent copies of the formats, for parsing only. Every struct denies unknown
/// fields; a field the engine leaves out when it has nothing to say
/// (`skip_serializing_if`) is optional here, and then absent, never `null`.
#[allow(
    dead_code,
    reason = "the mirrors exist to be parsed into; no field is read"
)]
mod mirror {
    use std::collections::BTreeMap;

    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    /// An optional field is left out when empty: `null` is refused.
    fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        T::deserialize(deserializer).map(Some)
    }

    /// One line of a run's log. `payload` is read by `kind`, with `payload` below.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Envelope {
        pub schema: u32,
        pub seq: u64,
        pub time_ms: u64,
        pub kind: String,
        #[serde(default, deserialize_with = "present")]
        pub actor: Option<Actor>,
        pub payload: Value,
        pub prev: String,
        pub hash: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Actor {
        #[serde(default, deserialize_with = "present")]
        person: Option<String>,
        #[serde(default, deserialize_with = "present")]
        os_user: Option<String>,
    }

    /// Reads a payload as the mirror of its kind; an unknown kind is an error.
    pub fn payload(kind: &str, payload: Value) -> Result<(), String> {
        let (_, parse) = PAYLOADS
            .iter()
            .find(|(known, _)| *known == kind)
            .ok_or_else(|| format!("unknown kind `{kind}`"))?;
        parse(payload).map_err(|error| format!("`{kind}` payload: {error}"))
    }

    type Parse = fn(Value) -> Result<(), serde_json::Error>;

    fn parse<T: DeserializeOwned>(payload: Value) -> Result<(), serde_json::Error> {
        serde_json::from_value::<T>(payload).map(drop)
    }

    /// Every kind the engine logs, with the mirror of its payload.
    pub const PAYLOADS: &[(&str, Parse)] = &[
        ("run_started", parse::<RunStarted>),
        ("run_resumed", parse::<RunResumed>),
        ("remote_access", parse::<RemoteAccess>),
        ("changes_accepted", parse::<ChangesAccepted>),
        ("unit_started", parse::<UnitStarted>),
        ("command_started", parse::<CommandStarted>),
        ("output", parse::<Output>),
        ("command_finished", parse::<CommandFinished>),
        ("waiting", parse::<Waiting>),
        ("confirmed", parse::<Confirmed>),
        ("decided", parse::<Decided>),
        ("voted", parse::<Voted>),
        ("refused", parse::<Refused>),
        ("escalated", parse::<Escalated>),
        ("approval_settled", parse::<ApprovalSettled>),
        ("evaluated", parse::<Evaluated>),
        ("baseline", parse::<Baseline>),
        ("sampled", parse::<Sampled>),
        ("wave_pause", parse::<WavePause>),
        ("pause_skipped", parse::<PauseSkipped>),
        ("delivered", parse::<Delivered>),
        ("objective", parse::<Objective>),
        ("unit_finished", parse::<UnitFinished>),
        ("wave_started", parse::<WaveStarted>),
        ("wave_finished", parse::<WaveFinished>),
        ("failure", parse::<Failure>),
        ("policy_action", parse::<PolicyAction>),
        ("notice", parse::<Notice>),
        ("rollback_started", parse::<RollbackStarted>),
        ("rollback_finished", parse::<RollbackFinished>),
        ("run_paused", parse::<RunPaused>),
        ("run_finished", parse::<RunFinished>),
    ];

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RunStarted {
        run: String,
        runbook: String,
        #[serde(default, deserialize_with = "present")]
        title: Option<String>,
        file: String,
        machine: String,
        started_by: String,
        source_sha256: String,
        source: String,
        params: BTreeMap<String, String>,
        inventories: BTreeMap<String, Vec<String>>,
        #[serde(default, deserialize_with = "present")]
        roster: Option<BTreeMap<String, Member>>,
        seed: u64,
        engine_version: String,
        #[serde(default, deserialize_with = "present")]
        drill: Option<DrillMark>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct DrillMark {
        simulated: bool,
        #[serde(default, deserialize_with = "present")]
        injected: Option<Vec<String>>,
        #[serde(default, deserialize_with = "present")]
        probes: Option<Vec<String>>,
        #[serde(default, deserialize_with = "present")]
        responders: Option<Vec<String>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Member {
        #[serde(default, deserialize_with = "present")]
        name: Option<String>,
        roles: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RunResumed {
        source_sha256: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RemoteAccess {
        ssh: BTreeMap<String, String>,
        accept_new_host_keys: bool,
        #[serde(default, deserialize_with = "present")]
        shipped: Option<Vec<ShippedFile>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ShippedFile {
        path: String,
        sha256: String,
        bytes: u64,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ChangesAccepted {
        previous_sha256: String,
        source_sha256: String,
        source: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct UnitStarted {
        unit: String,
        node: String,
        #[serde(default, deserialize_with = "present")]
        host: Option<String>,
        attempt: u32,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct CommandStarted {
        unit: String,
        phase: Phase,
        index: u64,
        attempt: u32,
        command: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Output {
        unit: String,
        stream: String,
        text: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct CommandFinished {
        unit: String,
        phase: Phase,
        index: u64,
        attempt: u32,
        exit: ExitRecord,
        duration_ms: u64,
        #[serde(default, deserialize_with = "present")]
        full_output: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Waiting {
        unit: String,
        node: String,
        #[serde(default, deserialize_with = "present")]
        host: Option<String>,
        need: Need,
        text: String,
        #[serde(default, deserialize_with = "present")]
        approval: Option<Ask>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Ask {
        roles: Vec<String>,
        quorum: u64,
        /// Left out unless asked.
        #[serde(default, deserialize_with = "present")]
        distinct: Option<True>,
        #[serde(default, deserialize_with = "present")]
        within_ms: Option<u64>,
        #[serde(default, deserialize_with = "present")]
        on_timeout: Option<TimeoutAction>,
        #[serde(default, deserialize_with = "present")]
        escalate_to: Option<String>,
    }

    /// `true`, the only value a flag left out when false can have.
    #[derive(Debug)]
    pub struct True;

    impl<'de> Deserialize<'de> for True {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            match bool::deserialize(deserializer)? {
                true => Ok(True),
                false => Err(serde::de::Error::custom("`false` is left out, not written")),
            }
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum TimeoutAction {
        Escalate,
        Abort,
        Continue,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Voted {
        unit: String,
        role: String,
        approve: bool,
        #[serde(default, deserialize_with = "present")]
        reason: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Refused {
        node: String,
        answer: RefusedAnswer,
        why: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum RefusedAnswer {
        Approve,
        Reject,
        Confirm,
        Decide,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Escalated {
        unit: String,
        roles: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ApprovalSettled {
        unit: String,
        approved: bool,
        by: Settlement,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Evaluated {
        unit: String,
        condition: String,
        values: BTreeMap<String, f64>,
        #[serde(default, deserialize_with = "present")]
        unreadable: Option<BTreeMap<String, String>>,
        #[serde(default, deserialize_with = "present")]
        holds: Option<bool>,
        #[serde(default, deserialize_with = "present")]
        error: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Objective {
        objective: ObjectiveKind,
        limit_ms: u64,
        met: bool,
        #[serde(default, deserialize_with = "present")]
        after_ms: Option<u64>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum ObjectiveKind {
        RollbackStart,
        Restored,
        Outage,
        Alert,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Delivered {
        key: String,
        channel: String,
        ok: bool,
        attempts: u32,
        detail: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct WavePause {
        waves: String,
        index: u64,
        until_ms: u64,
        may_skip: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct PauseSkipped {
        waves: String,
        index: u64,
        #[serde(default, deserialize_with = "present")]
        reason: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Sampled {
        key: String,
        from: String,
        percent: f64,
        hosts: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Baseline {
        taken_for: String,
        values: BTreeMap<String, f64>,
        #[serde(default, deserialize_with = "present")]
        unreadable: Option<BTreeMap<String, String>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Settlement {
        Votes,
        Timeout,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Confirmed {
        unit: String,
        values: BTreeMap<String, String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Decided {
        unit: String,
        decision: Decision,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct UnitFinished {
        unit: String,
        outcome: Outcome,
        #[serde(default, deserialize_with = "present")]
        summary: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct WaveStarted {
        waves: String,
        index: u64,
        count: u64,
        hosts: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct WaveFinished {
        waves: String,
        index: u64,
        failed: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Failure {
        key: String,
        class: FailureClass,
        node: String,
        #[serde(default, deserialize_with = "present")]
        host: Option<String>,
        summary: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct PolicyAction {
        key: String,
        failure: String,
        action: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Notice {
        key: String,
        audience: String,
        #[serde(default, deserialize_with = "present")]
        channel: Option<String>,
        message: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RollbackStarted {
        key: String,
        scope: String,
        units: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RollbackFinished {
        key: String,
        succeeded: bool,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RunPaused {
        reason: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RunFinished {
        status: RunStatus,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Phase {
        Run,
        Verify,
        Remedy,
        Rollback,
    }

    /// `{"code":0}`, `{"signal":9}`, or one word.
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum ExitRecord {
        Code(i32),
        Signal(i32),
        Timeout,
        Interrupted,
        Error,
        Unreachable,
        ConnectionLost,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Need {
        Confirmation,
        Decision,
        Approval,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Decision {
        Retry,
        Skip,
        Fail,
    }

    /// Tagged inside: `{"outcome":"failed","class":"functional"}`.
    #[derive(Debug, Deserialize)]
    #[serde(tag = "outcome", rename_all = "snake_case")]
    pub enum Outcome {
        Succeeded(Succeeded),
        Failed(Failed),
        Skipped(Skipped),
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Succeeded {
        /// Left out when there are none.
        #[serde(default)]
        values: BTreeMap<String, String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Failed {
        class: FailureClass,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Skipped {}

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum RunStatus {
        Completed,
        Failed,
        RollbackFailed,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum FailureClass {
        Minor,
        Functional,
        Severe,
    }

    /// `STATE/runs/RUN/lock`.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Holder {
        pub host: String,
        pub pid: u32,
        pub since_ms: u64,
    }

    /// A file in `STATE/runs/RUN/inbox/`.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Request {
        pub node: String,
        #[serde(default, deserialize_with = "present")]
        pub unit: Option<String>,
        #[serde(default, deserialize_with = "present")]
        pub host: Option<String>,
        pub answer: Answer,
        pub person: String,
        #[serde(default, deserialize_with = "present")]
        pub os_user: Option<String>,
    }

    /// `{"confirmed":{"key":"value"}}`, `{"decided":"retry"}` or
    /// `{"voted":{"approve":false,"reason":"..."}}`.
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Answer {
        Confirmed(BTreeMap<String, String>),
        Decided(Decision),
        Voted(Vote),
        SkipPause(SkipPause),
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct SkipPause {
        #[serde(default, deserialize_with = "present")]
        pub reason: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Vote {
        pub approve: bool,
        #[serde(default, deserialize_with = "present")]
        pub reason: Option<String>,
    }

    /// The engine's word on a request it took, beside it in the inbox (`NAME.reply`).
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Reply {
        pub taken: bool,
        pub message: String,
        #[serde(default, deserialize_with = "present")]
        pub code: Option<String>,
        #[serde(default, deserialize_with = "present")]
        pub help: Option<String>,
    }
}

/// Reads one log line with the mirrors: the envelope, then its payload by kind.
/// Returns the kind.
fn parse_line(line: &str) -> Result<String, String> {
    let envelope: mirror::Envelope =
        serde_json::from_str(line).map_err(|error| format!("envelope: {error}"))?;
    mirror::payload(&envelope.kind, envelope.payload)?;
    Ok(envelope.kind)
}

// ---------------------------------------------------------------------------------
// Real files from the real binary.

/// A runbook with a manual step that records a value, and a step that uses it.
const MANUAL_RUNBOOK: &str = r#"runbook "manual" { }
step ask "Publish the notice" {
  manual "Publish the notice and paste its address"
  record key "The notice's address"
}
step use "Use the recorded value" {
  run "printf %s {{ask.key}} > value.txt"
  irreversible "test"
}
"#;

/// A run's log as the binary left it, named for the scenario that wrote it.
struct Log {
    scenario: &'static str,
    text: String,
}

/// The demo upgrade, run to the end.
fn demo_completed() -> Log {
    let scene = Session::new();
    scene.shipped("runbooks/demo-upgrade.rbk", "demo.rbk");
    let fleet = format!("fleet={}", scene.path("fleet").display());
    scene
        .runbook(&["run", "demo.rbk", "-p", &fleet])
        .expect(0, "the demo completes");
    Log {
        scenario: "demo completed",
        text: scene.log(&scene.run_id()),
    }
}

/// The demo upgrade failing on a host of the second wave: a failure, its rollback, a
/// notice and the policy's abort.
fn demo_failed() -> Log {
    let scene = Session::new();
    scene.shipped("runbooks/demo-upgrade.rbk", "demo.rbk");
    let fleet = format!("fleet={}", scene.path("fleet").display());
    scene
        .runbook(&["run", "demo.rbk", "-p", &fleet, "-p", "fail_on=demo-03"])
        .expect(1, "the demo fails and rolls back");
    Log {
        scenario: "demo failed",
        text: scene.log(&scene.run_id()),
    }
}

/// The crash-point runbook, not interrupted: a retried step, waves, a verification, a
/// failure near the end and the rollback of everything.
fn crash_points_uninterrupted() -> Log {
    let scene = Session::new();
    scene.shipped("tests/cases/run/crash-points.rbk", "crash-points.rbk");
    scene
        .runbook(&["run", "crash-points.rbk"])
        .expect(1, "the crash-point run fails and rolls back");
    Log {
        scenario: "crash points",
        text: scene.log(&scene.run_id()),
    }
}

/// The crash-point runbook killed once its first command is announced: the resume
/// waits for a decision on that command, a person decides to retry it, and the run
/// goes on to its end.
fn crash_points_killed_and_decided() -> Log {
    use std::os::unix::process::ExitStatusExt;

    let scene = Session::new();
    scene.shipped("tests/cases/run/crash-points.rbk", "crash-points.rbk");
    // Event 0 starts the run, 1 starts `s01`, 2 announces its (not idempotent) command.
    let killed = scene.runbook_with(
        &["run", "crash-points.rbk"],
        &[("RUNBOOK_TEST_KILL_AFTER_EVENT", "2")],
    );
    assert_eq!(killed.status.signal(), Some(9), "killed: {}", killed.stderr);
    let run = scene.run_id();
    scene
        .runbook(&["resume", &run, "--no-wait"])
        .expect(3, "the resume waits for a decision on s01");
    scene
        .runbook(&["decide", &run, "s01", "retry", "--as", "tester"])
        .expect(0, "the decision is logged");
    scene
        .runbook(&["resume", &run, "--no-wait"])
        .expect(1, "the resumed run fails and rolls back");
    Log {
        scenario: "crash points, killed and decided",
        text: scene.log(&run),
    }
}

/// A manual step: the run pauses for it, a person confirms it from another terminal
/// with a value, and a resume finishes the run.
fn manual_confirmed() -> Log {
    let scene = Session::new();
    scene.file("manual.rbk", MANUAL_RUNBOOK);
    scene
        .runbook(&["run", "manual.rbk", "--no-wait"])
        .expect(3, "the run waits for a person");
    let run = scene.run_id();
    scene
        .runbook(&["confirm", &run, "ask", "--as", "tester", "--set", "key=v"])
        .expect(0, "the confirmation is logged");
    scene
        .runbook(&["resume", &run, "--no-wait"])
        .expect(0, "the resumed run completes");
    Log {
        scenario: "manual step confirmed",
        text: scene.log(&run),
    }
}

/// A paused run whose runbook was edited meanwhile, resumed with `--accept-changes`.
fn manual_edited_and_accepted() -> Log {
    let scene = Session::new();
    scene.file("manual.rbk", MANUAL_RUNBOOK);
    scene
        .runbook(&["run", "manual.rbk", "--no-wait"])
        .expect(3, "the run waits for a person");
    let run = scene.run_id();
    let edited = MANUAL_RUNBOOK.replace("Publish the notice\"", "Publish the notice, edited\"");
    assert_ne!(edited, MANUAL_RUNBOOK, "the edit changes the runbook");
    scene.file("manual.rbk", &edited);
    scene
        .runbook(&["confirm", &run, "ask", "--as", "tester", "--set", "key=v"])
        .expect(0, "the confirmation is logged");
    scene
        .runbook(&["resume", &run, "--no-wait", "--accept-changes"])
        .expect(0, "the resumed run completes with the edited runbook");
    Log {
        scenario: "runbook edited, changes accepted",
        text: scene.log(&run),
    }
}

/// Approvals: a gate that needs two people (a stranger refused, two votes from another
/// terminal while the run is paused), then a failure whose policy asks for an approval
/// that nobody gives in time, is escalated to the commander, and is given.
fn approvals_given() -> Log {
    let scene = Session::new();
    scene.file("roster.toml", APPROVAL_ROSTER);
    scene.file("approvals.rbk", APPROVAL_RUNBOOK);
    scene
        .runbook(&["run", "approvals.rbk", "--no-wait", "--as", "dev"])
        .expect(3, "the run waits at the gate");
    let run = scene.run_id();
    scene
        .runbook(&["approve", &run, "go", "--as", "mallory"])
        .expect(1, "a stranger is refused");
    scene
        .runbook(&["approve", &run, "go", "--as", "alice"])
        .expect(0, "alice approves");
    scene
        .runbook(&[
            "approve",
            &run,
            "go",
            "--as",
            "chen",
            "--reason",
            "backups ok",
        ])
        .expect(0, "chen approves");
    scene
        .runbook(&["resume", &run, "--no-wait", "--as", "dev"])
        .expect(
            3,
            "the gate opens, `act` fails, and its policy waits for an approval",
        );
    // Its 1ms are over by now, whether or not they were when it was asked.
    scene
        .runbook(&["resume", &run, "--no-wait", "--as", "dev"])
        .expect(3, "the approval is escalated and still waits");
    scene
        .runbook(&["approve", &run, "failure:functional", "--as", "alice"])
        .expect(0, "the commander approves the rollback");
    scene
        .runbook(&["resume", &run, "--no-wait", "--as", "dev"])
        .expect(0, "the rollback runs and the run completes");
    Log {
        scenario: "approvals given",
        text: scene.log(&run),
    }
}

const APPROVAL_ROSTER: &str = r#"[people.alice]
name = "Alice Chen"
roles = ["commander"]
[people.chen]
roles = ["dba"]
[people.dev]
roles = ["executor"]
"#;

const APPROVAL_RUNBOOK: &str = r#"runbook "approvals" {
  roster "roster.toml"
  objective rollback_start within 1d of failure
}
role commander "decides"
role dba "databases"
role executor "runs it"
step prepare "Prepare" {
  run "true"
  rollback "true"
}
gate go "Go / no-go" {
  approve by 2 of [commander, dba] distinct "Start?"
}
step act "Act" {
  run "false"
  rollback "true"
}
on failure functional {
  approve by dba within 1ms on timeout escalate "Roll back?"
  rollback all
}
"#;

/// Probes deciding: a gate's condition, the baseline before the first wave, and a
/// watch in each wave, over command probes; then a spot check on a sample of the hosts
/// the rollout changed.
fn probes_watched() -> Log {
    let scene = Session::new();
    scene.file(
        "watched.rbk",
        r#"runbook "watched" { }
audience ops "Operators"
channel pager command "cat > paged.txt"
notify ops via pager on finish
probe load = command "echo 1"
inventory pair hosts ["h1", "h2"]
gate calm "The load is low" {
  require load < 5
}
waves roll {
  over pair
  stages [50%, 100%]
  step act "Act" {
    run "true"
    rollback "true"
  }
  watch health {
    every 100ms
    during 200ms
    require load < 2 * baseline.load
  }
}
step spot "Spot check" {
  on sample 50% of roll
  readonly
  run "true"
}
"#,
    );
    scene
        .runbook(&["run", "watched.rbk"])
        .expect(0, "the numbers hold");
    Log {
        scenario: "probes watched",
        text: scene.log(&scene.run_id()),
    }
}

/// A rollout interrupted during the pause between its waves; the commander ends the
/// pause from another terminal while no engine holds the run, and a resume finishes.
fn pause_skipped() -> Log {
    let scene = Session::new();
    scene.file("roster.toml", APPROVAL_ROSTER);
    scene.file(
        "paused.rbk",
        r#"runbook "paused" {
  roster "roster.toml"
}
role commander "decides"
inventory fleet hosts ["h1", "h2"]
waves roll {
  over fleet
  stages [1, 1]
  pause 1h
  step act "Act" {
    run "true"
    rollback "true"
  }
}
"#,
    );
    let engine = scene
        .command(&["run", "paused.rbk"])
        .spawn()
        .expect("the engine starts");
    wait_until("the run", || {
        scene
            .path("state/runs")
            .read_dir()
            .is_ok_and(|mut runs| runs.next().is_some())
    });
    let run = scene.run_id();
    wait_until("the pause", || {
        scene.log(&run).contains("\"kind\":\"wave_pause\"")
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(engine.id()).expect("a pid")),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("interrupt");
    let status = engine.wait_with_output().expect("the engine ends").status;
    assert_eq!(status.code(), Some(3), "interrupted in the pause");
    scene
        .runbook(&[
            "skip-pause",
            &run,
            "--as",
            "alice",
            "--reason",
            "canary clean",
        ])
        .expect(0, "the commander ends the pause");
    scene
        .runbook(&["resume", &run])
        .expect(0, "the second wave runs");
    Log {
        scenario: "pause skipped",
        text: scene.log(&run),
    }
}

/// A drill of the demo with a fault, a probe value and a responder: the log marks it.
fn drill_rehearsed() -> Log {
    let scene = Session::new();
    scene.file(
        "drilled.rbk",
        r#"runbook "drilled" { }
role ops "Operators"
probe load = command "echo 1"
inventory pair hosts ["h1", "h2"]
step look "Look" {
  manual "Look at the dashboards"
}
gate calm "The load is low" {
  require load < 5
}
step act "Act" {
  on pair
  run "true"
  rollback "true"
}
"#,
    );
    scene
        .runbook(&[
            "drill",
            "drilled.rbk",
            "--inject",
            "fail:act@h2",
            "--probe",
            "load=1",
            "--respond",
            "node=look,person=ops,after=1m",
        ])
        .expect(0, "the drill's failure is rolled back");
    Log {
        scenario: "drill rehearsed",
        text: scene.log(&scene.run_id()),
    }
}

/// A host reached over SSH (a real sshd on loopback), with a shipped file.
fn reached_over_ssh() -> Log {
    let fleet = common::sshd::SshFleet::start(1);
    let scene = Session::new();
    fleet.write_inventory(&scene.path("hosts.toml"), &["web-1"]);
    scene.file("scripts/hello.sh", "echo hello\n").file(
        "remote.rbk",
        r#"runbook "remote" { }
inventory web from "hosts.toml"
ship "scripts/hello.sh"
step hello {
  on web
  readonly
  run "sh scripts/hello.sh"
}
"#,
    );
    scene
        .runbook(&["run", "remote.rbk", "--no-wait"])
        .expect(0, "the host is reached over SSH");
    let run = scene.run_id();
    let home = std::path::PathBuf::from(std::env::var("HOME").expect("HOME"));
    let _ = fs::remove_dir_all(home.join(".runbook/runs").join(&run));
    Log {
        scenario: "reached over ssh",
        text: scene.log(&run),
    }
}

/// The logs of every scenario, made once (in parallel) for the tests that read them.
fn real_logs() -> &'static [Log] {
    static LOGS: OnceLock<Vec<Log>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let scenarios: [fn() -> Log; 11] = [
            reached_over_ssh,
            drill_rehearsed,
            pause_skipped,
            probes_watched,
            approvals_given,
            demo_completed,
            demo_failed,
            crash_points_uninterrupted,
            crash_points_killed_and_decided,
            manual_confirmed,
            manual_edited_and_accepted,
        ];
        std::thread::scope(|scope| {
            let running: Vec<_> = scenarios
                .into_iter()
                .map(|scenario| scope.spawn(scenario))
                .collect();
            running
                .into_iter()
                .map(|handle| handle.join().expect("a scenario"))
                .collect()
        })
    })
}

// ---------------------------------------------------------------------------------
// The event log.

#[test]
fn every_line_of_real_logs_parses_with_the_mirrors_and_every_kind_is_logged() {
    let mut seen = BTreeSet::new();
    for log in real_logs() {
        assert!(!log.text.is_empty(), "{}: empty log", log.scenario);
        for (number, line) in log.text.lines().enumerate() {
            let kind = parse_line(line).unwrap_or_else(|error| {
                panic!("{}, line {}: {error}\n{line}", log.scenario, number + 1)
            });
            seen.insert(kind);
        }
    }
    let never: Vec<&str> = mirror::PAYLOADS
        .iter()
        .map(|(kind, _)| *kind)
        .filter(|kind| !seen.contains(*kind))
        .collect();
    assert!(never.is_empty(), "no scenario logged {never:?}");
}

/// The mirrors are strict: what the engine does not write is refused, so the test
/// above fails when the engine starts writing something new.
#[test]
fn the_mirrors_refuse_fields_they_do_not_know_in_every_kind() {
    let mut first_of_kind: BTreeMap<String, Value> = BTreeMap::new();
    for line in real_logs().iter().flat_map(|log| log.text.lines()) {
        let event: Value = serde_json::from_str(line).expect("a JSON line");
        let kind = event["kind"].as_str().expect("a kind").to_string();
        first_of_kind.entry(kind).or_insert(event);
    }
    assert_eq!(
        first_of_kind.len(),
        mirror::PAYLOADS.len(),
        "every kind seen"
    );
    let refused = |event: &Value, what: &str| {
        let line = event.to_string();
        assert!(
            parse_line(&line).is_err(),
            "{what} was accepted by the mirrors:\n{line}"
        );
    };
    for (kind, event) in &first_of_kind {
        parse_line(&event.to_string()).unwrap_or_else(|error| panic!("{kind}: {error}"));

        let mut extra = event.clone();
        extra["payload"]["unexpected"] = json!(1);
        refused(&extra, &format!("an unknown field in a `{kind}` payload"));

        let mut renamed = event.clone();
        renamed["kind"] = json!(format!("{kind}_v2"));
        refused(&renamed, &format!("the unknown kind `{kind}_v2`"));
    }

    let started = &first_of_kind["run_started"];
    let mut extra = started.clone();
    extra["unexpected"] = json!(1);
    refused(&extra, "an unknown field in the envelope");
    let mut extra = started.clone();
    extra["actor"]["unexpected"] = json!(1);
    refused(&extra, "an unknown field in the actor");
    let mut null = started.clone();
    null["actor"]["person"] = Value::Null;
    refused(&null, "`null` for a person left out");
    let mut missing = started.clone();
    missing["payload"]
        .as_object_mut()
        .expect("an object")
        .remove("seed");
    refused(&missing, "a run start without its seed");

    let finished = &first_of_kind["unit_finished"];
    let mut extra = finished.clone();
    extra["payload"]["outcome"]["unexpected"] = json!(1);
    refused(&extra, "an unknown field in an outcome");
    let mut other = finished.clone();
    other["payload"]["outcome"]["outcome"] = json!("abandoned");
    refused(&other, "an unknown outcome");
    let mut skipped = finished.clone();
    skipped["payload"]["outcome"] = json!({"outcome": "skipped", "unexpected": 1});
    refused(&skipped, "an unknown field in a skipped outcome");

    let command = &first_of_kind["command_finished"];
    let mut extra = command.clone();
    extra["payload"]["exit"]["unexpected"] = json!(1);
    refused(&extra, "a second key in an exit record");
    let mut other = command.clone();
    other["payload"]["phase"] = json!("cleanup");
    refused(&other, "an unknown phase");
}

/// The kinds and variants the scenarios do not reach (a remedy, a signal, a timeout, a
/// skip, a failed rollback, ...), written by the engine's own types and read with the
/// mirrors.
#[test]
fn every_variant_the_engine_can_write_parses_with_the_mirrors() {
    use runbook::ast::{FailureClass, TimeoutAction};
    use runbook::engine::facts::{
        Ask, Decision, ExitRecord, Fact, Need, Outcome, Phase, RunStatus, Settlement,
    };

    let unit = || "install@web-1".to_string();
    let mut facts = Vec::new();
    for phase in [Phase::Run, Phase::Verify, Phase::Remedy, Phase::Rollback] {
        facts.push(Fact::CommandStarted {
            unit: unit(),
            phase,
            index: 0,
            attempt: 1,
            command: "true".to_string(),
        });
    }
    let exits = [
        ExitRecord::Code(-1),
        ExitRecord::Signal(9),
        ExitRecord::Timeout,
        ExitRecord::Interrupted,
        ExitRecord::Error,
        ExitRecord::Unreachable,
        ExitRecord::ConnectionLost,
    ];
    for (exit, full_output) in exits
        .into_iter()
        .zip([None, Some("output/x.log")].repeat(4))
    {
        facts.push(Fact::CommandFinished {
            unit: unit(),
            phase: Phase::Remedy,
            index: 2,
            attempt: 3,
            exit,
            duration_ms: 10,
            full_output: full_output.map(str::to_string),
        });
    }
    for (need, host) in [(Need::Confirmation, None), (Need::Decision, Some("web-1"))] {
        facts.push(Fact::Waiting {
            unit: unit(),
            node: "install".to_string(),
            host: host.map(str::to_string),
            need,
            text: "Say when".to_string(),
            approval: None,
        });
    }
    for on_timeout in [
        None,
        Some(TimeoutAction::Escalate),
        Some(TimeoutAction::Abort),
        Some(TimeoutAction::Continue),
    ] {
        facts.push(Fact::Waiting {
            unit: "go".to_string(),
            node: "go".to_string(),
            host: None,
            need: Need::Approval,
            text: "Start?".to_string(),
            approval: Some(Ask {
                roles: vec!["commander".to_string()],
                quorum: 1,
                distinct: on_timeout.is_some(),
                within_ms: on_timeout.map(|_| 180_000),
                on_timeout,
                escalate_to: on_timeout.map(|_| "commander".to_string()),
            }),
        });
    }
    for (approve, reason) in [(true, None), (false, Some("payments degraded"))] {
        facts.push(Fact::Voted {
            unit: "go".to_string(),
            role: "commander".to_string(),
            approve,
            reason: reason.map(str::to_string),
        });
    }
    for answer in ["approve", "reject", "confirm", "decide"] {
        facts.push(Fact::Refused {
            node: "go".to_string(),
            answer: answer.to_string(),
            why: "`mallory` is not in the run's roster".to_string(),
        });
    }
    facts.push(Fact::Evaluated {
        unit: "calm".to_string(),
        condition: "load < 5".to_string(),
        values: BTreeMap::new(),
        unreadable: BTreeMap::from([("load".to_string(), "timed out".to_string())]),
        holds: None,
        error: None,
    });
    facts.push(Fact::Evaluated {
        unit: "calm".to_string(),
        condition: "load < limit".to_string(),
        values: BTreeMap::from([("load".to_string(), 1.5)]),
        unreadable: BTreeMap::new(),
        holds: None,
        error: Some("Variable not found: limit".to_string()),
    });
    facts.push(Fact::Baseline {
        taken_for: "roll".to_string(),
        values: BTreeMap::new(),
        unreadable: BTreeMap::from([("p99".to_string(), "HTTP 500".to_string())]),
    });
    for (approved, by) in [(true, Settlement::Votes), (false, Settlement::Timeout)] {
        facts.push(Fact::ApprovalSettled {
            unit: "go".to_string(),
            approved,
            by,
        });
    }
    for decision in [Decision::Retry, Decision::Skip, Decision::Fail] {
        facts.push(Fact::Decided {
            unit: unit(),
            decision,
        });
    }
    let classes = [
        FailureClass::Minor,
        FailureClass::Functional,
        FailureClass::Severe,
    ];
    let values = BTreeMap::from([("ticket".to_string(), "INC-42".to_string())]);
    let outcomes = classes
        .map(|class| Outcome::Failed { class })
        .into_iter()
        .chain([
            Outcome::Succeeded {
                values: BTreeMap::new(),
            },
            Outcome::Succeeded { values },
            Outcome::Skipped {},
        ]);
    for (outcome, summary) in outcomes.zip([None, Some("command 1: exit code 1")].repeat(3)) {
        facts.push(Fact::UnitFinished {
            unit: unit(),
            outcome,
            summary: summary.map(str::to_string),
        });
    }
    for (class, host) in classes.into_iter().zip([None, Some("web-1"), None]) {
        facts.push(Fact::Failure {
            key: "failure:install@web-1#1".to_string(),
            class,
            node: "install".to_string(),
            host: host.map(str::to_string),
            summary: "command 1: exit code 1".to_string(),
        });
    }
    facts.push(Fact::Notice {
        key: "failure:install@web-1#1/1".to_string(),
        audience: "operator".to_string(),
        channel: None,
        message: "Rolled back".to_string(),
    });
    facts.push(Fact::RollbackFinished {
        key: "failure:install@web-1#1/0".to_string(),
        succeeded: false,
    });
    for status in [
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::RollbackFailed,
    ] {
        facts.push(Fact::RunFinished { status });
    }
    // Without shipped files, and with new host keys accepted.
    facts.push(Fact::RemoteAccess(Box::new(
        runbook::executor::RemoteAccess {
            ssh: BTreeMap::from([(
                "web-1".to_string(),
                "root@10.0.0.1:22 via bastion".to_string(),
            )]),
            accept_new_host_keys: true,
            shipped: Vec::new(),
        },
    )));

    for fact in facts {
        let draft = fact.draft(1_000, None);
        mirror::payload(&draft.kind, draft.payload.clone())
            .unwrap_or_else(|error| panic!("{error}\n{fact:?}\n{}", draft.payload));
    }
}

/// One event, sealed as the engine seals it, kept to the byte: the envelope's field
/// order, the payload's (alphabetical), the names, the nested enums and the hash. The
/// hash in the snapshot was checked with Python's hashlib over the line without its
/// `,"hash":...`, as an auditor would.
#[test]
fn a_sealed_event_is_frozen_to_the_byte() {
    use runbook::engine::facts::{ExitRecord, Fact, Phase};
    use runbook::store::{Actor, Event, GENESIS};

    let fact = Fact::CommandFinished {
        unit: "install@web-1".to_string(),
        phase: Phase::Run,
        index: 1,
        attempt: 2,
        exit: ExitRecord::Code(1),
        duration_ms: 1_500,
        full_output: Some("output/install@web-1.run2.attempt2.log".to_string()),
    };
    let actor = Actor {
        person: Some("alice".to_string()),
        os_user: Some("ops".to_string()),
    };
    let event = Event::seal(fact.draft(1_763_700_000_000, Some(actor)), 0, GENESIS);
    let line = serde_json::to_string(&event).expect("an event serialises");
    assert_eq!(parse_line(&line), Ok("command_finished".to_string()));
    insta::assert_snapshot!(line);
}

// ---------------------------------------------------------------------------------
// The lock file and the inbox.

/// The lock as `RunLock` writes it, to the byte.
#[test]
fn the_lock_file_is_frozen() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("lock");
    let lock = runbook::store::RunLock::acquire(&path, 1_234).expect("the lock is taken");
    let text = fs::read_to_string(&path).expect("the lock file");
    let holder: mirror::Holder = serde_json::from_str(&text).expect("the lock parses");
    assert_eq!(holder.pid, std::process::id());
    assert_eq!(holder.since_ms, 1_234);
    let expected = format!(
        r#"{{"host":{},"pid":{},"since_ms":1234}}"#,
        json!(runbook::store::host_name()),
        std::process::id()
    );
    assert_eq!(text, expected);
    drop(lock);
}

/// The lock a real engine holds while it waits for a person, read from beside it.
#[test]
fn the_lock_of_a_waiting_engine_parses_with_the_mirror() {
    let scene = Session::new();
    scene.file("manual.rbk", MANUAL_RUNBOOK);
    let mut engine = Spawned(
        scene
            .command(&["run", "manual.rbk", "--wait"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the engine starts"),
    );
    wait_until("the run's folder", || {
        fs::read_dir(scene.path("state/runs")).is_ok_and(|runs| runs.count() == 1)
    });
    let run = scene.run_id();
    wait_until("the engine to wait for a person", || {
        fs::read_to_string(scene.run_file(&run, "events.jsonl"))
            .is_ok_and(|log| log.contains(r#""kind":"waiting""#))
    });
    let text = fs::read_to_string(scene.run_file(&run, "lock")).expect("the engine's lock");
    let holder: mirror::Holder =
        serde_json::from_str(&text).unwrap_or_else(|error| panic!("{error}: {text}"));
    assert_eq!(holder.pid, engine.0.id());
    assert_eq!(holder.host, runbook::store::host_name());

    // Answered through the inbox, the engine goes on and lets go of the run.
    scene
        .runbook(&["confirm", &run, "ask", "--as", "tester", "--set", "key=v"])
        .expect(0, "the engine takes the answer");
    let status = engine.0.wait().expect("the engine ends");
    assert_eq!(status.code(), Some(0), "the run completes");
    assert!(
        !scene.run_file(&run, "lock").exists(),
        "the lock is removed"
    );
    for line in scene.log(&run).lines() {
        parse_line(line).unwrap_or_else(|error| panic!("{error}\n{line}"));
    }
}

/// A process this test started, killed if the test fails before it ends.
struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The request `runbook confirm` leaves for an engine that holds the run. The test
/// plays the engine: it holds the lock (with its own, live, pid), reads the request,
/// takes it and leaves its reply beside it (`NAME.reply`), which `confirm` waits for
/// and shows.
#[test]
fn the_request_confirm_leaves_in_the_inbox_parses_with_the_mirror() {
    let scene = Session::new();
    scene.file("manual.rbk", MANUAL_RUNBOOK);
    scene
        .runbook(&["run", "manual.rbk", "--no-wait"])
        .expect(3, "the run waits for a person");
    let run = scene.run_id();
    let holder = json!({
        "host": runbook::store::host_name(),
        "pid": std::process::id(),
        "since_ms": 1_000,
    });
    fs::write(scene.run_file(&run, "lock"), holder.to_string()).expect("the lock");

    let mut confirm = Spawned(
        scene
            .command(&["confirm", &run, "ask", "--as", "tester", "--set", "key=v"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("confirm starts"),
    );
    let inbox = scene.run_file(&run, "inbox");
    let request_file = || {
        fs::read_dir(&inbox).ok()?.find_map(|entry| {
            let path = entry.ok()?.path();
            path.extension()
                .is_some_and(|ext| ext == "json")
                .then_some(path)
        })
    };
    wait_until("a request in the inbox", || request_file().is_some());
    let path = request_file().expect("a request");
    let text = fs::read_to_string(&path).expect("the request");
    let request: mirror::Request =
        serde_json::from_str(&text).unwrap_or_else(|error| panic!("{error}: {text}"));
    assert_eq!(request.node, "ask");
    assert_eq!(request.person, "tester");
    assert!(request.host.is_none(), "{text}");
    assert!(
        matches!(&request.answer, mirror::Answer::Confirmed(values)
            if values.get("key").map(String::as_str) == Some("v")),
        "{text}"
    );

    fs::remove_file(&path).expect("the request is taken");
    let reply = json!({"taken": true, "message": "the engine logged the answer for ask"});
    fs::write(path.with_extension("reply"), reply.to_string()).expect("the reply");
    let status = confirm.0.wait().expect("confirm ends");
    assert_eq!(status.code(), Some(0), "confirm sees the answer taken");
    assert!(
        !path.with_extension("reply").exists(),
        "confirm removes the reply it read"
    );
}

/// A decision for one host, as the engine's own type writes it, to the byte.
#[test]
fn a_decision_request_is_frozen() {
    use runbook::engine::facts::Decision;
    use runbook::engine::inbox::{Answer, Request};

    let request = Request {
        node: "install".to_string(),
        unit: None,
        host: Some("web-1".to_string()),
        answer: Answer::Decided(Decision::Skip),
        person: "alice".to_string(),
        os_user: Some("ops".to_string()),
    };
    let text = serde_json::to_string(&request).expect("a request serialises");
    assert_eq!(
        text,
        r#"{"node":"install","host":"web-1","answer":{"decided":"skip"},"person":"alice","os_user":"ops"}"#
    );
    let parsed: mirror::Request = serde_json::from_str(&text).expect("the mirror reads it");
    assert!(matches!(
        parsed.answer,
        mirror::Answer::Decided(mirror::Decision::Skip)
    ));
    let mut extra: Value = serde_json::from_str(&text).expect("JSON");
    extra["unexpected"] = json!(1);
    assert!(serde_json::from_value::<mirror::Request>(extra).is_err());
}

/// A vote, and the engine's reply to it, as the engine's own types write them.
#[test]
fn a_vote_request_and_its_reply_are_frozen() {
    use runbook::engine::inbox::{Answer, Reply, Request};

    let request = Request {
        node: "go".to_string(),
        unit: Some("go#w2".to_string()),
        host: None,
        answer: Answer::Voted {
            approve: false,
            reason: Some("payments degraded".to_string()),
        },
        person: "bao".to_string(),
        os_user: None,
    };
    let text = serde_json::to_string(&request).expect("a request serialises");
    assert_eq!(
        text,
        r#"{"node":"go","unit":"go#w2","answer":{"voted":{"approve":false,"reason":"payments degraded"}},"person":"bao"}"#
    );
    let parsed: mirror::Request = serde_json::from_str(&text).expect("the mirror reads it");
    assert!(matches!(
        parsed.answer,
        mirror::Answer::Voted(mirror::Vote { approve: false, .. })
    ));

    let reply = Reply {
        taken: false,
        message: "`bao` has already voted on this approval".to_string(),
        code: Some("rbk::run::refused".to_string()),
        help: Some("each person votes once".to_string()),
    };
    let text = serde_json::to_string(&reply).expect("a reply serialises");
    assert_eq!(
        text,
        r#"{"taken":false,"message":"`bao` has already voted on this approval","code":"rbk::run::refused","help":"each person votes once"}"#
    );
    let parsed: mirror::Reply = serde_json::from_str(&text).expect("the mirror reads it");
    assert!(!parsed.taken);
    let mut extra: Value = serde_json::from_str(&text).expect("JSON");
    extra["unexpected"] = json!(1);
    assert!(serde_json::from_value::<mirror::Reply>(extra).is_err());
}

// ---------------------------------------------------------------------------------
// Logs of another format version.

/// A real run's log, paused at its manual step, in a scene that can resume it.
fn paused_run() -> (Session, String) {
    let scene = Session::new();
    scene.file("manual.rbk", MANUAL_RUNBOOK);
    scene
        .runbook(&["run", "manual.rbk", "--no-wait"])
        .expect(3, "the run waits for a person");
    let run = scene.run_id();
    (scene, run)
}

/// Lines as `Event`s, sealed again from the first: each in `schema(seq)`, chained.
fn reseal(lines: &[&str], schema: impl Fn(u64) -> u32) -> String {
    let mut prev = runbook::store::GENESIS.to_string();
    let mut text = String::new();
    for line in lines {
        let mut event: runbook::store::Event = serde_json::from_str(line).expect("an event");
        event.schema = schema(event.seq);
        event.prev = prev;
        event.hash = event.computed_hash();
        prev = event.hash.clone();
        text.push_str(&serde_json::to_string(&event).expect("serialises"));
        text.push('\n');
    }
    text
}

/// `verify`, `resume` and `transcript` refuse the log with the line and both versions
/// named, `status` says so, and the run is left as it was.
fn assert_refused_everywhere(scene: &Session, run: &str, line: usize, found: u32) {
    let log_before = scene.log(run);
    let named =
        format!("line {line}: written in event format {found}, and this runbook reads format 1");

    let verified = scene.runbook(&["verify", run]);
    verified.expect(1, "verify refuses the log");
    assert!(
        verified.stdout.contains("NOT VERIFIED") && verified.stdout.contains(&named),
        "verify:\n{}{}",
        verified.stdout,
        verified.stderr
    );

    let resumed = scene.runbook(&["resume", run, "--no-wait"]);
    resumed.expect(2, "resume refuses the log");
    assert!(
        resumed.stderr.contains(&named),
        "resume:\n{}",
        resumed.stderr
    );
    assert!(
        !scene.run_file(run, "lock").exists(),
        "a refused resume lets go of the run"
    );

    let transcript = scene.runbook(&["transcript", run]);
    transcript.expect(1, "transcript refuses the log");
    assert!(
        transcript.stderr.contains(&named),
        "transcript:\n{}",
        transcript.stderr
    );
    assert!(transcript.stdout.is_empty(), "{}", transcript.stdout);

    let status = scene.runbook(&["status", run]);
    assert!(status.stdout.contains(&named), "status:\n{}", status.stdout);

    assert_eq!(scene.log(run), log_before, "the log is left as it was");
}

#[test]
fn a_log_in_an_older_format_is_refused_with_its_version() {
    let (scene, run) = paused_run();
    let log = scene.log(&run);
    let lines: Vec<&str> = log.lines().collect();
    let older = reseal(&lines, |_| 0);
    assert!(older
        .lines()
        .all(|line| line.starts_with(r#"{"schema":0,"#)));
    fs::write(scene.run_file(&run, "events.jsonl"), older).expect("write");
    assert_refused_everywhere(&scene, &run, 1, 0);
}

/// A newer build resumed the run and wrote one event in its format: the log is
/// refused at that line, not misread up to it.
#[test]
fn a_log_continued_in_a_newer_format_is_refused_at_that_line() {
    use runbook::engine::facts::Fact;
    use runbook::store::Event;

    let (scene, run) = paused_run();
    let log = scene.log(&run);
    let last: Event = serde_json::from_str(log.lines().last().expect("a line")).expect("event");
    let resumed = Fact::RunResumed {
        source_sha256: "0".repeat(64),
    };
    let next = Event::seal(
        resumed.draft(last.time_ms + 1, None),
        last.seq + 1,
        &last.hash,
    );
    let mut lines: Vec<String> = log.lines().map(str::to_string).collect();
    lines.push(serde_json::to_string(&next).expect("serialises"));
    let borrowed: Vec<&str> = lines.iter().map(String::as_str).collect();
    let newer = reseal(&borrowed, |seq| if seq == next.seq { 2 } else { 1 });
    let count = newer.lines().count();
    assert!(newer
        .lines()
        .last()
        .is_some_and(|line| line.starts_with(r#"{"schema":2,"#)));
    fs::write(scene.run_file(&run, "events.jsonl"), newer).expect("write");
    assert_refused_everywhere(&scene, &run, count, 2);
}
