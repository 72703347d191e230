//! The values a string can name (`{{host}}`, `{{run.id}}`, `{{kernel}}`,
//! `{{announce_window.notice_url}}`) and the environment a command gets.

use std::cell::RefCell;
use std::rc::Rc;

use super::facts::Outcome;
use super::run::{Failure, Run};
use crate::ast::Word;
use crate::compile::{Budget, Segment};

/// Where a unit runs: its host, its wave, the failure a handler answers.
#[derive(Clone, Default)]
pub struct Scope {
    pub host: Option<String>,
    pub wave: Option<Rc<WaveScope>>,
    pub failure: Option<Rc<Failure>>,
    /// The failure key a handler step runs for: part of its units' keys.
    pub handler: Option<String>,
    /// `{{run.status}}` once the run has ended.
    pub status: Option<&'static str>,
}

impl Scope {
    pub fn for_host(&self, host: Option<String>) -> Scope {
        Scope {
            host,
            ..self.clone()
        }
    }
}

/// One wave of a waves block, while its body runs.
#[derive(Debug)]
pub struct WaveScope {
    pub waves: String,
    pub index: usize,
    pub count: usize,
    pub hosts: Vec<String>,
    pub parallel: Option<u64>,
    pub budget: Budget,
    /// Hosts that failed in this wave: later body nodes skip them.
    pub failed: RefCell<Vec<String>>,
}

impl Run<'_> {
    /// The value a `{{name}}` stands for here, if it has one.
    pub(super) fn value(&self, name: &str, scope: &Scope) -> Option<String> {
        if name == "host" {
            return scope.host.clone();
        }
        if let Some(value) = self.params.get(name) {
            return Some(value.clone());
        }
        if let Some((_, value)) = self.secrets.iter().find(|(secret, _)| secret == name) {
            return Some(value.clone());
        }
        let (head, field) = name.split_once('.')?;
        match head {
            "run" => match field {
                "id" => Some(self.run_id.clone()),
                "title" => Some(self.title.clone()),
                "started_by" => Some(self.started_by.clone()),
                "status" => Some(scope.status.unwrap_or("running").to_string()),
                _ => None,
            },
            "wave" => {
                let wave = scope.wave.as_ref()?;
                match field {
                    "name" => Some(wave.waves.clone()),
                    "index" => Some((wave.index + 1).to_string()),
                    "count" => Some(wave.count.to_string()),
                    "hosts" => Some(wave.hosts.len().to_string()),
                    _ => None,
                }
            }
            "failure" => {
                let failure = scope.failure.as_ref()?;
                match field {
                    "class" => Some(failure.class.word().to_string()),
                    "summary" => Some(failure.summary.clone()),
                    "step" => Some(failure.node.clone()),
                    "host" => Some(failure.host.clone().unwrap_or_else(|| "local".to_string())),
                    _ => None,
                }
            }
            step => self.recorded(step, field, scope.host.as_deref()),
        }
    }

    /// A value a person entered when confirming `step`: on the same host if the step
    /// ran per host, else wherever it ran.
    fn recorded(&self, step: &str, key: &str, host: Option<&str>) -> Option<String> {
        let recorder = self.recorder.borrow();
        let history = &recorder.history;
        let values_of = |unit: &str| match history
            .unit(unit)
            .and_then(|record| record.outcome.as_ref())
        {
            Some(Outcome::Succeeded { values }) => values.get(key).cloned(),
            _ => None,
        };
        host.and_then(|host| values_of(&format!("{step}@{host}")))
            .or_else(|| values_of(step))
            .or_else(|| {
                history
                    .units
                    .iter()
                    .filter(|(_, record)| record.node == step)
                    .find_map(|(unit, _)| values_of(unit))
            })
    }

    /// Text for a person (instructions, messages): values filled in as they are, a
    /// value that is not known yet left as written.
    pub(super) fn fill_text(&self, template: &[Segment], scope: &Scope) -> String {
        let mut text = String::new();
        for segment in template {
            match segment {
                Segment::Text(literal) => text.push_str(literal),
                Segment::Value(name) => match self.value(name, scope) {
                    Some(value) => text.push_str(&value),
                    None => text.push_str(&format!("{{{{{name}}}}}")),
                },
            }
        }
        self.redactor.redact(&text).into_owned()
    }

    /// A text with its values filled in as they are (a URL, a query: not a shell, and
    /// not shown, so not redacted); `Err` names a value missing here.
    pub(super) fn fill_raw(&self, template: &[Segment], scope: &Scope) -> Result<String, String> {
        let mut text = String::new();
        for segment in template {
            match segment {
                Segment::Text(literal) => text.push_str(literal),
                Segment::Value(name) => match self.value(name, scope) {
                    Some(found) => text.push_str(&found),
                    None => return Err(format!("`{{{{{name}}}}}` has no value here")),
                },
            }
        }
        Ok(text)
    }

    pub(super) fn fill_plain(&self, message: &str, scope: &Scope) -> String {
        self.fill_text(&crate::compile::segments(message, &[]), scope)
    }

    /// What every command finds in its environment, besides the engine's own: the run,
    /// the unit, every parameter (`RUNBOOK_PARAM_NAME`) and secret
    /// (`RUNBOOK_SECRET_NAME`), so a script can use a value without it being written
    /// into a command line.
    pub(super) fn environment(
        &self,
        unit: &str,
        scope: &Scope,
        attempt: u32,
    ) -> Vec<(String, String)> {
        let mut env = vec![
            ("RUNBOOK_RUN_ID".to_string(), self.run_id.clone()),
            ("RUNBOOK_UNIT".to_string(), unit.to_string()),
            ("RUNBOOK_ATTEMPT".to_string(), attempt.to_string()),
        ];
        if let Some(host) = &scope.host {
            env.push(("RUNBOOK_HOST".to_string(), host.clone()));
        }
        for (name, value) in &self.params {
            env.push((
                format!("RUNBOOK_PARAM_{}", name.to_uppercase()),
                value.clone(),
            ));
        }
        for (name, value) in &self.secrets {
            env.push((
                format!("RUNBOOK_SECRET_{}", name.to_uppercase()),
                value.clone(),
            ));
        }
        env
    }

    /// The names a script sees: parameters, the host, the run, the wave, the failure.
    /// Secrets are left out: a script's result and prints are shown.
    pub(super) fn script_values(&self, scope: &Scope) -> Vec<(String, String)> {
        let mut values: Vec<(String, String)> = self
            .params
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let fields = [
            "host",
            "run.id",
            "run.title",
            "run.started_by",
            "run.status",
            "wave.name",
            "wave.index",
            "wave.count",
            "wave.hosts",
            "failure.class",
            "failure.summary",
            "failure.step",
            "failure.host",
        ];
        for field in fields {
            if let Some(value) = self.value(field, scope) {
                values.push((field.to_string(), value));
            }
        }
        values
    }
}
