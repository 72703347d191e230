//! Running a graph: the flow of nodes (file order and dependencies, independent
//! branches at once), each node's units (a step on each of its hosts), the waves, and
//! what happens when something fails.
//!
//! The same code runs a fresh run and a resumed one. Every unit first asks the log
//! what became of it: done units are not done again, a unit that began and never
//! finished is run again only when that is safe (idempotent, read-only) or a person
//! decided so, and every one-time event (a failure, a policy action, a notice, a
//! rollback) carries a key, so a resume that passes it again does not repeat it.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::clock::Clock;
use super::facts::{Decision, ExitRecord, Fact, Need, Outcome, Phase};
use super::history::UnitRecord;
use super::inbox::Answer;
use super::output::CommandOutput;
use super::recorder::Recorder;
use super::terminal::Terminal;
use super::values::{Scope, WaveScope};
use super::waves;
use super::EngineError;
use crate::ast::{EventKind, FailureClass, RollbackScope, Word};
use crate::compile::{
    Action, ActionKind, Graph, Node, NodeKind, Retry, StepAction, StepSettings, Target, Work,
    ROLLBACK_PREFIX,
};
use crate::executor::quote;
use crate::executor::redact::Redactor;
use crate::executor::script::{self, ScriptLimits, ScriptRun};
use crate::executor::{Executor, Exit, ShellCommand, StopReason};

mod gate;
mod objectives;
mod observe;
mod pause;
mod replayed;
mod tell;

pub(super) use tell::deliveries;
mod wait;

use wait::Wait;

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
    /// A gate was rejected: its failure is handled, then the run ends.
    Rejected(Failure),
    Halted(Halt),
}

/// What a failure policy leaves the flow to do.
enum PolicyEnd {
    Continue,
    Halt(Halt),
}

/// The `background` steps a failure policy has started and that have not ended.
type Background<'a> = RefCell<FuturesUnordered<Boxed<'a, NodeEnd>>>;

/// The next of a policy's background steps to end. Pending while none runs: only the
/// policy's actions start one, and they are polled first, in the same turn.
fn next_background<'a, 'b>(
    background: &'b Background<'a>,
) -> impl Future<Output = Result<NodeEnd>> + use<'a, 'b> {
    std::future::poll_fn(
        move |cx| match background.borrow_mut().poll_next_unpin(cx) {
            std::task::Poll::Ready(Some(end)) => std::task::Poll::Ready(end),
            std::task::Poll::Ready(None) | std::task::Poll::Pending => std::task::Poll::Pending,
        },
    )
}

/// What one attempt's commands need to know.
struct Attempt<'a> {
    key: &'a str,
    /// The step as the runbook names it (the step a rollback undoes, for a rollback).
    step: &'a str,
    number: u32,
    scope: &'a Scope,
    /// When the step's time is up, by the run's clock.
    deadline: Option<u64>,
    /// Commands that succeeded in this attempt before the engine stopped.
    done: Vec<(Phase, usize)>,
}

/// The state of the shared sync commands wait for before they start.
#[derive(Default)]
pub struct GroupCommit {
    /// A flush is on its way: later notes join it.
    pending: Cell<bool>,
    /// Counts the flushes; a command waits until it moves past the value it saw.
    generation: Cell<u64>,
    /// A flush failed: nothing waiting may start.
    broken: Cell<bool>,
}

/// Where a command is among its step's: the phase, and its index there.
#[derive(Debug, Clone, Copy)]
struct Place {
    phase: Phase,
    index: usize,
}

/// How a command (or a run of them) ended, for the unit.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ran {
    Succeeded,
    Failed(String),
    Halted(Halt),
}

/// How a command ended, before it is logged.
struct Ended {
    exit: ExitRecord,
    summary: String,
    full_output: Option<String>,
}

impl Ended {
    fn new(exit: ExitRecord, summary: String) -> Self {
        Self {
            exit,
            summary,
            full_output: None,
        }
    }
}

pub struct Run<'g> {
    pub graph: &'g Graph,
    pub clock: &'g dyn Clock,
    /// Where shell commands run.
    pub executor: &'g dyn Executor,
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
    /// The terminal the run was started from, when a person there can answer.
    pub terminal: Option<Terminal>,
    /// Who started or resumed the run here (`--as`).
    pub person: Option<String>,
    /// Where `prometheus` probes are queried: `--prometheus`, else the header's.
    pub prometheus_url: Option<String>,
    /// A drill, when the run is one.
    pub drill: Option<&'g crate::drill::Rehearsal>,
    /// A replay: the recorded run whose outcomes stand in for the world's.
    pub replay: Option<&'g crate::replay::Recording>,
    /// In a drill: when each wait (by unit) began, and which responder answered
    /// which wait (each answers every wait of its node once: each host's, say).
    pub(super) drill_asked: RefCell<BTreeMap<String, u64>>,
    pub(super) drill_answered: RefCell<BTreeSet<(usize, String)>>,
    /// Commands about to start, waiting for one shared sync.
    pub(super) group: GroupCommit,
    /// Set when a failure policy pauses or ends the run: no wave, and no unit of a step,
    /// begins after it, in any branch of the flow.
    pub(super) held: Cell<Option<Halt>>,
    /// Where messages go to be delivered, while the flow runs (`None` after).
    pub(super) deliveries: RefCell<Option<tell::Deliveries>>,
    /// Held while the baseline is read, so a rollout and a watch that start together
    /// read it once between them.
    pub(super) baseline: tokio::sync::Mutex<()>,
    /// The units executing now, in any branch; a rollback waits for those it would undo.
    pub(super) running: RefCell<BTreeSet<String>>,
    /// Woken when a unit ends, the flow is held or the engine logs a fact, for whoever
    /// waits on any of them.
    pub(super) changed: tokio::sync::Notify,
    /// Taken by a failure's policy while it runs: policies of failures in different
    /// branches run one after the other, never over the same units at once.
    pub(super) policies: tokio::sync::Mutex<()>,
}

impl<'g> Run<'g> {
    fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    pub(super) fn note(&self, fact: Fact) -> Result<()> {
        self.recorder.borrow_mut().note(self.now(), fact)?;
        self.changed.notify_waiters();
        Ok(())
    }

    fn commit(&self, fact: Fact) -> Result<()> {
        self.recorder.borrow_mut().commit(self.now(), fact)?;
        self.changed.notify_waiters();
        Ok(())
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

    /// The failure of a node that runs once (a gate, a watch): numbered by the unit's
    /// attempts, so a second attempt that fails raises a failure of its own.
    fn failure_once(
        &self,
        node: &Node,
        key: &str,
        class: FailureClass,
        summary: String,
        scope: &Scope,
    ) -> Failure {
        Failure {
            key: format!("failure:{key}#{}", self.unit_record(key).attempts.max(1)),
            class,
            node: node.name.to_string(),
            unit: key.to_string(),
            host: None,
            summary,
            wave: scope.wave.clone(),
        }
    }

    /// Holds the flow at `halt` (the worst one wins).
    fn hold(&self, halt: Halt) {
        self.held.set(self.held.get().max(Some(halt)));
        self.changed.notify_waiters();
    }

    /// The hold a unit of this scope must respect: a policy's hold stops the main flow,
    /// not the policy's own steps (a failover, a vendor call, recovery checks), which
    /// run as its other remaining actions do.
    fn held_for(&self, scope: &Scope) -> Option<Halt> {
        match scope.handler {
            Some(_) => None,
            None => self.held.get(),
        }
    }

    /// Resolves once a failure policy has held the flow, with how.
    async fn until_held(&self) -> Halt {
        loop {
            let changed = self.changed.notified();
            if let Some(halt) = self.held.get() {
                return halt;
            }
            changed.await;
        }
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
        tracing::debug!(run = %self.run_id, nodes = nodes.len(), "flow begins");
        self.send_undelivered()?;
        self.event(EventKind::Start, None, "start", &Scope::default(), || {
            format!(
                "{}: run {} started by {}",
                self.title, self.run_id, self.started_by
            )
        })?;
        self.flow(&nodes, &Scope::default()).await
    }

    /// The run has ended (or stopped): `on finish` subscriptions are told, with its
    /// status, and no more messages are taken for delivery.
    pub async fn close(&self, halt: Option<Halt>) -> Result<()> {
        self.judge_objectives(halt.is_none())?;
        let status = match halt {
            None => Some("completed"),
            Some(Halt::Aborted) => Some("failed"),
            Some(Halt::RollbackFailed) => Some("rollback failed"),
            Some(_) => None,
        };
        if let Some(status) = status {
            let scope = Scope {
                status: Some(status),
                ..Scope::default()
            };
            self.event(EventKind::Finish, None, "finish", &scope, || {
                format!("{}: run {} {status}", self.title, self.run_id)
            })?;
        }
        self.recorder.borrow_mut().flush()?;
        self.deliveries.borrow_mut().take();
        Ok(())
    }

    /// Runs `nodes` as their edges allow, independent ones at once. Returns why it
    /// stopped early, if it did.
    fn flow<'a>(&'a self, nodes: &'a [&'g Node], scope: &'a Scope) -> Boxed<'a, Option<Halt>> {
        Box::pin(async move {
            // Kahn's algorithm over the nodes' places: each node knows the ones waiting
            // for it and how many it still waits for, so a flow of n nodes costs n
            // steps, not n for each node that ends.
            let index_of: HashMap<&str, usize> = nodes
                .iter()
                .enumerate()
                .map(|(index, node)| (&*node.id, index))
                .collect();
            let mut unmet = vec![0usize; nodes.len()];
            let mut successors: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
            for edge in self.graph.edges() {
                if edge.kind == crate::compile::EdgeKind::Rollback {
                    continue;
                }
                if let (Some(&from), Some(&to)) =
                    (index_of.get(&*edge.from), index_of.get(&*edge.to))
                {
                    unmet[to] += 1;
                    successors[from].push(to);
                }
            }
            // Ready nodes start lowest place first: in file order.
            let mut ready: BTreeSet<usize> = (0..nodes.len())
                .filter(|&index| unmet[index] == 0)
                .collect();
            let mut done = vec![false; nodes.len()];
            let mut halt: Option<Halt> = None;
            let mut running = FuturesUnordered::new();
            loop {
                if halt.is_none() && self.stop_level() == StopLevel::Running {
                    while let Some(index) = ready.pop_first() {
                        let node: &'g Node = nodes[index];
                        // A failure's policy runs inside its own branch, so the other
                        // branches go on meanwhile: a rollback can wait for their
                        // steps under way to end.
                        running.push(async move {
                            let end = match self.node(node, scope).await {
                                Ok(end) => self.answer(end).await,
                                Err(error) => Err(error),
                            };
                            (index, end)
                        });
                    }
                }
                let Some((index, end)) = running.next().await else {
                    break;
                };
                let (finished, stop) = end?;
                halt = halt.max(stop);
                if finished {
                    done[index] = true;
                    for &next in &successors[index] {
                        unmet[next] -= 1;
                        if unmet[next] == 0 {
                            ready.insert(next);
                        }
                    }
                }
            }
            if halt.is_none() && self.stop_level() > StopLevel::Running {
                let unfinished = done.iter().any(|finished| !finished);
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
                NodeKind::Gate {
                    approvals,
                    conditions,
                    poll,
                } => self.gate(node, approvals, conditions, *poll, scope).await,
                NodeKind::Watch {
                    interval_ms,
                    duration_ms,
                    requirements,
                } => {
                    self.watch(node, *interval_ms, *duration_ms, requirements, scope)
                        .await
                }
                NodeKind::Rollback { .. } => Err(EngineError::Internal(format!(
                    "{} `{}` cannot run yet",
                    node.kind_name(),
                    node.name
                ))),
            }
        })
    }

    /// The hosts a step runs on; `None` is the machine running the runbook.
    fn hosts_of(&self, node: &Node, target: &Target, scope: &Scope) -> Result<Vec<Option<String>>> {
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
            Target::SampleOfInventory { percent, inventory } => {
                let pool = self
                    .inventories
                    .get(&**inventory)
                    .cloned()
                    .unwrap_or_default();
                self.sample(node, scope, inventory, *percent, pool)?
            }
            Target::SampleOfWaves { percent, waves } => {
                let pool = self
                    .recorder
                    .borrow()
                    .history
                    .changed
                    .get(&**waves)
                    .cloned()
                    .unwrap_or_default();
                self.sample(node, scope, waves, *percent, pool)?
            }
        })
    }

    /// `percent` of `pool`, chosen from the run's seed and logged the first time; the
    /// logged choice ever after.
    fn sample(
        &self,
        node: &Node,
        scope: &Scope,
        from: &str,
        percent: f64,
        pool: Vec<String>,
    ) -> Result<Vec<Option<String>>> {
        let key = unit_key(&node.id, None, scope);
        if let Some(hosts) = self.recorder.borrow().history.samples.get(&key) {
            return Ok(hosts.iter().cloned().map(Some).collect());
        }
        let seed = self
            .recorder
            .borrow()
            .history
            .started
            .as_ref()
            .map_or(0, |started| started.seed);
        let hosts = super::sample::choose(pool, percent, seed, &key);
        self.note(Fact::Sampled {
            key,
            from: from.to_string(),
            percent,
            hosts: hosts.clone(),
        })?;
        Ok(hosts.into_iter().map(Some).collect())
    }

    /// Shows a step run over hosts as one bar on a terminal: the display needs the
    /// step's units, which no fact lists.
    fn show_fan_out(&self, node: &Node, hosts: &[Option<String>], scope: &Scope) -> Option<usize> {
        if !hosts.iter().any(Option::is_some) || !self.recorder.borrow_mut().reporter().live() {
            return None;
        }
        let units: Vec<String> = hosts
            .iter()
            .map(|host| unit_key(&node.id, host.as_deref(), scope))
            .collect();
        let mut recorder = self.recorder.borrow_mut();
        let done = units
            .iter()
            .filter(|unit| {
                recorder
                    .history
                    .unit(unit)
                    .is_some_and(|record| record.outcome.is_some())
            })
            .count();
        let within = scope.wave.as_ref().map(|wave| wave.waves.as_str());
        recorder.reporter().fan_out(&node.name, within, units, done)
    }

    /// A step on each of its hosts, at most `parallel` at once.
    async fn step(&self, node: &'g Node, work: &'g Work, scope: &Scope) -> Result<NodeEnd> {
        let hosts = self.hosts_of(node, &work.settings.target, scope)?;
        if let Target::SampleOfInventory {
            inventory: from, ..
        }
        | Target::SampleOfWaves { waves: from, .. } = &work.settings.target
        {
            // A spot check of nothing would pass without checking anything.
            if hosts.is_empty() {
                let key = unit_key(&node.id, None, scope);
                return Ok(NodeEnd::Failed(vec![Failure {
                    key: format!("failure:{key}#sample"),
                    class: work.settings.raises,
                    node: node.name.to_string(),
                    unit: key,
                    host: None,
                    summary: format!("nothing to sample: `{from}` has no host (yet)"),
                    wave: scope.wave.clone(),
                }]));
            }
        }
        let limit = work
            .settings
            .parallel
            .or(scope.wave.as_ref().and_then(|wave| wave.parallel))
            .and_then(|limit| usize::try_from(limit).ok())
            .unwrap_or(usize::MAX)
            .clamp(1, hosts.len().max(1));
        // Once a unit halts (it waits for a person, say), no host that has not begun
        // begins: the run is about to stop, and a resume takes the hosts up in order.
        let halted: Cell<Option<Halt>> = Cell::new(None);
        let halted = &halted;
        let shown = self.show_fan_out(node, &hosts, scope);
        let mut ends = futures_util::stream::iter(hosts.into_iter().map(|host| {
            let key = unit_key(&node.id, host.as_deref(), scope);
            let scope = scope.for_host(host.clone());
            async move {
                match halted.get().max(self.held_for(&scope)) {
                    Some(halt) => Ok(UnitEnd::Halted(halt)),
                    None => {
                        let _running = Running::new(self, &key);
                        self.unit(&key, node, work, host, &scope).await
                    }
                }
            }
        }))
        .buffer_unordered(limit);
        let mut failures = Vec::new();
        while let Some(end) = ends.next().await {
            match end? {
                UnitEnd::Done => {}
                UnitEnd::Failed(failure) => failures.push(failure),
                UnitEnd::Halted(stop) => halted.set(halted.get().max(Some(stop))),
            }
        }
        let halt = halted.get();
        drop(ends);
        if let Some(token) = shown {
            self.recorder.borrow_mut().reporter().fan_in(token);
        }
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
                    if let Some(stop) = self.saga(&key, "hosts", units, &failure).await? {
                        return Ok(NodeEnd::Halted(stop));
                    }
                }
                return Ok(NodeEnd::Done);
            }
        }
        Ok(NodeEnd::Failed(failures))
    }

    /// One unit: a step on one host (or once). Asks the log first.
    #[tracing::instrument(level = "debug", name = "unit", skip_all, fields(key = key))]
    async fn unit(
        &self,
        key: &str,
        node: &'g Node,
        work: &Work,
        host: Option<String>,
        scope: &Scope,
    ) -> Result<UnitEnd> {
        let record = self.unit_record(key);
        // Numbered by the attempts made when it is raised, so a retried unit that fails
        // again raises a failure of its own.
        let failure = |summary: &str| Failure {
            key: format!("failure:{key}#{}", self.unit_record(key).attempts.max(1)),
            class: work.settings.raises,
            node: node.name.to_string(),
            unit: key.to_string(),
            host: host.clone(),
            summary: summary.to_string(),
            wave: scope.wave.clone(),
        };
        match &record.outcome {
            Some(Outcome::Succeeded { .. } | Outcome::Skipped {}) => return Ok(UnitEnd::Done),
            Some(Outcome::Failed { .. }) if record.decision != Some(Decision::Skip) => {
                return Ok(UnitEnd::Failed(failure("failed before the resume")))
            }
            _ => {}
        }
        if self.stop_level() > StopLevel::Running {
            return Ok(UnitEnd::Halted(Halt::Interrupted));
        }
        let safe_again = work.settings.idempotent || work.settings.readonly;
        // A sandboxed script touches nothing outside the engine: stopped halfway, it is
        // simply run again, and the unit goes on from there.
        let script_stopped = record
            .in_flight
            .is_some_and(|place| is_sandboxed_script(work, place));
        let mut record = record;
        if record.interrupted()
            && record.in_flight.is_some()
            && !safe_again
            && !script_stopped
            && record.decision.is_none()
        {
            let text = format!(
                "`{}` began a command{} and the engine stopped before it finished; it may have run \
                 in part. It is not idempotent: decide with `runbook decide {} {}{} retry|skip|fail \
                 --as NAME` (retry runs that command again, skip takes it as done, fail fails the \
                 step)",
                node.id,
                host.as_deref().map(|host| format!(" on {host}")).unwrap_or_default(),
                self.run_id,
                node.id,
                host.as_deref().map(|host| format!(" --host {host}")).unwrap_or_default(),
            );
            let wait = Wait {
                key,
                node: &node.id,
                host: host.as_deref(),
                need: Need::Decision,
                text,
                owner: self.owner_of(node),
                records: Vec::new(),
                approval: None,
            };
            match self.ask(wait).await? {
                // The fold has taken the decision in.
                Some(Answer::Decided(_)) => record = self.unit_record(key),
                Some(_) | None => return Ok(UnitEnd::Halted(Halt::Waiting)),
            }
        }
        let decision = record.decision;
        match decision {
            Some(Decision::Skip) => {
                self.finish(key, Outcome::Skipped {}, Some("skipped by decision"))?;
                return Ok(UnitEnd::Done);
            }
            Some(Decision::Fail) => {
                let class = work.settings.raises;
                self.finish(key, Outcome::Failed { class }, Some("failed by decision"))?;
                return Ok(UnitEnd::Failed(failure("failed by decision")));
            }
            Some(Decision::Retry) | None => {}
        }
        // Stopped between two commands (waiting for a person, or a decision on the
        // command it stopped in): the same attempt goes on after the commands that
        // succeeded. Stopped in a command that is safe to run again: a new attempt.
        let between_commands = record.in_flight.is_none() || script_stopped;
        let mut resumed = (record.interrupted() && between_commands && decision.is_none())
            .then(|| record.succeeded.clone());
        let tries = work.settings.retry.attempts.saturating_add(1);
        let mut number = match resumed {
            Some(_) => record.attempts.saturating_sub(1),
            None => 0,
        };
        loop {
            number += 1;
            let outcome = self
                .attempt(key, node, work, &host, number, scope, resumed.take())
                .await?;
            match outcome {
                AttemptEnd::Succeeded(values) => {
                    self.finish(key, Outcome::Succeeded { values }, None)?;
                    return Ok(UnitEnd::Done);
                }
                AttemptEnd::Halted(halt) => return Ok(UnitEnd::Halted(halt)),
                AttemptEnd::Failed(summary) => {
                    if u64::from(number) >= tries || self.stop_level() > StopLevel::Running {
                        let class = work.settings.raises;
                        self.finish(key, Outcome::Failed { class }, Some(&summary))?;
                        return Ok(UnitEnd::Failed(failure(&summary)));
                    }
                    let backoff = work.settings.retry.backoff_ms;
                    tracing::debug!(
                        attempt = number,
                        backoff_ms = backoff,
                        %summary,
                        "attempt failed; retrying"
                    );
                    if backoff > 0 {
                        self.recorder.borrow_mut().flush()?;
                        tokio::select! {
                            biased;
                            () = self.stopped(StopLevel::NoNewWork) => {}
                            () = self.clock.sleep(backoff) => {}
                        }
                    }
                }
            }
        }
    }

    fn finish(&self, key: &str, outcome: Outcome, summary: Option<&str>) -> Result<()> {
        let word = match &outcome {
            Outcome::Succeeded { .. } => "succeeded",
            Outcome::Failed { .. } => "failed",
            Outcome::Skipped {} => "skipped",
        };
        tracing::debug!(unit = key, outcome = word, summary, "unit finished");
        self.note(Fact::UnitFinished {
            unit: key.to_string(),
            outcome,
            summary: summary.map(str::to_string),
        })
    }

    /// One attempt at a unit: its actions in order, then its verifications, and its
    /// remedies when it fails. A resumed attempt (`resumed`: the commands that already
    /// succeeded) goes on after them.
    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        key: &str,
        node: &'g Node,
        work: &Work,
        host: &Option<String>,
        number: u32,
        scope: &Scope,
        resumed: Option<Vec<(Phase, usize)>>,
    ) -> Result<AttemptEnd> {
        let phase = match node.kind {
            NodeKind::Rollback { .. } => Phase::Rollback,
            _ => Phase::Run,
        };
        let started = match &resumed {
            Some(done) => {
                tracing::debug!(
                    attempt = number,
                    commands_done = done.len(),
                    "unit goes on after a resume"
                );
                self.unit_record(key).started_ms
            }
            None => {
                tracing::debug!(attempt = number, "unit begins");
                self.note(Fact::UnitStarted {
                    unit: key.to_string(),
                    node: node.id.to_string(),
                    host: host.clone(),
                    attempt: number,
                })?;
                self.now()
            }
        };
        let attempt = Attempt {
            key,
            step: &node.name,
            number,
            scope,
            deadline: work
                .settings
                .timeout_ms
                .map(|limit| started.saturating_add(limit)),
            done: resumed.unwrap_or_default(),
        };
        let mut values = None;
        let mut ran = Ran::Succeeded;
        for (index, action) in work.actions.iter().enumerate() {
            ran = match action.kind {
                // Every manual action of a step is confirmed at once, at the first.
                ActionKind::Manual if values.is_some() => Ran::Succeeded,
                ActionKind::Manual => {
                    match self.confirmation(key, node, work, host, scope).await? {
                        Ok(entered) => {
                            values = Some(entered);
                            Ran::Succeeded
                        }
                        Err(ran) => ran,
                    }
                }
                ActionKind::Run | ActionKind::Script => {
                    self.commands(&attempt, phase, std::slice::from_ref(action), index)
                        .await?
                }
            };
            if ran != Ran::Succeeded {
                break;
            }
        }
        if ran == Ran::Succeeded {
            ran = match self
                .commands(&attempt, Phase::Verify, &work.settings.verify, 0)
                .await?
            {
                Ran::Failed(why) => Ran::Failed(format!("verification failed: {why}")),
                other => other,
            };
        }
        match ran {
            Ran::Succeeded => Ok(AttemptEnd::Succeeded(values.unwrap_or_default())),
            Ran::Halted(halt) => Ok(AttemptEnd::Halted(halt)),
            Ran::Failed(summary) => {
                // Remedies run after the step's own time is up too: that is when they
                // are needed most.
                let remedies = Attempt {
                    deadline: None,
                    ..attempt
                };
                match self
                    .commands(&remedies, Phase::Remedy, &work.settings.remedy, 0)
                    .await?
                {
                    Ran::Halted(halt) => Ok(AttemptEnd::Halted(halt)),
                    Ran::Succeeded | Ran::Failed(_) => Ok(AttemptEnd::Failed(summary)),
                }
            }
        }
    }

    /// The confirmation of a manual step, from the log or from a person now, with the
    /// values it records; `Err` when the step cannot go on.
    async fn confirmation(
        &self,
        key: &str,
        node: &'g Node,
        work: &Work,
        host: &Option<String>,
        scope: &Scope,
    ) -> Result<std::result::Result<BTreeMap<String, String>, Ran>> {
        let entered = match self.unit_record(key).confirmed {
            Some(values) => values,
            None => {
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
                let wait = Wait {
                    key,
                    node: &node.id,
                    host: host.as_deref(),
                    need: Need::Confirmation,
                    text,
                    owner: self.owner_of(node),
                    records: work
                        .records
                        .iter()
                        .map(|record| record.key.as_str())
                        .collect(),
                    approval: None,
                };
                match self.ask(wait).await? {
                    Some(Answer::Confirmed(values)) => values,
                    Some(_) | None => return Ok(Err(Ran::Halted(Halt::Waiting))),
                }
            }
        };
        let missing: Vec<&str> = work
            .records
            .iter()
            .filter(|record| !entered.contains_key(&record.key))
            .map(|record| record.key.as_str())
            .collect();
        if missing.is_empty() {
            Ok(Ok(entered))
        } else {
            Ok(Err(Ran::Failed(format!(
                "confirmed without {}",
                missing.join(", ")
            ))))
        }
    }

    /// Runs commands in order until one does not succeed; those that already succeeded
    /// in this attempt (before a resume) are not run again. `first_index` is the first
    /// command's place among its step's actions.
    async fn commands(
        &self,
        attempt: &Attempt<'_>,
        phase: Phase,
        actions: &[StepAction],
        first_index: usize,
    ) -> Result<Ran> {
        for (offset, action) in actions.iter().enumerate() {
            let place = Place {
                phase,
                index: first_index + offset,
            };
            if attempt.done.contains(&(phase, place.index)) {
                continue;
            }
            let ran = match action.kind {
                ActionKind::Run => self.shell(attempt, place, action).await?,
                ActionKind::Script => self.script(attempt, place, action).await?,
                ActionKind::Manual => continue,
            };
            if ran != Ran::Succeeded {
                return Ok(ran);
            }
        }
        Ok(Ran::Succeeded)
    }

    /// Resolves when the attempt's time is up; never without a deadline.
    async fn time_up(&self, deadline: Option<u64>) {
        match deadline {
            Some(deadline) => {
                let left = deadline.saturating_sub(self.now());
                self.clock.sleep(left).await;
            }
            None => std::future::pending().await,
        }
    }

    async fn command_started(
        &self,
        attempt: &Attempt<'_>,
        place: Place,
        command: String,
    ) -> Result<()> {
        let command = self.redactor.redact(&command).into_owned();
        // Only the redacted form, as the log has it.
        tracing::debug!(phase = ?place.phase, index = place.index, %command, "command starts");
        self.note(Fact::CommandStarted {
            unit: attempt.key.to_string(),
            phase: place.phase,
            index: place.index,
            attempt: attempt.number,
            command,
        })?;
        self.synced().await
    }

    /// Returns once everything noted so far is on disk. Units that start together
    /// share one write and one sync (group commit): the first to ask lets the others
    /// note their own starts, then flushes for all; each goes on only once a flush
    /// that came after its note has ended.
    async fn synced(&self) -> Result<()> {
        let mine = self.group.generation.get();
        if !self.group.pending.replace(true) {
            tokio::task::yield_now().await;
            let flushed = self.recorder.borrow_mut().flush();
            self.group.pending.set(false);
            self.group.generation.set(mine + 1);
            if flushed.is_err() {
                self.group.broken.set(true);
            }
            return Ok(flushed?);
        }
        while self.group.generation.get() == mine {
            tokio::task::yield_now().await;
        }
        if self.group.broken.get() {
            return Err(EngineError::Store(crate::store::StoreError::Io {
                path: self.run_dir.join("events.jsonl"),
                source: std::io::Error::other(
                    "the shared write failed; the command was not started",
                ),
            }));
        }
        Ok(())
    }

    /// One shell command, announced in the log before it starts.
    async fn shell(&self, attempt: &Attempt<'_>, place: Place, action: &StepAction) -> Result<Ran> {
        let rendered = quote::render(&action.template, |name| {
            self.value(name, attempt.scope).map(std::borrow::Cow::Owned)
        });
        let shown = rendered
            .as_ref()
            .map_or(&action.text, |command| command)
            .clone();
        self.command_started(attempt, place, shown).await?;
        let started = self.now();
        let script = match rendered {
            Ok(script) => script,
            Err(error) => {
                let ended = Ended::new(ExitRecord::Error, error.to_string());
                return self.command_finished(attempt, place, started, ended);
            }
        };
        let env = self.environment(attempt.key, attempt.scope, attempt.number);
        let mut output = CommandOutput::new(
            &self.run_dir,
            attempt.key,
            place.phase,
            place.index,
            attempt.number,
            &self.redactor,
        );
        let stop = async {
            tokio::select! {
                biased;
                () = self.time_up(attempt.deadline) => StopReason::Timeout,
                () = self.stopped(StopLevel::Kill) => StopReason::Interrupt,
            }
        };
        // Output is noted as it comes; a log that cannot be written ends the run once
        // the command is over, as it would anywhere else.
        let mut unlogged = None;
        let mut on_output = |stream, bytes: &[u8]| {
            for fact in output.take(attempt.key, stream, bytes) {
                if let Err(error) = self.recorder.borrow_mut().note(self.clock.now_ms(), fact) {
                    unlogged.get_or_insert(error);
                }
            }
        };
        let exit = match self.replay {
            Some(recording) => {
                let place = replayed::CommandPlace {
                    unit: attempt.key,
                    phase: place.phase,
                    index: place.index,
                    attempt: attempt.number,
                };
                self.replayed_command(recording, place, Box::pin(stop), &mut on_output)
                    .await
            }
            None => {
                self.executor
                    .run(
                        ShellCommand {
                            run_id: &self.run_id,
                            script: &script,
                            env: &env,
                            cwd: Some(&self.work_dir),
                            step: Some(attempt.step),
                            undoing: place.phase == Phase::Rollback,
                            host: attempt.scope.host.as_deref(),
                        },
                        Box::pin(stop),
                        &mut on_output,
                    )
                    .await
            }
        };
        if let Some(error) = unlogged {
            return Err(error.into());
        }
        let mut ended = match exit {
            Ok(Exit::Code(code)) => Ended::new(ExitRecord::Code(code), format!("exit code {code}")),
            Ok(Exit::Signal(signal)) => Ended::new(
                ExitRecord::Signal(signal),
                format!("killed by signal {signal}"),
            ),
            Ok(Exit::Stopped(StopReason::Timeout)) => Ended::new(
                ExitRecord::Timeout,
                "timed out; its process group was stopped".to_string(),
            ),
            Ok(Exit::Stopped(StopReason::Interrupt)) => Ended::new(
                ExitRecord::Interrupted,
                "stopped by an interrupt".to_string(),
            ),
            Ok(Exit::Unreachable) => Ended::new(
                ExitRecord::Unreachable,
                "the host could not be reached; the command did not start".to_string(),
            ),
            Ok(Exit::ConnectionLost) => Ended::new(
                ExitRecord::ConnectionLost,
                "the connection to the host was lost while the command ran; it may have run in part"
                    .to_string(),
            ),
            Err(error) => Ended::new(
                ExitRecord::Error,
                format!("could not start the command: {error}"),
            ),
        };
        for fact in output.finish(attempt.key) {
            self.note(fact)?;
        }
        ended.full_output = output.full_output_path();
        self.command_finished(attempt, place, started, ended)
    }

    /// Logs how a command ended, and says what it means for the unit.
    fn command_finished(
        &self,
        attempt: &Attempt<'_>,
        place: Place,
        started: u64,
        ended: Ended,
    ) -> Result<Ran> {
        let duration_ms = self.now().saturating_sub(started);
        tracing::debug!(
            phase = ?place.phase,
            index = place.index,
            exit = ?ended.exit,
            duration_ms,
            "command ended"
        );
        self.note(Fact::CommandFinished {
            unit: attempt.key.to_string(),
            phase: place.phase,
            index: place.index,
            attempt: attempt.number,
            exit: ended.exit,
            duration_ms,
            full_output: ended.full_output,
        })?;
        Ok(match ended.exit {
            ExitRecord::Code(0) => Ran::Succeeded,
            ExitRecord::Interrupted => Ran::Halted(Halt::Interrupted),
            _ => {
                let why = self.redactor.redact(&ended.summary).into_owned();
                Ran::Failed(format!(
                    "{} {}: {why}",
                    phase_word(place.phase),
                    place.index + 1
                ))
            }
        })
    }

    /// One sandboxed Rhai script, run on a blocking thread; a timeout or an interrupt
    /// cancels it between two of its operations.
    async fn script(
        &self,
        attempt: &Attempt<'_>,
        place: Place,
        action: &StepAction,
    ) -> Result<Ran> {
        self.command_started(attempt, place, action.text.clone())
            .await?;
        let started = self.now();
        let values = self.script_values(attempt.scope);
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
        let stopped = tokio::select! {
            biased;
            result = &mut job => Err(result),
            () = self.time_up(attempt.deadline) => Ok(ExitRecord::Timeout),
            () = self.stopped(StopLevel::Kill) => Ok(ExitRecord::Interrupted),
        };
        let ended = match stopped {
            Ok(reason) => {
                cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                let _ = job.await;
                let why = if reason == ExitRecord::Timeout {
                    "timed out"
                } else {
                    "stopped by an interrupt"
                };
                Ended::new(reason, why.to_string())
            }
            Err(Ok(Ok(outcome))) => {
                let mut printed = outcome.printed;
                if !outcome.value.is_empty() {
                    printed.push(format!("=> {}", outcome.value));
                }
                for line in printed {
                    self.note(Fact::Output {
                        unit: attempt.key.to_string(),
                        stream: "stdout".to_string(),
                        text: self.redactor.redact(&line).into_owned(),
                    })?;
                }
                Ended::new(ExitRecord::Code(0), String::new())
            }
            Err(Ok(Err(error))) => Ended::new(ExitRecord::Error, format!("script: {error}")),
            Err(Err(error)) => {
                Ended::new(ExitRecord::Error, format!("script did not run: {error}"))
            }
        };
        self.command_finished(attempt, place, started, ended)
    }

    /// Who is expected to answer for a node: its owner, or (for an undo) its step's.
    fn owner_of(&self, node: &Node) -> Option<&'g str> {
        self.graph
            .node(&node.id)
            .and_then(|own| own.owner.as_deref())
            .or_else(|| {
                self.graph
                    .node(&node.name)
                    .and_then(|step| step.owner.as_deref())
            })
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
            tracing::debug!(unit = %key, duration_ms, "timer begins");
            self.commit(Fact::UnitStarted {
                unit: key.clone(),
                node: node.id.to_string(),
                host: None,
                attempt: 1,
            })?;
            self.now()
        };
        let left = since.saturating_add(duration_ms).saturating_sub(self.now());
        tokio::select! {
            biased;
            () = self.stopped(StopLevel::NoNewWork) => return Ok(NodeEnd::Halted(Halt::Interrupted)),
            () = self.clock.sleep(left) => {}
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
            // A policy that paused or ended the run, from a branch beside this one (a
            // watch over the rollout), holds every wave not yet begun.
            if let Some(held) = self.held.get() {
                return Ok(NodeEnd::Halted(held));
            }
            let range_start = range.start;
            let hosts: Vec<String> = plan.hosts[range].to_vec();
            tracing::debug!(
                waves = %node.name,
                wave = index + 1,
                count,
                hosts = hosts.len(),
                "wave begins"
            );
            let started_key = wave_key(&node.name, index);
            let finished_key = format!("{started_key}/finished");
            if self.marked(&finished_key) {
                continue;
            }
            if index > 0 && plan.pause_ms > 0 && !self.marked(&started_key) {
                if let Some(halt) = self.pause_before(node, index, plan.pause_ms).await? {
                    return Ok(NodeEnd::Halted(halt));
                }
            }
            if index == 0 && !self.marked(&started_key) {
                self.take_baseline(&node.name).await?;
            }
            if !self.marked(&started_key) {
                self.note(Fact::WaveStarted {
                    waves: node.name.to_string(),
                    index,
                    count,
                    hosts: hosts.clone(),
                })?;
            }
            // A resumed run does not log again the wave it is in: the display is told.
            self.recorder.borrow_mut().reporter().wave(
                &node.name,
                index,
                count,
                &hosts,
                range_start,
                plan.hosts.len(),
            );
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
            let done = wave.hosts.len().saturating_sub(failed.len());
            self.note(Fact::WaveFinished {
                waves: node.name.to_string(),
                index,
                failed,
            })?;
            self.event(EventKind::Wave, None, &finished_key, &wave_scope, || {
                format!(
                    "{}: wave {} of {count} done, {done} host{} upgraded",
                    node.name,
                    index + 1,
                    if done == 1 { "" } else { "s" }
                )
            })?;
        }
        Ok(NodeEnd::Done)
    }

    fn record_failure(&self, failure: &Failure) -> Result<()> {
        if self.marked(&failure.key) {
            return Ok(());
        }
        self.note(Fact::Failure {
            key: failure.key.clone(),
            class: failure.class,
            node: failure.node.clone(),
            host: failure.host.clone(),
            summary: failure.summary.clone(),
        })?;
        let scope = Scope {
            failure: Some(failure.clone().into()),
            ..Scope::default()
        };
        self.event(
            EventKind::Failure,
            Some(failure.class),
            &failure.key,
            &scope,
            || {
                let on = failure
                    .host
                    .as_deref()
                    .map(|host| format!(" on {host}"))
                    .unwrap_or_default();
                format!(
                    "{} failure at {}{on}: {}",
                    failure.class.word(),
                    failure.node,
                    failure.summary
                )
            },
        )?;
        self.recorder.borrow_mut().flush()?;
        Ok(())
    }

    /// A failure's policy, action by action. Without a policy for its class, the run
    /// rolls back everything it did and ends failed. A `background` step starts when the
    /// policy reaches it and runs beside the actions after it (a failover beside the
    /// rollback); the policy ends once its actions and every step it started have, as a
    /// flow ends once its branches have, however early its actions stopped.
    async fn handle_failure(&self, mut failure: Failure) -> Result<PolicyEnd> {
        self.record_failure(&failure)?;
        if let Some(summary) = self.recorder.borrow().history.failures.get(&failure.key) {
            failure.summary.clone_from(summary);
        }
        let background: Background<'_> = RefCell::new(FuturesUnordered::new());
        let mut actions = std::pin::pin!(self.policy_actions(&failure, &background));
        let mut acted: Option<PolicyEnd> = None;
        let mut halt: Option<Halt> = None;
        while acted.is_none() || !background.borrow().is_empty() {
            // The actions first: a step they start is polled in the same turn.
            tokio::select! {
                biased;
                end = &mut actions, if acted.is_none() => acted = Some(end?),
                end = next_background(&background) => {
                    if let Some(stop) = self.handler_end(end?)? {
                        halt = halt.max(Some(stop));
                    }
                }
            }
        }
        if let Some(PolicyEnd::Halt(stop)) = acted {
            halt = halt.max(Some(stop));
        }
        Ok(halt.map_or(PolicyEnd::Continue, PolicyEnd::Halt))
    }

    /// A policy's actions in order; a `background` step is handed to `background`,
    /// which runs it beside the actions that follow.
    async fn policy_actions<'a>(
        &'a self,
        failure: &Failure,
        background: &Background<'a>,
    ) -> Result<PolicyEnd> {
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
        for (index, action) in actions.iter().enumerate() {
            let key = format!("{}/{index}", failure.key);
            match action {
                Action::Continue => self.policy_action(&key, failure, "continue")?,
                Action::Pause => {
                    if !self.marked(&key) {
                        self.policy_action(&key, failure, "pause")?;
                        halt = halt.max(Some(Halt::Paused));
                        self.hold(Halt::Paused);
                    }
                }
                Action::Abort => {
                    self.policy_action(&key, failure, "abort")?;
                    halt = halt.max(Some(Halt::Aborted));
                    self.hold(Halt::Aborted);
                }
                Action::Rollback { scope } => {
                    let logged = self.recorder.borrow().history.rollbacks.get(&key).cloned();
                    let units = match logged {
                        Some(units) => units,
                        None => {
                            if let Some(stop) = self.let_undoable_units_end(*scope, failure).await {
                                return Ok(PolicyEnd::Halt(stop));
                            }
                            self.rollback_units(*scope, failure)
                        }
                    };
                    if let Some(stop) = self.saga(&key, scope.word(), units, failure).await? {
                        return Ok(PolicyEnd::Halt(stop));
                    }
                }
                Action::Notify {
                    audience,
                    channel,
                    message,
                } => {
                    let scope = Scope {
                        failure: Some(failure.clone().into()),
                        ..Scope::default()
                    };
                    let message = self.fill_plain(message, &scope);
                    self.tell(&key, audience, channel.as_deref(), &message, "failure")?;
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
                        background
                            .borrow_mut()
                            .push(Box::pin(async move { self.node(handler, &scope).await }));
                        // It starts now, before the next action: the policy is polled
                        // again once the step has begun.
                        tokio::task::yield_now().await;
                    } else {
                        let end = self.node(handler, &scope).await?;
                        if let Some(stop) = self.handler_end(end)? {
                            halt = halt.max(Some(stop));
                        }
                    }
                }
                Action::Approve(approval) => {
                    let scope = Scope {
                        failure: Some(failure.clone().into()),
                        ..Scope::default()
                    };
                    let node = format!("failure:{}", failure.class.word());
                    let question = gate::Question {
                        unit: &key,
                        node: &node,
                        approval,
                        text: approval.reason.as_deref().map_or_else(
                            || format!("{}: {}", failure.node, failure.summary),
                            |reason| self.fill_plain(reason, &scope),
                        ),
                        owner: None,
                        ask_again: true,
                    };
                    match self.approval(question).await? {
                        gate::Verdict::Approved => {}
                        gate::Verdict::Rejected(why) => {
                            // The rest of the policy is not taken: people decide.
                            tracing::info!(%why, "a failure policy's approval was rejected");
                            return Ok(PolicyEnd::Halt(
                                halt.map_or(Halt::Paused, |stop| stop.max(Halt::Paused)),
                            ));
                        }
                        gate::Verdict::Halted(stop) => return Ok(PolicyEnd::Halt(stop)),
                    }
                }
            }
        }
        Ok(halt.map_or(PolicyEnd::Continue, PolicyEnd::Halt))
    }

    /// What a node's end means for the flow: whether the nodes after it may start, and
    /// why the flow stops, if it does. A failure's policy is taken here, one policy at a
    /// time.
    async fn answer(&self, end: NodeEnd) -> Result<(bool, Option<Halt>)> {
        match end {
            NodeEnd::Done => Ok((true, None)),
            NodeEnd::Failed(failures) => {
                let _one_at_a_time = self.policies.lock().await;
                let mut carry_on = true;
                let mut halt = None;
                for failure in failures {
                    if let PolicyEnd::Halt(stop) = self.handle_failure(failure).await? {
                        carry_on = false;
                        halt = halt.max(Some(stop));
                    }
                }
                Ok((carry_on, halt))
            }
            NodeEnd::Rejected(failure) => {
                // Whatever its policy says, the flow does not pass a gate that was
                // refused: the run ends once the policy has run. A policy stopped halfway
                // (waiting for a person, interrupted) is left to finish on resume.
                let _one_at_a_time = self.policies.lock().await;
                let stop = match self.handle_failure(failure).await? {
                    PolicyEnd::Halt(stop @ (Halt::Waiting | Halt::Interrupted)) => stop,
                    PolicyEnd::Halt(stop) => stop.max(Halt::Aborted),
                    PolicyEnd::Continue => Halt::Aborted,
                };
                Ok((false, Some(stop)))
            }
            NodeEnd::Halted(stop) => Ok((false, Some(stop))),
        }
    }

    /// A handler step that fails is logged and pauses the run; it does not start a
    /// policy of its own.
    fn handler_end(&self, end: NodeEnd) -> Result<Option<Halt>> {
        match end {
            NodeEnd::Done => Ok(None),
            NodeEnd::Halted(halt) => Ok(Some(halt)),
            NodeEnd::Rejected(failure) => {
                self.record_failure(&failure)?;
                Ok(Some(Halt::Paused))
            }
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
    /// has a rollback not yet run; never the policy's own steps.
    fn rollback_units(&self, scope: RollbackScope, failure: &Failure) -> Vec<String> {
        let mut units = Vec::new();
        if self.undoable(&failure.unit) && self.may_have_changed(&failure.unit) {
            units.push(failure.unit.clone());
        }
        let recorder = self.recorder.borrow();
        let history = &recorder.history;
        for unit in history.completed.iter().rev() {
            if unit.starts_with(ROLLBACK_PREFIX) || units.contains(unit) {
                continue;
            }
            if self.undoable(unit)
                && self.in_rollback_scope(scope, failure, unit)
                && !own_step(unit, failure)
                && !rolled_back(history, unit)
            {
                units.push(unit.clone());
            }
        }
        units
    }

    /// Whether `unit` may have changed something: a unit whose host was never reached
    /// (every command of it `unreachable`) has nothing to undo, and undoing it would
    /// only fail to reach the host again.
    fn may_have_changed(&self, unit: &str) -> bool {
        self.recorder
            .borrow()
            .history
            .unit(unit)
            .is_none_or(|record| record.reached || record.in_flight.is_some())
    }

    /// Whether `unit`'s step has a rollback.
    fn undoable(&self, unit: &str) -> bool {
        self.recorder
            .borrow()
            .history
            .unit(unit)
            .and_then(|record| self.graph.node(&record.node))
            .and_then(Node::work)
            .is_some_and(|work| work.settings.rollback.is_some())
    }

    /// Whether a rollback of `scope`, for `failure`, concerns `unit`.
    fn in_rollback_scope(&self, scope: RollbackScope, failure: &Failure, unit: &str) -> bool {
        let recorder = self.recorder.borrow();
        let history = &recorder.history;
        let Some(record) = history.unit(unit) else {
            return false;
        };
        match scope {
            RollbackScope::All => true,
            RollbackScope::Step => unit == failure.unit,
            RollbackScope::Hosts | RollbackScope::Wave => {
                // A failure of no host (a watch's breach, a gate) is the wave's: its
                // hosts are the ones the change was on. Raised outside the rollout (a
                // watch beside it), it concerns the wave in progress.
                let (waves, hosts, failed): (&str, &[String], Vec<String>) =
                    match (&failure.wave, &history.wave_in_progress) {
                        (Some(wave), _) => (&wave.waves, &wave.hosts, wave.failed.borrow().clone()),
                        (None, Some((waves, _, hosts))) if failure.host.is_none() => {
                            (waves, hosts, Vec::new())
                        }
                        _ => return unit == failure.unit,
                    };
                let parent_is_wave = self
                    .graph
                    .node(&record.node)
                    .and_then(|node| node.parent.as_deref())
                    .is_some_and(|parent| parent == waves);
                let whole_wave = scope == RollbackScope::Wave || failure.host.is_none();
                let host_in = |host: &String| {
                    if whole_wave {
                        hosts.contains(host)
                    } else {
                        failure.host.as_ref() == Some(host) || failed.contains(host)
                    }
                };
                parent_is_wave && record.host.as_ref().is_some_and(host_in)
            }
        }
    }

    /// Before a policy's rollback: waits until no unit it would undo is still running
    /// in another branch (a watch's breach comes while the wave's hosts are mid-step), so
    /// what those units change is undone too, and nothing runs forward on a host while
    /// it is rolled back. The flow is held by then, so nothing new begins. `Some` when
    /// the run is stopped meanwhile.
    async fn let_undoable_units_end(
        &self,
        scope: RollbackScope,
        failure: &Failure,
    ) -> Option<Halt> {
        loop {
            let changed = self.changed.notified();
            let busy = self.running.borrow().iter().any(|unit| {
                *unit != failure.unit
                    && !own_step(unit, failure)
                    && self.undoable(unit)
                    && self.in_rollback_scope(scope, failure, unit)
            });
            if !busy {
                return None;
            }
            tokio::select! {
                biased;
                () = changed => {}
                () = self.stopped(StopLevel::NoNewWork) => return Some(Halt::Interrupted),
            }
        }
    }

    /// Undoes `units` in order (newest first). Each undo is a unit of its own, logged and
    /// resumable; the first that fails stops the saga (`RollbackFailed`): undoing more
    /// around a host that could not be restored may do more harm, so people take over.
    async fn saga(
        &self,
        key: &str,
        scope: &str,
        units: Vec<String>,
        failure: &Failure,
    ) -> Result<Option<Halt>> {
        // The rollback's messages may quote the failure it answers.
        let told = Scope {
            failure: Some(failure.clone().into()),
            ..Scope::default()
        };
        if self.marked(&format!("{key}/finished")) {
            return Ok(None);
        }
        if !self.marked(key) {
            self.note(Fact::RollbackStarted {
                key: key.to_string(),
                scope: scope.to_string(),
                units: units.clone(),
            })?;
            self.event(EventKind::Rollback, None, key, &told, || {
                format!(
                    "{}: rollback ({scope}) of {} unit(s) started",
                    self.title,
                    units.len()
                )
            })?;
            self.recorder.borrow_mut().flush()?;
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
                    self.note(Fact::RollbackFinished {
                        key: key.to_string(),
                        succeeded: false,
                    })?;
                    let ended = format!("{key}/finished");
                    self.event(EventKind::Rollback, None, &ended, &told, || {
                        format!(
                            "{}: A ROLLBACK FAILED at {unit}: people must take over",
                            self.title
                        )
                    })?;
                    self.recorder.borrow_mut().flush()?;
                    return Ok(Some(Halt::RollbackFailed));
                }
                UnitEnd::Halted(halt) => return Ok(Some(halt)),
            }
        }
        self.note(Fact::RollbackFinished {
            key: key.to_string(),
            succeeded: true,
        })?;
        let ended = format!("{key}/finished");
        self.event(EventKind::Rollback, None, &ended, &told, || {
            format!("{}: rollback ({scope}) done", self.title)
        })?;
        self.recorder.borrow_mut().flush()?;
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

/// The waves block and index a `wave_key` names.
pub fn parse_wave_key(key: &str) -> Option<(String, usize)> {
    let (waves, index) = key.strip_prefix("wave:")?.rsplit_once('#')?;
    Some((waves.to_string(), index.parse().ok()?))
}

/// A unit executing now: listed in `Run::running` for as long as it lives.
struct Running<'r, 'g> {
    run: &'r Run<'g>,
    key: String,
}

impl<'r, 'g> Running<'r, 'g> {
    fn new(run: &'r Run<'g>, key: &str) -> Self {
        run.running.borrow_mut().insert(key.to_string());
        Self {
            run,
            key: key.to_string(),
        }
    }
}

impl Drop for Running<'_, '_> {
    fn drop(&mut self) {
        self.run.running.borrow_mut().remove(&self.key);
        self.run.changed.notify_waiters();
    }
}

/// Whether `unit` is one of the steps of `failure`'s own policy (`NODE!FAILURE`, on a
/// host after `@`). The policy's rollback neither waits for nor undoes them: they are
/// its recovery, and a `background` one (a failover) runs beside the rollback.
fn own_step(unit: &str, failure: &Failure) -> bool {
    unit.split_once('!')
        .and_then(|(_, handler)| handler.strip_prefix(&*failure.key))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('@'))
}

fn rolled_back(history: &super::history::History, unit: &str) -> bool {
    let key = format!("{ROLLBACK_PREFIX}{unit}");
    history
        .unit(&key)
        .is_some_and(|record| matches!(record.outcome, Some(Outcome::Succeeded { .. })))
}

/// Whether the command at `place` of a unit's work is a Rhai script, outside a remedy
/// (a remedy runs after the step failed, so going on from it is not the same attempt).
fn is_sandboxed_script(work: &Work, (phase, index): (Phase, usize)) -> bool {
    let actions = match phase {
        Phase::Run | Phase::Rollback => &work.actions,
        Phase::Verify => &work.settings.verify,
        Phase::Remedy => return false,
    };
    actions
        .get(index)
        .is_some_and(|action| action.kind == ActionKind::Script)
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
