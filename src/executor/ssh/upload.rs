//! The runbook's shipped files (`ship "scripts/rollback.sh"`), copied to each host
//! reached over SSH before its first command, into the run's folder there, at the same
//! relative path: `sh scripts/rollback.sh` works on the host as it does here.
//!
//! Each file is read once, when the run starts, and hashed: what is logged is what is
//! sent. On the host it is written beside its place, its SHA-256 compared there, and
//! only then moved into place, so a host never holds a partial or altered copy under
//! the name commands use.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::link::Link;
use super::remote::single_quoted;

/// Time a copy may take beyond the connection's own timeout.
const COPY_SLACK: Duration = Duration::from_secs(60);

/// The files to copy, read and hashed.
#[derive(Debug, Clone, Default)]
pub struct Shipment {
    files: Vec<Outgoing>,
}

#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Relative to the runbook's folder.
    pub path: String,
    pub content: Vec<u8>,
    pub sha256: String,
    pub executable: bool,
}

/// The run's folder on a host, relative to the login's home folder.
pub fn run_folder(run_id: &str) -> String {
    format!(".runbook/runs/{run_id}")
}

impl Shipment {
    /// Reads each file, relative to `base` (the runbook's folder).
    pub fn read(base: &Path, paths: &[String]) -> std::io::Result<Self> {
        let mut files = Vec::with_capacity(paths.len());
        for path in paths {
            let full = base.join(path);
            let content = std::fs::read(&full).map_err(|error| {
                std::io::Error::new(error.kind(), format!("cannot read `{path}`: {error}"))
            })?;
            let executable =
                std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&full)?.permissions())
                    & 0o111
                    != 0;
            files.push(Outgoing {
                path: path.clone(),
                sha256: hex(&Sha256::digest(&content)),
                content,
                executable,
            });
        }
        Ok(Shipment { files })
    }

    pub fn files(&self) -> &[Outgoing] {
        &self.files
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Copies every file to the host. `Err(Ok(why))`: the host could not be reached;
    /// `Err(Err(error))`: it was, and a file could not be put in place.
    pub(super) async fn copy(
        &self,
        link: &Link,
        run_id: &str,
        connect_timeout: Duration,
    ) -> Result<(), Result<String, std::io::Error>> {
        for file in &self.files {
            let copied =
                tokio::time::timeout(connect_timeout + COPY_SLACK, copy_one(link, run_id, file))
                    .await
                    .unwrap_or_else(|_| {
                        Err(Err(std::io::Error::other(format!(
                            "copying `{}` to `{}` took too long",
                            file.path, link.alias
                        ))))
                    });
            copied?;
        }
        Ok(())
    }
}

async fn copy_one(
    link: &Link,
    run_id: &str,
    file: &Outgoing,
) -> Result<(), Result<String, std::io::Error>> {
    let target = format!("{}/{}", run_folder(run_id), file.path);
    let script = format!(
        "set -e\n\
         umask 077\n\
         f={target}\n\
         mkdir -p \"$(dirname \"$f\")\"\n\
         part=\"$f.part.$$\"\n\
         cat > \"$part\"\n\
         if command -v sha256sum >/dev/null 2>&1; then sum=$(sha256sum < \"$part\"); \
         else sum=$(openssl dgst -sha256 -r < \"$part\"); fi\n\
         sum=${{sum%% *}}\n\
         if [ \"$sum\" != {expected} ]; then rm -f \"$part\"; \
         echo \"arrived with SHA-256 $sum\" >&2; exit 3; fi\n\
         chmod {mode} \"$part\"\n\
         mv -f \"$part\" \"$f\"\n\
         printf '\\036runbook-sha256 %s\\n' \"$sum\"\n",
        target = single_quoted(&target),
        expected = single_quoted(&file.sha256),
        mode = if file.executable { "700" } else { "600" },
    );
    let mut child = link
        .client(&format!("exec /bin/sh -c {}", single_quoted(&script)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Err)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A host that hung up early shows in the exit status below.
        let _ = stdin.write_all(&file.content).await;
    }
    let output = child.wait_with_output().await.map_err(Err)?;
    let said = String::from_utf8_lossy(&output.stderr).trim().to_string();
    match output.status.code() {
        // A login script may print before the script does: the marked line counts.
        Some(0)
            if String::from_utf8_lossy(&output.stdout).lines().any(|line| {
                line.strip_prefix("\u{1e}runbook-sha256 ") == Some(file.sha256.as_str())
            }) =>
        {
            Ok(())
        }
        Some(255) => Err(Ok(said)),
        _ => Err(Err(std::io::Error::other(format!(
            "cannot put `{}` on `{}`: {}",
            file.path,
            link.alias,
            if said.is_empty() {
                output.status.to_string()
            } else {
                said
            }
        )))),
    }
}

/// Removes the run's folder from a host it reached, best effort: a host gone since
/// keeps it, and says nothing.
pub(super) async fn remove(link: &Link, run_id: &str) {
    let mut state = link.state.lock().await;
    if !state.alive() {
        return;
    }
    drop(state);
    let removal = link
        .client(&format!("rm -rf {}", single_quoted(&run_folder(run_id))))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = tokio::time::timeout(COPY_SLACK, removal).await;
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
