//! Lowering a checked runbook's AST to the graph, item by item in file order.
//!
//! The checker has already refused every mistake a user can make, so whatever this
//! module finds wrong (an unknown name, two nodes with one name, a step that does
//! nothing) is a bug in the checker or here: an `InternalError`, never a diagnostic.
//! Settings written twice are refused by the checker too; here the first one counts.

use std::collections::BTreeSet;

use ahash::{AHashMap as HashMap, AHashSet as HashSet};

use super::declaration::{
    Audience, Channel, ChannelKind, Event, Header, Inventory, InventorySource, LabelMatch,
    Objective, Param, Postmortem, Probe, ProbeSource, Role, Secret, SecretSource, Shipped,
    Subscription, Trigger, Value,
};
use super::edge::{Edge, EdgeKind};
use super::graph::Graph;
use super::node::{
    rollback_id, ActionKind, Approval, Budget, Name, Node, NodeKind, Poll, Record, Requirement,
    Retry, Stage, StepAction, StepSettings, Target, Work,
};
use super::policy::{Action, Policy};
use crate::ast::{self, FailureClass, TimeoutAction};
use crate::internal::InternalError;
use crate::source::Span;

type Result<T> = std::result::Result<T, InternalError>;

pub(super) fn lower(runbook: &ast::Runbook) -> Result<Graph> {
    let names = Names::collect(runbook)?;
    let header = header(runbook);
    // Sized once: a graph has hundreds of thousands of nodes when a runbook is large.
    let node_count = names.nodes.len() + names.rollbacks;
    let mut lowering = Lowering {
        names,
        interned: HashMap::with_capacity(node_count),
        default_timeout_ms: header.default_timeout_ms,
        graph: Graph {
            header,
            roles: Vec::new(),
            audiences: Vec::new(),
            inventories: Vec::new(),
            shipped: Vec::new(),
            params: Vec::new(),
            secrets: Vec::new(),
            probes: Vec::new(),
            channels: Vec::new(),
            subscriptions: Vec::new(),
            nodes: Vec::with_capacity(node_count),
            edges: Vec::new(),
            policies: Vec::new(),
        },
    };
    lowering.items(&runbook.items)?;
    let mut graph = lowering.graph;
    debug_assert_eq!(graph.nodes.len(), node_count, "nodes foreseen and made");
    graph.edges.shrink_to_fit();
    Ok(graph)
}

fn broken(message: impl Into<String>, span: Span) -> InternalError {
    InternalError::new("compile", message, Some(span))
}

/// The names a node may refer to, gathered before any node is lowered so that
/// `after` may name a node written further down.
struct Names<'a> {
    nodes: HashSet<&'a str>,
    /// Steps with a `rollback`, each of which adds a rollback node.
    rollbacks: usize,
    inventories: BTreeSet<&'a str>,
    waves: BTreeSet<&'a str>,
}

impl<'a> Names<'a> {
    fn collect(runbook: &'a ast::Runbook) -> Result<Self> {
        let mut names = Names {
            nodes: HashSet::with_capacity(runbook.items.len()),
            rollbacks: 0,
            inventories: BTreeSet::new(),
            waves: BTreeSet::new(),
        };
        for item in &runbook.items {
            match item {
                ast::Item::Inventory(inventory) => {
                    names.inventories.insert(&inventory.name.name);
                }
                ast::Item::Step(step) => names.step(step)?,
                ast::Item::Gate(gate) => names.node(&gate.name)?,
                ast::Item::Timer(timer) => names.node(&timer.name)?,
                ast::Item::Watch(watch) => names.node(&watch.name)?,
                ast::Item::Waves(waves) => {
                    names.node(&waves.name)?;
                    names.waves.insert(&waves.name.name);
                    for entry in &waves.entries {
                        match &entry.kind {
                            ast::WavesEntryKind::Step(step) => names.step(step)?,
                            ast::WavesEntryKind::Gate(gate) => names.node(&gate.name)?,
                            ast::WavesEntryKind::Timer(timer) => names.node(&timer.name)?,
                            ast::WavesEntryKind::Watch(watch) => names.node(&watch.name)?,
                            _ => {}
                        }
                    }
                }
                ast::Item::Policy(policy) => {
                    for action in &policy.actions {
                        if let ast::Action::Step(step) = action {
                            names.step(step)?;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(names)
    }

    fn step(&mut self, step: &'a ast::Step) -> Result<()> {
        let undone = step
            .entries
            .iter()
            .any(|entry| matches!(entry.kind, ast::StepEntryKind::Rollback(_)));
        self.rollbacks += usize::from(undone);
        self.node(&step.name)
    }

    fn node(&mut self, name: &'a ast::Ident) -> Result<()> {
        if self.nodes.insert(&name.name) {
            Ok(())
        } else {
            Err(broken(
                format!("two nodes are named `{}`", name.name),
                name.span,
            ))
        }
    }
}

/// Where a node is written, which decides its default target and its implicit edge.
#[derive(Debug, Clone, Copy)]
enum Place<'a> {
    /// The plan's own flow.
    Main,
    /// The body of the named waves block.
    Body(&'a str),
    /// A step of the policy for this failure class.
    Handler(FailureClass),
}

/// The node before the next one in a block: a node without `after` waits for it.
type Previous = Option<Name>;

struct Lowering<'a> {
    names: Names<'a>,
    /// Every name lowered so far, so each is allocated once however often it is used.
    interned: HashMap<&'a str, Name>,
    default_timeout_ms: Option<u64>,
    graph: Graph,
}

impl<'a> Lowering<'a> {
    fn name(&mut self, name: &'a str) -> Name {
        self.interned
            .entry(name)
            .or_insert_with(|| name.into())
            .clone()
    }

    /// A node as written in `place`.
    fn node(
        &mut self,
        name: &'a ast::Ident,
        description: &Option<ast::Text>,
        owner: Option<Name>,
        place: Place<'a>,
        span: Span,
        kind: NodeKind,
    ) -> Node {
        let id = self.name(&name.name);
        Node {
            id: id.clone(),
            name: id,
            description: text(description),
            owner,
            span,
            parent: match place {
                Place::Body(waves) => Some(self.name(waves)),
                Place::Main | Place::Handler(_) => None,
            },
            handles: match place {
                Place::Handler(class) => Some(class),
                Place::Main | Place::Body(_) => None,
            },
            kind,
        }
    }

    fn items(&mut self, items: &'a [ast::Item]) -> Result<()> {
        let mut previous = None;
        for item in items {
            match item {
                ast::Item::Role(role) => self.graph.roles.push(Role {
                    name: role.name.name.clone(),
                    description: text(&role.description),
                    span: role.span,
                }),
                ast::Item::Audience(audience) => self.graph.audiences.push(Audience {
                    name: audience.name.name.clone(),
                    description: text(&audience.description),
                    span: audience.span,
                }),
                ast::Item::Inventory(inventory) => {
                    self.graph.inventories.push(self::inventory(inventory))
                }
                ast::Item::Ship(ship) => self.graph.shipped.push(Shipped {
                    path: ship.path.value.clone(),
                    span: ship.span,
                }),
                ast::Item::Param(param) => self.graph.params.push(self::param(param)),
                ast::Item::Secret(secret) => self.graph.secrets.push(self::secret(secret)),
                ast::Item::Probe(probe) => self.graph.probes.push(self::probe(probe)),
                ast::Item::Channel(channel) => self.graph.channels.push(self::channel(channel)),
                ast::Item::Notify(notify) => {
                    self.graph.subscriptions.push(subscription(notify));
                }
                ast::Item::Policy(policy) => {
                    let policy = self.policy(policy)?;
                    self.graph.policies.push(policy);
                }
                ast::Item::Step(step) => self.step(step, Place::Main, &mut previous)?,
                ast::Item::Gate(gate) => self.gate(gate, Place::Main, &mut previous)?,
                ast::Item::Timer(timer) => self.timer(timer, Place::Main, &mut previous)?,
                ast::Item::Watch(watch) => self.watch(watch, Place::Main, &mut previous)?,
                ast::Item::Waves(waves) => self.waves(waves, &mut previous)?,
            }
        }
        Ok(())
    }

    /// Adds a node with the edges into it: exactly its `after` names when it has any,
    /// else the node before it in its block.
    fn place(
        &mut self,
        node: Node,
        after: &[&'a ast::Ident],
        previous: &mut Previous,
    ) -> Result<()> {
        let id = node.id.clone();
        self.graph.nodes.push(node);
        if after.is_empty() {
            if let Some(from) = previous.take() {
                self.edge(from, id.clone(), EdgeKind::Order);
            }
        } else {
            for (index, name) in after.iter().enumerate() {
                if !self.names.nodes.contains(name.name.as_str()) {
                    return Err(broken(
                        format!("`{id}` comes after `{}`, which is not a node", name.name),
                        name.span,
                    ));
                }
                // A name written twice is one edge; `after` lists are short.
                let repeated = after[..index]
                    .iter()
                    .any(|earlier| earlier.name == name.name);
                if !repeated {
                    let from = self.name(&name.name);
                    self.edge(from, id.clone(), EdgeKind::Dependency);
                }
            }
        }
        *previous = Some(id);
        Ok(())
    }

    fn edge(&mut self, from: Name, to: Name, kind: EdgeKind) {
        self.graph.edges.push(Edge { from, to, kind });
    }

    fn step(
        &mut self,
        step: &'a ast::Step,
        place: Place<'a>,
        previous: &mut Previous,
    ) -> Result<()> {
        use ast::StepEntryKind as Entry;

        let mut owner = None;
        let mut target = None;
        let mut parallel = None;
        let mut timeout_ms = None;
        let mut retry = None;
        let mut raises = None;
        let mut irreversible = None;
        let mut rollback = None;
        let (mut idempotent, mut readonly, mut backup, mut background) =
            (false, false, false, false);
        let mut after = Vec::new();
        let (mut actions, mut records) = (Vec::new(), Vec::new());
        let (mut verify, mut remedy, mut expect) = (Vec::new(), Vec::new(), Vec::new());
        for entry in &step.entries {
            match &entry.kind {
                Entry::Owner(name) => {
                    if owner.is_none() {
                        owner = Some(self.name(&name.name));
                    }
                }
                Entry::On(inventory) => {
                    if target.is_none() {
                        target = Some(Target::Inventory {
                            inventory: self.name(&inventory.name),
                        });
                    }
                }
                Entry::OnSample { share, of } => {
                    let sample = self.sample(share.value, of)?;
                    target.get_or_insert(sample);
                }
                Entry::Parallel(count) => {
                    parallel.get_or_insert(count.value);
                }
                Entry::Timeout(duration) => {
                    timeout_ms.get_or_insert(duration.millis);
                }
                Entry::Retry { attempts, backoff } => {
                    retry.get_or_insert(Retry {
                        attempts: attempts.value,
                        backoff_ms: backoff.map_or(0, |backoff| backoff.millis),
                    });
                }
                Entry::Idempotent => idempotent = true,
                Entry::Irreversible(reason) => {
                    irreversible.get_or_insert(reason.value.clone());
                }
                Entry::Readonly => readonly = true,
                Entry::Background => background = true,
                Entry::After(names) => after.extend(names),
                Entry::Raises(class) => {
                    raises.get_or_insert(class.value);
                }
                Entry::Backup => backup = true,
                Entry::Run(command) => actions.push(StepAction::new(ActionKind::Run, command)),
                Entry::Script(source) => actions.push(StepAction::new(ActionKind::Script, source)),
                Entry::Manual(instructions) => {
                    actions.push(StepAction::new(ActionKind::Manual, instructions));
                }
                Entry::Record { key, prompt } => records.push(Record {
                    key: key.name.clone(),
                    prompt: text(prompt),
                }),
                Entry::Expect(what) => expect.push(what.value.clone()),
                Entry::Remedy(command) => remedy.push(StepAction::new(ActionKind::Run, command)),
                Entry::Verify(command) => verify.push(StepAction::new(ActionKind::Run, command)),
                Entry::Rollback(undo) => {
                    rollback.get_or_insert((undo, entry.span));
                }
            }
        }
        let name = &step.name.name;
        if background && !matches!(place, Place::Handler(_)) {
            return Err(broken(
                format!("step `{name}` is marked background outside a failure policy"),
                step.span,
            ));
        }
        let settings = StepSettings {
            target: target.unwrap_or(match place {
                Place::Body(_) => Target::Wave,
                Place::Main | Place::Handler(_) => Target::Local,
            }),
            parallel,
            timeout_ms: timeout_ms.or(self.default_timeout_ms),
            retry: retry.unwrap_or(Retry {
                attempts: 0,
                backoff_ms: 0,
            }),
            raises: raises.unwrap_or(FailureClass::Functional),
            idempotent,
            irreversible,
            readonly,
            backup,
            verify,
            remedy,
            expect,
            rollback: rollback.map(|_| rollback_id(name)),
        };
        let id = self.name(name);
        if actions.is_empty() {
            return Err(broken(format!("step `{name}` does nothing"), step.span));
        }
        let undo = rollback
            .zip(settings.rollback.clone())
            .map(|((undo, span), undo_id)| {
                self.rollback(undo_id, &id, undo, span, owner.clone(), &settings)
            });
        let manual = actions
            .iter()
            .any(|action| action.kind == ActionKind::Manual);
        let scripted = actions
            .iter()
            .all(|action| action.kind == ActionKind::Script);
        let work = Box::new(Work {
            actions,
            records,
            settings,
        });
        let kind = if manual {
            NodeKind::Manual(work)
        } else if scripted {
            NodeKind::Script(work)
        } else {
            NodeKind::Step(work)
        };
        let node = self.node(&step.name, &step.description, owner, place, step.span, kind);
        self.place(node, &after, previous)?;
        if let Some(node) = undo {
            let undo_id = node.id.clone();
            self.graph.nodes.push(node);
            self.edge(id, undo_id, EdgeKind::Rollback);
        }
        Ok(())
    }

    /// `on sample 10% of NAME`: NAME is an inventory or a waves block.
    fn sample(&mut self, percent: f64, of: &'a ast::Ident) -> Result<Target> {
        let name = of.name.as_str();
        if self.names.inventories.contains(name) {
            Ok(Target::SampleOfInventory {
                percent,
                inventory: self.name(name),
            })
        } else if self.names.waves.contains(name) {
            Ok(Target::SampleOfWaves {
                percent,
                waves: self.name(name),
            })
        } else {
            Err(broken(
                format!("`{name}` is sampled but is neither an inventory nor a waves block"),
                of.span,
            ))
        }
    }

    /// The node that undoes `step`, run where the step ran. Its time limit is its
    /// block's `timeout`, else the step's (which is the step's own or the header's):
    /// the same rule the checker uses to prove the objectives.
    fn rollback(
        &self,
        id: Name,
        step: &Name,
        undo: &ast::Rollback,
        span: Span,
        owner: Option<Name>,
        settings: &StepSettings,
    ) -> Node {
        let mut actions = Vec::new();
        let mut timeout_ms = None;
        match undo {
            ast::Rollback::Command(command) => {
                actions.push(StepAction::new(ActionKind::Run, command))
            }
            ast::Rollback::Block { entries, .. } => {
                for entry in entries {
                    match &entry.kind {
                        ast::RollbackEntryKind::Run(command) => {
                            actions.push(StepAction::new(ActionKind::Run, command));
                        }
                        ast::RollbackEntryKind::Script(source) => {
                            actions.push(StepAction::new(ActionKind::Script, source));
                        }
                        ast::RollbackEntryKind::Manual(instructions) => {
                            actions.push(StepAction::new(ActionKind::Manual, instructions));
                        }
                        ast::RollbackEntryKind::Timeout(duration) => {
                            timeout_ms.get_or_insert(duration.millis);
                        }
                    }
                }
            }
        }
        Node {
            id,
            name: step.clone(),
            description: None,
            owner,
            span,
            parent: None,
            handles: None,
            kind: NodeKind::Rollback {
                actions,
                timeout_ms: timeout_ms.or(settings.timeout_ms),
                target: settings.target.clone(),
            },
        }
    }

    fn gate(
        &mut self,
        gate: &'a ast::Gate,
        place: Place<'a>,
        previous: &mut Previous,
    ) -> Result<()> {
        use ast::GateEntryKind as Entry;

        let mut owner = None;
        let mut after = Vec::new();
        let mut approvals = Vec::new();
        let mut conditions = Vec::new();
        let mut poll = None;
        for entry in &gate.entries {
            match &entry.kind {
                Entry::Owner(name) => {
                    if owner.is_none() {
                        owner = Some(self.name(&name.name));
                    }
                }
                Entry::After(names) => after.extend(names),
                Entry::Approve(approve) => approvals.push(approval(approve)),
                Entry::Require(require) => conditions.push(requirement(require)),
                Entry::Poll { interval, limit } => {
                    poll.get_or_insert(Poll {
                        interval_ms: interval.millis,
                        limit_ms: limit.millis,
                    });
                }
            }
        }
        let kind = NodeKind::Gate {
            approvals,
            conditions,
            poll,
        };
        let node = self.node(&gate.name, &gate.description, owner, place, gate.span, kind);
        self.place(node, &after, previous)
    }

    fn timer(
        &mut self,
        timer: &'a ast::Timer,
        place: Place<'a>,
        previous: &mut Previous,
    ) -> Result<()> {
        let mut owner = None;
        let mut after = Vec::new();
        for entry in &timer.entries {
            match &entry.kind {
                ast::TimerEntryKind::Owner(name) => {
                    if owner.is_none() {
                        owner = Some(self.name(&name.name));
                    }
                }
                ast::TimerEntryKind::After(names) => after.extend(names),
            }
        }
        let kind = NodeKind::Timer {
            duration_ms: timer.duration.millis,
        };
        let node = self.node(
            &timer.name,
            &timer.description,
            owner,
            place,
            timer.span,
            kind,
        );
        self.place(node, &after, previous)
    }

    fn watch(
        &mut self,
        watch: &'a ast::Watch,
        place: Place<'a>,
        previous: &mut Previous,
    ) -> Result<()> {
        use ast::WatchEntryKind as Entry;

        let mut owner = None;
        let mut after = Vec::new();
        let mut interval_ms = None;
        let mut duration_ms = None;
        let mut requirements = Vec::new();
        for entry in &watch.entries {
            match &entry.kind {
                Entry::Owner(name) => {
                    if owner.is_none() {
                        owner = Some(self.name(&name.name));
                    }
                }
                Entry::After(names) => after.extend(names),
                Entry::Every(every) => {
                    interval_ms.get_or_insert(every.millis);
                }
                Entry::During(during) => {
                    duration_ms.get_or_insert(during.millis);
                }
                Entry::Require(require) => requirements.push(requirement(require)),
            }
        }
        let (Some(interval_ms), Some(duration_ms)) = (interval_ms, duration_ms) else {
            return Err(broken(
                format!("watch `{}` lacks `every` or `during`", watch.name.name),
                watch.span,
            ));
        };
        let kind = NodeKind::Watch {
            interval_ms,
            duration_ms,
            requirements,
        };
        let node = self.node(
            &watch.name,
            &watch.description,
            owner,
            place,
            watch.span,
            kind,
        );
        self.place(node, &after, previous)
    }

    fn waves(&mut self, waves: &'a ast::Waves, previous: &mut Previous) -> Result<()> {
        use ast::WavesEntryKind as Entry;

        let mut over = None;
        let mut stages = None;
        let mut pause_ms = None;
        let mut parallel = None;
        let mut budget = None;
        let mut after = Vec::new();
        for entry in &waves.entries {
            match &entry.kind {
                Entry::Over(inventory) => {
                    if over.is_none() {
                        over = Some(self.name(&inventory.name));
                    }
                }
                Entry::Stages(written) => {
                    stages.get_or_insert_with(|| written.iter().map(stage).collect::<Vec<_>>());
                }
                Entry::Pause(pause) => {
                    pause_ms.get_or_insert(pause.millis);
                }
                Entry::Parallel(count) => {
                    parallel.get_or_insert(count.value);
                }
                Entry::MaxFailed(max_failed) => {
                    budget.get_or_insert(match max_failed {
                        ast::Budget::Percent(percent) => Budget::Percent(percent.value),
                        ast::Budget::Count(count) => Budget::Hosts(count.value),
                    });
                }
                Entry::After(names) => after.extend(names),
                Entry::Step(_) | Entry::Gate(_) | Entry::Timer(_) | Entry::Watch(_) => {}
            }
        }
        let name = waves.name.name.as_str();
        let (Some(over), Some(stages)) = (over, stages) else {
            return Err(broken(
                format!("waves `{name}` lacks `over` or `stages`"),
                waves.span,
            ));
        };
        let kind = NodeKind::Waves {
            over,
            stages,
            pause_ms: pause_ms.unwrap_or(0),
            parallel,
            budget: budget.unwrap_or(Budget::Hosts(0)),
            body: Vec::new(),
        };
        let node = self.node(
            &waves.name,
            &waves.description,
            None,
            Place::Main,
            waves.span,
            kind,
        );
        let at = self.graph.nodes.len();
        self.place(node, &after, previous)?;

        let place = Place::Body(name);
        let mut body_previous = None;
        let mut body_ids = Vec::new();
        for entry in &waves.entries {
            let id = match &entry.kind {
                Entry::Step(step) => {
                    self.step(step, place, &mut body_previous)?;
                    &step.name.name
                }
                Entry::Gate(gate) => {
                    self.gate(gate, place, &mut body_previous)?;
                    &gate.name.name
                }
                Entry::Timer(timer) => {
                    self.timer(timer, place, &mut body_previous)?;
                    &timer.name.name
                }
                Entry::Watch(watch) => {
                    self.watch(watch, place, &mut body_previous)?;
                    &watch.name.name
                }
                _ => continue,
            };
            let id = self.name(id);
            body_ids.push(id);
        }
        if let NodeKind::Waves { body, .. } = &mut self.graph.nodes[at].kind {
            *body = body_ids;
        }
        Ok(())
    }

    fn policy(&mut self, policy: &'a ast::Policy) -> Result<Policy> {
        let class = policy.class.value;
        let mut actions = Vec::new();
        for action in &policy.actions {
            actions.push(match action {
                ast::Action::Continue { .. } => Action::Continue,
                ast::Action::Pause { .. } => Action::Pause,
                ast::Action::Abort { .. } => Action::Abort,
                ast::Action::Rollback { scope, .. } => Action::Rollback { scope: scope.value },
                ast::Action::Approve(approve) => Action::Approve(approval(approve)),
                ast::Action::Notify(message) => Action::Notify {
                    audience: message.audience.name.clone(),
                    channel: message.channel.as_ref().map(|channel| channel.name.clone()),
                    message: message.text.value.clone(),
                },
                ast::Action::Step(step) => {
                    // A handler is reached from its policy only: no block, no implicit edge.
                    self.step(step, Place::Handler(class), &mut None)?;
                    Action::Run {
                        node: step.name.name.clone(),
                        background: step
                            .entries
                            .iter()
                            .any(|entry| matches!(entry.kind, ast::StepEntryKind::Background)),
                    }
                }
            });
        }
        Ok(Policy {
            class,
            actions,
            span: policy.span,
        })
    }
}

fn text(text: &Option<ast::Text>) -> Option<String> {
    text.as_ref().map(|text| text.value.clone())
}

fn header(runbook: &ast::Runbook) -> Header {
    use ast::HeaderEntryKind as Entry;

    let written = &runbook.header;
    let mut header = Header {
        name: written.name.value.clone(),
        title: None,
        description: None,
        version: None,
        risk: None,
        objectives: Vec::new(),
        environment: None,
        change: None,
        commander: None,
        default_timeout_ms: None,
        roster: None,
        prometheus: None,
        drill_every_ms: None,
        review_every_ms: None,
        postmortem: None,
        span: written.span,
    };
    for entry in &written.entries {
        match &entry.kind {
            Entry::Title(title) => {
                header.title.get_or_insert(title.value.clone());
            }
            Entry::Description(description) => {
                header.description.get_or_insert(description.value.clone());
            }
            Entry::Version(version) => {
                header.version.get_or_insert(version.value.clone());
            }
            Entry::Risk(risk) => {
                header.risk.get_or_insert(risk.value);
            }
            Entry::Objective(objective) => header.objectives.push(Objective {
                kind: objective.kind.value,
                bound: objective.bound,
                limit_ms: objective.limit.millis,
                span: entry.span,
            }),
            Entry::Environment(environment) => {
                header.environment.get_or_insert(environment.name.clone());
            }
            Entry::Change(change) => {
                header.change.get_or_insert(change.name.clone());
            }
            Entry::Commander(role) => {
                header.commander.get_or_insert(role.name.clone());
            }
            Entry::DefaultTimeout(timeout) => {
                header.default_timeout_ms.get_or_insert(timeout.millis);
            }
            Entry::Roster(roster) => {
                header.roster.get_or_insert(roster.value.clone());
            }
            Entry::PrometheusUrl(url) => {
                header.prometheus.get_or_insert(url.value.clone());
            }
            Entry::DrillEvery(every) => {
                header.drill_every_ms.get_or_insert(every.millis);
            }
            Entry::ReviewEvery(every) => {
                header.review_every_ms.get_or_insert(every.millis);
            }
            Entry::Postmortem { by, within } => {
                header.postmortem.get_or_insert(Postmortem {
                    by: by.name.clone(),
                    within_ms: within.map(|within| within.millis),
                });
            }
        }
    }
    if header.commander.is_none() {
        let has_commander_role = runbook
            .items
            .iter()
            .any(|item| matches!(item, ast::Item::Role(role) if role.name.name == "commander"));
        if has_commander_role {
            header.commander = Some("commander".to_string());
        }
    }
    header
}

fn approval(approve: &ast::Approval) -> Approval {
    let within_ms = approve.within.map(|within| within.millis);
    Approval {
        quorum: approve.quorum.map_or(1, |quorum| quorum.value),
        roles: approve.roles.iter().map(|role| role.name.clone()).collect(),
        distinct: approve.distinct,
        within_ms,
        on_timeout: approve
            .on_timeout
            .map(|action| action.value)
            .or(within_ms.map(|_| TimeoutAction::Escalate)),
        reason: text(&approve.reason),
        span: approve.span,
    }
}

fn requirement(require: &ast::Requirement) -> Requirement {
    Requirement {
        condition: require.condition.source.trim().to_string(),
        sustain_ms: require.sustained.map(|sustained| sustained.millis),
        raises: require
            .raises
            .map_or(FailureClass::Functional, |class| class.value),
        span: require.span,
    }
}

fn stage(stage: &ast::Stage) -> Stage {
    match stage {
        ast::Stage::Percent(percent) => Stage::Percent(percent.value),
        ast::Stage::Count(count) => Stage::Hosts(count.value),
    }
}

fn inventory(inventory: &ast::Inventory) -> Inventory {
    Inventory {
        span: inventory.span,
        name: inventory.name.name.clone(),
        source: match &inventory.source {
            ast::InventorySource::File(path) => InventorySource::File {
                path: path.value.clone(),
            },
            ast::InventorySource::Hosts(hosts) => InventorySource::Hosts {
                hosts: hosts.iter().map(|host| host.value.clone()).collect(),
            },
            ast::InventorySource::Inventory(parent) => InventorySource::Inventory {
                inventory: parent.name.clone(),
            },
        },
        filter: inventory
            .filter
            .iter()
            .map(|matching| LabelMatch {
                label: matching.label.name.clone(),
                equal: matching.equal,
                value: matching.value.value.clone(),
            })
            .collect(),
    }
}

fn param(param: &ast::Param) -> Param {
    Param {
        span: param.span,
        name: param.name.name.clone(),
        ty: param.ty.value,
        default: param.default.as_ref().map(|literal| match literal {
            ast::Literal::String(text) => Value::String(text.value.clone()),
            ast::Literal::Number { value, .. } => Value::Number(*value),
            ast::Literal::Bool { value, .. } => Value::Bool(*value),
            ast::Literal::Duration(duration) => Value::DurationMs(duration.millis),
            ast::Literal::Percent(percent) => Value::Percent(percent.value),
        }),
        description: text(&param.description),
    }
}

fn secret(secret: &ast::Secret) -> Secret {
    Secret {
        span: secret.span,
        name: secret.name.name.clone(),
        source: match &secret.source {
            ast::SecretSource::Env(variable) => SecretSource::Env {
                variable: variable.value.clone(),
            },
            ast::SecretSource::File(path) => SecretSource::File {
                path: path.value.clone(),
            },
        },
    }
}

fn probe(probe: &ast::Probe) -> Probe {
    Probe {
        span: probe.span,
        name: probe.name.name.clone(),
        source: match &probe.source {
            ast::ProbeSource::Prometheus(query) => ProbeSource::Prometheus {
                query: query.value.clone(),
            },
            ast::ProbeSource::Command(command) => ProbeSource::Command {
                command: command.value.clone(),
            },
            ast::ProbeSource::Http(url) => ProbeSource::Http {
                url: url.value.clone(),
            },
        },
        json_path: text(&probe.json_path),
    }
}

fn channel(channel: &ast::Channel) -> Channel {
    Channel {
        span: channel.span,
        name: channel.name.name.clone(),
        kind: match &channel.kind {
            ast::ChannelKind::Webhook(url) => ChannelKind::Webhook {
                url: url.value.clone(),
            },
            ast::ChannelKind::Command(command) => ChannelKind::Command {
                command: command.value.clone(),
            },
            ast::ChannelKind::Log => ChannelKind::Log,
        },
    }
}

fn subscription(notify: &ast::Notify) -> Subscription {
    Subscription {
        span: notify.span,
        audience: notify.audience.name.clone(),
        channel: notify.channel.name.clone(),
        trigger: match &notify.trigger {
            ast::NotifyTrigger::Every(every) => Trigger::Every {
                interval_ms: every.millis,
            },
            ast::NotifyTrigger::On(events) => Trigger::On {
                events: events
                    .iter()
                    .map(|event| Event {
                        kind: event.kind.value,
                        class: event.class.map(|class| class.value),
                    })
                    .collect(),
            },
        },
        message: text(&notify.message),
    }
}
