//! Peak heap of taking a stopped run up again, for logs of about 10,000 and 100,000
//! events, so one can see whether memory follows the log's length or the run's state.
//! A counting global allocator (as in benches/memory.rs) records the high-water mark of
//! `Stopped::open` (take the lock, read and verify the log, fold the state) and of
//! `Stopped::open` followed by `engine::resume`. Run with
//! `cargo bench --bench resume_memory`; figures: docs/performance.md, "The engine".
//!
//! Two shapes of run: `steps`, many no-op steps (four events each), where the state
//! grows with the log; and `output`, few steps that print 1,000 lines each, where the
//! log grows and the state does not.

// This benchmark uses part of the shared module (no `/bin/true` runs).
#[allow(dead_code)]
#[path = "support/engine_runs.rs"]
mod engine_runs;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use engine_runs::{Action, StoppedRun};
use runbook::engine::Ending;

/// The system allocator, counting the bytes live now and the most ever live.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

fn shrank(bytes: usize) {
    LIVE.fetch_sub(bytes, Ordering::Relaxed);
}

// SAFETY: every call is passed on unchanged to `System`; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = System.alloc(layout);
        if !pointer.is_null() {
            grew(layout.size());
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let pointer = System.alloc_zeroed(layout);
        if !pointer.is_null() {
            grew(layout.size());
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        System.dealloc(pointer, layout);
        shrank(layout.size());
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = System.realloc(pointer, layout, new_size);
        if !moved.is_null() {
            grew(new_size);
            shrank(layout.size());
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap counted while `work` runs, above what was live before it: the most at once,
/// and what is still held when it returns (what it returned, alive in the caller).
fn measure<T>(work: impl FnOnce() -> T) -> (T, usize, usize) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let result = work();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    let held = LIVE.load(Ordering::Relaxed).saturating_sub(before);
    (result, peak, held)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and this is no
    // test (the runs of 100,000 events take a minute unoptimised).
    if !std::env::args().any(|argument| argument == "--bench") {
        return;
    }
    let shapes: [(&str, usize, Action); 4] = [
        ("steps", 2_500, Action::NoOp),
        ("steps", 25_000, Action::NoOp),
        ("output", 10, Action::Print(1_000)),
        ("output", 100, Action::Print(1_000)),
    ];
    println!(
        "| shape | steps | events | log | open: peak | open: state held | \
         open + resume: peak |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (shape, steps, action) in shapes {
        let run = StoppedRun::new(&format!("memory-{shape}-{steps}"), steps, action);

        let (stopped, open_peak, state_held) = measure(|| run.open(run.state.path()));
        drop(stopped);

        let copy = run.copy_state();
        let (ending, resume_peak, _) = measure(|| {
            let stopped = run.open(copy.path());
            run.prepared.resume(stopped)
        });
        assert!(matches!(ending, Ending::Paused(_)), "{ending:?}");

        println!(
            "| {shape} | {steps} | {} | {} | {} | {} | {} |",
            run.events,
            size(run.log_bytes as usize),
            size(open_peak),
            size(state_held),
            size(resume_peak),
        );
    }
}

fn size(bytes: usize) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if (bytes as f64) < MIB {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.2} MiB", bytes as f64 / MIB)
    }
}
