//! What a person sees while a run goes: progress on a terminal, plain timestamped
//! lines elsewhere, or every event as a JSON line. Everything shown comes from the
//! facts being recorded, which carry no secret, and from names in the graph (a step's
//! owner, the keys a manual step records), which are not secret either.
//!
//! On a terminal an indicatif display sits below the lines that scroll: the run's title,
//! each unit running on its own, a "hosts done / total" bar for a step fanned out over
//! hosts and one for a `waves` block, and for each wait for a person how long it has
//! waited, who may answer and the command that answers. The engine tells the display
//! the few things its facts do not say (`fan_out`, `wave`, `waiting`: a resumed run
//! does not log again a wave it is in, nor a wait it is in); the rest follows the facts.

use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::facts::{Fact, Need, Outcome, RunStatus};
use super::history::History;
use crate::ast::Word;
use crate::store::Event;

/// How often spinners and elapsed times move.
const TICK: Duration = Duration::from_millis(120);
/// Hosts named on a line before the others are only counted.
const NAMED_HOSTS: usize = 3;

const HEADER: &str = "{spinner:.green} {elapsed_precise} {prefix:.bold} · {wide_msg}";
const UNIT: &str = "{spinner:.green} {msg} · {took}";
const HOSTS: &str = "{spinner:.green} {prefix} [{bar:24.cyan/blue}] {wide_msg}";
const WAIT: &str = "{spinner:.yellow} {waiting}\n    {msg}";

/// The display drawing now, if any, so that log lines are written around it.
static ACTIVE: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// Runs `write` with the terminal display (if one is drawn) taken off the screen, and
/// draws it again after: what writes to the terminal while a run shows its progress
/// (the tracing logs under `RUST_LOG`) goes through here.
pub fn suspend<R>(write: impl FnOnce() -> R) -> R {
    let active = ACTIVE.lock().ok().and_then(|active| active.clone());
    match active {
        Some(multi) => multi.suspend(write),
        None => write(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputMode {
    /// Progress on a terminal, plain lines otherwise.
    Auto,
    /// Plain timestamped lines.
    Plain,
    /// Every event as one JSON line, as written to the log.
    Json,
    /// Nothing but errors.
    Quiet,
}

pub struct Reporter {
    mode: OutputMode,
    live: Option<Live>,
}

impl Reporter {
    pub fn new(mode: OutputMode) -> Self {
        match mode {
            OutputMode::Auto if on_terminal() => {
                let mut live = Live::new(ProgressDrawTarget::stderr(), true);
                if let Ok(mut active) = ACTIVE.lock() {
                    *active = Some(live.multi.clone());
                    live.registered = true;
                }
                Self {
                    mode,
                    live: Some(live),
                }
            }
            OutputMode::Auto => Self {
                mode: OutputMode::Plain,
                live: None,
            },
            other => Self {
                mode: other,
                live: None,
            },
        }
    }

    /// Whether a terminal display is drawn: what only it needs is worked out only then.
    pub fn live(&self) -> bool {
        self.live.is_some()
    }

    /// A fact as it is recorded.
    pub fn show(&mut self, time_ms: u64, fact: &Fact, history: &History) {
        if matches!(self.mode, OutputMode::Json | OutputMode::Quiet) {
            return;
        }
        if let Some(live) = &mut self.live {
            live.follow(fact, history);
        }
        let Some(line) = line(fact) else {
            return;
        };
        let line = format!("{} {line}", clock_time(time_ms));
        match &self.live {
            Some(live) => live.println(&line),
            None => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
            }
        }
    }

    /// A step begins over several hosts: its units (by key), of which `done` already
    /// finished before a resume. `within` is the `waves` block it runs in, if any.
    /// Returns what `fan_in` takes when the step is over.
    pub fn fan_out(
        &mut self,
        node: &str,
        within: Option<&str>,
        units: Vec<String>,
        done: usize,
    ) -> Option<usize> {
        self.live
            .as_mut()
            .and_then(|live| live.fan_out(node, within, units, done))
    }

    /// The step of a `fan_out` is over.
    pub fn fan_in(&mut self, token: usize) {
        if let Some(live) = &mut self.live {
            live.fan_in(token);
        }
    }

    /// A wave of a `waves` block begins (or goes on, after a resume): wave `index` of
    /// `count` over `hosts`, after `before` of the block's `total` hosts.
    pub fn wave(
        &mut self,
        waves: &str,
        index: usize,
        count: usize,
        hosts: &[String],
        before: usize,
        total: usize,
    ) {
        if let Some(live) = &mut self.live {
            let progress = WavesDone {
                index,
                count,
                hosts: hosts.to_vec(),
                before,
                total,
                failed: 0,
                finished: false,
            };
            live.wave(waves, progress);
        }
    }

    /// The engine waits for a person to answer this `Fact::Waiting` (logged now or by an
    /// earlier engine); `owner` is the role that owns the step, `records` the keys a
    /// confirmation enters.
    pub fn waiting(&mut self, fact: &Fact, owner: Option<&str>, records: &[&str]) {
        if let Some(live) = &mut self.live {
            live.waiting(fact, owner, records);
        }
    }

    /// Events once they are on disk: what `--output json` streams.
    pub fn written(&mut self, events: &[Event]) {
        if self.mode != OutputMode::Json {
            return;
        }
        let mut out = std::io::stdout().lock();
        for event in events {
            if let Ok(line) = serde_json::to_string(event) {
                let _ = writeln!(out, "{line}");
            }
        }
        let _ = out.flush();
    }

    pub fn finish(&mut self) {
        self.live = None;
    }
}

/// Progress is drawn when both standard output and standard error are a terminal that
/// can move its cursor: `runbook run x.rbk > out.txt` gets plain lines in the file.
fn on_terminal() -> bool {
    std::io::stdout().is_terminal()
        && std::io::stderr().is_terminal()
        && std::env::var_os("TERM").is_none_or(|term| term != "dumb")
}

/// The terminal display: a header line, then a line or bar for each thing under way.
struct Live {
    multi: MultiProgress,
    /// Spinners and elapsed times move by themselves (not in tests).
    tick: bool,
    /// Log lines are written around this display (`suspend`).
    registered: bool,
    header: ProgressBar,
    run_id: String,
    /// Units running on their own (not part of a fan-out), by key.
    units: HashMap<String, ProgressBar>,
    fan_outs: HashMap<usize, FanOut>,
    next_fan_out: usize,
    /// The fan-out each unit belongs to, by the unit's key.
    fanned: HashMap<String, usize>,
    /// By the `waves` block's name.
    waves: HashMap<String, WavesLine>,
    /// Waits for a person, by unit.
    waits: HashMap<String, ProgressBar>,
    /// Units whose `Waiting` fact was printed by this engine.
    announced: HashSet<String>,
}

struct FanOut {
    bar: ProgressBar,
    hosts: HostsDone,
    /// Units running now, with the host each runs on.
    running: Vec<(String, String)>,
    units: Vec<String>,
}

/// Where a fan-out stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct HostsDone {
    total: usize,
    done: usize,
    failed: usize,
    running: Vec<String>,
}

struct WavesLine {
    bar: ProgressBar,
    progress: WavesDone,
}

/// Where a `waves` block stands: its current wave, and the hosts of the waves before.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WavesDone {
    index: usize,
    count: usize,
    hosts: Vec<String>,
    before: usize,
    total: usize,
    failed: usize,
    finished: bool,
}

/// A wait for a person, as its line shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WaitView {
    need: Need,
    node: String,
    host: Option<String>,
    owner: Option<String>,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .with_key(
            "took",
            |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = out.write_str(&short_duration(state.elapsed()));
            },
        )
}

impl Live {
    fn new(target: ProgressDrawTarget, tick: bool) -> Self {
        let multi = MultiProgress::with_draw_target(target);
        let header = multi.add(ProgressBar::new_spinner().with_style(style(HEADER)));
        header.set_prefix("runbook");
        header.set_message("starting");
        if tick {
            header.enable_steady_tick(TICK);
        }
        Self {
            multi,
            tick,
            registered: false,
            header,
            run_id: "RUN".to_string(),
            units: HashMap::new(),
            fan_outs: HashMap::new(),
            next_fan_out: 0,
            fanned: HashMap::new(),
            waves: HashMap::new(),
            waits: HashMap::new(),
            announced: HashSet::new(),
        }
    }

    fn println(&self, line: &str) {
        let _ = self.multi.println(line);
    }

    /// A new line at the bottom of the display, or right after `after`.
    fn add(&self, bar: ProgressBar, after: Option<&ProgressBar>) -> ProgressBar {
        let bar = match after {
            Some(after) => self.multi.insert_after(after, bar),
            None => self.multi.add(bar),
        };
        if self.tick {
            bar.enable_steady_tick(TICK);
        }
        bar
    }

    fn remove(&self, bar: &ProgressBar) {
        bar.finish_and_clear();
        self.multi.remove(bar);
    }

    fn follow(&mut self, fact: &Fact, history: &History) {
        match fact {
            Fact::RunStarted(started) => {
                let title = started.title.as_deref().unwrap_or(&started.runbook);
                self.begin(&started.run, title, history);
            }
            Fact::RunResumed { .. } => {
                if let Some(started) = &history.started {
                    let title = started.title.as_deref().unwrap_or(&started.runbook);
                    self.begin(&started.run, title, history);
                }
            }
            Fact::UnitStarted { unit, host, .. } => {
                self.runs(unit, host.as_deref(), line(fact).unwrap_or_default());
            }
            // A unit taken up again after a resume (or a decision) logs no new start:
            // its next command says it runs.
            Fact::CommandStarted { unit, .. } if !self.is_running(unit) => {
                if let Some(record) = history.unit(unit) {
                    let again = Fact::UnitStarted {
                        unit: unit.clone(),
                        node: record.node.clone(),
                        host: record.host.clone(),
                        attempt: record.attempts.max(1),
                    };
                    let text = line(&again).unwrap_or_default();
                    self.runs(unit, record.host.as_deref(), text);
                }
            }
            Fact::UnitFinished { unit, outcome, .. } => {
                if let Some(fan_out) = self
                    .fanned
                    .get(unit)
                    .and_then(|token| self.fan_outs.get_mut(token))
                {
                    fan_out.running.retain(|(running, _)| running != unit);
                    fan_out.hosts.done = (fan_out.hosts.done + 1).min(fan_out.hosts.total);
                    if matches!(outcome, Outcome::Failed { .. }) {
                        fan_out.hosts.failed += 1;
                    }
                    fan_out.show();
                } else if let Some(bar) = self.units.remove(unit) {
                    self.remove(&bar);
                }
                self.header
                    .set_message(header_message(&self.run_id, history.completed.len()));
            }
            Fact::Waiting { unit, .. } => {
                self.announced.insert(unit.clone());
            }
            Fact::Confirmed { unit, .. } | Fact::Decided { unit, .. } => {
                if let Some(bar) = self.waits.remove(unit) {
                    self.remove(&bar);
                }
            }
            Fact::WaveFinished {
                waves,
                index,
                failed,
            } => {
                let Some(line) = self.waves.get_mut(waves) else {
                    return;
                };
                if line.progress.index != *index {
                    return;
                }
                line.progress.finished = true;
                line.progress.failed += failed.len();
                line.bar
                    .set_position((line.progress.before + line.progress.hosts.len()) as u64);
                line.bar.set_message(waves_message(&line.progress));
                if index + 1 >= line.progress.count {
                    if let Some(line) = self.waves.remove(waves) {
                        self.remove(&line.bar);
                    }
                }
            }
            _ => {}
        }
    }

    /// A unit runs: a host more on its fan-out's bar, or a line of its own.
    fn runs(&mut self, unit: &str, host: Option<&str>, text: String) {
        if let Some(fan_out) = self
            .fanned
            .get(unit)
            .and_then(|token| self.fan_outs.get_mut(token))
        {
            let shown = host.unwrap_or(unit).to_string();
            fan_out.running.retain(|(running, _)| running != unit);
            fan_out.running.push((unit.to_string(), shown));
            fan_out.show();
            return;
        }
        match self.units.get(unit) {
            Some(bar) => bar.set_message(text),
            None => {
                let bar = self.add(ProgressBar::new_spinner().with_style(style(UNIT)), None);
                bar.set_message(text);
                self.units.insert(unit.to_string(), bar);
            }
        }
    }

    fn is_running(&self, unit: &str) -> bool {
        match self
            .fanned
            .get(unit)
            .and_then(|token| self.fan_outs.get(token))
        {
            Some(fan_out) => fan_out.running.iter().any(|(running, _)| running == unit),
            None => self.units.contains_key(unit),
        }
    }

    fn begin(&mut self, run_id: &str, title: &str, history: &History) {
        self.run_id = run_id.to_string();
        self.header.set_prefix(title.to_string());
        self.header
            .set_message(header_message(run_id, history.completed.len()));
    }

    fn fan_out(
        &mut self,
        node: &str,
        within: Option<&str>,
        units: Vec<String>,
        done: usize,
    ) -> Option<usize> {
        if units.is_empty() {
            return None;
        }
        let token = self.next_fan_out;
        self.next_fan_out += 1;
        let after = within
            .and_then(|waves| self.waves.get(waves))
            .map(|line| &line.bar);
        let prefix = match after {
            Some(_) => format!("  {node}"),
            None => node.to_string(),
        };
        let bar = ProgressBar::new(units.len() as u64).with_style(style(HOSTS));
        let bar = self.add(bar, after);
        bar.set_prefix(prefix);
        bar.set_position(done as u64);
        for unit in &units {
            self.fanned.insert(unit.clone(), token);
        }
        let fan_out = FanOut {
            bar,
            hosts: HostsDone {
                total: units.len(),
                done: done.min(units.len()),
                failed: 0,
                running: Vec::new(),
            },
            running: Vec::new(),
            units,
        };
        fan_out.show();
        self.fan_outs.insert(token, fan_out);
        Some(token)
    }

    fn fan_in(&mut self, token: usize) {
        let Some(fan_out) = self.fan_outs.remove(&token) else {
            return;
        };
        for unit in &fan_out.units {
            if self.fanned.get(unit) == Some(&token) {
                self.fanned.remove(unit);
            }
        }
        self.remove(&fan_out.bar);
    }

    fn wave(&mut self, waves: &str, mut progress: WavesDone) {
        match self.waves.get_mut(waves) {
            Some(line) => {
                progress.failed = line.progress.failed;
                line.bar.set_length(progress.total as u64);
                line.bar.set_position(progress.before as u64);
                line.bar.set_message(waves_message(&progress));
                line.progress = progress;
            }
            None => {
                let bar = ProgressBar::new(progress.total as u64).with_style(style(HOSTS));
                let bar = self.add(bar, None);
                bar.set_prefix(waves.to_string());
                bar.set_position(progress.before as u64);
                bar.set_message(waves_message(&progress));
                self.waves
                    .insert(waves.to_string(), WavesLine { bar, progress });
            }
        }
    }

    fn waiting(&mut self, fact: &Fact, owner: Option<&str>, records: &[&str]) {
        let Fact::Waiting {
            unit,
            node,
            host,
            need,
            ..
        } = fact
        else {
            return;
        };
        // A wait an earlier engine logged: say again what it is, once.
        if self.announced.insert(unit.clone()) {
            if let Some(line) = line(fact) {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |since| since.as_millis() as u64);
                self.println(&format!("{} {line}", clock_time(now)));
            }
        }
        let view = WaitView {
            need: *need,
            node: node.clone(),
            host: host.clone(),
            owner: owner.map(str::to_string),
        };
        let command = answer_command(&self.run_id, &view, records);
        let style = style(WAIT).with_key(
            "waiting",
            move |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = out.write_str(&waiting_line(&view, state.elapsed()));
            },
        );
        if let Some(bar) = self.waits.remove(unit) {
            self.remove(&bar);
        }
        let bar = self.add(ProgressBar::new_spinner().with_style(style), None);
        bar.set_message(format!("answer: {command}"));
        self.waits.insert(unit.clone(), bar);
    }
}

impl FanOut {
    fn show(&self) {
        let hosts = HostsDone {
            running: self.running.iter().map(|(_, host)| host.clone()).collect(),
            ..self.hosts.clone()
        };
        self.bar.set_position(hosts.done as u64);
        self.bar.set_message(hosts_message(&hosts));
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let bars = self
            .units
            .values()
            .chain(self.fan_outs.values().map(|fan_out| &fan_out.bar))
            .chain(self.waves.values().map(|line| &line.bar))
            .chain(self.waits.values())
            .chain(std::iter::once(&self.header));
        for bar in bars {
            bar.finish_and_clear();
        }
        let _ = self.multi.clear();
        if self.registered {
            if let Ok(mut active) = ACTIVE.lock() {
                *active = None;
            }
        }
    }
}

/// The header's message: `run 20261121-140327-demo · 12 units done`.
fn header_message(run_id: &str, done: usize) -> String {
    format!(
        "run {run_id} · {done} unit{} done",
        if done == 1 { "" } else { "s" }
    )
}

/// A fan-out's message beside its bar: `3/8 hosts done · 1 failed · running demo-04, demo-05`.
fn hosts_message(hosts: &HostsDone) -> String {
    let mut text = format!(
        "{}/{} host{} done",
        hosts.done,
        hosts.total,
        if hosts.total == 1 { "" } else { "s" }
    );
    if hosts.failed > 0 {
        text.push_str(&format!(" · {} failed", hosts.failed));
    }
    if !hosts.running.is_empty() {
        text.push_str(" · running ");
        text.push_str(&name_some(&hosts.running));
    }
    text
}

/// A `waves` block's message: `4/8 hosts done · wave 2 of 3: demo-02, demo-03, demo-04`.
fn waves_message(waves: &WavesDone) -> String {
    let done = if waves.finished {
        waves.before + waves.hosts.len()
    } else {
        waves.before
    };
    let mut text = format!("{done}/{} hosts done", waves.total);
    if waves.failed > 0 {
        text.push_str(&format!(" · {} failed", waves.failed));
    }
    text.push_str(&format!(" · wave {} of {}", waves.index + 1, waves.count));
    if waves.finished {
        text.push_str(" done");
    } else {
        text.push_str(": ");
        text.push_str(&name_range(&waves.hosts));
    }
    text
}

/// A few names, then how many more: `a, b, c and 2 more`.
fn name_some(names: &[String]) -> String {
    let shown = names[..names.len().min(NAMED_HOSTS)].join(", ");
    match names.len().saturating_sub(NAMED_HOSTS) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// The hosts of a wave, which are consecutive in their inventory: `a, b, c` or
/// `demo-05 … demo-08 (4 hosts)`.
fn name_range(hosts: &[String]) -> String {
    match hosts {
        [] => "no host".to_string(),
        [first, .., last] if hosts.len() > NAMED_HOSTS => {
            format!("{first} … {last} ({} hosts)", hosts.len())
        }
        _ => hosts.join(", "),
    }
}

/// The first line of a wait: what it waits for, for how long, and who may answer.
fn waiting_line(view: &WaitView, waited: Duration) -> String {
    let on = view
        .host
        .as_deref()
        .map(|host| format!(" on {host}"))
        .unwrap_or_default();
    let what = match view.need {
        Need::Confirmation => "waits for a person to confirm it",
        Need::Decision => "waits for a decision",
    };
    let who = match &view.owner {
        Some(owner) => format!("owner: {owner}"),
        None => "no owner named: anyone may answer".to_string(),
    };
    format!(
        "⏸ {}{on} {what} · waiting {} · {who}",
        view.node,
        short_duration(waited)
    )
}

/// The command that answers a wait, as the person types it.
fn answer_command(run_id: &str, view: &WaitView, records: &[&str]) -> String {
    let host = view
        .host
        .as_deref()
        .map(|host| format!(" --host {host}"))
        .unwrap_or_default();
    match view.need {
        Need::Confirmation => {
            let mut command = format!("runbook confirm {run_id} {}{host} --as NAME", view.node);
            for key in records {
                command.push_str(&format!(" --set {key}=..."));
            }
            command
        }
        Need::Decision => format!(
            "runbook decide {run_id} {}{host} retry|skip|fail --as NAME",
            view.node
        ),
    }
}

/// `42s`, `3m05s`, `2h03m`.
fn short_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60),
    }
}

/// `14:03:27`, in UTC like every time the tool shows.
pub fn clock_time(time_ms: u64) -> String {
    let stamp = timestamp(time_ms);
    stamp.get(11..19).unwrap_or(&stamp).to_string()
}

/// `2026-11-21T14:03:27Z`.
pub fn timestamp(time_ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(time_ms)).to_string()
}

/// The one-line form of the facts worth a line; the rest (output, command starts)
/// are in the log and the transcript.
pub fn line(fact: &Fact) -> Option<String> {
    let on = |host: &Option<String>| {
        host.as_deref()
            .map(|host| format!(" on {host}"))
            .unwrap_or_default()
    };
    Some(match fact {
        Fact::RunStarted(started) => format!(
            "run {} started: {} ({})",
            started.run, started.runbook, started.file
        ),
        Fact::RunResumed { .. } => "run resumed".to_string(),
        Fact::ChangesAccepted { .. } => "the edited runbook was accepted".to_string(),
        Fact::UnitStarted {
            unit,
            node,
            host,
            attempt,
        } => {
            let again = if *attempt > 1 {
                format!(" (attempt {attempt})")
            } else {
                String::new()
            };
            if unit.starts_with(crate::compile::ROLLBACK_PREFIX) {
                format!("↺ undo {node}{}{again}", on(host))
            } else {
                format!("▶ {node}{}{again}", on(host))
            }
        }
        Fact::UnitFinished {
            unit,
            outcome,
            summary,
        } => {
            let why = summary
                .as_deref()
                .map(|summary| format!(": {summary}"))
                .unwrap_or_default();
            match outcome {
                Outcome::Succeeded { .. } => format!("✔ {unit}"),
                Outcome::Failed { class } => format!("✘ {unit} failed ({}){why}", class.word()),
                Outcome::Skipped {} => format!("↷ {unit} skipped{why}"),
            }
        }
        Fact::Waiting {
            unit, need, text, ..
        } => match need {
            Need::Confirmation => format!("⏸ {unit} needs a person:\n{}", indent(text)),
            Need::Decision => format!("⏸ {unit} needs a decision: {text}"),
        },
        Fact::Confirmed { unit, .. } => format!("✔ {unit} confirmed"),
        Fact::Decided { unit, decision } => format!("{unit}: decided {decision:?}").to_lowercase(),
        Fact::WaveStarted {
            waves,
            index,
            count,
            hosts,
        } => format!(
            "{waves}: wave {} of {count}, {} host{}",
            index + 1,
            hosts.len(),
            if hosts.len() == 1 { "" } else { "s" }
        ),
        Fact::WaveFinished {
            waves,
            index,
            failed,
        } => {
            if failed.is_empty() {
                format!("{waves}: wave {} done", index + 1)
            } else {
                format!(
                    "{waves}: wave {} done, failed on {}",
                    index + 1,
                    failed.join(", ")
                )
            }
        }
        Fact::Failure {
            class,
            node,
            host,
            summary,
            ..
        } => format!("{} failure at {node}{}: {summary}", class.word(), on(host)),
        Fact::PolicyAction { action, .. } => format!("policy: {action}"),
        Fact::Notice {
            audience, message, ..
        } => format!("notice to {audience}: {message}"),
        Fact::RollbackStarted { scope, units, .. } => {
            format!("↺ rollback ({scope}) of {} unit(s)", units.len())
        }
        Fact::RollbackFinished { succeeded, .. } => {
            if *succeeded {
                "↺ rollback done".to_string()
            } else {
                "‼ ROLLBACK FAILED: people must take over".to_string()
            }
        }
        Fact::RunPaused { reason } => format!("run paused: {reason}"),
        Fact::RunFinished { status } => match status {
            RunStatus::Completed => "run completed".to_string(),
            RunStatus::Failed => "run failed".to_string(),
            RunStatus::RollbackFailed => "run ended with a failed rollback".to_string(),
        },
        Fact::CommandStarted { .. } | Fact::Output { .. } | Fact::CommandFinished { .. } => {
            return None
        }
    })
}

fn indent(text: &str) -> String {
    text.trim()
        .lines()
        .map(|line| format!("    {}", line.trim()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use indicatif::TermLike;

    use super::*;
    use crate::ast::FailureClass;
    use crate::engine::facts::RunStarted;

    fn run_started() -> Fact {
        Fact::RunStarted(Box::new(RunStarted {
            run: "20261121-140327-demo".to_string(),
            runbook: "demo".to_string(),
            title: Some("Demo: kernel upgrade".to_string()),
            file: "demo.rbk".to_string(),
            machine: "here".to_string(),
            started_by: "alice".to_string(),
            source_sha256: String::new(),
            source: String::new(),
            params: BTreeMap::new(),
            inventories: BTreeMap::new(),
            seed: 0,
            engine_version: "0".to_string(),
        }))
    }

    fn started(unit: &str, node: &str, host: Option<&str>) -> Fact {
        Fact::UnitStarted {
            unit: unit.to_string(),
            node: node.to_string(),
            host: host.map(str::to_string),
            attempt: 1,
        }
    }

    fn finished(unit: &str, failed: bool) -> Fact {
        Fact::UnitFinished {
            unit: unit.to_string(),
            outcome: if failed {
                Outcome::Failed {
                    class: FailureClass::Functional,
                }
            } else {
                Outcome::Succeeded {
                    values: BTreeMap::new(),
                }
            },
            summary: None,
        }
    }

    fn waiting(unit: &str, node: &str, host: Option<&str>, need: Need) -> Fact {
        Fact::Waiting {
            unit: unit.to_string(),
            node: node.to_string(),
            host: host.map(str::to_string),
            need,
            text: "Publish the notice".to_string(),
        }
    }

    fn hosts(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    /// A display that draws nothing, and the history its facts build.
    struct Watched {
        live: Live,
        history: History,
    }

    impl Watched {
        fn new(target: ProgressDrawTarget) -> Self {
            Self {
                live: Live::new(target, false),
                history: History::default(),
            }
        }

        fn feed(&mut self, fact: Fact) {
            self.history.apply_fact(0, &fact);
            self.live.follow(&fact, &self.history);
        }
    }

    #[test]
    fn a_fan_out_says_hosts_done_of_total_and_which_run() {
        let mut hosts = HostsDone {
            total: 8,
            ..HostsDone::default()
        };
        assert_eq!(hosts_message(&hosts), "0/8 hosts done");
        hosts.done = 3;
        hosts.running = vec!["demo-04".to_string(), "demo-05".to_string()];
        assert_eq!(
            hosts_message(&hosts),
            "3/8 hosts done · running demo-04, demo-05"
        );
        hosts.failed = 1;
        hosts.running = ["a", "b", "c", "d", "e"].map(str::to_string).to_vec();
        assert_eq!(
            hosts_message(&hosts),
            "3/8 hosts done · 1 failed · running a, b, c and 2 more"
        );
        let one = HostsDone {
            total: 1,
            done: 1,
            ..HostsDone::default()
        };
        assert_eq!(hosts_message(&one), "1/1 host done");
    }

    #[test]
    fn a_waves_block_says_hosts_done_and_the_wave_under_way() {
        let mut waves = WavesDone {
            index: 1,
            count: 3,
            hosts: hosts(&["demo-02", "demo-03", "demo-04"]),
            before: 1,
            total: 8,
            failed: 0,
            finished: false,
        };
        assert_eq!(
            waves_message(&waves),
            "1/8 hosts done · wave 2 of 3: demo-02, demo-03, demo-04"
        );
        waves.finished = true;
        waves.failed = 1;
        assert_eq!(
            waves_message(&waves),
            "4/8 hosts done · 1 failed · wave 2 of 3 done"
        );
        let last = WavesDone {
            index: 2,
            hosts: hosts(&["demo-05", "demo-06", "demo-07", "demo-08"]),
            before: 4,
            finished: false,
            failed: 0,
            ..waves
        };
        assert_eq!(
            waves_message(&last),
            "4/8 hosts done · wave 3 of 3: demo-05 … demo-08 (4 hosts)"
        );
    }

    #[test]
    fn a_wait_says_how_long_who_may_answer_and_how() {
        let view = WaitView {
            need: Need::Confirmation,
            node: "announce".to_string(),
            host: None,
            owner: Some("operator".to_string()),
        };
        assert_eq!(
            waiting_line(&view, Duration::from_secs(65)),
            "⏸ announce waits for a person to confirm it · waiting 1m05s · owner: operator"
        );
        assert_eq!(
            answer_command("RUN-1", &view, &["url", "ticket"]),
            "runbook confirm RUN-1 announce --as NAME --set url=... --set ticket=..."
        );
        let decision = WaitView {
            need: Need::Decision,
            node: "rollback:install".to_string(),
            host: Some("web-3".to_string()),
            owner: None,
        };
        assert_eq!(
            waiting_line(&decision, Duration::from_secs(7)),
            "⏸ rollback:install on web-3 waits for a decision · waiting 7s · no owner named: anyone may answer"
        );
        assert_eq!(
            answer_command("RUN-1", &decision, &[]),
            "runbook decide RUN-1 rollback:install --host web-3 retry|skip|fail --as NAME"
        );
    }

    #[test]
    fn durations_are_short() {
        assert_eq!(short_duration(Duration::from_millis(900)), "0s");
        assert_eq!(short_duration(Duration::from_secs(59)), "59s");
        assert_eq!(short_duration(Duration::from_secs(60)), "1m00s");
        assert_eq!(short_duration(Duration::from_secs(3599)), "59m59s");
        assert_eq!(
            short_duration(Duration::from_secs(3600 * 26 + 180)),
            "26h03m"
        );
    }

    #[test]
    fn the_bars_follow_the_facts() {
        let mut watched = Watched::new(ProgressDrawTarget::hidden());
        watched.feed(run_started());
        assert_eq!(watched.live.header.prefix(), "Demo: kernel upgrade");
        assert_eq!(
            watched.live.header.message(),
            "run 20261121-140327-demo · 0 units done"
        );

        // A step over three hosts, one of them done before a resume.
        let units = hosts(&["backup@a", "backup@b", "backup@c"]);
        let token = watched
            .live
            .fan_out("backup", None, units, 1)
            .expect("a bar");
        watched.feed(started("backup@b", "backup", Some("b")));
        watched.feed(started("backup@c", "backup", Some("c")));
        let bar = &watched.live.fan_outs[&token].bar;
        assert_eq!((bar.position(), bar.length()), (1, Some(3)));
        assert_eq!(bar.message(), "1/3 hosts done · running b, c");
        assert!(watched.live.units.is_empty(), "no line of their own");
        watched.feed(finished("backup@b", false));
        watched.feed(finished("backup@c", true));
        let bar = watched.live.fan_outs[&token].bar.clone();
        assert_eq!(bar.position(), 3);
        assert_eq!(bar.message(), "3/3 hosts done · 1 failed");
        assert_eq!(
            watched.live.header.message(),
            "run 20261121-140327-demo · 1 unit done"
        );
        watched.live.fan_in(token);
        assert!(bar.is_finished());
        assert!(watched.live.fanned.is_empty());

        // A unit on its own has a line while it runs.
        watched.feed(started("announce", "announce", None));
        assert_eq!(watched.live.units["announce"].message(), "▶ announce");
        watched.feed(waiting("announce", "announce", None, Need::Confirmation));
        let fact = waiting("announce", "announce", None, Need::Confirmation);
        watched.live.waiting(&fact, Some("operator"), &["url"]);
        let wait = watched.live.waits["announce"].clone();
        assert_eq!(
            wait.message(),
            "answer: runbook confirm 20261121-140327-demo announce --as NAME --set url=..."
        );
        watched.feed(Fact::Confirmed {
            unit: "announce".to_string(),
            values: BTreeMap::new(),
        });
        assert!(wait.is_finished() && watched.live.waits.is_empty());
        watched.feed(finished("announce", false));
        assert!(watched.live.units.is_empty());
    }

    #[test]
    fn a_waves_bar_counts_the_hosts_of_finished_waves() {
        let mut watched = Watched::new(ProgressDrawTarget::hidden());
        watched.feed(run_started());
        watched.live.wave(
            "rollout",
            WavesDone {
                index: 0,
                count: 2,
                hosts: hosts(&["a"]),
                before: 0,
                total: 3,
                failed: 0,
                finished: false,
            },
        );
        let bar = watched.live.waves["rollout"].bar.clone();
        assert_eq!((bar.position(), bar.length()), (0, Some(3)));
        assert_eq!(bar.message(), "0/3 hosts done · wave 1 of 2: a");
        // A body step's bar goes under its waves block's, indented.
        let token = watched
            .live
            .fan_out("drain", Some("rollout"), hosts(&["drain@a"]), 0)
            .expect("a bar");
        assert_eq!(watched.live.fan_outs[&token].bar.prefix(), "  drain");
        watched.live.fan_in(token);
        watched.feed(Fact::WaveFinished {
            waves: "rollout".to_string(),
            index: 0,
            failed: Vec::new(),
        });
        assert_eq!(bar.position(), 1);
        assert_eq!(bar.message(), "1/3 hosts done · wave 1 of 2 done");
        watched.live.wave(
            "rollout",
            WavesDone {
                index: 1,
                count: 2,
                hosts: hosts(&["b", "c"]),
                before: 1,
                total: 3,
                failed: 0,
                finished: false,
            },
        );
        assert_eq!(bar.message(), "1/3 hosts done · wave 2 of 2: b, c");
        watched.feed(Fact::WaveFinished {
            waves: "rollout".to_string(),
            index: 1,
            failed: vec!["c".to_string()],
        });
        assert_eq!(bar.position(), 3);
        assert!(bar.is_finished(), "the last wave's end takes the bar away");
        assert!(watched.live.waves.is_empty());
    }

    #[test]
    fn a_unit_taken_up_again_runs_from_its_next_command() {
        let mut watched = Watched::new(ProgressDrawTarget::hidden());
        watched.feed(run_started());
        // Begun by an earlier engine: the history knows its step and host.
        watched.feed(started("migrate@db-2", "migrate", Some("db-2")));
        watched.feed(started("rollback:install@db-1", "install", Some("db-1")));
        watched.live = Live::new(ProgressDrawTarget::hidden(), false);
        let token = watched
            .live
            .fan_out("migrate", None, hosts(&["migrate@db-1", "migrate@db-2"]), 1)
            .expect("a bar");
        let command = |unit: &str| Fact::CommandStarted {
            unit: unit.to_string(),
            phase: crate::engine::facts::Phase::Run,
            index: 1,
            attempt: 1,
            command: "true".to_string(),
        };
        watched.feed(command("migrate@db-2"));
        assert_eq!(
            watched.live.fan_outs[&token].bar.message(),
            "1/2 hosts done · running db-2"
        );
        watched.feed(command("rollback:install@db-1"));
        assert_eq!(
            watched.live.units["rollback:install@db-1"].message(),
            "↺ undo install on db-1"
        );
    }

    /// A terminal that keeps what is written to it.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<String>>);

    impl Screen {
        fn text(&self) -> String {
            self.0.lock().map(|text| text.clone()).unwrap_or_default()
        }
    }

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            200
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, line: &str) -> std::io::Result<()> {
            self.write_str(line)
        }
        /// indicatif writes each line of the display at once, padded to the width.
        fn write_str(&self, line: &str) -> std::io::Result<()> {
            if let Ok(mut screen) = self.0.lock() {
                screen.push_str(line.trim_end());
                screen.push('\n');
            }
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn what_the_terminal_shows() {
        let screen = Screen::default();
        let mut watched = Watched::new(ProgressDrawTarget::term_like(Box::new(screen.clone())));
        watched.feed(run_started());
        let units = hosts(&["backup@a", "backup@b"]);
        watched.live.fan_out("backup", None, units, 0);
        watched.feed(started("backup@a", "backup", Some("a")));
        watched.feed(finished("backup@a", false));
        watched.feed(started("backup@b", "backup", Some("b")));
        let fact = waiting("backup@b", "backup", Some("b"), Need::Decision);
        watched.feed(fact.clone());
        watched.live.waiting(&fact, Some("operator"), &[]);
        watched
            .live
            .println("14:03:27 ✔ a finished line scrolls above");
        let drawn = screen.text();
        let frame = drawn
            .rsplit_once("a finished line scrolls above\n")
            .map(|(_, frame)| frame)
            .unwrap_or_default();
        let lines: Vec<&str> = frame.lines().filter(|line| !line.is_empty()).collect();
        assert_eq!(lines.len(), 4, "{frame}");
        assert!(
            lines[0].ends_with(
                " 00:00:00 Demo: kernel upgrade · run 20261121-140327-demo · 1 unit done"
            ),
            "{frame}"
        );
        assert!(lines[1].contains(" backup ["), "{frame}");
        assert!(
            lines[1].ends_with("] 1/2 hosts done · running b"),
            "{frame}"
        );
        let waited = |seconds: u32| {
            format!("⏸ backup on b waits for a decision · waiting {seconds}s · owner: operator")
        };
        assert!(
            lines[2].ends_with(&waited(0)) || lines[2].ends_with(&waited(1)),
            "{frame}"
        );
        assert_eq!(
            lines[3],
            "    answer: runbook decide 20261121-140327-demo backup --host b retry|skip|fail --as NAME"
        );
    }
}
