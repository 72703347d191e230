//! The SSH executor: each host's commands run on the host, through the system OpenSSH
//! client, one multiplexed connection per host (`link`), in a session every command
//! gets from a fixed wrapper (`remote`), with settings from the inventories written to
//! an ssh_config file per host (`config`), and the runbook's shipped files copied to
//! the host first (`upload`).
//!
//! The system client rather than an SSH library: it is how operators reach their
//! fleet today, it reads their keys, agent, known_hosts and `~/.ssh/config` (bastions
//! included), and it is what Ansible uses too. docs/design.md says more.

mod config;
mod leftovers;
mod link;
mod remote;
mod upload;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use tokio::io::AsyncWriteExt;

use super::shell::{exit_of, read_some, Exit, StopReason, Stream, DRAIN, GRACE, READ_BUFFER};
use super::{RemoteAccess, ShellCommand, ShippedFile};
use crate::inventory::SshTarget;
use link::{Link, State};

pub use upload::Shipment;

/// Logins under way at once, at most: sshd's default `MaxStartups` drops connections
/// beyond 10 that have not logged in yet, and a bastion sees every one of them.
const LOGINS_AT_ONCE: usize = 10;
/// Commands under way on remote hosts at once, at most, unless the run says otherwise
/// (`--max-ssh-sessions`): a step over a thousand hosts with no `parallel` of its own
/// would otherwise start a thousand ssh processes here at once.
pub const DEFAULT_SESSIONS: u16 = 64;
/// Master connections kept open per command that may be under way at once: room for
/// the hosts being worked on and those just done (a step's next command on a host
/// usually follows soon).
const MASTERS_PER_SESSION: usize = 2;
/// How long removing the run's folder from a host may take when the engine closes.
const CLOSE_LIMIT: Duration = Duration::from_secs(10);
/// How long a stopped command's connection gets to end after its wrapper has been
/// told (its own grace before SIGKILL is `GRACE`).
const STOP_SLACK: Duration = Duration::from_secs(3);

/// How a run reaches its hosts over SSH, beside what the inventories say.
#[derive(Debug, Clone, Copy)]
pub struct SshOptions {
    /// `--accept-new-host-keys`.
    pub accept_new_host_keys: bool,
    /// Commands under way at once, at most.
    pub sessions: usize,
}

/// Runs the commands of hosts reached over SSH.
pub struct Ssh {
    /// Private (0700): the ssh_configs, the control sockets, the masters' errors, and
    /// the file naming this engine (`leftovers`).
    /// Held so that it is removed with the executor.
    _folder: tempfile::TempDir,
    targets: BTreeMap<String, SshTarget>,
    links: BTreeMap<String, Link>,
    logins: tokio::sync::Semaphore,
    sessions: tokio::sync::Semaphore,
    /// Master connections open at once, at most.
    masters: usize,
    shipment: Shipment,
    accept_new_host_keys: bool,
    /// Makes each command's end line different from the last.
    commands: Cell<u64>,
    /// The run the commands belong to, once one has come: its folder on the hosts.
    run_id: std::cell::RefCell<Option<String>>,
}

impl Ssh {
    /// An executor for these hosts (by inventory name). Writes each host's ssh_config,
    /// each with that host alone: every ssh process reads its whole config, so one
    /// file for a thousand hosts would be read two thousand times. Connects to
    /// nothing yet.
    pub fn new(
        targets: BTreeMap<String, SshTarget>,
        shipment: Shipment,
        options: SshOptions,
    ) -> std::io::Result<Self> {
        let SshOptions {
            accept_new_host_keys,
            sessions,
        } = options;
        // Control sockets need a short path (a socket's name is at most 107 bytes), so
        // the folder is in /tmp rather than under a run folder of any length.
        let temp = short_temp_dir();
        let folder = tempfile::Builder::new()
            .prefix(leftovers::PREFIX)
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir_in(&temp)?;
        if let Some(engine) = leftovers::this_engine() {
            write_private(&folder.path().join(leftovers::OWNER_FILE), &engine)?;
            let uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(folder.path())?);
            leftovers::sweep(&temp, uid);
        }
        let user_configs = user_ssh_configs();
        let user_configs: Vec<&Path> = user_configs.iter().map(PathBuf::as_path).collect();
        let mut links = BTreeMap::new();
        for (index, name) in targets.keys().enumerate() {
            let link = Link::new(name, folder.path(), index);
            let text = config::text(name, &targets, accept_new_host_keys, &user_configs);
            write_private(&link.config, &text)?;
            links.insert(name.clone(), link);
        }
        Ok(Ssh {
            _folder: folder,
            targets,
            links,
            logins: tokio::sync::Semaphore::new(LOGINS_AT_ONCE),
            sessions: tokio::sync::Semaphore::new(sessions.max(1)),
            masters: sessions.max(1) * MASTERS_PER_SESSION,
            shipment,
            accept_new_host_keys,
            commands: Cell::new(0),
            run_id: std::cell::RefCell::new(None),
        })
    }

    /// Whether this executor runs `host`'s commands.
    pub fn reaches(&self, host: &str) -> bool {
        self.targets.contains_key(host)
    }

    /// What the log says of these hosts.
    pub fn access(&self) -> RemoteAccess {
        RemoteAccess {
            ssh: self
                .targets
                .iter()
                .map(|(name, target)| (name.clone(), target.destination()))
                .collect(),
            accept_new_host_keys: self.accept_new_host_keys,
            shipped: self
                .shipment
                .files()
                .iter()
                .map(|file| ShippedFile {
                    path: file.path.clone(),
                    sha256: file.sha256.clone(),
                    bytes: file.content.len() as u64,
                })
                .collect(),
        }
    }

    /// Ends every connection; when the run has ended for good, removes the run's
    /// folder (its shipped files) from each host first. A run that only stopped keeps
    /// them: a resume, or a person taking over, may need the rollback script.
    /// All hosts at once, within `CLOSE_LIMIT`: a host that hangs keeps its folder.
    pub async fn close(&self, run_ended: bool) {
        let run_id = self.run_id.borrow().clone();
        let removing = run_ended && !self.shipment.is_empty();
        let removals = self.links.values().map(|link| async {
            if let (true, Some(run_id)) = (removing, &run_id) {
                let _ = tokio::time::timeout(CLOSE_LIMIT, upload::remove(link, run_id)).await;
            }
            link.close().await;
        });
        futures_util::future::join_all(removals).await;
    }

    /// Connects to the host and copies the shipped files there, unless done already.
    /// `Err(Ok(why))`: unreachable; `Err(Err(error))`: reached, but the files could
    /// not be put in place.
    async fn ready(
        &self,
        link: &Link,
        target: &SshTarget,
        run_id: &str,
    ) -> Result<(), Result<String, std::io::Error>> {
        self.run_id
            .borrow_mut()
            .get_or_insert_with(|| run_id.to_string());
        let mut state = link.state.lock().await;
        if !state.alive() {
            self.make_room().await;
            let _login = self.logins.acquire().await;
            link.connect(&mut state, target.connect_timeout)
                .await
                .map_err(Ok)?;
        }
        if let State::Up { shipped, .. } = &mut *state {
            if !*shipped && !self.shipment.is_empty() {
                self.shipment
                    .copy(link, run_id, target.connect_timeout)
                    .await?;
                *shipped = true;
            }
        }
        Ok(())
    }

    /// Closes the connection used least recently, and by no command now, when as many
    /// are open as may be: a host's master is kept between its commands, but a
    /// rollout over a thousand hosts must not keep a thousand ssh processes alive here
    /// (and as many sessions on the hosts) to its end.
    async fn make_room(&self) {
        let open: Vec<&Link> = self.links.values().filter(|link| link.is_up()).collect();
        if open.len() < self.masters {
            return;
        }
        let idle = open
            .into_iter()
            .filter(|link| link.in_use.get() == 0)
            .min_by_key(|link| link.last_used.get());
        if let Some(link) = idle {
            link.close().await;
        }
    }

    pub async fn run(
        &self,
        command: ShellCommand<'_>,
        mut stop: LocalBoxFuture<'_, StopReason>,
        on_output: &mut dyn FnMut(Stream, &[u8]),
    ) -> std::io::Result<Exit> {
        let host = command.host.unwrap_or_default();
        let (Some(link), Some(target)) = (self.links.get(host), self.targets.get(host)) else {
            return Err(std::io::Error::other(format!(
                "`{host}` is not a host reached over SSH"
            )));
        };
        // From before it connects: a connection in use is not closed to make room.
        let tick = self.commands.get() + 1;
        self.commands.set(tick);
        let _use = link::Use::of(link, tick);
        let ready = tokio::select! {
            biased;
            // Out of time before the command started: it did nothing on the host, so
            // it is a command that could not be started, not one that timed out.
            reason = &mut stop => return match reason {
                StopReason::Timeout => Err(std::io::Error::other(
                    "its time was up before it started (still waiting to reach the host)",
                )),
                StopReason::Interrupt => Ok(Exit::Stopped(reason)),
            },
            ready = async {
                let session = self.sessions.acquire().await;
                (session, self.ready(link, target, command.run_id).await)
            } => ready,
        };
        let (_session, ready) = ready;
        match ready {
            Ok(()) => {}
            Err(Ok(why)) => {
                on_output(Stream::Stderr, format!("{why}\n").as_bytes());
                return Ok(Exit::Unreachable);
            }
            Err(Err(error)) => return Err(error),
        }
        let folder = (!self.shipment.is_empty()).then(|| upload::run_folder(command.run_id));
        let (payload, end) = remote::payload(command.env, command.script, || {
            let number = self.commands.get() + 1;
            self.commands.set(number);
            format!("runbook-end-{}-{number}", std::process::id())
        });
        let mut child = link
            .client(&remote::command_line(&end, folder.as_deref()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut stdin = child.stdin.take();
        let markers = RefCell::new(remote::Markers::new());
        let time_limit = async {
            match target.command_timeout {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(time_limit);
        // The command goes in on standard input, which then stays open: closing it
        // is what stops the command on the host.
        let write = async {
            if let Some(stdin) = stdin.as_mut() {
                let _ = stdin.write_all(payload.as_bytes()).await;
                let _ = stdin.flush().await;
            }
            std::future::pending::<()>().await;
        };
        tokio::pin!(write);
        let mut pipes = Pipes::new(child.stdout.take(), child.stderr.take());
        let mut deliver = |stream: Stream, bytes: &[u8]| match stream {
            Stream::Stdout => {
                let shown = markers.borrow_mut().take(bytes);
                if !shown.is_empty() {
                    on_output(Stream::Stdout, &shown);
                }
            }
            Stream::Stderr => on_output(Stream::Stderr, bytes),
        };
        // The command has ended when ssh exits, or when the wrapper says so: something it
        // left running in the background may hold the session open long after.
        let ended = loop {
            tokio::select! {
                biased;
                reason = &mut stop => break Err(reason),
                () = &mut time_limit => break Err(StopReason::Timeout),
                () = pipes.read(&mut deliver) => {
                    if let Some(code) = markers.borrow().exit_code() {
                        break Ok(Exit::Code(code));
                    }
                }
                status = child.wait() => break Ok(exit_of(status?)),
                () = &mut write => {}
            }
        };
        let exit = match ended {
            Ok(exit) => exit,
            Err(reason) => {
                // The wrapper stops the command's process group once its input closes.
                drop(stdin.take());
                if tokio::time::timeout(GRACE + STOP_SLACK, child.wait())
                    .await
                    .is_err()
                {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                }
                Exit::Stopped(reason)
            }
        };
        drop(stdin);
        let drained = async {
            while pipes.open() {
                pipes.read(&mut deliver).await;
            }
        };
        let _ = tokio::time::timeout(DRAIN, drained).await;
        // Whatever still holds the session open is let go of, as locally.
        let _ = child.start_kill();
        let _ = child.wait().await;
        let mut markers = markers.into_inner();
        let rest = markers.finish();
        if !rest.is_empty() {
            on_output(Stream::Stdout, &rest);
        }
        // ssh's own failures end it with 255 too: the wrapper's markers tell them apart.
        Ok(match (exit, markers.exit_code()) {
            (Exit::Stopped(reason), _) => Exit::Stopped(reason),
            (_, Some(code)) => Exit::Code(code),
            (Exit::Code(255), None) if !markers.started() => Exit::Unreachable,
            (Exit::Code(255), None) => Exit::ConnectionLost,
            (exit, None) => exit,
        })
    }
}

/// A command's output pipes, read as output comes on either.
struct Pipes {
    stdout: Option<tokio::process::ChildStdout>,
    stderr: Option<tokio::process::ChildStderr>,
    out_buffer: Vec<u8>,
    err_buffer: Vec<u8>,
}

impl Pipes {
    fn new(
        stdout: Option<tokio::process::ChildStdout>,
        stderr: Option<tokio::process::ChildStderr>,
    ) -> Self {
        Pipes {
            stdout,
            stderr,
            out_buffer: vec![0; READ_BUFFER],
            err_buffer: vec![0; READ_BUFFER],
        }
    }

    fn open(&self) -> bool {
        self.stdout.is_some() || self.stderr.is_some()
    }

    /// Reads once from whichever pipe has output, handing it on; a pipe that ends is
    /// let go. Never resolves once both are closed.
    async fn read(&mut self, deliver: &mut impl FnMut(Stream, &[u8])) {
        tokio::select! {
            read = read_some(&mut self.stdout, &mut self.out_buffer) => match read {
                Ok(0) | Err(_) => self.stdout = None,
                Ok(length) => deliver(Stream::Stdout, &self.out_buffer[..length]),
            },
            read = read_some(&mut self.stderr, &mut self.err_buffer) => match read {
                Ok(0) | Err(_) => self.stderr = None,
                Ok(length) => deliver(Stream::Stderr, &self.err_buffer[..length]),
            },
        }
    }
}

/// Writes a new file only this user can read.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(text.as_bytes())
}

/// `/tmp` where it exists: `$TMPDIR` may be long enough to push a control socket's
/// path past what a socket can be named.
fn short_temp_dir() -> PathBuf {
    let tmp = Path::new("/tmp");
    if tmp.is_dir() {
        tmp.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// The ssh configs plain `ssh` would read, the user's then the system's, where they
/// exist and their path can be written into a config line.
fn user_ssh_configs() -> Vec<PathBuf> {
    let home = std::env::var_os("HOME").map(|home| Path::new(&home).join(".ssh/config"));
    home.into_iter()
        .chain([PathBuf::from("/etc/ssh/ssh_config")])
        .filter(|config| config.is_file() && crate::inventory::is_plain_path(config))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_folder_of_the_configs_and_sockets_is_private() {
        let options = SshOptions {
            accept_new_host_keys: false,
            sessions: 1,
        };
        let targets = BTreeMap::from([("web-1".to_string(), config::tests::target("127.0.0.1"))]);
        let ssh = Ssh::new(targets, Shipment::default(), options).unwrap();
        let mode = std::fs::metadata(ssh._folder.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        let config = &ssh.links["web-1"].config;
        let mode = std::fs::metadata(config).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
        assert!(std::fs::read_to_string(config)
            .unwrap()
            .contains("Host web-1\n"));
    }
}
