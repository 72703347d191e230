//! Watching numbers: gates' conditions, watches, and the baseline taken before the
//! first wave. Every value a decision rests on is logged with it (`evaluated`), and a
//! probe that cannot be read is a finding of its own: the condition is not known to
//! hold, which counts as a breach, never as a pass.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::future::join_all;

use super::{unit_key, Halt, NodeEnd, Result, Run, StopLevel};
use crate::ast::{EventKind, FailureClass};
use crate::compile::{self, Node, NodeKind, Poll, Requirement};
use crate::engine::condition::{self, Inputs};
use crate::engine::facts::{Fact, Outcome};
use crate::engine::values::Scope;
use crate::executor::quote;

/// The values read at one moment: probes by name, and those that could not be read
/// with the reason.
#[derive(Debug, Default)]
pub(super) struct Readings {
    pub values: BTreeMap<String, f64>,
    pub unreadable: BTreeMap<String, String>,
}

/// A condition that did not hold (or could not be told to), as a failure's summary.
struct Breach {
    class: FailureClass,
    summary: String,
}

impl<'g> Run<'g> {
    /// Reads the probes named, all at once, for `unit` (a gate, a watch, the
    /// baseline): a replay hands back what was read for it then.
    pub(super) async fn read_probes(
        &self,
        unit: &str,
        names: &BTreeSet<String>,
        scope: &Scope,
    ) -> Readings {
        if let Some(recording) = self.replay {
            return self.replayed_reading(recording, unit, names).await;
        }
        let reads = names.iter().filter_map(|name| {
            let probe = self
                .graph
                .probes()
                .iter()
                .find(|probe| probe.name == *name)?;
            Some(async move { (name.clone(), self.read_probe(probe, scope).await) })
        });
        let mut readings = Readings::default();
        for (name, read) in join_all(reads).await {
            match read {
                Ok(value) => {
                    readings.values.insert(name, value);
                }
                Err(why) => {
                    readings.unreadable.insert(name, why);
                }
            }
        }
        readings
    }

    /// One probe, its text filled in (a command's values quoted for the shell); the
    /// reason it could not be read is redacted like any output.
    async fn read_probe(
        &self,
        probe: &compile::Probe,
        scope: &Scope,
    ) -> std::result::Result<f64, String> {
        if let Some(drill) = self.drill.filter(|drill| drill.mark.simulated) {
            let elapsed = self
                .now()
                .saturating_sub(self.recorder.borrow().history.started_ms);
            return drill.probes.read(&probe.name, elapsed).ok_or_else(|| {
                format!(
                    "the drill gives `{}` no value at this time (--probe {}=VALUE[@AFTER])",
                    probe.name, probe.name
                )
            });
        }
        let fill = |text: &str| self.fill_raw(&compile::segments(text, &[]), scope);
        let source = match &probe.source {
            compile::ProbeSource::Command { command } => {
                let template = compile::segments(command, &[]);
                let rendered = quote::render(&template, |name| {
                    self.value(name, scope).map(std::borrow::Cow::Owned)
                })
                .map_err(|error| error.to_string())?;
                compile::ProbeSource::Command { command: rendered }
            }
            compile::ProbeSource::Http { url } => compile::ProbeSource::Http { url: fill(url)? },
            compile::ProbeSource::Prometheus { query } => compile::ProbeSource::Prometheus {
                query: fill(query)?,
            },
        };
        let filled = compile::Probe {
            source,
            ..probe.clone()
        };
        let settings = crate::probe::Settings {
            prometheus_url: self.prometheus_url.clone(),
            timeout: PROBE_TIMEOUT,
            work_dir: self.work_dir.clone(),
            env: self.environment(&probe.name, scope, 1),
        };
        crate::probe::read(&filled, &settings)
            .await
            .map(|reading| reading.value)
            .map_err(|error| self.redactor.redact(&error.to_string()).into_owned())
    }

    /// The probes a set of conditions reads.
    fn probes_in<'r>(
        &self,
        requirements: impl Iterator<Item = &'r Requirement>,
    ) -> BTreeSet<String> {
        let declared: BTreeSet<&str> = self
            .graph
            .probes()
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        requirements
            .flat_map(|requirement| condition::names(&requirement.condition))
            .filter(|name| declared.contains(name))
            .map(str::to_string)
            .collect()
    }

    /// Evaluates one condition on `readings` and logs what it was decided on: `Ok` when
    /// it holds, else the breach it makes (it does not hold, a probe is unreadable, or
    /// the expression failed on these values).
    fn evaluate(
        &self,
        unit: &str,
        requirement: &Requirement,
        readings: &Readings,
    ) -> Result<std::result::Result<(), Breach>> {
        let used = condition::names(&requirement.condition);
        let values: BTreeMap<String, f64> = readings
            .values
            .iter()
            .filter(|(name, _)| used.contains(name.as_str()))
            .map(|(name, value)| (name.clone(), *value))
            .collect();
        let unreadable: BTreeMap<String, String> = readings
            .unreadable
            .iter()
            .filter(|(name, _)| used.contains(name.as_str()))
            .map(|(name, why)| (name.clone(), why.clone()))
            .collect();
        let (holds, error) = if unreadable.is_empty() {
            let inputs = Inputs {
                probes: values.clone(),
                params: self.typed_params(),
                baseline: self.recorder.borrow().history.baseline.clone(),
            };
            match condition::holds(&requirement.condition, &inputs) {
                Ok(holds) => (Some(holds), None),
                Err(error) => (None, Some(error)),
            }
        } else {
            (None, None)
        };
        let breach = match (holds, &error) {
            (Some(true), _) => None,
            (_, Some(error)) => Some(format!(
                "`{}` cannot be told: {error}",
                requirement.condition.trim()
            )),
            _ if !unreadable.is_empty() => Some(
                unreadable
                    .iter()
                    .map(|(name, why)| format!("probe `{name}` could not be read: {why}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            _ => {
                let shown: Vec<String> = values
                    .iter()
                    .map(|(name, value)| format!("{name} = {value}"))
                    .collect();
                Some(format!(
                    "`{}` does not hold ({})",
                    requirement.condition.trim(),
                    shown.join(", ")
                ))
            }
        };
        self.note(Fact::Evaluated {
            unit: unit.to_string(),
            condition: requirement.condition.clone(),
            values,
            unreadable,
            holds,
            error,
        })?;
        Ok(match breach {
            None => Ok(()),
            Some(summary) => Err(Breach {
                class: requirement.raises,
                summary,
            }),
        })
    }

    fn typed_params(&self) -> BTreeMap<String, (crate::ast::ParamType, String)> {
        self.graph
            .params()
            .iter()
            .filter_map(|param| {
                let value = self.params.get(&param.name)?;
                Some((param.name.clone(), (param.ty, value.clone())))
            })
            .collect()
    }

    /// A gate's conditions: once, or every `poll` interval until they all hold or its
    /// limit (counted from the gate's start, across resumes) passes. `Some` is the
    /// breach that fails the gate.
    pub(super) async fn gate_conditions(
        &self,
        key: &str,
        requirements: &[Requirement],
        poll: Option<Poll>,
    ) -> Result<std::result::Result<Option<(FailureClass, String)>, Halt>> {
        let names = self.probes_in(requirements.iter());
        let started = self.unit_record(key).started_ms;
        let scope = Scope::default();
        loop {
            let readings = tokio::select! {
                biased;
                readings = self.read_probes(key, &names, &scope) => readings,
                () = self.stopped(StopLevel::NoNewWork) => return Ok(Err(Halt::Interrupted)),
            };
            let mut breach = None;
            for requirement in requirements {
                if let Err(found) = self.evaluate(key, requirement, &readings)? {
                    breach.get_or_insert(found);
                }
            }
            let Some(breach) = breach else {
                return Ok(Ok(None));
            };
            let next = poll.and_then(|poll| {
                let next = self.now().saturating_add(poll.interval_ms);
                (next <= started.saturating_add(poll.limit_ms)).then_some(poll.interval_ms)
            });
            let Some(wait) = next else {
                self.recorder.borrow_mut().flush()?;
                return Ok(Ok(Some((breach.class, breach.summary))));
            };
            self.recorder.borrow_mut().flush()?;
            tokio::select! {
                biased;
                () = self.stopped(StopLevel::NoNewWork) => return Ok(Err(Halt::Interrupted)),
                () = self.clock.sleep(wait) => {}
            }
        }
    }

    /// A watch: its conditions every interval for its duration. A condition that does
    /// not hold (or cannot be told) for its `for` (at once without one) raises its class.
    pub(super) async fn watch(
        &self,
        node: &'g Node,
        interval_ms: u64,
        duration_ms: u64,
        requirements: &[Requirement],
        scope: &Scope,
    ) -> Result<NodeEnd> {
        let key = unit_key(&node.id, None, scope);
        let record = self.unit_record(&key);
        let failure = |class, summary| self.failure_once(node, &key, class, summary, scope);
        match &record.outcome {
            Some(Outcome::Succeeded { .. } | Outcome::Skipped {}) => return Ok(NodeEnd::Done),
            Some(Outcome::Failed { class }) => {
                return Ok(NodeEnd::Failed(vec![failure(
                    *class,
                    "breached before the resume".into(),
                )]))
            }
            None => {}
        }
        if self.stop_level() > StopLevel::Running {
            return Ok(NodeEnd::Halted(Halt::Interrupted));
        }
        let started = if record.attempts > 0 {
            record.started_ms
        } else {
            self.commit(Fact::UnitStarted {
                unit: key.clone(),
                node: node.id.to_string(),
                host: None,
                attempt: 1,
            })?;
            self.now()
        };
        let end = started.saturating_add(duration_ms);
        let names = self.probes_in(requirements.iter());
        // A watch that starts beside the rollout must not read `baseline.NAME` before
        // there is one: it would see a breach that is not there.
        if requirements
            .iter()
            .any(|requirement| !baseline_names(&requirement.condition).is_empty())
        {
            tokio::select! {
                biased;
                taken = self.take_baseline(&node.name) => taken?,
                () = self.stopped(StopLevel::NoNewWork) => return Ok(NodeEnd::Halted(Halt::Interrupted)),
            }
        }
        // When each condition stopped holding; a resume starts the count again.
        let mut breached_since: Vec<Option<u64>> = vec![None; requirements.len()];
        loop {
            let now = self.now();
            let readings = tokio::select! {
                biased;
                readings = self.read_probes(&key, &names, scope) => readings,
                () = self.stopped(StopLevel::NoNewWork) => return Ok(NodeEnd::Halted(Halt::Interrupted)),
            };
            for (index, requirement) in requirements.iter().enumerate() {
                let mut breach = match self.evaluate(&key, requirement, &readings)? {
                    Ok(()) => {
                        breached_since[index] = None;
                        continue;
                    }
                    Err(breach) => breach,
                };
                let since = *breached_since[index].get_or_insert(now);
                let lasted = now.saturating_sub(since);
                if requirement
                    .sustain_ms
                    .is_none_or(|sustain| lasted >= sustain)
                {
                    if let Some(sustain) = requirement.sustain_ms {
                        breach.summary.push_str(&format!(
                            " for {}",
                            crate::ast::duration_text(lasted.max(sustain))
                        ));
                    }
                    self.finish(
                        &key,
                        Outcome::Failed {
                            class: breach.class,
                        },
                        Some(&breach.summary),
                    )?;
                    let failure = failure(breach.class, breach.summary);
                    let scope = Scope {
                        failure: Some(failure.clone().into()),
                        ..scope.clone()
                    };
                    self.event(
                        EventKind::Breach,
                        None,
                        &format!("breach:{key}"),
                        &scope,
                        || {
                            format!(
                                "{}: {} breached: {}",
                                self.title, node.name, failure.summary
                            )
                        },
                    )?;
                    return Ok(NodeEnd::Failed(vec![failure]));
                }
            }
            let after = self.now();
            if after >= end {
                self.finish(
                    &key,
                    Outcome::Succeeded {
                        values: BTreeMap::new(),
                    },
                    None,
                )?;
                return Ok(NodeEnd::Done);
            }
            self.recorder.borrow_mut().flush()?;
            let next = now.saturating_add(interval_ms).min(end);
            // A policy that pauses or ends the run ends the watching too; a resume
            // watches again for what is left of its time.
            tokio::select! {
                biased;
                () = self.stopped(StopLevel::NoNewWork) => return Ok(NodeEnd::Halted(Halt::Interrupted)),
                held = self.until_held() => return Ok(NodeEnd::Halted(held)),
                () = self.clock.sleep(next.saturating_sub(after)) => {}
            }
        }
    }

    /// Before the change starts (a rollout's first wave, or the first reading of a watch
    /// that compares with it, whichever comes first): the probes the plan compares with
    /// `baseline.NAME`, read once and logged (a resume uses the logged values).
    pub(super) async fn take_baseline(&self, taken_for: &str) -> Result<()> {
        let _reading = self.baseline.lock().await;
        if self.recorder.borrow().history.baseline_taken {
            return Ok(());
        }
        let names: BTreeSet<String> = self
            .graph
            .nodes()
            .iter()
            .flat_map(|node| match &node.kind {
                NodeKind::Gate { conditions, .. } => conditions.as_slice(),
                NodeKind::Watch { requirements, .. } => requirements.as_slice(),
                _ => &[],
            })
            .flat_map(|requirement| baseline_names(&requirement.condition))
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        let readings = self
            .read_probes(crate::replay::BASELINE, &names, &Scope::default())
            .await;
        self.commit(Fact::Baseline {
            taken_for: taken_for.to_string(),
            values: readings.values,
            unreadable: readings.unreadable,
        })
    }
}

/// How long one probe may take to answer.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The probes a condition names as `baseline.NAME`.
fn baseline_names(condition: &str) -> Vec<String> {
    condition
        .match_indices("baseline.")
        .map(|(at, prefix)| {
            condition[at + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}
