//! Sandboxed Rhai scripts: what a step runs when it says `script """ ... """`.
//!
//! The engine is built afresh for every run from `Engine::new_raw()` plus the
//! standard packages, which hold no file, process or network functions. `eval` and
//! module imports are refused, and everything a script could grow (operations, call
//! depth, expression depth, strings, arrays, maps, printed output) is capped, so a
//! script can compute and report but can neither escape nor exhaust the runner.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rhai::module_resolvers::DummyModuleResolver;
use rhai::packages::{Package, StandardPackage};
use rhai::{
    Dynamic, Engine, EvalAltResult, Map, OptimizationLevel, ParseError, ParseErrorType, Scope,
};

/// What a script may consume. Zero means "no limit", as in Rhai, except for
/// `max_call_levels`, where zero forbids calling script functions at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScriptLimits {
    /// Operations (roughly: statements, expressions and loop turns) before the
    /// script is stopped; what ends `loop {}`.
    pub max_operations: u64,
    /// Nested function calls; what ends runaway recursion before the native stack.
    pub max_call_levels: usize,
    /// Nesting of expressions, checked when the script is compiled.
    pub max_expr_depth: usize,
    /// Bytes in one string, and in all `print`/`debug` output together.
    pub max_string_size: usize,
    /// Elements in one array.
    pub max_array_size: usize,
    /// Entries in one object map. Rhai measures a map when it is next used (passed
    /// to a function, printed, returned), not on `m[key] = value`: a loop that only
    /// adds keys is stopped by `max_operations` (or the caller's timeout) instead.
    pub max_map_size: usize,
}

impl Default for ScriptLimits {
    /// Generous for the arithmetic and string work a step does, small enough that a
    /// runaway script stops within a second and a few MiB.
    fn default() -> Self {
        Self {
            max_operations: 1_000_000,
            max_call_levels: 32,
            max_expr_depth: 64,
            max_string_size: 1024 * 1024,
            max_array_size: 100_000,
            max_map_size: 100_000,
        }
    }
}

/// One script to run, with the names it can see.
#[derive(Debug, Clone, Copy)]
pub struct ScriptRun<'a> {
    /// The script's text.
    pub source: &'a str,
    /// Names in scope and their values. A dotted name (`run.id`) becomes a field of
    /// an object map (`run`), so the script can write it as it reads in the runbook.
    pub values: &'a [(String, String)],
    pub limits: ScriptLimits,
    /// Set from another thread (timeout, interrupt) to stop the script; the engine's
    /// progress callback, which must own what it reads, looks at it between operations.
    pub cancel: &'a Arc<AtomicBool>,
}

/// What a script that finished produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptOutcome {
    /// The script's value, displayed; empty for `()`.
    pub value: String,
    /// What `print` and `debug` wrote, one entry a call, in order.
    pub printed: Vec<String>,
}

/// Why a script did not finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// A runtime error or a `throw` (the thrown value is in the message).
    #[error("script failed{}: {message}", at_line(*.line))]
    Failed {
        message: String,
        line: Option<usize>,
    },
    /// The script hit one of its [`ScriptLimits`].
    #[error("script stopped: {message}")]
    Limit { message: String },
    /// The script does not compile (or uses something refused, such as `eval`).
    #[error("script syntax error{}: {message}", at_line(*.line))]
    Syntax {
        message: String,
        line: Option<usize>,
    },
    /// The cancel flag was set.
    #[error("script cancelled")]
    Cancelled,
}

fn at_line(line: Option<usize>) -> String {
    line.map(|line| format!(" at line {line}"))
        .unwrap_or_default()
}

/// Why the progress callback stops the script; the first reason set wins.
const RUNNING: u8 = 0;
const CANCELLED: u8 = 1;
const OUTPUT_FULL: u8 = 2;

/// Dotted names deeper than this are left out of scope: no script writes them, and
/// the nested maps are built and dropped recursively.
const MAX_NAME_DEPTH: usize = 16;

/// Runs one script to completion, blocking the calling thread (call it from
/// `spawn_blocking`). Never panics: an engine panic is reported as `Failed`.
pub fn run(run: ScriptRun<'_>) -> Result<ScriptOutcome, ScriptError> {
    if run.cancel.load(Ordering::Acquire) {
        return Err(ScriptError::Cancelled);
    }
    let limits = run.limits;
    let stop = Arc::new(AtomicU8::new(RUNNING));
    let printed = Arc::new(Mutex::new(Printed::default()));
    let engine = engine(&limits, &stop, run.cancel, &printed);

    let ast = match catch_unwind(AssertUnwindSafe(|| engine.compile(run.source))) {
        Ok(Ok(ast)) => ast,
        Ok(Err(error)) => return Err(parse_error(&error, &limits)),
        Err(panic) => return Err(engine_panic(panic.as_ref())),
    };
    let mut scope = scope(run.values);
    let result = eval(&engine, &mut scope, &ast);
    let stopped = stop.load(Ordering::Acquire);
    let printed = std::mem::take(&mut printed.lock().unwrap_or_else(PoisonError::into_inner).lines);

    // Output past the cap stops the script even if it ended right after printing.
    if stopped == OUTPUT_FULL {
        return Err(output_full(&limits));
    }
    let value = match result {
        Ok(value) => value,
        Err(error) => match *error {
            EvalAltResult::Return(value, _) | EvalAltResult::Exit(value, _) => value,
            _ => return Err(runtime_error(error, stopped, &limits)),
        },
    };
    let value = if value.is_unit() {
        String::new()
    } else {
        value.to_string()
    };
    Ok(ScriptOutcome { value, printed })
}

/// Captured `print`/`debug` output, with its size so far.
#[derive(Default)]
struct Printed {
    lines: Vec<String>,
    bytes: usize,
}

/// Rhai's standard functions, built once: building them for every script cost more
/// than a short script takes to run. They hold no state a script can change.
pub(crate) static STANDARD: std::sync::LazyLock<rhai::Shared<rhai::Module>> =
    std::sync::LazyLock::new(|| StandardPackage::new().as_shared_module());

/// A sandboxed engine: no I/O functions, no `eval`, no modules, every limit set.
fn engine(
    limits: &ScriptLimits,
    stop: &Arc<AtomicU8>,
    cancel: &Arc<AtomicBool>,
    printed: &Arc<Mutex<Printed>>,
) -> Engine {
    let mut engine = Engine::new_raw();
    engine.register_global_module(STANDARD.clone());
    engine
        .set_module_resolver(DummyModuleResolver::new())
        .disable_symbol("eval")
        .set_optimization_level(OptimizationLevel::None)
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_levels)
        .set_max_expr_depths(limits.max_expr_depth, limits.max_expr_depth)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size);

    let (progress_stop, progress_cancel) = (Arc::clone(stop), Arc::clone(cancel));
    engine.on_progress(move |_| {
        if progress_cancel.load(Ordering::Acquire) {
            let _ = progress_stop.compare_exchange(
                RUNNING,
                CANCELLED,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
        match progress_stop.load(Ordering::Acquire) {
            RUNNING => None,
            reason => Some(Dynamic::from(rhai::INT::from(reason))),
        }
    });
    let cap = limits.max_string_size;
    let (print_stop, print_out) = (Arc::clone(stop), Arc::clone(printed));
    engine.on_print(move |text| capture(&print_out, &print_stop, cap, text));
    let (debug_stop, debug_out) = (Arc::clone(stop), Arc::clone(printed));
    engine.on_debug(move |text, _, _| capture(&debug_out, &debug_stop, cap, text));
    engine
}

/// Keeps one printed line, unless the output would pass `cap` bytes; then asks the
/// progress callback to stop the script, as the lines are all held in memory.
fn capture(printed: &Mutex<Printed>, stop: &AtomicU8, cap: usize, text: &str) {
    let mut printed = printed.lock().unwrap_or_else(PoisonError::into_inner);
    let bytes = printed.bytes.saturating_add(text.len()).saturating_add(1);
    if cap != 0 && bytes > cap {
        let _ = stop.compare_exchange(RUNNING, OUTPUT_FULL, Ordering::AcqRel, Ordering::Acquire);
        return;
    }
    printed.bytes = bytes;
    printed.lines.push(text.to_string());
}

/// A name's value and the fields under it; the fields win when there are any.
#[derive(Default)]
struct Node {
    text: Option<String>,
    fields: BTreeMap<String, Node>,
}

/// The scope of `values`: plain names as strings, dotted ones as (nested) object
/// maps. When `run` and `run.id` are both given, the map wins, as `run.id` could
/// not be read otherwise. Names with an empty part are left out.
fn scope(values: &[(String, String)]) -> Scope<'static> {
    let mut root = Node::default();
    for (name, value) in values {
        let parts: Vec<&str> = name.split('.').collect();
        if parts.len() > MAX_NAME_DEPTH || parts.iter().any(|part| part.is_empty()) {
            continue;
        }
        let mut node = &mut root;
        for part in parts {
            node = node.fields.entry(part.to_string()).or_default();
        }
        node.text = Some(value.clone());
    }
    let mut scope = Scope::new();
    for (name, node) in root.fields {
        scope.push_dynamic(name, to_dynamic(node));
    }
    scope
}

fn to_dynamic(node: Node) -> Dynamic {
    if node.fields.is_empty() {
        return Dynamic::from(node.text.unwrap_or_default());
    }
    Dynamic::from_map(
        node.fields
            .into_iter()
            .map(|(name, node)| (name.into(), to_dynamic(node)))
            .collect::<Map>(),
    )
}

/// Evaluates `ast`; a panic in the engine becomes an error, never the caller's panic.
fn eval(
    engine: &Engine,
    scope: &mut Scope<'static>,
    ast: &rhai::AST,
) -> Result<Dynamic, Box<EvalAltResult>> {
    catch_unwind(AssertUnwindSafe(|| {
        engine.eval_ast_with_scope::<Dynamic>(scope, ast)
    }))
    .unwrap_or_else(|panic| {
        let message = panic_text(panic.as_ref());
        Err(Box::new(EvalAltResult::ErrorSystem(
            "the script engine failed".to_string(),
            message.into(),
        )))
    })
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_string())
}

fn engine_panic(panic: &(dyn std::any::Any + Send)) -> ScriptError {
    ScriptError::Failed {
        message: format!("the script engine failed: {}", panic_text(panic)),
        line: None,
    }
}

fn output_full(limits: &ScriptLimits) -> ScriptError {
    ScriptError::Limit {
        message: format!("printed output exceeds {} bytes", limits.max_string_size),
    }
}

/// A compile error: a limit when the script is too deep or a literal too large,
/// otherwise a syntax error.
fn parse_error(error: &ParseError, limits: &ScriptLimits) -> ScriptError {
    parse_error_kind(error.err_type(), error.position().line(), limits)
}

fn parse_error_kind(
    kind: &ParseErrorType,
    line: Option<usize>,
    limits: &ScriptLimits,
) -> ScriptError {
    match kind {
        ParseErrorType::ExprTooDeep => ScriptError::Limit {
            message: format!(
                "expressions nested deeper than {} levels",
                limits.max_expr_depth
            ),
        },
        ParseErrorType::LiteralTooLarge(..) | ParseErrorType::TooManyFunctions => {
            ScriptError::Limit {
                message: kind.to_string(),
            }
        }
        _ => ScriptError::Syntax {
            message: kind.to_string(),
            line,
        },
    }
}

/// The error a call chain ends in: what actually went wrong.
fn innermost(error: &EvalAltResult) -> &EvalAltResult {
    let mut error = error;
    while let EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
    | EvalAltResult::ErrorInModule(_, inner, _) = error
    {
        error = inner;
    }
    error
}

/// Sorts a runtime error by its cause (found through any function calls): limits
/// and cancellation apart from the script's own failures.
fn runtime_error(mut error: Box<EvalAltResult>, stopped: u8, limits: &ScriptLimits) -> ScriptError {
    let limit = |message: String| ScriptError::Limit { message };
    let cause = innermost(&error);
    match cause {
        EvalAltResult::ErrorTerminated(..) if stopped == OUTPUT_FULL => output_full(limits),
        EvalAltResult::ErrorTerminated(..) => ScriptError::Cancelled,
        EvalAltResult::ErrorTooManyOperations(_) => {
            limit(format!("more than {} operations", limits.max_operations))
        }
        EvalAltResult::ErrorStackOverflow(_) => limit(format!(
            "calls nested deeper than {} levels",
            limits.max_call_levels
        )),
        EvalAltResult::ErrorDataTooLarge(what, _) => limit(format!("{what} too large")),
        EvalAltResult::ErrorTooManyModules(_) => limit("too many modules".to_string()),
        EvalAltResult::ErrorTooManyVariables(_) => limit("too many variables".to_string()),
        EvalAltResult::ErrorParsing(kind, position) => {
            parse_error_kind(kind, position.line(), limits)
        }
        _ => {
            let line = cause.position().line().or(error.position().line());
            // The line is reported apart; positions inside called functions stay.
            error.clear_position();
            ScriptError::Failed {
                message: error.to_string(),
                line,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn run_with(
        source: &str,
        values: &[(String, String)],
        limits: ScriptLimits,
    ) -> Result<ScriptOutcome, ScriptError> {
        let cancel = Arc::new(AtomicBool::new(false));
        run(ScriptRun {
            source,
            values,
            limits,
            cancel: &cancel,
        })
    }

    fn run_plain(source: &str) -> Result<ScriptOutcome, ScriptError> {
        run_with(source, &[], ScriptLimits::default())
    }

    fn values(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn computes_a_value() {
        let outcome = run_plain("let x = 6;\nlet y = [1, 2, 3].len();\nx * 7 + y - 3").unwrap();
        assert_eq!(outcome.value, "42");
        assert!(outcome.printed.is_empty());
    }

    #[test]
    fn unit_displays_as_empty() {
        assert_eq!(run_plain("let x = 1;").unwrap().value, "");
    }

    #[test]
    fn values_in_scope_including_dotted_names() {
        let values = values(&[
            ("host", "db1"),
            ("run.id", "r-17"),
            ("announce_window.notice_url", "https://status.example/1"),
            ("baseline.p99", "120"),
            ("baseline.p50", "40"),
        ]);
        let outcome = run_with(
            r#"`${host} ${run.id} ${announce_window.notice_url} ${baseline.p99.parse_int() - baseline.p50.parse_int()} ${type_of(run)}`"#,
            &values,
            ScriptLimits::default(),
        )
        .unwrap();
        assert_eq!(outcome.value, "db1 r-17 https://status.example/1 80 map");
    }

    #[test]
    fn dotted_name_wins_over_plain_one() {
        let values = values(&[("run", "plain"), ("run.id", "r-1"), ("run.a.b", "deep")]);
        let outcome =
            run_with("run.id + \" \" + run.a.b", &values, ScriptLimits::default()).unwrap();
        assert_eq!(outcome.value, "r-1 deep");
        let values = values_reversed(&values);
        let outcome =
            run_with("run.id + \" \" + run.a.b", &values, ScriptLimits::default()).unwrap();
        assert_eq!(outcome.value, "r-1 deep");
    }

    fn values_reversed(values: &[(String, String)]) -> Vec<(String, String)> {
        values.iter().rev().cloned().collect()
    }

    #[test]
    fn odd_names_do_not_break_the_scope() {
        let deep = vec!["a"; 10_000].join(".");
        let values = values(&[
            ("", "x"),
            (".", "x"),
            ("a..b", "x"),
            ("trailing.", "x"),
            ("with space", "x"),
            ("fn", "x"),
            (&deep, "x"),
            ("ok", "fine"),
        ]);
        assert_eq!(
            run_with("ok", &values, ScriptLimits::default())
                .unwrap()
                .value,
            "fine"
        );
    }

    #[test]
    fn print_and_debug_are_captured_in_order() {
        let outcome = run_plain("print(\"a\");\ndebug(\"b\");\nprint(1 + 1);\n\"done\"").unwrap();
        assert_eq!(outcome.printed, vec!["a", "\"b\"", "2"]);
        assert_eq!(outcome.value, "done");
    }

    #[test]
    fn printed_output_is_capped() {
        let limits = ScriptLimits {
            max_operations: 0,
            max_string_size: 1000,
            ..ScriptLimits::default()
        };
        let error = run_with("loop { print(\"0123456789\"); }", &[], limits).unwrap_err();
        assert!(matches!(error, ScriptError::Limit { ref message } if message.contains("output")));
        // Even when the script ends with the print that overflowed.
        let error = run_with("print(\"x\".pad(2000, 'x'));", &[], limits).unwrap_err();
        assert!(matches!(error, ScriptError::Limit { .. }), "{error:?}");
    }

    #[test]
    fn throw_fails_with_the_thrown_value() {
        let error = run_plain("let x = 1;\nthrow \"disk almost full\";").unwrap_err();
        match error {
            ScriptError::Failed { message, line } => {
                assert!(message.contains("disk almost full"), "{message}");
                assert_eq!(line, Some(2));
            }
            other => panic!("expected Failed, got {other:?}"),
        }
    }

    #[test]
    fn throw_inside_a_function_reports_where_it_was_thrown() {
        let error = run_plain("fn check(x) {\n  throw `bad ${x}`;\n}\ncheck(3)").unwrap_err();
        match error {
            ScriptError::Failed { message, line } => {
                assert!(message.contains("bad 3"), "{message}");
                assert_eq!(line, Some(2));
            }
            other => panic!("expected Failed, got {other:?}"),
        }
    }

    #[test]
    fn runtime_error_fails() {
        let error = run_plain("let a = [1];\na[5]").unwrap_err();
        assert!(
            matches!(error, ScriptError::Failed { line: Some(2), .. }),
            "{error:?}"
        );
    }

    #[test]
    fn syntax_error_has_a_line() {
        let error = run_plain("let x = 1;\nlet = ;").unwrap_err();
        assert!(
            matches!(error, ScriptError::Syntax { line: Some(2), .. }),
            "{error:?}"
        );
    }

    #[test]
    fn infinite_loop_hits_the_operations_limit() {
        let error = run_plain("loop {}").unwrap_err();
        assert!(
            matches!(error, ScriptError::Limit { ref message } if message.contains("operations")),
            "{error:?}"
        );
    }

    #[test]
    fn deep_recursion_hits_a_limit() {
        let error = run_plain("fn f(n) { f(n + 1) }\nf(0)").unwrap_err();
        assert!(
            matches!(error, ScriptError::Limit { ref message } if message.contains("calls")),
            "{error:?}"
        );
    }

    #[test]
    fn deep_expressions_hit_a_limit() {
        let source = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        let error = run_plain(&source).unwrap_err();
        assert!(matches!(error, ScriptError::Limit { .. }), "{error:?}");
        let source = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(run_plain(&source).is_err());
    }

    #[test]
    fn string_growth_hits_a_limit() {
        let error = run_plain("let s = \"x\";\nloop { s += s; }").unwrap_err();
        assert!(
            matches!(error, ScriptError::Limit { ref message } if message.contains("too large")),
            "{error:?}"
        );
    }

    #[test]
    fn array_and_map_growth_hit_a_limit() {
        // Small sizes: the engine re-measures a container on every change.
        let limits = ScriptLimits {
            max_array_size: 1000,
            max_map_size: 1000,
            ..ScriptLimits::default()
        };
        let error = run_with("let a = [];\nloop { a.push(1); }", &[], limits).unwrap_err();
        assert!(
            matches!(error, ScriptError::Limit { ref message } if message.contains("too large")),
            "{error:?}"
        );
        // The engine measures a map when it is next used, not on `m[key] = value`.
        let source =
            "let m = #{};\nlet i = 0;\nwhile i < 2000 { m[`k${i}`] = i; i += 1; }\nm.len()";
        let error = run_with(source, &[], limits).unwrap_err();
        assert!(
            matches!(error, ScriptError::Limit { ref message } if message.contains("too large")),
            "{error:?}"
        );
    }

    #[test]
    fn deepest_allowed_nesting_fits_the_native_stack() {
        // Every call level at almost the deepest expressions allowed, on a test
        // thread's stack (the size of a `spawn_blocking` thread's).
        let limits = ScriptLimits::default();
        let source = |depth: usize| {
            let body = format!("{}f(n - 1){}", "(".repeat(depth), ")".repeat(depth));
            format!("fn f(n) {{ if n > 0 {{ {body} }} else {{ 0 }} }}\nf(100)")
        };
        let compiles = |depth: usize| {
            !matches!(run_with(&source(depth), &[], limits),
                Err(ScriptError::Limit { ref message }) if message.contains("expressions"))
        };
        let depth = (1..limits.max_expr_depth)
            .rev()
            .find(|depth| compiles(*depth))
            .unwrap();
        assert!(depth > limits.max_expr_depth / 4, "{depth}");
        let source = source(depth);
        let error = run_with(&source, &[], limits).unwrap_err();
        assert!(
            matches!(error, ScriptError::Limit { ref message } if message.contains("calls")),
            "{error:?}"
        );
    }

    #[test]
    fn eval_is_refused() {
        let error = run_plain("eval(\"1\")").unwrap_err();
        assert!(matches!(error, ScriptError::Syntax { .. }), "{error:?}");
    }

    #[test]
    fn import_is_refused() {
        let error = run_plain("import \"x\" as y;\n1").unwrap_err();
        assert!(
            matches!(error, ScriptError::Failed { ref message, .. } if message.contains("x")),
            "{error:?}"
        );
    }

    #[test]
    fn no_file_or_process_functions() {
        for source in [
            "open_file(\"/etc/passwd\")",
            "read_file(\"/etc/passwd\")",
            "system(\"id\")",
            "exec(\"id\")",
        ] {
            let error = run_plain(source).unwrap_err();
            assert!(
                matches!(error, ScriptError::Failed { ref message, .. } if message.contains("Function not found")),
                "{source}: {error:?}"
            );
        }
    }

    #[test]
    fn cancel_before_run_stops_at_once() {
        let cancel = Arc::new(AtomicBool::new(true));
        let limits = ScriptLimits {
            max_operations: u64::MAX,
            ..ScriptLimits::default()
        };
        let started = Instant::now();
        let result = run(ScriptRun {
            source: "loop {}",
            values: &[],
            limits,
            cancel: &cancel,
        });
        assert_eq!(result, Err(ScriptError::Cancelled));
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn cancel_from_another_thread_stops_a_running_script() {
        let cancel = Arc::new(AtomicBool::new(false));
        let limits = ScriptLimits {
            max_operations: 0,
            ..ScriptLimits::default()
        };
        let started = Instant::now();
        let result = std::thread::scope(|threads| {
            threads.spawn(|| {
                std::thread::sleep(Duration::from_millis(50));
                cancel.store(true, Ordering::Release);
            });
            run(ScriptRun {
                source: "let i = 0;\nloop { i += 1; }",
                values: &[],
                limits,
                cancel: &cancel,
            })
        });
        assert_eq!(result, Err(ScriptError::Cancelled));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn errors_display_their_line() {
        let error = ScriptError::Failed {
            message: "boom".to_string(),
            line: Some(3),
        };
        assert_eq!(error.to_string(), "script failed at line 3: boom");
    }
}
