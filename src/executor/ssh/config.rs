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

/// The config text for host `name` (its inventory name, which is its alias) reached
/// at `target`. `user_configs` are the user's own and the system's ssh config, as
/// plain `ssh` reads them, included last.
pub fn text(
    name: &str,
    target: &SshTarget,
    accept_new_host_keys: bool,
    user_configs: &[&Path],
) -> String {
    let mut text = String::from(
        "# Written by runbook for one run and one host: the inventory's SSH settings, then the user's.\n",
    );
    endpoint(
        &mut text,
        Endpoint {
            alias: name,
            address: &target.address,
            user: target.user.as_deref(),
            port: target.port,
            identity: target.identity.as_deref(),
            known_hosts: target.known_hosts.as_deref(),
            connect_timeout: target.connect_timeout,
        },
    );
    let named_jump = match &target.jump {
        Some(Jump::Named(jump)) => {
            option(&mut text, "ProxyJump", Some(&jump_alias(jump)));
            Some(jump)
        }
        Some(Jump::Destination(destination)) => {
            option(&mut text, "ProxyJump", Some(destination));
            None
        }
        None => None,
    };
    // Within the host's block: an inventory's own config is for its hosts only.
    path_option(&mut text, "Include", target.config.as_deref());
    if let Some(jump) = named_jump {
        endpoint(
            &mut text,
            Endpoint {
                alias: &jump_alias(jump),
                address: &jump.address,
                user: jump.user.as_deref(),
                port: jump.port,
                identity: jump.identity.as_deref(),
                known_hosts: jump.known_hosts.as_deref(),
                connect_timeout: target.connect_timeout,
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
        let user_configs = [
            Path::new("/home/me/.ssh/config"),
            Path::new("/etc/ssh/ssh_config"),
        ];
        insta::assert_snapshot!(text("web-1", &web, false, &user_configs));
        assert!(text("web-1", &web, true, &[]).contains("StrictHostKeyChecking accept-new"));

        // Another host's file holds that host alone, its jump as ssh reads one.
        let mut db = target("[fd00::5]");
        db.jump = Some(Jump::Destination("admin@gw:2022".to_string()));
        let db_text = text("db-1", &db, false, &user_configs);
        assert!(db_text.contains("Host db-1\n  HostName fd00::5\n"));
        assert!(db_text.contains("  ProxyJump admin@gw:2022\n"));
        assert!(!db_text.contains("web-1") && !db_text.contains("runbook-jump-"));
    }
}
