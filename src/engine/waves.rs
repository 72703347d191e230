//! Canary waves: which hosts of an inventory each wave of a `waves` block takes, and
//! whether the hosts that failed in a wave are within its failure budget.
//!
//! Hosts are named by their index in the inventory's order, so a plan is a list of
//! ranges: contiguous, in order, disjoint, never empty, and together exactly
//! `0..host_count`. The rules, with their reasons, are in docs/waves.md; in short:
//!
//! - Percentages are cumulative shares of the inventory. Each is turned into a host
//!   count by rounding up (as Argo Rollouts' `setWeight` does), computed exactly on the
//!   decimal that was written, so `7%` of 100 hosts is 7 hosts, never 8.
//! - Every wave takes at least one host while hosts remain. A stage whose share earlier
//!   waves already reach still takes one more host rather than being skipped, so wave
//!   `k` is stage `k` whenever the inventory has hosts enough.
//! - The last percentage stage always ends at the last host. Once every host is taken,
//!   the stages left over make no wave.
//! - Counts are batch sizes in hosts, and the last size repeats until every host is done
//!   (as Ansible's `serial` list does); a batch larger than what is left takes what is
//!   left.
//! - A failure budget in percent is a share of the wave's own size, rounded down.

use std::ops::Range;

use crate::compile::{Budget, Stage};

/// Which hosts (by index into the inventory's order) each wave takes.
///
/// The ranges are contiguous, in order, disjoint, never empty, and cover exactly
/// `0..host_count`: an inventory of 0 hosts has no wave, and an empty `stages` list
/// (which the checker refuses) is one wave of every host.
///
/// - [`Stage::Percent`] is a cumulative share of the inventory: the wave ends at
///   `ceil(share * host_count / 100)` hosts done, computed exactly on the decimal the
///   share was written as. If earlier waves already reach that many hosts, the wave
///   takes one host more, so no stage is skipped while hosts remain. The last stage
///   ends at `host_count` whatever its share (the checker requires it to be 100%).
/// - [`Stage::Hosts`] is a batch of that many more hosts (at least 1), cut short by the
///   end of the inventory. After the list, the last batch size repeats until every host
///   is done.
///
/// Lists that mix both forms, do not grow or stop short of 100% are errors of the
/// checker; they are still planned stage by stage under the same rules, so the
/// guarantees above hold for any input. Shares at or below 0% (or NaN) count as 0%,
/// shares over 100% as 100%.
pub fn plan(host_count: usize, stages: &[Stage]) -> Vec<Range<usize>> {
    let mut waves = Vec::new();
    if host_count == 0 {
        return waves;
    }
    let Some((last, before_last)) = stages.split_last() else {
        waves.push(0..host_count);
        return waves;
    };
    let mut done = 0;
    for stage in before_last {
        if done == host_count {
            return waves;
        }
        let end = match *stage {
            Stage::Percent(share) => share_of(share, host_count, Rounding::Up).max(done + 1),
            Stage::Hosts(batch) => done.saturating_add(batch_size(batch)),
        }
        .min(host_count);
        waves.push(done..end);
        done = end;
    }
    match *last {
        Stage::Percent(_) => {
            if done < host_count {
                waves.push(done..host_count);
            }
        }
        Stage::Hosts(batch) => {
            let size = batch_size(batch);
            while done < host_count {
                let end = done.saturating_add(size).min(host_count);
                waves.push(done..end);
                done = end;
            }
        }
    }
    waves
}

/// Whether a wave of `wave_size` hosts, `failed` of which failed, is within its
/// failure budget (`max_failed`): the wave fails only when more hosts failed than the
/// budget allows, so exactly the budget is still allowed.
///
/// - [`Budget::Hosts`]: that many hosts may fail; `max_failed 0` allows none.
/// - [`Budget::Percent`]: a share of this wave's size, rounded down and computed
///   exactly on the decimal written: `max_failed 5%` allows 2 failures in a wave of 40
///   or of 59 hosts, and none in a wave of 19. A small wave with a small share allows
///   no failure at all. Shares at or below 0% (or NaN) allow none; over 100%, every
///   host may fail.
pub fn budget_allows(failed: usize, wave_size: usize, budget: Budget) -> bool {
    let allowed = match budget {
        Budget::Hosts(hosts) => usize::try_from(hosts).unwrap_or(usize::MAX),
        Budget::Percent(share) => share_of(share, wave_size, Rounding::Down),
    };
    failed <= allowed
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rounding {
    Up,
    Down,
}

/// A batch of `hosts` hosts, at least one (a batch of 0 is a checker error).
fn batch_size(hosts: u64) -> usize {
    usize::try_from(hosts).unwrap_or(usize::MAX).max(1)
}

/// `percent`% of `count`, rounded as asked, clamped to `0..=count`.
///
/// The share is taken as the shortest decimal that reads back as the same `f64`, which
/// is the decimal written in the runbook (the parser reads `7%` as the `f64` nearest to
/// 7), and the product is worked out in integers. Multiplying in floating point instead
/// is off by one host for some shares: `100.0 * (7.0 / 100.0)` is `7.000000000000001`,
/// which rounds up to 8, and `100.0 * (29.0 / 100.0)` is `28.999999999999996`, which
/// rounds down to 28.
fn share_of(percent: f64, count: usize, rounding: Rounding) -> usize {
    if count == 0 || percent.is_nan() || percent <= 0.0 {
        return 0;
    }
    if percent >= 100.0 {
        return count;
    }
    let (numerator, scale) = decimal(percent);
    // `numerator` has at most 17 significant digits (the shortest form of an f64), so
    // `numerator * count` stays under 10^17 * 2^64 < 10^37.
    let product = numerator * count as u128;
    let (quotient, remainder) = match 10u128.checked_pow(scale + 2) {
        Some(denominator) => (product / denominator, product % denominator),
        // A denominator past 10^38 is larger than any product: under one host.
        None => (0, product),
    };
    let share = match rounding {
        Rounding::Up if remainder != 0 => quotient + 1,
        _ => quotient,
    };
    // The share is under 100%, so it is at most `count`.
    usize::try_from(share).map_or(count, |share| share.min(count))
}

/// A positive, finite `value` as `numerator / 10^scale`, from its shortest decimal form.
/// Rust prints an `f64` with `{}` as plain digits, never with an exponent.
fn decimal(value: f64) -> (u128, u32) {
    let text = value.to_string();
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let numerator = whole
        .bytes()
        .chain(fraction.bytes())
        .filter(u8::is_ascii_digit)
        .fold(0u128, |number, digit| {
            number
                .saturating_mul(10)
                .saturating_add(u128::from(digit - b'0'))
        });
    let scale = u32::try_from(fraction.len()).unwrap_or(u32::MAX);
    (numerator, scale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use Stage::{Hosts, Percent};

    /// Wave sizes, runs of one size written once with a count: `10, 30, 60×15`.
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

    /// The guarantees every plan keeps, whatever its stages.
    fn assert_covers(host_count: usize, waves: &[Range<usize>]) {
        let mut next = 0;
        for wave in waves {
            assert_eq!(wave.start, next, "waves are contiguous: {waves:?}");
            assert!(wave.end > wave.start, "no empty wave: {waves:?}");
            next = wave.end;
        }
        assert_eq!(
            next, host_count,
            "the waves take every host once: {waves:?}"
        );
    }

    const SEED: &[Stage] = &[Percent(1.0), Percent(10.0), Percent(30.0), Percent(100.0)];
    const QUARTERS: &[Stage] = &[Percent(25.0), Percent(50.0), Percent(100.0)];
    const ALL: &[Stage] = &[Percent(100.0)];
    const BATCHES: &[Stage] = &[Hosts(10), Hosts(30), Hosts(60)];
    const ONE_BY_ONE: &[Stage] = &[Hosts(1)];
    const FIVES: &[Stage] = &[Hosts(5), Hosts(5)];

    #[test]
    fn plans_read_as_the_reference_says() {
        #[rustfmt::skip]
        let table: &[(usize, &[Stage], &str)] = &[
            // Cumulative shares, rounded up; a stage already reached takes one host more.
            (1, SEED, "1"),
            (2, SEED, "1×2"),
            (3, SEED, "1×3"),
            (10, SEED, "1×3, 7"),
            (99, SEED, "1, 9, 20, 69"),
            (100, SEED, "1, 9, 20, 70"),
            (101, SEED, "2, 9, 20, 70"),
            (1000, SEED, "10, 90, 200, 700"),
            (10000, SEED, "100, 900, 2000, 7000"),
            (1, QUARTERS, "1"),
            (2, QUARTERS, "1×2"),
            (3, QUARTERS, "1×3"),
            (10, QUARTERS, "3, 2, 5"),
            (99, QUARTERS, "25×2, 49"),
            (100, QUARTERS, "25×2, 50"),
            (101, QUARTERS, "26, 25, 50"),
            (1000, QUARTERS, "250×2, 500"),
            (10000, QUARTERS, "2500×2, 5000"),
            (1, ALL, "1"),
            (2, ALL, "2"),
            (3, ALL, "3"),
            (10, ALL, "10"),
            (99, ALL, "99"),
            (100, ALL, "100"),
            (101, ALL, "101"),
            (1000, ALL, "1000"),
            (10000, ALL, "10000"),
            // Batches; the last size repeats, and the inventory's end cuts a batch short.
            (1, BATCHES, "1"),
            (2, BATCHES, "2"),
            (3, BATCHES, "3"),
            (10, BATCHES, "10"),
            (99, BATCHES, "10, 30, 59"),
            (100, BATCHES, "10, 30, 60"),
            (101, BATCHES, "10, 30, 60, 1"),
            (1000, BATCHES, "10, 30, 60×16"),
            (10000, BATCHES, "10, 30, 60×166"),
            (1, ONE_BY_ONE, "1"),
            (2, ONE_BY_ONE, "1×2"),
            (3, ONE_BY_ONE, "1×3"),
            (10, ONE_BY_ONE, "1×10"),
            (99, ONE_BY_ONE, "1×99"),
            (100, ONE_BY_ONE, "1×100"),
            (101, ONE_BY_ONE, "1×101"),
            (1000, ONE_BY_ONE, "1×1000"),
            (10000, ONE_BY_ONE, "1×10000"),
            (1, FIVES, "1"),
            (2, FIVES, "2"),
            (3, FIVES, "3"),
            (10, FIVES, "5×2"),
            (99, FIVES, "5×19, 4"),
            (100, FIVES, "5×20"),
            (101, FIVES, "5×20, 1"),
            (1000, FIVES, "5×200"),
            (10000, FIVES, "5×2000"),
        ];
        for &(host_count, stages, expected) in table {
            let waves = plan(host_count, stages);
            assert_covers(host_count, &waves);
            assert_eq!(sizes(&waves), expected, "{host_count} hosts, {stages:?}");
        }
    }

    #[test]
    fn ranges_name_the_hosts_in_inventory_order() {
        assert_eq!(plan(10, SEED), vec![0..1, 1..2, 2..3, 3..10]);
        assert_eq!(plan(101, BATCHES), vec![0..10, 10..40, 40..100, 100..101]);
    }

    #[test]
    fn no_hosts_no_waves() {
        for stages in [SEED, QUARTERS, ALL, BATCHES, ONE_BY_ONE, FIVES, &[]] {
            assert_eq!(plan(0, stages), Vec::<Range<usize>>::new());
        }
    }

    #[test]
    fn shares_are_exact_on_the_decimal_written() {
        assert_eq!(share_of(1.0, 100, Rounding::Up), 1);
        assert_eq!(share_of(10.0, 10, Rounding::Up), 1);
        assert_eq!(share_of(30.0, 10, Rounding::Up), 3);
        assert_eq!(share_of(0.5, 10_000, Rounding::Up), 50);
        assert_eq!(share_of(0.5, 10, Rounding::Up), 1);
        assert_eq!(share_of(33.3, 10, Rounding::Up), 4);
        assert_eq!(share_of(33.3, 1000, Rounding::Up), 333);
        assert_eq!(share_of(12.5, 8, Rounding::Up), 1);
        assert_eq!(share_of(0.0000001, 10_000, Rounding::Up), 1);
        assert_eq!(share_of(1e-300, 10_000, Rounding::Up), 1);
        assert_eq!(share_of(1e-300, 10_000, Rounding::Down), 0);
        assert_eq!(share_of(99.99, 10_000, Rounding::Up), 9999);
        assert_eq!(share_of(99.999, 10_000, Rounding::Up), 10_000);
        assert_eq!(share_of(99.999, 10_000, Rounding::Down), 9999);
        // Where `count * (p / 100.0)` in floating point is off by one host.
        assert_eq!(share_of(7.0, 100, Rounding::Up), 7);
        assert_eq!(share_of(29.0, 100, Rounding::Down), 29);
        for percent in 1..=100u32 {
            for rounding in [Rounding::Up, Rounding::Down] {
                assert_eq!(
                    share_of(f64::from(percent), 100, rounding),
                    percent as usize
                );
            }
        }
    }

    #[test]
    fn shares_out_of_range_are_clamped() {
        for share in [0.0, -0.0, -5.0, f64::NAN, f64::NEG_INFINITY] {
            assert_eq!(share_of(share, 100, Rounding::Up), 0);
        }
        for share in [100.0, 150.0, 1e300, f64::INFINITY] {
            assert_eq!(share_of(share, 100, Rounding::Up), 100);
        }
        assert_eq!(share_of(50.0, usize::MAX, Rounding::Up), usize::MAX / 2 + 1);
        assert_eq!(share_of(50.0, usize::MAX, Rounding::Down), usize::MAX / 2);
    }

    #[test]
    fn every_wave_takes_at_least_one_host() {
        // 1% of 10 hosts is a tenth of a host, so one host.
        assert_eq!(plan(10, &[Percent(1.0), Percent(100.0)]), vec![0..1, 1..10]);
        // 10% of 5 hosts rounds up to 1, which the first wave already took: one more.
        assert_eq!(
            plan(5, &[Percent(1.0), Percent(10.0), Percent(100.0)]),
            vec![0..1, 1..2, 2..5]
        );
        // Shares can be passed early on a small inventory, one host a wave.
        assert_eq!(
            plan(
                10,
                &[
                    Percent(1.0),
                    Percent(2.0),
                    Percent(3.0),
                    Percent(4.0),
                    Percent(5.0),
                    Percent(100.0)
                ]
            ),
            vec![0..1, 1..2, 2..3, 3..4, 4..5, 5..10]
        );
        // A share that already takes every host ends the rollout early.
        assert_eq!(plan(10, &[Percent(99.9), Percent(100.0)]), vec![0..10]);
    }

    #[test]
    fn lists_the_checker_refuses_still_cover_the_inventory() {
        assert_eq!(plan(7, &[]), vec![0..7]);
        // Does not end at 100%: the last stage still ends at the last host.
        assert_eq!(plan(10, &[Percent(10.0), Percent(50.0)]), vec![0..1, 1..10]);
        // Does not grow: the smaller share takes one host more.
        assert_eq!(
            plan(10, &[Percent(50.0), Percent(10.0), Percent(100.0)]),
            vec![0..5, 5..6, 6..10]
        );
        // Mixed: each stage read by its own form; the last batch size repeats.
        assert_eq!(
            plan(10, &[Percent(20.0), Hosts(3)]),
            vec![0..2, 2..5, 5..8, 8..10]
        );
        assert_eq!(
            plan(10, &[Hosts(3), Percent(50.0), Percent(100.0)]),
            vec![0..3, 3..5, 5..10]
        );
        // Zero, out of range and huge values.
        assert_eq!(plan(3, &[Hosts(0)]), vec![0..1, 1..2, 2..3]);
        assert_eq!(plan(3, &[Hosts(u64::MAX)]), vec![0..3]);
        assert_eq!(
            plan(3, &[Percent(0.0), Percent(f64::NAN), Percent(100.0)]),
            vec![0..1, 1..2, 2..3]
        );
        assert_eq!(plan(3, &[Percent(250.0), Percent(100.0)]), vec![0..3]);
    }

    /// Plain integers: the seed plan's ends for `host_count` hosts, written out.
    fn seed_ends(host_count: usize) -> Vec<usize> {
        let target = |percent: usize| (host_count * percent).div_ceil(100);
        let mut ends = Vec::new();
        let mut done = 0;
        for end in [target(1), target(10), target(30), host_count] {
            if done == host_count {
                break;
            }
            done = end.max(done + 1).min(host_count);
            ends.push(done);
        }
        ends
    }

    #[test]
    fn the_seed_plan_holds_for_every_inventory_up_to_ten_thousand() {
        for host_count in 1..=10_000 {
            let waves = plan(host_count, SEED);
            assert_covers(host_count, &waves);
            let ends: Vec<usize> = waves.iter().map(|wave| wave.end).collect();
            assert_eq!(ends, seed_ends(host_count), "{host_count} hosts");
            assert_eq!(waves.len(), host_count.min(4), "{host_count} hosts");
            assert_eq!(
                waves[0].len(),
                host_count.div_ceil(100),
                "{host_count} hosts"
            );
        }
    }

    /// Strictly growing shares in hundredths of a percent, ending at 100%.
    fn percent_stages() -> impl Strategy<Value = Vec<u32>> {
        prop::collection::btree_set(1u32..10_000, 0..8).prop_map(|hundredths| {
            let mut hundredths: Vec<u32> = hundredths.into_iter().collect();
            hundredths.push(10_000);
            hundredths
        })
    }

    proptest! {
        #[test]
        fn percentages_are_cumulative_rounded_up_and_never_skip_a_stage(
            host_count in 1usize..=10_000,
            hundredths in percent_stages(),
        ) {
            let stages: Vec<Stage> =
                hundredths.iter().map(|&h| Percent(f64::from(h) / 100.0)).collect();
            let waves = plan(host_count, &stages);
            assert_covers(host_count, &waves);
            prop_assert!(waves.len() <= stages.len());
            let mut done = 0;
            for (index, wave) in waves.iter().enumerate() {
                let target = (host_count * hundredths[index] as usize).div_ceil(10_000);
                // Never behind the share, and ahead of it only by the one host a wave
                // takes when the share is already reached.
                prop_assert_eq!(wave.end, target.max(done + 1).min(host_count));
                done = wave.end;
            }
            // Stages make no wave only once every host is taken.
            if waves.len() < stages.len() {
                prop_assert_eq!(done, host_count);
            }
        }

        #[test]
        fn batches_take_their_size_and_the_last_size_repeats(
            host_count in 1usize..=10_000,
            batches in prop::collection::vec(1u64..=2_000, 1..6),
        ) {
            let stages: Vec<Stage> = batches.iter().map(|&b| Hosts(b)).collect();
            let waves = plan(host_count, &stages);
            assert_covers(host_count, &waves);
            let last = *batches.last().unwrap() as usize;
            for (index, wave) in waves.iter().enumerate() {
                let batch = batches.get(index).map_or(last, |&b| b as usize);
                prop_assert_eq!(wave.len(), batch.min(host_count - wave.start));
            }
        }

        #[test]
        fn shares_match_integer_arithmetic_on_the_decimal(
            count in 0usize..=1_000_000,
            millionths in 1u64..100_000_000,
        ) {
            let share = millionths as f64 / 1e6;
            let exact = u128::from(millionths) * count as u128;
            let whole = 100_000_000u128;
            prop_assert_eq!(share_of(share, count, Rounding::Down) as u128, exact / whole);
            prop_assert_eq!(share_of(share, count, Rounding::Up) as u128, exact.div_ceil(whole));
        }

        #[test]
        fn any_stage_list_covers_the_inventory(
            host_count in 0usize..=10_000,
            stages in prop::collection::vec(
                prop_oneof![
                    any::<f64>().prop_map(Percent),
                    any::<u64>().prop_map(Hosts),
                    (0u64..50).prop_map(Hosts),
                ],
                0..6,
            ),
        ) {
            assert_covers(host_count, &plan(host_count, &stages));
        }
    }

    #[test]
    fn host_budgets_allow_that_many_failures() {
        assert!(budget_allows(0, 10, Budget::Hosts(0)));
        assert!(!budget_allows(1, 10, Budget::Hosts(0)));
        assert!(budget_allows(2, 10, Budget::Hosts(2)));
        assert!(!budget_allows(3, 10, Budget::Hosts(2)));
        assert!(budget_allows(1, 1, Budget::Hosts(2)));
        assert!(budget_allows(
            usize::MAX,
            usize::MAX,
            Budget::Hosts(u64::MAX)
        ));
    }

    #[test]
    fn percent_budgets_are_a_share_of_the_wave_rounded_down() {
        // 2% of 10 hosts is a fifth of a host: no failure is allowed.
        assert!(budget_allows(0, 10, Budget::Percent(2.0)));
        assert!(!budget_allows(1, 10, Budget::Percent(2.0)));
        // 2% of 100 is 2; of 149, 2.98, so still 2; of 150, 3.
        assert!(budget_allows(2, 100, Budget::Percent(2.0)));
        assert!(!budget_allows(3, 100, Budget::Percent(2.0)));
        assert!(!budget_allows(3, 149, Budget::Percent(2.0)));
        assert!(budget_allows(3, 150, Budget::Percent(2.0)));
        // 5% of 40 and of 59 is 2; of 19, none.
        assert!(budget_allows(2, 40, Budget::Percent(5.0)));
        assert!(budget_allows(2, 59, Budget::Percent(5.0)));
        assert!(!budget_allows(3, 59, Budget::Percent(5.0)));
        assert!(!budget_allows(1, 19, Budget::Percent(5.0)));
        // Exact where floating point would say 28.999...: 29% of 100 allows 29.
        assert!(budget_allows(29, 100, Budget::Percent(29.0)));
        assert!(budget_allows(57, 100, Budget::Percent(57.0)));
        // 0% allows none; 100% and over allow the whole wave.
        assert!(!budget_allows(1, 1000, Budget::Percent(0.0)));
        assert!(budget_allows(7, 7, Budget::Percent(100.0)));
        assert!(budget_allows(7, 7, Budget::Percent(150.0)));
        assert!(!budget_allows(1, 1000, Budget::Percent(f64::NAN)));
        // An empty wave has nothing to fail.
        assert!(budget_allows(0, 0, Budget::Percent(5.0)));
        assert!(budget_allows(0, 0, Budget::Hosts(0)));
    }
}
