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

#[path = "support/counting.rs"]
mod counting;

use counting::{measure, size, Counting};
use engine_runs::{Action, StoppedRun};
use runbook::engine::Ending;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

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
