//! Any bytes through the whole pipeline as `runbook check` and `runbook graph` run it,
//! every graph rendering included, plus the formatter: what `fmt` prints from a file
//! that parses must parse again without a syntax error, or `fmt` would break a runbook.

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
    assert!(
        parsed.runbook.is_some() && errors.is_empty(),
        "fmt produced text that does not parse: {errors:?}\n--- input\n{}\n--- formatted\n{formatted}",
        file.text()
    );
}

fn errors(parsed: &parse::Parsed) -> Vec<String> {
    parsed
        .diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.is_error())
        .map(|diagnostic| format!("{}: {}", diagnostic.code, diagnostic.message))
        .collect()
}
