//! How a host is reached: on this machine (the default: the host is only a value in
//! the commands), or over SSH with the settings the inventory gives it.
//!
//! Every value here ends up in an ssh_config file the SSH executor writes, so each is
//! checked to be one plain word or path: a newline, a quote or a leading `-` could
//! otherwise add options nobody wrote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// How long an SSH connection may take to be set up when the inventory does not say.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Reach {
    /// Commands for the host run on the machine running the runbook.
    #[default]
    Local,
    Ssh(Box<SshTarget>),
}

/// Everything needed to reach one host over SSH. Unset values are left to ssh itself
/// (the user's `~/.ssh/config`, then ssh's defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// Where to connect: `address` in the inventory, else the host's name.
    pub address: String,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub jump: Option<Jump>,
    pub connect_timeout: Duration,
    /// A limit on every command on this host, beside the step's own `timeout`.
    pub command_timeout: Option<Duration>,
    /// An ssh_config file whose settings apply after the inventory's own.
    pub config: Option<PathBuf>,
}

/// The host an SSH connection goes through (a bastion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Jump {
    /// A `[jumps.NAME]` entry of the inventory.
    Named(Box<JumpHost>),
    /// Anything else, handed to ssh as its `ProxyJump` (`[user@]host[:port]`, or a
    /// host of the user's ssh config).
    Destination(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JumpHost {
    pub name: String,
    pub address: String,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
}

/// `connection = "local" | "ssh"` in an inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Connection {
    Local,
    Ssh,
}

/// An inventory's `ssh` table (in `[defaults]` or on a host): every key optional, a
/// host's own keys taking precedence over the defaults' key by key.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SshEntry {
    user: Option<String>,
    port: Option<u16>,
    identity: Option<PathBuf>,
    known_hosts: Option<PathBuf>,
    jump: Option<String>,
    connect_timeout: Option<String>,
    command_timeout: Option<String>,
    config: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JumpEntry {
    address: String,
    user: Option<String>,
    port: Option<u16>,
    identity: Option<PathBuf>,
    known_hosts: Option<PathBuf>,
}

impl SshEntry {
    /// `self` with `fallback`'s values where `self` has none.
    pub(super) fn over(self, fallback: &SshEntry) -> SshEntry {
        SshEntry {
            user: self.user.or_else(|| fallback.user.clone()),
            port: self.port.or(fallback.port),
            identity: self.identity.or_else(|| fallback.identity.clone()),
            known_hosts: self.known_hosts.or_else(|| fallback.known_hosts.clone()),
            jump: self.jump.or_else(|| fallback.jump.clone()),
            connect_timeout: self
                .connect_timeout
                .or_else(|| fallback.connect_timeout.clone()),
            command_timeout: self
                .command_timeout
                .or_else(|| fallback.command_timeout.clone()),
            config: self.config.or_else(|| fallback.config.clone()),
        }
    }
}

/// What one host's entry says about reaching it.
pub(super) struct ReachEntry<'a> {
    pub name: &'a str,
    pub address: Option<&'a str>,
    pub connection: Option<Connection>,
    pub ssh: SshEntry,
}

/// The host's reach, or why its settings cannot be used. Messages name the setting,
/// never its value: an inventory may be the wrong file, full of secrets.
pub(super) fn reach_of(
    entry: ReachEntry<'_>,
    jumps: &BTreeMap<String, JumpEntry>,
) -> Result<Reach, String> {
    if entry.connection != Some(Connection::Ssh) {
        if entry.address.is_some() {
            return Err("`address` is only used with `connection = \"ssh\"`".to_string());
        }
        return Ok(Reach::Local);
    }
    let ssh = entry.ssh;
    let address = entry.address.unwrap_or(entry.name);
    if !super::is_host_name(address) {
        return Err("`address` is not a host name or IP address".to_string());
    }
    let jump = match ssh.jump.clone() {
        None => None,
        Some(name) => Some(match jumps.get(&name) {
            Some(jump) => Jump::Named(Box::new(jump_host(&name, jump, &ssh)?)),
            None if is_destination(&name) => Jump::Destination(name),
            None => {
                return Err(
                    "`ssh.jump` is neither a `[jumps]` entry nor a `[user@]host[:port]`"
                        .to_string(),
                )
            }
        }),
    };
    Ok(Reach::Ssh(Box::new(SshTarget {
        address: address.to_string(),
        user: checked_user(ssh.user, "ssh.user")?,
        port: checked_port(ssh.port, "ssh.port")?,
        identity: checked_path(ssh.identity, "ssh.identity")?,
        known_hosts: checked_path(ssh.known_hosts, "ssh.known_hosts")?,
        jump,
        connect_timeout: match ssh.connect_timeout {
            Some(text) => whole_seconds(&text, "ssh.connect_timeout")?,
            None => DEFAULT_CONNECT_TIMEOUT,
        },
        command_timeout: ssh
            .command_timeout
            .map(|text| whole_seconds(&text, "ssh.command_timeout"))
            .transpose()?,
        config: checked_path(ssh.config, "ssh.config")?,
    })))
}

fn jump_host(name: &str, entry: &JumpEntry, ssh: &SshEntry) -> Result<JumpHost, String> {
    if !super::is_host_name(&entry.address) {
        return Err(format!(
            "`jumps.{name}.address` is not a host name or IP address"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err("a `[jumps]` name may hold letters, digits, `-` and `_`".to_string());
    }
    Ok(JumpHost {
        name: name.to_string(),
        address: entry.address.clone(),
        user: checked_user(entry.user.clone(), "jumps.user")?,
        port: checked_port(entry.port, "jumps.port")?,
        identity: checked_path(entry.identity.clone(), "jumps.identity")?,
        known_hosts: checked_path(
            entry
                .known_hosts
                .clone()
                .or_else(|| ssh.known_hosts.clone()),
            "jumps.known_hosts",
        )?,
    })
}

/// A user name as POSIX systems allow it, not starting with `-`.
fn checked_user(user: Option<String>, key: &str) -> Result<Option<String>, String> {
    match user {
        Some(user)
            if user.is_empty()
                || user.starts_with('-')
                || !user
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) =>
        {
            Err(format!(
                "`{key}` is not a user name (letters, digits, `.`, `_`, `-`)"
            ))
        }
        user => Ok(user),
    }
}

fn checked_port(port: Option<u16>, key: &str) -> Result<Option<u16>, String> {
    match port {
        Some(0) => Err(format!("`{key}` must be a port from 1 to 65535")),
        port => Ok(port),
    }
}

fn checked_path(path: Option<PathBuf>, key: &str) -> Result<Option<PathBuf>, String> {
    match path {
        Some(path) if !is_plain_path(&path) => Err(format!(
            "`{key}` must be a path without quotes or control characters"
        )),
        path => Ok(path),
    }
}

/// `[user@]host[:port]`, possibly several separated by commas, as `ProxyJump` takes.
fn is_destination(text: &str) -> bool {
    !text.is_empty()
        && !text.starts_with('-')
        && text.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '@' | ',' | '[' | ']')
        })
}

fn whole_seconds(text: &str, key: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text.trim()) {
        Ok(duration) if duration.as_secs() >= 1 && duration.subsec_nanos() == 0 => Ok(duration),
        _ => Err(format!(
            "`{key}` must be a whole number of seconds or more, like \"10s\" or \"5m\""
        )),
    }
}

impl SshTarget {
    /// Relative paths are relative to the inventory file's folder, `~/` is the home
    /// folder. The paths are checked again once whole: the folder's own name ends up
    /// in the ssh_config too.
    pub(super) fn resolve_paths(&mut self, base: &Path) -> Result<(), String> {
        let mut paths = vec![
            (&mut self.identity, "ssh.identity"),
            (&mut self.known_hosts, "ssh.known_hosts"),
            (&mut self.config, "ssh.config"),
        ];
        if let Some(Jump::Named(jump)) = &mut self.jump {
            paths.push((&mut jump.identity, "jumps.identity"));
            paths.push((&mut jump.known_hosts, "jumps.known_hosts"));
        }
        for (path, key) in paths {
            if let Some(path) = path {
                resolve(path, base);
                if !is_plain_path(path) {
                    return Err(format!(
                        "`{key}`, within the inventory's folder, is a path with quotes or control characters"
                    ));
                }
            }
        }
        Ok(())
    }

    /// `user@address:port`, and the jump host, as an auditor reads where commands ran.
    pub fn destination(&self) -> String {
        let mut text = String::new();
        if let Some(user) = &self.user {
            text.push_str(user);
            text.push('@');
        }
        text.push_str(&self.address);
        if let Some(port) = self.port {
            text.push_str(&format!(":{port}"));
        }
        match &self.jump {
            Some(Jump::Named(jump)) => text.push_str(&format!(" via {}", jump.name)),
            Some(Jump::Destination(destination)) => text.push_str(&format!(" via {destination}")),
            None => {}
        }
        text
    }
}

fn resolve(path: &mut PathBuf, base: &Path) {
    if let (Ok(rest), Some(home)) = (path.strip_prefix("~"), std::env::var_os("HOME")) {
        *path = Path::new(&home).join(rest);
    } else if path.is_relative() {
        *path = base.join(&*path);
    }
}

/// A path that can be written into an ssh_config line: no control character and no
/// `"`, the one character its quoting cannot carry.
pub fn is_plain_path(path: &Path) -> bool {
    !path.as_os_str().is_empty()
        && path
            .to_str()
            .is_some_and(|text| !text.chars().any(|c| c.is_control() || c == '"'))
}
