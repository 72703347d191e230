//! Interpolation: every `{{name}}` in every string names something that has a value
//! where the string is used, and no secret is written where it would be shown.
//!
//! The names are found in the source text the string covers, so a finding points at
//! the exact bytes; in a `"quoted"` string, `\{` is a literal brace.

use crate::ast::{
    Action, ChannelKind, EventKind, GateEntryKind, HeaderEntryKind, InventorySource, Item, Literal,
    NotifyTrigger, ProbeSource, Rollback, RollbackEntryKind, SecretSource, Step, StepEntryKind,
    Text, TextStyle,
};
use crate::diagnostic::Diagnostic;
use crate::source::Span;

use super::codes;
use super::facts::StepFacts;
use super::phrases::did_you_mean;
use super::symbols::{NodeRef, Place};
use super::Checker;

/// Fields of the values the engine provides.
const RUN_FIELDS: [&str; 4] = ["id", "title", "started_by", "status"];
const WAVE_FIELDS: [&str; 4] = ["name", "index", "count", "hosts"];
const FAILURE_FIELDS: [&str; 4] = ["class", "summary", "step", "host"];

/// A `{{...}}` in a string's source, by byte offsets into that source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Found {
    pub start: usize,
    /// After the closing `}}`, or the end of the string when unclosed.
    pub end: usize,
    pub closed: bool,
}

/// Every `{{...}}` in the source of a string's value.
pub(super) fn find(source: &str, style: TextStyle) -> Vec<Found> {
    let bytes = source.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        if style == TextStyle::Quoted && bytes[at] == b'\\' {
            at += 2;
            continue;
        }
        if !bytes[at..].starts_with(b"{{") {
            at += 1;
            continue;
        }
        // Braces are ASCII, so byte offsets found here are character boundaries.
        let close = bytes[at + 2..].windows(2).position(|pair| pair == b"}}");
        match close {
            Some(close) => {
                let end = at + 2 + close + 2;
                found.push(Found {
                    start: at,
                    end,
                    closed: true,
                });
                at = end;
            }
            None => {
                found.push(Found {
                    start: at,
                    end: bytes.len(),
                    closed: false,
                });
                break;
            }
        }
    }
    found
}

/// How a string is used, which decides whether a secret may appear in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// A command run by the engine: secrets reach it through the environment.
    Command,
    /// Text shown to people or logged.
    Message,
    /// A Rhai script: its source is logged.
    Script,
    /// A path, a name, a filter value.
    Setting,
}

/// What has a value where a string is used.
#[derive(Debug, Clone, Copy)]
struct Site {
    usage: Use,
    hosts: bool,
    failure: bool,
    wave: bool,
}

impl Site {
    fn plain(usage: Use) -> Self {
        Self {
            usage,
            hosts: false,
            failure: false,
            wave: false,
        }
    }
}

pub(super) fn check(checker: &Checker<'_>, findings: &mut Vec<Diagnostic>) {
    let mut scan = |text: &Text, site: Site| scan_text(checker, text, site, findings);
    header(checker, &mut scan);
    items(checker, &mut scan);
    for node in &checker.symbols.nodes {
        let in_waves = matches!(node.place, Place::InWaves(_));
        let handler = matches!(node.place, Place::Handler(_));
        let message = Site {
            usage: Use::Message,
            hosts: false,
            failure: handler,
            wave: in_waves || handler,
        };
        match node.node {
            NodeRef::Step(step) => step_texts(step, node.place, &mut scan),
            NodeRef::Gate(gate) => {
                gate.description.iter().for_each(|text| scan(text, message));
                for entry in &gate.entries {
                    if let GateEntryKind::Approve(approval) = &entry.kind {
                        approval.reason.iter().for_each(|text| scan(text, message));
                    }
                }
            }
            NodeRef::Timer(timer) => timer
                .description
                .iter()
                .for_each(|text| scan(text, message)),
            NodeRef::Watch(watch) => watch
                .description
                .iter()
                .for_each(|text| scan(text, message)),
            NodeRef::Waves(waves) => waves
                .description
                .iter()
                .for_each(|text| scan(text, Site::plain(Use::Message))),
        }
    }
}

fn header(checker: &Checker<'_>, scan: &mut impl FnMut(&Text, Site)) {
    let header = &checker.runbook.header;
    scan(&header.name, Site::plain(Use::Setting));
    for entry in &header.entries {
        match &entry.kind {
            HeaderEntryKind::Title(text)
            | HeaderEntryKind::Description(text)
            | HeaderEntryKind::Version(text) => scan(text, Site::plain(Use::Message)),
            HeaderEntryKind::Roster(path) | HeaderEntryKind::PrometheusUrl(path) => {
                scan(path, Site::plain(Use::Setting))
            }
            _ => {}
        }
    }
}

fn items(checker: &Checker<'_>, scan: &mut impl FnMut(&Text, Site)) {
    let message = Site::plain(Use::Message);
    let setting = Site::plain(Use::Setting);
    let command = Site::plain(Use::Command);
    for item in &checker.runbook.items {
        match item {
            Item::Role(role) => role.description.iter().for_each(|text| scan(text, message)),
            Item::Audience(audience) => audience
                .description
                .iter()
                .for_each(|text| scan(text, message)),
            Item::Inventory(inventory) => {
                match &inventory.source {
                    InventorySource::File(path) => scan(path, setting),
                    InventorySource::Hosts(hosts) => {
                        hosts.iter().for_each(|host| scan(host, setting))
                    }
                    InventorySource::Inventory(_) => {}
                }
                inventory
                    .filter
                    .iter()
                    .for_each(|condition| scan(&condition.value, setting));
            }
            Item::Param(param) => {
                if let Some(Literal::String(text)) = &param.default {
                    scan(text, setting);
                }
                param
                    .description
                    .iter()
                    .for_each(|text| scan(text, message));
            }
            Item::Secret(secret) => match &secret.source {
                SecretSource::Env(name) | SecretSource::File(name) => scan(name, setting),
            },
            Item::Ship(ship) => scan(&ship.path, setting),
            Item::Probe(probe) => {
                match &probe.source {
                    ProbeSource::Prometheus(text)
                    | ProbeSource::Command(text)
                    | ProbeSource::Http(text) => scan(text, command),
                }
                probe.json_path.iter().for_each(|text| scan(text, setting));
            }
            Item::Channel(channel) => match &channel.kind {
                ChannelKind::Webhook(text) | ChannelKind::Command(text) => scan(text, command),
                ChannelKind::Log => {}
            },
            Item::Notify(notify) => {
                let on_failure = match &notify.trigger {
                    NotifyTrigger::On(events) => events.iter().any(|event| {
                        matches!(
                            event.kind.value,
                            EventKind::Failure | EventKind::Rollback | EventKind::Breach
                        )
                    }),
                    NotifyTrigger::Every(_) => false,
                };
                let site = Site {
                    usage: Use::Message,
                    hosts: false,
                    failure: on_failure,
                    wave: true,
                };
                notify.message.iter().for_each(|text| scan(text, site));
            }
            Item::Policy(policy) => {
                let site = Site {
                    usage: Use::Message,
                    hosts: false,
                    failure: true,
                    wave: true,
                };
                for action in &policy.actions {
                    match action {
                        Action::Notify(message) => scan(&message.text, site),
                        Action::Approve(approval) => {
                            approval.reason.iter().for_each(|text| scan(text, site))
                        }
                        _ => {}
                    }
                }
            }
            Item::Step(_) | Item::Gate(_) | Item::Timer(_) | Item::Watch(_) | Item::Waves(_) => {}
        }
    }
}

fn step_texts(step: &Step, place: Place, scan: &mut impl FnMut(&Text, Site)) {
    let hosts = step.target().is_some() || matches!(place, Place::InWaves(_));
    let failure = matches!(place, Place::Handler(_));
    let wave = matches!(place, Place::InWaves(_) | Place::Handler(_));
    let site = |usage| Site {
        usage,
        hosts,
        failure,
        wave,
    };
    step.description
        .iter()
        .for_each(|text| scan(text, site(Use::Message)));
    for entry in &step.entries {
        match &entry.kind {
            StepEntryKind::Run(text)
            | StepEntryKind::Remedy(text)
            | StepEntryKind::Verify(text) => scan(text, site(Use::Command)),
            StepEntryKind::Script(text) => scan(text, site(Use::Script)),
            StepEntryKind::Manual(text)
            | StepEntryKind::Expect(text)
            | StepEntryKind::Irreversible(text) => scan(text, site(Use::Message)),
            StepEntryKind::Record { prompt, .. } => prompt
                .iter()
                .for_each(|text| scan(text, site(Use::Message))),
            StepEntryKind::Rollback(Rollback::Command(text)) => scan(text, site(Use::Command)),
            StepEntryKind::Rollback(Rollback::Block { entries, .. }) => {
                for entry in entries {
                    match &entry.kind {
                        RollbackEntryKind::Run(text) => scan(text, site(Use::Command)),
                        RollbackEntryKind::Script(text) => scan(text, site(Use::Script)),
                        RollbackEntryKind::Manual(text) => scan(text, site(Use::Message)),
                        RollbackEntryKind::Timeout(_) => {}
                    }
                }
            }
            _ => {}
        }
    }
}

fn scan_text(checker: &Checker<'_>, text: &Text, site: Site, findings: &mut Vec<Diagnostic>) {
    let content = text.content_span();
    let source = checker.file.slice(content);
    for found in find(source, text.style) {
        let whole = Span::new(content.start + found.start, content.start + found.end);
        if !found.closed {
            findings.push(
                Diagnostic::new(codes::UNCLOSED_INTERPOLATION, "`{{` is never closed")
                    .with_label(Span::new(whole.start, whole.start + 2), "opened here")
                    .with_help(match text.style {
                        TextStyle::Quoted => {
                            "close it: `{{name}}`; for a literal `{{`, write `\\{{`"
                        }
                        TextStyle::Triple => "close it: `{{name}}`",
                    }),
            );
            continue;
        }
        let inner = &source[found.start + 2..found.end - 2];
        let leading = inner.len() - inner.trim_start().len();
        let name = inner.trim();
        if name.is_empty() {
            findings.push(
                Diagnostic::new(codes::UNKNOWN_INTERPOLATION, "`{{ }}` is empty")
                    .with_label(whole, "nothing between the braces")
                    .with_help(match text.style {
                        TextStyle::Quoted => "write a name between the braces, like `{{host}}`; for a literal `{{`, write `\\{{`",
                        TextStyle::Triple => "write a name between the braces, like `{{host}}`",
                    }),
            );
            continue;
        }
        let at = content.start + found.start + 2 + leading;
        let span = Span::new(at, at + name.len());
        if let Some(diagnostic) = resolve(checker, name, span, site, text.style) {
            findings.push(diagnostic);
        }
    }
}

/// Why `name` has no value at `site`, if it has none.
fn resolve(
    checker: &Checker<'_>,
    name: &str,
    span: Span,
    site: Site,
    style: TextStyle,
) -> Option<Diagnostic> {
    let symbols = &checker.symbols;
    let (first, field) = match name.split_once('.') {
        Some((first, field)) => (first, Some(field)),
        None => (name, None),
    };
    if !is_name(first) || field.is_some_and(|field| !is_name(field)) {
        let literal = match style {
            TextStyle::Quoted => " For a literal `{{`, write `\\{{`.",
            TextStyle::Triple => "",
        };
        return Some(unknown(span, format!("`{{{{{name}}}}}` is not a name"), format!("write a name between the braces, like `{{{{host}}}}` or `{{{{kernel}}}}`.{literal}")));
    }
    match (first, field) {
        ("host", _) if !site.hosts => Some(out_of_place(span, name, "this string is not in a step that runs on hosts", "`{{host}}` has a value in steps with `on INVENTORY`, `on sample N% of ...`, or inside a waves block")),
        ("host", _) => None,
        ("failure", _) if !site.failure => Some(out_of_place(span, name, "this string is not used while a failure is handled", "`{{failure.*}}` has a value inside `on failure` policies and in `notify ... on failure` messages")),
        ("wave", _) if !site.wave => Some(out_of_place(span, name, "this string is not used during a wave", "`{{wave.*}}` has a value inside a waves block, in failure policies and in notifications")),
        ("failure", field) => field_of(span, "failure", field, &FAILURE_FIELDS),
        ("wave", field) => field_of(span, "wave", field, &WAVE_FIELDS),
        ("run", field) => field_of(span, "run", field, &RUN_FIELDS),
        (value, None) if symbols.secrets.contains_key(value) => {
            (site.usage != Use::Command).then(|| secret_finding(span, value, site.usage))
        }
        (value, None) if symbols.params.contains_key(value) || symbols.probes.contains_key(value) => None,
        (step, Some(key)) if symbols.node(step).is_some() => record(checker, span, step, key),
        (value, Some(_)) if symbols.params.contains_key(value) || symbols.probes.contains_key(value) || symbols.secrets.contains_key(value) => {
            Some(unknown(span, format!("`{value}` has no fields"), format!("write `{{{{{value}}}}}`")))
        }
        (unknown_name, _) => {
            let secrets = symbols.secrets.keys().filter(|_| site.usage == Use::Command);
            let host = site.hosts.then_some("host");
            let candidates = symbols
                .params
                .keys()
                .chain(symbols.probes.keys())
                .chain(secrets)
                .copied()
                .chain(host);
            let suggestion = checker.did_you_mean(unknown_name, candidates);
            Some(unknown(
                span,
                format!("`{{{{{name}}}}}` names nothing"),
                if suggestion.is_empty() {
                    "`{{...}}` takes a param, a secret (in commands), a probe, `host`, `STEP.KEY` recorded by a manual step, `run.*`, `wave.*` or `failure.*`".to_string()
                } else {
                    suggestion.trim_start().to_string()
                },
            ))
        }
    }
}

fn is_name(segment: &str) -> bool {
    let mut chars = segment.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn field_of(span: Span, value: &str, field: Option<&str>, fields: &[&str]) -> Option<Diagnostic> {
    let list = fields
        .iter()
        .map(|field| format!("`{value}.{field}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match field {
        Some(field) if fields.contains(&field) => None,
        Some(field) => {
            let suggestion = did_you_mean(field, fields.iter().copied());
            Some(unknown(
                span,
                format!("`{value}` has no field `{field}`"),
                format!("it has {list}.{suggestion}"),
            ))
        }
        None => Some(unknown(
            span,
            format!("`{{{{{value}}}}}` needs a field"),
            format!("write one of {list}"),
        )),
    }
}

/// `{{STEP.KEY}}`: a value a person entered when confirming a manual step.
fn record(checker: &Checker<'_>, span: Span, step_name: &str, key: &str) -> Option<Diagnostic> {
    let node = checker.symbols.node(step_name)?;
    let NodeRef::Step(step) = node.node else {
        return Some(unknown(
            span,
            format!("{} `{step_name}` records nothing", node.node.kind()),
            "`{{STEP.KEY}}` reads a value recorded by a manual step: `record KEY \"prompt\"`"
                .to_string(),
        ));
    };
    if checker.symbols.records.contains(&(step_name, key)) {
        return None;
    }
    let help = if !step.is_manual() {
        format!("only manual steps record values; add `manual \"...\"` and `record {key} \"...\"` to step `{step_name}`")
    } else {
        let suggestion =
            checker.did_you_mean(key, step.records().map(|record| record.name.as_str()));
        if suggestion.is_empty() {
            format!("add `record {key} \"prompt\"` to step `{step_name}`")
        } else {
            suggestion.trim_start().to_string()
        }
    };
    Some(unknown(
        span,
        format!("step `{step_name}` records no `{key}`"),
        help,
    ))
}

fn unknown(span: Span, message: String, help: String) -> Diagnostic {
    Diagnostic::new(codes::UNKNOWN_INTERPOLATION, message)
        .with_label(span, "no value")
        .with_help(help)
}

fn out_of_place(span: Span, name: &str, why: &str, help: &str) -> Diagnostic {
    Diagnostic::new(
        codes::INTERPOLATION_OUT_OF_PLACE,
        format!("`{{{{{name}}}}}` has no value here"),
    )
    .with_label(span, why)
    .with_help(help)
}

fn secret_finding(span: Span, name: &str, usage: Use) -> Diagnostic {
    let (message, label) = match usage {
        Use::Message => (
            "would be shown to people and written to the log",
            "a secret in a message",
        ),
        Use::Script => (
            "would be part of a script's source, which is logged",
            "a secret in a script",
        ),
        Use::Setting | Use::Command => ("cannot be used in a setting", "a secret in a setting"),
    };
    Diagnostic::new(codes::SECRET_IN_MESSAGE, format!("secret `{name}` {message}"))
        .with_label(span, label)
        .with_help("secrets are only interpolated into commands (`run`, `remedy`, `verify`, `rollback`, probes, channels), which receive them through the environment; never in text people read")
}
