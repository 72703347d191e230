use serde::Serialize;

use super::declaration::{
    Audience, Channel, Header, Inventory, Param, Probe, Role, Secret, Shipped, Subscription,
};
use super::edge::Edge;
use super::node::Node;
use super::policy::Policy;

/// The executable form of a checked runbook: everything the engine needs, and the
/// only thing it accepts. Only `compile` makes one, and nothing can change it after,
/// so holding a `Graph` means holding what the checker passed.
///
/// Serialised (never deserialised: a graph read back would not have been checked)
/// with every list in file order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Graph {
    pub(super) header: Header,
    pub(super) roles: Vec<Role>,
    pub(super) audiences: Vec<Audience>,
    pub(super) inventories: Vec<Inventory>,
    pub(super) shipped: Vec<Shipped>,
    pub(super) params: Vec<Param>,
    pub(super) secrets: Vec<Secret>,
    pub(super) probes: Vec<Probe>,
    pub(super) channels: Vec<Channel>,
    pub(super) subscriptions: Vec<Subscription>,
    /// In file order; a waves node comes before its body, a step before its rollback.
    pub(super) nodes: Vec<Node>,
    pub(super) edges: Vec<Edge>,
    pub(super) policies: Vec<Policy>,
}

impl Graph {
    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn roles(&self) -> &[Role] {
        &self.roles
    }

    pub fn audiences(&self) -> &[Audience] {
        &self.audiences
    }

    pub fn inventories(&self) -> &[Inventory] {
        &self.inventories
    }

    /// The files to upload to each remote host before its first command, in file
    /// order, each once; paths are relative to the runbook's folder.
    pub fn shipped(&self) -> &[Shipped] {
        &self.shipped
    }

    pub fn params(&self) -> &[Param] {
        &self.params
    }

    pub fn secrets(&self) -> &[Secret] {
        &self.secrets
    }

    pub fn probes(&self) -> &[Probe] {
        &self.probes
    }

    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    pub fn subscriptions(&self) -> &[Subscription] {
        &self.subscriptions
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|node| &*node.id == id)
    }

    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }

    /// The edges `id` waits for.
    pub fn edges_into<'g>(&'g self, id: &'g str) -> impl Iterator<Item = &'g Edge> {
        self.edges.iter().filter(move |edge| &*edge.to == id)
    }

    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }
}
