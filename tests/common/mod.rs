//! A builder for CLI tests, in the style of casey/just's `Test`: say what files exist,
//! what arguments are given and what must come out, then `run()`.

#![allow(dead_code)]

pub mod high_risk;
pub mod prometheus;
pub mod session;
pub mod sshd;
pub mod webhook;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

pub struct Test {
    dir: TempDir,
    args: Vec<String>,
    stdin: Option<Vec<u8>>,
    env: Vec<(String, String)>,
    expected_status: i32,
    expected_stdout: Option<Expectation>,
    expected_stderr: Option<Expectation>,
}

enum Expectation {
    Exactly(String),
    Contains(Vec<String>),
}

/// What a run produced, for assertions the builder does not cover.
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    pub dir: TempDir,
}

impl Output {
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn read(&self, relative: &str) -> String {
        fs::read_to_string(self.path(relative)).expect("file exists")
    }
}

impl Default for Test {
    fn default() -> Self {
        Self::new()
    }
}

impl Test {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
            args: Vec::new(),
            stdin: None,
            env: Vec::new(),
            expected_status: 0,
            expected_stdout: None,
            expected_stderr: None,
        }
    }

    /// A file in the test's working directory.
    pub fn file(self, relative: &str, contents: impl AsRef<[u8]>) -> Self {
        let path = self.dir.path().join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("parent directory");
        }
        fs::write(&path, contents).expect("write test file");
        self
    }

    /// A shipped file from the repository (an example runbook and what it refers to).
    pub fn shipped(self, relative: &str) -> Self {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
        let contents = fs::read(&source).unwrap_or_else(|_| panic!("{relative} is shipped"));
        self.file(relative, contents)
    }

    pub fn dir(self, relative: &str) -> Self {
        fs::create_dir_all(self.dir.path().join(relative)).expect("create directory");
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn stdin(mut self, input: impl AsRef<[u8]>) -> Self {
        self.stdin = Some(input.as_ref().to_vec());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn status(mut self, status: i32) -> Self {
        self.expected_status = status;
        self
    }

    pub fn stdout(mut self, exactly: impl Into<String>) -> Self {
        self.expected_stdout = Some(Expectation::Exactly(exactly.into()));
        self
    }

    pub fn stderr(mut self, exactly: impl Into<String>) -> Self {
        self.expected_stderr = Some(Expectation::Exactly(exactly.into()));
        self
    }

    /// stdout must contain each of these, in any order.
    pub fn stdout_contains(mut self, part: impl Into<String>) -> Self {
        push_contains(&mut self.expected_stdout, part.into());
        self
    }

    pub fn stderr_contains(mut self, part: impl Into<String>) -> Self {
        push_contains(&mut self.expected_stderr, part.into());
        self
    }

    pub fn run(self) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_runbook"));
        command
            .args(&self.args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in &self.env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("runbook binary starts");
        if let Some(input) = &self.stdin {
            let mut pipe = child.stdin.take().expect("stdin is piped");
            // The program may stop reading early (a refused input); that is its right.
            let _ = pipe.write_all(input);
        }
        let output = child.wait_with_output().expect("runbook binary finishes");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let status = output.status.code().unwrap_or(-1);
        let context = format!(
            "args: {:?}\nstatus: {status}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            self.args
        );
        assert_eq!(
            status, self.expected_status,
            "unexpected exit status\n{context}"
        );
        assert!(
            !stderr.contains("panicked at"),
            "the program panicked\n{context}"
        );
        check(&self.expected_stdout, &stdout, "stdout", &context);
        check(&self.expected_stderr, &stderr, "stderr", &context);
        Output {
            status,
            stdout,
            stderr,
            dir: self.dir,
        }
    }
}

fn push_contains(slot: &mut Option<Expectation>, part: String) {
    match slot {
        Some(Expectation::Contains(parts)) => parts.push(part),
        _ => *slot = Some(Expectation::Contains(vec![part])),
    }
}

fn check(expected: &Option<Expectation>, actual: &str, stream: &str, context: &str) {
    match expected {
        None => {}
        Some(Expectation::Exactly(text)) => {
            assert_eq!(actual, text, "{stream} differs\n{context}");
        }
        Some(Expectation::Contains(parts)) => {
            for part in parts {
                assert!(
                    actual.contains(part.as_str()),
                    "{stream} lacks {part:?}\n{context}"
                );
            }
        }
    }
}
