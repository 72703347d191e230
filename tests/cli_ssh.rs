//! Steps on hosts reached over SSH, against real sshd processes on loopback
//! (`common::sshd`): each simulated host is its own sshd, so one can be stopped or
//! killed while the others go on. The hosts share this machine's filesystem, so what a
//! command did on a host is read from files under the session's folder; where it ran
//! is told by the variables sshd gives the commands it starts.

mod common;

use std::time::Duration;

use common::session::{finish, of_kind, wait_until, Session};
use common::sshd::SshFleet;
use serde_json::Value;

fn payloads<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    of_kind(events, kind)
        .into_iter()
        .map(|event| &event["payload"])
        .collect()
}

/// The stdout a unit's commands printed, as the log has it.
fn printed(events: &[Value], unit: &str) -> String {
    payloads(events, "output")
        .iter()
        .filter(|output| output["unit"] == unit && output["stream"] == "stdout")
        .map(|output| output["text"].as_str().unwrap_or_default())
        .collect()
}

fn exits(events: &[Value]) -> Vec<(String, Value)> {
    payloads(events, "command_finished")
        .iter()
        .map(|finished| {
            (
                finished["unit"].as_str().unwrap_or_default().to_string(),
                finished["exit"].clone(),
            )
        })
        .collect()
}

#[test]
fn each_hosts_commands_run_on_that_host_with_values_and_secrets_intact() {
    let fleet = SshFleet::start(2);
    let session = Session::new();
    fleet.write_inventory(&session.path("hosts.toml"), &["web-1", "web-2"]);
    let marks = marks(&session);
    session.file(
        "ssh.rbk",
        &format!(
            r#"runbook "over-ssh" {{ }}
inventory web from "hosts.toml"
param note: string = "plain"
secret token from env "SSH_TEST_TOKEN"
step report {{
  on web
  readonly
  run "printf '%s|%s|%s\n' {{{{host}}}} {{{{note}}}} \"$RUNBOOK_TEST_SSHD\""
  run "test -n \"$SSH_CONNECTION\" && printf '%s' \"$RUNBOOK_SECRET_TOKEN\" > {marks}/token-{{{{host}}}}"
  run "for f in /proc/[0-9]*/cmdline; do {{ tr '\\000' ' ' < $f; echo; }} 2>/dev/null; done | grep -c -F -f {marks}/token-{{{{host}}}} || true"
}}
"#,
            marks = marks.display()
        ),
    );
    let note = "it's; $(touch pwned) \"quoted\" * `id` \\ end";
    session
        .runbook_with(
            &["run", "ssh.rbk", "--no-wait", "-p", &format!("note={note}")],
            &[("SSH_TEST_TOKEN", "s3cr3t value")],
        )
        .expect(0, "the run completes over SSH");
    let run = session.run_id();
    let events = session.events(&run);
    for (index, host) in ["web-1", "web-2"].iter().enumerate() {
        // Each host's command ran under its own sshd, with the value as given.
        let line = printed(&events, &format!("report@{host}"));
        let tag = fleet.dir().join(format!("host-{index}"));
        // The last line: no process on the host had the secret in its arguments.
        assert_eq!(line, format!("{host}|{note}|{}\n0\n", tag.display()));
        // The secret reached the host through the environment, never a command line.
        let written = std::fs::read_to_string(marks.join(format!("token-{host}")));
        assert_eq!(written.expect("the secret was written"), "s3cr3t value");
    }
    assert!(!session.path("pwned").exists());
    let log = session.log(&run);
    assert!(!log.contains("s3cr3t"), "the secret is not in the log");
    let access = &payloads(&events, "remote_access")[0];
    assert_eq!(access["accept_new_host_keys"], false);
    assert_eq!(
        access["ssh"]["web-1"],
        format!("{}@127.0.0.1:{}", fleet.user(), fleet.port(0))
    );
}

/// A folder for what commands on the hosts leave behind (the hosts share this
/// machine's filesystem).
fn marks(session: &Session) -> std::path::PathBuf {
    let marks = session.path("marks");
    std::fs::create_dir_all(&marks).expect("marks folder");
    marks
}

#[test]
fn a_host_key_not_yet_known_is_refused_unless_new_keys_are_accepted_and_logged() {
    let fleet = SshFleet::start(1);
    let session = Session::new();
    let inventory = fleet.inventory().host("web-1", 0).to_toml().replace(
        &fleet.known_hosts().display().to_string(),
        "empty_known_hosts",
    );
    session
        .file("hosts.toml", &inventory)
        .file("empty_known_hosts", "")
        .file(
            "keys.rbk",
            r#"runbook "keys" { }
inventory web from "hosts.toml"
step hello {
  on web
  readonly
  run "echo hello"
}
"#,
        );
    let refused = session.runbook(&["run", "keys.rbk", "--no-wait"]);
    refused.expect(1, "an unknown host key fails the host");
    let run = session.run_id();
    let events = session.events(&run);
    assert_eq!(
        exits(&events),
        [("hello@web-1".to_string(), Value::from("unreachable"))]
    );
    let said: String = payloads(&events, "output")
        .iter()
        .map(|output| output["text"].as_str().unwrap_or_default())
        .collect();
    assert!(said.contains("Host key verification failed"), "{said}");
    assert_eq!(session.read("empty_known_hosts"), "");

    std::fs::remove_dir_all(session.path("state")).expect("a clean state folder");
    session
        .runbook(&["run", "keys.rbk", "--no-wait", "--accept-new-host-keys"])
        .expect(0, "the key is accepted when asked");
    let events = session.events(&session.run_id());
    assert_eq!(
        payloads(&events, "remote_access")[0]["accept_new_host_keys"],
        true
    );
    // The host's key was added (the system's ssh_config may have ssh hash the name).
    let known = session.read("empty_known_hosts");
    let key = fleet.known_hosts_line(0);
    let key = key.split_whitespace().last().expect("the host's key");
    assert!(known.lines().any(|line| line.ends_with(key)), "{known}");
}

const BUDGET: &str = r#"runbook "budget" { }
inventory web from "hosts.toml"
waves rollout {
  over web
  stages [100%]
  parallel 4
  max_failed 1
  step change {
    run "echo {{host}} >> MARKS/changed"
    rollback "echo {{host}} >> MARKS/undone"
  }
}
on failure functional {
  abort
  rollback all
}
"#;

#[test]
fn an_unreachable_host_fails_and_counts_against_the_waves_budget() {
    let mut fleet = SshFleet::start(4);
    let session = Session::new();
    fleet.write_inventory(
        &session.path("hosts.toml"),
        &["web-1", "web-2", "web-3", "web-4"],
    );
    let marks = marks(&session);
    // Hosts of a wave run at once: in no set order.
    let read = |name: &str| {
        let text = std::fs::read_to_string(marks.join(name)).unwrap_or_default();
        let mut hosts: Vec<&str> = text.lines().collect();
        hosts.sort_unstable();
        hosts.join(" ")
    };
    session.file(
        "budget.rbk",
        &BUDGET.replace("MARKS", &marks.display().to_string()),
    );
    // One host down: within the budget, set aside. Nothing ran there, so there is
    // nothing of it to roll back, and the wave goes on without it.
    fleet.stop_listener(2);
    let ran = session.runbook(&["run", "budget.rbk", "--no-wait"]);
    let events = session.events(&session.run_id());
    let ended = exits(&events);
    assert!(
        ended.contains(&("change@web-3".to_string(), Value::from("unreachable"))),
        "{ended:?}"
    );
    assert_eq!(read("changed"), "web-1 web-2 web-4");
    ran.expect(0, "one host unreachable is within the budget");
    assert!(
        !ended.iter().any(|(unit, _)| unit.starts_with("rollback:")),
        "{ended:?}"
    );

    // Two hosts down: over the budget, so the wave fails and its policy rolls back
    // every host it changed, over the connections still up.
    std::fs::remove_dir_all(session.path("state")).expect("a clean state folder");
    std::fs::remove_file(marks.join("changed")).expect("changed hosts");
    fleet.stop_listener(3);
    let ran = session.runbook(&["run", "budget.rbk", "--no-wait"]);
    let events = session.events(&session.run_id());
    let failures = payloads(&events, "failure");
    assert!(failures.iter().any(|failure| failure["host"] == "web-4"));
    assert_eq!(read("changed"), "web-1 web-2");
    assert!(!payloads(&events, "policy_action").is_empty());
    assert_eq!(read("undone"), "web-1 web-2");
    ran.expect(1, "over the budget: the wave fails and is rolled back");
}

#[test]
fn sshd_stopped_mid_wave_makes_the_hosts_left_unreachable_and_the_policy_applies() {
    let fleet = SshFleet::start(4);
    let session = Session::new();
    fleet.write_inventory(&session.path("hosts.toml"), &["h1", "h2", "h3", "h4"]);
    let marks = marks(&session);
    // The first host's change stops the sshd of the last two hosts, as an operator's
    // mistake or a network partition would, while the wave is under way.
    session.file(
        "partition.rbk",
        &format!(
            r#"runbook "partition" {{ }}
inventory fleet from "hosts.toml"
waves rollout {{
  over fleet
  stages [100%]
  parallel 1
  max_failed 1
  step change {{
    run "touch {marks}/changed-{{{{host}}}} && if [ {{{{host}}}} = h1 ]; then kill $(cat {pid3} {pid4}); fi"
    rollback "rm {marks}/changed-{{{{host}}}}"
  }}
}}
on failure functional {{
  abort
  rollback all
}}
"#,
            marks = marks.display(),
            pid3 = fleet.pid_file(2).display(),
            pid4 = fleet.pid_file(3).display(),
        ),
    );
    let ran = session.runbook(&["run", "partition.rbk", "--no-wait"]);
    let events = session.events(&session.run_id());
    let exits = exits(&events);
    assert!(
        exits.contains(&("change@h3".to_string(), Value::from("unreachable"))),
        "{exits:?}"
    );
    assert!(exits.contains(&("change@h4".to_string(), Value::from("unreachable"))));
    // Over the budget: the policy rolls back the hosts the wave changed, over the
    // connections that outlived the listener.
    assert!(!payloads(&events, "policy_action").is_empty());
    for host in ["h1", "h2"] {
        assert!(
            exits.contains(&(
                format!("rollback:change@{host}"),
                serde_json::json!({"code": 0})
            )),
            "{exits:?}"
        );
        assert!(!marks.join(format!("changed-{host}")).exists());
    }
    assert!(ran.code() != 0);
}

#[test]
fn an_engine_killed_mid_wave_resumes_without_running_the_command_again() {
    let fleet = SshFleet::start(2);
    let session = Session::new();
    fleet.write_inventory(&session.path("hosts.toml"), &["h1", "h2"]);
    let marks = marks(&session);
    session.file(
        "slow.rbk",
        &format!(
            r#"runbook "slow" {{ }}
inventory fleet from "hosts.toml"
waves rollout {{
  over fleet
  stages [100%]
  parallel 1
  step change {{
    run "echo once >> {marks}/ran-{{{{host}}}} && if [ {{{{host}}}} = h2 ]; then sleep 30; echo done >> {marks}/finished-h2; fi"
    rollback "true"
  }}
}}
"#,
            marks = marks.display()
        ),
    );
    let engine = session.spawn(&["run", "slow.rbk", "--no-wait"]);
    wait_until("h2's command to start", || marks.join("ran-h2").exists());
    let engine_pid = engine.id();
    // Found while the engine lives: once it is gone, any engine may remove it.
    let left = control_folder_of(engine_pid).expect("the engine's control folder");
    let pid = nix::unistd::Pid::from_raw(engine_pid as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).expect("kill the engine");
    let _ = finish(engine, Duration::from_secs(30));
    // With the engine gone, its connection's input closes and the wrapper on the host
    // stops the command: it never finishes.
    wait_until("the command on h2 to be stopped", || {
        fleet.session_pids(1).is_empty() || !sleeping_under(&fleet, 1)
    });
    let run = session.run_id();
    session.runbook(&["resume", &run, "--no-wait"]).expect(
        3,
        "a command that may have run in part waits for a decision",
    );
    assert!(
        !left.exists(),
        "the next engine removes the dead one's control folder"
    );
    session
        .runbook(&[
            "decide", &run, "change", "--host", "h2", "skip", "--as", "ops",
        ])
        .expect(0, "the decision is taken");
    session
        .runbook(&["resume", &run, "--no-wait"])
        .expect(0, "the run completes");
    assert_eq!(
        std::fs::read_to_string(marks.join("ran-h1")).unwrap(),
        "once\n"
    );
    assert_eq!(
        std::fs::read_to_string(marks.join("ran-h2")).unwrap(),
        "once\n"
    );
    assert!(!marks.join("finished-h2").exists());
}

/// The control folder (ssh_config and sockets) that the engine with this pid made.
fn control_folder_of(pid: u32) -> Option<std::path::PathBuf> {
    std::fs::read_dir("/tmp").ok()?.flatten().find_map(|entry| {
        let folder = entry.path();
        let owner = std::fs::read_to_string(folder.join("engine")).ok()?;
        let named = entry
            .file_name()
            .to_string_lossy()
            .starts_with("runbook-ssh-")
            && owner.split_whitespace().next() == Some(pid.to_string().as_str());
        named.then_some(folder)
    })
}

/// Whether a `sleep 30` runs among host `index`'s sessions' processes.
fn sleeping_under(fleet: &SshFleet, index: usize) -> bool {
    let tag = fleet.dir().join(format!("host-{index}"));
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| {
            let path = entry.path();
            let command = std::fs::read(path.join("cmdline")).unwrap_or_default();
            let environ = std::fs::read(path.join("environ")).unwrap_or_default();
            command.starts_with(b"sleep\x0030")
                && String::from_utf8_lossy(&environ).contains(&tag.display().to_string())
        })
}

#[test]
fn a_host_behind_a_jump_host_is_reached_through_it() {
    let fleet = SshFleet::start(2);
    let session = Session::new();
    let inventory = fleet
        .inventory()
        .jump("bastion", 0)
        .host_via("inner", 1, "bastion")
        .to_toml();
    session.file("hosts.toml", &inventory).file(
        "jump.rbk",
        r#"runbook "jump" { }
inventory inner from "hosts.toml"
step hello {
  on inner
  readonly
  run "echo \"$RUNBOOK_TEST_SSHD\""
}
"#,
    );
    session
        .runbook(&["run", "jump.rbk", "--no-wait"])
        .expect(0, "the host behind the bastion is reached");
    let events = session.events(&session.run_id());
    let tag = fleet.dir().join("host-1");
    assert_eq!(
        printed(&events, "hello@inner"),
        format!("{}\n", tag.display())
    );
    assert!(
        fleet
            .log(0)
            .contains(&format!("127.0.0.1 port {}", fleet.port(1))),
        "the bastion forwarded the connection: {}",
        fleet.log(0)
    );
    assert_eq!(
        payloads(&events, "remote_access")[0]["ssh"]["inner"],
        format!("{}@127.0.0.1:{} via bastion", fleet.user(), fleet.port(1))
    );
}

#[test]
fn a_hosts_command_timeout_stops_the_command_on_the_host() {
    let fleet = SshFleet::start(1);
    let session = Session::new();
    let inventory = fleet.inventory().host("slow-1", 0).to_toml().replace(
        "connect_timeout = \"5s\"",
        "connect_timeout = \"5s\"\ncommand_timeout = \"1s\"",
    );
    let marks = marks(&session);
    session.file("hosts.toml", &inventory).file(
        "timeout.rbk",
        &format!(
            r#"runbook "timeout" {{ }}
inventory slow from "hosts.toml"
step wait {{
  on slow
  readonly
  run "sleep 30; touch {marks}/woke"
}}
"#,
            marks = marks.display()
        ),
    );
    let since = std::time::Instant::now();
    session
        .runbook(&["run", "timeout.rbk", "--no-wait"])
        .expect(1, "the command is stopped at the host's limit");
    let events = session.events(&session.run_id());
    assert_eq!(
        exits(&events),
        [("wait@slow-1".to_string(), Value::from("timeout"))]
    );
    assert!(since.elapsed() < Duration::from_secs(25));
    wait_until("the sleep on the host to be stopped", || {
        !sleeping_under(&fleet, 0)
    });
    assert!(!marks.join("woke").exists());
}

#[test]
fn a_host_reached_two_ways_is_refused_before_anything_runs() {
    let fleet = SshFleet::start(1);
    let session = Session::new();
    fleet.write_inventory(&session.path("hosts.toml"), &["web-1"]);
    session.file("local.txt", "web-1\n").file(
        "twice.rbk",
        r#"runbook "twice" { }
inventory remote from "hosts.toml"
inventory here from "local.txt"
step hello {
  on here
  readonly
  run "true"
}
"#,
    );
    let ran = session.runbook(&["run", "twice.rbk", "--no-wait"]);
    ran.expect(2, "the conflict is a usage error");
    insta::assert_snapshot!(ran.stderr);
    assert!(!session.path("state/runs").exists());
}

#[test]
fn shipped_files_are_copied_to_each_host_checksummed_kept_while_the_run_stops_and_removed_at_its_end(
) {
    use sha2::Digest;
    let fleet = SshFleet::start(2);
    let session = Session::new();
    fleet.write_inventory(&session.path("hosts.toml"), &["web-1", "web-2"]);
    let script =
        "#!/bin/sh\n# Says where it runs, for the host it is given.\necho \"$1 in $PWD\"\n";
    session.file("scripts/where.sh", script).file(
        "ship.rbk",
        r#"runbook "ship" { }
inventory web from "hosts.toml"
ship "scripts/where.sh"
step where {
  on web
  readonly
  run "sh scripts/where.sh {{host}} && sha256sum scripts/where.sh"
}
step look "Look at the hosts" {
  after where
  manual "Look at the hosts"
}
"#,
    );
    session
        .runbook(&["run", "ship.rbk", "--no-wait"])
        .expect(3, "the run waits for a person");
    let run = session.run_id();
    let events = session.events(&run);
    let home = std::path::PathBuf::from(std::env::var("HOME").expect("HOME"));
    let folder = home.join(".runbook/runs").join(&run);
    let sha256: String = sha2::Sha256::digest(script.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    for host in ["web-1", "web-2"] {
        // The script ran in the run's folder on the host, from a copy with its hash.
        assert_eq!(
            printed(&events, &format!("where@{host}")),
            format!(
                "{host} in {}\n{sha256}  scripts/where.sh\n",
                folder.display()
            )
        );
    }
    assert_eq!(
        payloads(&events, "remote_access")[0]["shipped"],
        serde_json::json!([{"path": "scripts/where.sh", "sha256": sha256, "bytes": script.len()}])
    );
    // Stopped, not ended: the copy stays for a resume or a person taking over.
    let copied = std::fs::read_to_string(folder.join("scripts/where.sh"));
    assert_eq!(copied.expect("the copy on the host"), script);
    assert!(!folder.join("scripts/where.sh.part").exists());

    session
        .runbook(&["confirm", &run, "look", "--as", "ops"])
        .expect(0, "the hosts were looked at");
    session
        .runbook(&["resume", &run, "--no-wait"])
        .expect(0, "the run completes");
    // Nothing ran on the hosts after the resume, so its engine did not reach them;
    // the ended run's folder goes once an engine that reached them ends it.
    let _ = std::fs::remove_dir_all(&folder);
}

#[test]
fn a_run_that_ends_removes_its_folder_from_the_hosts() {
    let fleet = SshFleet::start(1);
    let session = Session::new();
    fleet.write_inventory(&session.path("hosts.toml"), &["web-1"]);
    session.file("scripts/noop.sh", "true\n").file(
        "ends.rbk",
        r#"runbook "ends" { }
inventory web from "hosts.toml"
ship "scripts/noop.sh"
step noop {
  on web
  readonly
  run "sh scripts/noop.sh && pwd"
}
"#,
    );
    session
        .runbook(&["run", "ends.rbk", "--no-wait"])
        .expect(0, "the run completes");
    let run = session.run_id();
    let events = session.events(&run);
    let folder = printed(&events, "noop@web-1");
    assert!(
        folder.trim_end().ends_with(&format!(".runbook/runs/{run}")),
        "{folder}"
    );
    assert!(!std::path::Path::new(folder.trim_end()).exists());
}

#[test]
fn a_command_ends_when_it_does_whatever_it_leaves_running() {
    let fleet = SshFleet::start(1);
    let session = Session::new();
    fleet.write_inventory(&session.path("hosts.toml"), &["web-1"]);
    session.file(
        "background.rbk",
        r#"runbook "background" { }
inventory web from "hosts.toml"
step start {
  on web
  readonly
  run "sleep 40 & echo started"
}
"#,
    );
    let since = std::time::Instant::now();
    session
        .runbook(&["run", "background.rbk", "--no-wait"])
        .expect(0, "the step ends with its command");
    assert!(
        since.elapsed() < Duration::from_secs(30),
        "the run waited for the background sleep: {:?}",
        since.elapsed()
    );
    let events = session.events(&session.run_id());
    assert_eq!(printed(&events, "start@web-1"), "started\n");
}

#[test]
fn connections_closed_to_make_room_are_opened_again_when_needed() {
    let fleet = SshFleet::start(3);
    let session = Session::new();
    fleet.write_inventory(&session.path("hosts.toml"), &["h1", "h2", "h3"]);
    session.file("scripts/say.sh", "echo \"$1\"\n").file(
        "room.rbk",
        r#"runbook "room" { }
inventory web from "hosts.toml"
ship "scripts/say.sh"
step first {
  on web
  readonly
  run "sh scripts/say.sh first"
}
step second {
  after first
  on web
  readonly
  run "sh scripts/say.sh second"
}
"#,
    );
    // One command at a time keeps two connections open: the third host's closes the
    // first's, which the second step opens again (and copies the script again).
    session
        .runbook(&["run", "room.rbk", "--no-wait", "--max-ssh-sessions", "1"])
        .expect(0, "every command runs");
    let events = session.events(&session.run_id());
    for host in ["h1", "h2", "h3"] {
        assert_eq!(printed(&events, &format!("first@{host}")), "first\n");
        assert_eq!(printed(&events, &format!("second@{host}")), "second\n");
    }
}
