//! Rhai: every `require` condition compiles as an expression over the names in scope
//! (probes, params, `baseline`), and every `script` compiles. Rhai's line and column are
//! mapped back to the exact bytes of the runbook.

use std::collections::BTreeSet;

use rhai::{
    ASTNode, Dynamic, Engine, Expr, Map, OptimizationLevel, ParseError, ParseErrorType, Position,
    Scope,
};

use crate::ast::{
    ParamType, Requirement, Rollback, RollbackEntryKind, StepEntryKind, Text, TextStyle,
};
use crate::diagnostic::Diagnostic;
use crate::source::Span;

use super::codes;
use super::facts::{gate_requirements, watch_requirements};
use super::interpolation;
use super::symbols::{NodeRef, Symbols};
use super::Checker;

/// Each unknown name found makes another compile; a condition naming more unknown
/// names than this is reported up to here.
const MAX_UNKNOWN_NAMES: usize = 16;

pub(super) fn check(checker: &Checker<'_>, findings: &mut Vec<Diagnostic>) {
    let engine = condition_engine();
    let scripts = engine_for_scripts();
    for node in &checker.symbols.nodes {
        match node.node {
            NodeRef::Gate(gate) => {
                for requirement in gate_requirements(gate) {
                    condition(checker, &engine, requirement, findings);
                }
            }
            NodeRef::Watch(watch) => {
                for requirement in watch_requirements(watch) {
                    condition(checker, &engine, requirement, findings);
                }
            }
            NodeRef::Step(step) => {
                for entry in &step.entries {
                    match &entry.kind {
                        StepEntryKind::Script(text) => script(checker, &scripts, text, findings),
                        StepEntryKind::Rollback(Rollback::Block { entries, .. }) => {
                            for entry in entries {
                                if let RollbackEntryKind::Script(text) = &entry.kind {
                                    script(checker, &scripts, text, findings);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            NodeRef::Timer(_) | NodeRef::Waves(_) => {}
        }
    }
}

/// An engine that only compiles, with limits so hostile input cannot exhaust it.
fn engine(strict: bool) -> Engine {
    let mut engine = Engine::new_raw();
    engine
        .set_strict_variables(strict)
        .set_optimization_level(OptimizationLevel::None)
        .set_max_expr_depths(64, 32)
        .set_max_operations(100_000)
        .set_max_string_size(64 * 1024)
        .set_max_array_size(10_000)
        .set_max_map_size(10_000);
    engine
}

/// Scripts may define their own variables, and their inputs are the engine's to
/// decide, so only their syntax is checked.
fn engine_for_scripts() -> Engine {
    engine(false)
}

/// The engine conditions are compiled with: unknown variables are errors.
pub(super) fn condition_engine() -> Engine {
    engine(true)
}

/// Whether `name` can be written as a variable in a condition (it is no Rhai keyword).
pub(super) fn usable_as_variable(engine: &Engine, name: &str) -> bool {
    let mut scope = Scope::new();
    scope.push(name.to_string(), 0.0_f64);
    let Ok(ast) = engine.compile_expression_with_scope(&scope, name) else {
        return false;
    };
    let mut found = false;
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Expr(Expr::Variable(variable, ..))) = path.last() {
            found |= variable.1.as_str() == name;
        }
        true
    });
    found
}

/// The names in scope for one condition: the probes (as numbers) and params (by their
/// type) it mentions, and `baseline`. Only the mentioned ones, as a plan may declare
/// thousands and Rhai looks each name up in turn. `baseline`'s fields are checked
/// apart, so its map can stay empty.
fn condition_scope(symbols: &Symbols<'_>, source: &str) -> Scope<'static> {
    let mut scope = Scope::new();
    let words: BTreeSet<&str> = source
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| !word.is_empty())
        .collect();
    for word in words {
        if symbols.probes.contains_key(word) {
            scope.push(word.to_string(), 0.0_f64);
        } else if let Some(param) = symbols.params.get(word) {
            let value = match param.ty.value {
                ParamType::String => Dynamic::from(String::new()),
                ParamType::Int | ParamType::Duration => Dynamic::from(0_i64),
                ParamType::Float => Dynamic::from(0.0_f64),
                ParamType::Bool => Dynamic::from(false),
            };
            scope.push_dynamic(word.to_string(), value);
        }
    }
    scope.push("baseline", Map::new());
    scope
}

fn condition(
    checker: &Checker<'_>,
    engine: &Engine,
    requirement: &Requirement,
    findings: &mut Vec<Diagnostic>,
) {
    let condition = &requirement.condition;
    let to_span = |position: Position, width: usize| {
        let index = char_index(&condition.source, position);
        let start = byte_of_char(&condition.source, index);
        let end = byte_of_char(&condition.source, index + width);
        Span::new(condition.span.start + start, condition.span.start + end)
    };
    let mut scope = condition_scope(&checker.symbols, &condition.source);
    for _ in 0..MAX_UNKNOWN_NAMES {
        match engine.compile_expression_with_scope(&scope, &condition.source) {
            Ok(ast) => {
                baseline_fields(checker, &ast, &to_span, findings);
                return;
            }
            Err(error) => match error.err_type() {
                ParseErrorType::VariableUndefined(name) => {
                    findings.push(unknown_name(
                        checker,
                        name,
                        to_span(error.position(), name.len()),
                    ));
                    scope.push(name.clone(), 0.0_f64);
                }
                _ => {
                    findings.push(
                        Diagnostic::new(codes::INVALID_CONDITION, "this condition is not a valid Rhai expression")
                            .with_label(error_span(&error, &to_span, condition.span), describe(&error))
                            .with_help("a condition is one Rhai expression that is true when all is well, e.g. `error_rate < 0.05 && p99 < 2.0 * baseline.p99`"),
                    );
                    return;
                }
            },
        }
    }
}

fn unknown_name(checker: &Checker<'_>, name: &str, span: Span) -> Diagnostic {
    let symbols = &checker.symbols;
    let (message, label, help) = if symbols.secrets.contains_key(name) {
        (
            format!("`{name}` is a secret, which conditions cannot read"),
            "a secret",
            "secrets only reach commands, through the environment; decide on a probe or a param instead".to_string(),
        )
    } else {
        let candidates = symbols.probes.keys().chain(symbols.params.keys()).copied();
        let suggestion = checker.did_you_mean(name, candidates);
        (
            format!("no probe or param is named `{name}`"),
            "unknown name",
            if suggestion.is_empty() {
                format!("declare it (`probe {name} = prometheus \"...\"`), or use a probe, a param or `baseline.PROBE`")
            } else {
                suggestion.trim_start().to_string()
            },
        )
    };
    Diagnostic::new(codes::UNKNOWN_PROBE, message)
        .with_label(span, label)
        .with_help(help)
}

/// `baseline.NAME` must name a probe: the baseline holds each probe's value from
/// before the first wave.
fn baseline_fields(
    checker: &Checker<'_>,
    ast: &rhai::AST,
    to_span: &dyn Fn(Position, usize) -> Span,
    findings: &mut Vec<Diagnostic>,
) {
    let probes = &checker.symbols.probes;
    ast.walk(&mut |path: &[ASTNode]| {
        let Some(ASTNode::Expr(Expr::Dot(dot, ..))) = path.last() else {
            return true;
        };
        let Expr::Variable(variable, ..) = &dot.lhs else {
            return true;
        };
        if variable.1.as_str() != "baseline" {
            return true;
        }
        let property = match &dot.rhs {
            Expr::Property(property, position) => Some((property.2.as_str(), *position)),
            Expr::Dot(inner, ..) => match &inner.lhs {
                Expr::Property(property, position) => Some((property.2.as_str(), *position)),
                _ => None,
            },
            _ => None,
        };
        if let Some((field, position)) = property {
            if !probes.contains_key(field) {
                let suggestion = checker.did_you_mean(field, probes.keys().copied());
                findings.push(
                    Diagnostic::new(codes::UNKNOWN_PROBE, format!("`baseline.{field}` names no probe"))
                        .with_label(to_span(position, field.len()), "not a probe")
                        .with_help(if suggestion.is_empty() {
                            "`baseline` holds each probe's value from before the first wave: `baseline.PROBE`".to_string()
                        } else {
                            suggestion.trim_start().to_string()
                        }),
                );
            }
        }
        true
    });
}

fn script(checker: &Checker<'_>, engine: &Engine, text: &Text, findings: &mut Vec<Diagnostic>) {
    let (code, offsets) = script_source(checker, text);
    let Err(error) = engine.compile(&code) else {
        return;
    };
    let to_span = |position: Position, width: usize| {
        let index = char_index(&code, position);
        let start = offsets
            .get(index)
            .copied()
            .unwrap_or(text.content_span().end);
        let end = offsets
            .get(index + width)
            .copied()
            .unwrap_or(text.content_span().end);
        Span::new(start, end.max(start))
    };
    findings.push(
        Diagnostic::new(codes::INVALID_SCRIPT, "this script is not valid Rhai")
            .with_label(error_span(&error, &to_span, text.content_span()), describe(&error))
            .with_help(match text.style {
                TextStyle::Quoted => "scripts are Rhai (https://rhai.rs/book/); long scripts read best in a \"\"\"triple-quoted\"\"\" string",
                TextStyle::Triple => "scripts are Rhai (https://rhai.rs/book/); the label points at what Rhai could not read",
            }),
    );
}

/// The script as Rhai will see it, with `{{name}}` replaced by a placeholder of the
/// same length, and for each of its characters the byte offset in the runbook.
fn script_source(checker: &Checker<'_>, text: &Text) -> (String, Vec<usize>) {
    let content = text.content_span();
    let source = checker.file.slice(content);
    let interpolations = interpolation::find(source, text.style);
    let mut code = String::new();
    let mut offsets = Vec::new();
    let mut chars = source.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if let Some(found) = interpolations.iter().find(|found| found.start == at) {
            for (inner, _) in source[found.start..found.end].char_indices() {
                code.push('x');
                offsets.push(content.start + found.start + inner);
            }
            while chars.peek().is_some_and(|&(next, _)| next < found.end) {
                chars.next();
            }
            continue;
        }
        offsets.push(content.start + at);
        if c != '\\' || text.style == TextStyle::Triple {
            code.push(c);
            continue;
        }
        match chars.next() {
            Some((_, 'n')) => code.push('\n'),
            Some((_, 't')) => code.push('\t'),
            Some((_, 'r')) => code.push('\r'),
            Some((_, 'u')) => {
                let mut digits = String::new();
                for (_, c) in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                    if c != '{' {
                        digits.push(c);
                    }
                }
                let decoded = u32::from_str_radix(&digits, 16)
                    .ok()
                    .and_then(char::from_u32);
                code.push(decoded.unwrap_or('?'));
            }
            Some((_, other)) => code.push(other),
            None => code.push('\\'),
        }
    }
    offsets.push(content.end);
    (code, offsets)
}

/// Byte offset of the character at `index`, or the end.
fn byte_of_char(source: &str, index: usize) -> usize {
    source
        .char_indices()
        .nth(index)
        .map(|(at, _)| at)
        .unwrap_or(source.len())
}

/// Character index in `source` of a Rhai position.
fn char_index(source: &str, position: Position) -> usize {
    let line = position.line().unwrap_or(1);
    let column = position.position().unwrap_or(1);
    let mut index = 0;
    for (number, text) in source.split('\n').enumerate() {
        if number + 1 == line {
            return index + (column - 1).min(text.chars().count());
        }
        index += text.chars().count() + 1;
    }
    source.chars().count()
}

/// Where a parse error is: one character at Rhai's position, or the whole text when
/// Rhai gives none.
fn error_span(error: &ParseError, to_span: &dyn Fn(Position, usize) -> Span, whole: Span) -> Span {
    if error.position().is_none() {
        whole
    } else {
        to_span(error.position(), 1)
    }
}

/// Rhai's description of a parse error, without the position it appends.
fn describe(error: &ParseError) -> String {
    error.err_type().to_string()
}
