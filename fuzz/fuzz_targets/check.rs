//! Any bytes through the whole pipeline as `runbook check` and `runbook graph` run it,
//! every graph rendering included, plus the formatter: what `fmt` prints from a file
//! that parses must parse again without an error, to the same tree (spans aside), and
//! formatting it again must change nothing, or `fmt` would break or churn a runbook.

#![no_main]

use libfuzzer_sys::fuzz_target;
use runbook::ast::Runbook;
use runbook::pipeline::{self, Options};
use runbook::source::{self, SourceFile};
use runbook::{format, parse};

fuzz_target!(|bytes: &[u8]| {
    let Ok(file) = source::from_bytes("fuzz.rbk", bytes.to_vec()) else {
        return;
    };
    let outcome = match pipeline::check_source(&file, &Options::default()) {
        Ok(outcome) => outcome,
        Err(internal) => panic!("{internal}"),
    };
    if let Some(graph) = outcome.graph() {
        graph.to_text();
        graph.to_dot();
        graph.to_mermaid();
        if let Err(error) = serde_json::to_string(&graph) {
            panic!("the graph does not serialise: {error}");
        }
    }
    // `runbook fmt` formats only what parses without an error; hold it to the same.
    if let Some(ast) = parse_or_panic(&file) {
        assert_formatted_text_parses(&file, &ast);
    }
});

/// The tree, when the text parses without an error-level finding.
fn parse_or_panic(file: &SourceFile) -> Option<Runbook> {
    let parsed = match parse::parse(file) {
        Ok(parsed) => parsed,
        Err(internal) => panic!("{internal}"),
    };
    if errors(&parsed).is_empty() {
        parsed.runbook
    } else {
        None
    }
}

fn assert_formatted_text_parses(file: &SourceFile, ast: &Runbook) {
    let formatted = format::format(file, ast);
    let reparsed = match source::from_bytes("formatted.rbk", formatted.clone().into_bytes()) {
        Ok(reparsed) => reparsed,
        Err(error) => panic!(
            "fmt produced text the reader refuses: {error}\n--- input\n{}\n--- formatted\n{formatted}",
            file.text()
        ),
    };
    let parsed = match parse::parse(&reparsed) {
        Ok(parsed) => parsed,
        Err(internal) => panic!("{internal}"),
    };
    let errors = errors(&parsed);
    let Some(again) = parsed.runbook.filter(|_| errors.is_empty()) else {
        panic!(
            "fmt produced text that does not parse: {errors:?}\n--- input\n{}\n--- formatted\n{formatted}",
            file.text()
        );
    };
    assert_eq!(
        shape(ast),
        shape(&again),
        "fmt changed the meaning\n--- input\n{}\n--- formatted\n{formatted}",
        file.text()
    );
    let twice = format::format(&reparsed, &again);
    assert_eq!(
        twice,
        formatted,
        "fmt is not idempotent\n--- input\n{}",
        file.text()
    );
}

/// The tree without positions, comments compared by their text without trailing
/// blanks (which fmt removes).
fn shape(ast: &Runbook) -> serde_json::Value {
    fn strip(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                map.remove("span");
                if let Some(serde_json::Value::String(text)) = map.get_mut("text") {
                    *text = text.trim_end().to_string();
                }
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(ast).unwrap_or_default();
    strip(&mut value);
    value
}

fn errors(parsed: &parse::Parsed) -> Vec<String> {
    parsed
        .diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.is_error())
        .map(|diagnostic| format!("{}: {}", diagnostic.code, diagnostic.message))
        .collect()
}
