//! Peak heap use of checking one file, as `runbook check` does it (read the file, then
//! parse, check and compile), for generated runbooks of 100 to 100,000 steps. A counting
//! global allocator records the high-water mark. Run with `cargo bench --bench memory`;
//! figures and goals: docs/performance.md.

#[path = "support/counting.rs"]
mod counting;
#[path = "support/generate.rs"]
mod generate;

use std::fs;

use counting::{measure, size, Counting};
use runbook::pipeline::{self, Options};
use runbook::source;

const SIZES: [usize; 4] = [100, 1_000, 10_000, 100_000];

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

        let (checked_clean, peak, _) = measure(|| check(&path));

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
