//! Where the engine's time comes from. No stage reads the wall clock itself: a run
//! is handed a clock, the real one here and a virtual one in drills, so that every
//! timestamp in a log and every wait is the clock's.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// Resolves once `ms` milliseconds of this clock's time have passed.
    fn sleep(&self, ms: u64) -> Sleep<'_>;
    /// Whether time moves only as the run waits (a drill): the engine then runs on a
    /// runtime whose time is paused.
    fn is_virtual(&self) -> bool {
        false
    }
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealClock;

impl Clock for RealClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            })
    }

    fn sleep(&self, ms: u64) -> Sleep<'_> {
        Box::pin(tokio::time::sleep(Duration::from_millis(ms)))
    }
}

/// A drill's clock: it starts at a given moment and moves only as the run waits. The
/// engine's runtime is started with its time paused (`Clock::is_virtual`), and tokio
/// moves paused time on to the next timer whenever nothing else can run, so an hour's
/// pause between waves passes at once and every timestamp stays consistent.
#[derive(Debug)]
pub struct VirtualClock {
    start_ms: u64,
    /// The runtime's instant the clock started at, taken on its first reading there.
    base: std::sync::Mutex<Option<tokio::time::Instant>>,
    /// The last reading, for readings outside the runtime after the run.
    last_ms: std::sync::atomic::AtomicU64,
}

impl VirtualClock {
    /// A clock reading `start_ms` (milliseconds since the Unix epoch) until time moves.
    pub fn starting_at(start_ms: u64) -> Self {
        Self {
            start_ms,
            base: std::sync::Mutex::new(None),
            last_ms: std::sync::atomic::AtomicU64::new(start_ms),
        }
    }
}

impl Clock for VirtualClock {
    fn now_ms(&self) -> u64 {
        use std::sync::atomic::Ordering;
        if tokio::runtime::Handle::try_current().is_err() {
            return self.last_ms.load(Ordering::Acquire);
        }
        let now = tokio::time::Instant::now();
        let mut base = self
            .base
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let base = *base.get_or_insert(now);
        let elapsed = u64::try_from(now.duration_since(base).as_millis()).unwrap_or(u64::MAX);
        let reading = self.start_ms.saturating_add(elapsed);
        self.last_ms.fetch_max(reading, Ordering::AcqRel);
        reading
    }

    fn sleep(&self, ms: u64) -> Sleep<'_> {
        Box::pin(tokio::time::sleep(Duration::from_millis(ms)))
    }

    fn is_virtual(&self) -> bool {
        true
    }
}
