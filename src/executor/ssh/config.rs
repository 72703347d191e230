//! The ssh_config file each host's SSH connections read (`ssh -F`): the host's block,
//! its named jump host's, then what holds for every connection. A file, not `-o`
//! options, because ssh hands `-F` on to the connection it makes to a jump host, and
//! nothing given with `-o`: the bastion is then checked, and reached, exactly as the
//! hosts behind it. A file per host, not one for all, because every ssh process reads
//! the whole file: over a thousand hosts that would be a thousand blocks read for each
//! of two thousand processes.
//!
//! ssh takes the first value it reads for each option, so the inventory's settings
//! come first, the user's own `~/.ssh/config` (and an inventory's `config`) after:
//! they fill in what the inventory leaves open.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::inventory::{Jump, JumpHost, SshTarget};

/// How often an idle connection is probed, and how many probes may go unanswered
/// before ssh gives the connection up: a host that vanishes is noticed in 30 s.
const ALIVE_INTERVAL_S: u32 = 10;
const ALIVE_COUNT: u32 = 3;

/// The ssh alias of a named jump host; inventory host names are used as they are.
pub fn jump_alias(jump: &JumpHost) -> String {
    format!("runbook-jump-{}", jump.name)
}

/// The config text for host `name` (its inventory name, which is its alias) among
/// `hosts`. `user_configs` are the user's own and the system's ssh config, as plain
/// `ssh` reads them, included last.
pub fn text(
    name: &str,
    hosts: &BTreeMap<String, SshTarget>,
    accept_new_host_keys: bool,
    user_configs: &[&Path],
) -> String {
    let mut text = String::from(
        "# Written by runbook for one run and one host: the inventory's SSH settings, then the user's.\n",
    );
    // The host, then every inventory host it goes through: a `jump` that is not a
    // `[jumps]` entry may name one, and ssh looks it up in this file. Each once.
    let mut written = BTreeSet::new();
    let mut pending = vec![name];
    let mut jumps = BTreeMap::new();
    while let Some(alias) = pending.pop() {
        let Some(target) = hosts.get(alias) else {
            continue;
        };
        if !written.insert(alias) {
            continue;
        }
        host_block(&mut text, alias, target, &mut jumps);
        if let Some(Jump::Destination(destination)) = &target.jump {
            pending.extend(hop_names(destination).filter(|hop| hosts.contains_key(*hop)));
        }
    }
    for (jump, connect_timeout) in jumps.values() {
        endpoint(
            &mut text,
            Endpoint {
                alias: &jump_alias(jump),
                address: &jump.address,
                user: jump.user.as_deref(),
                port: jump.port,
                identity: jump.identity.as_deref(),
                known_hosts: jump.known_hosts.as_deref(),
                connect_timeout: *connect_timeout,
            },
        );
    }
    let checking = if accept_new_host_keys {
        "accept-new"
    } else {
        "yes"
    };
    let _ = write!(
        text,
        "\nHost *\n\
         \x20 # Never a prompt: a key or agent, or the host is unreachable.\n\
         \x20 BatchMode yes\n\
         \x20 StrictHostKeyChecking {checking}\n\
         \x20 ServerAliveInterval {ALIVE_INTERVAL_S}\n\
         \x20 ServerAliveCountMax {ALIVE_COUNT}\n\
         \x20 RequestTTY no\n\
         \x20 ForwardAgent no\n\
         \x20 ForwardX11 no\n\
         \x20 PermitLocalCommand no\n\
         \x20 LogLevel ERROR\n"
    );
    for config in user_configs {
        path_option(&mut text, "Include", Some(config));
    }
    text
}

/// An inventory host's block; the named jump host it goes through is noted in `jumps`,
/// whose blocks come after the hosts'.
fn host_block<'a>(
    text: &mut String,
    alias: &str,
    target: &'a SshTarget,
    jumps: &mut BTreeMap<&'a str, (&'a JumpHost, Duration)>,
) {
    endpoint(
        text,
        Endpoint {
            alias,
            address: &target.address,
            user: target.user.as_deref(),
            port: target.port,
            identity: target.identity.as_deref(),
            known_hosts: target.known_hosts.as_deref(),
            connect_timeout: target.connect_timeout,
        },
    );
    match &target.jump {
        Some(Jump::Named(jump)) => {
            option(text, "ProxyJump", Some(&jump_alias(jump)));
            jumps
                .entry(jump.name.as_str())
                .or_insert((jump, target.connect_timeout));
        }
        Some(Jump::Destination(destination)) => option(text, "ProxyJump", Some(destination)),
        None => {}
    }
    // Within the host's block: an inventory's own config is for its hosts only.
    path_option(text, "Include", target.config.as_deref());
}

/// The host of each hop of a `ProxyJump` list (`[user@]host[:port]`, comma-separated).
fn hop_names(destination: &str) -> impl Iterator<Item = &str> {
    destination.split(',').map(|hop| {
        let hop = hop.rsplit_once('@').map_or(hop, |(_, host)| host);
        match hop.strip_prefix('[') {
            Some(bracketed) => bracketed.split(']').next().unwrap_or(bracketed),
            None => hop.split(':').next().unwrap_or(hop),
        }
    })
}

/// What a `Host` block says of where and how to connect, for a host or a jump host.
struct Endpoint<'a> {
    alias: &'a str,
    address: &'a str,
    user: Option<&'a str>,
    port: Option<u16>,
    identity: Option<&'a Path>,
    known_hosts: Option<&'a Path>,
    connect_timeout: Duration,
}

fn endpoint(text: &mut String, endpoint: Endpoint<'_>) {
    let _ = writeln!(text, "\nHost {}", endpoint.alias);
    // A bracketed IPv6 address is how an inventory may write it, not how ssh reads it.
    let address = endpoint
        .address
        .trim_start_matches('[')
        .trim_end_matches(']');
    option(text, "HostName", Some(address));
    option(text, "User", endpoint.user);
    option(
        text,
        "Port",
        endpoint.port.map(|port| port.to_string()).as_deref(),
    );
    path_option(text, "IdentityFile", endpoint.identity);
    if endpoint.identity.is_some() {
        // Only the key named is offered: an agent holding many keys would otherwise
        // use up the server's `MaxAuthTries` before the right one.
        option(text, "IdentitiesOnly", Some("yes"));
    }
    path_option(text, "UserKnownHostsFile", endpoint.known_hosts);
    option(
        text,
        "ConnectTimeout",
        Some(&endpoint.connect_timeout.as_secs().to_string()),
    );
}

fn option(text: &mut String, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        let _ = writeln!(text, "  {key} {value}");
    }
}

/// Paths are quoted: they may hold spaces. The inventory refused any with a quote or
/// a control character.
fn path_option(text: &mut String, key: &str, path: Option<&Path>) {
    if let Some(path) = path {
        let _ = writeln!(text, "  {key} \"{}\"", path.display());
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::path::PathBuf;

    use super::*;

    /// A host at `address` with nothing else set.
    pub(in crate::executor::ssh) fn target(address: &str) -> SshTarget {
        SshTarget {
            address: address.to_string(),
            user: None,
            port: None,
            identity: None,
            known_hosts: None,
            jump: None,
            connect_timeout: Duration::from_secs(10),
            command_timeout: None,
            config: None,
        }
    }

    #[test]
    fn the_host_then_its_jump_host_then_every_connection_then_the_users_config() {
        let bastion = JumpHost {
            name: "bastion".to_string(),
            address: "10.0.0.1".to_string(),
            user: Some("ops".to_string()),
            port: Some(2222),
            identity: None,
            known_hosts: Some(PathBuf::from("/keys/known hosts")),
        };
        let mut web = target("127.0.0.1");
        web.user = Some("deploy".to_string());
        web.port = Some(40022);
        web.identity = Some(PathBuf::from("/keys/id"));
        web.jump = Some(Jump::Named(Box::new(bastion)));
        web.config = Some(PathBuf::from("/inventories/extra_config"));
        let mut db = target("[fd00::5]");
        db.jump = Some(Jump::Destination("admin@gw:2022".to_string()));
        let hosts = BTreeMap::from([("web-1".to_string(), web), ("db-1".to_string(), db)]);
        let user_configs = [
            Path::new("/home/me/.ssh/config"),
            Path::new("/etc/ssh/ssh_config"),
        ];
        insta::assert_snapshot!(text("web-1", &hosts, false, &user_configs));
        assert!(text("web-1", &hosts, true, &[]).contains("StrictHostKeyChecking accept-new"));

        // Another host's file holds that host alone, its jump as ssh reads one.
        let db_text = text("db-1", &hosts, false, &user_configs);
        assert!(db_text.contains("Host db-1\n  HostName fd00::5\n"));
        assert!(db_text.contains("  ProxyJump admin@gw:2022\n"));
        assert!(!db_text.contains("web-1") && !db_text.contains("runbook-jump-"));
    }

    #[test]
    fn a_host_that_goes_through_another_inventory_host_has_that_hosts_block_too() {
        let bastion = JumpHost {
            name: "bastion".to_string(),
            address: "10.0.0.1".to_string(),
            user: None,
            port: None,
            identity: None,
            known_hosts: None,
        };
        let mut gateway = target("10.0.0.2");
        gateway.port = Some(2200);
        gateway.jump = Some(Jump::Named(Box::new(bastion)));
        let mut inner = target("10.1.0.3");
        inner.jump = Some(Jump::Destination(
            "ops@gateway:2200,[fd00::9]:22".to_string(),
        ));
        let mut other = target("10.1.0.4");
        other.jump = Some(Jump::Destination("inner".to_string()));
        let hosts = BTreeMap::from([
            ("gateway".to_string(), gateway),
            ("inner".to_string(), inner),
            ("other".to_string(), other),
            ("unrelated".to_string(), target("10.9.9.9")),
        ]);
        let written = text("other", &hosts, false, &[]);
        for block in [
            "Host other\n",
            "Host inner\n",
            "Host gateway\n  HostName 10.0.0.2\n  Port 2200\n",
            "Host runbook-jump-bastion\n  HostName 10.0.0.1\n",
        ] {
            assert!(
                written.contains(block),
                "{block:?} missing from:\n{written}"
            );
        }
        assert!(!written.contains("unrelated"));
        assert_eq!(written.matches("Host inner\n").count(), 1);
    }
}
