//! Who holds which role: the people a runbook's approvals and manual steps can be
//! answered by. Read from a TOML file the team keeps next to its runbooks:
//!
//! ```toml
//! [people.alice]
//! roles = ["commander", "executor"]
//! name = "Alice Chen"   # optional display name
//! ```
//!
//! The checker uses it to tell whether a quorum can be met; the engine uses it to tell
//! whether the person answering a gate may.

use crate::source::data_file::{self, toml_message, DataFileError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A roster file larger than this is not a list of people; refusing it keeps memory
/// bounded when a wrong path is given.
pub const MAX_ROSTER_BYTES: u64 = 4 * 1024 * 1024;

/// Every person, by their login (the key under `[people]`), in name order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roster {
    people: BTreeMap<String, Person>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// A display name for transcripts; the login is used when absent.
    pub name: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    #[error("cannot read `{path}`: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{path}` is {size} bytes, too large to be a roster")]
    TooLarge { path: PathBuf, size: u64 },
    #[error("`{path}` is not a valid roster: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The file's shape, before it is checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RosterFile {
    #[serde(default)]
    people: BTreeMap<String, Person>,
}

impl Roster {
    pub fn load(path: &Path) -> Result<Self, RosterError> {
        let text = read_bounded(path)?;
        Self::parse(&text).map_err(|message| RosterError::Invalid {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Reads a roster from TOML text; the error says what is wrong and on which line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: RosterFile = toml::from_str(text).map_err(|error| toml_message(text, &error))?;
        for (login, person) in &file.people {
            if let Some(role) = person.roles.iter().find(|role| role.trim().is_empty()) {
                return Err(format!("`{login}` has an empty role name `{role}`"));
            }
        }
        Ok(Self {
            people: file.people,
        })
    }

    pub fn people(&self) -> impl Iterator<Item = (&str, &Person)> {
        self.people
            .iter()
            .map(|(login, person)| (login.as_str(), person))
    }

    pub fn person(&self, login: &str) -> Option<&Person> {
        self.people.get(login)
    }

    /// Every role held by someone, with the logins of its holders in name order.
    pub fn holders_by_role(&self) -> BTreeMap<&str, Vec<&str>> {
        let mut by_role: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (login, person) in self.people() {
            for role in &person.roles {
                let holders = by_role.entry(role.as_str()).or_default();
                if holders.last() != Some(&login) {
                    holders.push(login);
                }
            }
        }
        by_role
    }

    /// The logins of everyone who holds `role`, in name order.
    pub fn holders(&self, role: &str) -> Vec<&str> {
        self.people()
            .filter(|(_, person)| person.holds(role))
            .map(|(login, _)| login)
            .collect()
    }
}

impl Person {
    pub fn holds(&self, role: &str) -> bool {
        self.roles.iter().any(|held| held == role)
    }
}

fn read_bounded(path: &Path) -> Result<String, RosterError> {
    data_file::read_bounded(path, MAX_ROSTER_BYTES).map_err(|error| match error {
        DataFileError::Unreadable(source) => RosterError::Unreadable {
            path: path.to_path_buf(),
            source,
        },
        DataFileError::TooLarge { size } => RosterError::TooLarge {
            path: path.to_path_buf(),
            size,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEAM: &str = r#"
[people.alice]
roles = ["commander", "executor"]
name = "Alice Chen"

[people.bob]
roles = ["executor"]

[people.wei]
roles = []
"#;

    #[test]
    fn holders_are_listed_by_login() {
        let roster = Roster::parse(TEAM).unwrap();
        assert_eq!(roster.holders("executor"), ["alice", "bob"]);
        assert_eq!(roster.holders("commander"), ["alice"]);
        let by_role = roster.holders_by_role();
        assert_eq!(by_role["executor"], ["alice", "bob"]);
        assert!(!by_role.contains_key("dba"));
        assert!(roster.holders("dba").is_empty());
        assert_eq!(
            roster.person("alice").unwrap().name.as_deref(),
            Some("Alice Chen")
        );
        assert_eq!(roster.person("wei").unwrap().name, None);
    }

    #[test]
    fn a_misspelt_field_is_refused_with_its_line() {
        let error = Roster::parse("[people.alice]\nrole = [\"commander\"]\n").unwrap_err();
        assert!(error.starts_with("line 2:"), "{error}");
        assert!(error.contains("role"), "{error}");
    }

    #[test]
    fn roles_must_be_strings() {
        let error = Roster::parse("[people.alice]\nroles = [1]\n").unwrap_err();
        assert!(error.contains("line 2"), "{error}");
    }

    #[test]
    fn an_empty_role_name_is_refused() {
        let error = Roster::parse("[people.alice]\nroles = [\" \"]\n").unwrap_err();
        assert!(error.contains("empty role"), "{error}");
    }

    #[test]
    fn load_reports_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let error = Roster::load(&dir.path().join("team.toml")).unwrap_err();
        assert!(matches!(error, RosterError::Unreadable { .. }), "{error}");
    }

    #[test]
    fn load_reads_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("team.toml");
        std::fs::write(&path, TEAM).unwrap();
        assert_eq!(Roster::load(&path).unwrap().people().count(), 3);
    }
}
