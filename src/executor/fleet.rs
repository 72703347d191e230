//! The executor of a real run: each command goes where its host is reached, as the
//! inventories say: over SSH (`ssh::Ssh`) or on this machine (`shell::Local`, also for
//! commands that are for no host).

use std::collections::BTreeMap;

use futures_util::future::LocalBoxFuture;

use super::shell::{Exit, Local, StopReason, Stream};
use super::ssh::{Shipment, Ssh, SshOptions};
use super::{Executor, RemoteAccess, ShellCommand};
use crate::inventory::{Inventory, Reach, SshTarget};

pub struct Fleet {
    ssh: Option<Ssh>,
}

/// Why a fleet cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// Two inventories name the same host and say different things of reaching it.
    #[error("host `{host}` is reached one way in inventory `{first}` and another in `{second}`")]
    Conflict {
        host: String,
        first: String,
        second: String,
    },
    /// A file the runbook ships could not be read for the hosts.
    #[error("cannot read a shipped file: {0}")]
    Shipment(std::io::Error),
    #[error("cannot set up SSH: {0}")]
    Setup(#[from] std::io::Error),
}

impl Fleet {
    /// Every command on this machine.
    pub fn local() -> Self {
        Fleet { ssh: None }
    }

    /// The hosts of these inventories (by the runbook's names for them) reached as
    /// they say; what `shipment` reads is copied to each host reached over SSH, and it
    /// is read only when there is one.
    pub fn new(
        inventories: &BTreeMap<String, Inventory>,
        shipment: impl FnOnce() -> std::io::Result<Shipment>,
        options: SshOptions,
    ) -> Result<Self, FleetError> {
        let mut reached: BTreeMap<&str, (&str, &Reach)> = BTreeMap::new();
        for (inventory, hosts) in inventories {
            for host in &hosts.hosts {
                match reached.get(host.name.as_str()) {
                    Some((first, reach)) if *reach != &host.reach => {
                        return Err(FleetError::Conflict {
                            host: host.name.clone(),
                            first: first.to_string(),
                            second: inventory.clone(),
                        })
                    }
                    Some(_) => {}
                    None => {
                        reached.insert(&host.name, (inventory, &host.reach));
                    }
                }
            }
        }
        let targets: BTreeMap<String, SshTarget> = reached
            .into_iter()
            .filter_map(|(name, (_, reach))| match reach {
                Reach::Ssh(target) => Some((name.to_string(), (**target).clone())),
                Reach::Local => None,
            })
            .collect();
        if targets.is_empty() {
            return Ok(Fleet::local());
        }
        let shipment = shipment().map_err(FleetError::Shipment)?;
        Ok(Fleet {
            ssh: Some(Ssh::new(targets, shipment, options)?),
        })
    }
}

impl Executor for Fleet {
    fn run<'a>(
        &'a self,
        command: ShellCommand<'a>,
        stop: LocalBoxFuture<'a, StopReason>,
        on_output: &'a mut dyn FnMut(Stream, &[u8]),
    ) -> LocalBoxFuture<'a, std::io::Result<Exit>> {
        match (&self.ssh, command.host) {
            (Some(ssh), Some(host)) if ssh.reaches(host) => {
                Box::pin(ssh.run(command, stop, on_output))
            }
            _ => Local.run(command, stop, on_output),
        }
    }

    fn remote(&self) -> Option<RemoteAccess> {
        self.ssh.as_ref().map(Ssh::access)
    }

    fn close(&self, run_ended: bool) -> LocalBoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(ssh) = &self.ssh {
                ssh.close(run_ended).await;
            }
        })
    }
}
