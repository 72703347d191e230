//! What each probe reads in a drill: values given with `--probe NAME=VALUE[@AFTER]`,
//! each from a moment after the run's start on (`tx_success=0.95@2h`: from two hours
//! in). A probe given no value for the moment it is read cannot be read, which a
//! condition counts as a breach, as it would in a real run.

use std::collections::BTreeMap;

/// Why `--probe` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not a probe value: {why}")]
pub struct BadProbeValue {
    pub given: String,
    pub why: &'static str,
}

/// One scripted value: what a probe reads from a moment after the run's start on.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptedValue {
    pub probe: String,
    pub value: f64,
    pub from_ms: u64,
}

impl ScriptedValue {
    /// Reads one `NAME=VALUE[@AFTER]`.
    pub fn parse(given: &str) -> Result<Self, BadProbeValue> {
        let bad = |why| BadProbeValue {
            given: given.to_string(),
            why,
        };
        let (name, rest) = given
            .split_once('=')
            .ok_or_else(|| bad("write NAME=VALUE, or NAME=VALUE@AFTER (a duration such as 30m)"))?;
        let (value, from_ms) = match rest.split_once('@') {
            Some((value, after)) => {
                let after = humantime::parse_duration(after.trim())
                    .map_err(|_| bad("AFTER is a duration such as 90s, 30m or 2h"))?;
                (value, u64::try_from(after.as_millis()).unwrap_or(u64::MAX))
            }
            None => (rest, 0),
        };
        let value: f64 = value.trim().parse().map_err(|_| bad("VALUE is a number"))?;
        if name.trim().is_empty() || !value.is_finite() {
            return Err(bad(
                "NAME cannot be empty and VALUE must be a finite number",
            ));
        }
        Ok(Self {
            probe: name.trim().to_string(),
            value,
            from_ms,
        })
    }
}

/// Each probe's values, by the time (ms after the run's start) they begin.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScriptedProbes {
    values: BTreeMap<String, BTreeMap<u64, f64>>,
}

impl ScriptedProbes {
    /// Adds one `NAME=VALUE[@AFTER]`.
    pub fn add(&mut self, given: &str) -> Result<(), BadProbeValue> {
        let scripted = ScriptedValue::parse(given)?;
        self.values
            .entry(scripted.probe)
            .or_default()
            .insert(scripted.from_ms, scripted.value);
        Ok(())
    }

    /// What `probe` reads `elapsed_ms` after the run's start, if a value was given.
    pub fn read(&self, probe: &str, elapsed_ms: u64) -> Option<f64> {
        self.values
            .get(probe)?
            .range(..=elapsed_ms)
            .next_back()
            .map(|(_, value)| *value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_reads_the_last_value_begun() {
        let mut probes = ScriptedProbes::default();
        for given in ["tx=0.999", "tx=0.95@2h", "p99=1.5@10m"] {
            probes.add(given).expect("a probe value");
        }
        assert_eq!(probes.read("tx", 0), Some(0.999));
        assert_eq!(probes.read("tx", 7_199_999), Some(0.999));
        assert_eq!(probes.read("tx", 7_200_000), Some(0.95));
        assert_eq!(probes.read("p99", 0), None);
        assert_eq!(probes.read("p99", 600_000), Some(1.5));
        assert_eq!(probes.read("other", 0), None);
    }

    #[test]
    fn malformed_values_say_why() {
        let mut probes = ScriptedProbes::default();
        for given in ["tx", "tx=high", "=1", "tx=1@soon", "tx=NaN"] {
            assert!(probes.add(given).is_err(), "{given}");
        }
    }
}
