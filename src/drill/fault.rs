//! Faults a drill injects: `KIND:STEP[@HOST,HOST...]`, given with `--inject`.

use std::fmt;

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The step's commands exit 1.
    Fail,
    /// The step's commands never end: the step's timeout (or an interrupt) stops them.
    Hang,
    /// The step's rollback commands exit 1.
    FailRollback,
}

impl FaultKind {
    fn word(self) -> &'static str {
        match self {
            Self::Fail => "fail",
            Self::Hang => "hang",
            Self::FailRollback => "fail-rollback",
        }
    }
}

/// One injected fault: on a step, on the hosts named (all of them when none are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub step: String,
    pub hosts: Vec<String>,
}

/// Why `--inject` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not a fault: {why}")]
pub struct BadFault {
    pub given: String,
    pub why: &'static str,
}

impl Fault {
    /// Reads `fail:install`, `hang:drain@pay-002`, `fail-rollback:install@pay-001,pay-002`.
    pub fn parse(given: &str) -> Result<Self, BadFault> {
        let bad = |why| BadFault {
            given: given.to_string(),
            why,
        };
        let (kind, target) = given.split_once(':').ok_or_else(|| {
            bad("write KIND:STEP[@HOST,...], KIND one of fail, hang, fail-rollback")
        })?;
        let kind = match kind {
            "fail" => FaultKind::Fail,
            "hang" => FaultKind::Hang,
            "fail-rollback" => FaultKind::FailRollback,
            _ => return Err(bad("the kind is one of fail, hang, fail-rollback")),
        };
        let (step, hosts) = match target.split_once('@') {
            Some((step, hosts)) => (step, hosts.split(',').map(str::to_string).collect()),
            None => (target, Vec::new()),
        };
        if step.is_empty() || hosts.iter().any(String::is_empty) {
            return Err(bad(
                "a step name, and host names when `@` is given, cannot be empty",
            ));
        }
        Ok(Self {
            kind,
            step: step.to_string(),
            hosts,
        })
    }

    /// Whether this fault strikes `step` on `host` (a rollback's command when `rollback`).
    pub fn strikes(&self, step: &str, host: Option<&str>, rollback: bool) -> bool {
        let phase = (self.kind == FaultKind::FailRollback) == rollback;
        phase
            && self.step == step
            && (self.hosts.is_empty()
                || host.is_some_and(|host| self.hosts.iter().any(|h| h == host)))
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.word(), self.step)?;
        if !self.hosts.is_empty() {
            write!(f, "@{}", self.hosts.join(","))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_read_as_written_and_strike_only_their_step_and_hosts() {
        let fault = Fault::parse("fail:install@pay-002,pay-003").expect("a fault");
        assert_eq!(fault.to_string(), "fail:install@pay-002,pay-003");
        assert!(fault.strikes("install", Some("pay-002"), false));
        assert!(!fault.strikes("install", Some("pay-001"), false));
        assert!(!fault.strikes("install", Some("pay-002"), true));
        assert!(!fault.strikes("drain", Some("pay-002"), false));
        let everywhere = Fault::parse("fail-rollback:install").expect("a fault");
        assert!(everywhere.strikes("install", Some("any"), true));
        assert!(everywhere.strikes("install", None, true));
        assert!(!everywhere.strikes("install", None, false));
    }

    #[test]
    fn malformed_faults_say_why() {
        for given in [
            "install",
            "explode:install",
            "fail:",
            "fail:install@",
            "fail:x@a,,b",
        ] {
            assert!(Fault::parse(given).is_err(), "{given}");
        }
    }
}
