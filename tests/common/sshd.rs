//! Real OpenSSH servers on loopback, for tests of the SSH executor.
//!
//! `SshFleet::start(n)` runs n independent `sshd` processes (Debian's `openssh-server`;
//! `.ci/run` installs it), one per simulated host, each on a free 127.0.0.1 port with a
//! host key and config of its own. All files live in one temporary directory: the
//! user's key pair (ed25519, no passphrase) and `authorized_keys`, a `known_hosts`
//! naming every host as `[127.0.0.1]:PORT`, an `ssh_config` for the system client, and
//! per host (`host-N/`) its config, host key, pid file and log. Nothing of the system's
//! `/etc/ssh` is read, and the system service is never used.
//!
//! ```ignore
//! let mut fleet = SshFleet::start(3);
//! fleet.write_inventory(&dir.join("inventory.toml"), &["web-1", "web-2", "web-3"]);
//! fleet.kill_host(1); // web-2 goes down, and so do its established connections
//! ```
//!
//! Tests log in as the OS user they run as. As root (CI) sshd needs its
//! privilege-separation directory `/run/sshd`, created here if missing, and root may log
//! in with a key (`PermitRootLogin prohibit-password`). As any other user sshd runs
//! unprivileged: no chroot nor user switch for its pre-authentication processes, so no
//! `/run/sshd`, and it can only authenticate the user it runs as, which is the user the
//! tests log in as, so that works too.
//!
//! Two ways down, as on a real host. `stop_listener` is `systemctl stop ssh`: SIGTERM to
//! the listening sshd only; the connections it accepted are served by processes of
//! their own (sshd forks and re-execs itself per connection, and each connection calls
//! setsid, as does each command it runs), which live on. `kill_host` is the machine
//! going away: the listener and every process serving its connections are killed, so
//! established and multiplexed connections drop. Dropping the fleet kills the hosts.
//! A test process killed by SIGKILL cannot clean up: its sshd processes stay behind.
//!
//! `SshFleet::builder()` starts the servers some other way: each through a wrapper
//! command (which must end by exec'ing sshd, so that the process the harness started
//! is the listener), with variables of its own, and with more variables for the
//! commands its sessions run (`SetEnv`, which overrides sshd's default `PATH`):
//!
//! ```ignore
//! let fleet = SshFleet::builder()
//!     .wrapper(["tests/demo-hosts/enter"])
//!     .env("DEMO_HOSTS", &demo)
//!     .set_env("PATH", &format!("{}:/usr/bin:/bin", stand_ins.display()))
//!     .start(4);
//! ```

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Once, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::{geteuid, getuid, Pid, User};
use tempfile::TempDir;

/// The server binary, unless `SSHD_BIN` names another (sshd re-execs itself per
/// connection, so it must be an absolute path).
pub const DEFAULT_BINARY: &str = "/usr/sbin/sshd";
/// How long an sshd may take to accept connections.
pub const STARTUP: Duration = Duration::from_secs(30);
/// How long stopping or killing may take before the harness gives up waiting.
const SETTLE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(20);
/// Root's sshd chroots its pre-authentication processes here and refuses to start
/// without it (Debian's service creates it; nothing does in a container).
const PRIVSEP_DIR: &str = "/run/sshd";
/// Set by every sshd of a fleet (`SetEnv`) in the commands it runs, with a value naming
/// the host, so that `kill_host` finds them even once they have left sshd's tree.
const TAG_VARIABLE: &str = "RUNBOOK_TEST_SSHD";

/// n sshd processes on loopback, one per simulated host; see the module docs.
pub struct SshFleet {
    sshd: PathBuf,
    user: String,
    /// How the servers are started, kept for `start_listener`.
    options: Builder,
    hosts: Vec<Host>,
    // Last, so that the files outlive the processes `drop` kills.
    dir: TempDir,
}

/// How a fleet's sshd processes are started: `SshFleet::builder()...start(n)`.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    wrapper: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    set_env: Vec<(String, String)>,
}

impl Builder {
    /// Starts each sshd as `WRAPPER... /usr/sbin/sshd -D ...` rather than directly.
    /// The wrapper must end by exec'ing its arguments (as `unshare`, `env` or a script
    /// ending in `exec "$@"` do): the pid the harness started has to be the listener's.
    /// Besides `env`, the wrapper is given `RUNBOOK_TEST_SSHD` naming the host's folder
    /// in the fleet (the value sessions get), for anything of its own it keeps per host.
    /// A restarted listener (`start_listener`) goes through the wrapper again.
    pub fn wrapper<S: AsRef<OsStr>>(mut self, command: impl IntoIterator<Item = S>) -> Self {
        self.wrapper = command
            .into_iter()
            .map(|part| part.as_ref().to_os_string())
            .collect();
        self
    }

    /// A variable in the environment sshd (or its wrapper) starts with. sshd does not
    /// pass its own environment on to sessions: see `set_env` for that.
    pub fn env(mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((name.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }

    /// A variable every session's commands get (sshd_config `SetEnv`, which overrides
    /// what sshd sets itself, `PATH` included; a login shell's rc files may still
    /// change it). Neither name nor value may hold a `"`, nor the name a `=`.
    pub fn set_env(mut self, name: &str, value: &str) -> Self {
        assert!(
            !name.is_empty() && !name.contains(['=', '"']) && !value.contains('"'),
            "SetEnv cannot carry {name:?}={value:?}"
        );
        assert!(
            name != TAG_VARIABLE,
            "{TAG_VARIABLE} is the harness's own variable"
        );
        self.set_env.push((name.to_string(), value.to_string()));
        self
    }

    /// Starts `hosts` sshd processes; see `SshFleet::start`.
    pub fn start(self, hosts: usize) -> SshFleet {
        SshFleet::start_with(self, hosts)
    }
}

struct Host {
    port: u16,
    /// The listening sshd, `None` once stopped or killed.
    listener: Option<Child>,
    /// The connections of a stopped listener: once it is gone they are re-parented to
    /// init, so its children are listed when it stops, for `kill_host` to find.
    orphans: Vec<ProcessId>,
    /// Where the current listener's lines begin in the log (a restart appends).
    log_offset: u64,
}

/// A pid with the start time that tells it from a later process given the same pid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct ProcessId {
    pid: i32,
    start: u64,
}

/// The port was taken by another process between choosing and binding it.
struct PortTaken;

impl SshFleet {
    /// Starts `hosts` sshd processes and returns once each one answers with its SSH
    /// banner. Panics, with the server's log, if one does not within `STARTUP`.
    pub fn start(hosts: usize) -> Self {
        Self::builder().start(hosts)
    }

    /// Options for how the servers are started; see `Builder`.
    pub fn builder() -> Builder {
        Builder::default()
    }

    fn start_with(options: Builder, hosts: usize) -> Self {
        assert!(hosts > 0, "a fleet has at least one host");
        let sshd = binary();
        if geteuid().is_root() {
            fs::create_dir_all(PRIVSEP_DIR)
                .unwrap_or_else(|error| panic!("cannot create {PRIVSEP_DIR}: {error}"));
        }
        let dir = tempfile::Builder::new()
            .prefix("sshd-test")
            .tempdir()
            .expect("temporary directory");
        let mut fleet = Self {
            sshd,
            user: current_user(),
            options,
            hosts: Vec::with_capacity(hosts),
            dir,
        };
        keygen(&fleet.identity(), "runbook-test-user");
        fs::copy(
            fleet.dir.path().join("id_ed25519.pub"),
            fleet.dir.path().join("authorized_keys"),
        )
        .expect("write authorized_keys");
        let host_keys: Vec<(PathBuf, String)> = (0..hosts)
            .map(|index| {
                fs::create_dir(fleet.host_dir(index)).expect("host directory");
                (fleet.host_key(index), format!("host-{index}"))
            })
            .collect();
        keygen_all(&host_keys);
        // Every server is started, then each is waited for, so that they start side by
        // side. Each is pushed before it is started: if one fails, the panic drops the
        // fleet, which kills those already running.
        let mut ports = HashSet::new();
        for index in 0..hosts {
            fleet.hosts.push(Host {
                port: 0,
                listener: None,
                orphans: Vec::new(),
                log_offset: 0,
            });
            let port = std::iter::repeat_with(free_port)
                .find(|&port| ports.insert(port))
                .expect("a port");
            fleet.hosts[index].port = port;
            fs::write(fleet.config_file(index), fleet.sshd_config_text(index))
                .expect("write sshd_config");
            fleet.spawn(index);
        }
        for index in 0..hosts {
            if let Err(PortTaken) = fleet.wait_ready(index, Instant::now() + STARTUP) {
                // Another process took the port first: again, alone, on another.
                fleet.launch(index, false);
            }
        }
        let known_hosts: String = (0..hosts)
            .map(|index| fleet.known_hosts_line(index) + "\n")
            .collect();
        fs::write(fleet.known_hosts(), known_hosts).expect("write known_hosts");
        fs::write(fleet.ssh_config(), fleet.ssh_config_text()).expect("write ssh_config");
        fleet
    }

    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// The user to log in as: the OS user the test runs as.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The private key every host accepts.
    pub fn identity(&self) -> PathBuf {
        self.dir.path().join("id_ed25519")
    }

    /// Every host's key, as `[127.0.0.1]:PORT ssh-ed25519 KEY`.
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    /// A client config naming host N `host-N` (see `alias`), with the user, key and
    /// known_hosts above and strict host key checking. Unlike options given with `-o`,
    /// `ssh -F` passes it to the ProxyJump hop too.
    pub fn ssh_config(&self) -> PathBuf {
        self.dir.path().join("ssh_config")
    }

    /// Host N's name in `ssh_config`.
    pub fn alias(&self, index: usize) -> String {
        self.check(index);
        format!("host-{index}")
    }

    /// `ssh -F ssh_config`, stdin closed; add `host-N` and the command.
    pub fn ssh(&self) -> Command {
        let mut command = Command::new("ssh");
        command
            .arg("-F")
            .arg(self.ssh_config())
            .stdin(Stdio::null());
        command
    }

    /// The temporary directory holding every file of the fleet.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn port(&self, index: usize) -> u16 {
        self.check(index);
        self.hosts[index].port
    }

    pub fn config_file(&self, index: usize) -> PathBuf {
        self.host_dir(index).join("sshd_config")
    }

    /// sshd writes it once listening and removes it when stopped by SIGTERM.
    pub fn pid_file(&self, index: usize) -> PathBuf {
        self.host_dir(index).join("sshd.pid")
    }

    /// Host N's sshd log (`-E`, LogLevel DEBUG1), every listener it had appended.
    pub fn log_file(&self, index: usize) -> PathBuf {
        self.host_dir(index).join("sshd.log")
    }

    pub fn log(&self, index: usize) -> String {
        fs::read_to_string(self.log_file(index)).unwrap_or_default()
    }

    /// The listening sshd's pid, `None` once it is stopped or killed.
    pub fn listener_pid(&self, index: usize) -> Option<u32> {
        self.check(index);
        self.hosts[index].listener.as_ref().map(Child::id)
    }

    /// Host N's line of `known_hosts`.
    pub fn known_hosts_line(&self, index: usize) -> String {
        let public = fs::read_to_string(self.host_key(index).with_extension("pub"))
            .expect("read the host's public key");
        let key: Vec<&str> = public.split_whitespace().take(2).collect();
        format!("[127.0.0.1]:{} {}", self.port(index), key.join(" "))
    }

    /// Every process serving host N's connections, but not its listener: the sshd of
    /// each connection and the commands they run. Sorted. Just after a start it may
    /// still show the readiness probe's connection, on its way out.
    pub fn session_pids(&self, index: usize) -> Vec<u32> {
        self.check(index);
        let listener = self.listener_pid(index).map(|pid| pid as i32);
        let table = process_table();
        let seeds = self.seeds(index, &table);
        let mut pids: Vec<u32> = descendants(&table, seeds)
            .into_iter()
            .filter(|id| Some(id.pid) != listener)
            .map(|id| id.pid as u32)
            .collect();
        pids.sort_unstable();
        pids
    }

    /// What `systemctl stop ssh` does (Debian's unit kills the main process only):
    /// SIGTERM to the listener, so new connections are refused while those already
    /// accepted live on. Returns once it has exited. Does nothing if it is not running.
    pub fn stop_listener(&mut self, index: usize) {
        self.check(index);
        let Some(mut listener) = self.hosts[index].listener.take() else {
            return;
        };
        let pid = listener.id() as i32;
        // Frozen, it cannot fork: its children listed now are all the connections it
        // accepted, found later through `orphans`.
        signal(pid, Signal::SIGSTOP);
        wait_until(Instant::now() + SETTLE, || {
            read_stat(pid).is_none_or(|stat| stat.stopped_or_dead())
        });
        let table = process_table();
        self.hosts[index]
            .orphans
            .extend(
                table
                    .iter()
                    .filter(|(_, stat)| stat.ppid == pid)
                    .map(|(&pid, stat)| ProcessId {
                        pid,
                        start: stat.start,
                    }),
            );
        signal(pid, Signal::SIGTERM);
        signal(pid, Signal::SIGCONT);
        let deadline = Instant::now() + SETTLE;
        loop {
            if matches!(listener.try_wait(), Ok(Some(_)) | Err(_)) {
                break;
            }
            if Instant::now() >= deadline {
                eprintln!("sshd of host {index} ignored SIGTERM for {SETTLE:?}; killing it");
                let _ = listener.kill();
                let _ = listener.wait();
                break;
            }
            thread::sleep(POLL);
        }
    }

    /// Starts host N's sshd again, on the same port (its known_hosts line and the
    /// inventory stay right), after `stop_listener` or `kill_host`. Panics if the port
    /// was taken meanwhile or the server does not start.
    pub fn start_listener(&mut self, index: usize) {
        self.check(index);
        assert!(
            self.hosts[index].listener.is_none(),
            "host {index}'s sshd is already running"
        );
        self.launch(index, true);
    }

    /// The host going away: SIGKILL to the listener and to every process serving its
    /// connections, so established and multiplexed connections drop and new ones are
    /// refused. Returns once they are gone.
    ///
    /// Those processes are the listener's descendants, the connections of a stopped
    /// listener (`orphans`), and any process carrying the host's `SetEnv` tag (a command
    /// that daemonized). Each is stopped (SIGSTOP) before its children are listed, so
    /// none can fork unseen, then all are killed at once: killing a parent first would
    /// hand its children to init, out of sight.
    pub fn kill_host(&mut self, index: usize) {
        self.check(index);
        kill_trees(|table| self.seeds(index, table));
        let host = &mut self.hosts[index];
        host.orphans.clear();
        if let Some(mut listener) = host.listener.take() {
            // Killed above (a seed); this is for a listener that was somehow missed, and
            // safe: an unreaped child's pid cannot be reused.
            let _ = listener.kill();
            let _ = listener.wait();
        }
    }

    /// An inventory for `runbook` naming these hosts; see `Inventory`.
    pub fn inventory(&self) -> Inventory<'_> {
        Inventory {
            fleet: self,
            jumps: Vec::new(),
            hosts: Vec::new(),
        }
    }

    /// Writes an inventory where `names[i]` is host i, each reached directly.
    pub fn write_inventory(&self, path: &Path, names: &[&str]) {
        names
            .iter()
            .enumerate()
            .fold(self.inventory(), |inventory, (index, name)| {
                inventory.host(name, index)
            })
            .write(path);
    }

    fn host_dir(&self, index: usize) -> PathBuf {
        self.dir.path().join(format!("host-{index}"))
    }

    fn host_key(&self, index: usize) -> PathBuf {
        self.host_dir(index).join("ssh_host_ed25519_key")
    }

    /// `RUNBOOK_TEST_SSHD=<host dir>`: unique to this host of this fleet.
    fn tag(&self, index: usize) -> String {
        format!("{TAG_VARIABLE}={}", self.host_dir(index).display())
    }

    fn check(&self, index: usize) {
        assert!(
            index < self.hosts.len(),
            "no host {index}: the fleet has {} hosts",
            self.hosts.len()
        );
    }

    /// The processes whose descendants serve host N (they included).
    fn seeds(&self, index: usize, table: &HashMap<i32, Stat>) -> Vec<i32> {
        let host = &self.hosts[index];
        let tag = self.tag(index);
        host.listener
            .iter()
            .map(|listener| listener.id() as i32)
            .chain(
                host.orphans
                    .iter()
                    .filter(|id| {
                        table
                            .get(&id.pid)
                            .is_some_and(|stat| stat.start == id.start)
                    })
                    .map(|id| id.pid),
            )
            .chain(
                table
                    .keys()
                    .copied()
                    .filter(|&pid| has_environment_entry(pid, tag.as_bytes())),
            )
            .collect()
    }

    /// Starts host N's sshd and waits until it answers; on a fresh free port unless
    /// `keep_port`, and again on another if that one is taken.
    fn launch(&mut self, index: usize, keep_port: bool) {
        let deadline = Instant::now() + STARTUP;
        let mut attempt = 1;
        loop {
            if !keep_port {
                self.hosts[index].port = free_port();
            }
            fs::write(self.config_file(index), self.sshd_config_text(index))
                .expect("write sshd_config");
            self.spawn(index);
            match self.wait_ready(index, deadline) {
                Ok(()) => return,
                Err(PortTaken) if !keep_port && attempt < 5 => attempt += 1,
                Err(PortTaken) => self.fail(index, "could not bind its port"),
            }
        }
    }

    fn spawn(&mut self, index: usize) {
        let log_file = self.log_file(index);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_file)
            .expect("open the sshd log");
        self.hosts[index].log_offset = log.metadata().map(|meta| meta.len()).unwrap_or(0);
        // A listener killed by SIGKILL leaves its pid file; the wait reads the new one.
        let _ = fs::remove_file(self.pid_file(index));
        let mut command = match self.options.wrapper.split_first() {
            None => Command::new(&self.sshd),
            Some((program, arguments)) => {
                let mut command = Command::new(program);
                command
                    .args(arguments)
                    .arg(&self.sshd)
                    .env(TAG_VARIABLE, self.host_dir(index));
                command
            }
        };
        command
            .envs(self.options.env.iter().map(|(name, value)| (name, value)))
            .arg("-D") // no daemon: it stays our child, to wait for and kill
            .arg("-e")
            .arg("-f")
            .arg(self.config_file(index))
            .arg("-E") // the log goes to a file, not to syslog
            .arg(&log_file);
        if penalties_option(&self.sshd, &self.config_file(index)) {
            command.args(["-o", "PerSourcePenalties=no"]);
        }
        let listener = command
            .stdin(Stdio::null())
            // What it says before the log is open (a bad option) goes to the log too.
            .stdout(log.try_clone().expect("log file handle"))
            .stderr(log)
            // Its own group: signals meant for the test's group do not reach it.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", self.sshd.display()));
        self.hosts[index].listener = Some(listener);
    }

    /// Ready is: it logged that it listens on its port (so the port is its own, not
    /// another process's), wrote its pid file, and a connection gets its banner.
    fn wait_ready(&mut self, index: usize, deadline: Instant) -> Result<(), PortTaken> {
        let port = self.hosts[index].port;
        let listening = format!("Server listening on 127.0.0.1 port {port}.");
        loop {
            let listener = self.hosts[index].listener.as_mut().expect("spawned");
            let pid = listener.id();
            if let Some(status) = listener.try_wait().expect("poll sshd") {
                self.hosts[index].listener = None;
                if self.current_log(index).contains("Address already in use") {
                    return Err(PortTaken);
                }
                self.fail(index, &format!("exited with {status} while starting"));
            }
            let pid_written = fs::read_to_string(self.pid_file(index))
                .is_ok_and(|text| text.trim() == pid.to_string());
            if pid_written && self.current_log(index).contains(&listening) && banner(port) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.fail(
                    index,
                    &format!("did not accept connections within {STARTUP:?}"),
                );
            }
            thread::sleep(POLL);
        }
    }

    /// The log of the current listener.
    fn current_log(&self, index: usize) -> String {
        let log = fs::read(self.log_file(index)).unwrap_or_default();
        let offset = (self.hosts[index].log_offset as usize).min(log.len());
        String::from_utf8_lossy(&log[offset..]).into_owned()
    }

    fn fail(&self, index: usize, what: &str) -> ! {
        let log = self.current_log(index);
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        panic!(
            "sshd of host {index} on 127.0.0.1:{} {what}\n--- last lines of {}\n{tail}",
            self.hosts[index].port,
            self.log_file(index).display()
        );
    }

    fn sshd_config_text(&self, index: usize) -> String {
        let port = self.hosts[index].port;
        let host_key = quote_path(&self.host_key(index));
        let pid_file = quote_path(&self.pid_file(index));
        let authorized_keys = quote_path(&self.dir.path().join("authorized_keys"));
        let set_env: String = std::iter::once(self.tag(index))
            .chain(
                self.options
                    .set_env
                    .iter()
                    .map(|(name, value)| format!("{name}={value}")),
            )
            // One line: sshd keeps only the first SetEnv line it reads.
            .map(|entry| format!(" \"{entry}\""))
            .collect();
        format!(
            "# Generated by tests/common/sshd.rs: host {index} of a test fleet.
ListenAddress 127.0.0.1:{port}
AddressFamily inet
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile {authorized_keys}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# The temporary directory's modes are not what sshd wants of a home directory.
StrictModes no
PermitRootLogin prohibit-password
# Any host may be the jump host of the others.
AllowTcpForwarding yes
# Tests open many connections at once; sshd's defaults (10:30:100, 10) drop some.
MaxStartups 1000:30:1000
MaxSessions 100
UseDNS no
PrintMotd no
PrintLastLog no
Subsystem sftp internal-sftp
SetEnv{set_env}
LogLevel DEBUG1
"
        )
    }

    fn ssh_config_text(&self) -> String {
        let mut text = String::from(
            "# Generated by tests/common/sshd.rs: `ssh -F THIS host-N` logs in to host N.\n",
        );
        for (index, host) in self.hosts.iter().enumerate() {
            let _ = write!(text, "Host host-{index}\n  Port {}\n", host.port);
        }
        let _ = write!(
            text,
            "Host *
  HostName 127.0.0.1
  User {user}
  IdentityFile {identity}
  IdentitiesOnly yes
  UserKnownHostsFile {known_hosts}
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 10
",
            user = self.user,
            identity = quote_path(&self.identity()),
            known_hosts = quote_path(&self.known_hosts()),
        );
        text
    }
}

impl Drop for SshFleet {
    fn drop(&mut self) {
        for index in 0..self.hosts.len() {
            self.kill_host(index);
        }
    }
}

/// An inventory TOML for `runbook`: `[defaults]` with the fleet's user, key and
/// known_hosts, optional `[jumps.NAME]` tables, and one `[[hosts]]` per host added.
///
/// ```ignore
/// fleet.inventory().jump("bastion", 2).host("web-1", 0).host_via("db-1", 1, "bastion").write(&path);
/// ```
pub struct Inventory<'a> {
    fleet: &'a SshFleet,
    /// (name, host index).
    jumps: Vec<(String, usize)>,
    /// (name, host index, jump name).
    hosts: Vec<(String, usize, Option<String>)>,
}

impl Inventory<'_> {
    /// Host `index` under `name`, reached directly.
    pub fn host(mut self, name: &str, index: usize) -> Self {
        self.fleet.check(index);
        self.hosts.push((name.to_string(), index, None));
        self
    }

    /// Host `index` under `name`, reached through the jump host `jump`.
    pub fn host_via(mut self, name: &str, index: usize, jump: &str) -> Self {
        self.fleet.check(index);
        assert!(
            self.jumps.iter().any(|(known, _)| known == jump),
            "no jump host {jump:?}: add it with `jump` first"
        );
        self.hosts
            .push((name.to_string(), index, Some(jump.to_string())));
        self
    }

    /// Host `index` as the jump host `name` (`[jumps.NAME]`); it may be a host too.
    pub fn jump(mut self, name: &str, index: usize) -> Self {
        self.fleet.check(index);
        self.jumps.push((name.to_string(), index));
        self
    }

    pub fn to_toml(&self) -> String {
        let fleet = self.fleet;
        let user = quote(&fleet.user);
        let identity = quote(&fleet.identity().display().to_string());
        let known_hosts = quote(&fleet.known_hosts().display().to_string());
        let mut text = format!(
            "# Generated by tests/common/sshd.rs: sshd processes on 127.0.0.1.
[defaults]
connection = \"ssh\"
labels = {{ env = \"test\" }}

[defaults.ssh]
user = {user}
identity = {identity}
known_hosts = {known_hosts}
connect_timeout = \"5s\"
"
        );
        for (name, index) in &self.jumps {
            let _ = write!(
                text,
                "
[jumps.{name}]
address = \"127.0.0.1\"
port = {port}
user = {user}
identity = {identity}
",
                name = bare_key(name),
                port = fleet.port(*index),
            );
        }
        for (name, index, jump) in &self.hosts {
            let jump = jump
                .as_ref()
                .map(|jump| format!(", jump = {}", quote(jump)))
                .unwrap_or_default();
            let _ = write!(
                text,
                "
[[hosts]]
name = {name}
address = \"127.0.0.1\"
connection = \"ssh\"
ssh = {{ port = {port}, user = {user}, identity = {identity}, known_hosts = {known_hosts}{jump} }}
",
                name = quote(name),
                port = fleet.port(*index),
            );
        }
        text
    }

    pub fn write(&self, path: &Path) {
        fs::write(path, self.to_toml())
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
    }
}

/// Runs a command to its end with stdin closed and its output captured, failing the
/// test if that takes longer than `limit`: a stuck ssh must not hang the suite.
pub fn output_within(command: &mut Command, limit: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    let stdout = read_in_background(child.stdout.take().expect("piped stdout"));
    let stderr = read_in_background(child.stderr.take().expect("piped stderr"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the child") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = stderr.recv_timeout(POLL).unwrap_or_default();
            panic!(
                "{command:?} did not finish within {limit:?}; its stderr:\n{}",
                String::from_utf8_lossy(&stderr)
            );
        }
        thread::sleep(POLL);
    };
    // A grandchild may hold the pipes open after the child exits: wait a bounded time.
    let collect = |output: mpsc::Receiver<Vec<u8>>| {
        let left = deadline.saturating_duration_since(Instant::now()).max(POLL);
        output.recv_timeout(left).unwrap_or_default()
    };
    Output {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    }
}

fn read_in_background(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = sender.send(bytes);
    });
    receiver
}

/// Installs the server with the script .ci/run uses, once for all the tests of a
/// binary (they may start fleets at once).
fn install() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/install-openssh-server");
        let status = Command::new("bash").arg(&script).status();
        eprintln!("{}: {status:?}", script.display());
    });
}

fn binary() -> PathBuf {
    let binary = std::env::var_os("SSHD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_BINARY));
    if !binary.is_file() {
        install();
    }
    assert!(
        binary.is_file(),
        "the sshd binary {} is missing and .ci/install-openssh-server could not install \
         it (it needs root and apt-get): install Debian's `openssh-server`, or set SSHD_BIN",
        binary.display()
    );
    assert!(
        binary.is_absolute(),
        "SSHD_BIN must be an absolute path: sshd re-execs itself for every connection"
    );
    binary
}

/// Whether sshd knows `PerSourcePenalties` (OpenSSH 9.8 and later), asked once. Left
/// on, it would refuse 127.0.0.1 for a while after connections that `kill_host` cut;
/// OpenSSH 9.2 (Debian 12) does not have it and rejects the option.
fn penalties_option(sshd: &Path, config: &Path) -> bool {
    static KNOWN: OnceLock<bool> = OnceLock::new();
    *KNOWN.get_or_init(|| {
        Command::new(sshd)
            .arg("-t")
            .arg("-f")
            .arg(config)
            .args(["-o", "PerSourcePenalties=no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    })
}

fn current_user() -> String {
    User::from_uid(getuid())
        .ok()
        .flatten()
        .map(|user| user.name)
        .or_else(|| std::env::var("USER").ok())
        .expect("the current user's name")
}

/// `keygen` for each (path, comment), every ssh-keygen at once.
fn keygen_all(keys: &[(PathBuf, String)]) {
    let running: Vec<(&PathBuf, Child)> = keys
        .iter()
        .map(|(path, comment)| {
            let child = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
                .arg(path)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|error| panic!("cannot run ssh-keygen (openssh-client): {error}"));
            (path, child)
        })
        .collect();
    for (path, child) in running {
        let output = child.wait_with_output().expect("ssh-keygen ends");
        assert!(
            output.status.success(),
            "ssh-keygen for {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn keygen(path: &Path, comment: &str) {
    keygen_all(&[(path.to_path_buf(), comment.to_string())]);
}

/// Binding :0 and letting go finds a port free now; another process may still take it
/// before sshd does, which `launch` notices and retries.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("find a free loopback port")
        .port()
}

/// Whether a connection to the port gets an SSH banner. The probe sends one of its own
/// before closing, so the log says what the connection was.
fn banner(port: u16) -> bool {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.write_all(b"SSH-2.0-runbook_test_readiness_probe\r\n");
    let mut received = [0; 8];
    stream.read_exact(&mut received).is_ok() && &received == b"SSH-2.0-"
}

/// A path in sshd_config or ssh_config, whose arguments split at spaces unless quoted.
fn quote_path(path: &Path) -> String {
    format!("\"{}\"", path.display())
}

/// A TOML key: bare when it can be, quoted otherwise.
fn bare_key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        name.to_string()
    } else {
        quote(name)
    }
}

/// A TOML string.
fn quote(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// What the harness reads of `/proc/PID/stat`.
#[derive(Clone, Copy, Debug)]
struct Stat {
    state: u8,
    ppid: i32,
    /// Clock ticks after boot.
    start: u64,
}

impl Stat {
    fn stopped_or_dead(&self) -> bool {
        matches!(self.state, b'T' | b't' | b'Z' | b'X')
    }

    fn dead(&self) -> bool {
        matches!(self.state, b'Z' | b'X')
    }
}

fn read_stat(pid: i32) -> Option<Stat> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `PID (COMM) STATE PPID ...`: COMM may hold spaces and parentheses.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    Some(Stat {
        state: *fields.first()?.as_bytes().first()?,
        ppid: fields.get(1)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

fn process_table() -> HashMap<i32, Stat> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return HashMap::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .filter_map(|pid| Some((pid, read_stat(pid)?)))
        .collect()
}

/// Whether `/proc/PID/environ` holds exactly this `NAME=value` (unreadable: no). sshd
/// itself overwrites its environment with its process title, so only the commands it
/// runs show the tag.
fn has_environment_entry(pid: i32, entry: &[u8]) -> bool {
    fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|environ| environ.split(|&byte| byte == 0).any(|item| item == entry))
}

/// The live processes among `seeds` and all their descendants, never this process.
fn descendants(table: &HashMap<i32, Stat>, seeds: Vec<i32>) -> HashSet<ProcessId> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for (&pid, stat) in table {
        children.entry(stat.ppid).or_default().push(pid);
    }
    let own = std::process::id() as i32;
    let mut found = HashSet::new();
    let mut seen = HashSet::new();
    let mut queue = seeds;
    while let Some(pid) = queue.pop() {
        if pid <= 1 || pid == own || !seen.insert(pid) {
            continue;
        }
        let Some(stat) = table.get(&pid) else {
            continue;
        };
        if !stat.dead() {
            found.insert(ProcessId {
                pid,
                start: stat.start,
            });
        }
        queue.extend(children.get(&pid).into_iter().flatten().copied());
    }
    found
}

/// Stops every process `seeds` names and their descendants, listing again until no new
/// one appears, then kills them all and waits until they are gone.
fn kill_trees(seeds: impl Fn(&HashMap<i32, Stat>) -> Vec<i32>) {
    let deadline = Instant::now() + SETTLE;
    let mut frozen: HashSet<ProcessId> = HashSet::new();
    loop {
        let table = process_table();
        let new: Vec<ProcessId> = descendants(&table, seeds(&table))
            .into_iter()
            .filter(|id| !frozen.contains(id))
            .collect();
        if new.is_empty() {
            break;
        }
        for id in &new {
            signal(id.pid, Signal::SIGSTOP);
        }
        frozen.extend(&new);
        // Until a process is really stopped it may still fork, so list again only then.
        wait_until(deadline, || new.iter().all(|&id| stopped_or_gone(id)));
        if Instant::now() >= deadline {
            eprintln!("sshd harness: processes still forking after {SETTLE:?}; killing");
            break;
        }
    }
    for id in &frozen {
        if is(*id) {
            signal(id.pid, Signal::SIGKILL);
        }
    }
    let gone = wait_until(Instant::now() + SETTLE, || {
        frozen.iter().all(|&id| !alive(id))
    });
    if !gone {
        eprintln!("sshd harness: some of {frozen:?} outlived SIGKILL for {SETTLE:?}");
    }
}

/// Whether the pid still names that process (not a later one with the same pid).
fn is(id: ProcessId) -> bool {
    read_stat(id.pid).is_some_and(|stat| stat.start == id.start)
}

fn alive(id: ProcessId) -> bool {
    read_stat(id.pid).is_some_and(|stat| stat.start == id.start && !stat.dead())
}

fn stopped_or_gone(id: ProcessId) -> bool {
    read_stat(id.pid).is_none_or(|stat| stat.start != id.start || stat.stopped_or_dead())
}

fn signal(pid: i32, signal: Signal) {
    // ESRCH (already gone) is fine; EPERM cannot happen for processes we started.
    let _ = kill(Pid::from_raw(pid), signal);
}

/// Polls `done` until it holds or the deadline passes; whether it held.
fn wait_until(deadline: Instant, mut done: impl FnMut() -> bool) -> bool {
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL);
    }
}
