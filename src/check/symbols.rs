//! The symbol table, built once from the AST: every declaration by name (first one
//! wins), every node with where it sits, and the header's settings. Passes look names
//! up here instead of walking the tree again.

use std::collections::{BTreeMap, BTreeSet};

use ahash::AHashMap as HashMap;

use crate::ast::{
    Action, Audience, Channel, Duration, Gate, GateEntryKind, HeaderEntryKind, Ident, Inventory,
    Item, Keyword, Objective, Param, Policy, Probe, Risk, Role, Runbook, Secret, Step,
    StepEntryKind, Timer, TimerEntryKind, Watch, WatchEntryKind, Waves, WavesEntryKind,
};
use crate::source::Span;

use super::facts::StepFacts;

/// A node of the plan: something the run waits on.
#[derive(Debug, Clone, Copy)]
pub(super) enum NodeRef<'a> {
    Step(&'a Step),
    Gate(&'a Gate),
    Timer(&'a Timer),
    Watch(&'a Watch),
    Waves(&'a Waves),
}

/// Where a node is written, which decides what it may depend on and when it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    /// At the top level: runs once.
    Top,
    /// Inside a waves block (the index of that block in `Symbols::nodes`): runs once a wave.
    InWaves(usize),
    /// Inside an `on failure` policy (its index in `Symbols::policies`): runs only while
    /// that failure is handled.
    Handler(usize),
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Node<'a> {
    pub node: NodeRef<'a>,
    pub place: Place,
}

/// A name declared twice in one namespace.
#[derive(Debug, Clone, Copy)]
pub(super) struct Duplicate<'a> {
    pub kind: &'static str,
    pub name: &'a Ident,
    pub first_kind: &'static str,
    pub first: &'a Ident,
}

#[derive(Debug, Default)]
pub(super) struct Symbols<'a> {
    pub risk: Option<Keyword<Risk>>,
    pub commander: Option<&'a Ident>,
    pub default_timeout: Option<Duration>,
    pub objectives: Vec<(&'a Objective, Span)>,
    pub roles: BTreeMap<&'a str, &'a Role>,
    pub audiences: BTreeMap<&'a str, &'a Audience>,
    pub inventories: BTreeMap<&'a str, &'a Inventory>,
    pub params: BTreeMap<&'a str, &'a Param>,
    pub secrets: BTreeMap<&'a str, &'a Secret>,
    pub probes: BTreeMap<&'a str, &'a Probe>,
    pub channels: BTreeMap<&'a str, &'a Channel>,
    /// Every node in file order: top-level nodes, the nodes inside each waves block
    /// right after the block, handler steps after everything else.
    pub nodes: Vec<Node<'a>>,
    /// Node index by name, first definition. Hashed: a plan may have hundreds of
    /// thousands of nodes, and a tree's lookups grow with that.
    pub node_index: HashMap<&'a str, usize>,
    pub policies: Vec<&'a Policy>,
    /// `(step, key)` for each `record KEY` of a manual step: the `{{STEP.KEY}}` values.
    pub records: BTreeSet<(&'a str, &'a str)>,
    pub duplicates: Vec<Duplicate<'a>>,
    /// Names seen so far in each namespace, with the kind of what they name.
    seen: HashMap<(Namespace, &'a str), (&'static str, &'a Ident)>,
}

/// Names in one namespace cannot repeat. Roles and audiences share one because
/// `notify NAME` takes either; params, secrets and probes share one because `{{NAME}}`
/// and conditions take any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Namespace {
    People,
    Values,
    Nodes,
    Inventories,
    Channels,
}

impl<'a> NodeRef<'a> {
    pub fn name(&self) -> &'a Ident {
        match self {
            NodeRef::Step(step) => &step.name,
            NodeRef::Gate(gate) => &gate.name,
            NodeRef::Timer(timer) => &timer.name,
            NodeRef::Watch(watch) => &watch.name,
            NodeRef::Waves(waves) => &waves.name,
        }
    }

    /// The keyword that declares this kind of node.
    pub fn kind(&self) -> &'static str {
        match self {
            NodeRef::Step(_) => "step",
            NodeRef::Gate(_) => "gate",
            NodeRef::Timer(_) => "timer",
            NodeRef::Watch(_) => "watch",
            NodeRef::Waves(_) => "waves",
        }
    }

    /// The names in its `after`, when it has one.
    pub fn after(&self) -> Option<&'a [Ident]> {
        match self {
            NodeRef::Step(step) => step.entries.iter().find_map(|entry| match &entry.kind {
                StepEntryKind::After(names) => Some(names.as_slice()),
                _ => None,
            }),
            NodeRef::Gate(gate) => gate.entries.iter().find_map(|entry| match &entry.kind {
                GateEntryKind::After(names) => Some(names.as_slice()),
                _ => None,
            }),
            NodeRef::Timer(timer) => timer.entries.iter().find_map(|entry| match &entry.kind {
                TimerEntryKind::After(names) => Some(names.as_slice()),
                _ => None,
            }),
            NodeRef::Watch(watch) => watch.entries.iter().find_map(|entry| match &entry.kind {
                WatchEntryKind::After(names) => Some(names.as_slice()),
                _ => None,
            }),
            NodeRef::Waves(waves) => waves.entries.iter().find_map(|entry| match &entry.kind {
                WavesEntryKind::After(names) => Some(names.as_slice()),
                _ => None,
            }),
        }
    }

    /// The owner role, when it has one.
    pub fn owner(&self) -> Option<&'a Ident> {
        match self {
            NodeRef::Step(step) => step.entries.iter().find_map(|entry| match &entry.kind {
                StepEntryKind::Owner(role) => Some(role),
                _ => None,
            }),
            NodeRef::Gate(gate) => gate.entries.iter().find_map(|entry| match &entry.kind {
                GateEntryKind::Owner(role) => Some(role),
                _ => None,
            }),
            NodeRef::Timer(timer) => timer.entries.iter().find_map(|entry| match &entry.kind {
                TimerEntryKind::Owner(role) => Some(role),
                _ => None,
            }),
            NodeRef::Watch(watch) => watch.entries.iter().find_map(|entry| match &entry.kind {
                WatchEntryKind::Owner(role) => Some(role),
                _ => None,
            }),
            NodeRef::Waves(_) => None,
        }
    }
}

impl<'a> Symbols<'a> {
    pub fn build(runbook: &'a Runbook) -> Self {
        // Sized once, to at least the number of nodes: growing maps of hundreds of
        // thousands of names rehashes them all at every doubling.
        let room = runbook.items.len()
            + runbook
                .items
                .iter()
                .map(|item| match item {
                    Item::Waves(waves) => waves.entries.len(),
                    _ => 0,
                })
                .sum::<usize>();
        let mut symbols = Symbols {
            nodes: Vec::with_capacity(room),
            node_index: HashMap::with_capacity(room),
            seen: HashMap::with_capacity(room),
            ..Symbols::default()
        };
        for entry in &runbook.header.entries {
            match &entry.kind {
                HeaderEntryKind::Risk(risk) => {
                    symbols.risk.get_or_insert(*risk);
                }
                HeaderEntryKind::Commander(role) => {
                    symbols.commander.get_or_insert(role);
                }
                HeaderEntryKind::DefaultTimeout(duration) => {
                    symbols.default_timeout.get_or_insert(*duration);
                }
                HeaderEntryKind::Objective(objective) => {
                    symbols.objectives.push((objective, entry.span));
                }
                _ => {}
            }
        }
        for item in &runbook.items {
            symbols.item(item);
        }
        let policies: Vec<&'a Policy> = runbook
            .items
            .iter()
            .filter_map(|item| match item {
                Item::Policy(policy) => Some(policy),
                _ => None,
            })
            .collect();
        for (index, policy) in policies.iter().enumerate() {
            for action in &policy.actions {
                if let Action::Step(step) = action {
                    symbols.add_node(NodeRef::Step(step), Place::Handler(index));
                }
            }
        }
        symbols.policies = policies;
        symbols
    }

    fn item(&mut self, item: &'a Item) {
        match item {
            Item::Role(role) => {
                if self.declare(Namespace::People, "role", &role.name) {
                    self.roles.insert(&role.name.name, role);
                }
            }
            Item::Audience(audience) => {
                if self.declare(Namespace::People, "audience", &audience.name) {
                    self.audiences.insert(&audience.name.name, audience);
                }
            }
            Item::Inventory(inventory) => {
                if self.declare(Namespace::Inventories, "inventory", &inventory.name) {
                    self.inventories.insert(&inventory.name.name, inventory);
                }
            }
            Item::Param(param) => {
                if self.declare(Namespace::Values, "param", &param.name) {
                    self.params.insert(&param.name.name, param);
                }
            }
            Item::Secret(secret) => {
                if self.declare(Namespace::Values, "secret", &secret.name) {
                    self.secrets.insert(&secret.name.name, secret);
                }
            }
            Item::Probe(probe) => {
                if self.declare(Namespace::Values, "probe", &probe.name) {
                    self.probes.insert(&probe.name.name, probe);
                }
            }
            Item::Channel(channel) => {
                if self.declare(Namespace::Channels, "channel", &channel.name) {
                    self.channels.insert(&channel.name.name, channel);
                }
            }
            Item::Step(step) => self.add_node(NodeRef::Step(step), Place::Top),
            Item::Gate(gate) => self.add_node(NodeRef::Gate(gate), Place::Top),
            Item::Timer(timer) => self.add_node(NodeRef::Timer(timer), Place::Top),
            Item::Watch(watch) => self.add_node(NodeRef::Watch(watch), Place::Top),
            Item::Waves(waves) => {
                let index = self.nodes.len();
                self.add_node(NodeRef::Waves(waves), Place::Top);
                for entry in &waves.entries {
                    let inner = match &entry.kind {
                        WavesEntryKind::Step(step) => NodeRef::Step(step),
                        WavesEntryKind::Gate(gate) => NodeRef::Gate(gate),
                        WavesEntryKind::Timer(timer) => NodeRef::Timer(timer),
                        WavesEntryKind::Watch(watch) => NodeRef::Watch(watch),
                        _ => continue,
                    };
                    self.add_node(inner, Place::InWaves(index));
                }
            }
            Item::Notify(_) | Item::Ship(_) | Item::Policy(_) => {}
        }
    }

    fn add_node(&mut self, node: NodeRef<'a>, place: Place) {
        let index = self.nodes.len();
        self.nodes.push(Node { node, place });
        if !self.declare(Namespace::Nodes, node.kind(), node.name()) {
            return;
        }
        self.node_index.insert(&node.name().name, index);
        if let NodeRef::Step(step) = node {
            if step.is_manual() {
                for key in step.records() {
                    self.records.insert((&step.name.name, &key.name));
                }
            }
        }
    }

    /// Records a declaration; false (and a duplicate) when the name is taken.
    fn declare(&mut self, namespace: Namespace, kind: &'static str, name: &'a Ident) -> bool {
        match self.seen.get(&(namespace, name.name.as_str())) {
            Some(&(first_kind, first)) => {
                self.duplicates.push(Duplicate {
                    kind,
                    name,
                    first_kind,
                    first,
                });
                false
            }
            None => {
                self.seen.insert((namespace, &name.name), (kind, name));
                true
            }
        }
    }

    pub fn node(&self, name: &str) -> Option<Node<'a>> {
        self.node_index.get(name).map(|&index| self.nodes[index])
    }

    /// Whether `name` is a role or an audience, the two things a notification can reach.
    pub fn is_person_group(&self, name: &str) -> bool {
        self.roles.contains_key(name) || self.audiences.contains_key(name)
    }

    /// The role with authority to trigger the emergency plan: the header's
    /// `commander ROLE`, else a role named `commander`.
    pub fn commander_role(&self) -> Option<&'a str> {
        match self.commander {
            Some(role) => Some(role.name.as_str()),
            None => self.roles.get_key_value("commander").map(|(name, _)| *name),
        }
    }

    /// Every waves block at the top level, by node index, in file order.
    pub fn waves_blocks(&self) -> impl Iterator<Item = (usize, &'a Waves)> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(index, node)| match node.node {
                NodeRef::Waves(waves) => Some((index, waves)),
                _ => None,
            })
    }

    /// Every step with where it sits.
    pub fn steps(&self) -> impl Iterator<Item = (&'a Step, Place)> + '_ {
        self.nodes.iter().filter_map(|node| match node.node {
            NodeRef::Step(step) => Some((step, node.place)),
            _ => None,
        })
    }

    /// Steps of the main flow (not handler steps), which are the ones rollbacks undo.
    pub fn main_steps(&self) -> impl Iterator<Item = (&'a Step, Place)> + '_ {
        self.steps()
            .filter(|(_, place)| !matches!(place, Place::Handler(_)))
    }
}
