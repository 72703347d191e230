//! The fold: a run's state is what its events say, nothing else. A fresh run and a
//! resumed one go through the same code; the resumed one finds part of its work
//! already in here, and does not do it again.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::approval::{holder, Approval, Refusal, Vote};
use super::facts::{Decision, ExitRecord, Fact, Need, Outcome, Phase, RunStarted, RunStatus};
use crate::ast::FailureClass;
use crate::store::{Actor, Event};

/// What the log says about one unit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnitRecord {
    /// The node's id (`rollback:STEP` for an undo).
    pub node: String,
    pub host: Option<String>,
    /// How many times an attempt began.
    pub attempts: u32,
    /// When the last attempt began.
    pub started_ms: u64,
    /// The command of the last attempt that began and did not finish (the engine
    /// stopped while it ran), or that an interrupt stopped, by phase and index, until a
    /// decision or the unit's end.
    pub in_flight: Option<(Phase, usize)>,
    /// The commands of the last attempt that succeeded, by phase and index: a resume
    /// goes on after them rather than running them again.
    pub succeeded: Vec<(Phase, usize)>,
    /// Set by `UnitFinished`; cleared again by a `retry` decision.
    pub outcome: Option<Outcome>,
    /// A decision not yet acted on.
    pub decision: Option<Decision>,
    /// Values entered by the person who confirmed it, once confirmed.
    pub confirmed: Option<BTreeMap<String, String>>,
    /// A person was asked, and has not answered yet.
    pub waiting: Option<Need>,
    /// A command of it got to where it runs (it ended other than `unreachable` or
    /// `error`): only then can it have changed anything there.
    pub reached: bool,
}

impl UnitRecord {
    /// Began and never finished: the engine stopped during it.
    pub fn interrupted(&self) -> bool {
        self.attempts > 0 && self.outcome.is_none()
    }
}

/// When the first failure came, and when what each objective measures first happened
/// after it; with the objectives already decided (met or not).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Clocks {
    pub failure_ms: Option<u64>,
    /// That first failure as logged: class, node, host, summary.
    pub first: Option<(FailureClass, String, Option<String>, String)>,
    pub rollback_started_ms: Option<u64>,
    /// A rollback finished well, or the run completed.
    pub restored_ms: Option<u64>,
    /// The first message delivered after the failure.
    pub alerted_ms: Option<u64>,
    pub decided: BTreeMap<String, (bool, Option<u64>)>,
}

/// A wait between two waves, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    pub waves: String,
    /// The wave it comes before.
    pub index: usize,
    pub until_ms: u64,
    pub may_skip: Vec<String>,
    pub skipped: bool,
}

/// Where a run stands, by its log.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub started: Option<RunStarted>,
    /// When the run started.
    pub started_ms: u64,
    /// The source in force: the original, or the last accepted edit.
    pub source_sha256: String,
    pub units: HashMap<String, UnitRecord>,
    /// Units that succeeded, or were skipped by a person after they began, in the order
    /// they finished: a rollback undoes them newest first.
    pub completed: Vec<String>,
    /// Keys of the one-time events (failures, policy actions, notices, rollbacks)
    /// already taken, so that a resume does not take them twice.
    pub marks: HashSet<String>,
    /// The units each rollback set out to undo, by the rollback's key.
    pub rollbacks: HashMap<String, Vec<String>>,
    pub finished: Option<RunStatus>,
    pub paused: Option<String>,
    /// The last event's time and the number of events, for `status`.
    pub last_time_ms: u64,
    pub events: u64,
    /// The last unit that began, for `status`.
    pub current: Option<String>,
    /// What each failure logged said, by its key: a resumed policy shows people the
    /// failure as it happened.
    pub failures: HashMap<String, String>,
    /// Notices logged for a channel and not yet delivered: audience, channel, message.
    pub undelivered: BTreeMap<String, (String, String, String)>,
    /// The wave under way, or between two waves the last one: its waves block, index
    /// and hosts.
    pub wave_in_progress: Option<(String, usize, Vec<String>)>,
    /// The wait between two waves under way (logged, its wave not yet started).
    pub pause: Option<Pause>,
    /// The hosts each sampled step was given, by its key.
    pub samples: HashMap<String, Vec<String>>,
    /// The hosts each waves block has taken through its waves (those that failed taken
    /// out), in order: what `on sample P% of WAVES` chooses from.
    pub changed: HashMap<String, Vec<String>>,
    /// The probes read before the first wave, for `baseline.NAME`.
    pub baseline: BTreeMap<String, f64>,
    pub baseline_taken: bool,
    /// The objectives' clocks: the first failure, and when what each measures first
    /// happened after it.
    pub clocks: Clocks,
    /// Every approval asked, by its unit.
    pub approvals: HashMap<String, Approval>,
    /// Everyone who started or resumed the run or answered for it: `distinct` keeps
    /// them from approving it.
    pub took_part: BTreeSet<String>,
}

/// An event this build cannot read: the log is intact (its chain holds) but was not
/// written by this engine's vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {seq} (`{kind}`) is not one this version of runbook understands")]
pub struct UnknownEvent {
    pub seq: u64,
    pub kind: String,
}

impl History {
    pub fn apply(&mut self, event: &Event) -> Result<(), UnknownEvent> {
        let fact = Fact::of(event).ok_or_else(|| UnknownEvent {
            seq: event.seq,
            kind: event.kind.clone(),
        })?;
        self.apply_fact(event.time_ms, &fact, event.actor.as_ref());
        self.last_time_ms = event.time_ms;
        self.events = event.seq + 1;
        Ok(())
    }

    /// Applies one fact, said by `actor` when a person said it.
    pub fn apply_fact(&mut self, time_ms: u64, fact: &Fact, actor: Option<&Actor>) {
        let person = actor.and_then(|actor| actor.person.as_deref());
        // Who took part is who the log names: the person, else the account (a resume
        // without `--as` is the account's, as an answer typed at its terminal is).
        let named = actor.and_then(|actor| actor.person.as_deref().or(actor.os_user.as_deref()));
        if let (
            Fact::RunResumed { .. } | Fact::Confirmed { .. } | Fact::Decided { .. },
            Some(named),
        ) = (fact, named)
        {
            self.took_part.insert(named.to_string());
        }
        match fact {
            Fact::RunStarted(started) => {
                self.source_sha256 = started.source_sha256.clone();
                self.started_ms = time_ms;
                self.took_part.insert(started.started_by.clone());
                self.started = Some((**started).clone());
            }
            Fact::RunResumed { .. } => self.paused = None,
            // Where commands ran: for the transcript, nothing the run decides by.
            Fact::RemoteAccess(_) => {}
            Fact::ChangesAccepted { source_sha256, .. } => {
                self.source_sha256 = source_sha256.clone();
            }
            Fact::UnitStarted {
                unit, node, host, ..
            } => {
                let record = self.units.entry(unit.clone()).or_default();
                record.node.clone_from(node);
                record.host.clone_from(host);
                record.attempts += 1;
                record.started_ms = time_ms;
                record.in_flight = None;
                record.succeeded.clear();
                record.outcome = None;
                record.waiting = None;
                if record.decision == Some(Decision::Retry) {
                    record.decision = None;
                }
                self.current = Some(unit.clone());
            }
            Fact::Waiting {
                unit,
                node,
                need,
                approval,
                ..
            } => {
                let record = self.units.entry(unit.clone()).or_default();
                record.waiting = Some(*need);
                if record.node.is_empty() {
                    record.node.clone_from(node);
                }
                if let Some(ask) = approval {
                    // Asked again after a rejection (a resumed failure policy): a new
                    // round, with new votes and a new time allowed.
                    let again = self
                        .approvals
                        .get(unit)
                        .is_none_or(|asked| asked.settled == Some(false));
                    if again {
                        self.approvals.insert(
                            unit.clone(),
                            Approval {
                                node: node.clone(),
                                ask: ask.clone(),
                                asked_ms: time_ms,
                                timed_out: false,
                                escalated: Vec::new(),
                                votes: Vec::new(),
                                settled: None,
                            },
                        );
                    }
                }
            }
            Fact::Voted {
                unit,
                role,
                approve,
                reason,
            } => {
                if let Some(approval) = self.approvals.get_mut(unit) {
                    approval.votes.push(Vote {
                        person: person.unwrap_or_default().to_string(),
                        role: role.clone(),
                        approve: *approve,
                        reason: reason.clone(),
                    });
                }
            }
            Fact::Escalated { unit, roles } => {
                if let Some(approval) = self.approvals.get_mut(unit) {
                    approval.timed_out = true;
                    approval.escalated.extend(roles.iter().cloned());
                }
            }
            Fact::ApprovalSettled { unit, approved, .. } => {
                if let Some(approval) = self.approvals.get_mut(unit) {
                    approval.settled = Some(*approved);
                }
                if let Some(record) = self.units.get_mut(unit) {
                    record.waiting = None;
                }
            }
            Fact::Refused { .. } | Fact::Evaluated { .. } => {}
            Fact::Baseline { values, .. } => {
                self.baseline.clone_from(values);
                self.baseline_taken = true;
            }
            Fact::Confirmed { unit, values } => {
                let record = self.units.entry(unit.clone()).or_default();
                record.confirmed = Some(values.clone());
                record.waiting = None;
            }
            Fact::Decided { unit, decision } => {
                let record = self.units.entry(unit.clone()).or_default();
                record.waiting = None;
                let interrupted = record.in_flight.filter(|_| record.outcome.is_none());
                match (interrupted, decision) {
                    // A remedy runs after the step has failed: going on after it would
                    // run the failed command again. `retry` runs the step again from
                    // the start; `skip` takes the remedy as done, and the step failed.
                    (Some((Phase::Remedy, _)), Decision::Retry) => {
                        record.in_flight = None;
                        record.decision = Some(Decision::Retry);
                    }
                    (Some((Phase::Remedy, _)), _) => {
                        record.in_flight = None;
                        record.decision = Some(Decision::Fail);
                    }
                    // A decision about an interrupted command is taken here: `retry`
                    // runs it again and `skip` takes it as done; either way the attempt
                    // goes on after the commands that succeeded, as if stopped between
                    // two commands.
                    (Some(_), Decision::Retry) => record.in_flight = None,
                    (Some(command), Decision::Skip) => {
                        record.succeeded.push(command);
                        record.in_flight = None;
                    }
                    (_, Decision::Retry) => {
                        record.decision = Some(Decision::Retry);
                        record.outcome = None;
                        record.confirmed = None;
                    }
                    (_, decision) => record.decision = Some(*decision),
                }
            }
            Fact::UnitFinished { unit, outcome, .. } => {
                let record = self.units.entry(unit.clone()).or_default();
                record.outcome = Some(outcome.clone());
                record.waiting = None;
                record.in_flight = None;
                if record.decision != Some(Decision::Retry) {
                    record.decision = None;
                }
                // A unit a person skipped after it began may have acted: a rollback
                // undoes it like one that succeeded.
                let may_have_acted = match outcome {
                    Outcome::Succeeded { .. } => true,
                    Outcome::Skipped {} => record.attempts > 0,
                    Outcome::Failed { .. } => false,
                };
                if may_have_acted {
                    self.completed.push(unit.clone());
                }
            }
            Fact::Objective {
                objective,
                met,
                after_ms,
                ..
            } => {
                self.clocks
                    .decided
                    .insert(objective.clone(), (*met, *after_ms));
            }
            Fact::RollbackStarted { key, units, .. } => {
                if self.clocks.failure_ms.is_some() {
                    self.clocks.rollback_started_ms.get_or_insert(time_ms);
                }
                self.marks.insert(key.clone());
                self.rollbacks.insert(key.clone(), units.clone());
            }
            Fact::Failure {
                key,
                summary,
                class,
                node,
                host,
            } => {
                if self.clocks.failure_ms.is_none() {
                    self.clocks.failure_ms = Some(time_ms);
                    self.clocks.first = Some((*class, node.clone(), host.clone(), summary.clone()));
                }
                self.marks.insert(key.clone());
                self.failures.insert(key.clone(), summary.clone());
            }
            Fact::Notice {
                key,
                audience,
                channel,
                message,
            } => {
                if let Some(channel) = channel {
                    self.undelivered.insert(
                        key.clone(),
                        (audience.clone(), channel.clone(), message.clone()),
                    );
                }
                self.marks.insert(key.clone());
            }
            Fact::Delivered { key, ok, .. } => {
                self.undelivered.remove(key);
                if *ok && self.clocks.failure_ms.is_some() {
                    self.clocks.alerted_ms.get_or_insert(time_ms);
                }
            }
            Fact::PolicyAction { key, .. } => {
                self.marks.insert(key.clone());
            }
            Fact::RollbackFinished { key, succeeded } => {
                if *succeeded && self.clocks.failure_ms.is_some() {
                    self.clocks.restored_ms.get_or_insert(time_ms);
                }
                self.marks.insert(format!("{key}/finished"));
            }
            Fact::RunPaused { reason } => self.paused = Some(reason.clone()),
            Fact::RunFinished { status } => {
                if *status == RunStatus::Completed && self.clocks.failure_ms.is_some() {
                    self.clocks.restored_ms.get_or_insert(time_ms);
                }
                self.finished = Some(*status);
            }
            Fact::Sampled { key, hosts, .. } => {
                self.samples.insert(key.clone(), hosts.clone());
            }
            Fact::WaveStarted {
                waves,
                index,
                hosts,
                ..
            } => {
                if self
                    .pause
                    .as_ref()
                    .is_some_and(|pause| pause.waves == *waves && pause.index == *index)
                {
                    self.pause = None;
                }
                self.wave_in_progress = Some((waves.clone(), *index, hosts.clone()));
                self.changed
                    .entry(waves.clone())
                    .or_default()
                    .extend(hosts.iter().cloned());
                self.marks.insert(super::run::wave_key(waves, *index));
            }
            Fact::WavePause {
                waves,
                index,
                until_ms,
                may_skip,
            } => {
                self.pause = Some(Pause {
                    waves: waves.clone(),
                    index: *index,
                    until_ms: *until_ms,
                    may_skip: may_skip.clone(),
                    skipped: false,
                });
            }
            Fact::PauseSkipped { waves, index, .. } => {
                if let Some(pause) = self
                    .pause
                    .as_mut()
                    .filter(|pause| pause.waves == *waves && pause.index == *index)
                {
                    pause.skipped = true;
                }
            }
            Fact::WaveFinished {
                waves,
                index,
                failed,
            } => {
                if let Some(changed) = self.changed.get_mut(waves) {
                    changed.retain(|host| !failed.contains(host));
                }

                let key = super::run::wave_key(waves, *index);
                self.marks.insert(format!("{key}/finished"));
            }
            Fact::CommandStarted {
                unit, phase, index, ..
            } => {
                self.units.entry(unit.clone()).or_default().in_flight = Some((*phase, *index));
            }
            Fact::CommandFinished {
                unit,
                phase,
                index,
                exit,
                ..
            } => {
                let record = self.units.entry(unit.clone()).or_default();
                // A command an interrupt stopped may have run in part, as much as one
                // the engine died in: it stays in flight until a person decides.
                record.in_flight = (*exit == ExitRecord::Interrupted).then_some((*phase, *index));
                // `error`: the command could not be started (or was a sandboxed script).
                record.reached |= !matches!(exit, ExitRecord::Unreachable | ExitRecord::Error);
                if *exit == ExitRecord::Code(0) {
                    record.succeeded.push((*phase, *index));
                }
            }
            Fact::Output { .. } => {}
        }
    }

    pub fn unit(&self, unit: &str) -> Option<&UnitRecord> {
        self.units.get(unit)
    }

    /// The approvals taking votes under `name` (a gate, `failure:CLASS`, or one
    /// approval's own unit), with their units, oldest first.
    pub fn open_approvals(&self, name: &str) -> Vec<(&str, &Approval)> {
        let mut open: Vec<(&str, &Approval)> = self
            .approvals
            .iter()
            .filter(|(unit, approval)| {
                (approval.node == name || unit.as_str() == name) && approval.is_open()
            })
            .map(|(unit, approval)| (unit.as_str(), approval))
            .collect();
        open.sort_by_key(|(unit, approval)| (approval.asked_ms, *unit));
        open
    }

    /// Whether `person` may give `answer` for `unit`, and the role a vote counts for:
    /// one rule for the engine and for `runbook approve|confirm|decide|skip-pause`.
    /// With a roster, only its people answer; a vote must pass its approval's rules;
    /// a pause is skipped only by a role it names, which needs a roster.
    pub fn judge(
        &self,
        answer: &crate::engine::inbox::Answer,
        unit: &str,
        person: &str,
    ) -> Result<String, Refusal> {
        use crate::engine::inbox::Answer;
        let empty = BTreeMap::new();
        let roster = self.roster();
        match answer {
            Answer::SkipPause { .. } => {
                let Some(roster) = roster else {
                    return Err(Refusal::NoRoster);
                };
                let may_skip = self.pause.iter().flat_map(|pause| pause.may_skip.iter());
                holder(person, roster, may_skip, "skipping this pause")
            }
            Answer::Voted { .. } => match self.approvals.get(unit) {
                Some(approval) => approval.judge(person, roster.unwrap_or(&empty), &self.took_part),
                None => Err(Refusal::Unknown {
                    person: person.to_string(),
                }),
            },
            Answer::Confirmed(_) | Answer::Decided(_) => match roster {
                Some(roster) if !roster.contains_key(person) => Err(Refusal::Unknown {
                    person: person.to_string(),
                }),
                _ => Ok(String::new()),
            },
        }
    }

    /// The people of the run's roster; none when it has no roster.
    pub fn roster(&self) -> Option<&BTreeMap<String, super::facts::Member>> {
        self.started
            .as_ref()
            .and_then(|started| started.roster.as_ref())
    }

    /// Units waiting for a person, in no particular order.
    pub fn waiting(&self) -> impl Iterator<Item = (&str, Need)> {
        self.units
            .iter()
            .filter_map(|(unit, record)| record.waiting.map(|need| (unit.as_str(), need)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::FailureClass;

    fn fold(facts: &[Fact]) -> History {
        let mut history = History::default();
        for fact in facts {
            history.apply_fact(0, fact, None);
        }
        history
    }

    fn started(phase: Phase, index: usize) -> Vec<Fact> {
        vec![
            Fact::UnitStarted {
                unit: "s".into(),
                node: "s".into(),
                host: None,
                attempt: 1,
            },
            Fact::CommandStarted {
                unit: "s".into(),
                phase,
                index,
                attempt: 1,
                command: "x".into(),
            },
        ]
    }

    fn decided(decision: Decision) -> Fact {
        Fact::Decided {
            unit: "s".into(),
            decision,
        }
    }

    #[test]
    fn a_retry_after_a_decided_failure_runs_the_step_again() {
        let mut facts = started(Phase::Run, 0);
        facts.push(decided(Decision::Fail));
        facts.push(Fact::UnitFinished {
            unit: "s".into(),
            outcome: Outcome::Failed {
                class: FailureClass::Functional,
            },
            summary: None,
        });
        facts.push(decided(Decision::Retry));
        let history = fold(&facts);
        let record = history.unit("s").expect("the unit");
        assert_eq!(record.outcome, None);
        assert_eq!(record.decision, Some(Decision::Retry));
        assert_eq!(record.in_flight, None);
    }

    #[test]
    fn a_decision_on_an_interrupted_remedy_is_about_the_failed_step() {
        let mut skipped = started(Phase::Remedy, 0);
        skipped.push(decided(Decision::Skip));
        let record = fold(&skipped).unit("s").cloned().expect("the unit");
        assert_eq!(record.decision, Some(Decision::Fail));
        assert!(record.succeeded.is_empty());

        let mut retried = started(Phase::Remedy, 0);
        retried.push(decided(Decision::Retry));
        let record = fold(&retried).unit("s").cloned().expect("the unit");
        assert_eq!(record.decision, Some(Decision::Retry));
    }

    #[test]
    fn a_decision_on_an_interrupted_command_goes_on_after_it() {
        let mut skipped = started(Phase::Run, 1);
        skipped.push(decided(Decision::Skip));
        let record = fold(&skipped).unit("s").cloned().expect("the unit");
        assert_eq!(record.succeeded, vec![(Phase::Run, 1)]);
        assert_eq!((record.decision, record.in_flight), (None, None));
    }
}
