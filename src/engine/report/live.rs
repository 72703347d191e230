//! The terminal display: an indicatif `MultiProgress` with a header line, then a line
//! or bar for each thing under way, kept up to date from the facts as they are recorded.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::line::{clock_time, line};
use super::messages::{
    answer_command, header_message, hosts_message, short_duration, waiting_line, waves_message,
    HostsDone, WaitView, WavesDone,
};
use crate::engine::facts::{Fact, Outcome};
use crate::engine::history::History;

/// How often spinners and elapsed times move.
const TICK: Duration = Duration::from_millis(120);

const HEADER: &str = "{spinner:.green} {elapsed_precise} {prefix:.bold} · {wide_msg}";
const UNIT: &str = "{spinner:.green} {msg} · {took}";
const HOSTS: &str = "{spinner:.green} {prefix} [{bar:24.cyan/blue}] {wide_msg}";
const WAIT: &str = "{spinner:.yellow} {waiting}\n    {msg}";

/// The display drawing now, if any, so that log lines are written around it.
pub(super) static ACTIVE: Mutex<Option<MultiProgress>> = Mutex::new(None);

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

/// The terminal display: a header line, then a line or bar for each thing under way.
pub(super) struct Live {
    pub(super) multi: MultiProgress,
    /// Spinners and elapsed times move by themselves (not in tests).
    tick: bool,
    /// Log lines are written around this display (`suspend`).
    pub(super) registered: bool,
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
    /// The countdown to the next wave, while a pause lasts.
    pause: Option<ProgressBar>,
}

struct FanOut {
    bar: ProgressBar,
    hosts: HostsDone,
    /// Units running now, with the host each runs on.
    running: Vec<(String, String)>,
    units: Vec<String>,
}

struct WavesLine {
    bar: ProgressBar,
    progress: WavesDone,
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
    pub(super) fn new(target: ProgressDrawTarget, tick: bool) -> Self {
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
            pause: None,
        }
    }

    pub(super) fn println(&self, line: &str) {
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

    /// `time_ms` is the fact's time by the run's clock.
    pub(super) fn follow(&mut self, time_ms: u64, fact: &Fact, history: &History) {
        match fact {
            Fact::RunStarted(started) => {
                let title = started.title.as_deref().unwrap_or(&started.runbook);
                self.begin(&started.run, title, history);
            }
            Fact::WavePause {
                waves,
                index,
                until_ms,
                ..
            } => self.pausing(waves, *index, until_ms.saturating_sub(time_ms)),
            Fact::PauseSkipped { .. } => {
                if let Some(bar) = self.pause.take() {
                    self.remove(&bar);
                }
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

    pub(super) fn fan_out(
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

    pub(super) fn fan_in(&mut self, token: usize) {
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

    pub(super) fn wave(&mut self, waves: &str, mut progress: WavesDone) {
        if let Some(bar) = self.pause.take() {
            self.remove(&bar);
        }
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

    /// A countdown to the next wave, with the command that ends it early: what was left
    /// by the run's clock when the pause began, less the time the line has been shown.
    fn pausing(&mut self, waves: &str, index: usize, left_ms: u64) {
        if let Some(bar) = self.pause.take() {
            self.remove(&bar);
        }
        let what = format!("{waves}: wave {} in", index + 1);
        let style = style(WAIT).with_key(
            "waiting",
            move |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                let left = Duration::from_millis(left_ms).saturating_sub(state.elapsed());
                let _ = write!(out, "⏳ {what} {}", short_duration(left));
            },
        );
        let bar = self.add(ProgressBar::new_spinner().with_style(style), None);
        bar.set_message(format!(
            "to start it now: runbook skip-pause {} --as NAME",
            self.run_id
        ));
        self.pause = Some(bar);
    }

    pub(super) fn waiting(&mut self, fact: &Fact, owner: Option<&str>, records: &[&str]) {
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use indicatif::TermLike;

    use super::*;
    use crate::ast::FailureClass;
    use crate::engine::facts::{Need, RunStarted};

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
            roster: None,
            seed: 0,
            engine_version: "0".to_string(),
            drill: None,
            replay_of: None,
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
            approval: None,
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
            self.history.apply_fact(0, &fact, None);
            self.live.follow(0, &fact, &self.history);
        }
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
