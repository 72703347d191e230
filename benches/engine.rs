//! The engine's own costs, driven through the library as `runbook run` drives it
//! (`--output quiet`, no waiting for people). Figures and how to read them:
//! docs/performance.md, "The engine". Run with `cargo bench --bench engine`.
//!
//! - `no_op_steps`: 1,000 and 10,000 steps that run no process, the log synced and
//!   not: the engine's overhead per step. `no_op_script` times the no-op step's script
//!   alone.
//! - `true_steps`: 1,000 steps of `/bin/true` against the physical floor, a loop that
//!   spawns `/bin/true` and syncs one small write after each, side by side; and, to
//!   tell where the difference goes, the same loop through `sh -c` and through the
//!   engine's shell executor.
//! - `resume`: opening, and opening then resuming, stopped runs whose logs hold about
//!   10,000 and 100,000 events.
//! - `waves_10k_hosts`: a rollout over 10,000 hosts in four waves whose step runs no
//!   process, at most 100 hosts at a time and with no `parallel`, the log synced and
//!   not; the same rollout running `/bin/true` on each host, beside two floors of
//!   10,000 `/bin/true`: 100 at a time with nothing logged, and one after the other
//!   with a synced append after each (docs/performance.md, "Waves and probes").
//!
//! `cargo test --benches` runs each once on small sizes.

#[path = "support/engine_runs.rs"]
mod engine_runs;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use engine_runs::{temp_dir, Action, Prepared, StoppedRun, FLEET_FILE, NO_OP_SCRIPT};
use futures_util::StreamExt;
use runbook::engine::Ending;
use runbook::executor::script::{self, ScriptLimits, ScriptRun};
use runbook::executor::shell;
use runbook::executor::{ShellCommand, StopReason};
use runbook::store::Durability;

/// `cargo bench` passes `--bench`; `cargo test --benches` runs each benchmark once,
/// unoptimised, only to see that it works, so it gets small sizes.
fn full() -> bool {
    std::env::args().any(|argument| argument == "--bench")
}

/// Steps of the no-op runbooks: the 10,000, and 1,000 to see whether the cost
/// of a step depends on how many there are.
fn no_op_sizes() -> [usize; 2] {
    if full() {
        [1_000, 10_000]
    } else {
        [5, 50]
    }
}

/// Steps of the `/bin/true` runbook, and turns of the floor's loop.
fn true_steps() -> usize {
    if full() {
        1_000
    } else {
        10
    }
}

/// The stopped runs whose logs `resume` opens: no-op steps write four events each, so
/// 25,000 of them pass 100,000 events (and 2,500 pass 10,000, to see how the time
/// grows); printing steps write 1,004 each, so 100 of them pass 100,000 with a state
/// of a hundred units.
fn stopped_runs() -> [(&'static str, usize, Action); 3] {
    let [small, large, printing] = if full() {
        [2_500, 25_000, 100]
    } else {
        [5, 25, 2]
    };
    [
        ("steps", small, Action::NoOp),
        ("steps", large, Action::NoOp),
        ("output", printing, Action::Print(PRINTED)),
    ]
}

/// Lines each printing step prints.
const PRINTED: usize = 1_000;

/// Whole runs take seconds: ten equal samples of one run each.
fn slow<M: criterion::measurement::Measurement>(group: &mut criterion::BenchmarkGroup<'_, M>) {
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
}

fn no_op(c: &mut Criterion) {
    let mut group = c.benchmark_group("no_op_steps");
    slow(&mut group);
    for steps in no_op_sizes() {
        let prepared = Prepared::new(
            "no-op",
            &engine_runs::runbook("no-op", steps, Action::NoOp, false),
        );
        group.throughput(Throughput::Elements(steps as u64));
        // Each timed run is a fresh run in a fresh state folder, made before and
        // removed after the timed part.
        for (name, durability) in [
            ("synced", Durability::Synced),
            ("unsynced", Durability::Unsynced),
        ] {
            group.bench_function(BenchmarkId::new(name, steps), |b| {
                b.iter_batched(
                    temp_dir,
                    |state| {
                        let (_, ending) = prepared.start(state.path(), durability);
                        assert_eq!(ending, Ending::Completed);
                        state
                    },
                    BatchSize::PerIteration,
                );
            });
        }
    }
    group.finish();

    // The no-op step's action on its own, as the engine runs it (on a blocking thread
    // there; here on this one): what of a step's cost is the script, not the engine.
    let mut group = c.benchmark_group("no_op_script");
    group.bench_function("run", |b| {
        let cancel = std::sync::Arc::new(AtomicBool::new(false));
        b.iter(|| {
            script::run(ScriptRun {
                source: NO_OP_SCRIPT,
                values: &[],
                limits: ScriptLimits::default(),
                cancel: &cancel,
            })
        });
    });
    group.finish();
}

/// The physical floor of a step that runs a process: spawn it, wait for it, and make
/// one small write durable.
fn floor(program: &str, args: &[&str], turns: usize, dir: &Path) {
    let mut log = open_log(dir);
    for _ in 0..turns {
        let status = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .status();
        assert!(status.is_ok_and(|status| status.success()));
        append_synced(&mut log);
    }
}

fn open_log(dir: &Path) -> File {
    let path = dir.join("floor.log");
    match OpenOptions::new().create(true).append(true).open(&path) {
        Ok(file) => file,
        Err(error) => panic!("cannot open {}: {error}", path.display()),
    }
}

/// One line of 100 bytes, on disk before it returns.
fn append_synced(log: &mut File) {
    let mut line = [b'x'; 100];
    line[99] = b'\n';
    if let Err(error) = log.write_all(&line).and_then(|()| log.sync_data()) {
        panic!("cannot write the floor's log: {error}");
    }
}

fn true_runs(c: &mut Criterion) {
    let steps = true_steps();
    let prepared = Prepared::new(
        "true",
        &engine_runs::runbook("true", steps, Action::True, false),
    );
    let mut group = c.benchmark_group("true_steps");
    group.throughput(Throughput::Elements(steps as u64));
    slow(&mut group);
    group.bench_function(BenchmarkId::new("engine", steps), |b| {
        b.iter_batched(
            temp_dir,
            |state| {
                let (_, ending) = prepared.start(state.path(), Durability::Synced);
                assert_eq!(ending, Ending::Completed);
                state
            },
            BatchSize::PerIteration,
        );
    });
    group.bench_function(BenchmarkId::new("floor", steps), |b| {
        b.iter_batched(
            temp_dir,
            |dir| {
                floor("/bin/true", &[], steps, dir.path());
                dir
            },
            BatchSize::PerIteration,
        );
    });
    // Not the floor: the same loop through `sh -c`, as the engine runs a command, to
    // show what the shell's own exec costs.
    group.bench_function(BenchmarkId::new("floor_sh", steps), |b| {
        b.iter_batched(
            temp_dir,
            |dir| {
                floor("/bin/sh", &["-c", "/bin/true"], steps, dir.path());
                dir
            },
            BatchSize::PerIteration,
        );
    });
    // Not the floor either: the engine's executor alone (`sh -c` in its own process
    // group, output piped and read, as the engine runs a command), with the same sync
    // after each command. Between it and `engine` is the engine's own work.
    let runtime = runtime();
    group.bench_function(BenchmarkId::new("executor", steps), |b| {
        b.iter_batched(
            temp_dir,
            |dir| {
                runtime.block_on(executor(steps, dir.path()));
                dir
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

/// A tokio current-thread runtime, as the engine runs on.
fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => panic!("no runtime: {error}"),
    }
}

/// `turns` runs of `/bin/true` through the engine's shell executor, each followed by
/// one small synced write.
async fn executor(turns: usize, dir: &Path) {
    let mut log = open_log(dir);
    for _ in 0..turns {
        let exit = shell::run(
            ShellCommand {
                run_id: "",
                script: "/bin/true",
                env: &[],
                cwd: Some(dir),
                host: None,
                step: None,
                undoing: false,
            },
            std::future::pending::<StopReason>(),
            |_, _| {},
        )
        .await;
        assert!(matches!(exit, Ok(exit) if exit.succeeded()));
        append_synced(&mut log);
    }
}

fn resume(c: &mut Criterion) {
    let mut group = c.benchmark_group("resume");
    slow(&mut group);
    for (shape, steps, action) in stopped_runs() {
        let run = StoppedRun::new(&format!("resume-{shape}-{steps}"), steps, action);
        println!(
            "resume/{shape}: {steps} steps, {} events, {:.1} MiB of log",
            run.events,
            run.log_bytes as f64 / (1024.0 * 1024.0)
        );
        assert!(run.events >= 4 * steps as u64, "{} events only", run.events);
        group.throughput(Throughput::Elements(run.events));
        // Reads the log in place: `open` writes nothing but its lock file, which
        // dropping the result (untimed) removes.
        group.bench_function(
            BenchmarkId::new("open", format!("{shape}/{}", run.events)),
            |b| {
                b.iter_batched(
                    || (),
                    |()| run.open(run.state.path()),
                    BatchSize::PerIteration,
                );
            },
        );
        // A resume appends to the log: each one gets a copy of the run's folder.
        group.bench_function(
            BenchmarkId::new("open_and_resume", format!("{shape}/{}", run.events)),
            |b| {
                b.iter_batched(
                    || run.copy_state(),
                    |state| {
                        let stopped = run.open(state.path());
                        let ending = run.prepared.resume(stopped);
                        assert!(matches!(ending, Ending::Paused(_)), "{ending:?}");
                        state
                    },
                    BatchSize::PerIteration,
                );
            },
        );
    }
    group.finish();
}

/// Hosts of the rollout: the goal's 10,000.
fn fleet_hosts() -> usize {
    if full() {
        10_000
    } else {
        100
    }
}

/// `parallel` of the rollouts: 100 hosts at a time, and none (every host of a wave at
/// once, up to 7,000).
const PARALLEL: [(&str, Option<u64>); 2] = [("p100", Some(100)), ("unbounded", None)];

fn waves(c: &mut Criterion) {
    let hosts = fleet_hosts();
    let fleet = engine_runs::fleet(hosts);
    let files = [(FLEET_FILE, fleet.as_str())];
    let mut group = c.benchmark_group("waves_10k_hosts");
    slow(&mut group);
    group.throughput(Throughput::Elements(hosts as u64));
    for (limit, parallel) in PARALLEL {
        let name = format!("waves-{limit}");
        let prepared = Prepared::with_files(
            &name,
            &engine_runs::waves_runbook(&name, hosts, parallel, Action::NoOp),
            &files,
        );
        for (log, durability) in [
            ("synced", Durability::Synced),
            ("unsynced", Durability::Unsynced),
        ] {
            group.bench_function(
                BenchmarkId::new(format!("no_op/{limit}/{log}"), hosts),
                |b| {
                    b.iter_batched(
                        temp_dir,
                        |state| {
                            let (_, ending) = prepared.start(state.path(), durability);
                            assert_eq!(ending, Ending::Completed);
                            state
                        },
                        BatchSize::PerIteration,
                    );
                },
            );
        }
    }
    // The cross-check: the same rollout (100 at a time, synced) running `/bin/true` on
    // every host, beside two floors: as many `/bin/true` spawned 100 at a time with
    // nothing logged (what the commands alone take at the rollout's parallelism), and
    // the floor of `true_steps`, one after the other, each followed by a synced
    // 100-byte append.
    let prepared = Prepared::with_files(
        "waves-true",
        &engine_runs::waves_runbook("waves-true", hosts, Some(100), Action::True),
        &files,
    );
    group.bench_function(BenchmarkId::new("true/p100/synced", hosts), |b| {
        b.iter_batched(
            temp_dir,
            |state| {
                let (_, ending) = prepared.start(state.path(), Durability::Synced);
                assert_eq!(ending, Ending::Completed);
                state
            },
            BatchSize::PerIteration,
        );
    });
    let runtime = runtime();
    group.bench_function(BenchmarkId::new("floor_p100", hosts), |b| {
        b.iter(|| runtime.block_on(spawn_parallel(hosts, 100)));
    });
    group.bench_function(BenchmarkId::new("floor", hosts), |b| {
        b.iter_batched(
            temp_dir,
            |dir| {
                floor("/bin/true", &[], hosts, dir.path());
                dir
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

/// `turns` runs of `/bin/true`, at most `limit` at once, on the runtime's thread.
async fn spawn_parallel(turns: usize, limit: usize) {
    let mut statuses = futures_util::stream::iter((0..turns).map(|_| {
        tokio::process::Command::new("/bin/true")
            .stdin(Stdio::null())
            .status()
    }))
    .buffer_unordered(limit);
    while let Some(status) = statuses.next().await {
        assert!(status.is_ok_and(|status| status.success()));
    }
}

criterion_group!(benches, no_op, true_runs, resume, waves);
criterion_main!(benches);
