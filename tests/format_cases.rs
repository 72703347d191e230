//! `runbook fmt` on messy inputs: every `tests/cases/format/*.rbk` is formatted and the
//! result compared with a snapshot. Formatting the result again must change nothing.
//! To add a case, drop a file in tests/cases/format and run
//! `INSTA_UPDATE=always cargo test --test format_cases`, then read the new snapshot.

use std::fs;

use runbook::format::format;
use runbook::parse::parse;
use runbook::source::{self, SourceFile};

fn formatted(file: &SourceFile) -> String {
    let parsed = parse(file).expect("no internal error");
    assert!(
        parsed.diagnostics.iter().all(|d| !d.is_error()),
        "{} does not parse: {:#?}",
        file.name(),
        parsed.diagnostics
    );
    let runbook = parsed.runbook.expect("a parsed runbook");
    format(file, &runbook)
}

#[test]
fn formatted_cases() {
    insta::glob!("cases/format/*.rbk", |path| {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let file = source::from_bytes(&name, fs::read(path).expect("case is readable"))
            .expect("case is loadable");
        let once = formatted(&file);
        let twice = formatted(&SourceFile::new(name.as_str(), once.as_str()));
        assert_eq!(once, twice, "formatting {name} again changed it");
        insta::assert_snapshot!(once);
    });
}
