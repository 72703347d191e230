//! The shipped high-risk example (runbooks/cloud-host-upgrade-high.rbk), its text
//! unchanged, run end to end with every payment host reached over SSH through a
//! bastion, as plan item P6 has it: the same run as tests/high_risk_example.rs (a real
//! Prometheus, a webhook receiver, people answering from other terminals, a breach in
//! wave 2, wave 3 held, wave 2 rolled back), but each host's commands go through real
//! sshd processes (tests/common/sshd.rs).
//!
//! The example is copied into the session's folder with its roster and scripts; its
//! `payment` inventory is replaced by one with the same hosts and labels, each reached
//! with `connection = "ssh"` at an sshd of its own, all through one more standing as
//! the bastion (`[jumps.bastion]`): 101 sshd processes. One per host, not a few shared:
//! each host is then a machine of its own, with its own /etc, /var, /boot and home (the
//! rollback script reads the manifest its own backup left in its own /var).
//!
//! Each sshd is started inside tests/demo-hosts/enter, so it and every session it
//! serves live in a demo host's private mount namespace (/etc, /var and /boot overlaid
//! in memory: what the hosts write there never reaches this machine), and with its
//! login's home folder replaced by a folder of its own in the fleet (the run's folder
//! on the host, where shipped files land, is under it; no rc file of this machine's
//! account changes the sessions' `PATH`). sshd gives sessions none of its own
//! environment, so what the stand-ins need comes by `SetEnv`: their folder first on
//! `PATH`, the demo hosts' state folder (`DEMO_HOSTS`, the same one the engine uses),
//! and the cloud API token the stand-in cloud CLI checks, as the real API would. The
//! engine runs inside `enter` too, in a namespace of its own: its local steps (the
//! Terraform check, the journeys, the mail and pager channels) need the stand-ins,
//! and the database backup password is read from its /etc.
//!
//! That the commands really ran over SSH is shown four ways: while wave 2's hosts wait
//! at the load balancer, each waiting command is a process of its host's sshd (in its
//! session tree and mount namespace, with its `SetEnv` tag, the stand-ins first on
//! `PATH` and an `SSH_CONNECTION` to its port); after the run, each sshd's log counts
//! exactly one session per command the run's log has for its host, plus one per
//! shipped file, and one login, and the bastion forwarded each host's one connection
//! and ran nothing; each host's backup manifest is in its own /var, none in this
//! machine's, and the shipped script in its own home; and the run's `remote_access`
//! event names every payment host, reached through the bastion.
//!
//! Duplicated from tests/high_risk_example.rs, which this test may not change: the
//! simulated payment traffic (`Traffic`, its series), the engine guard, the
//! confirmations, the waits and the small readers of demo host state.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::high_risk::{
    announce_and_go, assert_told_met_and_sealed, assert_wave_two_undone, breach_while_wave_2_waits,
    end_answering_confirmations, healthy_payment_service, hold_wave_2_and_skip_the_pause,
    repository, start_engine, wait_for_within, wave_hosts, CLOUD_TOKEN, PREVIOUS_KERNEL,
};
use common::session::{of_kind, Session};
use common::sshd::SshFleet;
use serde_json::Value;

/// The backups of 100 hosts over SSH (100 logins through the bastion, some 700
/// commands) come before the go: 50 s to 150 s on a busy machine of two cores.
const PREPARATION_WITHIN: Duration = Duration::from_secs(480);
/// Any other step of the run the test waits for.
const STEP_WITHIN: Duration = Duration::from_secs(120);
/// sshd's line for each command a session runs.
const SESSION: &str = "Starting session: command for ";

#[test]
fn the_high_risk_example_over_ssh_through_a_bastion_holds_wave_3_and_rolls_wave_2_back() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test runs sshd inside the demo hosts' mount namespace, which needs root"
    );
    let (prometheus, traffic, receiver) = healthy_payment_service();
    // Where the time went, shown when the test fails: this machine may be busy.
    let began = Instant::now();
    let progress = |what: &str| eprintln!("{:>6.1} s  {what}", began.elapsed().as_secs_f64());

    let session = Session::new();
    let demo = session.path("demo");
    fs::create_dir_all(demo.join("hold")).expect("demo hosts folder");
    let shipped = copy_example(&session);
    let hosts = payment_hosts();
    // Host i is the fleet's sshd i; the last one is the bastion. Declared after the
    // session: dropped before it, so no sshd outlives the test, and the session's
    // replay of the run comes after.
    let fleet = demo_fleet(&demo, hosts.len() + 1);
    progress(&format!("{} sshd processes started", fleet.host_count()));
    let bastion = hosts.len();
    let server_of: BTreeMap<String, usize> = hosts
        .iter()
        .enumerate()
        .map(|(index, (name, _))| (name.clone(), index))
        .collect();
    session.file(
        "inventory/payment.toml",
        &ssh_inventory(&fleet, &hosts, &server_of, bastion),
    );

    let mut engine = start_engine(
        &session,
        "cloud-host-upgrade-high.rbk",
        &demo,
        &prometheus,
        &receiver,
    );
    let run = session.wait_for_run();
    progress("the engine started");

    // The go comes once every host is backed up over SSH.
    announce_and_go(&session, &run, STEP_WITHIN, PREPARATION_WITHIN);
    progress("every host backed up: the go approved");

    // Wave 1 done; the hour's pause is cut short by a commander. Wave 2's hosts will
    // wait at the load balancer's health check until the breach has been seen.
    hold_wave_2_and_skip_the_pause(&session, &run, &demo, STEP_WITHIN);
    progress("wave 1 done");
    let calls = demo.join("calls.log");
    let undrained = |log: &str, hosts: &[String]| -> BTreeSet<String> {
        log.lines()
            .filter(|line| line.contains(" lbctl undrain "))
            .map(|line| line.split(' ').next().unwrap_or_default().to_string())
            .filter(|host| hosts.contains(host))
            .collect()
    };
    wait_for_within(
        &session,
        &run,
        "wave 2's hosts to be upgraded",
        STEP_WITHIN,
        |events| {
            let wave_2 = wave_hosts(events, 1);
            let log = fs::read_to_string(&calls).unwrap_or_default();
            !undrained(&log, &wave_2).is_empty()
        },
    );
    progress("wave 2's hosts wait at the load balancer");

    // While they wait, each waiting command is seen where it runs: in a session of the
    // sshd its host is reached at, inside that server's demo host.
    let wave_2 = wave_hosts(&session.events(&run), 1);
    let waiting = undrained(&fs::read_to_string(&calls).expect("the call log"), &wave_2);
    let held = held_undrains();
    for host in &waiting {
        let server = server_of[host];
        let process = held
            .iter()
            .find(|process| &process.host == host)
            .unwrap_or_else(|| panic!("{host}'s `lbctl undrain` is not waiting: {held:?}"));
        assert_runs_in_session(&fleet, server, process, engine.0.id());
    }

    breach_while_wave_2_waits(&session, &run, &demo, &prometheus, &traffic);
    progress("the breach seen");

    let (status, shown) =
        end_answering_confirmations(&session, &run, &mut engine, Duration::from_secs(180));
    assert_eq!(status.code(), Some(3), "paused by the policy:\n{shown}");
    progress("the engine ended");
    let events = session.events(&run);

    // Every payment host was reached over SSH, through the bastion, at its server.
    let access = &of_kind(&events, "remote_access")[0]["payload"];
    let reached: BTreeMap<String, String> = access["ssh"]
        .as_object()
        .expect("the hosts reached over SSH")
        .iter()
        .map(|(host, how)| (host.clone(), how.as_str().unwrap_or_default().to_string()))
        .collect();
    let expected: BTreeMap<String, String> = server_of
        .iter()
        .map(|(host, &server)| {
            let port = fleet.port(server);
            (
                host.clone(),
                format!("{}@127.0.0.1:{port} via bastion", fleet.user()),
            )
        })
        .collect();
    assert_eq!(reached, expected);
    assert_eq!(access["accept_new_host_keys"], false);
    let sent: Vec<&str> = access["shipped"]
        .as_array()
        .map(|files| {
            files
                .iter()
                .map(|file| file["path"].as_str().expect("a path"))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(sent, shipped, "the files the example ships are uploaded");

    // The breach holds wave 3 and wave 2 is rolled back, as over local demo hosts; the
    // rollback ran on the hosts themselves, with the script the run shipped there.
    let log = fs::read_to_string(demo.join("calls.log")).expect("the call log");
    let waves = assert_wave_two_undone(&events, &demo, &log, &shown);
    for host in &waves.touched {
        assert!(
            log.contains(&format!(
                "\n{host} logger -t kernel-rollback host={host} rolling back to {PREVIOUS_KERNEL}\n"
            )),
            "{host} ran scripts/rollback.sh"
        );
    }

    // Each server ran exactly the commands of its hosts, each in a session of its own
    // over one login per host, and put the shipped files in the run's folder in its
    // home; the bastion only forwarded, one connection per host.
    assert_sessions_match_the_log(&fleet, &server_of, bastion, &events, &shipped);
    let backups = format!("var/backups/pre-upgrade-{run}");
    for (host, &server) in &server_of {
        for file in &shipped {
            let copy = fleet
                .dir()
                .join(format!("host-{server}/home/.runbook/runs/{run}/{file}"));
            assert_eq!(
                fs::read(&copy).unwrap_or_default(),
                fs::read(session.path(file)).expect("the shipped file"),
                "{} holds the shipped {file}",
                copy.display()
            );
        }
        // The backup went to the host's own /var (seen through its sshd's root), not
        // to this machine's.
        let listener = fleet.listener_pid(server).expect("sshd runs");
        let manifest = format!("/proc/{listener}/root/{backups}/kernel.txt");
        assert_eq!(
            fs::read_to_string(&manifest).unwrap_or_default().trim(),
            PREVIOUS_KERNEL,
            "{host}'s {manifest}"
        );
    }
    assert!(!Path::new("/").join(&backups).exists());

    assert_told_met_and_sealed(&session, &run, &events, &receiver, &shown);
    drop(traffic);
}

/// Copies the example, its roster and its scripts into the session's folder, as they
/// are shipped (the inventory is written apart). Returns the files the example ships
/// to its hosts (`ship "PATH"`), in order.
fn copy_example(session: &Session) -> Vec<String> {
    let runbooks = repository().join("runbooks");
    let mut files = vec![
        "cloud-host-upgrade-high.rbk".to_string(),
        "roster.toml".to_string(),
    ];
    for entry in fs::read_dir(runbooks.join("scripts")).expect("runbooks/scripts") {
        let name = entry.expect("an entry").file_name();
        files.push(format!("scripts/{}", name.to_str().expect("a UTF-8 name")));
    }
    fs::create_dir_all(session.path("scripts")).expect("scripts folder");
    for file in &files {
        // fs::copy keeps the mode: an executable script is shipped as one.
        fs::copy(runbooks.join(file), session.path(file))
            .unwrap_or_else(|error| panic!("copy runbooks/{file}: {error}"));
    }
    let text = session.read("cloud-host-upgrade-high.rbk");
    let shipped: Vec<String> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("ship "))
        .map(|rest| rest.trim().trim_matches('"').to_string())
        .collect();
    for file in &shipped {
        assert!(files.contains(file), "the example ships {file}, not copied");
    }
    assert!(
        shipped.iter().any(|file| file == "scripts/rollback.sh"),
        "the rollback runs scripts/rollback.sh on each host: the example must ship it"
    );
    shipped
}

/// The payment hosts of runbooks/inventory/payment.toml, in order, with their own
/// labels (the file's `[defaults]` labels apart).
fn payment_hosts() -> Vec<(String, toml::Table)> {
    let text = fs::read_to_string(repository().join("runbooks/inventory/payment.toml"))
        .expect("the payment inventory");
    let inventory: toml::Table = text.parse().expect("TOML");
    inventory["hosts"]
        .as_array()
        .expect("[[hosts]]")
        .iter()
        .map(|host| {
            let name = host["name"].as_str().expect("a name").to_string();
            let labels = host
                .get("labels")
                .and_then(toml::Value::as_table)
                .cloned()
                .unwrap_or_default();
            (name, labels)
        })
        .collect()
}

/// runbooks/inventory/payment.toml with every host reached over SSH: its `[defaults]`
/// labels and each host's name and labels as they are, plus where its sshd listens and
/// the bastion in front of them all.
fn ssh_inventory(
    fleet: &SshFleet,
    hosts: &[(String, toml::Table)],
    server_of: &BTreeMap<String, usize>,
    bastion: usize,
) -> String {
    let text = fs::read_to_string(repository().join("runbooks/inventory/payment.toml"))
        .expect("the payment inventory");
    let original: toml::Table = text.parse().expect("TOML");
    let defaults = original["defaults"]["labels"]
        .as_table()
        .expect("default labels");
    let quote = |text: &str| toml::Value::String(text.to_string()).to_string();
    let path = |path: PathBuf| quote(path.to_str().expect("a UTF-8 path"));
    let mut inventory = format!(
        "# runbooks/inventory/payment.toml, every host reached over SSH through the bastion.
[defaults]
connection = \"ssh\"
labels = {labels}

[defaults.ssh]
user = {user}
identity = {identity}
known_hosts = {known_hosts}
jump = \"bastion\"
connect_timeout = \"10s\"

[jumps.bastion]
address = \"127.0.0.1\"
port = {bastion}
user = {user}
identity = {identity}
",
        labels = inline(defaults),
        user = quote(fleet.user()),
        identity = path(fleet.identity()),
        known_hosts = path(fleet.known_hosts()),
        bastion = fleet.port(bastion),
    );
    for (name, labels) in hosts {
        inventory.push_str(&format!(
            "
[[hosts]]
name = {name}
labels = {labels}
address = \"127.0.0.1\"
ssh = {{ port = {port} }}
",
            name = quote(name),
            labels = inline(labels),
            port = fleet.port(server_of[name]),
        ));
    }
    // The same hosts and labels as the shipped inventory, nothing else changed.
    let written: toml::Table = inventory.parse().expect("the inventory is TOML");
    assert_eq!(
        written["defaults"]["labels"],
        original["defaults"]["labels"]
    );
    let names_and_labels = |table: &toml::Table| -> Vec<(toml::Value, Option<toml::Value>)> {
        table["hosts"]
            .as_array()
            .expect("hosts")
            .iter()
            .map(|host| (host["name"].clone(), host.get("labels").cloned()))
            .collect()
    };
    assert_eq!(names_and_labels(&written), names_and_labels(&original));
    inventory
}

/// A TOML inline table of strings.
fn inline(table: &toml::Table) -> String {
    let pairs: Vec<String> = table
        .iter()
        .map(|(key, value)| format!("{key} = {value}"))
        .collect();
    format!("{{ {} }}", pairs.join(", "))
}

/// `servers` sshd processes, each started inside a demo host of its own
/// (tests/demo-hosts/enter), with a home folder of its own (`host-N/home` in the
/// fleet) over the login's, and the sessions' variables the stand-ins need.
fn demo_fleet(demo: &Path, servers: usize) -> SshFleet {
    let enter = repository().join("tests/demo-hosts/enter");
    let stand_ins = repository().join("tests/demo-hosts/bin");
    let demo = demo.to_str().expect("a UTF-8 path");
    SshFleet::builder()
        .wrapper([
            enter.as_os_str(),
            "sh".as_ref(),
            "-c".as_ref(),
            OWN_HOME.as_ref(),
            "own-home".as_ref(),
        ])
        .env("DEMO_HOSTS", demo)
        .env("DEMO_PREVIOUS_KERNEL", PREVIOUS_KERNEL)
        .set_env(
            "PATH",
            &format!(
                "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                stand_ins.display()
            ),
        )
        .set_env("DEMO_HOSTS", demo)
        .set_env("DEMO_PREVIOUS_KERNEL", PREVIOUS_KERNEL)
        .set_env("CLOUD_API_TOKEN", CLOUD_TOKEN)
        .start(servers)
}

/// Run by `enter` in the server's mount namespace, before sshd: the login's home is a
/// folder of this server's own (`$RUNBOOK_TEST_SSHD` is the server's folder).
const OWN_HOME: &str = r#"set -eu
home=$(getent passwd "$(id -un)" | cut -d: -f6)
mkdir -p "$RUNBOOK_TEST_SSHD/home"
mount --bind "$RUNBOOK_TEST_SSHD/home" "$home"
exec "$@""#;

/// A process of a command a host runs, as /proc shows it.
#[derive(Debug)]
struct Process {
    pid: u32,
    host: String,
    environment: BTreeMap<String, String>,
}

/// The `lbctl undrain` stand-ins running now, each with its host.
fn held_undrains() -> Vec<Process> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|pid| pid.parse().ok()) else {
            continue;
        };
        let Ok(command) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let words: Vec<&[u8]> = command.split(|&byte| byte == 0).collect();
        let undrain = words
            .windows(2)
            .any(|pair| pair[0].ends_with(b"/bin/lbctl") && pair[1] == b"undrain");
        if !undrain {
            continue;
        }
        let environment: BTreeMap<String, String> = fs::read(entry.path().join("environ"))
            .unwrap_or_default()
            .split(|&byte| byte == 0)
            .filter_map(|entry| {
                let entry = String::from_utf8_lossy(entry);
                let (name, value) = entry.split_once('=')?;
                Some((name.to_string(), value.to_string()))
            })
            .collect();
        if let Some(host) = environment.get("RUNBOOK_HOST") {
            found.push(Process {
                pid,
                host: host.clone(),
                environment,
            });
        }
    }
    found
}

/// The process runs in a session of server `server`: in its process tree and mount
/// namespace (not the engine's, not this test's), with its tag, the stand-ins first on
/// `PATH`, and an SSH connection to its port.
fn assert_runs_in_session(fleet: &SshFleet, server: usize, process: &Process, engine: u32) {
    let host = &process.host;
    assert!(
        fleet.session_pids(server).contains(&process.pid),
        "{host}'s command (pid {}) is not served by sshd {server}",
        process.pid
    );
    let tag = fleet.dir().join(format!("host-{server}"));
    let variable = |name: &str| {
        process
            .environment
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    };
    assert_eq!(variable("RUNBOOK_TEST_SSHD"), tag.to_str().expect("UTF-8"));
    let stand_ins = repository().join("tests/demo-hosts/bin");
    assert!(
        variable("PATH").starts_with(&format!("{}:", stand_ins.display())),
        "{host}: PATH={}",
        variable("PATH")
    );
    let port = format!(" 127.0.0.1 {}", fleet.port(server));
    assert!(
        variable("SSH_CONNECTION").ends_with(&port),
        "{host}: SSH_CONNECTION={}",
        variable("SSH_CONNECTION")
    );
    let namespace = |pid: &str| {
        fs::read_link(format!("/proc/{pid}/ns/mnt"))
            .unwrap_or_else(|error| panic!("the mount namespace of {pid}: {error}"))
    };
    let listener = fleet.listener_pid(server).expect("sshd runs").to_string();
    let own = namespace(&process.pid.to_string());
    assert_eq!(own, namespace(&listener), "{host} runs in sshd {server}'s");
    assert_ne!(
        own,
        namespace(&engine.to_string()),
        "{host}: not the engine's"
    );
    assert_ne!(own, namespace("self"), "{host}: not this machine's");
}

/// Each server's sessions are its hosts' commands as the run logged them (one per
/// attempt, the rollback's included) and one per shipped file per host; its logins one
/// per host. The bastion ran nothing and forwarded one connection per host.
fn assert_sessions_match_the_log(
    fleet: &SshFleet,
    server_of: &BTreeMap<String, usize>,
    bastion: usize,
    events: &[Value],
    shipped: &[String],
) {
    let mut commands: BTreeMap<&str, usize> = BTreeMap::new();
    for started in of_kind(events, "command_started") {
        let unit = started["payload"]["unit"].as_str().expect("a unit");
        if let Some((_, host)) = unit.rsplit_once('@') {
            if server_of.contains_key(host) {
                *commands.entry(host).or_default() += 1;
            }
        }
    }
    let bastion = fleet.log(bastion);
    for server in server_of.values().copied().collect::<BTreeSet<usize>>() {
        let hosts: Vec<&str> = server_of
            .iter()
            .filter(|(_, &on)| on == server)
            .map(|(host, _)| host.as_str())
            .collect();
        let expected: usize = hosts
            .iter()
            .map(|host| commands.get(host).copied().unwrap_or(0) + shipped.len())
            .sum();
        let log = fleet.log(server);
        assert_eq!(
            log.matches(SESSION).count(),
            expected,
            "sshd {server}'s sessions are its hosts' commands: {hosts:?}"
        );
        let logins = format!("Accepted publickey for {} ", fleet.user());
        assert_eq!(log.matches(&logins).count(), hosts.len(), "sshd {server}");
        let forwarded = format!("target 127.0.0.1 port {}", fleet.port(server));
        assert_eq!(
            bastion.matches(&forwarded).count(),
            hosts.len(),
            "the bastion forwarded each of {hosts:?} once"
        );
    }
    assert_eq!(
        bastion.matches(SESSION).count(),
        0,
        "the bastion ran nothing"
    );
}
