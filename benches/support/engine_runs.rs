//! Runbooks for the engine's benchmarks, and the runs made from them through the
//! library as `runbook run` and `runbook resume` make them: the file is read and checked
//! by `pipeline::check_source`, the graph goes to `engine::start`, a stopped run is
//! taken up by `Stopped::open` and `engine::resume`.
//!
//! Used by `benches/engine.rs` (time), `benches/resume_memory.rs` and
//! `benches/waves_memory.rs` (peak heap). Figures: docs/performance.md, "The engine"
//! and "Waves and probes".

use std::collections::BTreeMap;
use std::fmt::Write;
use std::fs;
use std::path::{Path, PathBuf};

use runbook::compile::Graph;
use runbook::engine::clock::RealClock;
use runbook::engine::report::OutputMode;
use runbook::engine::{self, Ending, Launch, OnInterrupt, Options, Resumption, Stopped};
use runbook::executor::shell::Local;
use runbook::pipeline::{self, Outcome};
use runbook::source::{self, SourceFile};
use runbook::store::Durability;
use tempfile::TempDir;

/// The no-op step's script. The language has no action that does nothing: a step needs
/// a `run` (a process), a `script` or a `manual` (a person). A Rhai script that binds a
/// variable and returns nothing is the cheapest action that runs no process and
/// prints nothing, so it adds no output event.
pub const NO_OP_SCRIPT: &str = "let x = 1;";

/// What every generated step does.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    /// `script "let x = 1;"`: no process, no output. Four events a step: unit started,
    /// command started (synced), command finished, unit finished.
    NoOp,
    /// `run "/bin/true"` (with `irreversible`, so it checks), which the engine runs
    /// directly, without `sh`: it is a plain command.
    True,
    /// A script that prints this many lines: one output event each, and nothing in the
    /// run's state, so the log grows and the state does not.
    Print(usize),
}

/// A runbook of `steps` steps doing `action`, one after the other. With `then_wait`, a
/// manual step follows them: a run driven without waiting for people stops there,
/// paused and resumable, its log holding every step before it.
pub fn runbook(name: &str, steps: usize, action: Action, then_wait: bool) -> String {
    let mut out = String::with_capacity(steps * 90 + 256);
    let _ = write!(
        out,
        "runbook \"{name}\" {{\n  title \"{name}, {steps} steps\"\n  timeout 30m\n}}\n\n\
         role ops \"Whoever runs the benchmark\"\n"
    );
    for index in 0..steps {
        let _ = write!(out, "\nstep s{index} {{\n  owner ops\n");
        match action {
            Action::NoOp => {
                let _ = writeln!(out, "  script \"{NO_OP_SCRIPT}\"");
            }
            Action::True => {
                out.push_str("  run \"/bin/true\"\n  irreversible \"it changes nothing\"\n");
            }
            Action::Print(lines) => {
                let _ = writeln!(
                    out,
                    "  script \"for i in 0..{lines} {{ print(`line ${{i}} of step {index}`); }}\""
                );
            }
        }
        out.push_str("}\n");
    }
    if then_wait {
        out.push_str(
            "\nstep last {\n  owner ops\n  manual \"Confirm that the benchmark may end.\"\n}\n",
        );
    }
    out
}

/// The inventory file of [`waves_runbook`]: a plain list, one host a line.
pub const FLEET_FILE: &str = "fleet.txt";

/// Host names `h00001`, `h00002`, ...: the plain-list inventory of `hosts` hosts.
pub fn fleet(hosts: usize) -> String {
    let mut out = String::with_capacity(hosts * 7);
    for index in 1..=hosts {
        let _ = writeln!(out, "h{index:05}");
    }
    out
}

/// A rollout over `hosts` hosts (the inventory `fleet`, read from [`FLEET_FILE`], which
/// [`fleet`] writes) in four waves, `stages [1%, 10%, 30%, 100%]`, at most `parallel`
/// hosts at a time (`None`: no `parallel`, every host of a wave at once), no pause
/// between waves; its body is one step doing `action` on each host. Over 10,000 hosts
/// the waves hold 100, 900, 2,000 and 7,000 hosts.
///
/// A file rather than `hosts [...]`: a fleet of thousands is kept in a file, and the
/// run gets the same list either way (the check loads it).
pub fn waves_runbook(name: &str, hosts: usize, parallel: Option<u64>, action: Action) -> String {
    let mut out = String::with_capacity(512);
    let _ = write!(
        out,
        "runbook \"{name}\" {{\n  title \"{name}, {hosts} hosts in four waves\"\n  timeout 30m\n}}\n\n\
         role ops \"Whoever runs the benchmark\"\n\n\
         inventory fleet from \"{FLEET_FILE}\"\n\n\
         waves rollout {{\n  over fleet\n  stages [1%, 10%, 30%, 100%]\n"
    );
    if let Some(parallel) = parallel {
        let _ = writeln!(out, "  parallel {parallel}");
    }
    out.push_str("\n  step change {\n    owner ops\n");
    match action {
        Action::NoOp => {
            let _ = writeln!(out, "    script \"{NO_OP_SCRIPT}\"");
        }
        Action::True => {
            out.push_str("    run \"/bin/true\"\n    irreversible \"it changes nothing\"\n");
        }
        Action::Print(lines) => {
            let _ = writeln!(
                out,
                "    script \"for i in 0..{lines} {{ print(`line ${{i}} on ${{host}}`); }}\""
            );
        }
    }
    out.push_str("  }\n}\n");
    out
}

/// A runbook written to a temporary folder (commands run in the runbook's folder),
/// read and checked as `runbook run` does; refused loudly if it does not check
/// clean, so a figure never comes from a run that did not happen.
pub struct Prepared {
    /// Holds the runbook's file, removed when dropped.
    _dir: TempDir,
    path: PathBuf,
    file: SourceFile,
    outcome: Outcome,
}

impl Prepared {
    pub fn new(name: &str, text: &str) -> Self {
        Self::with_files(name, text, &[])
    }

    /// As `new`, with other files beside the runbook (its inventories): (name, text).
    pub fn with_files(name: &str, text: &str, files: &[(&str, &str)]) -> Self {
        let dir = temp_dir();
        for (file, contents) in files {
            let path = dir.path().join(file);
            if let Err(error) = fs::write(&path, contents) {
                panic!("cannot write {}: {error}", path.display());
            }
        }
        let path = dir.path().join(format!("{name}.rbk"));
        if let Err(error) = fs::write(&path, text) {
            panic!("cannot write {}: {error}", path.display());
        }
        let file = match source::load(&path) {
            Ok(file) => file,
            Err(error) => panic!("the generated runbook is refused: {error}"),
        };
        let options = pipeline::Options {
            base_dir: Some(dir.path().to_path_buf()),
            ..pipeline::Options::default()
        };
        let outcome = match pipeline::check_source(&file, &options) {
            Ok(outcome) => outcome,
            Err(internal) => panic!("{internal}"),
        };
        if outcome.has_errors() || outcome.graph().is_none() {
            let first: Vec<String> = outcome
                .diagnostics
                .iter()
                .take(5)
                .map(|finding| format!("{}: {}", finding.code, finding.message))
                .collect();
            panic!("the generated runbook `{name}` does not check clean: {first:#?}");
        }
        Self {
            _dir: dir,
            path,
            file,
            outcome,
        }
    }

    fn graph_of(outcome: &Outcome) -> &Graph {
        match outcome.graph() {
            Some(graph) => graph,
            None => unreachable!("checked in `new`"),
        }
    }

    pub fn graph(&self) -> &Graph {
        Self::graph_of(&self.outcome)
    }

    /// A new run in `state_dir`, as `runbook run FILE --output quiet` starts it (with
    /// the log synced or not), up to its end or its first wait for a person.
    pub fn start(&self, state_dir: &Path, durability: Durability) -> (String, Ending) {
        let launched = engine::start(
            Launch {
                graph: self.graph(),
                source: self.file.text(),
                file: &self.path,
                state_dir,
                // The generated runbooks declare no parameters or secrets.
                params: BTreeMap::new(),
                secrets: Vec::new(),
                inventories: self.outcome.context().host_lists(),
                roster: None,
                person: None,
                prometheus: None,
                options: options(durability),
                executor: &Local,
                drill: None,
                replay: None,
            },
            &RealClock,
        );
        match launched {
            Ok(started) => started,
            Err(error) => panic!("the engine failed: {error}"),
        }
    }

    /// Takes a stopped run up again, as `runbook resume RUN --output quiet` does.
    pub fn resume(&self, stopped: Stopped) -> Ending {
        let resumed = engine::resume(
            stopped,
            Resumption {
                graph: self.graph(),
                source: self.file.text(),
                secrets: Vec::new(),
                accept_changes: false,
                person: None,
                prometheus: None,
                options: options(Durability::Synced),
                executor: &Local,
                replay: None,
            },
            &RealClock,
        );
        match resumed {
            Ok(ending) => ending,
            Err(error) => panic!("the engine failed to resume: {error}"),
        }
    }
}

/// How the CLI drives a run with `--output quiet --no-wait` (nobody is waited for, at
/// the run's terminal or elsewhere), the log synced or not.
pub fn options(durability: Durability) -> Options {
    Options {
        output: OutputMode::Quiet,
        on_interrupt: OnInterrupt::Wait,
        wait_for_people: false,
        answer_at_terminal: false,
        durability,
    }
}

/// A run that stopped, paused at the manual step after `steps` steps of `action`, and
/// whose log is on disk in a state folder of its own.
pub struct StoppedRun {
    pub prepared: Prepared,
    pub state: TempDir,
    pub run_id: String,
    /// Events in its log.
    pub events: u64,
    /// Bytes in its log.
    pub log_bytes: u64,
}

impl StoppedRun {
    /// Runs the runbook up to its manual step. The log is not synced while it is
    /// written, which only makes this setup faster: a log is read the same either way.
    pub fn new(name: &str, steps: usize, action: Action) -> Self {
        let prepared = Prepared::new(name, &runbook(name, steps, action, true));
        let state = temp_dir();
        let (run_id, ending) = prepared.start(state.path(), Durability::Unsynced);
        assert!(
            matches!(ending, Ending::Paused(_)),
            "the run of `{name}` should wait for a person, and ended {ending:?}"
        );
        let log = runbook::store::events_path(state.path(), &run_id);
        let bytes = match fs::read(&log) {
            Ok(bytes) => bytes,
            Err(error) => panic!("cannot read {}: {error}", log.display()),
        };
        let events = bytes.iter().filter(|&&byte| byte == b'\n').count() as u64;
        Self {
            prepared,
            state,
            run_id,
            events,
            log_bytes: bytes.len() as u64,
        }
    }

    /// Opens the run as `runbook resume` does first: takes its lock, reads and verifies
    /// its log, folds its state. The lock is let go when the result is dropped.
    pub fn open(&self, state_dir: &Path) -> Stopped {
        match Stopped::open(state_dir, &self.run_id, &RealClock) {
            Ok(stopped) => stopped,
            Err(error) => panic!("cannot open the stopped run: {error}"),
        }
    }

    /// A copy of the state folder, for what writes to the log (a resume appends to it).
    pub fn copy_state(&self) -> TempDir {
        let copy = temp_dir();
        let from = runbook::store::run_dir(self.state.path(), &self.run_id);
        let to = runbook::store::run_dir(copy.path(), &self.run_id);
        copy_tree(&from, &to);
        copy
    }
}

fn copy_tree(from: &Path, to: &Path) {
    if let Err(error) = fs::create_dir_all(to) {
        panic!("cannot create {}: {error}", to.display());
    }
    let entries = match fs::read_dir(from) {
        Ok(entries) => entries,
        Err(error) => panic!("cannot list {}: {error}", from.display()),
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => panic!("cannot list {}: {error}", from.display()),
        };
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else if let Err(error) = fs::copy(entry.path(), &target) {
            panic!("cannot copy {}: {error}", entry.path().display());
        }
    }
}

/// A temporary folder under the system's (`/tmp`).
pub fn temp_dir() -> TempDir {
    match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => panic!("no temporary folder: {error}"),
    }
}
