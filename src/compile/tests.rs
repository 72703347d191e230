//! Lowering rules, tested on the AST straight from the parser: these runbooks need
//! not satisfy the checker's risk rules, only show one rule of the compiler each.

use super::lower::lower;
use super::*;
use crate::ast::{FailureClass, TimeoutAction};
use crate::internal::InternalError;
use crate::parse;
use crate::source::SourceFile;

fn lowered(text: &str) -> Result<Graph, InternalError> {
    let file = SourceFile::new("test.rbk", text);
    let parsed = parse::parse(&file).expect("the parser has no internal error");
    assert!(
        parsed.diagnostics.is_empty(),
        "the test runbook does not parse: {:#?}",
        parsed.diagnostics
    );
    lower(&parsed.runbook.expect("the test runbook parses"))
}

fn graph(text: &str) -> Graph {
    lowered(text).unwrap_or_else(|error| panic!("{error}"))
}

/// Every edge as `from -> to (kind)`, in graph order.
fn edges(graph: &Graph) -> Vec<String> {
    graph
        .edges()
        .iter()
        .map(|edge| format!("{} -> {} ({:?})", edge.from, edge.to, edge.kind))
        .collect()
}

fn settings<'g>(graph: &'g Graph, id: &str) -> &'g StepSettings {
    &graph
        .node(id)
        .and_then(Node::work)
        .unwrap_or_else(|| panic!("{id} is a step"))
        .settings
}

#[test]
fn a_node_without_after_follows_the_node_before_it() {
    let graph = graph(
        r#"runbook "t" {}
        step a { readonly run "true" }
        gate b { require 1 > 0 }
        timer c 1m
        watch d { every 1m during 5m require 1 > 0 }
        step e { readonly run "true" }"#,
    );
    assert_eq!(
        edges(&graph),
        [
            "a -> b (Order)",
            "b -> c (Order)",
            "c -> d (Order)",
            "d -> e (Order)"
        ]
    );
}

#[test]
fn after_replaces_the_implicit_edge_and_lets_branches_run_in_parallel() {
    let graph = graph(
        r#"runbook "t" {}
        step start { readonly run "true" }
        step left { after start readonly run "true" }
        step right { after start readonly run "true" }
        step join { after left, right, left readonly run "true" }
        step last { readonly run "true" }"#,
    );
    assert_eq!(
        edges(&graph),
        [
            "start -> left (Dependency)",
            "start -> right (Dependency)",
            "left -> join (Dependency)",
            "right -> join (Dependency)",
            "join -> last (Order)"
        ]
    );
}

#[test]
fn after_may_name_a_node_written_further_down() {
    let graph = graph(
        r#"runbook "t" {}
        step early { after late readonly run "true" }
        step late { after early readonly run "true" }"#,
    );
    assert_eq!(
        edges(&graph),
        ["late -> early (Dependency)", "early -> late (Dependency)"]
    );
}

#[test]
fn a_waves_body_is_its_own_block() {
    let graph = graph(
        r#"runbook "t" {}
        inventory web hosts ["a", "b"]
        step before { readonly run "true" }
        waves upgrade {
          over web
          stages [50%, 100%]
          step first { readonly run "true" }
          step second { readonly run "true" }
          gate third { after first require 1 > 0 }
        }
        step after_waves { readonly run "true" }"#,
    );
    assert_eq!(
        edges(&graph),
        [
            "before -> upgrade (Order)",
            "first -> second (Order)",
            "first -> third (Dependency)",
            "upgrade -> after_waves (Order)"
        ]
    );
    let NodeKind::Waves { body, .. } = &graph.node("upgrade").expect("waves node").kind else {
        panic!("upgrade is a waves node");
    };
    let body: Vec<&str> = body.iter().map(|id| &**id).collect();
    assert_eq!(body, ["first", "second", "third"]);
    for id in body {
        let node = graph.node(id).expect("body node");
        assert_eq!(node.parent.as_deref(), Some("upgrade"));
    }
    assert_eq!(graph.node("after_waves").expect("node").parent, None);
    assert_eq!(settings(&graph, "first").target, Target::Wave);
    assert_eq!(settings(&graph, "before").target, Target::Local);
}

#[test]
fn nodes_keep_file_order_with_a_rollback_after_its_step() {
    let graph = graph(
        r#"runbook "t" {}
        inventory web hosts ["a"]
        step one { run "x" rollback "undo x" }
        waves w {
          over web
          stages [100%]
          step two { run "y" rollback "undo y" }
        }
        on failure severe { step handler { readonly run "z" } }
        step three { readonly run "true" }"#,
    );
    let ids: Vec<&str> = graph.nodes().iter().map(|node| &*node.id).collect();
    assert_eq!(
        ids,
        [
            "one",
            "rollback:one",
            "w",
            "two",
            "rollback:two",
            "handler",
            "three"
        ]
    );
}

#[test]
fn a_rollback_becomes_a_node_reached_by_a_rollback_edge() {
    let graph = graph(
        r#"runbook "t" { timeout 7m }
        role ops
        inventory web hosts ["a"]
        step install {
          owner ops
          on web
          timeout 20m
          run "install"
          rollback {
            run "uninstall"
            manual "Check the console"
            timeout 3m
          }
        }
        step config { on web run "configure" rollback "unconfigure" }
        step slow { timeout 20m run "migrate" rollback "unmigrate" }"#,
    );
    assert_eq!(
        settings(&graph, "install").rollback.as_deref(),
        Some("rollback:install")
    );
    let undo = graph.node("rollback:install").expect("rollback node");
    assert_eq!(&*undo.name, "install");
    assert_eq!(undo.owner.as_deref(), Some("ops"));
    assert!(!undo.is_main_flow());
    let NodeKind::Rollback {
        actions,
        timeout_ms,
        target,
    } = &undo.kind
    else {
        panic!("not a rollback node: {:?}", undo.kind);
    };
    let written: Vec<(ActionKind, &str)> = actions
        .iter()
        .map(|action| (action.kind, action.text.as_str()))
        .collect();
    assert_eq!(
        written,
        [
            (ActionKind::Run, "uninstall"),
            (ActionKind::Manual, "Check the console")
        ]
    );
    // Each action points at its own string in the runbook.
    assert!(actions[0].span.start < actions[1].span.start);
    assert_eq!(actions[0].span.len(), "\"uninstall\"".len());
    assert_eq!(*timeout_ms, Some(180_000));
    assert_eq!(
        *target,
        Target::Inventory {
            inventory: "web".into()
        }
    );
    let NodeKind::Rollback { timeout_ms, .. } = graph.node("rollback:config").expect("node").kind
    else {
        panic!("rollback:config is a rollback node");
    };
    assert_eq!(timeout_ms, Some(420_000), "the header's, as its step's");
    let NodeKind::Rollback { timeout_ms, .. } = graph.node("rollback:slow").expect("node").kind
    else {
        panic!("rollback:slow is a rollback node");
    };
    assert_eq!(timeout_ms, Some(1_200_000), "its step's own timeout");
    assert_eq!(
        edges(&graph),
        [
            "install -> rollback:install (Rollback)",
            "install -> config (Order)",
            "config -> rollback:config (Rollback)",
            "config -> slow (Order)",
            "slow -> rollback:slow (Rollback)"
        ]
    );
}

#[test]
fn step_defaults_are_applied() {
    let graph = graph(
        r#"runbook "t" { timeout 10m }
        step plain { run "x" irreversible "why" }
        step own { timeout 2m retry 3 failure severe readonly run "y" }
        step backed_off { retry 2 backoff 30s readonly run "z" }"#,
    );
    let plain = settings(&graph, "plain");
    assert_eq!(plain.timeout_ms, Some(600_000));
    assert_eq!(plain.raises, FailureClass::Functional);
    assert_eq!(
        plain.retry,
        Retry {
            attempts: 0,
            backoff_ms: 0
        }
    );
    assert_eq!(plain.target, Target::Local);
    assert_eq!(plain.irreversible.as_deref(), Some("why"));
    assert_eq!(plain.rollback, None);
    let own = settings(&graph, "own");
    assert_eq!(own.timeout_ms, Some(120_000));
    assert_eq!(own.raises, FailureClass::Severe);
    assert_eq!(
        own.retry,
        Retry {
            attempts: 3,
            backoff_ms: 0
        }
    );
    assert_eq!(settings(&graph, "backed_off").retry.backoff_ms, 30_000);
}

#[test]
fn without_a_header_timeout_a_step_has_none() {
    let graph = graph(
        r#"runbook "t" {}
        step s { readonly run "x" }"#,
    );
    assert_eq!(settings(&graph, "s").timeout_ms, None);
}

#[test]
fn gate_watch_and_waves_defaults_are_applied() {
    let graph = graph(
        r#"runbook "t" {}
        role lead
        role dba
        inventory web hosts ["a"]
        gate asked { approve by lead within 5m }
        gate quorum { approve by 2 of [lead, dba] distinct within 1m on timeout abort }
        gate open { approve by lead }
        watch w { every 30s during 5m require 1 > 0 else severe }
        waves rollout { over web stages [10, 30] }"#,
    );
    let NodeKind::Gate { approvals, .. } = &graph.node("asked").expect("gate").kind else {
        panic!("asked is a gate");
    };
    assert_eq!(approvals[0].quorum, 1);
    assert_eq!(approvals[0].on_timeout, Some(TimeoutAction::Escalate));
    let NodeKind::Gate { approvals, .. } = &graph.node("quorum").expect("gate").kind else {
        panic!("quorum is a gate");
    };
    assert_eq!(approvals[0].quorum, 2);
    assert!(approvals[0].distinct);
    assert_eq!(approvals[0].on_timeout, Some(TimeoutAction::Abort));
    let NodeKind::Gate { approvals, .. } = &graph.node("open").expect("gate").kind else {
        panic!("open is a gate");
    };
    assert_eq!(
        approvals[0].on_timeout, None,
        "no limit, nothing to time out"
    );
    let NodeKind::Watch {
        interval_ms,
        duration_ms,
        requirements,
    } = &graph.node("w").expect("watch").kind
    else {
        panic!("w is a watch");
    };
    assert_eq!((*interval_ms, *duration_ms), (30_000, 300_000));
    assert_eq!(requirements[0].raises, FailureClass::Severe);
    assert_eq!(requirements[0].sustain_ms, None);
    assert_eq!(requirements[0].condition, "1 > 0");
    let NodeKind::Waves {
        stages,
        pause_ms,
        parallel,
        budget,
        ..
    } = &graph.node("rollout").expect("waves").kind
    else {
        panic!("rollout is a waves node");
    };
    assert_eq!(stages, &[Stage::Hosts(10), Stage::Hosts(30)]);
    assert_eq!(*pause_ms, 0);
    assert_eq!(*parallel, None);
    assert_eq!(*budget, Budget::Hosts(0));
}

#[test]
fn the_commander_is_the_header_s_else_the_role_named_commander() {
    let named = graph(
        r#"runbook "t" { commander lead }
        role lead
        role commander"#,
    );
    assert_eq!(named.header().commander.as_deref(), Some("lead"));
    let by_role = graph(
        r#"runbook "t" {}
        role commander"#,
    );
    assert_eq!(by_role.header().commander.as_deref(), Some("commander"));
    let none = graph(
        r#"runbook "t" {}
        role lead"#,
    );
    assert_eq!(none.header().commander, None);
}

#[test]
fn a_sample_names_an_inventory_or_a_waves_block() {
    let graph = graph(
        r#"runbook "t" {}
        inventory web hosts ["a", "b"]
        waves upgrade { over web stages [100%] }
        step of_inventory { on sample 10% of web readonly run "x" }
        step of_waves { on sample 25% of upgrade readonly run "y" }"#,
    );
    assert_eq!(
        settings(&graph, "of_inventory").target,
        Target::SampleOfInventory {
            percent: 10.0,
            inventory: "web".into()
        }
    );
    assert_eq!(
        settings(&graph, "of_waves").target,
        Target::SampleOfWaves {
            percent: 25.0,
            waves: "upgrade".into()
        }
    );
}

#[test]
fn handler_steps_are_reached_only_from_their_policy() {
    let graph = graph(
        r#"runbook "t" {}
        step main { readonly run "x" }
        on failure severe {
          approve by commander
          step call { background manual "Call the vendor" record ticket }
          step failover { run "switch" irreversible "one way" }
          rollback all
        }
        step next { readonly run "y" }"#,
    );
    assert_eq!(edges(&graph), ["main -> next (Order)"]);
    let call = graph.node("call").expect("handler");
    assert_eq!(call.handles, Some(FailureClass::Severe));
    assert!(!call.is_main_flow());
    assert!(graph.node("next").expect("node").is_main_flow());
    let policy = &graph.policies()[0];
    assert_eq!(policy.class, FailureClass::Severe);
    assert_eq!(
        policy.actions[1..],
        [
            Action::Run {
                node: "call".to_string(),
                background: true
            },
            Action::Run {
                node: "failover".to_string(),
                background: false
            },
            Action::Rollback {
                scope: crate::ast::RollbackScope::All
            }
        ]
    );
}

#[test]
fn a_step_s_kind_follows_what_it_does() {
    let graph = graph(
        r#"runbook "t" {}
        step commands { readonly run "a" script "let b = 1;" run "c" }
        step rhai { script "let x = 1;" script "let y = 2;" }
        step person { manual "Do it" record done "Done when?" }
        step mixed { run "prepare" manual "Check the console" irreversible "why" }"#,
    );
    let kinds: Vec<&str> = graph.nodes().iter().map(Node::kind_name).collect();
    assert_eq!(kinds, ["step", "script", "manual", "manual"]);
    let work = graph.node("commands").and_then(Node::work).expect("step");
    let actions: Vec<(ActionKind, &str)> = work
        .actions
        .iter()
        .map(|action| (action.kind, action.text.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            (ActionKind::Run, "a"),
            (ActionKind::Script, "let b = 1;"),
            (ActionKind::Run, "c")
        ]
    );
    let person = graph.node("person").and_then(Node::work).expect("manual");
    assert_eq!(
        person.records,
        [Record {
            key: "done".to_string(),
            prompt: Some("Done when?".to_string())
        }]
    );
}

#[test]
fn what_the_checker_refuses_is_an_internal_error_here() {
    let broken = [
        (
            r#"runbook "t" {}
            step twice { readonly run "a" }
            gate twice { require 1 > 0 }"#,
            "two nodes are named `twice`",
        ),
        (
            r#"runbook "t" {}
            step lonely { after nobody readonly run "a" }"#,
            "not a node",
        ),
        (
            r#"runbook "t" {}
            step idle { owner ops }"#,
            "does nothing",
        ),
        (
            r#"runbook "t" {}
            watch endless { every 1m require 1 > 0 }"#,
            "lacks `every` or `during`",
        ),
        (
            r#"runbook "t" {}
            step loose { background readonly run "a" }"#,
            "background outside a failure policy",
        ),
        (
            r#"runbook "t" {}
            step sampled { on sample 10% of nowhere readonly run "a" }"#,
            "neither an inventory nor a waves block",
        ),
        (
            r#"runbook "t" {}
            waves empty { stages [100%] }"#,
            "lacks `over` or `stages`",
        ),
    ];
    for (text, expected) in broken {
        match lowered(text) {
            Ok(graph) => panic!("lowered without error:\n{text}\n{}", graph.to_text()),
            Err(error) => {
                assert_eq!(error.stage, "compile");
                assert!(error.span.is_some(), "{error}");
                assert!(
                    error.message.contains(expected),
                    "{error} does not say {expected:?}"
                );
            }
        }
    }
}

#[test]
fn durations_print_in_canonical_form() {
    use super::text::duration;
    assert_eq!(duration(0), "0s");
    assert_eq!(duration(500), "500ms");
    assert_eq!(duration(90 * 60_000), "1h30m");
    assert_eq!(duration(86_400_000 + 2 * 3_600_000), "1d2h");
    assert_eq!(duration(61_500), "1m1s500ms");
}

#[test]
fn the_dot_view_escapes_labels() {
    let graph = graph(
        r#"runbook "a \"quoted\" name" { title "云 \\ back" }
        step s "line one\nline \"two\"" { readonly run "x" }"#,
    );
    let dot = graph.to_dot();
    assert!(
        dot.starts_with("digraph \"a \\\"quoted\\\" name\" {\n"),
        "{dot}"
    );
    assert!(
        dot.contains(r#"label="a \"quoted\" name\n云 \\ back""#),
        "{dot}"
    );
    assert!(
        dot.contains(r#"label="s\nline one\nline \"two\"""#),
        "{dot}"
    );
}

#[test]
fn the_mermaid_view_escapes_labels() {
    let graph = graph(
        r##"runbook "t" {}
        step s "say \"hi\" #1 <b> & `x`" { readonly run "x" }"##,
    );
    let mermaid = graph.to_mermaid();
    assert!(
        mermaid.contains(r#"n_s["s<br/>say #quot;hi#quot; #35;1 #lt;b#gt; #amp; #96;x#96;"]"#),
        "{mermaid}"
    );
}

#[test]
fn shipped_files_keep_their_order_and_the_path_as_written() {
    let text = r#"runbook "t" {}
        ship "scripts/rollback.sh"
        step a { readonly run "sh scripts/rollback.sh" }
        ship "./conf/agent.toml""#;
    let graph = graph(text);
    let shipped: Vec<(&str, &str)> = graph
        .shipped()
        .iter()
        .map(|shipped| {
            let declared = &text[shipped.span.start..shipped.span.end];
            (shipped.path.as_str(), declared)
        })
        .collect();
    assert_eq!(
        shipped,
        [
            ("scripts/rollback.sh", r#"ship "scripts/rollback.sh""#),
            ("./conf/agent.toml", r#"ship "./conf/agent.toml""#),
        ]
    );
}
