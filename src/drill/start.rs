//! When a drill's virtual clock starts (`--start`, or `start` in a scenario). Left to
//! itself a drill starts at the wall clock, so its timestamps and run id differ every
//! time; a fixed start makes the same drill write the same log, to the byte, so its
//! transcript can be kept and compared.

use std::str::FromStr;
use std::time::UNIX_EPOCH;

/// A moment in UTC, read from RFC 3339 (`2026-03-01T02:00:00Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct StartTime {
    ms: u64,
}

/// Why a start time was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not a start time in RFC 3339 and UTC: {why}")]
pub struct BadStart {
    pub given: String,
    pub why: String,
}

impl StartTime {
    /// Milliseconds since the Unix epoch, as the engine's clocks count.
    pub fn ms(self) -> u64 {
        self.ms
    }
}

impl FromStr for StartTime {
    type Err = BadStart;

    fn from_str(given: &str) -> Result<Self, BadStart> {
        let bad = |why: String| BadStart {
            given: given.to_string(),
            why,
        };
        let time = humantime::parse_rfc3339(given).map_err(|error| bad(error.to_string()))?;
        // humantime lets anything follow a `Z` at the 20th character through; after
        // the seconds only a fraction, `Z` or `+00:00` may come.
        let rest = &given[19..];
        if !(rest == "Z" || rest == "+00:00" || rest.starts_with('.')) {
            return Err(bad(
                "only a fraction of a second and `Z` may follow the seconds".into(),
            ));
        }
        let since = time
            .duration_since(UNIX_EPOCH)
            .map_err(|error| bad(error.to_string()))?;
        let ms = u64::try_from(since.as_millis()).map_err(|error| bad(error.to_string()))?;
        Ok(Self { ms })
    }
}

impl TryFrom<String> for StartTime {
    type Error = BadStart;

    fn try_from(given: String) -> Result<Self, BadStart> {
        given.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(given: &str) -> Result<u64, BadStart> {
        given.parse::<StartTime>().map(StartTime::ms)
    }

    #[test]
    fn a_start_reads_as_rfc_3339_in_utc() {
        assert_eq!(ms("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(ms("2026-03-01T02:00:00Z"), Ok(1_772_330_400_000));
        assert_eq!(ms("2026-03-01T02:00:00.250Z"), Ok(1_772_330_400_250));
        assert_eq!(ms("2026-03-01T02:00:00+00:00"), Ok(1_772_330_400_000));
    }

    #[test]
    fn anything_else_is_refused_naming_the_form_to_write() {
        for given in [
            "2026-03-01",
            "2026-03-01 02:00:00",
            "2026-03-01T02:00:00",
            "2026-03-01T02:00:00+01:00",
            "2026-13-01T02:00:00Z",
            "2026-03-01T02:00:00Zjunk",
            "2026-03-01T02:00:00ZjunkZ",
            "tomorrow",
            "",
        ] {
            let refused = ms(given).expect_err(given);
            assert_eq!(refused.given, given);
            assert!(
                refused.to_string().contains("in RFC 3339 and UTC"),
                "{refused}"
            );
        }
    }
}
