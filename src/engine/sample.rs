//! Choosing a share of hosts at random, reproducibly: the same seed, key and pool give
//! the same hosts in every version of runbook, because the generator (SplitMix64) and
//! the shuffle (a partial Fisher-Yates) are written here and never change. The choice
//! is also logged, so a resume or a replay reads it rather than choosing again.

/// `percent` of `pool` (rounded up, at least one host when there are any), in the
/// pool's order.
pub fn choose(mut pool: Vec<String>, percent: f64, seed: u64, key: &str) -> Vec<String> {
    let wanted = count(pool.len(), percent);
    let mut state = seed ^ fnv1a(key);
    let mut picked: Vec<usize> = (0..pool.len()).collect();
    for slot in 0..wanted {
        let left = (picked.len() - slot) as u64;
        let offset = usize::try_from(splitmix64(&mut state) % left).unwrap_or(0);
        picked.swap(slot, slot + offset);
    }
    let mut chosen: Vec<usize> = picked.into_iter().take(wanted).collect();
    chosen.sort_unstable();
    chosen
        .into_iter()
        .map(|index| std::mem::take(&mut pool[index]))
        .collect()
}

/// How many hosts `percent` of `hosts` is: rounded up, at least one of a non-empty
/// pool, never more than the pool.
pub fn count(hosts: usize, percent: f64) -> usize {
    if hosts == 0 || !percent.is_finite() || percent <= 0.0 {
        return 0;
    }
    let share = (hosts as f64 * percent / 100.0).ceil();
    (share as usize).clamp(1, hosts)
}

/// SplitMix64 (Steele, Lea and Flood): small, fast, and fixed forever here.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a of the key, so two sampled steps of one run choose independently.
fn fnv1a(key: &str) -> u64 {
    key.bytes().fold(0xCBF2_9CE4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("h{i:02}")).collect()
    }

    #[test]
    fn shares_round_up_to_at_least_one_host() {
        assert_eq!(count(0, 10.0), 0);
        assert_eq!(count(1, 1.0), 1);
        assert_eq!(count(50, 10.0), 5);
        assert_eq!(count(51, 10.0), 6);
        assert_eq!(count(10, 100.0), 10);
        assert_eq!(count(10, 0.0), 0);
    }

    #[test]
    fn the_same_seed_and_key_choose_the_same_hosts_in_order() {
        let first = choose(hosts(40), 25.0, 7, "check");
        assert_eq!(first.len(), 10);
        assert_eq!(first, choose(hosts(40), 25.0, 7, "check"));
        let mut sorted = first.clone();
        sorted.sort();
        assert_eq!(first, sorted, "in the pool's order");
        sorted.dedup();
        assert_eq!(sorted.len(), 10, "no host twice");
        assert_ne!(first, choose(hosts(40), 25.0, 8, "check"), "another seed");
        assert_ne!(first, choose(hosts(40), 25.0, 7, "other"), "another step");
    }

    #[test]
    fn the_choice_is_frozen() {
        // Changing the generator would change every replay's hosts: this pins it.
        assert_eq!(
            choose(hosts(10), 30.0, 42, "spot_check"),
            ["h02", "h03", "h08"]
        );
    }
}
