//! Shipped files: each `ship` path, as written, names a file inside the runbook's
//! folder, and names it once. Whether the file is there, a regular file and small
//! enough is found when the context is loaded (context.rs), which reads only the
//! paths this module lets through.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::path::{Component, Path};

use crate::ast::{Item, Runbook, Text};
use crate::diagnostic::Diagnostic;
use crate::source::Span;

use super::codes;
use super::Checker;

/// One `ship` path, sorted by what the path as written says.
pub(super) enum ShippedPath<'a> {
    /// A path that cannot name a file inside the runbook's folder.
    Refused(&'a Text, Refusal),
    /// The first spelling of a file.
    First(&'a Text),
    /// A file shipped before, perhaps spelt another way (`./scripts/x.sh`).
    Repeated { path: &'a Text, first: Span },
}

/// Why a path cannot name a file inside the runbook's folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    Empty,
    Absolute,
    /// A `..` component climbs out of the folder, or could once links are followed.
    Parent,
}

/// Every `ship` path in file order, each sorted.
pub(super) fn shipped_paths(runbook: &Runbook) -> Vec<ShippedPath<'_>> {
    let mut first_spelling: BTreeMap<String, Span> = BTreeMap::new();
    let mut sorted = Vec::new();
    for item in &runbook.items {
        let Item::Ship(ship) = item else {
            continue;
        };
        let path = &ship.path;
        if let Some(refusal) = refusal(&path.value) {
            sorted.push(ShippedPath::Refused(path, refusal));
            continue;
        }
        sorted.push(match first_spelling.entry(normalized(&path.value)) {
            Entry::Vacant(entry) => {
                entry.insert(path.span);
                ShippedPath::First(path)
            }
            Entry::Occupied(entry) => ShippedPath::Repeated {
                path,
                first: *entry.get(),
            },
        });
    }
    sorted
}

fn refusal(path: &str) -> Option<Refusal> {
    if path.is_empty() {
        return Some(Refusal::Empty);
    }
    Path::new(path)
        .components()
        .find_map(|component| match component {
            Component::Prefix(_) | Component::RootDir => Some(Refusal::Absolute),
            Component::ParentDir => Some(Refusal::Parent),
            Component::CurDir | Component::Normal(_) => None,
        })
}

/// The path without `.` components and repeated or trailing `/`, so that two
/// spellings of one file compare equal.
fn normalized(path: &str) -> String {
    Path::new(path)
        .components()
        .filter_map(|component| match component {
            Component::Normal(part) => Some(part.to_string_lossy()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

pub(super) fn check(checker: &Checker<'_>, findings: &mut Vec<Diagnostic>) {
    for shipped in shipped_paths(checker.runbook) {
        match shipped {
            ShippedPath::Refused(path, refusal) => findings.push(refused_finding(path, refusal)),
            ShippedPath::Repeated { path, first } => findings.push(
                Diagnostic::new(
                    codes::SHIP_REPEATED,
                    format!("`{}` is shipped twice", path.value),
                )
                .with_label(path.span, "shipped again here")
                .with_secondary(first, "first shipped here")
                .with_help("ship each file once: it is uploaded once to each host"),
            ),
            ShippedPath::First(_) => {}
        }
    }
}

fn refused_finding(path: &Text, refusal: Refusal) -> Diagnostic {
    let (code, message, label) = match refusal {
        Refusal::Empty => (
            codes::SHIP_EMPTY_PATH,
            "`ship` names no file".to_string(),
            "an empty path",
        ),
        Refusal::Absolute => (
            codes::SHIP_OUTSIDE_FOLDER,
            format!("`{}` is an absolute path", path.value),
            "not relative to the runbook's folder",
        ),
        Refusal::Parent => (
            codes::SHIP_OUTSIDE_FOLDER,
            format!("`{}` climbs out of the runbook's folder", path.value),
            "`..` leaves the folder",
        ),
    };
    Diagnostic::new(code, message)
        .with_label(path.span, label)
        .with_help(
            "a shipped file is named relative to the runbook's folder and kept inside it, so that the same path works on every host: `ship \"scripts/rollback.sh\"`",
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_folder_are_refused_as_written() {
        assert_eq!(refusal(""), Some(Refusal::Empty));
        assert_eq!(refusal("/etc/hosts"), Some(Refusal::Absolute));
        assert_eq!(refusal("../secrets.env"), Some(Refusal::Parent));
        assert_eq!(refusal("scripts/../../x"), Some(Refusal::Parent));
        assert_eq!(refusal("scripts/rollback.sh"), None);
        assert_eq!(refusal("./scripts/rollback.sh"), None);
        // A name that only starts with dots is a file like any other.
        assert_eq!(refusal("..hidden"), None);
    }

    #[test]
    fn spellings_of_one_file_compare_equal() {
        assert_eq!(normalized("./scripts//rollback.sh"), "scripts/rollback.sh");
        assert_eq!(normalized("scripts/./rollback.sh/"), "scripts/rollback.sh");
        assert_ne!(normalized("scripts/rollback.sh"), normalized("rollback.sh"));
    }
}
