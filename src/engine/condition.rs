//! A `require` condition evaluated while a run goes: a Rhai expression over the probes'
//! values read just now, the params and `baseline` (the probes read before the first
//! wave). The checker compiled every condition against the same names, so what fails
//! here is a value (a missing one, a type Rhai will not compare), which is reported as
//! the condition not being known to hold, never as it holding.

use std::collections::{BTreeMap, BTreeSet};

use rhai::{Dynamic, Engine, Map, OptimizationLevel, Scope};

use crate::ast::ParamType;

/// The values one evaluation sees.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub probes: BTreeMap<String, f64>,
    /// Each param with its declared type, its value as given.
    pub params: BTreeMap<String, (ParamType, String)>,
    pub baseline: BTreeMap<String, f64>,
}

/// The words of a condition that could be names: which probes it reads now. A name
/// after `baseline.` is the baseline's value, not a reading.
pub fn names(source: &str) -> BTreeSet<&str> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut found = BTreeSet::new();
    let mut start = None;
    for (at, c) in source.char_indices().chain([(source.len(), ' ')]) {
        match (start, is_name(c)) {
            (None, true) => start = Some(at),
            (Some(from), false) => {
                let word = &source[from..at];
                let number = word.starts_with(|c: char| c.is_ascii_digit());
                if !number && !source[..from].ends_with("baseline.") {
                    found.insert(word);
                }
                start = None;
            }
            _ => {}
        }
    }
    found
}

/// Whether the condition holds; `Err` says why it could not be told.
pub fn holds(source: &str, inputs: &Inputs) -> Result<bool, String> {
    let engine = engine();
    let mut scope = Scope::new();
    for word in names(source) {
        if let Some(value) = inputs.probes.get(word) {
            scope.push(word.to_string(), *value);
        } else if let Some((ty, value)) = inputs.params.get(word) {
            scope.push_dynamic(word.to_string(), typed(*ty, value));
        }
    }
    let baseline: Map = inputs
        .baseline
        .iter()
        .map(|(name, value)| (name.as_str().into(), Dynamic::from(*value)))
        .collect();
    scope.push("baseline", baseline);
    let value = engine
        .eval_expression_with_scope::<Dynamic>(&mut scope, source)
        .map_err(|error| error.to_string())?;
    value
        .as_bool()
        .map_err(|kind| format!("the condition gives a {kind}, not true or false"))
}

fn typed(ty: ParamType, value: &str) -> Dynamic {
    match ty {
        ParamType::Int => value.parse::<i64>().map(Dynamic::from).ok(),
        ParamType::Float => value.parse::<f64>().map(Dynamic::from).ok(),
        ParamType::Bool => value.parse::<bool>().map(Dynamic::from).ok(),
        ParamType::Duration => humantime::parse_duration(value)
            .ok()
            .and_then(|duration| i64::try_from(duration.as_millis()).ok())
            .map(Dynamic::from),
        ParamType::String => None,
    }
    .unwrap_or_else(|| Dynamic::from(value.to_string()))
}

/// A strict, bounded engine: a name that is not in scope is an error, not `()`.
fn engine() -> Engine {
    let mut engine = Engine::new_raw();
    engine.register_global_module(crate::executor::script::STANDARD.clone());
    engine
        .set_strict_variables(true)
        .set_optimization_level(OptimizationLevel::None)
        .set_max_expr_depths(64, 32)
        .set_max_operations(100_000)
        .set_max_string_size(64 * 1024)
        .set_max_array_size(10_000)
        .set_max_map_size(10_000);
    engine
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(probes: &[(&str, f64)], baseline: &[(&str, f64)]) -> Inputs {
        Inputs {
            probes: probes.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
            params: BTreeMap::from([("limit".to_string(), (ParamType::Float, "5".to_string()))]),
            baseline: baseline.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
        }
    }

    #[test]
    fn probes_params_and_the_baseline_are_in_scope() {
        let values = inputs(&[("latency", 4.2), ("p99", 0.3)], &[("p99", 0.2)]);
        assert_eq!(holds("latency < limit", &values), Ok(true));
        assert_eq!(holds("p99 < 2 * baseline.p99", &values), Ok(true));
        assert_eq!(holds("p99 < 1.2 * baseline.p99", &values), Ok(false));
        assert_eq!(holds("latency > 5.0 && p99 < 1.0", &values), Ok(false));
    }

    #[test]
    fn a_name_after_baseline_is_not_read_now() {
        let read: Vec<&str> = names("p99 < 2 * baseline.p99 && baseline.load > 1")
            .into_iter()
            .collect();
        assert_eq!(read, ["baseline", "p99"]);
    }

    #[test]
    fn a_missing_value_is_never_taken_as_holding() {
        let values = inputs(&[], &[]);
        assert!(holds("latency < 5.0", &values).is_err());
        assert!(holds("1.0 < 2 * baseline.p99", &values).is_err());
        assert!(
            holds("limit", &values).is_err(),
            "a number is not true or false"
        );
    }
}
