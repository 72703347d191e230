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
    // A /proc mounted for another pid namespace numbers processes otherwise: then it
    // cannot tell whether an engine lives.
    let proc_self = std::fs::read_link("/proc/self").ok()?;
    if proc_self.to_str() != Some(pid.to_string().as_str()) {
        return None;
    }
    let Ok(Some(start)) = start_time(pid) else {
        return None;
    };
    Some(format!("{pid} {start} {}", pid_namespace()?))
}

/// When process `pid` started, in clock ticks after boot: `Ok(None)` when there is no
/// such process, `Err` when that cannot be told (then nothing is removed).
fn start_time(pid: u32) -> std::io::Result<Option<String>> {
    let stat = match std::fs::read(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    // pid (comm) state ...: the start time is the 20th field after the name, which may
    // hold spaces, parentheses and bytes that are not UTF-8.
    let after_name = stat
        .iter()
        .rposition(|&byte| byte == b')')
        .map(|at| String::from_utf8_lossy(&stat[at + 1..]).into_owned());
    let start = after_name.and_then(|fields| fields.split_whitespace().nth(19).map(str::to_string));
    start
        .map(Some)
        .ok_or_else(|| std::io::Error::other(format!("/proc/{pid}/stat has no start time")))
}

fn pid_namespace() -> Option<String> {
    let link = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(link.to_string_lossy().into_owned())
}

/// Removes the control folders in `dir` that belong to user `uid` and name an engine
/// of this pid namespace that is gone. A folder that names none (one being made this
/// instant), an engine of another namespace (a container sharing /tmp), or one whose
/// life cannot be told, is left. Only called by an engine that could name itself.
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
        let gone = match start_time(pid) {
            Ok(now) => now.as_deref() != Some(start),
            Err(_) => false,
        };
        if gone {
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
        let linked = dir.path().join("runbook-ssh-link");
        std::os::unix::fs::symlink(&other, &linked).unwrap();

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
        assert!(
            linked.is_symlink(),
            "a link is not a folder of ours, whatever it points to"
        );

        // Another user's folders are never touched, whoever made them.
        let foreign = folder_naming(dir.path(), "runbook-ssh-foreign", Some(&gone_owner));
        sweep(dir.path(), uid.wrapping_add(1));
        assert!(foreign.is_dir());
    }
}
