//! Peak memory of a rollout over 10,000 hosts in four waves (`stages [1%, 10%, 30%,
//! 100%]`) whose step runs no process, driven through the library as `runbook run FILE
//! --output quiet` drives it. Run with `cargo bench --bench waves_memory`; figures:
//! docs/performance.md, "Waves and probes".
//!
//! Two measures for each run, at 1,000 and 10,000 hosts, 100 hosts at a time and with
//! no `parallel`:
//!
//! - the heap: a counting global allocator (as in benches/memory.rs) records the most
//!   heap live at once during `engine::start`, above what was live before (the checked
//!   runbook and its inventory are live before, and counted apart, as `check`);
//! - the process's peak resident memory (`VmHWM` in `/proc/self/status`), reset just
//!   before the run by writing `5` to `/proc/self/clear_refs`: it counts what was
//!   resident already (the binary, the checked runbook), the threads' stacks and the
//!   allocator's own overhead, which the heap count leaves out.

// This benchmark uses part of the shared module (no resumes).
#[allow(dead_code)]
#[path = "support/engine_runs.rs"]
mod engine_runs;

#[path = "support/counting.rs"]
mod counting;

use std::fs;

use counting::{measure, size, Counting};
use engine_runs::{temp_dir, Action, Prepared, FLEET_FILE};
use runbook::engine::Ending;
use runbook::store::{self, Durability};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A line of `/proc/self/status` in bytes (`VmHWM:  12345 kB`).
fn status_bytes(field: &str) -> usize {
    let status = match fs::read_to_string("/proc/self/status") {
        Ok(status) => status,
        Err(error) => panic!("cannot read /proc/self/status: {error}"),
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<usize>()
                .ok()
        })
        .map(|kib| kib * 1024)
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// Resets the process's peak resident memory to what is resident now.
fn reset_peak_resident() {
    if let Err(error) = fs::write("/proc/self/clear_refs", "5") {
        panic!("cannot reset the peak resident memory: {error}");
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and this is no
    // test.
    if !std::env::args().any(|argument| argument == "--bench") {
        return;
    }
    println!(
        "| hosts | parallel | events | log | check: heap held | run: peak heap | \
         run: peak resident | resident before |"
    );
    println!("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for hosts in [1_000, 10_000] {
        let fleet = engine_runs::fleet(hosts);
        for (limit, parallel) in [("100", Some(100)), ("none", None)] {
            let name = format!("memory-{hosts}-{limit}");
            let text = engine_runs::waves_runbook(&name, hosts, parallel, Action::NoOp);
            let (prepared, _, check_held) =
                measure(|| Prepared::with_files(&name, &text, &[(FLEET_FILE, &fleet)]));
            let state = temp_dir();
            reset_peak_resident();
            let resident_before = status_bytes("VmRSS:");
            let ((run_id, ending), run_peak, _) =
                measure(|| prepared.start(state.path(), Durability::Synced));
            let resident_peak = status_bytes("VmHWM:");
            assert_eq!(ending, Ending::Completed);
            let log = match fs::read(store::events_path(state.path(), &run_id)) {
                Ok(log) => log,
                Err(error) => panic!("cannot read the run's log: {error}"),
            };
            let events = log.iter().filter(|&&byte| byte == b'\n').count();
            println!(
                "| {hosts} | {limit} | {events} | {} | {} | {} | {} | {} |",
                size(log.len()),
                size(check_held),
                size(run_peak),
                size(resident_peak),
                size(resident_before),
            );
        }
    }
}
