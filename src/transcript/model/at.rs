use serde::Serialize;

use crate::engine::report::{clock_time, timestamp};

/// A moment by the log's clock (virtual in drills): milliseconds since the Unix epoch,
/// and the same in UTC to the second, so that a reader of the JSON needs no conversion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct At {
    /// `2026-11-21T14:03:27Z`.
    pub time: String,
    pub time_ms: u64,
}

impl At {
    pub fn of(time_ms: u64) -> Self {
        Self {
            time: timestamp(time_ms),
            time_ms,
        }
    }

    /// `2026-11-21 14:03:27`, for a column headed UTC.
    pub fn utc(&self) -> String {
        self.time.trim_end_matches('Z').replacen('T', " ", 1)
    }

    /// `14:03:27`.
    pub fn clock(&self) -> String {
        clock_time(self.time_ms)
    }

    /// `2026-11-21`.
    pub fn day(&self) -> &str {
        self.time.get(..10).unwrap_or(&self.time)
    }

    /// How long after `earlier` this came; nothing when it came before.
    pub fn since(&self, earlier: &At) -> Option<u64> {
        self.time_ms.checked_sub(earlier.time_ms)
    }
}

/// `3m12s`, `450ms`: a span of time as people read it, to the second from a second on.
pub fn elapsed(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms}ms")
    } else {
        crate::ast::duration_text(ms - ms % 1_000)
    }
}
