use std::fmt;

use serde::{Serialize, Serializer};

use super::Severity;

/// A stable diagnostic code such as `rbk::check::missing_rollback`. Codes never change
/// meaning once published: scripts and CI configurations match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Code {
    name: &'static str,
    severity: Severity,
    summary: &'static str,
}

impl Code {
    pub const fn error(name: &'static str, summary: &'static str) -> Self {
        Self {
            name,
            severity: Severity::Error,
            summary,
        }
    }

    pub const fn warning(name: &'static str, summary: &'static str) -> Self {
        Self {
            name,
            severity: Severity::Warning,
            summary,
        }
    }

    pub fn as_str(&self) -> &'static str {
        self.name
    }

    pub fn default_severity(&self) -> Severity {
        self.severity
    }

    /// One line saying what the code is about, for `--explain`-style listings.
    pub fn summary(&self) -> &'static str {
        self.summary
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name)
    }
}
