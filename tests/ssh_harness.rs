//! The real-sshd harness of tests/common/sshd.rs works with the system OpenSSH client:
//! key logins, strict host key checking, a listener stopped while its sessions live on,
//! a host killed with its sessions, a jump host, the inventory, and no process left
//! behind.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::sshd::{output_within, SshFleet};

/// The bound on every client command and every wait of these tests.
const LIMIT: Duration = Duration::from_secs(30);

/// `ssh` with options only, no config file: what a client given flags does.
fn ssh_direct(fleet: &SshFleet, index: usize, known_hosts: &Path, command: &str) -> Output {
    output_within(
        Command::new("ssh")
            .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
            .arg("-i")
            .arg(fleet.identity())
            .arg("-p")
            .arg(fleet.port(index).to_string())
            .arg(format!("{}@127.0.0.1", fleet.user()))
            .arg(command),
        LIMIT,
    )
}

/// `ssh -F ssh_config host-N COMMAND`.
fn ssh_alias(fleet: &SshFleet, index: usize, command: &str) -> Output {
    output_within(fleet.ssh().arg(fleet.alias(index)).arg(command), LIMIT)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[track_caller]
fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "ssh failed with {}: {}",
        output.status,
        stderr(output)
    );
}

/// ssh's own failures (connection, authentication, host key) exit 255.
#[track_caller]
fn assert_ssh_failure(output: &Output, message: &str) {
    assert_eq!(
        output.status.code(),
        Some(255),
        "stdout {:?}, stderr {:?}",
        stdout(output),
        stderr(output)
    );
    assert!(
        stderr(output).contains(message),
        "expected {message:?} in {:?}",
        stderr(output)
    );
}

/// The server port of `$SSH_CONNECTION` (`client-ip client-port server-ip server-port`)
/// as printed on the host: which sshd the command ran under.
fn server_port(output: &Output) -> u16 {
    stdout(output)
        .split_whitespace()
        .nth(3)
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no SSH_CONNECTION in {:?}", stdout(output)))
}

#[track_caller]
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {LIMIT:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Gone, or a zombie nobody reaps yet: it runs no more.
fn gone(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            let state = stat[stat.rfind(')').expect("stat has a command") + 1..].trim_start();
            state.starts_with('Z') || state.starts_with('X')
        }
    }
}

/// A long-running command on a host (`sleep`), with the pid it has there.
struct Session {
    client: Child,
    remote_pid: u32,
}

impl Session {
    fn open(fleet: &SshFleet, index: usize) -> Self {
        let mut client = fleet
            .ssh()
            .arg(fleet.alias(index))
            .arg("echo $$; exec sleep 300")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run ssh");
        let stdout = client.stdout.take().expect("piped");
        let (sender, receiver) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = receiver.recv_timeout(LIMIT).unwrap_or_default();
        let Ok(remote_pid) = line.trim().parse() else {
            let _ = client.kill();
            let _ = client.wait();
            panic!("the session on host {index} did not print its pid: {line:?}");
        };
        Self { client, remote_pid }
    }

    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(status) = self.client.try_wait().expect("poll ssh") {
                return status;
            }
            assert!(Instant::now() < deadline, "the session's ssh did not end");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.client.kill();
        let _ = self.client.wait();
    }
}

/// An OpenSSH ControlMaster connection to a host, with its control socket.
struct Master {
    client: Child,
    socket: PathBuf,
    alias: String,
}

impl Master {
    fn open(fleet: &SshFleet, index: usize) -> Self {
        let socket = fleet.dir().join(format!("mux-{index}"));
        let alias = fleet.alias(index);
        let client = fleet
            .ssh()
            .args(["-M", "-N", "-S"])
            .arg(&socket)
            .arg(&alias)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run ssh -M");
        let mut master = Self {
            client,
            socket,
            alias,
        };
        wait_for("the master connection is up", || {
            assert!(
                master.client.try_wait().expect("poll ssh").is_none(),
                "the master connection ended"
            );
            master.control(fleet, "check").status.success()
        });
        master
    }

    fn control(&self, fleet: &SshFleet, operation: &str) -> Output {
        output_within(
            fleet
                .ssh()
                .arg("-S")
                .arg(&self.socket)
                .args(["-O", operation])
                .arg(&self.alias),
            LIMIT,
        )
    }

    /// A command over the master connection (if it is gone, ssh connects anew).
    fn run(&self, fleet: &SshFleet, command: &str) -> Output {
        output_within(
            fleet
                .ssh()
                .arg("-S")
                .arg(&self.socket)
                .arg(&self.alias)
                .arg(command),
            LIMIT,
        )
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        let _ = self.client.kill();
        let _ = self.client.wait();
    }
}

#[test]
fn a_host_accepts_the_fleet_key_and_known_hosts() {
    let fleet = SshFleet::start(1);
    let output = ssh_direct(&fleet, 0, &fleet.known_hosts(), "echo hello");
    assert_success(&output);
    assert_eq!(stdout(&output), "hello\n");

    let known_hosts = fs::read_to_string(fleet.known_hosts()).unwrap();
    assert_eq!(known_hosts, fleet.known_hosts_line(0) + "\n");
    assert!(
        known_hosts.starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", fleet.port(0))),
        "{known_hosts}"
    );
    let pid: u32 = fs::read_to_string(fleet.pid_file(0))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(Some(pid), fleet.listener_pid(0));
    assert!(
        fleet
            .log(0)
            .contains(&format!("Accepted publickey for {}", fleet.user())),
        "{}",
        fleet.log(0)
    );
}

#[test]
fn each_host_is_its_own_sshd_on_its_own_port() {
    let fleet = SshFleet::start(3);
    let ports: Vec<u16> = (0..3).map(|index| fleet.port(index)).collect();
    assert!(ports[0] != ports[1] && ports[1] != ports[2] && ports[0] != ports[2]);
    assert_eq!(
        fs::read_to_string(fleet.known_hosts())
            .unwrap()
            .lines()
            .count(),
        3
    );
    for (index, port) in ports.into_iter().enumerate() {
        let output = ssh_alias(&fleet, index, "echo $SSH_CONNECTION");
        assert_success(&output);
        assert_eq!(server_port(&output), port);
    }
}

#[test]
fn a_host_key_not_in_known_hosts_is_refused() {
    let fleet = SshFleet::start(2);
    // Host 1's key only: host 0 is unknown.
    let other = fleet.dir().join("known_hosts_other");
    fs::write(&other, fleet.known_hosts_line(1) + "\n").unwrap();
    let unknown = ssh_direct(&fleet, 0, &other, "echo hello");
    assert_ssh_failure(&unknown, "Host key verification failed");
    assert_eq!(stdout(&unknown), "");

    // Host 1's key under host 0's address: a changed key.
    let changed_line = fleet.known_hosts_line(1).replacen(
        &format!(":{} ", fleet.port(1)),
        &format!(":{} ", fleet.port(0)),
        1,
    );
    let changed = fleet.dir().join("known_hosts_changed");
    fs::write(&changed, changed_line + "\n").unwrap();
    let output = ssh_direct(&fleet, 0, &changed, "echo hello");
    assert_ssh_failure(&output, "REMOTE HOST IDENTIFICATION HAS CHANGED");

    assert_success(&ssh_direct(&fleet, 0, &fleet.known_hosts(), "true"));
}

#[test]
fn twenty_connections_at_once_are_all_served() {
    let fleet = SshFleet::start(1);
    let outputs: Vec<Output> = thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|_| scope.spawn(|| ssh_alias(&fleet, 0, "echo hello")))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    for output in &outputs {
        assert_success(output);
        assert_eq!(stdout(output), "hello\n");
    }
}

#[test]
fn kill_host_drops_its_sessions_and_refuses_new_connections() {
    let mut fleet = SshFleet::start(2);
    let mut session = Session::open(&fleet, 0);
    assert!(fleet.session_pids(0).contains(&session.remote_pid));

    fleet.kill_host(0);
    assert_eq!(fleet.listener_pid(0), None);
    assert_eq!(session.wait().code(), Some(255));
    assert!(gone(session.remote_pid), "the command on the host survived");
    assert_eq!(fleet.session_pids(0), Vec::<u32>::new());
    let refused = ssh_direct(&fleet, 0, &fleet.known_hosts(), "echo hello");
    assert_ssh_failure(&refused, "Connection refused");

    // The other host is another machine.
    assert_success(&ssh_alias(&fleet, 1, "true"));

    // And the killed one can come back on its port, with its key.
    fleet.start_listener(0);
    let output = ssh_direct(&fleet, 0, &fleet.known_hosts(), "echo back");
    assert_success(&output);
    assert_eq!(stdout(&output), "back\n");
}

#[test]
fn kill_host_kills_a_command_that_left_the_session() {
    let mut fleet = SshFleet::start(1);
    // Backgrounded with its output elsewhere: the session ends, the command lives on,
    // re-parented away from sshd.
    let output = ssh_alias(&fleet, 0, "sleep 300 </dev/null >/dev/null 2>&1 & echo $!");
    assert_success(&output);
    let pid: u32 = stdout(&output).trim().parse().expect("a pid");
    assert!(!gone(pid));
    assert!(fleet.session_pids(0).contains(&pid));

    fleet.kill_host(0);
    assert!(gone(pid), "the command outlived its host");
}

#[test]
fn stop_listener_refuses_new_connections_but_keeps_established_ones() {
    let mut fleet = SshFleet::start(1);
    let mut master = Master::open(&fleet, 0);
    let over_master = master.run(&fleet, "echo $SSH_CONNECTION");
    assert_success(&over_master);
    assert_eq!(server_port(&over_master), fleet.port(0));

    let listener = fleet.listener_pid(0).unwrap();
    fleet.stop_listener(0);
    assert!(gone(listener));
    assert!(!fleet.pid_file(0).exists(), "sshd removes its pid file");
    let refused = ssh_direct(&fleet, 0, &fleet.known_hosts(), "echo hello");
    assert_ssh_failure(&refused, "Connection refused");

    // The master connection lives on, and serves new sessions.
    let output = master.run(&fleet, "echo still here");
    assert_success(&output);
    assert_eq!(stdout(&output), "still here\n");
    let serving = fleet.session_pids(0);
    assert!(!serving.is_empty());

    // Killing the host drops it.
    fleet.kill_host(0);
    assert!(serving.iter().all(|&pid| gone(pid)), "{serving:?}");
    let deadline = Instant::now() + LIMIT;
    while master.client.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the master connection did not drop"
        );
        thread::sleep(Duration::from_millis(20));
    }
    assert_ssh_failure(&master.run(&fleet, "echo hello"), "Connection refused");
}

#[test]
fn a_jump_host_reaches_the_others() {
    let mut fleet = SshFleet::start(3);
    let bastion = fleet.alias(2);
    let through = |fleet: &SshFleet| {
        output_within(
            fleet
                .ssh()
                .args(["-J", &bastion])
                .arg(fleet.alias(0))
                .arg("echo $SSH_CONNECTION"),
            LIMIT,
        )
    };
    let output = through(&fleet);
    assert_success(&output);
    assert_eq!(server_port(&output), fleet.port(0));
    let forwarded = format!("target 127.0.0.1 port {}", fleet.port(0));
    assert!(
        fleet.log(2).contains(&forwarded),
        "the bastion's log does not show {forwarded:?}:\n{}",
        fleet.log(2)
    );

    // Without the bastion the host is unreachable that way, yet up.
    fleet.kill_host(2);
    assert_ssh_failure(&through(&fleet), "Connection refused");
    assert_success(&ssh_alias(&fleet, 0, "true"));
}

#[test]
fn dropping_the_fleet_leaves_no_process_behind() {
    let mut fleet = SshFleet::start(2);
    let session = Session::open(&fleet, 0);
    // Host 1: a stopped listener, whose session lives on as an orphan.
    let orphan = Session::open(&fleet, 1);
    let master = Master::open(&fleet, 1);
    fleet.stop_listener(1);
    assert!(master.run(&fleet, "true").status.success());

    let mut pids: Vec<u32> = fleet.session_pids(0);
    pids.extend(fleet.session_pids(1));
    pids.push(fleet.listener_pid(0).unwrap());
    for pid in [session.remote_pid, orphan.remote_pid] {
        assert!(pids.contains(&pid), "{pid} in {pids:?}");
    }
    drop(fleet);
    let alive: Vec<u32> = pids.iter().copied().filter(|&pid| !gone(pid)).collect();
    assert!(alive.is_empty(), "still running: {alive:?}");
}

#[test]
fn the_inventory_names_every_host_with_its_port() {
    let fleet = SshFleet::start(3);
    let path = fleet.dir().join("inventory.toml");
    fleet.write_inventory(&path, &["web-1", "web-2"]);
    let inventory: toml::Value = toml::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let defaults = &inventory["defaults"];
    assert_eq!(defaults["connection"].as_str(), Some("ssh"));
    assert_eq!(defaults["labels"]["env"].as_str(), Some("test"));
    let identity = fleet.identity().display().to_string();
    let known_hosts = fleet.known_hosts().display().to_string();
    assert_eq!(defaults["ssh"]["user"].as_str(), Some(fleet.user()));
    assert_eq!(
        defaults["ssh"]["identity"].as_str(),
        Some(identity.as_str())
    );
    assert_eq!(
        defaults["ssh"]["known_hosts"].as_str(),
        Some(known_hosts.as_str())
    );
    assert_eq!(defaults["ssh"]["connect_timeout"].as_str(), Some("5s"));
    let hosts = inventory["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 2);
    for (index, (host, name)) in hosts.iter().zip(["web-1", "web-2"]).enumerate() {
        assert_eq!(host["name"].as_str(), Some(name));
        assert_eq!(host["address"].as_str(), Some("127.0.0.1"));
        assert_eq!(host["connection"].as_str(), Some("ssh"));
        let ssh = &host["ssh"];
        assert_eq!(ssh["port"].as_integer(), Some(i64::from(fleet.port(index))));
        assert_eq!(ssh["user"].as_str(), Some(fleet.user()));
        assert_eq!(ssh["identity"].as_str(), Some(identity.as_str()));
        assert_eq!(ssh["known_hosts"].as_str(), Some(known_hosts.as_str()));
        assert!(ssh.get("jump").is_none());
    }

    let text = fleet
        .inventory()
        .jump("bastion", 2)
        .host("web-1", 0)
        .host_via("db-1", 1, "bastion")
        .to_toml();
    let inventory: toml::Value = toml::from_str(&text).unwrap();
    let bastion = &inventory["jumps"]["bastion"];
    assert_eq!(bastion["address"].as_str(), Some("127.0.0.1"));
    assert_eq!(bastion["port"].as_integer(), Some(i64::from(fleet.port(2))));
    assert_eq!(bastion["user"].as_str(), Some(fleet.user()));
    assert_eq!(bastion["identity"].as_str(), Some(identity.as_str()));
    let hosts = inventory["hosts"].as_array().unwrap();
    assert!(hosts[0]["ssh"].get("jump").is_none());
    assert_eq!(hosts[1]["name"].as_str(), Some("db-1"));
    assert_eq!(hosts[1]["ssh"]["jump"].as_str(), Some("bastion"));
    assert_eq!(
        hosts[1]["ssh"]["port"].as_integer(),
        Some(i64::from(fleet.port(1)))
    );
}
