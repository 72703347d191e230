//! Small pieces of wording shared by the passes: "did you mean", durations, lists.

use std::fmt::Display;

pub(super) use crate::diagnostic::closest;

/// " Did you mean `x`?" or nothing, to append to a help line.
pub(super) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    closest(name, candidates)
        .map(|candidate| format!(" Did you mean `{candidate}`?"))
        .unwrap_or_default()
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
