//! What the checker may know beyond the file itself: the roster and the inventories'
//! hosts, and whether the files it ships can be uploaded. Loaded by the caller before
//! checking, so checking stays a pure function.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::ast::{
    HeaderEntryKind, Inventory as InventoryItem, InventorySource, Item, Runbook, Text,
};
use crate::diagnostic::Diagnostic;
use crate::inventory::{Host, Inventory, InventoryError, Match};
use crate::roster::{Roster, RosterError};
use crate::source::Span;

use super::codes;
use super::shipped::{shipped_paths, ShippedPath};

/// The most a shipped file may hold: a script or a small configuration file, not a
/// payload (a package or an image is fetched on the host by a step). The engine
/// uploads every shipped file to every remote host, so this also bounds that.
pub const MAX_SHIPPED_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone, Default)]
pub struct Context {
    pub roster: Option<LoadedRoster>,
    /// Each inventory's hosts after its `where`, by the runbook's name for it. An
    /// inventory whose hosts could not be known (a file that failed, standard input)
    /// is absent.
    pub inventories: BTreeMap<String, Inventory>,
    /// The same inventories' hosts before their `where`, to explain an empty selection.
    pub unfiltered: BTreeMap<String, Inventory>,
}

#[derive(Debug, Clone)]
pub struct LoadedRoster {
    pub roster: Roster,
    /// The file as the user named it, for messages.
    pub path: PathBuf,
}

impl Context {
    /// Each inventory's host names, in order: what a run is given (and keeps in its
    /// log) as the hosts of each inventory.
    pub fn host_lists(&self) -> BTreeMap<String, Vec<String>> {
        self.inventories
            .iter()
            .map(|(name, inventory)| {
                let hosts = inventory
                    .hosts
                    .iter()
                    .map(|host| host.name.clone())
                    .collect();
                (name.clone(), hosts)
            })
            .collect()
    }

    /// Loads what the runbook refers to (its roster, its inventory files) and looks at
    /// the files it ships, relative to `base_dir`; `roster` given on the command line
    /// overrides the runbook's own. Files that cannot be read become findings, not
    /// failures. Without a `base_dir` (the runbook came from standard input) the
    /// runbook's own files are not read.
    pub fn load(
        base_dir: Option<&Path>,
        runbook: &Runbook,
        roster: Option<&Path>,
    ) -> (Self, Vec<Diagnostic>) {
        let mut findings = Vec::new();
        let roster = load_roster(base_dir, runbook, roster, &mut findings);
        let mut loader = InventoryLoader {
            base_dir,
            declared: declared_inventories(runbook),
            resolved: BTreeMap::new(),
            unfiltered: BTreeMap::new(),
            findings: &mut findings,
        };
        let names: Vec<String> = loader.declared.keys().cloned().collect();
        for name in names {
            loader.resolve(&name);
        }
        let inventories = loader
            .resolved
            .into_iter()
            .filter_map(|(name, inventory)| inventory.map(|inventory| (name, inventory)))
            .collect();
        let unfiltered = loader.unfiltered;
        if let Some(base_dir) = base_dir {
            look_at_shipped_files(base_dir, runbook, &mut findings);
        }
        (
            Self {
                roster,
                inventories,
                unfiltered,
            },
            findings,
        )
    }
}

fn load_roster(
    base_dir: Option<&Path>,
    runbook: &Runbook,
    overriding: Option<&Path>,
    findings: &mut Vec<Diagnostic>,
) -> Option<LoadedRoster> {
    let named = runbook
        .header
        .entries
        .iter()
        .find_map(|entry| match &entry.kind {
            HeaderEntryKind::Roster(path) => Some(path),
            _ => None,
        });
    let (path, span, label) = match (overriding, named) {
        (Some(path), _) => (
            path.to_path_buf(),
            runbook.header.name.span,
            "the roster given with `--roster` is for this runbook",
        ),
        (None, Some(text)) => (base_dir?.join(&text.value), text.span, "this roster"),
        (None, None) => return None,
    };
    let shown = shown_path(overriding, named, &path);
    match Roster::load(&path) {
        Ok(roster) => Some(LoadedRoster {
            roster,
            path: shown,
        }),
        Err(error) => {
            let shown = shown.display();
            let (code, message) = match error {
                RosterError::Unreadable { source, .. } => (
                    codes::ROSTER_UNREADABLE,
                    format!("cannot read roster `{shown}`: {}", io_reason(&source)),
                ),
                RosterError::TooLarge { size, .. } => (
                    codes::ROSTER_INVALID,
                    format!("roster `{shown}` is {size} bytes, too large to be a roster"),
                ),
                RosterError::Invalid { message, .. } => (
                    codes::ROSTER_INVALID,
                    format!("roster `{shown}` is not valid: {message}"),
                ),
            };
            findings.push(
                Diagnostic::new(code, message)
                    .with_label(span, label)
                    .with_help(
                        "a roster is TOML listing each person's roles:\n  [people.alice]\n  roles = [\"commander\", \"executor\"]\n  name = \"Alice Chen\"",
                    ),
            );
            None
        }
    }
}

/// Why a file could not be read, in words that do not depend on the platform.
fn io_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "the file does not exist".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => error.to_string(),
    }
}

/// The roster's path as the user wrote it (not joined to the runbook's folder), so
/// messages do not depend on where the tool was started.
fn shown_path(overriding: Option<&Path>, named: Option<&Text>, joined: &Path) -> PathBuf {
    match (overriding, named) {
        (Some(path), _) => path.to_path_buf(),
        (None, Some(text)) => PathBuf::from(&text.value),
        (None, None) => joined.to_path_buf(),
    }
}

/// A finding for each shipped file that could not be uploaded as it is. Only paths
/// that stay inside the folder as written are looked at, each file once.
fn look_at_shipped_files(base_dir: &Path, runbook: &Runbook, findings: &mut Vec<Diagnostic>) {
    // `plan.rbk` given on the command line has an empty folder, which is the current one.
    let folder = if base_dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        base_dir
    };
    let root = folder.canonicalize();
    for shipped in shipped_paths(runbook) {
        if let ShippedPath::First(path) = shipped {
            findings.extend(shipped_file_finding(folder, &root, path));
        }
    }
}

/// Why a shipped file cannot be uploaded as it is, if it cannot: it must exist, stay
/// inside the runbook's folder once links are followed (`root` is that folder, links
/// followed), be a regular file, be readable, and be at most `MAX_SHIPPED_BYTES`.
fn shipped_file_finding(
    folder: &Path,
    root: &io::Result<PathBuf>,
    path: &Text,
) -> Option<Diagnostic> {
    let shown = &path.value;
    let unreadable = |error: &io::Error| {
        Diagnostic::new(
            codes::SHIP_UNREADABLE,
            format!("cannot read shipped file `{shown}`: {}", io_reason(error)),
        )
        .with_label(path.span, "this file")
        .with_help("the path is relative to the runbook's folder: `ship \"scripts/rollback.sh\"` ships the `rollback.sh` in the `scripts` folder beside the runbook")
    };
    let root = match root {
        Ok(root) => root,
        Err(error) => return Some(unreadable(error)),
    };
    let resolved = match folder.join(shown).canonicalize() {
        Ok(resolved) => resolved,
        Err(error) => return Some(unreadable(&error)),
    };
    if !resolved.starts_with(root) {
        return Some(
            Diagnostic::new(
                codes::SHIP_OUTSIDE_FOLDER,
                format!("`{shown}` leads out of the runbook's folder through a link"),
            )
            .with_label(path.span, "leaves the folder once links are followed")
            .with_help("a shipped file is kept inside the runbook's folder, where it is reviewed with the runbook: copy it in instead of linking to it"),
        );
    }
    let metadata = match fs::metadata(&resolved) {
        Ok(metadata) => metadata,
        Err(error) => return Some(unreadable(&error)),
    };
    if !metadata.is_file() {
        let (what, help) = if metadata.is_dir() {
            (
                "a directory",
                "ship each file with its own `ship \"path\"`; a folder is not shipped whole",
            )
        } else {
            (
                "not a regular file (a device, a FIFO or a socket)",
                "ship regular files: scripts and small configuration files",
            )
        };
        return Some(
            Diagnostic::new(
                codes::SHIP_NOT_A_FILE,
                format!("shipped path `{shown}` is {what}"),
            )
            .with_label(path.span, "not a file")
            .with_help(help),
        );
    }
    if metadata.len() > MAX_SHIPPED_BYTES {
        return Some(
            Diagnostic::new(
                codes::SHIP_TOO_LARGE,
                format!(
                    "shipped file `{shown}` is {} bytes, over the {} MiB a shipped file may hold",
                    metadata.len(),
                    MAX_SHIPPED_BYTES >> 20
                ),
            )
            .with_label(path.span, "too large to ship")
            .with_help("ship scripts and small configuration files; fetch a package or an image on the host with a step instead"),
        );
    }
    // Opening a regular file never blocks; it tells whether the engine can read it.
    fs::File::open(&resolved)
        .err()
        .map(|error| unreadable(&error))
}

fn declared_inventories(runbook: &Runbook) -> BTreeMap<String, &InventoryItem> {
    let mut declared = BTreeMap::new();
    for item in &runbook.items {
        if let Item::Inventory(inventory) = item {
            declared
                .entry(inventory.name.name.clone())
                .or_insert(inventory);
        }
    }
    declared
}

/// Resolves inventories in any order (`from OTHER` may name one declared later),
/// each once; a circle of `from`s resolves to nothing (the inventories pass reports it).
struct InventoryLoader<'a, 'f> {
    base_dir: Option<&'a Path>,
    declared: BTreeMap<String, &'a InventoryItem>,
    resolved: BTreeMap<String, Option<Inventory>>,
    unfiltered: BTreeMap<String, Inventory>,
    findings: &'f mut Vec<Diagnostic>,
}

impl InventoryLoader<'_, '_> {
    /// Walks the `from` links down to an inventory with hosts of its own (or one already
    /// resolved), then resolves back up. Iterative: a chain of 100,000 `from`s must not
    /// exhaust the stack.
    fn resolve(&mut self, name: &str) -> Option<Inventory> {
        let mut chain: Vec<(String, &InventoryItem)> = Vec::new();
        let mut on_chain = BTreeSet::new();
        let mut current = name.to_string();
        let mut hosts = loop {
            if let Some(done) = self.resolved.get(&current) {
                break done.clone();
            }
            let Some(declaration) = self.declared.get(&current).copied() else {
                break None;
            };
            if !on_chain.insert(current.clone()) {
                break None;
            }
            chain.push((current.clone(), declaration));
            match &declaration.source {
                InventorySource::Inventory(other) => current = other.name.clone(),
                InventorySource::File(path) => break self.file(path),
                InventorySource::Hosts(names) => break self.inline(names),
            }
        };
        for (name, declaration) in chain.into_iter().rev() {
            let matches: Vec<Match> = declaration
                .filter
                .iter()
                .map(|condition| Match {
                    label: condition.label.name.clone(),
                    value: condition.value.value.clone(),
                    equal: condition.equal,
                })
                .collect();
            let selected = hosts.map(|hosts| {
                let selected = hosts.select(&matches);
                self.unfiltered.insert(name.clone(), hosts);
                selected
            });
            self.resolved.insert(name, selected.clone());
            hosts = selected;
        }
        hosts
    }

    fn file(&mut self, path: &Text) -> Option<Inventory> {
        let full = self.base_dir?.join(&path.value);
        match Inventory::load(&full) {
            Ok(inventory) => Some(inventory),
            Err(error) => {
                let shown = &path.value;
                let (code, message) = match error {
                    InventoryError::Unreadable { source, .. } => (
                        codes::INVENTORY_UNREADABLE,
                        format!("cannot read inventory `{shown}`: {}", io_reason(&source)),
                    ),
                    InventoryError::TooLarge { size, .. } => (
                        codes::INVENTORY_INVALID,
                        format!("inventory `{shown}` is {size} bytes, too large to be a host list"),
                    ),
                    InventoryError::Invalid { message, .. } => (
                        codes::INVENTORY_INVALID,
                        format!("inventory `{shown}` is not valid: {message}"),
                    ),
                };
                self.findings.push(
                    Diagnostic::new(code, message)
                        .with_label(path.span, "this inventory file")
                        .with_help(
                            "the path is relative to the runbook's folder; a `.toml` inventory lists `[[hosts]]` with a `name` and `labels`, any other file one host name a line",
                        ),
                );
                None
            }
        }
    }

    fn inline(&mut self, names: &[Text]) -> Option<Inventory> {
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        let mut hosts = Vec::new();
        for name in names {
            let host = name.value.trim();
            if host.is_empty() || host.chars().any(char::is_whitespace) {
                self.findings.push(
                    Diagnostic::new(codes::INVENTORY_INVALID, "a host name must be one word")
                        .with_label(name.span, "not a host name")
                        .with_help(
                            "write each host as its own string: `hosts [\"web-001\", \"web-002\"]`",
                        ),
                );
                return None;
            }
            if let Some(&first) = seen.get(host) {
                self.findings.push(
                    Diagnostic::new(
                        codes::INVENTORY_INVALID,
                        format!("host `{host}` is listed twice"),
                    )
                    .with_label(name.span, "listed again here")
                    .with_secondary(first, "first listed here")
                    .with_help("list each host once, or it is changed twice in one wave"),
                );
                return None;
            }
            seen.insert(host, name.span);
            hosts.push(Host::named(host));
        }
        Some(Inventory { hosts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;

    fn runbook(text: &str) -> Runbook {
        let file = SourceFile::new("t.rbk", text);
        crate::parse::parse(&file)
            .expect("no internal error")
            .runbook
            .expect("parses")
    }

    const PLAN: &str = r#"
runbook "t" {
  roster "team.toml"
}
inventory all from "hosts.toml"
inventory payment from all where tier = "payment"
inventory linux_payment from payment where kind != "windows"
inventory spare hosts ["spare-1", "spare-2"]
"#;

    const HOSTS: &str = r#"
[[hosts]]
name = "pay-1"
labels = { tier = "payment", kind = "linux" }
[[hosts]]
name = "pay-2"
labels = { tier = "payment", kind = "windows" }
[[hosts]]
name = "web-1"
labels = { tier = "web" }
"#;

    fn names(context: &Context, inventory: &str) -> Vec<String> {
        context.inventories[inventory]
            .hosts
            .iter()
            .map(|host| host.name.clone())
            .collect()
    }

    #[test]
    fn inventories_resolve_through_from_and_where() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hosts.toml"), HOSTS).unwrap();
        std::fs::write(
            dir.path().join("team.toml"),
            "[people.a]\nroles = [\"ops\"]\n",
        )
        .unwrap();
        let (context, findings) = Context::load(Some(dir.path()), &runbook(PLAN), None);
        assert!(findings.is_empty(), "{findings:?}");
        assert_eq!(names(&context, "all").len(), 3);
        assert_eq!(names(&context, "payment"), ["pay-1", "pay-2"]);
        assert_eq!(names(&context, "linux_payment"), ["pay-1"]);
        assert_eq!(names(&context, "spare"), ["spare-1", "spare-2"]);
        assert_eq!(context.unfiltered["payment"].len(), 3);
        let roster = context.roster.expect("roster loaded");
        assert_eq!(roster.path, PathBuf::from("team.toml"));
    }

    #[test]
    fn without_a_folder_only_inline_hosts_are_known_and_nothing_is_reported() {
        let (context, findings) = Context::load(None, &runbook(PLAN), None);
        assert!(findings.is_empty());
        assert!(context.roster.is_none());
        assert_eq!(context.inventories.keys().collect::<Vec<_>>(), ["spare"]);
    }

    #[test]
    fn a_roster_given_on_the_command_line_wins() {
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("other.toml");
        std::fs::write(&other, "[people.b]\nroles = [\"dba\"]\n").unwrap();
        let (context, findings) = Context::load(None, &runbook(PLAN), Some(&other));
        assert!(findings.is_empty());
        let roster = context.roster.expect("roster loaded");
        assert_eq!(roster.roster.holders("dba"), ["b"]);
    }

    #[test]
    fn missing_files_become_findings_at_the_string_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let text = PLAN;
        let (context, findings) = Context::load(Some(dir.path()), &runbook(text), None);
        let codes: Vec<&str> = findings
            .iter()
            .map(|finding| finding.code.as_str())
            .collect();
        assert_eq!(
            codes,
            [
                "rbk::check::roster_unreadable",
                "rbk::check::inventory_unreadable"
            ]
        );
        let inventory_span = findings[1].primary_span().unwrap();
        assert_eq!(
            &text[inventory_span.start..inventory_span.end],
            "\"hosts.toml\""
        );
        assert!(!context.inventories.contains_key("payment"));
    }

    /// The codes of the findings `Context::load` makes for `plan` in `dir`.
    fn shipping_codes(dir: &Path, plan: &str) -> Vec<&'static str> {
        let (_, findings) = Context::load(Some(dir), &runbook(plan), None);
        findings
            .iter()
            .map(|finding| finding.code.as_str())
            .collect()
    }

    #[test]
    fn shipped_files_are_looked_at_each_once_and_every_problem_is_found() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("scripts")).unwrap();
        std::fs::write(dir.path().join("scripts/rollback.sh"), "exit 0\n").unwrap();
        let large = std::fs::File::create(dir.path().join("image.qcow2")).unwrap();
        large.set_len(MAX_SHIPPED_BYTES + 1).unwrap();
        let plan = r#"
runbook "t" {}
ship "scripts/rollback.sh"
ship "./scripts/rollback.sh"
ship "scripts/missing.sh"
ship "scripts/missing.sh"
ship "scripts"
ship "image.qcow2"
ship "/etc/hosts"
ship "../elsewhere.sh"
"#;
        assert_eq!(
            shipping_codes(dir.path(), plan),
            [
                "rbk::check::ship_unreadable",
                "rbk::check::ship_not_a_file",
                "rbk::check::ship_too_large",
            ]
        );
    }

    #[test]
    fn a_shipped_file_at_the_size_bound_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::create(dir.path().join("seed.sql")).unwrap();
        file.set_len(MAX_SHIPPED_BYTES).unwrap();
        let plan = "runbook \"t\" {}\nship \"seed.sql\"\n";
        assert!(shipping_codes(dir.path(), plan).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn a_link_is_followed_and_must_stay_inside_the_folder() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.env"), "TOKEN=x\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("real.sh"), "exit 0\n").unwrap();
        std::os::unix::fs::symlink("real.sh", dir.path().join("inside.sh")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.env"),
            dir.path().join("leak.env"),
        )
        .unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("linked")).unwrap();
        let plan = r#"
runbook "t" {}
ship "inside.sh"
ship "leak.env"
ship "linked/secret.env"
"#;
        assert_eq!(
            shipping_codes(dir.path(), plan),
            [
                "rbk::check::ship_outside_folder",
                "rbk::check::ship_outside_folder",
            ]
        );
    }

    #[test]
    fn without_a_folder_no_shipped_file_is_looked_at() {
        let plan = "runbook \"t\" {}\nship \"scripts/missing.sh\"\n";
        let (_, findings) = Context::load(None, &runbook(plan), None);
        assert!(findings.is_empty());
    }
}
