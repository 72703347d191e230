//! The graph as indented text: what a person reads to see what the engine will run,
//! and what the snapshot tests freeze. Every resolved default is printed, so a
//! snapshot shows what the compiler decided, not only what the author wrote.

use crate::ast::{ObjectiveBound, Word};

use super::declaration::{ChannelKind, InventorySource, ProbeSource, SecretSource, Trigger, Value};
use super::edge::EdgeKind;
use super::graph::Graph;
use super::node::{
    ActionKind, Approval, Budget, Node, NodeKind, Requirement, Stage, StepAction, StepSettings,
    Target,
};
use super::policy::Action;

impl Graph {
    /// The graph as indented text, for people and snapshot tests.
    pub fn to_text(&self) -> String {
        let mut out = Out::default();
        self.header_text(&mut out);
        self.declarations_text(&mut out);
        out.section(
            "nodes",
            self.nodes
                .iter()
                .filter(|node| node.parent.is_none() && !is_rollback(node)),
            |out, node| {
                self.node_text(out, node, 1);
            },
        );
        out.section(
            "rollbacks",
            self.nodes.iter().filter(|node| is_rollback(node)),
            |out, node| {
                out.line(
                    1,
                    format!(
                        "{} undoes {}: {}",
                        node.id,
                        node.name,
                        node_settings(node).join("; ")
                    ),
                );
            },
        );
        out.section("edges", self.edges.iter(), |out, edge| {
            out.line(
                1,
                format!("{} -> {} ({})", edge.from, edge.to, edge_kind(edge.kind)),
            );
        });
        out.section("policies", self.policies.iter(), |out, policy| {
            out.line(1, format!("on failure {}", policy.class.word()));
            for action in &policy.actions {
                out.line(2, action_text(action));
            }
        });
        out.text
    }

    fn header_text(&self, out: &mut Out) {
        let header = &self.header;
        out.line(0, format!("runbook {}", quote(&header.name)));
        let optional = [
            ("title", header.title.as_deref().map(quote)),
            ("description", header.description.as_deref().map(quote)),
            ("version", header.version.as_deref().map(quote)),
            ("risk", header.risk.map(|risk| risk.word().to_string())),
            ("environment", header.environment.clone()),
            ("change", header.change.clone()),
            ("commander", header.commander.clone()),
            ("timeout", header.default_timeout_ms.map(duration)),
            ("roster", header.roster.as_deref().map(quote)),
            ("drill every", header.drill_every_ms.map(duration)),
            ("review every", header.review_every_ms.map(duration)),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                out.line(1, format!("{key} {value}"));
            }
        }
        for objective in &header.objectives {
            let bound = match objective.bound {
                ObjectiveBound::WithinOfFailure => {
                    format!("within {} of failure", duration(objective.limit_ms))
                }
                ObjectiveBound::AtMost => format!("at most {}", duration(objective.limit_ms)),
            };
            out.line(1, format!("objective {} {bound}", objective.kind.word()));
        }
        if let Some(postmortem) = &header.postmortem {
            let within = postmortem
                .within_ms
                .map(|within| format!(" within {}", duration(within)));
            out.line(
                1,
                format!(
                    "postmortem by {}{}",
                    postmortem.by,
                    within.unwrap_or_default()
                ),
            );
        }
    }

    fn declarations_text(&self, out: &mut Out) {
        out.section("roles", self.roles.iter(), |out, role| {
            out.line(1, named(&role.name, &role.description));
        });
        out.section("audiences", self.audiences.iter(), |out, audience| {
            out.line(1, named(&audience.name, &audience.description));
        });
        out.section("inventories", self.inventories.iter(), |out, inventory| {
            let source = match &inventory.source {
                InventorySource::File { path } => format!("from {}", quote(path)),
                InventorySource::Hosts { hosts } => {
                    format!(
                        "hosts [{}]",
                        hosts
                            .iter()
                            .map(|host| quote(host))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
                InventorySource::Inventory { inventory } => format!("from {inventory}"),
            };
            let filter: Vec<String> = inventory
                .filter
                .iter()
                .map(|matching| {
                    let op = if matching.equal { "=" } else { "!=" };
                    format!("{} {op} {}", matching.label, quote(&matching.value))
                })
                .collect();
            let filter = if filter.is_empty() {
                String::new()
            } else {
                format!(" where {}", filter.join(", "))
            };
            out.line(1, format!("{} {source}{filter}", inventory.name));
        });
        out.section("shipped", self.shipped.iter(), |out, shipped| {
            out.line(1, quote(&shipped.path));
        });
        out.section("params", self.params.iter(), |out, param| {
            let mut line = format!("{}: {}", param.name, param.ty.word());
            if let Some(default) = &param.default {
                line.push_str(&format!(" = {}", value(default)));
            }
            if let Some(description) = &param.description {
                line.push_str(&format!(" {}", quote(description)));
            }
            out.line(1, line);
        });
        out.section("secrets", self.secrets.iter(), |out, secret| {
            let source = match &secret.source {
                SecretSource::Env { variable } => format!("env {}", quote(variable)),
                SecretSource::File { path } => format!("file {}", quote(path)),
            };
            out.line(1, format!("{} from {source}", secret.name));
        });
        out.section("probes", self.probes.iter(), |out, probe| {
            let source = match &probe.source {
                ProbeSource::Prometheus { query } => format!("prometheus {}", quote(query)),
                ProbeSource::Command { command } => format!("command {}", quote(command)),
                ProbeSource::Http { url } => format!("http {}", quote(url)),
            };
            let json = probe
                .json_path
                .as_deref()
                .map(|path| format!(" json {}", quote(path)));
            out.line(
                1,
                format!("{} = {source}{}", probe.name, json.unwrap_or_default()),
            );
        });
        out.section("channels", self.channels.iter(), |out, channel| {
            let kind = match &channel.kind {
                ChannelKind::Webhook { url } => format!("webhook {}", quote(url)),
                ChannelKind::Command { command } => format!("command {}", quote(command)),
                ChannelKind::Log => "log".to_string(),
            };
            out.line(1, format!("{} {kind}", channel.name));
        });
        out.section(
            "subscriptions",
            self.subscriptions.iter(),
            |out, subscription| {
                let trigger = match &subscription.trigger {
                    Trigger::Every { interval_ms } => format!("every {}", duration(*interval_ms)),
                    Trigger::On { events } => {
                        let events: Vec<String> = events
                            .iter()
                            .map(|event| match event.class {
                                Some(failure) => {
                                    format!("{} {}", event.kind.word(), failure.word())
                                }
                                None => event.kind.word().to_string(),
                            })
                            .collect();
                        format!("on {}", events.join(", "))
                    }
                };
                let message = subscription
                    .message
                    .as_deref()
                    .map(|message| format!(" {}", quote(message)));
                out.line(
                    1,
                    format!(
                        "{} via {} {trigger}{}",
                        subscription.audience,
                        subscription.channel,
                        message.unwrap_or_default()
                    ),
                );
            },
        );
    }

    fn node_text(&self, out: &mut Out, node: &Node, depth: usize) {
        let description = node
            .description
            .as_deref()
            .map(|description| format!(" {}", quote(description)));
        out.line(
            depth,
            format!(
                "{} {}{}: {}",
                node.kind_name(),
                node.id,
                description.unwrap_or_default(),
                node_settings(node).join("; ")
            ),
        );
        if let NodeKind::Waves { body, .. } = &node.kind {
            for id in body {
                if let Some(child) = self.node(id) {
                    self.node_text(out, child, depth + 1);
                }
            }
        }
    }
}

/// Collects lines; a section is printed only when it has something in it.
#[derive(Default)]
struct Out {
    text: String,
}

impl Out {
    fn line(&mut self, depth: usize, line: impl AsRef<str>) {
        for _ in 0..depth {
            self.text.push_str("  ");
        }
        self.text.push_str(line.as_ref());
        self.text.push('\n');
    }

    fn section<T>(
        &mut self,
        title: &str,
        items: impl Iterator<Item = T>,
        mut print: impl FnMut(&mut Self, T),
    ) {
        let mut items = items.peekable();
        if items.peek().is_some() {
            self.line(0, title);
            for item in items {
                print(self, item);
            }
        }
    }
}

fn is_rollback(node: &Node) -> bool {
    matches!(node.kind, NodeKind::Rollback { .. })
}

/// A node's settings, each as the runbook would write it, defaults included.
fn node_settings(node: &Node) -> Vec<String> {
    let mut parts = Vec::new();
    if let Some(failure) = node.handles {
        parts.push(format!("handles {}", failure.word()));
    }
    if let Some(owner) = &node.owner {
        parts.push(format!("owner {owner}"));
    }
    match &node.kind {
        NodeKind::Step(work) | NodeKind::Script(work) | NodeKind::Manual(work) => {
            let settings = &work.settings;
            step_settings(&mut parts, settings);
            parts.extend(work.actions.iter().map(action));
            for record in &work.records {
                let prompt = record
                    .prompt
                    .as_deref()
                    .map(|prompt| format!(" {}", quote(prompt)));
                parts.push(format!(
                    "record {}{}",
                    record.key,
                    prompt.unwrap_or_default()
                ));
            }
            step_checks(&mut parts, settings);
        }
        NodeKind::Gate {
            approvals,
            conditions,
            poll,
        } => {
            parts.extend(approvals.iter().map(approval));
            parts.extend(conditions.iter().map(requirement));
            if let Some(poll) = poll {
                parts.push(format!(
                    "poll every {} for {}",
                    duration(poll.interval_ms),
                    duration(poll.limit_ms)
                ));
            }
        }
        NodeKind::Timer { duration_ms } => parts.push(format!("wait {}", duration(*duration_ms))),
        NodeKind::Watch {
            interval_ms,
            duration_ms,
            requirements,
        } => {
            parts.push(format!("every {}", duration(*interval_ms)));
            parts.push(format!("during {}", duration(*duration_ms)));
            parts.extend(requirements.iter().map(requirement));
        }
        NodeKind::Waves {
            over,
            stages,
            pause_ms,
            parallel,
            budget,
            ..
        } => {
            parts.push(format!("over {over}"));
            parts.push(format!(
                "stages [{}]",
                stages
                    .iter()
                    .map(|stage| stage_text(*stage))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            parts.push(format!("pause {}", duration(*pause_ms)));
            parts.push(format!(
                "parallel {}",
                parallel.map_or("all".to_string(), |parallel| parallel.to_string())
            ));
            parts.push(format!(
                "max_failed {}",
                match budget {
                    Budget::Percent(share) => percent(*share),
                    Budget::Hosts(hosts) => hosts.to_string(),
                }
            ));
        }
        NodeKind::Rollback {
            actions,
            timeout_ms,
            target: on,
        } => {
            parts.push(target(on));
            parts.push(timeout(*timeout_ms));
            parts.extend(actions.iter().map(action));
        }
    }
    parts
}

fn action(action: &StepAction) -> String {
    let keyword = match action.kind {
        ActionKind::Run => "run",
        ActionKind::Script => "script",
        ActionKind::Manual => "manual",
    };
    format!("{keyword} {}", quote(&action.text))
}

fn step_settings(parts: &mut Vec<String>, settings: &StepSettings) {
    parts.push(target(&settings.target));
    if let Some(parallel) = settings.parallel {
        parts.push(format!("parallel {parallel}"));
    }
    parts.push(timeout(settings.timeout_ms));
    if settings.retry.attempts > 0 {
        parts.push(format!(
            "retry {} backoff {}",
            settings.retry.attempts,
            duration(settings.retry.backoff_ms)
        ));
    }
    parts.push(format!("failure {}", settings.raises.word()));
    let flags = [
        (settings.idempotent, "idempotent"),
        (settings.readonly, "readonly"),
        (settings.backup, "backup"),
    ];
    parts.extend(
        flags
            .iter()
            .filter(|(set, _)| *set)
            .map(|(_, flag)| flag.to_string()),
    );
    if let Some(reason) = &settings.irreversible {
        parts.push(format!("irreversible {}", quote(reason)));
    }
}

fn step_checks(parts: &mut Vec<String>, settings: &StepSettings) {
    parts.extend(
        settings
            .expect
            .iter()
            .map(|what| format!("expect {}", quote(what))),
    );
    parts.extend(
        settings
            .verify
            .iter()
            .map(|command| format!("verify {}", quote(&command.text))),
    );
    parts.extend(
        settings
            .remedy
            .iter()
            .map(|command| format!("remedy {}", quote(&command.text))),
    );
    if let Some(rollback) = &settings.rollback {
        parts.push(format!("rollback {rollback}"));
    }
}

fn target(target: &Target) -> String {
    match target {
        Target::Local => "on local".to_string(),
        Target::Inventory { inventory } => format!("on {inventory}"),
        Target::Wave => "on wave".to_string(),
        Target::SampleOfInventory {
            percent: share,
            inventory,
        } => {
            format!("on sample {} of inventory {inventory}", percent(*share))
        }
        Target::SampleOfWaves {
            percent: share,
            waves,
        } => format!("on sample {} of waves {waves}", percent(*share)),
    }
}

fn timeout(timeout_ms: Option<u64>) -> String {
    match timeout_ms {
        Some(timeout) => format!("timeout {}", duration(timeout)),
        None => "no timeout".to_string(),
    }
}

fn approval(approval: &Approval) -> String {
    let mut text = match (approval.quorum, approval.roles.as_slice()) {
        (1, [role]) => format!("approve by {role}"),
        (quorum, roles) => format!("approve by {quorum} of [{}]", roles.join(", ")),
    };
    if approval.distinct {
        text.push_str(" distinct");
    }
    if let Some(within) = approval.within_ms {
        text.push_str(&format!(" within {}", duration(within)));
    }
    if let Some(action) = approval.on_timeout {
        text.push_str(&format!(" on timeout {}", action.word()));
    }
    if let Some(reason) = &approval.reason {
        text.push_str(&format!(" {}", quote(reason)));
    }
    text
}

fn requirement(requirement: &Requirement) -> String {
    let sustain = requirement
        .sustain_ms
        .map(|sustain| format!(" for {}", duration(sustain)))
        .unwrap_or_default();
    format!(
        "require {}{sustain} else {}",
        requirement.condition,
        requirement.raises.word()
    )
}

fn action_text(action: &Action) -> String {
    match action {
        Action::Continue => "continue".to_string(),
        Action::Pause => "pause".to_string(),
        Action::Abort => "abort".to_string(),
        Action::Rollback { scope } => format!("rollback {}", scope.word()),
        Action::Approve(approve) => approval(approve),
        Action::Notify {
            audience,
            channel,
            message,
        } => {
            let via = channel
                .as_deref()
                .map(|channel| format!(" via {channel}"))
                .unwrap_or_default();
            format!("notify {audience}{via} {}", quote(message))
        }
        Action::Run { node, background } => {
            format!("run {node}{}", if *background { " background" } else { "" })
        }
    }
}

fn named(name: &str, description: &Option<String>) -> String {
    match description {
        Some(description) => format!("{name} {}", quote(description)),
        None => name.to_string(),
    }
}

fn value(value: &Value) -> String {
    match value {
        Value::String(text) => quote(text),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        Value::DurationMs(millis) => duration(*millis),
        Value::Percent(share) => percent(*share),
    }
}

pub(super) fn stage_text(stage: Stage) -> String {
    match stage {
        Stage::Percent(share) => percent(share),
        Stage::Hosts(hosts) => hosts.to_string(),
    }
}

/// `"..."` with the runbook's own escapes, so every value stays on one line.
pub(super) fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if crate::ast::shown_escaped(c) => quoted.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

pub(super) use crate::ast::duration_text as duration;

pub(super) fn percent(share: f64) -> String {
    format!("{share}%")
}

fn edge_kind(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Order => "order",
        EdgeKind::Dependency => "dependency",
        EdgeKind::Rollback => "rollback",
    }
}
