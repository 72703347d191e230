//! Throughput of the whole pipeline (parse, check, compile) on generated runbooks of
//! 100 to 100,000 steps, in bytes per second. Figures and how to read them:
//! docs/performance.md. Run with `cargo bench --bench pipeline`.

#[path = "support/generate.rs"]
mod generate;

use std::time::Duration;

use criterion::{
    criterion_group, criterion_main, BatchSize, Bencher, BenchmarkGroup, BenchmarkId, Criterion,
    SamplingMode, Throughput,
};
use runbook::pipeline::{self, Options};
use runbook::source::{self, SourceFile};

/// Steps per generated runbook, each ten times the last, so linearity can be read off.
const SIZES: [usize; 4] = [100, 1_000, 10_000, 100_000];

/// The sizes to run. `cargo test --benches` runs each benchmark once, unoptimised, only
/// to see that it works; the largest size would add a minute there and prove nothing more.
fn sizes() -> &'static [usize] {
    if std::env::args().any(|argument| argument == "--bench") {
        &SIZES
    } else {
        &SIZES[..3]
    }
}

/// A generated runbook, refused loudly if it does not check clean: a benchmark of a
/// pipeline that stops at the first stage would measure the wrong thing.
fn prepared(steps: usize) -> SourceFile {
    let text = generate::runbook(steps);
    let file = match source::from_bytes(&format!("generated-{steps}.rbk"), text.into_bytes()) {
        Ok(file) => file,
        Err(error) => panic!("the generated runbook is refused: {error}"),
    };
    let outcome = match pipeline::check_source(&file, &Options::default()) {
        Ok(outcome) => outcome,
        Err(internal) => panic!("{internal}"),
    };
    if outcome.graph().is_none() {
        let first: Vec<String> = outcome
            .diagnostics
            .iter()
            .take(5)
            .map(|finding| format!("{}: {}", finding.code, finding.message))
            .collect();
        panic!("the generated {steps}-step runbook does not check clean: {first:#?}");
    }
    file
}

/// Parse, check and compile; the result is dropped outside the timed part, which
/// `drop` below measures on its own.
fn pipeline(c: &mut Criterion) {
    each_size(c, "pipeline", |b, file| {
        // check_source compiles the graph of a clean runbook itself. One run per batch,
        // so each result is freed (untimed) before the next run, as in the CLI, rather
        // than a batch of results piling up in memory.
        b.iter_batched(
            || (),
            |()| pipeline::check_source(file, &Options::default()),
            BatchSize::PerIteration,
        );
    });
}

/// Freeing what `pipeline` made (the tree, the graph, the findings): a cost of its
/// own, paid when a caller lets go of the result.
fn drop_outcome(c: &mut Criterion) {
    each_size(c, "drop", |b, file| {
        b.iter_batched(
            || pipeline::check_source(file, &Options::default()),
            drop,
            BatchSize::PerIteration,
        );
    });
}

/// Runs `bench` on the generated runbook of each size, in a group of that name.
fn each_size(c: &mut Criterion, name: &str, bench: impl Fn(&mut Bencher<'_>, &SourceFile)) {
    let mut group = c.benchmark_group(name);
    for &steps in sizes() {
        let file = prepared(steps);
        group.throughput(Throughput::Bytes(file.text().len() as u64));
        sampling(&mut group, steps);
        group.bench_with_input(BenchmarkId::from_parameter(steps), &file, |b, file| {
            bench(b, file)
        });
    }
    group.finish();
}

/// Large inputs take long per run: fewer, equal-sized samples keep the whole
/// benchmark to a few minutes. At 100,000 steps a sample is one run, and criterion's
/// warning that 10 samples do not fit in the time is expected.
fn sampling(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, steps: usize) {
    match steps {
        100 | 1_000 => {
            group.sampling_mode(SamplingMode::Auto);
            group.sample_size(50);
            group.measurement_time(Duration::from_secs(8));
        }
        10_000 => {
            group.sampling_mode(SamplingMode::Flat);
            group.sample_size(20);
            group.measurement_time(Duration::from_secs(10));
        }
        _ => {
            group.sampling_mode(SamplingMode::Flat);
            group.sample_size(10);
            group.measurement_time(Duration::from_secs(30));
        }
    }
}

criterion_group!(benches, pipeline, drop_outcome);
criterion_main!(benches);
