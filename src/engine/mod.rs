//! The engine: runs a compiled graph on this machine, writing every event to the run's
//! log before the effect it announces, and takes a stopped run up again from its log.
//!
//! `start` begins a run, `resume` continues one; both hand the same `Run` to `drive`,
//! which runs the flow under signal handling and writes how it ended.

pub mod approval;
pub mod clock;
pub mod codes;
pub mod condition;
pub mod facts;
pub mod history;
pub mod inbox;
mod output;
pub mod preflight;
mod recorder;
pub mod report;
mod run;
mod sample;
pub mod terminal;
mod values;
pub mod waves;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::compile::Graph;
use crate::executor::redact::Redactor;
use crate::executor::Executor;
use crate::store::{self, Actor, Durability, RunLock, RunLog, StoreError};
use clock::Clock;
use facts::{Fact, Member, RunStarted, RunStatus};
use history::{History, UnknownEvent};
use recorder::Recorder;
use report::{OutputMode, Reporter};
use run::Run;
pub use run::{wave_key as run_wave_key, Halt, OnInterrupt, StopLevel};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    UnknownEvent(#[from] UnknownEvent),
    /// A bug in the engine (a state the flow should never reach), never a user's error.
    #[error("internal error: {0}")]
    Internal(String),
    #[error("cannot prepare the run's folder {}: {source}", path.display())]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no run `{0}` in the state folder")]
    NoSuchRun(String),
    #[error("run `{run}` has already finished ({status}); there is nothing to resume")]
    Finished { run: String, status: &'static str },
    /// A drill is run again rather than resumed. `simulated`: resumed, it would run for
    /// real; else (a drill run for real) its injected faults would strike no more.
    #[error(
        "run `{run}` is a drill: a drill is not resumed (resumed, {})",
        if *simulated { "it would run for real" } else { "its injected faults would no longer strike" }
    )]
    DrillNotResumed { run: String, simulated: bool },
    #[error("the log of run `{0}` does not begin with the run's start")]
    NoStart(String),
    #[error(
        "the runbook changed since run `{run}` started (sha256 {then} then, {now} now); \
         resume with --accept-changes to go on with the edited file, which is logged"
    )]
    SourceChanged {
        run: String,
        then: String,
        now: String,
    },
    #[error("cannot start the engine's runtime: {0}")]
    Runtime(std::io::Error),
    /// `of` is "runbook `NAME`" before a run starts, "run `RUN`" after.
    #[error("`{person}` is not in the roster of {of}")]
    UnknownPerson { of: String, person: String },
}

/// How a run is to be driven, from the command line.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub output: OutputMode,
    pub on_interrupt: OnInterrupt,
    /// Wait for people (confirmations, decisions) instead of pausing the run.
    pub wait_for_people: bool,
    /// While waiting, take answers typed on standard input too (it is a terminal).
    pub answer_at_terminal: bool,
    pub durability: Durability,
}

/// Everything a run is started from, resolved by the caller: the checked graph and
/// the values it needs.
pub struct Launch<'a> {
    pub graph: &'a Graph,
    pub source: &'a str,
    /// The runbook file; commands run in its folder.
    pub file: &'a Path,
    pub state_dir: &'a Path,
    pub params: BTreeMap<String, String>,
    pub secrets: Vec<(String, String)>,
    pub inventories: BTreeMap<String, Vec<String>>,
    /// Who holds which role, from the runbook's roster; kept in the log.
    pub roster: Option<BTreeMap<String, Member>>,
    pub person: Option<String>,
    /// Where `prometheus` probes are queried (`--prometheus`, else the header's).
    pub prometheus: Option<String>,
    pub options: Options,
    /// Where shell commands run (`executor::shell::Local` for this machine).
    pub executor: &'a dyn Executor,
    /// A drill: marked in the log; when simulated, probes read the values it scripts
    /// and messages are recorded, not sent.
    pub drill: Option<&'a crate::drill::Rehearsal>,
    /// A replay: the recorded run's outcomes stand in for commands, probes, people
    /// and deliveries, and its seed and starter are this run's.
    pub replay: Option<&'a crate::replay::Recording>,
}

/// Why a run paused, kept as a type so callers need not compare texts; its `reason()`
/// is what the log records, and a replay reads it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    /// A failure policy's `pause` stopped it: a planned stop.
    ByPolicy,
    /// It needed a person and was told not to wait (or, in a drill, nobody was to answer).
    WaitingForAPerson,
    /// Ctrl-C or SIGTERM.
    Interrupted,
}

impl Pause {
    /// The `reason` of the `run_paused` event.
    pub const fn reason(self) -> &'static str {
        match self {
            Pause::ByPolicy => "paused by a failure policy",
            Pause::WaitingForAPerson => "waiting for a person",
            Pause::Interrupted => "interrupted",
        }
    }

    /// The pause a logged `reason` tells, if it is one of these.
    pub fn from_reason(reason: &str) -> Option<Pause> {
        [
            Pause::ByPolicy,
            Pause::WaitingForAPerson,
            Pause::Interrupted,
        ]
        .into_iter()
        .find(|pause| pause.reason() == reason)
    }
}

impl std::fmt::Display for Pause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

/// The `reason` of the `run_paused` event when a rollback failed.
const ROLLBACK_FAILED: &str = "a rollback failed: people must take over";

/// How `drive` left a run, which the exit code tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Completed,
    /// Failed, and rolled back as its policy said.
    Failed,
    /// Stopped and resumable: paused by a policy, interrupted, or waiting for a person.
    Paused(Pause),
    /// A rollback failed: people take over.
    RollbackFailed,
    /// A replay stopped its engine where the recorded run's engine died, leaving the
    /// log without an end as that one was.
    Died,
}

impl Ending {
    /// The documented exit codes (docs/cli.md).
    pub fn exit_code(&self) -> u8 {
        match self {
            Ending::Completed => 0,
            Ending::Failed => 1,
            Ending::Paused(_) | Ending::Died => 3,
            Ending::RollbackFailed => 4,
        }
    }
}

pub fn sha256_hex(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

/// The account this process runs under, logged beside the person who says who they are.
pub fn os_user() -> Option<String> {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|user| user.name)
        })
}

fn actor(person: Option<String>) -> Actor {
    Actor {
        person,
        os_user: os_user(),
    }
}

/// Begins a run: a new folder under `STATE/runs`, its lock, its log opening with
/// everything the run came from, then the flow.
pub fn start(launch: Launch<'_>, clock: &dyn Clock) -> Result<(String, Ending), EngineError> {
    if let (Some(roster), Some(person)) = (&launch.roster, &launch.person) {
        if !roster.contains_key(person) {
            return Err(EngineError::UnknownPerson {
                of: format!("runbook `{}`", launch.graph.header().name),
                person: person.clone(),
            });
        }
    }
    let now = clock.now_ms();
    let runs = launch.state_dir.join("runs");
    std::fs::create_dir_all(&runs).map_err(|source| EngineError::Folder {
        path: runs.clone(),
        source,
    })?;
    let (run_id, run_dir) = new_run_dir(&runs, &launch.graph.header().name, now)?;
    let lock = RunLock::acquire(&run_dir.join("lock"), now)?;
    let log = RunLog::create(&run_dir.join("events.jsonl"), launch.options.durability)?;
    let file = launch
        .file
        .canonicalize()
        .unwrap_or_else(|_| launch.file.to_path_buf());
    let started_by = match launch.replay {
        Some(recording) => recording.started.started_by.clone(),
        None => launch.person.clone().or_else(os_user).unwrap_or_default(),
    };
    let started = RunStarted {
        run: run_id.clone(),
        started_by: started_by.clone(),
        runbook: launch.graph.header().name.clone(),
        title: launch.graph.header().title.clone(),
        file: file.display().to_string(),
        machine: store::host_name(),
        source_sha256: sha256_hex(launch.source),
        source: launch.source.to_string(),
        params: launch.params.clone(),
        inventories: launch.inventories.clone(),
        roster: launch.roster.clone(),
        seed: launch
            .replay
            .map(|recording| recording.started.seed)
            .or_else(|| launch.drill.and_then(|drill| drill.seed))
            .unwrap_or_else(|| now ^ u64::from(std::process::id()).rotate_left(32)),
        drill: launch.drill.map(|drill| drill.mark.clone()),
        replay_of: launch.replay.map(|recording| recording.started.run.clone()),
        engine_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let mut recorder = Recorder::new(
        log,
        History::default(),
        Reporter::new(launch.options.output),
    );
    recorder.commit_as(
        now,
        Fact::RunStarted(Box::new(started)),
        Some(actor(launch.person.clone())),
    )?;
    let ending = drive(
        Setting {
            graph: launch.graph,
            run_id: run_id.clone(),
            run_dir,
            file: &file,
            started_by,
            params: launch.params,
            secrets: launch.secrets,
            inventories: launch.inventories,
            options: launch.options,
            executor: launch.executor,
            person: launch.person.clone(),
            prometheus: launch.prometheus,
            drill: launch.drill,
            replay: launch.replay,
        },
        recorder,
        clock,
    )?;
    drop(lock);
    Ok((run_id, ending))
}

/// A stopped run as its log tells it, before it is taken up again.
pub struct Stopped {
    pub run_id: String,
    pub run_dir: PathBuf,
    pub started: RunStarted,
    pub history: History,
    log: RunLog,
    lock: RunLock,
}

impl Stopped {
    /// Takes a run's lock and reads its log. A torn last line (the engine died while
    /// writing it) is dropped: its effect never started.
    pub fn open(state_dir: &Path, run_id: &str, clock: &dyn Clock) -> Result<Self, EngineError> {
        if !store::is_run_id(run_id) {
            return Err(EngineError::NoSuchRun(run_id.to_string()));
        }
        let run_dir = store::run_dir(state_dir, run_id);
        let events_path = run_dir.join("events.jsonl");
        if !events_path.is_file() {
            return Err(EngineError::NoSuchRun(run_id.to_string()));
        }
        let lock = RunLock::acquire(&run_dir.join("lock"), clock.now_ms())?;
        // The log is folded as it is read: memory follows the run's state, not the
        // length of its log.
        let mut events = store::Events::open(&events_path)?;
        let history = fold_log(&mut events)?;
        let reopened = RunLog::reopen(events, Durability::Synced)?;
        let started = history
            .started
            .clone()
            .ok_or_else(|| EngineError::NoStart(run_id.to_string()))?;
        Ok(Self {
            run_id: run_id.to_string(),
            run_dir,
            started,
            history,
            log: reopened.log,
            lock,
        })
    }

    /// Appends one event said by a person (`confirm`, `decide`, `approve` while no
    /// engine runs).
    pub fn append(
        &mut self,
        fact: Fact,
        person: String,
        clock: &dyn Clock,
    ) -> Result<(), EngineError> {
        self.append_by(fact, Some(actor(Some(person))), clock)
    }

    /// Appends one event, said by `actor` or (`None`) by nobody: what follows from the
    /// log itself, such as an approval's time having run out.
    pub fn append_by(
        &mut self,
        fact: Fact,
        actor: Option<Actor>,
        clock: &dyn Clock,
    ) -> Result<(), EngineError> {
        let now = clock.now_ms();
        self.history.apply_fact(now, &fact, actor.as_ref());
        self.log.append(fact.draft(now, actor))?;
        Ok(())
    }
}

/// What `resume` is handed besides the stopped run: the runbook as it reads now.
pub struct Resumption<'a> {
    pub graph: &'a Graph,
    pub source: &'a str,
    pub secrets: Vec<(String, String)>,
    pub accept_changes: bool,
    pub person: Option<String>,
    /// Where `prometheus` probes are queried (`--prometheus`, else the header's).
    pub prometheus: Option<String>,
    pub options: Options,
    pub executor: &'a dyn Executor,
    /// A replay taking its recorded run up again where that one was resumed.
    pub replay: Option<&'a crate::replay::Recording>,
}

/// Continues a stopped run from its log.
pub fn resume(
    stopped: Stopped,
    resumption: Resumption<'_>,
    clock: &dyn Clock,
) -> Result<Ending, EngineError> {
    let Stopped {
        run_id,
        run_dir,
        started,
        history,
        log,
        lock,
    } = stopped;
    if let Some(status) = history.finished {
        return Err(EngineError::Finished {
            run: run_id,
            status: status_word(status),
        });
    }
    if let Some(mark) = &started.drill {
        return Err(EngineError::DrillNotResumed {
            run: run_id,
            simulated: mark.simulated,
        });
    }
    if let (Some(roster), Some(person)) = (history.roster(), &resumption.person) {
        if !roster.contains_key(person) {
            return Err(EngineError::UnknownPerson {
                of: format!("run `{run_id}`"),
                person: person.clone(),
            });
        }
    }
    let now_sha = sha256_hex(resumption.source);
    let changed = now_sha != history.source_sha256;
    if changed && !resumption.accept_changes {
        return Err(EngineError::SourceChanged {
            run: run_id,
            then: history.source_sha256.clone(),
            now: now_sha,
        });
    }
    let mut recorder = Recorder::new(log, history, Reporter::new(resumption.options.output));
    let now = clock.now_ms();
    let who = Some(actor(resumption.person.clone()));
    if changed {
        recorder.note_as(
            now,
            Fact::ChangesAccepted {
                previous_sha256: recorder.history.source_sha256.clone(),
                source_sha256: now_sha.clone(),
                source: resumption.source.to_string(),
            },
            who.clone(),
        )?;
    }
    recorder.commit_as(
        now,
        Fact::RunResumed {
            source_sha256: now_sha,
        },
        who,
    )?;
    let file = PathBuf::from(&started.file);
    let ending = drive(
        Setting {
            graph: resumption.graph,
            run_id,
            run_dir,
            file: &file,
            started_by: started.started_by.clone(),
            params: started.params.clone(),
            secrets: resumption.secrets,
            inventories: started.inventories.clone(),
            options: resumption.options,
            executor: resumption.executor,
            person: resumption.person.clone(),
            prometheus: resumption.prometheus,
            drill: None,
            replay: resumption.replay,
        },
        recorder,
        clock,
    )?;
    drop(lock);
    Ok(ending)
}

/// A run's state from its log, folded as the log is read and verified, so that the
/// memory it takes follows the run's state and not the length of its log. A final line
/// cut short is left to the caller (`Events::refuse_torn`, `RunLog::reopen`).
pub fn fold_log(events: &mut store::Events) -> Result<History, EngineError> {
    let mut history = History::default();
    for event in events {
        history.apply(&event?)?;
    }
    Ok(history)
}

pub fn status_word(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Completed => "completed",
        RunStatus::Failed => "failed",
        RunStatus::RollbackFailed => "rollback failed",
    }
}

struct Setting<'a> {
    graph: &'a Graph,
    run_id: String,
    run_dir: PathBuf,
    file: &'a Path,
    started_by: String,
    params: BTreeMap<String, String>,
    secrets: Vec<(String, String)>,
    inventories: BTreeMap<String, Vec<String>>,
    options: Options,
    executor: &'a dyn Executor,
    person: Option<String>,
    prometheus: Option<String>,
    drill: Option<&'a crate::drill::Rehearsal>,
    replay: Option<&'a crate::replay::Recording>,
}

/// Runs the flow with Ctrl-C and SIGTERM caught (the first stops new work, or running
/// commands too with `--on-interrupt kill`; a second one always stops them), then
/// writes how the run ended.
fn drive(
    setting: Setting<'_>,
    recorder: Recorder,
    clock: &dyn Clock,
) -> Result<Ending, EngineError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(clock.is_virtual())
        .build()
        .map_err(EngineError::Runtime)?;
    let (stop_sender, stop) = tokio::sync::watch::channel(StopLevel::Running);
    let replayed_stops = setting
        .replay
        .and_then(crate::replay::Recording::segment)
        .map(|segment| segment.stops)
        .unwrap_or_default();
    let mut recorder = recorder;
    if let Some(seq) = replayed_stops.die_after {
        recorder.die_after(seq);
    }
    let (deliveries, to_deliver) = run::deliveries();
    let on_interrupt = setting.options.on_interrupt;
    let run = Run {
        graph: setting.graph,
        clock,
        executor: setting.executor,
        title: setting
            .graph
            .header()
            .title
            .clone()
            .unwrap_or_else(|| setting.graph.header().name.clone()),
        run_id: setting.run_id,
        work_dir: setting
            .file
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        run_dir: setting.run_dir,
        started_by: setting.started_by,
        params: setting.params,
        redactor: Redactor::new(setting.secrets.clone()),
        secrets: setting.secrets,
        inventories: setting.inventories,
        recorder: RefCell::new(recorder),
        stop,
        wait_for_people: setting.options.wait_for_people,
        terminal: (setting.options.wait_for_people && setting.options.answer_at_terminal)
            .then(terminal::Terminal::start)
            .flatten(),
        person: setting.person,
        prometheus_url: setting.prometheus,
        drill: setting.drill,
        replay: setting.replay,
        drill_asked: RefCell::new(BTreeMap::new()),
        drill_answered: RefCell::new(std::collections::BTreeSet::new()),
        held: std::cell::Cell::new(None),
        group: run::GroupCommit::default(),
        deliveries: RefCell::new(Some(deliveries)),
        baseline: tokio::sync::Mutex::new(()),
        running: RefCell::new(std::collections::BTreeSet::new()),
        changed: tokio::sync::Notify::new(),
        policies: tokio::sync::Mutex::new(()),
    };
    // Both handlers are in place before the flow starts its first command, so an
    // interrupt can never find the process without them (and die of it).
    let (mut interrupt, mut terminate) = {
        use tokio::signal::unix::{signal, SignalKind};
        let _runtime = runtime.enter();
        (
            signal(SignalKind::interrupt()).map_err(EngineError::Runtime)?,
            signal(SignalKind::terminate()).map_err(EngineError::Runtime)?,
        )
    };
    // A replay reaches no host: it logs what the recorded engine reached.
    let remote = match run.replay {
        Some(recording) => recording
            .segment()
            .and_then(|segment| segment.remote.clone()),
        None => run.executor.remote(),
    };
    if let Some(access) = remote {
        run.note(Fact::RemoteAccess(Box::new(access)))?;
    }
    let halt = runtime.block_on(async {
        let signals = async {
            let mut first = true;
            loop {
                tokio::select! {
                    biased;
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
                let level = if first && on_interrupt == OnInterrupt::Wait {
                    tracing::info!("interrupted: starting nothing new, running commands go on");
                    StopLevel::NoNewWork
                } else {
                    tracing::info!(
                        "interrupted: stopping running commands and their process groups"
                    );
                    StopLevel::Kill
                };
                first = false;
                let _ = stop_sender.send(level);
            }
        };
        // The flow, with periodic messages beside it for as long as it runs, then the
        // messages of its end; the delivery pump runs beside all of it and ends once
        // every message handed to it is delivered or given up.
        let flow = async {
            let halt = tokio::select! {
                biased;
                halt = run.main_flow() => halt,
                () = run.periodic() => Ok(None),
                () = run.watch_objectives() => Ok(None),
            };
            let closed = match &halt {
                Ok(halt) => run.close(*halt).await,
                Err(_) => {
                    run.deliveries.borrow_mut().take();
                    Ok(())
                }
            };
            closed.and(halt)
        };
        let flow_and_deliveries = async {
            let (halt, delivered) = tokio::join!(flow, run.deliver(to_deliver));
            let halt = delivered.and(halt)?;
            // A message delivered after the flow ended (the objectives watcher with it)
            // may be the alert an objective waits for.
            run.judge_objectives(halt.is_none())?;
            Ok::<_, EngineError>(halt)
        };
        // A replay stops its engine when and as the recorded one was stopped.
        let replayed_interrupts = async {
            for (at, level) in [
                (replayed_stops.no_new_work_at, StopLevel::NoNewWork),
                (replayed_stops.kill_at, StopLevel::Kill),
            ] {
                if let Some(at) = at {
                    clock.sleep(at.saturating_sub(clock.now_ms())).await;
                    let _ = stop_sender.send(level);
                }
            }
            std::future::pending::<()>().await;
        };
        // Once the replay's engine has written what the recorded one had when it died.
        let replayed_death = async {
            if replayed_stops.die_after.is_none() {
                std::future::pending::<()>().await;
            }
            while !run.recorder.borrow().dead() {
                run.changed.notified().await;
            }
        };
        // Signals first at every turn: an interrupt that arrives as a command ends is
        // seen before the flow can begin the next step.
        let halt = tokio::select! {
            biased;
            () = signals => Ok(Some(None)),
            () = replayed_death => Ok(None),
            () = replayed_interrupts => Ok(Some(None)),
            halt = flow_and_deliveries => halt.map(Some),
        };
        // A run that ended for good needs nothing more on its hosts; one that stopped
        // (paused, interrupted, a failed rollback people take over) may.
        let ended = matches!(halt, Ok(Some(None | Some(Halt::Aborted))));
        run.executor.close(ended).await;
        halt
    })?;
    let mut recorder = run.recorder.into_inner();
    recorder.flush()?;
    let halt = match halt {
        Some(halt) if !recorder.dead() => halt,
        _ => return Ok(Ending::Died),
    };
    let paused = |pause: Pause| {
        let reason = pause.reason().to_string();
        (Fact::RunPaused { reason }, Ending::Paused(pause))
    };
    let (fact, ending) = match halt {
        None => (
            Fact::RunFinished {
                status: RunStatus::Completed,
            },
            Ending::Completed,
        ),
        Some(Halt::Aborted) => (
            Fact::RunFinished {
                status: RunStatus::Failed,
            },
            Ending::Failed,
        ),
        Some(Halt::RollbackFailed) => (
            Fact::RunPaused {
                reason: ROLLBACK_FAILED.to_string(),
            },
            Ending::RollbackFailed,
        ),
        Some(Halt::Waiting) => paused(Pause::WaitingForAPerson),
        Some(Halt::Paused) => paused(Pause::ByPolicy),
        Some(Halt::Interrupted) => paused(Pause::Interrupted),
    };
    recorder.commit(clock.now_ms(), fact)?;
    recorder.reporter().finish();
    Ok(ending)
}

/// A fresh folder for a run: `YYYYMMDD-HHMMSS-NAME`, with `-2`, `-3`... when two runs
/// start in the same second.
fn new_run_dir(runs: &Path, name: &str, now_ms: u64) -> Result<(String, PathBuf), EngineError> {
    let stamp: String = report::timestamp(now_ms)
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let (date, time) = stamp.split_at(stamp.len().min(8));
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    for suffix in 1..1000 {
        let run_id = if suffix == 1 {
            format!("{date}-{time}-{safe}")
        } else {
            format!("{date}-{time}-{safe}-{suffix}")
        };
        let dir = runs.join(&run_id);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok((run_id, dir)),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(EngineError::Folder { path: dir, source }),
        }
    }
    Err(EngineError::Folder {
        path: runs.to_path_buf(),
        source: std::io::Error::other("too many runs started in one second"),
    })
}
