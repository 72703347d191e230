use serde::Serialize;

use super::node::Approval;
use crate::ast::{FailureClass, RollbackScope};
use crate::source::Span;

/// `on failure CLASS { ... }`: what happens, in order, when a failure of that class
/// occurs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    pub class: FailureClass,
    pub actions: Vec<Action>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Continue,
    Pause,
    Abort,
    Rollback {
        scope: RollbackScope,
    },
    Approve(Approval),
    /// Without a channel, the audience's own subscriptions say where it goes.
    Notify {
        audience: String,
        channel: Option<String>,
        message: String,
    },
    /// Run a handler step; a `background` one starts and the policy goes on.
    Run {
        node: String,
        background: bool,
    },
}
