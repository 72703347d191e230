//! Control folders left behind by engines that could not clean up (SIGKILL, a power
//! cut). Each folder names the engine that made it; the next engine of the same user
//! removes the folders whose engine is gone. Their masters went with their engine
//! (pdeathsig), so nothing in them is in use.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

/// What every control folder's name starts with.
pub const PREFIX: &str = "runbook-ssh-";
/// The file in a control folder naming its engine.
pub const OWNER_FILE: &str = "engine";

/// This process as its folder records it: the pid, the start time in clock ticks after
/// boot (together they still name it once the pid is reused) and the pid namespace the
/// pid means something in. None where there is no /proc to read them from (then
/// nothing is recorded and nothing swept).
pub fn this_engine() -> Option<String> {
    let pid = std::process::id();
    Some(format!("{pid} {} {}", start_time(pid)?, pid_namespace()?))
}

/// When process `pid` started, in clock ticks after boot; None when there is none.
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ...: the start time is the 20th field after the name, which may
    // hold spaces and parentheses.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19).map(str::to_string)
}

fn pid_namespace() -> Option<String> {
    let link = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(link.to_string_lossy().replace(' ', "_"))
}

/// Removes the control folders in `dir` that belong to user `uid` and name an engine
/// of this pid namespace that is gone. A folder that names none (one being made this
/// instant), or an engine of another namespace (a container sharing /tmp), is left.
pub fn sweep(dir: &Path, uid: u32) {
    let Some(namespace) = pid_namespace() else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(PREFIX) {
            continue;
        }
        let folder = entry.path();
        let Ok(metadata) = std::fs::symlink_metadata(&folder) else {
            continue;
        };
        if !metadata.is_dir() || metadata.uid() != uid {
            continue;
        }
        let Ok(owner) = std::fs::read_to_string(folder.join(OWNER_FILE)) else {
            continue;
        };
        let [pid, start, owner_namespace] = owner.split_whitespace().collect::<Vec<_>>()[..] else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if owner_namespace != namespace {
            continue;
        }
        if start_time(pid).as_deref() != Some(start) {
            // Best effort: a folder another engine of this user removes at the same
            // time is gone either way.
            let _ = std::fs::remove_dir_all(&folder);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder_naming(dir: &Path, name: &str, owner: Option<&str>) -> std::path::PathBuf {
        let folder = dir.join(name);
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("ssh_config"), "Host h1\n").unwrap();
        if let Some(owner) = owner {
            std::fs::write(folder.join(OWNER_FILE), owner).unwrap();
        }
        folder
    }

    #[test]
    fn only_folders_of_engines_that_are_gone_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let uid = std::fs::metadata(dir.path()).unwrap().uid();
        let me = this_engine().expect("Linux has /proc");
        let namespace = pid_namespace().unwrap();
        let pid = std::process::id();
        let live = folder_naming(dir.path(), "runbook-ssh-live", Some(&me));
        // The same pid started at another time: the pid was reused.
        let reused = folder_naming(
            dir.path(),
            "runbook-ssh-reused",
            Some(&format!("{pid} 1 {namespace}")),
        );
        // A pid no process has (above the kernel's largest).
        let gone_owner = format!("4194305 12345 {namespace}");
        let gone = folder_naming(dir.path(), "runbook-ssh-gone", Some(&gone_owner));
        let elsewhere = folder_naming(
            dir.path(),
            "runbook-ssh-elsewhere",
            Some("4194305 12345 pid:[1]"),
        );
        let unnamed = folder_naming(dir.path(), "runbook-ssh-new", None);
        let garbled = folder_naming(dir.path(), "runbook-ssh-garbled", Some("not an engine"));
        let other = folder_naming(dir.path(), "not-runbook", Some(&gone_owner));

        sweep(dir.path(), uid);
        assert!(live.is_dir());
        assert!(!reused.exists());
        assert!(!gone.exists());
        assert!(
            elsewhere.is_dir(),
            "another pid namespace's pids are not ours to judge"
        );
        assert!(unnamed.is_dir());
        assert!(garbled.is_dir());
        assert!(other.is_dir());

        // Another user's folders are never touched, whoever made them.
        let foreign = folder_naming(dir.path(), "runbook-ssh-foreign", Some(&gone_owner));
        sweep(dir.path(), uid.wrapping_add(1));
        assert!(foreign.is_dir());
    }
}
