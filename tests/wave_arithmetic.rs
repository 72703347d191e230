//! The arithmetic of canary waves (`src/engine/waves.rs`), checked from the outside
//! against every plan form the language allows, for 1 to 10,000 hosts.
//!
//! The rules under test, as the code implements them (docs/waves.md says why):
//!
//! - Percent stages are cumulative. Wave `i` ends once `ceil(p_i% × hosts)` hosts are
//!   done, worked out exactly on the decimal written (`7%` of 100 is 7, never 8). If
//!   earlier waves already reach that, the wave still takes one more host: no stage is
//!   skipped and no wave is empty while hosts remain. The last stage always ends at the
//!   last host, whatever its share; once every host is done, the stages left make no
//!   wave.
//! - Batch stages are sizes in hosts; the last size repeats until every host is done,
//!   and a batch larger than what is left takes what is left (only the last wave can
//!   be short).
//! - `max_failed N` allows N failed hosts in a wave; `max_failed P%` allows
//!   `floor(P% × wave size)`, exactly; the wave fails only above that.
//!
//! Each rule is checked against an integer model, and the guarantees a user relies on
//! (every host in exactly one wave, in order, no empty wave) are checked on their own.

use std::ops::Range;

use runbook::check::codes;
use runbook::compile::{Budget, Stage};
use runbook::diagnostic::Severity;
use runbook::engine::waves::{budget_allows, plan};

/// One stage as written, with exact values: a share in thousandths of a percent
/// (`0.5%` is 500, `100%` is 100,000) or a batch size in hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    Pct(u64),
    Batch(u64),
}

use Spec::{Batch, Pct};

/// `p%` as thousandths of a percent.
const fn pct(whole: u64) -> Spec {
    Pct(whole * 1000)
}

const HUNDRED: Spec = pct(100);

/// The `Stage` the compiler hands the engine for a stage as written. `t / 1000.0` is
/// the `f64` nearest to the decimal, as the parser reads `0.5%`.
fn stage(spec: Spec) -> Stage {
    match spec {
        Pct(thousandths) => Stage::Percent(thousandths as f64 / 1000.0),
        Batch(hosts) => Stage::Hosts(hosts),
    }
}

fn stages(specs: &[Spec]) -> Vec<Stage> {
    specs.iter().copied().map(stage).collect()
}

/// `[1%, 10%, 30%, 100%]`, as written in a runbook.
fn label(specs: &[Spec]) -> String {
    let items: Vec<String> = specs
        .iter()
        .map(|spec| match *spec {
            Pct(t) if t % 1000 == 0 => format!("{}%", t / 1000),
            Pct(t) => {
                let fraction = format!("{:03}", t % 1000);
                format!("{}.{}%", t / 1000, fraction.trim_end_matches('0'))
            }
            Batch(hosts) => hosts.to_string(),
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// Whether the checker accepts the list: all shares or all batches; shares over 0%,
/// strictly growing, ending at 100%; batches at least 1 (shrinking is only a warning).
fn checker_accepts(specs: &[Spec]) -> bool {
    let percent = specs.iter().all(|s| matches!(s, Pct(_)));
    let batches = specs.iter().all(|s| matches!(s, Batch(_)));
    if specs.is_empty() {
        return false;
    }
    if percent {
        let shares: Vec<u64> = specs
            .iter()
            .map(|s| match s {
                Pct(t) => *t,
                Batch(_) => unreachable!(),
            })
            .collect();
        shares.iter().all(|&t| t > 0 && t <= 100_000)
            && shares.windows(2).all(|pair| pair[0] < pair[1])
            && shares.last() == Some(&100_000)
    } else {
        batches && specs.iter().all(|s| *s != Batch(0))
    }
}

/// `ceil(t/1000 % of hosts)`, in integers, at most `hosts`.
fn share_up(thousandths: u64, hosts: usize) -> usize {
    let exact = u128::from(thousandths) * hosts as u128;
    usize::try_from(exact.div_ceil(100_000)).map_or(hosts, |share| share.min(hosts))
}

/// `floor(t/1000 % of hosts)`, in integers, at most `hosts`.
fn share_down(thousandths: u64, hosts: usize) -> usize {
    let exact = u128::from(thousandths) * hosts as u128;
    usize::try_from(exact / 100_000).map_or(hosts, |share| share.min(hosts))
}

/// The rules of the module comment, as plain integers: where each wave ends.
fn model_ends(hosts: usize, specs: &[Spec]) -> Vec<usize> {
    let mut ends = Vec::new();
    if hosts == 0 {
        return ends;
    }
    let Some((last, before_last)) = specs.split_last() else {
        return vec![hosts];
    };
    let mut done = 0usize;
    for spec in before_last {
        if done == hosts {
            return ends;
        }
        let end = match *spec {
            Pct(t) => share_up(t, hosts).max(done + 1),
            Batch(b) => done.saturating_add(usize::try_from(b.max(1)).unwrap_or(usize::MAX)),
        }
        .min(hosts);
        ends.push(end);
        done = end;
    }
    match *last {
        Pct(_) => {
            if done < hosts {
                ends.push(hosts);
            }
        }
        Batch(b) => {
            let size = usize::try_from(b.max(1)).unwrap_or(usize::MAX);
            while done < hosts {
                done = done.saturating_add(size).min(hosts);
                ends.push(done);
            }
        }
    }
    ends
}

/// Wave sizes, runs of one size written once with a count: `10, 30, 60×16`.
fn sizes(waves: &[Range<usize>]) -> String {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for wave in waves {
        match runs.last_mut() {
            Some((size, times)) if *size == wave.len() => *times += 1,
            _ => runs.push((wave.len(), 1)),
        }
    }
    runs.iter()
        .map(|&(size, times)| match times {
            1 => size.to_string(),
            _ => format!("{size}×{times}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Invariant 1: every host in exactly one wave, in order, no wave empty, the waves
/// contiguous and covering `0..hosts`. For small inventories each host is also
/// counted one by one, so the check does not rest on the ranges' arithmetic alone.
fn assert_partition(case: &str, hosts: usize, waves: &[Range<usize>]) {
    if hosts == 0 {
        assert!(waves.is_empty(), "{case}: no host, no wave: {waves:?}");
        return;
    }
    assert!(!waves.is_empty(), "{case}: hosts but no wave");
    assert_eq!(waves[0].start, 0, "{case}: the first wave starts at host 0");
    for (index, wave) in waves.iter().enumerate() {
        assert!(
            wave.start < wave.end,
            "{case}: wave {} is empty ({wave:?}); at least one host a wave",
            index + 1
        );
        if index > 0 {
            assert_eq!(
                wave.start,
                waves[index - 1].end,
                "{case}: wave {} does not start where wave {} ended (a host skipped or in two waves)",
                index + 1,
                index
            );
        }
    }
    assert_eq!(
        waves.last().unwrap().end,
        hosts,
        "{case}: the waves do not end at the last host"
    );
    if hosts <= 2_000 {
        let mut owner: Vec<Option<usize>> = vec![None; hosts];
        for (index, wave) in waves.iter().enumerate() {
            for host in wave.clone() {
                assert!(host < hosts, "{case}: wave {} names host {host}", index + 1);
                assert_eq!(
                    owner[host],
                    None,
                    "{case}: host {host} is in waves {} and {}",
                    owner[host].map_or(0, |w| w + 1),
                    index + 1
                );
                owner[host] = Some(index);
            }
        }
        for (host, wave) in owner.iter().enumerate() {
            assert!(wave.is_some(), "{case}: host {host} is in no wave");
        }
        assert!(
            owner.windows(2).all(|pair| pair[0] <= pair[1]),
            "{case}: hosts are not taken in inventory order"
        );
    }
}

/// Invariant 2: what a user relies on from a percent list the checker accepts.
fn assert_percent_rules(case: &str, hosts: usize, shares: &[u64], waves: &[Range<usize>]) {
    let last = shares.len() - 1;
    assert!(
        waves.len() <= shares.len(),
        "{case}: more waves ({}) than stages",
        waves.len()
    );
    for (index, wave) in waves.iter().enumerate() {
        let done = wave.end;
        if index == last {
            assert_eq!(
                done, hosts,
                "{case}: the 100% stage does not end at the last host"
            );
            continue;
        }
        let target = share_up(shares[index], hosts);
        // Never behind the share: at least p% of the hosts are done after the wave.
        assert!(
            done as u128 * 100_000 >= u128::from(shares[index]) * hosts as u128,
            "{case}: after wave {} only {done} hosts are done, under {}",
            index + 1,
            label(&[Pct(shares[index])])
        );
        // Past the rounded-up share only by the one host a wave always takes.
        assert!(
            done == target || (done > target && wave.len() == 1),
            "{case}: wave {} ends at {done}, neither ceil(share) = {target} nor one host past the wave before",
            index + 1
        );
    }
    // Never a larger wave than if stages already reached were skipped instead: each
    // wave is one host, or at most the hosts between its share and the share before.
    for (index, wave) in waves.iter().enumerate() {
        let before = index
            .checked_sub(1)
            .map_or(0, |i| share_up(shares[i], hosts));
        let target = if index == last {
            hosts
        } else {
            share_up(shares[index], hosts)
        };
        assert!(
            wave.len() == 1 || wave.len() <= target - before,
            "{case}: wave {} takes {} hosts, more than the {} between its share and the one before",
            index + 1,
            wave.len(),
            target - before
        );
    }
    // A stage makes no wave only once every host is done.
    if waves.len() < shares.len() {
        assert_eq!(
            waves.last().map(|w| w.end),
            Some(hosts),
            "{case}: stages dropped while hosts remain"
        );
    }
    // Wave k is stage k whenever there are hosts enough: after each share, at least one
    // host left for every stage still to come.
    let room = hosts >= shares.len()
        && shares[..last]
            .iter()
            .enumerate()
            .all(|(j, &t)| hosts - share_up(t, hosts) >= last - j);
    if room {
        assert_eq!(
            waves.len(),
            shares.len(),
            "{case}: a stage was skipped: {}",
            sizes(waves)
        );
    }
    // The first wave is the rounded-up first share, and never 0 hosts.
    if shares.len() > 1 {
        assert_eq!(
            waves[0].len(),
            share_up(shares[0], hosts).max(1),
            "{case}: the canary wave"
        );
    }
}

/// Invariant 3: batch sizes, the last repeating, only the last wave cut short.
fn assert_batch_rules(case: &str, hosts: usize, batches: &[u64], waves: &[Range<usize>]) {
    let repeat = *batches.last().unwrap();
    for (index, wave) in waves.iter().enumerate() {
        let size = usize::try_from(*batches.get(index).unwrap_or(&repeat)).unwrap();
        let left = hosts - wave.start;
        assert_eq!(
            wave.len(),
            size.min(left),
            "{case}: wave {} should take {size} hosts or the {left} left",
            index + 1
        );
        if index + 1 < waves.len() {
            assert_eq!(
                wave.len(),
                size,
                "{case}: wave {} is cut short but is not the last",
                index + 1
            );
        }
    }
}

/// Plans `specs` for `hosts` hosts and checks it against every rule that applies.
fn check_plan(hosts: usize, specs: &[Spec]) -> Vec<Range<usize>> {
    let case = format!("{} on {hosts} hosts", label(specs));
    let waves = plan(hosts, &stages(specs));
    assert_partition(&case, hosts, &waves);
    let ends: Vec<usize> = waves.iter().map(|wave| wave.end).collect();
    assert_eq!(
        ends,
        model_ends(hosts, specs),
        "{case}: wave ends differ from the rules (sizes {})",
        sizes(&waves)
    );
    if checker_accepts(specs) && hosts > 0 {
        match specs[0] {
            Pct(_) => {
                let shares: Vec<u64> = specs
                    .iter()
                    .map(|s| match s {
                        Pct(t) => *t,
                        Batch(_) => unreachable!(),
                    })
                    .collect();
                assert_percent_rules(&case, hosts, &shares, &waves);
            }
            Batch(_) => {
                let batches: Vec<u64> = specs
                    .iter()
                    .map(|s| match s {
                        Batch(b) => *b,
                        Pct(_) => unreachable!(),
                    })
                    .collect();
                assert_batch_rules(&case, hosts, &batches, &waves);
            }
        }
    }
    waves
}

/// The plan forms of the brief and of the docs, all accepted by the checker.
fn forms() -> Vec<Vec<Spec>> {
    vec![
        vec![HUNDRED],
        vec![pct(1), HUNDRED],
        vec![pct(1), pct(10), pct(30), HUNDRED],
        vec![pct(50), HUNDRED],
        vec![pct(25), pct(50), HUNDRED],
        vec![Pct(500), pct(10), HUNDRED],
        vec![Pct(33_300), Pct(66_600), HUNDRED],
        vec![Pct(99_900), HUNDRED],
        vec![pct(1), pct(2), pct(3), pct(4), pct(5), HUNDRED],
        vec![Batch(10), Batch(30), Batch(60)],
        vec![Batch(1)],
        vec![Batch(1), Batch(1), Batch(1)],
        vec![Batch(5), Batch(100)],
        vec![Batch(5), Batch(5)],
        vec![Batch(2), Batch(3)],
    ]
}

#[test]
fn every_form_on_every_inventory_up_to_two_hundred_hosts() {
    for specs in forms() {
        for hosts in 1..=200 {
            check_plan(hosts, &specs);
        }
    }
}

#[test]
fn wave_sizes_read_as_documented() {
    #[rustfmt::skip]
    let table: &[(&[Spec], usize, &str)] = &[
        (&[HUNDRED], 1, "1"),
        (&[HUNDRED], 10_000, "10000"),
        // 1% of 50 hosts is half a host: still a canary of one.
        (&[pct(1), HUNDRED], 50, "1, 49"),
        (&[pct(1), HUNDRED], 101, "2, 99"),
        (&[pct(1), HUNDRED], 1_000, "10, 990"),
        (&[pct(1), pct(10), pct(30), HUNDRED], 1, "1"),
        (&[pct(1), pct(10), pct(30), HUNDRED], 3, "1×3"),
        (&[pct(1), pct(10), pct(30), HUNDRED], 10, "1×3, 7"),
        (&[pct(1), pct(10), pct(30), HUNDRED], 50, "1, 4, 10, 35"),
        (&[pct(1), pct(10), pct(30), HUNDRED], 4_999, "50, 450, 1000, 3499"),
        (&[pct(1), pct(10), pct(30), HUNDRED], 10_000, "100, 900, 2000, 7000"),
        (&[pct(50), HUNDRED], 1, "1"),
        (&[pct(50), HUNDRED], 2, "1×2"),
        (&[pct(50), HUNDRED], 3, "2, 1"),
        (&[pct(50), HUNDRED], 4_999, "2500, 2499"),
        (&[Pct(500), HUNDRED], 200, "1, 199"),
        (&[Pct(500), HUNDRED], 201, "2, 199"),
        (&[Pct(500), HUNDRED], 10_000, "50, 9950"),
        (&[Pct(33_300), Pct(66_600), HUNDRED], 10, "4, 3×2"),
        (&[Pct(33_300), Pct(66_600), HUNDRED], 1_000, "333×2, 334"),
        // 99.9% of 10 hosts rounds up to all 10: the 100% stage makes no wave.
        (&[Pct(99_900), HUNDRED], 10, "10"),
        (&[Pct(99_900), HUNDRED], 10_000, "9990, 10"),
        // 79% of 5 is 4 hosts, 80% one more: every host is done before the 100% stage.
        (&[pct(79), pct(80), HUNDRED], 5, "4, 1"),
        (&[Batch(10), Batch(30), Batch(60)], 1, "1"),
        (&[Batch(10), Batch(30), Batch(60)], 40, "10, 30"),
        (&[Batch(10), Batch(30), Batch(60)], 41, "10, 30, 1"),
        (&[Batch(10), Batch(30), Batch(60)], 4_999, "10, 30, 60×82, 39"),
        (&[Batch(10), Batch(30), Batch(60)], 10_000, "10, 30, 60×166"),
        (&[Batch(1)], 3, "1×3"),
        (&[Batch(1), Batch(1), Batch(1)], 5, "1×5"),
        (&[Batch(5), Batch(100)], 3, "3"),
        (&[Batch(5), Batch(100)], 6, "5, 1"),
        (&[Batch(5), Batch(100)], 106, "5, 100, 1"),
        (&[Batch(5), Batch(100)], 10_000, "5, 100×99, 95"),
    ];
    for &(specs, hosts, expected) in table {
        let waves = check_plan(hosts, specs);
        assert_eq!(sizes(&waves), expected, "{} on {hosts} hosts", label(specs));
    }
}

#[test]
fn sampled_large_inventories() {
    for hosts in [1_000, 4_999, 5_000, 9_999, 10_000] {
        for specs in forms() {
            check_plan(hosts, &specs);
        }
    }
}

/// A fixed-seed linear congruential generator (Knuth's MMIX constants).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// Uniform in `low..=high` (the bias of `%` does not matter here).
    fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }

    /// Spread over orders of magnitude, so that small values come up often.
    fn log_range(&mut self, low: u64, high: u64) -> u64 {
        let digits = self.range(0, u64::from(high.ilog10()));
        let top = 10u64.pow(u32::try_from(digits).unwrap() + 1).min(high);
        self.range(low, top.max(low))
    }
}

/// A percent list the checker accepts: strictly growing shares in thousandths of a
/// percent, ending at 100%.
fn random_percent_list(rng: &mut Lcg) -> Vec<Spec> {
    let count = rng.range(0, 7);
    let mut shares: Vec<u64> = (0..count).map(|_| rng.log_range(1, 99_999)).collect();
    shares.sort_unstable();
    shares.dedup();
    shares.push(100_000);
    shares.into_iter().map(Pct).collect()
}

fn random_batch_list(rng: &mut Lcg) -> Vec<Spec> {
    let count = rng.range(1, 5);
    (0..count)
        .map(|_| Batch(rng.log_range(1, 20_000)))
        .collect()
}

/// A list the checker refuses (mixed, not growing, short of 100%, zero stages): the
/// engine must still keep invariant 1 and follow the same rules stage by stage.
fn random_refused_list(rng: &mut Lcg) -> Vec<Spec> {
    let count = rng.range(0, 6);
    (0..count)
        .map(|_| match rng.range(0, 3) {
            0 => Pct(rng.log_range(0, 150_000)),
            1 => Pct(rng.range(0, 100) * 1000),
            2 => Batch(rng.log_range(0, 20_000)),
            _ => Batch(rng.range(0, 3)),
        })
        .collect()
}

#[test]
fn seeded_random_sweep_up_to_ten_thousand_hosts() {
    let mut rng = Lcg(0x5EED_CA7A_2025);
    for round in 0..3_000 {
        let hosts = usize::try_from(if round % 2 == 0 {
            rng.range(1, 10_000)
        } else {
            rng.log_range(1, 10_000)
        })
        .unwrap();
        let specs = match round % 3 {
            0 => random_percent_list(&mut rng),
            1 => random_batch_list(&mut rng),
            _ => random_refused_list(&mut rng),
        };
        check_plan(hosts, &specs);
    }
}

#[test]
fn lists_the_checker_refuses() {
    // Each of these is an error of the checker, so a runbook with it never runs.
    for code in [
        codes::WAVES_INCOMPLETE,
        codes::WAVES_NOT_GROWING,
        codes::WAVES_MIXED_STAGES,
        codes::VALUE_OUT_OF_RANGE,
    ] {
        assert_eq!(
            code.default_severity(),
            Severity::Error,
            "{}",
            code.as_str()
        );
    }
    // A shrinking batch list is only a warning: it runs as written.
    assert_eq!(codes::WAVES_SHRINKING.default_severity(), Severity::Warning);
    let short_of_100: &[Spec] = &[pct(1), pct(10), pct(50)];
    assert!(!checker_accepts(short_of_100));
    for hosts in 1..=200 {
        check_plan(hosts, short_of_100);
        check_plan(hosts, &[pct(50), pct(10), HUNDRED]);
        check_plan(hosts, &[pct(20), Batch(3)]);
        check_plan(hosts, &[Batch(0)]);
        check_plan(hosts, &[Pct(0), HUNDRED]);
        check_plan(hosts, &[Pct(150_000), HUNDRED]);
        check_plan(hosts, &[]);
        // Shrinking batches: a warning only, and planned as written.
        check_plan(hosts, &[Batch(10), Batch(30), Batch(20)]);
    }
    // Stopping short of 100%: the hosts left over are not left behind; the last stage
    // takes all of them, whatever its share.
    assert_eq!(sizes(&plan(1_000, &stages(short_of_100))), "10, 90, 900");
    assert_eq!(sizes(&plan(10, &stages(short_of_100))), "1×2, 8");
    assert_eq!(sizes(&plan(3, &[Stage::Hosts(0)])), "1×3");
    assert_eq!(sizes(&plan(5, &[])), "5");
    assert_eq!(
        sizes(&plan(6, &[Stage::Percent(f64::NAN), Stage::Percent(100.0)])),
        "1, 5"
    );
}

#[test]
fn no_hosts_no_waves() {
    for specs in forms() {
        assert_eq!(plan(0, &stages(&specs)), Vec::<Range<usize>>::new());
    }
}

#[test]
fn huge_values_do_not_overflow() {
    let huge = 1u64 << 53; // the largest whole number the language reads exactly
    for hosts in [1, 10_000, usize::MAX / 2, usize::MAX] {
        for specs in [
            vec![Batch(huge)],
            vec![Batch(huge), Batch(huge)],
            vec![Batch(u64::MAX), Batch(1)],
            vec![Batch(1), Batch(u64::MAX)],
            vec![pct(1), HUNDRED],
            vec![Pct(1), Pct(99_999), HUNDRED],
        ] {
            let waves = plan(hosts, &stages(&specs));
            let case = format!("{} on {hosts} hosts", label(&specs));
            assert_partition(&case, hosts, &waves);
            assert_eq!(
                waves.iter().map(|w| w.end).collect::<Vec<_>>(),
                model_ends(hosts, &specs),
                "{case}"
            );
        }
    }
}

/// The most failed hosts a wave of `size` may have under `budget`, found by asking
/// `budget_allows`, which must say yes up to that number and no after it.
fn allowed_failures(case: &str, size: usize, budget: Budget) -> usize {
    assert!(
        budget_allows(0, size, budget),
        "{case}: a wave with no failure is over its budget"
    );
    // Binary search for the last failure count allowed, among 0..=size + 1.
    let (mut low, mut high) = (0usize, size + 1);
    if budget_allows(high, size, budget) {
        return high;
    }
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if budget_allows(middle, size, budget) {
            low = middle;
        } else {
            high = middle;
        }
    }
    if size <= 200 {
        for failed in 0..=size + 1 {
            assert_eq!(
                budget_allows(failed, size, budget),
                failed <= low,
                "{case}: {failed} failed is allowed out of order"
            );
        }
    }
    low
}

#[test]
fn host_budgets_allow_exactly_that_many() {
    for size in 0..=200 {
        for allowed in [0u64, 1, 2, 5, 50, 1_000] {
            let case = format!("max_failed {allowed} on a wave of {size}");
            let expected = usize::try_from(allowed).unwrap().min(size + 1);
            assert_eq!(
                allowed_failures(&case, size, Budget::Hosts(allowed)),
                expected,
                "{case}"
            );
            assert!(budget_allows(
                allowed as usize,
                size,
                Budget::Hosts(allowed)
            ));
            assert!(!budget_allows(
                allowed as usize + 1,
                size,
                Budget::Hosts(allowed)
            ));
        }
    }
    assert!(
        !budget_allows(1, 10, Budget::Hosts(0)),
        "max_failed 0 allows none"
    );
    assert!(
        budget_allows(2, 10, Budget::Hosts(2)),
        "max_failed 2 allows 2"
    );
    assert!(
        !budget_allows(3, 10, Budget::Hosts(2)),
        "max_failed 2 allows no 3rd"
    );
}

/// Checks a percent budget (in thousandths of a percent) on a wave of `size` hosts:
/// `floor(share × size)` failures, never more than the share, never more than the
/// wave, and none at all for 0%.
fn check_percent_budget(thousandths: u64, size: usize) -> usize {
    let case = format!(
        "max_failed {} on a wave of {size}",
        &label(&[Pct(thousandths)])[1..]
    );
    let budget = Budget::Percent(thousandths as f64 / 1000.0);
    let allowed = allowed_failures(&case, size, budget);
    assert_eq!(
        allowed,
        share_down(thousandths, size),
        "{case}: rounded down"
    );
    assert!(allowed <= size, "{case}: more failures allowed than hosts");
    assert!(
        allowed as u128 * 100_000 <= u128::from(thousandths) * size as u128,
        "{case}: the budget lets more than the share fail"
    );
    if thousandths == 0 {
        assert_eq!(allowed, 0, "{case}: 0% allows a failure");
    }
    if thousandths == 100_000 {
        assert_eq!(allowed, size, "{case}: 100% allows every host");
    }
    allowed
}

#[test]
fn percent_budgets_are_a_share_of_the_wave_rounded_down() {
    #[rustfmt::skip]
    let table: &[(u64, usize, usize)] = &[
        // (share in thousandths of a percent, wave size, failures allowed)
        (2_000, 10, 0),
        (2_000, 49, 0),
        (2_000, 50, 1),
        (2_000, 100, 2),
        (2_000, 149, 2),
        (2_000, 150, 3),
        (5_000, 19, 0),
        (5_000, 20, 1),
        (5_000, 40, 2),
        (5_000, 59, 2),
        (29_000, 100, 29),
        (57_000, 100, 57),
        (50_000, 1, 0),
        (50_000, 3, 1),
        (33_300, 10, 3),
        (500, 1_000, 5),
        (0, 10_000, 0),
        (100_000, 7, 7),
        (100_000, 0, 0),
    ];
    for &(thousandths, size, expected) in table {
        assert_eq!(
            check_percent_budget(thousandths, size),
            expected,
            "max_failed {} on a wave of {size}",
            &label(&[Pct(thousandths)])[1..]
        );
    }
    for size in 0..=200 {
        for whole in 0..=100 {
            check_percent_budget(whole * 1000, size);
        }
        for thousandths in [1, 500, 1_500, 12_500, 33_300, 99_900, 99_999] {
            check_percent_budget(thousandths, size);
        }
    }
    let mut rng = Lcg(0x00B0_D6E7);
    for _ in 0..3_000 {
        let thousandths = rng.log_range(0, 100_000);
        let size = usize::try_from(rng.log_range(0, 10_000)).unwrap();
        check_percent_budget(thousandths, size);
    }
}

#[test]
fn a_percent_budget_on_canary_waves() {
    // `stages [1%, 10%, 30%, 100%]` with `max_failed 2%` on 1,000 hosts: the canary
    // wave of 10 hosts may lose none; the later waves 1, 4 and 14.
    let waves = plan(1_000, &stages(&[pct(1), pct(10), pct(30), HUNDRED]));
    let allowed: Vec<usize> = waves
        .iter()
        .map(|wave| allowed_failures("2% of a wave", wave.len(), Budget::Percent(2.0)))
        .collect();
    assert_eq!(allowed, [0, 1, 4, 14]);
}
