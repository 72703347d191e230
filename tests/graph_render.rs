//! The drawn and serialised views of every graph case, checked by what consumes them:
//! the real Graphviz `dot` for the dot view, structure for Mermaid (no renderer is
//! installed), serde_json for the JSON form.
//!
//! `dot` comes from Graphviz (`apt-get install graphviz`; .ci/run installs it). In CI
//! (`CI` set) a missing `dot` fails these tests. On a machine with only the Rust
//! toolchain, where `cargo test` must still pass, they say on stderr that they did
//! not run and return; every other view is still checked.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::Test;
use runbook::compile::{Graph, NodeKind};
use runbook::pipeline::{check_source, Options};
use runbook::source;

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/graph");
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("tests/cases/graph exists")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rbk"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 6,
        "expected the graph cases, found {cases:?}"
    );
    cases
}

fn graph(path: &Path) -> Graph {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let file = source::from_bytes(&name, fs::read(path).expect("case is readable"))
        .unwrap_or_else(|error| panic!("{name} is not loadable: {error}"));
    let options = Options {
        base_dir: path.parent().map(Path::to_path_buf),
        ..Options::default()
    };
    let outcome = check_source(&file, &options).expect("no internal error");
    match outcome.graph() {
        Some(graph) => graph.clone(),
        None => panic!("{name} does not check clean: {:#?}", outcome.diagnostics),
    }
}

/// Runs `dot -Tsvg` on `source`: the SVG, after asserting that dot succeeded and
/// said nothing (Graphviz reports syntax slips and bad attributes as warnings).
fn render_svg(source: &str, case: &str) -> String {
    let mut child = match Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(error) => {
            panic!("cannot run Graphviz `dot` ({error}); install it: apt-get install -y graphviz")
        }
    };
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(source.as_bytes())
        .expect("dot reads its input");
    let output = child.wait_with_output().expect("dot finishes");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "dot failed on {case}: {stderr}\n{source}"
    );
    assert!(
        stderr.trim().is_empty(),
        "dot warned on {case}: {stderr}\n{source}"
    );
    String::from_utf8(output.stdout).expect("dot writes UTF-8 SVG")
}

/// Text as Graphviz writes it into SVG.
fn svg_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('-', "&#45;")
}

/// The id a drawn view gives a node.
fn view_id(id: &str) -> String {
    match id.strip_prefix("rollback:") {
        Some(step) => format!("r_{step}"),
        None => format!("n_{id}"),
    }
}

/// Whether `dot` can run here; without it, outside CI, a test says so and returns.
fn dot_available(test: &str) -> bool {
    let found = Command::new("dot")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "Graphviz `dot` is missing in CI; .ci/run installs it (apt-get install -y graphviz)"
        );
        eprintln!("NOT RUN: {test} needs Graphviz `dot` (apt-get install graphviz)");
    }
    found
}

#[test]
fn dot_renders_every_case_without_warnings() {
    if !dot_available("dot_renders_every_case_without_warnings") {
        return;
    }
    let mut chinese_titles = 0;
    for path in cases() {
        let case = path.display().to_string();
        let graph = graph(&path);
        let svg = render_svg(&graph.to_dot(), &case);
        for node in graph.nodes() {
            let first_line = match node.kind {
                NodeKind::Rollback { .. } => format!("undo {}", node.name),
                _ => node.id.to_string(),
            };
            assert!(
                svg.contains(&format!(">{}<", svg_escape(&first_line))),
                "{case}: the SVG lacks node {}",
                node.id
            );
            if let Some(description) = &node.description {
                for line in description.lines() {
                    assert!(
                        svg.contains(&svg_escape(line)),
                        "{case}: the SVG lacks the description line {line:?}"
                    );
                }
            }
            if let NodeKind::Waves { .. } = node.kind {
                assert!(
                    svg.contains(&format!("<title>cluster_{}</title>", node.id)),
                    "{case}: waves {} has no frame",
                    node.id
                );
            }
        }
        for edge in graph.edges() {
            if edge.kind == runbook::compile::EdgeKind::Rollback {
                let title = format!(
                    "<title>{}&#45;&gt;{}</title>",
                    view_id(&edge.from),
                    view_id(&edge.to)
                );
                assert!(svg.contains(&title), "{case}: no rollback edge {title}");
            }
        }
        if let Some(title) = &graph.header().title {
            assert!(
                svg.contains(&svg_escape(title)),
                "{case}: the SVG lacks the title {title:?}"
            );
            if title
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
            {
                chinese_titles += 1;
            }
        }
    }
    assert!(
        chinese_titles > 0,
        "no graph case has a Chinese title to carry through"
    );
}

#[test]
fn dot_through_the_command_line_renders() {
    if !dot_available("dot_through_the_command_line_renders") {
        return;
    }
    let case = "tests/cases/graph/canary-waves-high.rbk";
    let output = Test::new()
        .shipped(case)
        .args(["graph", case, "--format", "dot"])
        .run();
    let svg = render_svg(&output.stdout, case);
    assert!(svg.contains("云主机系统升级 — 支付集群"));
    assert!(svg.contains(">install<"));
}

/// The labels of a Mermaid line: the text between each pair of quotes.
fn quoted_segments(line: &str) -> Vec<&str> {
    line.split('"').skip(1).step_by(2).collect()
}

#[test]
fn mermaid_has_every_node_and_a_subgraph_per_waves() {
    for path in cases() {
        let case = path.display().to_string();
        let graph = graph(&path);
        let mermaid = graph.to_mermaid();
        let lines: Vec<&str> = mermaid.lines().collect();
        assert_eq!(lines.first(), Some(&"flowchart TD"), "{case}");

        let mut defined = Vec::new();
        for line in &lines {
            let line = line.trim();
            let declaration = line.strip_prefix("subgraph ").unwrap_or(line);
            let id: String = declaration
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let rest = &declaration[id.len()..];
            if !id.is_empty() && rest.starts_with(['[', '{', '(']) {
                defined.push(id);
            }
        }
        for node in graph.nodes() {
            let id = view_id(&node.id);
            assert_eq!(
                defined.iter().filter(|defined| **defined == id).count(),
                1,
                "{case}: {id} is not defined exactly once in\n{mermaid}"
            );
        }

        let waves = graph
            .nodes()
            .iter()
            .filter(|node| matches!(node.kind, NodeKind::Waves { .. }))
            .count();
        let subgraphs = lines
            .iter()
            .filter(|line| line.trim_start().starts_with("subgraph "))
            .count();
        let ends = lines.iter().filter(|line| line.trim() == "end").count();
        assert_eq!(subgraphs, waves, "{case}: one subgraph per waves node");
        assert_eq!(ends, waves, "{case}: every subgraph is closed");

        for line in &lines {
            assert_eq!(
                line.matches('"').count() % 2,
                0,
                "{case}: unbalanced quotes in {line:?}"
            );
            for label in quoted_segments(line) {
                let bare = label.replace("<br/>", "");
                assert!(
                    !bare.contains(['<', '>', '`']),
                    "{case}: raw markup in label {label:?}"
                );
                for (at, _) in bare.match_indices('#') {
                    let entity: String = bare[at + 1..].chars().take_while(|c| *c != ';').collect();
                    assert!(
                        !entity.is_empty()
                            && entity.chars().all(|c| c.is_ascii_alphanumeric())
                            && bare[at + 1 + entity.len()..].starts_with(';'),
                        "{case}: `#` that is not an entity code in {label:?}"
                    );
                }
            }
        }

        let links: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|line| line.contains("-->") || line.contains("==>") || line.contains("-.->"))
            .collect();
        for link in &links {
            let words: Vec<&str> = link.split_whitespace().collect();
            for end in [words[0], words[words.len() - 1]] {
                assert!(
                    defined.iter().any(|id| id == end),
                    "{case}: link {link:?} names {end}, which is not defined"
                );
            }
        }
        if let Some(style) = lines
            .iter()
            .find_map(|line| line.trim().strip_prefix("linkStyle "))
        {
            let indices = style.split_whitespace().next().unwrap_or_default();
            for index in indices.split(',') {
                let index: usize = index.parse().expect("a link index");
                assert!(
                    links
                        .get(index)
                        .is_some_and(|link| link.contains("|rollback|")),
                    "{case}: linkStyle {index} does not point at a rollback link"
                );
            }
        }
    }
}

#[test]
fn mermaid_escapes_quotes_and_markup() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/graph/escaping-labels-low.rbk");
    let mermaid = graph(&path).to_mermaid();
    assert!(mermaid.contains("就绪检查 #quot;ready#quot;"), "{mermaid}");
    assert!(mermaid.contains("第一行<br/>第二行"), "{mermaid}");
}

#[test]
fn json_carries_every_node_edge_and_policy() {
    for path in cases() {
        let case = path.display().to_string();
        let graph = graph(&path);
        let json = serde_json::to_string(&graph).expect("the graph serialises");
        let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(
            value["header"]["name"],
            graph.header().name.as_str(),
            "{case}"
        );
        let nodes = value["nodes"].as_array().expect("nodes is an array");
        assert_eq!(nodes.len(), graph.nodes().len(), "{case}");
        for (json, node) in nodes.iter().zip(graph.nodes()) {
            assert_eq!(json["id"], &*node.id, "{case}");
            assert!(json["kind"].is_string(), "{case}: {json}");
            assert!(json["span"]["start"].is_u64(), "{case}: {json}");
        }
        let edges = value["edges"].as_array().expect("edges is an array");
        assert_eq!(edges.len(), graph.edges().len(), "{case}");
        for edge in edges {
            let kind = edge["kind"].as_str().expect("edge kind is a string");
            assert!(
                ["order", "dependency", "rollback"].contains(&kind),
                "{case}: {edge}"
            );
        }
        let policies = value["policies"].as_array().expect("policies is an array");
        assert_eq!(policies.len(), graph.policies().len(), "{case}");
        assert_eq!(
            serde_json::to_string(&self::graph(&path)).expect("serialises again"),
            json,
            "{case}: two compilations of one file give different JSON"
        );
    }
}

#[test]
fn json_shape() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/graph/every-kind-low.rbk");
    insta::assert_json_snapshot!(graph(&path));
}

#[test]
fn the_command_line_prints_each_format_of_the_same_graph() {
    let case = "tests/cases/graph/every-kind-low.rbk";
    let graph = graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join(case));
    let run = |format: &str| {
        Test::new()
            .shipped(case)
            .shipped("tests/cases/graph/scripts/health.sh")
            .args(["graph", case, "--format", format])
            .run()
            .stdout
    };
    assert_eq!(run("text"), graph.to_text());
    assert_eq!(run("mermaid"), graph.to_mermaid());
    assert_eq!(run("dot"), graph.to_dot());
    let json: serde_json::Value = serde_json::from_str(&run("json")).expect("JSON on stdout");
    assert_eq!(
        json,
        serde_json::to_value(&graph).expect("the graph serialises")
    );
}
