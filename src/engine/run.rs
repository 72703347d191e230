//! Running a graph: the flow of nodes (file order and dependencies, independent
//! branches at once), each node's units (a step on each of its hosts), the waves, and
//! what happens when something fails.
//!
//! The same code runs a fresh run and a resumed one. Every unit first asks the log
//! what became of it: done units are not done again, a unit that began and never
//! finished is run again only when that is safe (idempotent, read-only) or a person
//! decided so, and every one-time event (a failure, a policy action, a notice, a
//! rollback) carries a key, so a resume that passes it again does not repeat it.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::clock::Clock;
use super::facts::{Decision, ExitRecord, Fact, Need, Outcome, Phase};
use super::history::UnitRecord;
use super::inbox::{self, Answer};
use super::output::CommandOutput;
use super::recorder::Recorder;
use super::values::{Scope, WaveScope};
use super::waves;
use super::EngineError;
use crate::ast::{FailureClass, RollbackScope, Word};
use crate::compile::{
    Action, ActionKind, Graph, Node, NodeKind, Retry, StepAction, StepSettings, Target, Work,
    ROLLBACK_PREFIX,
};
use crate::executor::quote;
use crate::executor::redact::Redactor;
use crate::executor::script::{self, ScriptLimits, ScriptRun};
use crate::executor::shell::{self, Exit, ShellCommand, StopReason};
use crate::store::Actor;

type Result<T> = std::result::Result<T, EngineError>;
type Boxed<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + 'a>>;

/// What to do with running commands on Ctrl-C or SIGTERM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OnInterrupt {
    /// Let them finish; start nothing new.
    #[default]
    Wait,
    /// Stop them (and everything they started) now.
    Kill,
}

/// How far the run has been asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StopLevel {
    Running,
    /// Start nothing new; running commands go on.
    NoNewWork,
    /// Stop running commands too.
    Kill,
}

/// Why a flow stopped before its end; the worst one wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Halt {
    /// A person must answer (and the engine was told not to wait).
    Waiting,
    /// A failure policy paused the run.
    Paused,
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// A failure policy (or a failure without one) ended the run.
    Aborted,
    /// A rollback failed: people take over.
    RollbackFailed,
}

/// Something that failed for good: its retries are spent.
#[derive(Debug, Clone)]
pub struct Failure {
    pub key: String,
    pub class: FailureClass,
    pub node: String,
    pub unit: String,
    pub host: Option<String>,
    pub summary: String,
    pub wave: Option<Rc<WaveScope>>,
}

enum UnitEnd {
    Done,
    Failed(Failure),
    Halted(Halt),
}

enum NodeEnd {
    Done,
    Failed(Vec<Failure>),
    Halted(Halt),
}

/// What a failure policy leaves the flow to do.
enum PolicyEnd {
    Continue,
    Halt(Halt),
}

/// A command or script of a unit: how it ended and what to say about it.
struct Attempted {
    ok: bool,
    summary: String,
}

pub struct Run<'g> {
    pub graph: &'g Graph,
    pub clock: &'g dyn Clock,
    pub run_id: String,
    pub run_dir: PathBuf,
    /// Where commands run: the runbook's folder, so its scripts are at hand.
    pub work_dir: PathBuf,
    pub title: String,
    pub started_by: String,
    pub params: BTreeMap<String, String>,
    pub secrets: Vec<(String, String)>,
    pub redactor: Redactor,
    pub inventories: BTreeMap<String, Vec<String>>,
    pub recorder: RefCell<Recorder>,
    pub stop: tokio::sync::watch::Receiver<StopLevel>,
    /// Wait for people (confirmations, decisions) rather than pausing the run.
    pub wait_for_people: bool,
}

impl<'g> Run<'g> {
    fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    fn note(&self, fact: Fact) -> Result<()> {
        Ok(self.recorder.borrow_mut().note(self.now(), fact)?)
    }

    fn commit(&self, fact: Fact) -> Result<()> {
        Ok(self.recorder.borrow_mut().commit(self.now(), fact)?)
    }

    fn unit_record(&self, unit: &str) -> UnitRecord {
        self.recorder
            .borrow()
            .history
            .unit(unit)
            .cloned()
            .unwrap_or_default()
    }

    fn marked(&self, key: &str) -> bool {
        self.recorder.borrow().history.marks.contains(key)
    }

    fn stop_level(&self) -> StopLevel {
        *self.stop.borrow()
    }

    /// Resolves when the run is told to stop at `level` or beyond.
    async fn stopped(&self, level: StopLevel) {
        let mut stop = self.stop.clone();
        let _ = stop.wait_for(|current| *current >= level).await;
    }

    /// The plan's own flow, from its first node to its last.
    pub async fn main_flow(&self) -> Result<Option<Halt>> {
        let nodes: Vec<&Node> = self
            .graph
            .nodes()
            .iter()
            .filter(|node| node.parent.is_none() && node.is_main_flow())
            .collect();
        self.flow(&nodes, &Scope::default()).await
    }

    /// Runs `nodes` as their edges allow, independent ones at once. Returns why it
    /// stopped early, if it did.
    fn flow<'a>(&'a self, nodes: &'a [&'g Node], scope: &'a Scope) -> Boxed<'a, Option<Halt>> {
        Box::pin(async move {
            let ids: HashSet<&str> = nodes.iter().map(|node| &*node.id).collect();
            let waits_for: Vec<Vec<&str>> = nodes
                .iter()
                .map(|node| {
                    self.graph
                        .edges_into(&node.id)
                        .filter(|edge| ids.contains(&*edge.from))
                        .filter(|edge| edge.kind != crate::compile::EdgeKind::Rollback)
                        .map(|edge| &*edge.from)
                        .collect()
                })
                .collect();
            let mut started = vec![false; nodes.len()];
            let mut done: HashSet<&str> = HashSet::new();
            let mut halt: Option<Halt> = None;
            let mut running = FuturesUnordered::new();
            loop {
                if halt.is_none() && self.stop_level() == StopLevel::Running {
                    for (index, node) in nodes.iter().enumerate() {
                        if !started[index] && waits_for[index].iter().all(|id| done.contains(id)) {
                            started[index] = true;
                            let node: &'g Node = node;
                            running.push(async move { (node, self.node(node, scope).await) });
                        }
                    }
                }
                let Some((node, end)) = running.next().await else {
                    break;
                };
                match end? {
                    NodeEnd::Done => {
                        done.insert(&*node.id);
                    }
                    NodeEnd::Failed(failures) => {
                        let mut carry_on = true;
                        for failure in failures {
                            if let PolicyEnd::Halt(stop) = self.handle_failure(failure).await? {
                                carry_on = false;
                                halt = halt.max(Some(stop));
                            }
                        }
                        if carry_on {
                            done.insert(&*node.id);
                        }
                    }
                    NodeEnd::Halted(stop) => halt = halt.max(Some(stop)),
                }
            }
            if halt.is_none() && self.stop_level() > StopLevel::Running {
                let unfinished = nodes.iter().any(|node| !done.contains(&*node.id));
                if unfinished {
                    halt = Some(Halt::Interrupted);
                }
            }
            Ok(halt)
        })
    }

    fn node<'a>(&'a self, node: &'g Node, scope: &'a Scope) -> Boxed<'a, NodeEnd> {
        Box::pin(async move {
            match &node.kind {
                NodeKind::Step(work) | NodeKind::Script(work) | NodeKind::Manual(work) => {
                    self.step(node, work, scope).await
                }
                NodeKind::Timer { duration_ms } => self.timer(node, *duration_ms, scope).await,
                NodeKind::Waves {
                    over,
                    stages,
                    pause_ms,
                    parallel,
                    budget,
                    body,
                } => {
                    let hosts = self.inventories.get(&**over).cloned().unwrap_or_default();
                    let plan = WavesPlan {
                        hosts,
                        stages,
                        pause_ms: *pause_ms,
                        parallel: *parallel,
                        budget: *budget,
                        body,
                    };
                    self.waves(node, plan, scope).await
                }
                NodeKind::Gate { .. } | NodeKind::Watch { .. } | NodeKind::Rollback { .. } => {
                    Err(EngineError::Unsupported(format!(
                        "{} `{}` cannot run yet",
                        node.kind_name(),
                        node.name
                    )))
                }
            }
        })
    }

    /// The hosts a step runs on; `None` is the machine running the runbook.
    fn hosts_of(&self, target: &Target, scope: &Scope) -> Result<Vec<Option<String>>> {
        Ok(match target {
            Target::Local => vec![None],
            Target::Inventory { inventory } => self
                .inventories
                .get(&**inventory)
                .map(|hosts| hosts.iter().cloned().map(Some).collect())
                .unwrap_or_default(),
            Target::Wave => match &scope.wave {
                Some(wave) => {
                    let failed = wave.failed.borrow();
                    wave.hosts
                        .iter()
                        .filter(|host| !failed.contains(*host))
                        .cloned()
                        .map(Some)
                        .collect()
                }
                None => vec![None],
            },
            Target::SampleOfInventory { .. } | Target::SampleOfWaves { .. } => {
                return Err(EngineError::Unsupported(
                    "sampling hosts cannot run yet".to_string(),
                ))
            }
        })
    }

    /// A step on each of its hosts, at most `parallel` at once.
    async fn step(&self, node: &'g Node, work: &'g Work, scope: &Scope) -> Result<NodeEnd> {
        let hosts = self.hosts_of(&work.settings.target, scope)?;
        let limit = work
            .settings
            .parallel
            .or(scope.wave.as_ref().and_then(|wave| wave.parallel))
            .and_then(|limit| usize::try_from(limit).ok())
            .unwrap_or(usize::MAX)
            .clamp(1, hosts.len().max(1));
        let mut ends = futures_util::stream::iter(hosts.into_iter().map(|host| {
            let key = unit_key(&node.id, host.as_deref(), scope);
            let scope = scope.for_host(host.clone());
            async move { self.unit(&key, node, work, host, &scope).await }
        }))
        .buffer_unordered(limit);
        let mut failures = Vec::new();
        let mut halt = None;
        while let Some(end) = ends.next().await {
            match end? {
                UnitEnd::Done => {}
                UnitEnd::Failed(failure) => failures.push(failure),
                UnitEnd::Halted(stop) => halt = halt.max(Some(stop)),
            }
        }
        drop(ends);
        if let Some(halt) = halt {
            // Failures seen before the halt are still handled when the run resumes:
            // their units are failed in the log.
            return Ok(NodeEnd::Halted(halt));
        }
        if failures.is_empty() {
            return Ok(NodeEnd::Done);
        }
        // In a wave, failed hosts within the wave's budget are set aside: they are
        // rolled back on their own and the wave goes on without them.
        if let Some(wave) = &scope.wave {
            let failed_before = wave.failed.borrow().len();
            let failed_now = failed_before + failures.len();
            wave.failed
                .borrow_mut()
                .extend(failures.iter().filter_map(|failure| failure.host.clone()));
            if waves::budget_allows(failed_now, wave.hosts.len(), wave.budget) {
                for failure in failures {
                    self.record_failure(&failure)?;
                    let key = format!("{}/within-budget", failure.key);
                    let units = self.rollback_units(RollbackScope::Hosts, &failure);
                    if let Some(stop) = self.saga(&key, "hosts", units).await? {
                        return Ok(NodeEnd::Halted(stop));
                    }
                }
                return Ok(NodeEnd::Done);
            }
        }
        Ok(NodeEnd::Failed(failures))
    }

    /// One unit: a step on one host (or once). Asks the log first.
    async fn unit(
        &self,
        key: &str,
        node: &'g Node,
        work: &Work,
        host: Option<String>,
        scope: &Scope,
    ) -> Result<UnitEnd> {
        let record = self.unit_record(key);
        let failure = |summary: String| Failure {
            key: format!("failure:{key}#{}", record.attempts.max(1)),
            class: work.settings.raises,
            node: node.name.to_string(),
            unit: key.to_string(),
            host: host.clone(),
            summary,
            wave: scope.wave.clone(),
        };
        match (&record.outcome, record.decision) {
            (Some(Outcome::Succeeded { .. } | Outcome::Skipped), _) => return Ok(UnitEnd::Done),
            (Some(Outcome::Failed { .. }), Some(Decision::Skip)) => {
                self.finish(key, Outcome::Skipped, Some("skipped by decision"))?;
                return Ok(UnitEnd::Done);
            }
            (Some(Outcome::Failed { .. }), _) => {
                return Ok(UnitEnd::Failed(failure("failed before the resume".into())))
            }
            (None, _) => {}
        }
        if self.stop_level() > StopLevel::Running {
            return Ok(UnitEnd::Halted(Halt::Interrupted));
        }
        let safe_again = work.settings.idempotent || work.settings.readonly;
        // Stopped between two commands (waiting for a person, say): go on after the
        // ones that succeeded. Stopped during a command: it may have run in part.
        let mut resume_after =
            (record.interrupted() && !record.in_flight && record.decision.is_none())
                .then(|| record.succeeded.clone());
        if record.interrupted() && record.in_flight && !safe_again && record.decision.is_none() {
            let text = format!(
                "`{}` began{} and the engine stopped before it finished; it may have run in part. \
                 It is not idempotent: decide with `runbook decide {} {} retry|skip|fail --as NAME`",
                node.name,
                host.as_deref().map(|host| format!(" on {host}")).unwrap_or_default(),
                self.run_id,
                node.name,
            );
            match self
                .ask(key, node, host.as_deref(), Need::Decision, &text)
                .await?
            {
                Some(Answer::Decided(Decision::Retry)) => {}
                Some(Answer::Decided(Decision::Skip)) => {
                    self.finish(key, Outcome::Skipped, Some("skipped by decision"))?;
                    return Ok(UnitEnd::Done);
                }
                Some(Answer::Decided(Decision::Fail)) => {
                    let class = work.settings.raises;
                    self.finish(key, Outcome::Failed { class }, Some("failed by decision"))?;
                    return Ok(UnitEnd::Failed(failure("failed by decision".into())));
                }
                Some(Answer::Confirmed(_)) | None => {
                    return Ok(UnitEnd::Halted(Halt::Waiting));
                }
            }
        } else if let Some(decision) = record.decision.filter(|_| record.interrupted()) {
            match decision {
                Decision::Retry => {}
                Decision::Skip => {
                    self.finish(key, Outcome::Skipped, Some("skipped by decision"))?;
                    return Ok(UnitEnd::Done);
                }
                Decision::Fail => {
                    let class = work.settings.raises;
                    self.finish(key, Outcome::Failed { class }, Some("failed by decision"))?;
                    return Ok(UnitEnd::Failed(failure("failed by decision".into())));
                }
            }
        }
        let tries = work.settings.retry.attempts.saturating_add(1);
        let mut attempt: u32 = if resume_after.is_some() {
            record.attempts.saturating_sub(1)
        } else {
            0
        };
        loop {
            attempt += 1;
            let done = resume_after.take();
            let outcome = self
                .attempt(key, node, work, &host, attempt, scope, done)
                .await?;
            match outcome {
                AttemptEnd::Succeeded(values) => {
                    self.finish(key, Outcome::Succeeded { values }, None)?;
                    return Ok(UnitEnd::Done);
                }
                AttemptEnd::Halted(halt) => return Ok(UnitEnd::Halted(halt)),
                AttemptEnd::Failed(summary) => {
                    let remedies = self
                        .commands(
                            key,
                            &work.settings.remedy,
                            Phase::Remedy,
                            attempt,
                            scope,
                            None,
                        )
                        .await?;
                    if let Err(halt) = remedies {
                        return Ok(UnitEnd::Halted(halt));
                    }
                    if u64::from(attempt) >= tries || self.stop_level() > StopLevel::Running {
                        let class = work.settings.raises;
                        self.finish(key, Outcome::Failed { class }, Some(&summary))?;
                        let mut failure = failure(summary);
                        failure.key = format!("failure:{key}#{}", self.unit_record(key).attempts);
                        return Ok(UnitEnd::Failed(failure));
                    }
                    let backoff = work.settings.retry.backoff_ms;
                    if backoff > 0 {
                        self.recorder.borrow_mut().flush()?;
                        tokio::select! {
                            () = self.clock.sleep(backoff) => {}
                            () = self.stopped(StopLevel::NoNewWork) => {}
                        }
                    }
                }
            }
        }
    }

    fn finish(&self, key: &str, outcome: Outcome, summary: Option<&str>) -> Result<()> {
        self.note(Fact::UnitFinished {
            unit: key.to_string(),
            outcome,
            summary: summary.map(str::to_string),
        })
    }

    /// One attempt at a unit: its actions in order, then its verifications. A resumed
    /// attempt (`resumed`) goes on after the commands that already succeeded.
    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        key: &str,
        node: &'g Node,
        work: &Work,
        host: &Option<String>,
        attempt: u32,
        scope: &Scope,
        resumed: Option<Vec<(Phase, usize)>>,
    ) -> Result<AttemptEnd> {
        let phase = match node.kind {
            NodeKind::Rollback { .. } => Phase::Rollback,
            _ => Phase::Run,
        };
        let started = match &resumed {
            Some(_) => self.unit_record(key).started_ms,
            None => {
                self.note(Fact::UnitStarted {
                    unit: key.to_string(),
                    node: node.name.to_string(),
                    host: host.clone(),
                    attempt,
                })?;
                self.now()
            }
        };
        let done = resumed.unwrap_or_default();
        let deadline = work
            .settings
            .timeout_ms
            .map(|limit| started.saturating_add(limit));
        let mut values = BTreeMap::new();
        let mut asked = false;
        for (index, action) in work.actions.iter().enumerate() {
            match action.kind {
                ActionKind::Manual => {
                    if asked {
                        continue;
                    }
                    asked = true;
                    let instructions: Vec<String> = work
                        .actions
                        .iter()
                        .filter(|action| action.kind == ActionKind::Manual)
                        .map(|action| self.fill_text(&action.template, scope))
                        .collect();
                    let mut text = instructions.join("\n\n");
                    if !work.records.is_empty() {
                        let keys: Vec<String> = work
                            .records
                            .iter()
                            .map(|record| format!("--set {}=...", record.key))
                            .collect();
                        text.push_str(&format!("\n(enter: {})", keys.join(" ")));
                    }
                    let confirmed = self.unit_record(key).confirmed;
                    let answer = match confirmed {
                        Some(values) => Some(Answer::Confirmed(values)),
                        None => {
                            self.ask(key, node, host.as_deref(), Need::Confirmation, &text)
                                .await?
                        }
                    };
                    match answer {
                        Some(Answer::Confirmed(entered)) => {
                            let missing: Vec<&str> = work
                                .records
                                .iter()
                                .filter(|record| !entered.contains_key(&record.key))
                                .map(|record| record.key.as_str())
                                .collect();
                            if !missing.is_empty() {
                                return Ok(AttemptEnd::Failed(format!(
                                    "confirmed without {}",
                                    missing.join(", ")
                                )));
                            }
                            values.extend(entered);
                        }
                        Some(Answer::Decided(_)) | None => {
                            return Ok(AttemptEnd::Halted(Halt::Waiting))
                        }
                    }
                }
                ActionKind::Run | ActionKind::Script => {
                    if done.contains(&(phase, index)) {
                        continue;
                    }
                    let one = std::slice::from_ref(action);
                    let ran = self
                        .commands_from(key, one, index, phase, attempt, scope, deadline)
                        .await?;
                    match ran {
                        Err(halt) => return Ok(AttemptEnd::Halted(halt)),
                        Ok(Some(failed)) => return Ok(AttemptEnd::Failed(failed)),
                        Ok(None) => {}
                    }
                }
            }
        }
        match self
            .commands(
                key,
                &work.settings.verify,
                Phase::Verify,
                attempt,
                scope,
                deadline,
            )
            .await?
        {
            Err(halt) => Ok(AttemptEnd::Halted(halt)),
            Ok(Some(failed)) => Ok(AttemptEnd::Failed(format!("verification failed: {failed}"))),
            Ok(None) => Ok(AttemptEnd::Succeeded(values)),
        }
    }

    async fn commands(
        &self,
        key: &str,
        actions: &[StepAction],
        phase: Phase,
        attempt: u32,
        scope: &Scope,
        deadline: Option<u64>,
    ) -> Result<std::result::Result<Option<String>, Halt>> {
        self.commands_from(key, actions, 0, phase, attempt, scope, deadline)
            .await
    }

    /// Runs commands in order until one fails: `Ok(None)` all succeeded, `Ok(Some(why))`
    /// one failed, `Err(halt)` the run was stopped.
    #[allow(clippy::too_many_arguments)]
    async fn commands_from(
        &self,
        key: &str,
        actions: &[StepAction],
        first_index: usize,
        phase: Phase,
        attempt: u32,
        scope: &Scope,
        deadline: Option<u64>,
    ) -> Result<std::result::Result<Option<String>, Halt>> {
        for (offset, action) in actions.iter().enumerate() {
            let index = first_index + offset;
            let attempted = match action.kind {
                ActionKind::Run => {
                    self.shell(key, action, index, phase, attempt, scope, deadline)
                        .await?
                }
                ActionKind::Script => {
                    self.script(key, action, index, phase, attempt, scope, deadline)
                        .await?
                }
                ActionKind::Manual => continue,
            };
            match attempted {
                Ok(Attempted { ok: true, .. }) => {}
                Ok(Attempted { ok: false, summary }) => return Ok(Ok(Some(summary))),
                Err(halt) => return Ok(Err(halt)),
            }
        }
        Ok(Ok(None))
    }

    /// One shell command, announced in the log before it starts.
    #[allow(clippy::too_many_arguments)]
    async fn shell(
        &self,
        key: &str,
        action: &StepAction,
        index: usize,
        phase: Phase,
        attempt: u32,
        scope: &Scope,
        deadline: Option<u64>,
    ) -> Result<std::result::Result<Attempted, Halt>> {
        let rendered = quote::render(&action.template, |name| {
            self.value(name, scope).map(std::borrow::Cow::Owned)
        });
        let shown = match &rendered {
            Ok(command) => self.redactor.redact(command).into_owned(),
            Err(_) => self.redactor.redact(&action.text).into_owned(),
        };
        self.commit(Fact::CommandStarted {
            unit: key.to_string(),
            phase,
            index,
            attempt,
            command: shown,
        })?;
        let started = self.now();
        let script = match rendered {
            Ok(script) => script,
            Err(error) => {
                let summary = self.redactor.redact(&error.to_string()).into_owned();
                return self
                    .command_finished(
                        key,
                        phase,
                        index,
                        attempt,
                        ExitRecord::Error,
                        started,
                        None,
                        summary,
                    )
                    .map(Ok);
            }
        };
        let env = self.environment(key, scope, attempt);
        let mut output =
            CommandOutput::new(&self.run_dir, key, phase, index, attempt, &self.redactor);
        let remaining = deadline.map(|deadline| deadline.saturating_sub(started));
        let stop = async {
            let timeout = async {
                match remaining {
                    Some(ms) => self.clock.sleep(ms).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = timeout => StopReason::Timeout,
                () = self.stopped(StopLevel::Kill) => StopReason::Interrupt,
            }
        };
        let exit = shell::run(
            ShellCommand {
                script: &script,
                env: &env,
                cwd: Some(&self.work_dir),
            },
            stop,
            |stream, bytes| {
                for fact in output.take(key, stream, bytes) {
                    let _ = self.recorder.borrow_mut().note(self.clock.now_ms(), fact);
                }
            },
        )
        .await;
        let (record, summary) = match exit {
            Ok(Exit::Code(0)) => (ExitRecord::Code(0), String::new()),
            Ok(Exit::Code(code)) => (ExitRecord::Code(code), format!("exit code {code}")),
            Ok(Exit::Signal(signal)) => (
                ExitRecord::Signal(signal),
                format!("killed by signal {signal}"),
            ),
            Ok(Exit::Stopped(StopReason::Timeout)) => (
                ExitRecord::Timeout,
                "timed out; its process group was stopped".to_string(),
            ),
            Ok(Exit::Stopped(StopReason::Interrupt)) => (
                ExitRecord::Interrupted,
                "stopped by an interrupt".to_string(),
            ),
            Err(error) => (ExitRecord::Error, format!("could not start `sh`: {error}")),
        };
        for fact in output.finish(key) {
            self.note(fact)?;
        }
        let full = output.full_output_path();
        let interrupted = record == ExitRecord::Interrupted;
        let attempted =
            self.command_finished(key, phase, index, attempt, record, started, full, summary)?;
        if interrupted {
            return Ok(Err(Halt::Interrupted));
        }
        Ok(Ok(attempted))
    }

    #[allow(clippy::too_many_arguments)]
    fn command_finished(
        &self,
        key: &str,
        phase: Phase,
        index: usize,
        attempt: u32,
        exit: ExitRecord,
        started: u64,
        full_output: Option<String>,
        summary: String,
    ) -> Result<Attempted> {
        self.note(Fact::CommandFinished {
            unit: key.to_string(),
            phase,
            index,
            attempt,
            exit,
            duration_ms: self.now().saturating_sub(started),
            full_output,
        })?;
        Ok(Attempted {
            ok: exit == ExitRecord::Code(0),
            summary: if summary.is_empty() {
                String::new()
            } else {
                format!("{} {}: {summary}", phase_word(phase), index + 1)
            },
        })
    }

    /// One sandboxed Rhai script, run on a blocking thread; a timeout or an interrupt
    /// cancels it between two of its operations.
    #[allow(clippy::too_many_arguments)]
    async fn script(
        &self,
        key: &str,
        action: &StepAction,
        index: usize,
        phase: Phase,
        attempt: u32,
        scope: &Scope,
        deadline: Option<u64>,
    ) -> Result<std::result::Result<Attempted, Halt>> {
        self.commit(Fact::CommandStarted {
            unit: key.to_string(),
            phase,
            index,
            attempt,
            command: self.redactor.redact(&action.text).into_owned(),
        })?;
        let started = self.now();
        let values = self.script_values(scope);
        let source = action.text.clone();
        let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cancel_in_script = Arc::clone(&cancel);
        let mut job = tokio::task::spawn_blocking(move || {
            script::run(ScriptRun {
                source: &source,
                values: &values,
                limits: ScriptLimits::default(),
                cancel: &cancel_in_script,
            })
        });
        let remaining = deadline.map(|deadline| deadline.saturating_sub(started));
        let timeout = async {
            match remaining {
                Some(ms) => self.clock.sleep(ms).await,
                None => std::future::pending().await,
            }
        };
        let mut why_stopped = None;
        let result = tokio::select! {
            result = &mut job => result,
            () = timeout => {
                why_stopped = Some(ExitRecord::Timeout);
                cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                (&mut job).await
            }
            () = self.stopped(StopLevel::Kill) => {
                why_stopped = Some(ExitRecord::Interrupted);
                cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                (&mut job).await
            }
        };
        let (exit, summary, printed) = match (why_stopped, result) {
            (Some(ExitRecord::Timeout), _) => {
                (ExitRecord::Timeout, "timed out".to_string(), vec![])
            }
            (Some(_), _) => (
                ExitRecord::Interrupted,
                "stopped by an interrupt".to_string(),
                vec![],
            ),
            (None, Ok(Ok(outcome))) => {
                let mut printed = outcome.printed;
                if !outcome.value.is_empty() {
                    printed.push(format!("=> {}", outcome.value));
                }
                (ExitRecord::Code(0), String::new(), printed)
            }
            (None, Ok(Err(error))) => (ExitRecord::Error, format!("script: {error}"), vec![]),
            (None, Err(error)) => (
                ExitRecord::Error,
                format!("script did not run: {error}"),
                vec![],
            ),
        };
        for line in printed {
            self.note(Fact::Output {
                unit: key.to_string(),
                stream: "stdout".to_string(),
                text: self.redactor.redact(&line).into_owned(),
            })?;
        }
        let summary = self.redactor.redact(&summary).into_owned();
        let interrupted = exit == ExitRecord::Interrupted;
        let attempted =
            self.command_finished(key, phase, index, attempt, exit, started, None, summary)?;
        if interrupted {
            return Ok(Err(Halt::Interrupted));
        }
        Ok(Ok(attempted))
    }

    /// Asks a person, and waits for the answer when told to; `None` when the run is to
    /// pause instead (or was interrupted while waiting).
    async fn ask(
        &self,
        key: &str,
        node: &Node,
        host: Option<&str>,
        need: Need,
        text: &str,
    ) -> Result<Option<Answer>> {
        if self.unit_record(key).waiting != Some(need) {
            self.commit(Fact::Waiting {
                unit: key.to_string(),
                node: node.name.to_string(),
                host: host.map(str::to_string),
                need,
                text: self.redactor.redact(text).into_owned(),
            })?;
        } else {
            self.recorder.borrow_mut().flush()?;
        }
        if !self.wait_for_people {
            return Ok(None);
        }
        loop {
            if let Some(request) = inbox::take(&self.run_dir, &node.name, host, need) {
                let actor = Some(Actor {
                    person: Some(request.person.clone()),
                    os_user: request.os_user.clone(),
                });
                let (fact, answer) = request.into_fact(key);
                self.recorder
                    .borrow_mut()
                    .commit_as(self.now(), fact, actor)?;
                return Ok(Some(answer));
            }
            tokio::select! {
                () = tokio::time::sleep(inbox::POLL) => {}
                () = self.stopped(StopLevel::NoNewWork) => return Ok(None),
            }
        }
    }

    /// A timer: waits what is left of its time (a resume does not wait it twice).
    async fn timer(&self, node: &'g Node, duration_ms: u64, scope: &Scope) -> Result<NodeEnd> {
        let key = unit_key(&node.id, None, scope);
        let record = self.unit_record(&key);
        if record.outcome.is_some() {
            return Ok(NodeEnd::Done);
        }
        if self.stop_level() > StopLevel::Running {
            return Ok(NodeEnd::Halted(Halt::Interrupted));
        }
        let since = if record.attempts > 0 {
            record.started_ms
        } else {
            self.commit(Fact::UnitStarted {
                unit: key.clone(),
                node: node.name.to_string(),
                host: None,
                attempt: 1,
            })?;
            self.now()
        };
        let left = since.saturating_add(duration_ms).saturating_sub(self.now());
        tokio::select! {
            () = self.clock.sleep(left) => {}
            () = self.stopped(StopLevel::NoNewWork) => return Ok(NodeEnd::Halted(Halt::Interrupted)),
        }
        self.finish(
            &key,
            Outcome::Succeeded {
                values: BTreeMap::new(),
            },
            None,
        )?;
        Ok(NodeEnd::Done)
    }

    /// A canary rollout: the body once per wave, over that wave's hosts, with a pause
    /// between waves.
    async fn waves(&self, node: &'g Node, plan: WavesPlan<'g>, scope: &Scope) -> Result<NodeEnd> {
        let ranges = waves::plan(plan.hosts.len(), plan.stages);
        let body: Vec<&'g Node> = plan
            .body
            .iter()
            .filter_map(|id| self.graph.node(id))
            .collect();
        let count = ranges.len();
        for (index, range) in ranges.into_iter().enumerate() {
            let hosts: Vec<String> = plan.hosts[range].to_vec();
            let started_key = wave_key(&node.name, index);
            let finished_key = format!("{started_key}/finished");
            if self.marked(&finished_key) {
                continue;
            }
            if index > 0 && plan.pause_ms > 0 && !self.marked(&started_key) {
                self.recorder.borrow_mut().flush()?;
                tokio::select! {
                    () = self.clock.sleep(plan.pause_ms) => {}
                    () = self.stopped(StopLevel::NoNewWork) => return Ok(NodeEnd::Halted(Halt::Interrupted)),
                }
            }
            if !self.marked(&started_key) {
                self.note(Fact::WaveStarted {
                    waves: node.name.to_string(),
                    index,
                    count,
                    hosts: hosts.clone(),
                })?;
            }
            let wave = Rc::new(WaveScope {
                waves: node.name.to_string(),
                index,
                count,
                hosts,
                parallel: plan.parallel,
                budget: plan.budget,
                failed: RefCell::new(Vec::new()),
            });
            let wave_scope = Scope {
                wave: Some(Rc::clone(&wave)),
                ..scope.clone()
            };
            if let Some(halt) = self.flow(&body, &wave_scope).await? {
                return Ok(NodeEnd::Halted(halt));
            }
            let failed = wave.failed.borrow().clone();
            self.note(Fact::WaveFinished {
                waves: node.name.to_string(),
                index,
                failed,
            })?;
        }
        Ok(NodeEnd::Done)
    }

    fn record_failure(&self, failure: &Failure) -> Result<()> {
        if self.marked(&failure.key) {
            return Ok(());
        }
        self.commit(Fact::Failure {
            key: failure.key.clone(),
            class: failure.class,
            node: failure.node.clone(),
            host: failure.host.clone(),
            summary: failure.summary.clone(),
        })
    }

    /// A failure's policy, action by action. Without a policy for its class, the run
    /// rolls back everything it did and ends failed.
    async fn handle_failure(&self, failure: Failure) -> Result<PolicyEnd> {
        self.record_failure(&failure)?;
        let default_actions = [
            Action::Rollback {
                scope: RollbackScope::All,
            },
            Action::Abort,
        ];
        let actions: &[Action] = self
            .graph
            .policies()
            .iter()
            .find(|policy| policy.class == failure.class)
            .map_or(&default_actions, |policy| &policy.actions);
        let mut halt: Option<Halt> = None;
        let mut background = Vec::new();
        for (index, action) in actions.iter().enumerate() {
            let key = format!("{}/{index}", failure.key);
            match action {
                Action::Continue => self.policy_action(&key, &failure, "continue")?,
                Action::Pause => {
                    if !self.marked(&key) {
                        self.policy_action(&key, &failure, "pause")?;
                        halt = halt.max(Some(Halt::Paused));
                    }
                }
                Action::Abort => {
                    self.policy_action(&key, &failure, "abort")?;
                    halt = halt.max(Some(Halt::Aborted));
                }
                Action::Rollback { scope } => {
                    let units = match self.recorder.borrow().history.rollbacks.get(&key) {
                        Some(units) => units.clone(),
                        None => self.rollback_units(*scope, &failure),
                    };
                    if let Some(stop) = self.saga(&key, scope.word(), units).await? {
                        return Ok(PolicyEnd::Halt(stop));
                    }
                }
                Action::Notify {
                    audience,
                    channel,
                    message,
                } => {
                    if !self.marked(&key) {
                        let scope = Scope {
                            failure: Some(failure.clone().into()),
                            ..Scope::default()
                        };
                        let message = self.fill_plain(message, &scope);
                        self.note(Fact::Notice {
                            key,
                            audience: audience.clone(),
                            channel: channel.clone(),
                            message,
                        })?;
                    }
                }
                Action::Run {
                    node,
                    background: in_background,
                } => {
                    let Some(handler) = self.graph.node(node) else {
                        continue;
                    };
                    let scope = Scope {
                        failure: Some(failure.clone().into()),
                        handler: Some(failure.key.clone()),
                        ..Scope::default()
                    };
                    if *in_background {
                        background.push((handler, scope));
                    } else {
                        let end = self.node(handler, &scope).await?;
                        if let Some(stop) = self.handler_end(end)? {
                            halt = halt.max(Some(stop));
                        }
                    }
                }
                Action::Approve(_) => {
                    return Err(EngineError::Unsupported(
                        "approvals in failure policies cannot run yet".to_string(),
                    ))
                }
            }
        }
        let mut running: FuturesUnordered<_> = background
            .iter()
            .map(|(handler, scope)| self.node(handler, scope))
            .collect();
        while let Some(end) = running.next().await {
            if let Some(stop) = self.handler_end(end?)? {
                halt = halt.max(Some(stop));
            }
        }
        Ok(halt.map_or(PolicyEnd::Continue, PolicyEnd::Halt))
    }

    /// A handler step that fails is logged and pauses the run; it does not start a
    /// policy of its own.
    fn handler_end(&self, end: NodeEnd) -> Result<Option<Halt>> {
        match end {
            NodeEnd::Done => Ok(None),
            NodeEnd::Halted(halt) => Ok(Some(halt)),
            NodeEnd::Failed(failures) => {
                for failure in &failures {
                    self.record_failure(failure)?;
                }
                Ok(Some(Halt::Paused))
            }
        }
    }

    fn policy_action(&self, key: &str, failure: &Failure, action: &str) -> Result<()> {
        if self.marked(key) {
            return Ok(());
        }
        self.commit(Fact::PolicyAction {
            key: key.to_string(),
            failure: failure.key.clone(),
            action: action.to_string(),
        })
    }

    /// The units a rollback of `scope` undoes, newest first: those that succeeded (and
    /// the failed one, which may have changed something before it failed), whose step
    /// has a rollback not yet run.
    fn rollback_units(&self, scope: RollbackScope, failure: &Failure) -> Vec<String> {
        let recorder = self.recorder.borrow();
        let history = &recorder.history;
        let undoable = |unit: &str| {
            history
                .unit(unit)
                .and_then(|record| self.graph.node(&record.node))
                .and_then(Node::work)
                .is_some_and(|work| work.settings.rollback.is_some())
        };
        let in_scope = |unit: &str| -> bool {
            let Some(record) = history.unit(unit) else {
                return false;
            };
            match scope {
                RollbackScope::All => true,
                RollbackScope::Step => unit == failure.unit,
                RollbackScope::Hosts | RollbackScope::Wave => {
                    let Some(wave) = &failure.wave else {
                        return unit == failure.unit;
                    };
                    let parent_is_wave = self
                        .graph
                        .node(&record.node)
                        .and_then(|node| node.parent.as_deref())
                        .is_some_and(|parent| parent == wave.waves);
                    let host_in = |host: &String| match scope {
                        RollbackScope::Hosts => {
                            failure.host.as_ref() == Some(host)
                                || wave.failed.borrow().contains(host)
                        }
                        _ => wave.hosts.contains(host),
                    };
                    parent_is_wave && record.host.as_ref().is_some_and(host_in)
                }
            }
        };
        let mut units = Vec::new();
        if undoable(&failure.unit) {
            units.push(failure.unit.clone());
        }
        for unit in history.completed.iter().rev() {
            if unit.starts_with(ROLLBACK_PREFIX) || units.contains(unit) {
                continue;
            }
            if undoable(unit) && in_scope(unit) && !rolled_back(history, unit) {
                units.push(unit.clone());
            }
        }
        units
    }

    /// Undoes `units` in order (newest first). Each undo is a unit of its own, logged and
    /// resumable; the first that fails stops the saga (`RollbackFailed`): undoing more
    /// around a host that could not be restored may do more harm, so people take over.
    async fn saga(&self, key: &str, scope: &str, units: Vec<String>) -> Result<Option<Halt>> {
        if self.marked(&format!("{key}/finished")) {
            return Ok(None);
        }
        if !self.marked(key) {
            self.commit(Fact::RollbackStarted {
                key: key.to_string(),
                scope: scope.to_string(),
                units: units.clone(),
            })?;
        }
        for unit in &units {
            let Some(record) = self.recorder.borrow().history.unit(unit).cloned() else {
                continue;
            };
            let Some((rollback, work)) = self.undo_of(&record) else {
                continue;
            };
            let scope = Scope {
                host: record.host.clone(),
                ..Scope::default()
            };
            let rollback_key = format!("{ROLLBACK_PREFIX}{unit}");
            match self
                .unit(&rollback_key, rollback, &work, record.host.clone(), &scope)
                .await?
            {
                UnitEnd::Done => {}
                UnitEnd::Halted(Halt::RollbackFailed) | UnitEnd::Failed(_) => {
                    self.commit(Fact::RollbackFinished {
                        key: key.to_string(),
                        succeeded: false,
                    })?;
                    return Ok(Some(Halt::RollbackFailed));
                }
                UnitEnd::Halted(halt) => return Ok(Some(halt)),
            }
        }
        self.commit(Fact::RollbackFinished {
            key: key.to_string(),
            succeeded: true,
        })?;
        Ok(None)
    }

    /// The rollback node that undoes a unit's step, and the work it does there: the
    /// step's settings, its own actions and timeout, no retries (a failed undo goes to
    /// people), and a severe class.
    fn undo_of(&self, record: &UnitRecord) -> Option<(&'g Node, Work)> {
        let step = self.graph.node(&record.node)?;
        let settings = &step.work()?.settings;
        let rollback = self.graph.node(settings.rollback.as_deref()?)?;
        let NodeKind::Rollback {
            actions,
            timeout_ms,
            ..
        } = &rollback.kind
        else {
            return None;
        };
        let work = Work {
            actions: actions.clone(),
            records: Vec::new(),
            settings: StepSettings {
                timeout_ms: *timeout_ms,
                retry: Retry {
                    attempts: 0,
                    backoff_ms: 0,
                },
                raises: FailureClass::Severe,
                rollback: None,
                verify: Vec::new(),
                remedy: Vec::new(),
                ..settings.clone()
            },
        };
        Some((rollback, work))
    }
}

enum AttemptEnd {
    Succeeded(BTreeMap<String, String>),
    Failed(String),
    Halted(Halt),
}

struct WavesPlan<'g> {
    hosts: Vec<String>,
    stages: &'g [crate::compile::Stage],
    pause_ms: u64,
    parallel: Option<u64>,
    budget: crate::compile::Budget,
    body: &'g [crate::compile::Name],
}

/// The mark a wave's start leaves in the history (its end adds `/finished`).
pub fn wave_key(waves: &str, index: usize) -> String {
    format!("wave:{waves}#{index}")
}

fn rolled_back(history: &super::history::History, unit: &str) -> bool {
    let key = format!("{ROLLBACK_PREFIX}{unit}");
    history
        .unit(&key)
        .is_some_and(|record| matches!(record.outcome, Some(Outcome::Succeeded { .. })))
}

fn phase_word(phase: Phase) -> &'static str {
    match phase {
        Phase::Run => "command",
        Phase::Verify => "verification",
        Phase::Remedy => "remedy",
        Phase::Rollback => "rollback command",
    }
}

/// A unit's key: the node, the host after `@`, the wave of a once-per-wave node after
/// `#w`, the failure a handler runs for after `!`. Names cannot hold these characters,
/// so keys never collide.
pub fn unit_key(node: &str, host: Option<&str>, scope: &Scope) -> String {
    let mut key = node.to_string();
    if let Some(handler) = &scope.handler {
        key.push('!');
        key.push_str(handler);
    }
    match (host, &scope.wave) {
        (Some(host), _) => {
            key.push('@');
            key.push_str(host);
        }
        (None, Some(wave)) => key.push_str(&format!("#w{}", wave.index + 1)),
        (None, None) => {}
    }
    key
}
