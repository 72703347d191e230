//! The ssh_config file a run's SSH connections read (`ssh -F`): one block per host the
//! inventories reach over SSH, one per named jump host, then what holds for every
//! connection. A file, not `-o` options, because ssh hands `-F` on to the connection
//! it makes to a jump host, and nothing given with `-o`: the bastion is then checked,
//! and reached, exactly as the hosts behind it.
//!
//! ssh takes the first value it reads for each option, so the inventory's settings
//! come first, the user's own `~/.ssh/config` (and an inventory's `config`) after:
//! they fill in what the inventory leaves open.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::inventory::{Jump, JumpHost, SshTarget};

/// How often an idle connection is probed, and how many probes may go unanswered
/// before ssh gives the connection up: a host that vanishes is noticed in 30 s.
const ALIVE_INTERVAL_S: u32 = 10;
const ALIVE_COUNT: u32 = 3;

/// The ssh alias of a named jump host; inventory host names are used as they are.
pub fn jump_alias(jump: &JumpHost) -> String {
    format!("runbook-jump-{}", jump.name)
}

/// The config text. `hosts` maps each inventory host name to its target;
/// `user_config` is the user's own ssh config, included when it exists.
pub fn text(
    hosts: &BTreeMap<String, SshTarget>,
    accept_new_host_keys: bool,
    user_config: Option<&Path>,
) -> String {
    let mut text = String::from(
        "# Written by runbook for one run: the inventories' SSH settings, then the user's.\n",
    );
    let mut jumps = BTreeMap::new();
    let mut includes = Vec::new();
    for (name, target) in hosts {
        let _ = writeln!(text, "\nHost {name}");
        option(&mut text, "HostName", Some(&target.address));
        option(&mut text, "User", target.user.as_deref());
        option(
            &mut text,
            "Port",
            target.port.map(|port| port.to_string()).as_deref(),
        );
        path_option(&mut text, "IdentityFile", target.identity.as_deref());
        if target.identity.is_some() {
            option(&mut text, "IdentitiesOnly", Some("yes"));
        }
        path_option(
            &mut text,
            "UserKnownHostsFile",
            target.known_hosts.as_deref(),
        );
        option(
            &mut text,
            "ConnectTimeout",
            Some(&target.connect_timeout.as_secs().to_string()),
        );
        match &target.jump {
            Some(Jump::Named(jump)) => {
                option(&mut text, "ProxyJump", Some(&jump_alias(jump)));
                jumps.insert(jump.name.clone(), (jump.clone(), target.connect_timeout));
            }
            Some(Jump::Destination(destination)) => {
                option(&mut text, "ProxyJump", Some(destination));
            }
            None => {}
        }
        if let Some(config) = &target.config {
            if !includes.contains(config) {
                includes.push(config.clone());
            }
        }
    }
    for (jump, connect_timeout) in jumps.values() {
        let _ = writeln!(text, "\nHost {}", jump_alias(jump));
        option(&mut text, "HostName", Some(&jump.address));
        option(&mut text, "User", jump.user.as_deref());
        option(
            &mut text,
            "Port",
            jump.port.map(|port| port.to_string()).as_deref(),
        );
        path_option(&mut text, "IdentityFile", jump.identity.as_deref());
        if jump.identity.is_some() {
            option(&mut text, "IdentitiesOnly", Some("yes"));
        }
        path_option(&mut text, "UserKnownHostsFile", jump.known_hosts.as_deref());
        option(
            &mut text,
            "ConnectTimeout",
            Some(&connect_timeout.as_secs().to_string()),
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
    for config in includes
        .iter()
        .map(|path| path.as_path())
        .chain(user_config)
    {
        path_option(&mut text, "Include", Some(config));
    }
    text
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
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;

    fn target(address: &str) -> SshTarget {
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
    fn hosts_then_jump_hosts_then_every_connection_then_the_users_config() {
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
        let mut db = target("db-1.internal");
        db.jump = Some(Jump::Destination("admin@gw:2022".to_string()));
        let hosts = BTreeMap::from([("web-1".to_string(), web), ("db-1".to_string(), db)]);
        let written = text(&hosts, false, Some(Path::new("/home/me/.ssh/config")));
        insta::assert_snapshot!(written);
        assert!(text(&hosts, true, None).contains("StrictHostKeyChecking accept-new"));
    }
}
