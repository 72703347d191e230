//! Peak heap use of checking one file, as `runbook check` does it (read the file, then
//! parse, check and compile), for generated runbooks of 100 to 100,000 steps. A counting
//! global allocator records the high-water mark. Run with `cargo bench --bench memory`;
//! figures and goals: docs/performance.md.

#[path = "support/generate.rs"]
mod generate;

use std::alloc::{GlobalAlloc, Layout, System};
use std::fs;
use std::sync::atomic::{AtomicUsize, Ordering};

use runbook::pipeline::{self, Options};
use runbook::source;

const SIZES: [usize; 4] = [100, 1_000, 10_000, 100_000];

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

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and this is no test.
    if !std::env::args().any(|argument| argument == "--bench") {
        return;
    }
    let directory = match tempfile::tempdir() {
        Ok(directory) => directory,
        Err(error) => panic!("no temporary directory: {error}"),
    };
    println!("| steps | file size | peak heap | peak / file size |");
    println!("| ---: | ---: | ---: | ---: |");
    for steps in SIZES {
        let path = directory.path().join(format!("generated-{steps}.rbk"));
        if let Err(error) = fs::write(&path, generate::runbook(steps)) {
            panic!("cannot write {}: {error}", path.display());
        }
        let file_bytes = fs::metadata(&path).map_or(0, |metadata| metadata.len()) as usize;

        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let checked_clean = check(&path);
        let peak = PEAK.load(Ordering::Relaxed) - before;

        assert!(
            checked_clean,
            "the generated {steps}-step runbook does not check clean"
        );
        println!(
            "| {steps} | {} | {} | {:.1} |",
            size(file_bytes),
            size(peak),
            peak as f64 / file_bytes as f64
        );
    }
}

/// Everything `runbook check FILE` holds at once, dropped before returning.
fn check(path: &std::path::Path) -> bool {
    let file = match source::load(path) {
        Ok(file) => file,
        Err(error) => panic!("the generated runbook is refused: {error}"),
    };
    match pipeline::check_source(&file, &Options::default()) {
        Ok(outcome) => outcome.graph().is_some(),
        Err(internal) => panic!("{internal}"),
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
