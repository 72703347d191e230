//! The cost of one `prometheus` probe reading, round trip: `runbook::probe::read` of a
//! probe `prometheus "bench_gauge"` against a real Prometheus server on loopback
//! (tests/common/prometheus.rs starts it, scraping a gauge from its own exporter), on
//! a tokio current-thread runtime as the engine reads probes. Run with
//! `cargo bench --bench probe`; figures: docs/performance.md, "Waves and probes".
//!
//! Prints the distribution of the time of one reading (5,000 of them, after 200 to
//! warm up), and, beside it, the same query sent as a bare HTTP/1.0 GET on a fresh
//! connection (`Prometheus::get`): what the server itself takes to answer.
//!
//! Panics if Prometheus cannot start (`/usr/bin/prometheus`, or `PROMETHEUS_BIN`):
//! a figure never comes from a server that was not there. `cargo test --benches`
//! reads 20 times.

// The fixture serves the tests too; this uses part of it.
#[allow(dead_code)]
#[path = "../tests/common/prometheus.rs"]
mod prometheus;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use prometheus::Prometheus;
use runbook::compile::{Probe, ProbeSource};
use runbook::probe::{self, Settings};
use runbook::source::Span;

const GAUGE: &str = "bench_gauge";
const VALUE: f64 = 0.93;

/// Readings timed, and readings before them (the first opens the connection).
fn counts() -> (usize, usize) {
    if std::env::args().any(|argument| argument == "--bench") {
        (5_000, 200)
    } else {
        (20, 2)
    }
}

fn main() {
    let (readings, warm_up) = counts();
    let server = Prometheus::start();
    server.set(GAUGE, VALUE);
    server.wait_for_value(GAUGE, VALUE);

    let probe = Probe {
        name: "bench".to_string(),
        source: ProbeSource::Prometheus {
            query: GAUGE.to_string(),
        },
        json_path: None,
        span: Span::new(0, 0),
    };
    let settings = Settings {
        prometheus_url: Some(server.url()),
        timeout: Duration::from_secs(10),
        work_dir: PathBuf::from("."),
        env: Vec::new(),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => panic!("no runtime: {error}"),
    };
    let read_times = runtime.block_on(async {
        let mut times = Vec::with_capacity(readings);
        for turn in 0..warm_up + readings {
            let began = Instant::now();
            let reading = probe::read(&probe, &settings).await;
            let took = began.elapsed();
            match reading {
                Ok(reading) => assert_eq!(reading.value, VALUE, "{reading:?}"),
                Err(error) => panic!("the probe failed against {}: {error}", server.url()),
            }
            if turn >= warm_up {
                times.push(took);
            }
        }
        times
    });

    let path = format!("/api/v1/query?query={GAUGE}");
    let mut get_times = Vec::with_capacity(readings);
    for turn in 0..warm_up + readings {
        let began = Instant::now();
        let answer = server.get(&path);
        let took = began.elapsed();
        match answer {
            Ok((200, body)) => assert!(body.contains("\"success\""), "{body}"),
            other => panic!("GET {path} failed: {other:?}"),
        }
        if turn >= warm_up {
            get_times.push(took);
        }
    }

    println!("{readings} readings after {warm_up} to warm up; times in µs");
    println!("| what | min | median | p90 | p99 | max | mean |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    print_row("`probe::read`, prometheus probe", read_times);
    print_row("bare GET, new connection each", get_times);
}

fn print_row(what: &str, mut times: Vec<Duration>) {
    times.sort_unstable();
    let micros = |duration: Duration| duration.as_secs_f64() * 1e6;
    let at = |share: f64| {
        let rank = ((share * times.len() as f64).ceil() as usize).clamp(1, times.len());
        micros(times[rank - 1])
    };
    let mean = times.iter().map(|&time| micros(time)).sum::<f64>() / times.len() as f64;
    println!(
        "| {what} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {mean:.0} |",
        micros(times[0]),
        at(0.5),
        at(0.9),
        at(0.99),
        micros(times[times.len() - 1]),
    );
}
