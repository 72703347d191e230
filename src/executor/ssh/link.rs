//! One host's connection: a master ssh process (`-M -N`) that every command to the host
//! goes through (`-S SOCKET`), so only the first command pays for the handshake.
//!
//! The master is the engine's child, not left to `ControlPersist`: it is stopped when
//! the engine is done with it, and, on Linux, when the engine dies (the kernel sends
//! it SIGTERM), so no connection outlives its run.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// Time a connection may take beyond its `ConnectTimeout` (which covers only the TCP
/// connect) to log in: key exchange, authentication, a jump host.
const LOGIN_SLACK: Duration = Duration::from_secs(20);
/// How often a starting master is looked at: its socket appears once it has logged in.
const POLL: Duration = Duration::from_millis(5);
/// How much of a failed master's error output is kept.
const ERROR_EXCERPT: usize = 2048;

pub struct Link {
    /// The host's name in its ssh_config.
    pub alias: String,
    /// The host's own ssh_config (`ssh -F`).
    pub config: PathBuf,
    pub socket: PathBuf,
    /// The master's error output, read when it fails.
    errors: PathBuf,
    pub state: tokio::sync::Mutex<State>,
    /// Commands going through the connection now: it is not closed under them.
    pub in_use: std::cell::Cell<usize>,
    /// When it was last used, as a count of uses across all hosts.
    pub last_used: std::cell::Cell<u64>,
}

/// Marks a link in use for as long as it lives.
pub struct Use<'a>(&'a Link);

impl<'a> Use<'a> {
    pub fn of(link: &'a Link, tick: u64) -> Self {
        link.in_use.set(link.in_use.get() + 1);
        link.last_used.set(tick);
        Use(link)
    }
}

impl Drop for Use<'_> {
    fn drop(&mut self) {
        self.0.in_use.set(self.0.in_use.get().saturating_sub(1));
    }
}

#[derive(Default)]
pub enum State {
    #[default]
    Down,
    Up {
        master: Child,
        /// The runbook's files are on the host.
        shipped: bool,
    },
}

impl State {
    /// Whether the master is running.
    pub fn alive(&mut self) -> bool {
        match self {
            State::Up { master, .. } => matches!(master.try_wait(), Ok(None)),
            State::Down => false,
        }
    }
}

impl Link {
    pub fn new(alias: &str, folder: &Path, index: usize) -> Self {
        Link {
            alias: alias.to_string(),
            config: folder.join(format!("{index}.config")),
            socket: folder.join(format!("{index}.sock")),
            errors: folder.join(format!("{index}.err")),
            state: tokio::sync::Mutex::new(State::Down),
            in_use: std::cell::Cell::new(0),
            last_used: std::cell::Cell::new(0),
        }
    }

    /// Starts the master unless one is running. `Err` holds ssh's own words for why
    /// the host cannot be reached.
    pub async fn connect(
        &self,
        state: &mut State,
        connect_timeout: Duration,
    ) -> Result<(), String> {
        if state.alive() {
            return Ok(());
        }
        *state = State::Down;
        let _ = std::fs::remove_file(&self.socket);
        let errors = std::fs::File::create(&self.errors)
            .map_err(|error| format!("cannot keep the connection's errors: {error}"))?;
        let mut process = Command::new("ssh");
        process
            .arg("-F")
            .arg(&self.config)
            .args(["-M", "-N", "-T", "-o", "ControlPersist=no", "-S"])
            .arg(&self.socket)
            .arg("--")
            .arg(&self.alias)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(errors)
            // Out of the terminal's process group: Ctrl-C is the engine's to handle,
            // and a rollback after it may need the connection.
            .process_group(0)
            .kill_on_drop(true);
        #[cfg(target_os = "linux")]
        // SAFETY: between fork and exec only an async-signal-safe system call is made.
        unsafe {
            process.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)
            });
        }
        let mut master = process
            .spawn()
            .map_err(|error| format!("cannot start ssh: {error}"))?;
        let login = async {
            loop {
                tokio::select! {
                    biased;
                    status = master.wait() => {
                        let status = status.map_or_else(|error| error.to_string(), |status| status.to_string());
                        break Err(self.failure(&status));
                    }
                    () = tokio::time::sleep(POLL) => {
                        if self.socket.exists() {
                            break Ok(());
                        }
                    }
                }
            }
        };
        match tokio::time::timeout(connect_timeout + LOGIN_SLACK, login).await {
            Ok(Ok(())) => {
                *state = State::Up {
                    master,
                    shipped: false,
                };
                Ok(())
            }
            Ok(Err(why)) => Err(why),
            Err(_) => {
                let _ = master.start_kill();
                let _ = master.wait().await;
                Err(format!(
                    "no SSH connection to `{}` within {} s",
                    self.alias,
                    (connect_timeout + LOGIN_SLACK).as_secs()
                ))
            }
        }
    }

    /// What ssh said when the master ended, or its exit status if it said nothing.
    fn failure(&self, status: &str) -> String {
        let said = std::fs::read(&self.errors).unwrap_or_default();
        let said = String::from_utf8_lossy(&said[..said.len().min(ERROR_EXCERPT)]);
        let said = said.trim();
        if said.is_empty() {
            format!("ssh to `{}` ended ({status})", self.alias)
        } else {
            said.to_string()
        }
    }

    /// An ssh process that runs `remote` on the host through the master connection:
    /// its standard streams are the caller's to set.
    pub fn client(&self, remote: &str) -> Command {
        let mut client = Command::new("ssh");
        client
            .arg("-F")
            .arg(&self.config)
            .args(["-T", "-o", "ControlMaster=no", "-S"])
            .arg(&self.socket)
            .arg("--")
            .arg(&self.alias)
            .arg(remote)
            // Out of the terminal's process group, as the master is.
            .process_group(0)
            .kill_on_drop(true);
        client
    }

    /// Whether its master runs, when that can be told without waiting.
    pub fn is_up(&self) -> bool {
        self.state.try_lock().is_ok_and(|mut state| state.alive())
    }

    /// Ends the master: SIGTERM lets it close the connection properly.
    pub async fn close(&self) {
        let mut state = self.state.lock().await;
        if let State::Up { master, .. } = &mut *state {
            if let Some(pid) = master.id().and_then(|id| i32::try_from(id).ok()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
            if tokio::time::timeout(super::super::shell::GRACE, master.wait())
                .await
                .is_err()
            {
                let _ = master.start_kill();
                let _ = master.wait().await;
            }
        }
        *state = State::Down;
        let _ = std::fs::remove_file(&self.socket);
    }
}
