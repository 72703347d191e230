//! A folder in which several `runbook` commands run one after another and share one
//! state folder: for the engine's tests, where a run is started, stopped, answered and
//! resumed. (`Test` is for one command and what it prints.)

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

pub struct Session {
    dir: tempfile::TempDir,
}

/// What one command did.
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// The exit code, or -1 when a signal ended the command.
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    /// Fails the test, showing both streams, unless the command exited with `code`.
    pub fn expect(&self, code: i32, what: &str) -> &Self {
        assert_eq!(
            self.code(),
            code,
            "{what}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Session {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary folder"),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn file(&self, relative: &str, contents: &str) -> &Self {
        let path = self.path(relative);
        fs::create_dir_all(path.parent().expect("parent")).expect("folder");
        fs::write(path, contents).expect("write");
        self
    }

    /// A file of this repository, copied in as `to`.
    pub fn shipped(&self, from: &str, to: &str) -> &Self {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join(from);
        self.file(to, &fs::read_to_string(source).expect("shipped file"))
    }

    /// A file's text, empty when there is none.
    pub fn read(&self, relative: &str) -> String {
        fs::read_to_string(self.path(relative)).unwrap_or_default()
    }

    /// `runbook ARGS` in this folder, with its state folder here, no colour, no
    /// tracing, no test hook and nothing on standard input.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_through(&[], args)
    }

    /// `command`, started by `wrapper` (a program and its arguments, given the path of
    /// the `runbook` binary and then ARGS): to run the engine somewhere else.
    pub fn command_through(&self, wrapper: &[&std::ffi::OsStr], args: &[&str]) -> Command {
        let binary = std::ffi::OsStr::new(env!("CARGO_BIN_EXE_runbook"));
        let (program, before) = match wrapper.split_first() {
            Some((program, rest)) => (*program, [rest, &[binary]].concat()),
            None => (binary, Vec::new()),
        };
        let mut command = Command::new(program);
        command
            .args(before)
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env("RUNBOOK_STATE_DIR", self.path("state"))
            .env_remove("RUST_LOG")
            .env_remove("RUNBOOK_TEST_KILL_AFTER_EVENT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    pub fn runbook(&self, args: &[&str]) -> Ran {
        self.runbook_with(args, &[])
    }

    pub fn runbook_with(&self, args: &[&str], env: &[(&str, &str)]) -> Ran {
        let mut command = self.command(args);
        command.envs(env.iter().copied());
        let output = command.output().expect("runbook runs");
        let ran = Ran {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        assert!(!ran.stderr.contains("panicked"), "{}", ran.stderr);
        ran
    }

    /// The only run in the state folder.
    pub fn run_id(&self) -> String {
        let runs: Vec<String> = fs::read_dir(self.path("state/runs"))
            .expect("runs folder")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .into_string()
                    .expect("utf-8")
            })
            .collect();
        assert_eq!(runs.len(), 1, "one run: {runs:?}");
        runs.into_iter().next().expect("a run")
    }

    /// A file in a run's folder (`events.jsonl`, `lock`, `inbox/...`).
    pub fn run_file(&self, run: &str, name: &str) -> PathBuf {
        self.path(&format!("state/runs/{run}/{name}"))
    }

    pub fn log_path(&self, run: &str) -> PathBuf {
        self.run_file(run, "events.jsonl")
    }

    pub fn log(&self, run: &str) -> String {
        fs::read_to_string(self.log_path(run)).unwrap_or_default()
    }

    /// Every event of a run's log, as JSON. Read while the engine writes, the log may
    /// end in a line not yet whole: that one is not an event yet.
    pub fn events(&self, run: &str) -> Vec<serde_json::Value> {
        let log = self.log(run);
        let whole = log.rfind('\n').map_or("", |end| &log[..=end]);
        whole
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }

    /// `runbook ARGS` started and left running (an engine the test answers while it
    /// waits), its standard output captured.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command(args).spawn().expect("runbook starts")
    }

    /// Waits until a run exists in the state folder, and returns its id.
    pub fn wait_for_run(&self) -> String {
        wait_until("a run in the state folder", || {
            self.path("state/runs")
                .read_dir()
                .is_ok_and(|mut runs| runs.next().is_some())
        });
        self.run_id()
    }
}

/// Every run a test leaves is replayed when the test has passed: a replay on the
/// recorded outcomes must make every decision the run made (`runbook replay`, exit 0).
/// A run whose log does not verify (a test that tampers with it) is not replayable,
/// and is left out.
impl Drop for Session {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let Ok(runs) = fs::read_dir(self.path("state/runs")) else {
            return;
        };
        let mut runs: Vec<String> = runs
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .collect();
        runs.sort();
        for run in runs {
            if self.runbook(&["verify", &run]).code() != 0 {
                continue;
            }
            self.runbook(&["replay", &run])
                .expect(0, &format!("run {run} replays with no divergence"));
        }
    }
}

/// Waits for a spawned engine to end and returns what it printed; after `limit` it is
/// killed and the test fails, rather than hanging on an engine that never ends.
pub fn finish(child: std::process::Child, limit: std::time::Duration) -> std::process::Output {
    let pid = child.id();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    match receiver.recv_timeout(limit) {
        Ok(output) => output.expect("the engine's output"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("the engine (pid {pid}) did not end within {limit:?}; it was killed");
        }
    }
}

/// Each objective a run's events decided, by name, and whether it was met.
pub fn objectives(events: &[serde_json::Value]) -> Vec<(String, bool)> {
    let mut decided: Vec<(String, bool)> = of_kind(events, "objective")
        .iter()
        .map(|event| {
            (
                event["payload"]["objective"]
                    .as_str()
                    .expect("an objective's name")
                    .to_string(),
                event["payload"]["met"] == true,
            )
        })
        .collect();
    decided.sort();
    decided
}

/// The events of one kind among `events`.
pub fn of_kind<'a>(events: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    events
        .iter()
        .filter(|event| event["kind"] == kind)
        .collect()
}

/// Waits, a bounded time, until `ready` holds: for what another process does.
pub fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let since = std::time::Instant::now();
    while !ready() {
        assert!(
            since.elapsed() < std::time::Duration::from_secs(60),
            "waited 60 s for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
