//! Drills: the same engine on a virtual clock, with a simulated executor and scripted
//! probe values, so a team can rehearse a runbook's failure path in seconds (P11). A
//! drill's log is a normal log, marked as a drill in its first event with what was
//! injected.
//!
//! What the world does in a drill is written on the command line: faults
//! (`--inject fail:STEP@HOST`), and what each probe reads from which moment on
//! (`--probe NAME=VALUE@AFTER`).
//!
//! A drill run for real (`--real`, a game day) runs the same runbook on the inventory
//! it names (a staging one) on the real clock: real commands, probes, people and
//! messages; only the commands an injected fault strikes are not run (`Injected`).

pub mod codes;
pub mod confirmation;
pub mod executor;
pub mod fault;
pub mod findings;
pub mod logged;
pub mod onset;
pub mod probes;
pub mod respond;
pub mod scenario;
pub mod scorecard;
pub mod start;

pub use executor::{Injected, Simulated};
pub use fault::{Fault, FaultKind};
pub use probes::ScriptedProbes;
pub use respond::Response;
pub use scenario::Scenario;
pub use scorecard::Scorecard;
pub use start::StartTime;

/// A drill as the engine is given it: how the log marks it, what the probes read, and
/// the seed that picks samples (so the same drill picks the same hosts).
#[derive(Debug, Clone, Default)]
pub struct Rehearsal {
    pub mark: DrillMark,
    pub probes: ScriptedProbes,
    /// Who answers what, and when.
    pub responses: Vec<Response>,
    pub seed: Option<u64>,
}

/// How a run's first event says it was a drill, and with what.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DrillMark {
    /// Commands simulated on a virtual clock (`false` for `--real`).
    pub simulated: bool,
    /// The faults injected, as given (`fail:install@pay-003`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub injected: Vec<String>,
    /// The probe values scripted, as given (`tx_success=0.95@2h`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<String>,
    /// The responders, as given (`node=go,person=alice,after=2m`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub responders: Vec<String>,
}
