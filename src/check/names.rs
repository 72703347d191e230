//! Names: every reference resolves to a declaration of the right kind, no name is
//! declared twice in its namespace, and no name is one the language reserves.

use crate::ast::{Action, HeaderEntryKind, Ident, InventorySource, Item};
use crate::diagnostic::Diagnostic;

use super::codes;
use super::conditions;
use super::facts::{gate_approvals, StepFacts, Target};
use super::phrases::quoted_list;
use super::symbols::{NodeRef, Symbols};
use super::Checker;

/// Names with a meaning of their own in `{{...}}` and conditions.
const RESERVED: [&str; 5] = ["host", "failure", "run", "wave", "baseline"];

pub(super) fn check(checker: &Checker<'_>, findings: &mut Vec<Diagnostic>) {
    let symbols = &checker.symbols;
    duplicates(symbols, findings);
    reserved(symbols, findings);
    let mut resolver = Resolver {
        checker,
        symbols,
        findings,
    };
    resolver.header(checker);
    resolver.items(checker);
    resolver.nodes();
}

fn duplicates(symbols: &Symbols<'_>, findings: &mut Vec<Diagnostic>) {
    for duplicate in &symbols.duplicates {
        let name = &duplicate.name.name;
        let message = if duplicate.kind == duplicate.first_kind {
            format!("{} `{name}` is declared twice", duplicate.kind)
        } else {
            format!(
                "{} `{name}` takes a name already used by {} `{name}`",
                duplicate.kind, duplicate.first_kind
            )
        };
        findings.push(
            Diagnostic::new(codes::DUPLICATE_NAME, message)
                .with_label(duplicate.name.span, "declared again here")
                .with_secondary(duplicate.first.span, "first declared here")
                .with_help(namespace_help(duplicate.kind)),
        );
    }
    for (name, inventory) in &symbols.inventories {
        if let Some(NodeRef::Waves(waves)) = symbols.node(name).map(|node| node.node) {
            findings.push(
                Diagnostic::new(
                    codes::DUPLICATE_NAME,
                    format!("`{name}` names both an inventory and a waves block"),
                )
                .with_label(waves.name.span, "waves block named here")
                .with_secondary(inventory.name.span, "inventory named here")
                .with_help("`on sample N% of NAME` takes either, so they need different names; rename the waves block"),
            );
        }
    }
}

fn namespace_help(kind: &str) -> &'static str {
    match kind {
        "role" | "audience" => {
            "roles and audiences share one namespace (`notify NAME` takes either); rename one of them"
        }
        "param" | "secret" | "probe" => {
            "params, secrets and probes share one namespace (`{{NAME}}` and conditions take any of them); rename one of them"
        }
        "step" | "gate" | "timer" | "watch" | "waves" => {
            "steps, gates, timers, watches and waves blocks share one namespace (`after NAME` takes any of them), even inside waves and failure policies; rename one of them"
        }
        _ => "rename one of them",
    }
}

fn reserved(symbols: &Symbols<'_>, findings: &mut Vec<Diagnostic>) {
    let values = symbols
        .params
        .values()
        .map(|param| ("param", &param.name))
        .chain(
            symbols
                .secrets
                .values()
                .map(|secret| ("secret", &secret.name)),
        )
        .chain(symbols.probes.values().map(|probe| ("probe", &probe.name)));
    for (kind, name) in values {
        if RESERVED.contains(&name.name.as_str()) {
            findings.push(reserved_finding(kind, name, "`{{host}}`, `{{failure.summary}}`, `{{run.id}}`, `{{wave.index}}` and `baseline` in conditions"));
        }
    }
    // A probe exists to be decided on, in conditions, where Rhai's keywords cannot be
    // variables. (A param is mostly interpolated; Rhai itself explains the rare one
    // used in a condition.)
    let engine = conditions::condition_engine();
    for probe in symbols.probes.values() {
        if !RESERVED.contains(&probe.name.name.as_str())
            && !conditions::usable_as_variable(&engine, &probe.name.name)
        {
            findings.push(reserved_finding(
                "probe",
                &probe.name,
                "conditions are Rhai expressions, where this word is a keyword",
            ));
        }
    }
    for node in &symbols.nodes {
        let name = node.node.name();
        if RESERVED.contains(&name.name.as_str()) {
            findings.push(reserved_finding(
                node.node.kind(),
                name,
                "`{{STEP.KEY}}` would read like `{{run.id}}` or `{{failure.step}}`",
            ));
        }
    }
}

fn reserved_finding(kind: &str, name: &Ident, why: &str) -> Diagnostic {
    Diagnostic::new(
        codes::RESERVED_NAME,
        format!("{kind} `{}` uses a reserved name", name.name),
    )
    .with_label(name.span, "reserved")
    .with_help(format!(
        "the language gives this name its own meaning ({why}); choose another name"
    ))
}

/// What a reference may name.
#[derive(Clone, Copy)]
enum Wanted {
    Role,
    RoleOrAudience,
    Inventory,
    InventoryOrWaves,
    Channel,
    Node,
}

struct Resolver<'s, 'a> {
    checker: &'s Checker<'a>,
    symbols: &'s Symbols<'a>,
    findings: &'s mut Vec<Diagnostic>,
}

impl Resolver<'_, '_> {
    fn header(&mut self, checker: &Checker<'_>) {
        for entry in &checker.runbook.header.entries {
            match &entry.kind {
                HeaderEntryKind::Commander(role) => self.resolve(role, Wanted::Role, "`commander`"),
                HeaderEntryKind::Postmortem { by, .. } => {
                    self.resolve(by, Wanted::Role, "`postmortem by`")
                }
                _ => {}
            }
        }
    }

    fn items(&mut self, checker: &Checker<'_>) {
        for item in &checker.runbook.items {
            match item {
                Item::Inventory(inventory) => {
                    if let InventorySource::Inventory(other) = &inventory.source {
                        self.resolve(other, Wanted::Inventory, "`from`");
                    }
                }
                Item::Notify(notify) => {
                    self.resolve(&notify.audience, Wanted::RoleOrAudience, "`notify`");
                    self.resolve(&notify.channel, Wanted::Channel, "`notify`");
                }
                Item::Policy(policy) => {
                    for action in &policy.actions {
                        match action {
                            Action::Approve(approval) => {
                                for role in &approval.roles {
                                    self.resolve(role, Wanted::Role, "`approve by`");
                                }
                            }
                            Action::Notify(message) => {
                                self.resolve(&message.audience, Wanted::RoleOrAudience, "`notify`");
                                if let Some(channel) = &message.channel {
                                    self.resolve(channel, Wanted::Channel, "`notify`");
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn nodes(&mut self) {
        let symbols = self.symbols;
        for node in &symbols.nodes {
            if let Some(owner) = node.node.owner() {
                self.resolve(owner, Wanted::Role, "`owner`");
            }
            for name in node.node.after().unwrap_or_default() {
                self.resolve(name, Wanted::Node, "`after`");
            }
            match node.node {
                NodeRef::Step(step) => match step.target() {
                    Some(Target::On(inventory)) => {
                        self.resolve(inventory, Wanted::Inventory, "`on`")
                    }
                    Some(Target::Sample { of, .. }) => {
                        self.resolve(of, Wanted::InventoryOrWaves, "`on sample ... of`")
                    }
                    None => {}
                },
                NodeRef::Gate(gate) => {
                    for approval in gate_approvals(gate) {
                        for role in &approval.roles {
                            self.resolve(role, Wanted::Role, "`approve by`");
                        }
                    }
                }
                NodeRef::Waves(waves) => {
                    if let Some(over) = super::facts::waves_over(waves) {
                        self.resolve(over, Wanted::Inventory, "`over`");
                    }
                }
                NodeRef::Timer(_) | NodeRef::Watch(_) => {}
            }
        }
    }

    fn resolve(&mut self, name: &Ident, wanted: Wanted, used_by: &str) {
        let symbols = self.symbols;
        let text = name.name.as_str();
        let found = match wanted {
            Wanted::Role => symbols.roles.contains_key(text),
            Wanted::RoleOrAudience => symbols.is_person_group(text),
            Wanted::Inventory => symbols.inventories.contains_key(text),
            Wanted::InventoryOrWaves => {
                symbols.inventories.contains_key(text)
                    || matches!(
                        symbols.node(text).map(|node| node.node),
                        Some(NodeRef::Waves(_))
                    )
            }
            Wanted::Channel => symbols.channels.contains_key(text),
            Wanted::Node => symbols.node(text).is_some(),
        };
        if found {
            return;
        }
        let what = match wanted {
            Wanted::Role => "role",
            Wanted::RoleOrAudience => "role or audience",
            Wanted::Inventory => "inventory",
            Wanted::InventoryOrWaves => "inventory or waves block",
            Wanted::Channel => "channel",
            Wanted::Node => "step, gate, timer, watch or waves block",
        };
        let article = if what.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        let suggestion = self.checker.did_you_mean(text, candidates(symbols, wanted));
        let few: Vec<&str> = candidates(symbols, wanted).take(7).collect();
        let (message, help) = match wrong_kind(symbols, text, wanted) {
            Some(actual) => (
                format!("`{text}` is {actual}, but {used_by} takes {article} {what}"),
                if suggestion.is_empty() && !few.is_empty() && few.len() <= 6 {
                    format!(
                        "name {article} {what}: {}",
                        quoted_list(&few).replace(" and ", " or ")
                    )
                } else if suggestion.is_empty() {
                    declare_help(wanted, text)
                } else {
                    suggestion.trim_start().to_string()
                },
            ),
            None => (
                format!("no {what} is named `{text}`"),
                if suggestion.is_empty() {
                    declare_help(wanted, text)
                } else {
                    suggestion.trim_start().to_string()
                },
            ),
        };
        self.findings.push(
            Diagnostic::new(codes::UNKNOWN_NAME, message)
                .with_label(name.span, format!("{used_by} names this"))
                .with_help(help),
        );
    }
}

/// The names a reference of this kind could have meant.
fn candidates<'s>(
    symbols: &'s Symbols<'_>,
    wanted: Wanted,
) -> Box<dyn Iterator<Item = &'s str> + 's> {
    match wanted {
        Wanted::Role => Box::new(symbols.roles.keys().copied()),
        Wanted::RoleOrAudience => Box::new(
            symbols
                .roles
                .keys()
                .chain(symbols.audiences.keys())
                .copied(),
        ),
        Wanted::Inventory => Box::new(symbols.inventories.keys().copied()),
        Wanted::InventoryOrWaves => Box::new(
            symbols.inventories.keys().copied().chain(
                symbols
                    .waves_blocks()
                    .map(|(_, waves)| waves.name.name.as_str()),
            ),
        ),
        Wanted::Channel => Box::new(symbols.channels.keys().copied()),
        Wanted::Node => Box::new(symbols.node_index.keys().copied()),
    }
}

/// What the name is instead, when it is declared as something else.
fn wrong_kind(symbols: &Symbols<'_>, name: &str, wanted: Wanted) -> Option<String> {
    if symbols.audiences.contains_key(name) {
        return Some("an audience (people told things, never asked)".to_string());
    }
    if let Some(node) = symbols.node(name) {
        if !matches!(wanted, Wanted::Node) {
            return Some(format!("a {}", node.node.kind()));
        }
    }
    if symbols.roles.contains_key(name) && !matches!(wanted, Wanted::Role | Wanted::RoleOrAudience)
    {
        return Some("a role".to_string());
    }
    if symbols.inventories.contains_key(name)
        && !matches!(wanted, Wanted::Inventory | Wanted::InventoryOrWaves)
    {
        return Some("an inventory".to_string());
    }
    if symbols.channels.contains_key(name) && !matches!(wanted, Wanted::Channel) {
        return Some("a channel".to_string());
    }
    None
}

fn declare_help(wanted: Wanted, name: &str) -> String {
    match wanted {
        Wanted::Role => format!("declare it: `role {name} \"what they do\"`"),
        Wanted::RoleOrAudience => format!(
            "declare it: `role {name} \"...\"`, or `audience {name} \"...\"` for people who are only told"
        ),
        Wanted::Inventory | Wanted::InventoryOrWaves => {
            format!("declare it: `inventory {name} from \"inventory/{name}.toml\"`")
        }
        Wanted::Channel => format!("declare it: `channel {name} webhook \"https://...\"`"),
        Wanted::Node => "`after` names a step, gate, timer, watch or waves block of this runbook".to_string(),
    }
}
