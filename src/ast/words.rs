//! How each closed set of words from the grammar is spelt, the inverse of the parser's
//! keyword tables: one spelling shared by `fmt`, the graph's views and the checker.

use super::{
    EventKind, FailureClass, ObjectiveKind, ParamType, Risk, RollbackScope, TimeoutAction,
};

pub trait Word {
    fn word(self) -> &'static str;
}

impl Word for Risk {
    fn word(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
        }
    }
}

impl Word for ObjectiveKind {
    fn word(self) -> &'static str {
        match self {
            ObjectiveKind::RollbackStart => "rollback_start",
            ObjectiveKind::Restored => "restored",
            ObjectiveKind::Outage => "outage",
            ObjectiveKind::Alert => "alert",
        }
    }
}

impl Word for ParamType {
    fn word(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Int => "int",
            ParamType::Float => "float",
            ParamType::Bool => "bool",
            ParamType::Duration => "duration",
        }
    }
}

impl Word for EventKind {
    fn word(self) -> &'static str {
        match self {
            EventKind::Start => "start",
            EventKind::Finish => "finish",
            EventKind::Wave => "wave",
            EventKind::Gate => "gate",
            EventKind::Failure => "failure",
            EventKind::Rollback => "rollback",
            EventKind::Breach => "breach",
        }
    }
}

impl Word for FailureClass {
    fn word(self) -> &'static str {
        match self {
            FailureClass::Minor => "minor",
            FailureClass::Functional => "functional",
            FailureClass::Severe => "severe",
        }
    }
}

impl Word for RollbackScope {
    fn word(self) -> &'static str {
        match self {
            RollbackScope::Step => "step",
            RollbackScope::Hosts => "hosts",
            RollbackScope::Wave => "wave",
            RollbackScope::All => "all",
        }
    }
}

impl Word for TimeoutAction {
    fn word(self) -> &'static str {
        match self {
            TimeoutAction::Escalate => "escalate",
            TimeoutAction::Abort => "abort",
            TimeoutAction::Continue => "continue",
        }
    }
}
