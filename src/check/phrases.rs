//! Small pieces of wording shared by the passes: "did you mean", durations, lists.

use std::fmt::Display;

/// Names longer than this are not typed by hand, so no typo is looked for.
const LONGEST_SUGGESTED: usize = 64;

/// The candidate closest to `name`, when it is close enough to be a typo of it.
pub(super) fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let length = name.chars().count();
    if length > LONGEST_SUGGESTED {
        return None;
    }
    let limit = (length / 3).max(1);
    candidates
        .into_iter()
        .filter(|candidate| *candidate != name)
        .filter(|candidate| candidate.chars().count().abs_diff(length) <= limit)
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// " Did you mean `x`?" or nothing, to append to a help line.
pub(super) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    closest(name, candidates)
        .map(|candidate| format!(" Did you mean `{candidate}`?"))
        .unwrap_or_default()
}

/// Edit distance over characters, case-insensitively (a wrong case is a typo), where
/// swapping two neighbours counts as one edit (optimal string alignment).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let width = b.len() + 1;
    let mut table = vec![0; (a.len() + 1) * width];
    let at = |i: usize, j: usize| i * width + j;
    for i in 0..=a.len() {
        table[at(i, 0)] = i;
    }
    for j in 0..=b.len() {
        table[at(0, j)] = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (table[at(i - 1, j)] + 1)
                .min(table[at(i, j - 1)] + 1)
                .min(table[at(i - 1, j - 1)] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[at(i - 2, j - 2)] + 1);
            }
            table[at(i, j)] = best;
        }
    }
    table[at(a.len(), b.len())]
}

pub(super) use crate::ast::duration_text as duration;

/// "`a`", "`a` and `b`", "`a`, `b` and `c`".
pub(super) fn quoted_list<T: Display>(items: &[T]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("`{item}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_are_suggested() {
        let names = ["commander", "executor", "comms"];
        assert_eq!(closest("comander", names), Some("commander"));
        assert_eq!(closest("Executor", names), Some("executor"));
        assert_eq!(closest("dba", names), None);
        assert_eq!(closest("exectuor", names), Some("executor"));
        assert_eq!(closest("egde", ["edge"]), Some("edge"));
        assert_eq!(closest("comms", names), None);
    }

    #[test]
    fn durations_print_in_canonical_form() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(500), "500ms");
        assert_eq!(duration(90_000), "1m30s");
        assert_eq!(duration(5_400_000), "1h30m");
        assert_eq!(duration(90_000_000), "1d1h");
    }

    #[test]
    fn lists_read_as_prose() {
        assert_eq!(quoted_list::<&str>(&[]), "");
        assert_eq!(quoted_list(&["a"]), "`a`");
        assert_eq!(quoted_list(&["a", "b", "c"]), "`a`, `b` and `c`");
    }
}
