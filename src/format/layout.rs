//! From the AST to the statements `fmt` prints: the canonical text of each statement,
//! where it stood in the source (so comments and blank lines can be put back around
//! it), and the statements of its block, if it has one.

use crate::ast::*;
use crate::source::Span;

use super::literal;
use crate::ast::Word;

/// One statement: a line, or a block's head with the statements inside the braces.
pub(super) struct Node {
    /// Where the statement starts in the source.
    pub start: usize,
    /// Where it ends in the source, without the blanks and comments the parser lets
    /// trail after an optional last part (`role ops` then a comment).
    pub end: usize,
    /// The statement's canonical text, or for a block its head without ` {`.
    pub text: String,
    pub body: Option<Body>,
    /// The keyword of a one-line top-level declaration (`role`, `param`, ...):
    /// consecutive ones of the same kind may stay together without blank lines.
    pub group: Option<&'static str>,
}

pub(super) struct Body {
    /// Offsets of the block's `{` and `}` in the source.
    pub open: usize,
    pub close: usize,
    pub children: Vec<Node>,
    /// A gate, timer or rollback block the author wrote on one line with one setting
    /// may stay on one line.
    pub compact: bool,
}

/// Builds nodes from one runbook and the source text it was parsed from.
pub(super) struct Layout<'a> {
    source: &'a str,
    comments: &'a [Comment],
}

impl<'a> Layout<'a> {
    pub fn new(source: &'a str, comments: &'a [Comment]) -> Self {
        Self { source, comments }
    }

    /// The header, then every item, in file order.
    pub fn runbook(&self, runbook: &Runbook) -> Vec<Node> {
        let mut nodes = vec![self.header(&runbook.header)];
        nodes.extend(runbook.items.iter().map(|item| self.item(item)));
        nodes
    }

    // ------------------------------------------------------------ positions

    /// The end of a statement's own text: the parser's span may run on over blanks and
    /// comments when the statement's last part is optional.
    fn end_of(&self, span: Span) -> usize {
        let mut end = span.end.min(self.source.len());
        loop {
            let text = self.source.get(span.start..end).unwrap_or("");
            end = span.start + text.trim_end_matches(is_blank).len();
            match self.comment_ending_at(end) {
                Some(comment) if comment.start >= span.start && comment.start < end => {
                    end = comment.start;
                }
                _ => return end,
            }
        }
    }

    fn comment_ending_at(&self, end: usize) -> Option<Span> {
        self.comments
            .binary_search_by_key(&end, |comment| comment.span.end)
            .ok()
            .map(|index| self.comments[index].span)
    }

    /// The `{` that opens a block, found after its head; only blanks and comments can
    /// stand between them.
    fn open_brace(&self, from: usize) -> usize {
        let bytes = self.source.as_bytes();
        let mut at = from;
        while at < bytes.len() {
            match bytes[at] {
                b'{' => return at,
                b'#' => {
                    while at < bytes.len() && bytes[at] != b'\n' {
                        at += 1;
                    }
                }
                _ => at += 1,
            }
        }
        from
    }

    // ------------------------------------------------------------ node builders

    fn line(&self, span: Span, text: String) -> Node {
        Node {
            start: span.start,
            end: self.end_of(span),
            text,
            body: None,
            group: None,
        }
    }

    fn declaration(&self, span: Span, keyword: &'static str, text: String) -> Node {
        Node {
            group: Some(keyword),
            ..self.line(span, text)
        }
    }

    /// A block whose `{` follows its head, which ends at `head_end`.
    fn block(&self, span: Span, head_end: usize, text: String, children: Vec<Node>) -> Node {
        self.block_at(span, self.open_brace(head_end), text, children, false)
    }

    fn block_at(
        &self,
        span: Span,
        open: usize,
        text: String,
        children: Vec<Node>,
        compact: bool,
    ) -> Node {
        let end = self.end_of(span);
        Node {
            body: Some(Body {
                open,
                close: end.saturating_sub(1).max(open),
                children,
                compact,
            }),
            ..self.line(span, text)
        }
    }

    // ------------------------------------------------------------ literals

    fn text(&self, text: &Text) -> String {
        literal::text(text, self.source)
    }

    /// ` "description"`, or nothing.
    fn optional_text(&self, text: &Option<Text>) -> String {
        text.as_ref()
            .map(|text| format!(" {}", self.text(text)))
            .unwrap_or_default()
    }

    fn literal(&self, literal: &Literal) -> String {
        match literal {
            Literal::String(text) => self.text(text),
            Literal::Number { value, .. } => literal::number(*value),
            Literal::Bool { value, .. } => value.to_string(),
            Literal::Duration(duration) => duration_text(duration),
            Literal::Percent(percent) => literal::percent(percent.value),
        }
    }

    // ------------------------------------------------------------ header

    fn header(&self, header: &Header) -> Node {
        let entries = header
            .entries
            .iter()
            .map(|entry| self.line(entry.span, self.header_entry(&entry.kind)))
            .collect();
        self.block(
            header.span,
            header.name.span.end,
            format!("runbook {}", self.text(&header.name)),
            entries,
        )
    }

    fn header_entry(&self, kind: &HeaderEntryKind) -> String {
        match kind {
            HeaderEntryKind::Title(text) => format!("title {}", self.text(text)),
            HeaderEntryKind::Description(text) => format!("description {}", self.text(text)),
            HeaderEntryKind::Version(text) => format!("version {}", self.text(text)),
            HeaderEntryKind::Risk(risk) => format!("risk {}", risk.value.word()),
            HeaderEntryKind::Objective(objective) => {
                let limit = duration_text(&objective.limit);
                let bound = match objective.bound {
                    ObjectiveBound::WithinOfFailure => format!("within {limit} of failure"),
                    ObjectiveBound::AtMost => format!("at most {limit}"),
                };
                format!("objective {} {bound}", objective.kind.value.word())
            }
            HeaderEntryKind::Environment(name) => format!("environment {}", name.name),
            HeaderEntryKind::Change(name) => format!("change {}", name.name),
            HeaderEntryKind::Commander(name) => format!("commander {}", name.name),
            HeaderEntryKind::DefaultTimeout(limit) => format!("timeout {}", duration_text(limit)),
            HeaderEntryKind::Roster(text) => format!("roster {}", self.text(text)),
            HeaderEntryKind::PrometheusUrl(text) => format!("prometheus {}", self.text(text)),
            HeaderEntryKind::DrillEvery(every) => format!("drill every {}", duration_text(every)),
            HeaderEntryKind::ReviewEvery(every) => {
                format!("review every {}", duration_text(every))
            }
            HeaderEntryKind::Postmortem { by, within } => {
                let within = within
                    .map(|within| format!(" within {}", duration_text(&within)))
                    .unwrap_or_default();
                format!("postmortem by {}{within}", by.name)
            }
        }
    }

    // ------------------------------------------------------------ declarations

    fn item(&self, item: &Item) -> Node {
        match item {
            Item::Role(role) => self.declaration(
                role.span,
                "role",
                format!(
                    "role {}{}",
                    role.name.name,
                    self.optional_text(&role.description)
                ),
            ),
            Item::Audience(audience) => self.declaration(
                audience.span,
                "audience",
                format!(
                    "audience {}{}",
                    audience.name.name,
                    self.optional_text(&audience.description)
                ),
            ),
            Item::Inventory(inventory) => {
                self.declaration(inventory.span, "inventory", self.inventory(inventory))
            }
            Item::Param(param) => self.declaration(param.span, "param", self.param(param)),
            Item::Secret(secret) => {
                let source = match &secret.source {
                    SecretSource::Env(name) => format!("env {}", self.text(name)),
                    SecretSource::File(path) => format!("file {}", self.text(path)),
                };
                self.declaration(
                    secret.span,
                    "secret",
                    format!("secret {} from {source}", secret.name.name),
                )
            }
            Item::Probe(probe) => self.declaration(probe.span, "probe", self.probe(probe)),
            Item::Channel(channel) => {
                let kind = match &channel.kind {
                    ChannelKind::Webhook(url) => format!("webhook {}", self.text(url)),
                    ChannelKind::Command(command) => format!("command {}", self.text(command)),
                    ChannelKind::Log => "log".to_string(),
                };
                self.declaration(
                    channel.span,
                    "channel",
                    format!("channel {} {kind}", channel.name.name),
                )
            }
            Item::Notify(notify) => self.declaration(notify.span, "notify", self.notify(notify)),
            Item::Ship(ship) => {
                self.declaration(ship.span, "ship", format!("ship {}", self.text(&ship.path)))
            }
            Item::Policy(policy) => self.policy(policy),
            Item::Step(step) => self.step(step),
            Item::Gate(gate) => self.gate(gate),
            Item::Timer(timer) => self.timer(timer),
            Item::Watch(watch) => self.watch(watch),
            Item::Waves(waves) => self.waves(waves),
        }
    }

    fn inventory(&self, inventory: &Inventory) -> String {
        let source = match &inventory.source {
            InventorySource::File(path) => format!("from {}", self.text(path)),
            InventorySource::Hosts(hosts) => format!(
                "hosts [{}]",
                hosts
                    .iter()
                    .map(|host| self.text(host))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            InventorySource::Inventory(name) => format!("from {}", name.name),
        };
        let filter = if inventory.filter.is_empty() {
            String::new()
        } else {
            let matches = inventory
                .filter
                .iter()
                .map(|label| {
                    let operator = if label.equal { "=" } else { "!=" };
                    format!(
                        "{} {operator} {}",
                        label.label.name,
                        self.text(&label.value)
                    )
                })
                .collect::<Vec<_>>();
            format!(" where {}", matches.join(", "))
        };
        format!("inventory {} {source}{filter}", inventory.name.name)
    }

    fn param(&self, param: &Param) -> String {
        let default = param
            .default
            .as_ref()
            .map(|default| format!(" = {}", self.literal(default)))
            .unwrap_or_default();
        format!(
            "param {}: {}{default}{}",
            param.name.name,
            param.ty.value.word(),
            self.optional_text(&param.description)
        )
    }

    fn probe(&self, probe: &Probe) -> String {
        let source = match &probe.source {
            ProbeSource::Prometheus(query) => format!("prometheus {}", self.text(query)),
            ProbeSource::Command(command) => format!("command {}", self.text(command)),
            ProbeSource::Http(url) => format!("http {}", self.text(url)),
        };
        let json = probe
            .json_path
            .as_ref()
            .map(|path| format!(" json {}", self.text(path)))
            .unwrap_or_default();
        format!("probe {} = {source}{json}", probe.name.name)
    }

    fn notify(&self, notify: &Notify) -> String {
        let trigger = match &notify.trigger {
            NotifyTrigger::Every(every) => format!("every {}", duration_text(every)),
            NotifyTrigger::On(events) => format!(
                "on {}",
                events
                    .iter()
                    .map(|event| match event.class {
                        Some(class) =>
                            format!("{} {}", event.kind.value.word(), class.value.word()),
                        None => event.kind.value.word().to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        format!(
            "notify {} via {} {trigger}{}",
            notify.audience.name,
            notify.channel.name,
            self.optional_text(&notify.message)
        )
    }

    // ------------------------------------------------------------ failure policies

    fn policy(&self, policy: &Policy) -> Node {
        let actions = policy
            .actions
            .iter()
            .map(|action| self.action(action))
            .collect();
        self.block(
            policy.span,
            policy.class.span.end,
            format!("on failure {}", policy.class.value.word()),
            actions,
        )
    }

    fn action(&self, action: &Action) -> Node {
        match action {
            Action::Continue { span } => self.line(*span, "continue".to_string()),
            Action::Pause { span } => self.line(*span, "pause".to_string()),
            Action::Abort { span } => self.line(*span, "abort".to_string()),
            Action::Rollback { scope, span } => {
                self.line(*span, format!("rollback {}", scope.value.word()))
            }
            Action::Approve(approval) => self.line(approval.span, self.approval(approval)),
            Action::Notify(message) => {
                let via = message
                    .channel
                    .as_ref()
                    .map(|channel| format!(" via {}", channel.name))
                    .unwrap_or_default();
                self.line(
                    message.span,
                    format!(
                        "notify {}{via} {}",
                        message.audience.name,
                        self.text(&message.text)
                    ),
                )
            }
            Action::Step(step) => self.step(step),
        }
    }

    // ------------------------------------------------------------ steps

    fn step(&self, step: &Step) -> Node {
        let entries = step
            .entries
            .iter()
            .map(|entry| self.step_entry(entry))
            .collect();
        let head_end = step
            .description
            .as_ref()
            .map_or(step.name.span.end, |text| text.span.end);
        self.block(
            step.span,
            head_end,
            format!(
                "step {}{}",
                step.name.name,
                self.optional_text(&step.description)
            ),
            entries,
        )
    }

    fn step_entry(&self, entry: &StepEntry) -> Node {
        let text = match &entry.kind {
            StepEntryKind::Owner(role) => format!("owner {}", role.name),
            StepEntryKind::On(inventory) => format!("on {}", inventory.name),
            StepEntryKind::OnSample { share, of } => {
                format!("on sample {} of {}", literal::percent(share.value), of.name)
            }
            StepEntryKind::Parallel(count) => format!("parallel {}", count.value),
            StepEntryKind::Timeout(limit) => format!("timeout {}", duration_text(limit)),
            StepEntryKind::Retry { attempts, backoff } => {
                let backoff = backoff
                    .map(|backoff| format!(" backoff {}", duration_text(&backoff)))
                    .unwrap_or_default();
                format!("retry {}{backoff}", attempts.value)
            }
            StepEntryKind::Idempotent => "idempotent".to_string(),
            StepEntryKind::Irreversible(reason) => format!("irreversible {}", self.text(reason)),
            StepEntryKind::Readonly => "readonly".to_string(),
            StepEntryKind::Background => "background".to_string(),
            StepEntryKind::After(names) => after(names),
            StepEntryKind::Raises(class) => format!("failure {}", class.value.word()),
            StepEntryKind::Backup => "backup".to_string(),
            StepEntryKind::Run(command) => format!("run {}", self.text(command)),
            StepEntryKind::Script(script) => format!("script {}", self.text(script)),
            StepEntryKind::Manual(instructions) => format!("manual {}", self.text(instructions)),
            StepEntryKind::Record { key, prompt } => {
                format!("record {}{}", key.name, self.optional_text(prompt))
            }
            StepEntryKind::Expect(text) => format!("expect {}", self.text(text)),
            StepEntryKind::Remedy(command) => format!("remedy {}", self.text(command)),
            StepEntryKind::Verify(command) => format!("verify {}", self.text(command)),
            StepEntryKind::Rollback(Rollback::Command(command)) => {
                format!("rollback {}", self.text(command))
            }
            StepEntryKind::Rollback(Rollback::Block { entries, span }) => {
                let entries = entries
                    .iter()
                    .map(|entry| self.line(entry.span, self.rollback_entry(&entry.kind)))
                    .collect();
                return self.block_at(
                    entry.span,
                    span.start,
                    "rollback".to_string(),
                    entries,
                    true,
                );
            }
        };
        self.line(entry.span, text)
    }

    fn rollback_entry(&self, kind: &RollbackEntryKind) -> String {
        match kind {
            RollbackEntryKind::Run(command) => format!("run {}", self.text(command)),
            RollbackEntryKind::Script(script) => format!("script {}", self.text(script)),
            RollbackEntryKind::Manual(instructions) => {
                format!("manual {}", self.text(instructions))
            }
            RollbackEntryKind::Timeout(limit) => format!("timeout {}", duration_text(limit)),
        }
    }

    // ------------------------------------------------------------ gates, timers, watches

    fn gate(&self, gate: &Gate) -> Node {
        let entries = gate
            .entries
            .iter()
            .map(|entry| match &entry.kind {
                GateEntryKind::Owner(role) => self.line(entry.span, format!("owner {}", role.name)),
                GateEntryKind::After(names) => self.line(entry.span, after(names)),
                GateEntryKind::Approve(approval) => self.line(entry.span, self.approval(approval)),
                GateEntryKind::Require(requirement) => self.requirement(entry.span, requirement),
                GateEntryKind::Poll { interval, limit } => self.line(
                    entry.span,
                    format!(
                        "poll every {} for {}",
                        duration_text(interval),
                        duration_text(limit)
                    ),
                ),
            })
            .collect();
        let head_end = gate
            .description
            .as_ref()
            .map_or(gate.name.span.end, |text| text.span.end);
        let head = format!(
            "gate {}{}",
            gate.name.name,
            self.optional_text(&gate.description)
        );
        self.block_at(gate.span, self.open_brace(head_end), head, entries, true)
    }

    fn approval(&self, approval: &Approval) -> String {
        let roles = approval
            .roles
            .iter()
            .map(|role| role.name.as_str())
            .collect::<Vec<_>>();
        let mut text = match approval.quorum {
            Some(quorum) => format!("approve by {} of [{}]", quorum.value, roles.join(", ")),
            None => format!("approve by {}", roles.join(", ")),
        };
        if approval.distinct {
            text.push_str(" distinct");
        }
        if let Some(within) = approval.within {
            text.push_str(&format!(" within {}", duration_text(&within)));
        }
        if let Some(action) = approval.on_timeout {
            text.push_str(&format!(" on timeout {}", action.value.word()));
        }
        text + self.optional_text(&approval.reason).as_str()
    }

    fn requirement(&self, span: Span, requirement: &Requirement) -> Node {
        let mut text = format!("require {}", requirement.condition.source.trim());
        if let Some(sustained) = requirement.sustained {
            text.push_str(&format!(" for {}", duration_text(&sustained)));
        }
        if let Some(class) = requirement.raises {
            text.push_str(&format!(" else {}", class.value.word()));
        }
        self.line(span, text)
    }

    fn timer(&self, timer: &Timer) -> Node {
        let head = format!(
            "timer {} {}{}",
            timer.name.name,
            duration_text(&timer.duration),
            self.optional_text(&timer.description)
        );
        if timer.entries.is_empty() {
            return self.line(timer.span, head);
        }
        let entries = timer
            .entries
            .iter()
            .map(|entry| {
                let text = match &entry.kind {
                    TimerEntryKind::Owner(role) => format!("owner {}", role.name),
                    TimerEntryKind::After(names) => after(names),
                };
                self.line(entry.span, text)
            })
            .collect();
        let head_end = timer
            .description
            .as_ref()
            .map_or(timer.duration.span.end, |text| text.span.end);
        self.block_at(timer.span, self.open_brace(head_end), head, entries, true)
    }

    fn watch(&self, watch: &Watch) -> Node {
        let entries = watch
            .entries
            .iter()
            .map(|entry| match &entry.kind {
                WatchEntryKind::Owner(role) => {
                    self.line(entry.span, format!("owner {}", role.name))
                }
                WatchEntryKind::After(names) => self.line(entry.span, after(names)),
                WatchEntryKind::Every(every) => {
                    self.line(entry.span, format!("every {}", duration_text(every)))
                }
                WatchEntryKind::During(during) => {
                    self.line(entry.span, format!("during {}", duration_text(during)))
                }
                WatchEntryKind::Require(requirement) => self.requirement(entry.span, requirement),
            })
            .collect();
        let head_end = watch
            .description
            .as_ref()
            .map_or(watch.name.span.end, |text| text.span.end);
        self.block(
            watch.span,
            head_end,
            format!(
                "watch {}{}",
                watch.name.name,
                self.optional_text(&watch.description)
            ),
            entries,
        )
    }

    // ------------------------------------------------------------ waves

    fn waves(&self, waves: &Waves) -> Node {
        let entries = waves
            .entries
            .iter()
            .map(|entry| {
                let text = match &entry.kind {
                    WavesEntryKind::Over(inventory) => format!("over {}", inventory.name),
                    WavesEntryKind::Stages(stages) => format!(
                        "stages [{}]",
                        stages
                            .iter()
                            .map(|stage| match stage {
                                Stage::Percent(share) => literal::percent(share.value),
                                Stage::Count(count) => count.value.to_string(),
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    WavesEntryKind::Pause(pause) => format!("pause {}", duration_text(pause)),
                    WavesEntryKind::Parallel(count) => format!("parallel {}", count.value),
                    WavesEntryKind::MaxFailed(Budget::Percent(share)) => {
                        format!("max_failed {}", literal::percent(share.value))
                    }
                    WavesEntryKind::MaxFailed(Budget::Count(count)) => {
                        format!("max_failed {}", count.value)
                    }
                    WavesEntryKind::After(names) => after(names),
                    WavesEntryKind::Step(step) => return self.step(step),
                    WavesEntryKind::Gate(gate) => return self.gate(gate),
                    WavesEntryKind::Timer(timer) => return self.timer(timer),
                    WavesEntryKind::Watch(watch) => return self.watch(watch),
                };
                self.line(entry.span, text)
            })
            .collect();
        let head_end = waves
            .description
            .as_ref()
            .map_or(waves.name.span.end, |text| text.span.end);
        self.block(
            waves.span,
            head_end,
            format!(
                "waves {}{}",
                waves.name.name,
                self.optional_text(&waves.description)
            ),
            entries,
        )
    }
}

fn duration_text(duration: &Duration) -> String {
    literal::duration(duration.millis)
}

fn after(names: &[Ident]) -> String {
    let names = names
        .iter()
        .map(|name| name.name.as_str())
        .collect::<Vec<_>>();
    format!("after {}", names.join(", "))
}

/// What may stand between tokens besides comments.
fn is_blank(char: char) -> bool {
    matches!(char, ' ' | '\t' | '\n' | '\r' | '\u{FEFF}')
}
