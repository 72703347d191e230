//! A whole drill in a file (`NAME.drill.toml`), so a team keeps its quarterly
//! rehearsal beside the runbook and runs it the same way every time:
//!
//! ```toml
//! runbook = "../cloud-host-upgrade-high.rbk"   # relative to this file
//! as = "bao"
//! seed = 7
//! start = "2026-03-01T02:00:00Z"  # the virtual clock's start; else the wall clock
//! inject = ["fail:install@pay-003"]
//! probes = ["tx_success=0.9995", "tx_success=0.95@70m"]
//! respond = ["node=go,person=alice,after=2m", "node=go,person=fang,after=3m"]
//! [params]
//! kernel = "5.14.0-503.el9"
//! ```
//!
//! Each list holds what the command line's `--inject`, `--probe` and `--respond` take;
//! the command line adds to the file. The command line's `--start`, `--seed` and `--as`
//! win over the file's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::StartTime;

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The runbook rehearsed, relative to the scenario's folder.
    pub runbook: PathBuf,
    #[serde(default, rename = "as")]
    pub person: Option<String>,
    #[serde(default)]
    pub seed: Option<u64>,
    /// When the drill's clock starts, so the drill writes the same log every time.
    #[serde(default)]
    pub start: Option<StartTime>,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    #[serde(default)]
    pub inject: Vec<String>,
    #[serde(default)]
    pub probes: Vec<String>,
    #[serde(default)]
    pub respond: Vec<String>,
}

/// Why a scenario file was refused.
#[derive(Debug, thiserror::Error)]
pub enum BadScenario {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path} is not a drill scenario: {reason}")]
    Format { path: PathBuf, reason: String },
}

/// A scenario is a short file; anything larger is not one.
const MAX_BYTES: u64 = 1024 * 1024;

/// Files ending so are read as scenarios rather than runbooks.
pub const SUFFIX: &str = ".drill.toml";

impl Scenario {
    pub fn is_scenario(path: &Path) -> bool {
        path.to_string_lossy().ends_with(SUFFIX)
    }

    /// Reads a scenario; its runbook's path comes back resolved against its folder.
    pub fn read(path: &Path) -> Result<Self, BadScenario> {
        use crate::source::data_file::{read_bounded, DataFileError};
        let text = read_bounded(path, MAX_BYTES).map_err(|error| BadScenario::Read {
            path: path.to_path_buf(),
            reason: match error {
                DataFileError::Unreadable(error) => error.to_string(),
                DataFileError::TooLarge { size } => {
                    format!("{size} bytes, over the {MAX_BYTES} a scenario may have")
                }
            },
        })?;
        let mut scenario: Scenario =
            toml::from_str(&text).map_err(|error| BadScenario::Format {
                path: path.to_path_buf(),
                reason: crate::source::data_file::toml_message(&text, &error),
            })?;
        if scenario.runbook.is_relative() {
            let folder = path.parent().unwrap_or(Path::new("."));
            scenario.runbook = folder.join(&scenario.runbook);
        }
        Ok(scenario)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_reads_with_its_runbook_beside_it() {
        let folder = tempfile::tempdir().expect("a folder");
        let path = folder.path().join("quarterly.drill.toml");
        std::fs::write(
            &path,
            "runbook = \"plan.rbk\"\nas = \"bao\"\nseed = 7\nstart = \"2026-03-01T02:00:00Z\"\ninject = [\"fail:a@h1\"]\n[params]\nkernel = \"6\"\n",
        )
        .expect("write");
        assert!(Scenario::is_scenario(&path));
        let scenario = Scenario::read(&path).expect("a scenario");
        assert_eq!(scenario.runbook, folder.path().join("plan.rbk"));
        assert_eq!(scenario.person.as_deref(), Some("bao"));
        assert_eq!(scenario.seed, Some(7));
        assert_eq!(scenario.start.map(StartTime::ms), Some(1_772_330_400_000));
        assert_eq!(scenario.inject, ["fail:a@h1"]);
        assert_eq!(scenario.params["kernel"], "6");
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let folder = tempfile::tempdir().expect("a folder");
        let path = folder.path().join("typo.drill.toml");
        std::fs::write(&path, "runbook = \"plan.rbk\"\ninjects = []\n").expect("write");
        assert!(matches!(
            Scenario::read(&path),
            Err(BadScenario::Format { .. })
        ));
    }

    #[test]
    fn a_start_that_is_no_time_is_refused_where_it_is_written() {
        let folder = tempfile::tempdir().expect("a folder");
        let path = folder.path().join("late.drill.toml");
        std::fs::write(&path, "runbook = \"plan.rbk\"\nstart = \"at dawn\"\n").expect("write");
        let refused = Scenario::read(&path).expect_err("not a time").to_string();
        assert!(
            refused.contains("line 2: `at dawn` is not a start time in RFC 3339 and UTC"),
            "{refused}"
        );
    }
}
