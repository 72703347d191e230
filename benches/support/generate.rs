//! Deterministic runbooks of any size, shaped like real ones: steps with an owner, a
//! timeout, a command and its rollback; some `after` dependencies; `waves` blocks of ten
//! steps over an inventory; and now and then a gate, a watch or a timer. Everything they
//! refer to is declared, and every step that runs a command can be rolled back, so the
//! whole pipeline (parse, check, compile) runs on them.
//!
//! Used by the benchmarks (`benches/pipeline.rs`, `benches/memory.rs`) and by the test
//! that a very large valid runbook is accepted (`tests/bad_input.rs`).

use std::fmt::Write;

/// Steps per `waves` block, and per run of plain steps between two blocks.
const CHUNK: usize = 10;

/// A runbook with exactly `steps` steps (in `waves` blocks or not).
pub fn runbook(steps: usize) -> String {
    let mut out = String::with_capacity(steps * 200 + 2048);
    header(&mut out, steps);
    let mut emitted = 0;
    let mut chunk = 0;
    while emitted < steps {
        let size = CHUNK.min(steps - emitted);
        if chunk % 5 == 4 {
            waves(&mut out, chunk, emitted, size);
        } else {
            plain_steps(&mut out, emitted, size);
        }
        match chunk % 7 {
            2 => gate(&mut out, chunk),
            4 => {
                let watched = if chunk % 5 == 4 {
                    format!("rollout{chunk}")
                } else {
                    format!("s{emitted}")
                };
                watch(&mut out, chunk, &watched);
            }
            6 => timer(&mut out, chunk),
            _ => {}
        }
        emitted += size;
        chunk += 1;
    }
    policies(&mut out);
    out
}

fn header(out: &mut String, steps: usize) {
    let _ = write!(
        out,
        r#"runbook "generated-{steps}" {{
  title "Generated plan with {steps} steps"
  risk high
  environment production
  commander lead
  objective rollback_start within 30m of failure
  timeout 30m
  drill every 90d
}}

role lead "Incident commander"
role ops "Technical execution group"
role dba "Database administrators"
audience management "Management"

inventory web hosts ["web-1.example", "web-2.example", "web-3.example", "web-4.example"]
param release: string = "2024.06.1" "The release being rolled out"

probe success_rate = prometheus "sum(rate(http_requests_ok[5m])) / sum(rate(http_requests_total[5m]))"
probe p99 = prometheus "histogram_quantile(0.99, sum(rate(api_latency_bucket[5m])) by (le))"

channel ops_chat webhook "https://chat.example.com/hooks/ops"
notify management via ops_chat every 15m "{{{{run.title}}}}: {{{{run.status}}}}"

step backup "Snapshot every host before anything changes" {{
  owner ops
  on web
  backup
  run "snapshot create --host {{{{host}}}}"
  verify "snapshot boot-test --host {{{{host}}}}"
  rollback "snapshot delete --host {{{{host}}}}"
}}

"#
    );
}

/// Ten steps in file order; every third waits for the step two before it instead.
fn plain_steps(out: &mut String, first: usize, count: usize) {
    for index in first..first + count {
        let owner = if index % 4 == 3 { "dba" } else { "ops" };
        let _ = writeln!(out, "step s{index} \"Upgrade unit {index}\" {{");
        let _ = writeln!(out, "  owner {owner}");
        let _ = writeln!(out, "  timeout {}m", 5 + index % 10);
        if index % 3 == 2 && index >= first + 2 {
            let _ = writeln!(out, "  after s{}", index - 2);
        }
        if index % 10 == 7 {
            out.push_str("  retry 2 backoff 30s\n");
        }
        let _ = writeln!(
            out,
            "  run \"deploy --unit {index} --release {{{{release}}}}\""
        );
        let _ = writeln!(out, "  rollback \"deploy --unit {index} --previous\"");
        out.push_str("}\n\n");
    }
}

/// A canary rollout of `count` steps over the web hosts, with a health gate per wave.
fn waves(out: &mut String, chunk: usize, first: usize, count: usize) {
    let _ = writeln!(out, "waves rollout{chunk} \"Canary rollout {chunk}\" {{");
    out.push_str("  over web\n  stages [1%, 10%, 100%]\n  pause 1h\n  max_failed 1\n");
    for index in first..first + count {
        let _ = writeln!(out, "  step s{index} {{");
        out.push_str("    owner ops\n    timeout 10m\n");
        let _ = writeln!(
            out,
            "    run \"upgrade --host {{{{host}}}} --unit {index}\""
        );
        let _ = writeln!(
            out,
            "    rollback \"downgrade --host {{{{host}}}} --unit {index}\""
        );
        out.push_str("  }\n");
    }
    let _ = writeln!(out, "  gate healthy{chunk} {{");
    out.push_str("    require success_rate >= 0.999 else severe\n  }\n}\n\n");
}

fn gate(out: &mut String, chunk: usize) {
    let _ = writeln!(
        out,
        "gate approve{chunk} \"Commander approves going on\" {{"
    );
    out.push_str("  approve by lead within 30m on timeout abort\n");
    out.push_str("  require p99 < 0.5\n}\n\n");
}

/// Watches the metrics for an hour from when `after` finished, beside the flow.
fn watch(out: &mut String, chunk: usize, after: &str) {
    let _ = writeln!(out, "watch metrics{chunk} \"Core metrics\" {{");
    let _ = writeln!(out, "  owner ops\n  after {after}");
    out.push_str("  every 1m\n  during 1h\n  require success_rate > 0.99 else functional\n}\n\n");
}

fn timer(out: &mut String, chunk: usize) {
    let _ = writeln!(out, "timer settle{chunk} 5m \"Let caches warm up\"\n");
}

fn policies(out: &mut String) {
    out.push_str(
        r#"on failure functional {
  pause
  rollback hosts
  notify ops via ops_chat "{{failure.step}} failed on {{failure.host}}"
}

on failure severe {
  approve by lead within 3m on timeout continue
  rollback all
  notify management via ops_chat "Rolling back: {{failure.summary}}"
}
"#,
    );
}
