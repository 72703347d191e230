//! The hosts a runbook acts on. An inventory file is either TOML, with labels:
//!
//! ```toml
//! [defaults]
//! labels = { env = "production" }     # merged under each host's own labels
//!
//! [[hosts]]
//! name = "pay-001"
//! labels = { tier = "payment", kind = "linux" }
//! ```
//!
//! or (any extension but `.toml`) a plain list: one host name a line, `#` comments,
//! blank lines ignored. `where label = "value"` in a runbook narrows an inventory with
//! [`Inventory::select`].
//!
//! A TOML inventory also says how its hosts are reached (`reach`): on this machine, the
//! default, or over SSH (`connection = "ssh"`, with an `ssh` table of settings in
//! `[defaults]` or on a host, and bastions under `[jumps.NAME]`).

mod reach;

pub use reach::{is_plain_path, Jump, JumpHost, Reach, SshTarget};

use crate::source::data_file::{self, toml_message, DataFileError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// An inventory file larger than this is not a host list someone maintains; refusing
/// it keeps memory bounded when a wrong path is given.
pub const MAX_INVENTORY_BYTES: u64 = 16 * 1024 * 1024;

/// Hosts in the order the file lists them (waves take them in this order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    pub hosts: Vec<Host>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub reach: Reach,
}

impl Host {
    /// A host reached on this machine, with no labels.
    pub fn named(name: &str) -> Self {
        Host {
            name: name.to_string(),
            labels: BTreeMap::new(),
            reach: Reach::Local,
        }
    }
}

/// One `where` condition: `label = "value"` (`equal`) or `label != "value"`. A host
/// without the label is not equal to any value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub label: String,
    pub value: String,
    pub equal: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("cannot read `{path}`: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{path}` is {size} bytes, too large to be an inventory")]
    TooLarge { path: PathBuf, size: u64 },
    #[error("`{path}` is not a valid inventory: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryFile {
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    hosts: Vec<HostEntry>,
    #[serde(default)]
    jumps: BTreeMap<String, reach::JumpEntry>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    connection: Option<reach::Connection>,
    #[serde(default)]
    ssh: reach::SshEntry,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostEntry {
    name: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    address: Option<String>,
    connection: Option<reach::Connection>,
    #[serde(default)]
    ssh: reach::SshEntry,
}

const HOST_NAME_RULE: &str =
    "letters, digits, `.`, `-`, `_`, `:`, `[` and `]`, at most 253 characters";

/// A DNS name, an IPv4 address or an IPv6 address (bare or in brackets).
fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']'))
}

impl Inventory {
    /// Reads a TOML inventory (`.toml`) or a plain host list (anything else).
    pub fn load(path: &Path) -> Result<Self, InventoryError> {
        let text = read_bounded(path)?;
        let is_toml = path
            .extension()
            .is_some_and(|extension| extension.eq_ignore_ascii_case("toml"));
        let parsed = if is_toml {
            Self::parse_toml(&text)
        } else {
            Self::parse_list(&text)
        };
        let mut inventory = parsed.map_err(|message| InventoryError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        let folder = path.parent().unwrap_or(Path::new(""));
        for (index, host) in inventory.hosts.iter_mut().enumerate() {
            if let Reach::Ssh(target) = &mut host.reach {
                target
                    .resolve_paths(folder)
                    .map_err(|why| InventoryError::Invalid {
                        path: path.to_path_buf(),
                        message: format!("host {}: {why}", index + 1),
                    })?;
            }
        }
        Ok(inventory)
    }

    pub fn parse_toml(text: &str) -> Result<Self, String> {
        let file: InventoryFile =
            toml::from_str(text).map_err(|error| toml_message(text, &error))?;
        let mut hosts = Vec::with_capacity(file.hosts.len());
        for (index, entry) in file.hosts.into_iter().enumerate() {
            let mut labels = file.defaults.labels.clone();
            labels.extend(entry.labels);
            let reach = reach::reach_of(
                reach::ReachEntry {
                    name: &entry.name,
                    address: entry.address.as_deref(),
                    connection: entry.connection.or(file.defaults.connection),
                    ssh: entry.ssh.over(&file.defaults.ssh),
                },
                &file.jumps,
            )
            .map_err(|why| format!("host {}: {why}", index + 1))?;
            hosts.push(Host {
                name: entry.name,
                labels,
                reach,
            });
        }
        Self::from_hosts(hosts)
    }

    pub fn parse_list(text: &str) -> Result<Self, String> {
        let mut hosts = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let name = line.split('#').next().unwrap_or("").trim();
            if name.is_empty() {
                continue;
            }
            if !is_host_name(name) {
                return Err(format!(
                    "line {} is not a host name ({HOST_NAME_RULE})",
                    index + 1
                ));
            }
            hosts.push(Host::named(name));
        }
        Self::from_hosts(hosts)
    }

    /// An inventory of these hosts, refusing bad and repeated names: a host listed
    /// twice would be upgraded twice in one wave. Errors give positions, never the
    /// text: a mistyped path may point at a file of secrets, and these messages end
    /// up in CI logs.
    pub fn from_hosts(hosts: Vec<Host>) -> Result<Self, String> {
        let mut seen = BTreeMap::new();
        for (index, host) in hosts.iter().enumerate() {
            if !is_host_name(&host.name) {
                return Err(format!(
                    "host {} has a name that is not a host name ({HOST_NAME_RULE})",
                    index + 1
                ));
            }
            if let Some(first) = seen.insert(host.name.as_str(), index) {
                return Err(format!(
                    "host {} repeats host {}: each host may be listed once",
                    index + 1,
                    first + 1
                ));
            }
        }
        Ok(Self { hosts })
    }

    /// The hosts that satisfy every condition, in the same order.
    pub fn select(&self, matches: &[Match]) -> Inventory {
        Inventory {
            hosts: self
                .hosts
                .iter()
                .filter(|host| matches.iter().all(|condition| condition.accepts(host)))
                .cloned()
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }
}

impl Match {
    pub fn accepts(&self, host: &Host) -> bool {
        let equal = host.labels.get(&self.label) == Some(&self.value);
        equal == self.equal
    }
}

fn read_bounded(path: &Path) -> Result<String, InventoryError> {
    data_file::read_bounded(path, MAX_INVENTORY_BYTES).map_err(|error| match error {
        DataFileError::Unreadable(source) => InventoryError::Unreadable {
            path: path.to_path_buf(),
            source,
        },
        DataFileError::TooLarge { size } => InventoryError::TooLarge {
            path: path.to_path_buf(),
            size,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYMENT: &str = r#"
[defaults]
labels = { env = "production", tier = "web" }

[[hosts]]
name = "pay-001"
labels = { tier = "payment", kind = "linux" }

[[hosts]]
name = "pay-002"
labels = { tier = "payment", kind = "windows" }

[[hosts]]
name = "web-001"
"#;

    fn names(inventory: &Inventory) -> Vec<&str> {
        inventory
            .hosts
            .iter()
            .map(|host| host.name.as_str())
            .collect()
    }

    fn condition(label: &str, value: &str, equal: bool) -> Match {
        Match {
            label: label.to_string(),
            value: value.to_string(),
            equal,
        }
    }

    #[test]
    fn defaults_are_merged_under_each_hosts_labels() {
        let inventory = Inventory::parse_toml(PAYMENT).unwrap();
        assert_eq!(names(&inventory), ["pay-001", "pay-002", "web-001"]);
        let first = &inventory.hosts[0].labels;
        assert_eq!(first["tier"], "payment");
        assert_eq!(first["env"], "production");
        assert_eq!(inventory.hosts[2].labels["tier"], "web");
    }

    #[test]
    fn select_keeps_order_and_applies_every_condition() {
        let inventory = Inventory::parse_toml(PAYMENT).unwrap();
        let payment = inventory.select(&[condition("tier", "payment", true)]);
        assert_eq!(names(&payment), ["pay-001", "pay-002"]);
        let linux_payment = inventory.select(&[
            condition("tier", "payment", true),
            condition("kind", "windows", false),
        ]);
        assert_eq!(names(&linux_payment), ["pay-001"]);
    }

    #[test]
    fn a_missing_label_equals_nothing() {
        let inventory = Inventory::parse_toml(PAYMENT).unwrap();
        assert_eq!(
            names(&inventory.select(&[condition("kind", "linux", true)])),
            ["pay-001"]
        );
        assert_eq!(
            names(&inventory.select(&[condition("kind", "linux", false)])),
            ["pay-002", "web-001"]
        );
    }

    #[test]
    fn plain_lists_skip_comments_and_blank_lines() {
        let inventory =
            Inventory::parse_list("# web tier\nweb-001\n\n  web-002  # rack 4\n").unwrap();
        assert_eq!(names(&inventory), ["web-001", "web-002"]);
        assert!(inventory.hosts[0].labels.is_empty());
    }

    #[test]
    fn a_file_of_secrets_is_never_echoed() {
        let error = Inventory::parse_list("# app settings\nDB_PASSWORD = hunter2\n").unwrap_err();
        assert_eq!(error.split(" (").next(), Some("line 2 is not a host name"));
        assert!(!error.contains("hunter2"), "{error}");
        let toml = "[[hosts]]\nname = \"a\"\nlabels = \"hunter2\"\n";
        let error = Inventory::parse_toml(toml).unwrap_err();
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn a_host_listed_twice_is_refused() {
        let error = Inventory::parse_list("web-001\nweb-001\n").unwrap_err();
        assert_eq!(error, "host 2 repeats host 1: each host may be listed once");
        let toml = "[[hosts]]\nname = \"a\"\n[[hosts]]\nname = \"a\"\n";
        assert!(Inventory::parse_toml(toml).is_err());
    }

    #[test]
    fn labels_must_be_strings() {
        let error =
            Inventory::parse_toml("[[hosts]]\nname = \"a\"\nlabels = { rack = 4 }\n").unwrap_err();
        assert!(error.starts_with("line 3:"), "{error}");
    }

    const FLEET: &str = r#"
[defaults]
connection = "ssh"
ssh = { user = "deploy", identity = "keys/id", jump = "bastion", connect_timeout = "5s" }

[jumps.bastion]
address = "10.0.0.1"
port = 2222

[[hosts]]
name = "pay-001"
address = "10.1.0.1"
ssh = { port = 2201, user = "root" }

[[hosts]]
name = "pay-002"
ssh = { jump = "ops@gw.example:22" }

[[hosts]]
name = "console"
connection = "local"
"#;

    #[test]
    fn ssh_settings_merge_key_by_key_and_paths_are_the_inventorys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.toml");
        std::fs::write(&path, FLEET).unwrap();
        let inventory = Inventory::load(&path).unwrap();
        let Reach::Ssh(first) = &inventory.hosts[0].reach else {
            panic!("pay-001 is reached over SSH");
        };
        assert_eq!(first.destination(), "root@10.1.0.1:2201 via bastion");
        assert_eq!(
            first.identity.as_deref(),
            Some(dir.path().join("keys/id").as_path())
        );
        assert_eq!(first.connect_timeout, std::time::Duration::from_secs(5));
        let Some(Jump::Named(bastion)) = &first.jump else {
            panic!("the bastion is a [jumps] entry");
        };
        assert_eq!(
            (bastion.address.as_str(), bastion.port),
            ("10.0.0.1", Some(2222))
        );
        let Reach::Ssh(second) = &inventory.hosts[1].reach else {
            panic!("pay-002 is reached over SSH");
        };
        assert_eq!(second.destination(), "deploy@pay-002 via ops@gw.example:22");
        assert_eq!(inventory.hosts[2].reach, Reach::Local);
    }

    #[test]
    fn ssh_values_that_could_add_options_are_refused_without_being_echoed() {
        for (entry, why) in [
            (
                "ssh = { user = \"-oProxyCommand=x\" }",
                "`ssh.user` is not a user name",
            ),
            (
                "ssh = { identity = \"a\\nProxyCommand x\" }",
                "`ssh.identity` must be a path",
            ),
            ("ssh = { jump = \"x y\" }", "`ssh.jump` is neither"),
            ("address = \"a b\"", "`address` is not a host name"),
            (
                "ssh = { connect_timeout = \"0s\" }",
                "`ssh.connect_timeout` must be",
            ),
            ("ssh = { port = 0 }", "`ssh.port` must be a port"),
        ] {
            let text = format!("[[hosts]]\nname = \"a\"\nconnection = \"ssh\"\n{entry}\n");
            let error = Inventory::parse_toml(&text).unwrap_err();
            assert!(
                error.starts_with(&format!("host 1: {why}")),
                "{entry}: {error}"
            );
        }
        let local = "[[hosts]]\nname = \"a\"\naddress = \"10.0.0.1\"\n";
        let error = Inventory::parse_toml(local).unwrap_err();
        assert!(
            error.contains("only used with `connection = \"ssh\"`"),
            "{error}"
        );
    }

    #[test]
    fn load_chooses_the_format_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        let toml = dir.path().join("payment.toml");
        let list = dir.path().join("web.txt");
        std::fs::write(&toml, PAYMENT).unwrap();
        std::fs::write(&list, "web-001\n").unwrap();
        assert_eq!(Inventory::load(&toml).unwrap().len(), 3);
        assert_eq!(Inventory::load(&list).unwrap().len(), 1);
        let missing = Inventory::load(&dir.path().join("nope.toml")).unwrap_err();
        assert!(matches!(missing, InventoryError::Unreadable { .. }));
    }
}
