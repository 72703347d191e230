//! The fold from events to a `Transcript`: one pass, in log order. The run's own fold
//! (`History`) goes alongside, so the key moments are the very clocks the objectives
//! were judged by.

use std::collections::HashMap;

use super::{
    exit_text, seconds, About, Action, Answer, At, Chain, Command, Delivery, Drill, Edit, Entry,
    Evaluation, EvaluationKind, FailureNote, Header, Moment, MomentKind, Notice, Objective, Part,
    Person, Piece, Postmortem, RunState, Transcript, SCHEMA, TO_FILL_IN,
};
use crate::ast::Word;
use crate::engine::facts::{Fact, RunStarted, RunStatus};
use crate::engine::history::History;
use crate::engine::report::line;
use crate::store::Event;

impl Transcript {
    pub fn from_events(events: &[Event]) -> Transcript {
        let mut builder = Builder::default();
        for event in events {
            builder.take(event);
        }
        builder.finish(events)
    }
}

#[derive(Default)]
struct Builder {
    history: History,
    header: Option<Header>,
    timeline: Vec<Entry>,
    answers: Vec<Answer>,
    commands: Vec<Command>,
    evaluations: Vec<Evaluation>,
    objectives: Vec<Objective>,
    notices: Vec<Notice>,
    failures: Vec<FailureNote>,
    /// Each unit's node and host, from its latest start.
    units: HashMap<String, (String, Option<String>)>,
    /// Each unit's latest command, which its output and its end belong to.
    latest_command: HashMap<String, usize>,
    /// The latest notice logged under each key, which its deliveries belong to.
    notice_keys: HashMap<String, usize>,
    /// The first rollback's start (scope, units) and end (whether it went well).
    rollback_started: Option<(String, usize)>,
    rollback_finished: Option<(At, bool)>,
    /// When the run last finished, and last paused.
    finished: Option<At>,
    paused: Option<At>,
}

/// Who said an event, as logged.
struct Said {
    person: Option<String>,
    os_user: Option<String>,
}

impl Builder {
    fn take(&mut self, event: &Event) {
        let at = At::of(event.time_ms);
        let said = Said {
            person: event.actor.as_ref().and_then(|actor| actor.person.clone()),
            os_user: event.actor.as_ref().and_then(|actor| actor.os_user.clone()),
        };
        let Some(fact) = Fact::of(event) else {
            self.push(
                event,
                &said,
                format!("(event {} of an unknown kind `{}`)", event.seq, event.kind),
                About::Unknown,
            );
            return;
        };
        self.history
            .apply_fact(event.time_ms, &fact, event.actor.as_ref());
        let text = line(&fact).unwrap_or_else(|| event.kind.clone());
        let about = match &fact {
            Fact::RunStarted(started) => {
                self.header = Some(header(started, at, &said));
                About::Run
            }
            Fact::ChangesAccepted {
                previous_sha256,
                source_sha256,
                ..
            } => {
                if let Some(header) = &mut self.header {
                    header.accepted_edits.push(Edit {
                        at,
                        previous_sha256: previous_sha256.clone(),
                        source_sha256: source_sha256.clone(),
                        person: said.person.clone(),
                        os_user: said.os_user.clone(),
                    });
                }
                About::Event
            }
            Fact::UnitStarted {
                unit, node, host, ..
            } => {
                self.units
                    .insert(unit.clone(), (node.clone(), host.clone()));
                About::Event
            }
            Fact::CommandStarted {
                unit,
                phase,
                index,
                attempt,
                command,
            } => {
                let (node, host) = self.units.get(unit).cloned().unwrap_or_default();
                let number = self.commands.len();
                self.commands.push(Command {
                    unit: unit.clone(),
                    node,
                    host,
                    phase: *phase,
                    number: index + 1,
                    attempt: *attempt,
                    command: command.clone(),
                    started: at,
                    ended: None,
                    exit: None,
                    duration_ms: None,
                    full_output: None,
                    output: Vec::new(),
                });
                self.latest_command.insert(unit.clone(), number);
                return self.push(
                    event,
                    &said,
                    format!("$ {command}"),
                    About::CommandStarted { command: number },
                );
            }
            Fact::Output { unit, stream, text } => {
                let Some(command) = self
                    .latest_command
                    .get(unit)
                    .and_then(|&number| self.commands.get_mut(number))
                else {
                    return self.push(
                        event,
                        &said,
                        format!("output of {unit} with no command ({stream}): {text}"),
                        About::Event,
                    );
                };
                command.output.push(Piece {
                    seq: event.seq,
                    stream: stream.clone(),
                    text: text.clone(),
                });
                return;
            }
            Fact::CommandFinished {
                unit,
                exit,
                duration_ms,
                full_output,
                ..
            } => {
                let ended = format!("{} after {}", exit_text(*exit), seconds(*duration_ms));
                let Some((number, command)) = self.latest_command.get(unit).and_then(|&number| {
                    self.commands
                        .get_mut(number)
                        .map(|command| (number, command))
                }) else {
                    return self.push(
                        event,
                        &said,
                        format!("{unit}: a command with no start ended: {ended}"),
                        About::Event,
                    );
                };
                command.ended = Some(at);
                command.exit = Some(*exit);
                command.duration_ms = Some(*duration_ms);
                command.full_output.clone_from(full_output);
                return self.push(
                    event,
                    &said,
                    ended,
                    About::CommandFinished { command: number },
                );
            }
            Fact::Voted {
                unit,
                role,
                approve,
                reason,
            } => self.answer(Answer {
                role: Some(role.clone()),
                reason: reason.clone(),
                ..self.answer_by(at, &said, if *approve { "approve" } else { "reject" }, unit)
            }),
            Fact::Confirmed { unit, values } => self.answer(Answer {
                values: values.clone(),
                ..self.answer_by(at, &said, "confirm", unit)
            }),
            Fact::Decided { unit, decision } => self.answer(Answer {
                decision: Some(*decision),
                ..self.answer_by(at, &said, "decide", unit)
            }),
            Fact::PauseSkipped {
                waves,
                index,
                reason,
            } => self.answer(Answer {
                reason: reason.clone(),
                ..self.answer_by(
                    at,
                    &said,
                    "skip-pause",
                    &format!("{waves}, before wave {}", index + 1),
                )
            }),
            Fact::Refused { node, answer, why } => self.answer(Answer {
                refused: Some(why.clone()),
                ..self.answer_by(at, &said, answer, node)
            }),
            Fact::Evaluated {
                unit,
                condition,
                values,
                unreadable,
                holds,
                error,
            } => {
                self.evaluations.push(Evaluation {
                    at,
                    kind: EvaluationKind::Condition,
                    of: unit.clone(),
                    condition: Some(condition.trim().to_string()),
                    values: values.clone(),
                    unreadable: unreadable.clone(),
                    holds: *holds,
                    error: error.clone(),
                });
                About::Event
            }
            Fact::Baseline {
                taken_for,
                values,
                unreadable,
            } => {
                self.evaluations.push(Evaluation {
                    at,
                    kind: EvaluationKind::Baseline,
                    of: taken_for.clone(),
                    condition: None,
                    values: values.clone(),
                    unreadable: unreadable.clone(),
                    holds: None,
                    error: None,
                });
                About::Event
            }
            Fact::Objective {
                objective,
                limit_ms,
                met,
                after_ms,
            } => {
                self.objectives.push(Objective {
                    at,
                    objective: objective.clone(),
                    limit_ms: *limit_ms,
                    met: *met,
                    after_ms: *after_ms,
                });
                About::Event
            }
            Fact::Notice {
                key,
                audience,
                channel,
                message,
            } => {
                let notice = self.notices.len();
                self.notices.push(Notice {
                    at,
                    key: key.clone(),
                    audience: audience.clone(),
                    channel: channel.clone(),
                    message: message.clone(),
                    deliveries: Vec::new(),
                });
                self.notice_keys.insert(key.clone(), notice);
                About::Notice { notice }
            }
            Fact::Delivered {
                key,
                channel,
                ok,
                attempts,
                detail,
            } => {
                let Some((notice, sent)) = self
                    .notice_keys
                    .get(key)
                    .and_then(|&notice| self.notices.get_mut(notice).map(|sent| (notice, sent)))
                else {
                    return self.push(event, &said, text, About::Event);
                };
                sent.deliveries.push(Delivery {
                    at,
                    channel: channel.clone(),
                    ok: *ok,
                    attempts: *attempts,
                    detail: detail.clone(),
                });
                let text = line(&fact).unwrap_or_else(|| {
                    format!("notice via {channel} delivered after {attempts} attempt(s)")
                });
                return self.push(
                    event,
                    &said,
                    text,
                    About::Delivery {
                        notice,
                        delivered: *ok,
                    },
                );
            }
            Fact::Failure {
                class,
                node,
                host,
                summary,
                ..
            } => {
                self.failures.push(FailureNote {
                    at,
                    class: class.word().to_string(),
                    node: node.clone(),
                    host: host.clone(),
                    summary: summary.clone(),
                });
                About::Event
            }
            Fact::RollbackStarted { scope, units, .. } => {
                self.rollback_started
                    .get_or_insert_with(|| (scope.clone(), units.len()));
                About::Event
            }
            Fact::RollbackFinished { succeeded, .. } => {
                self.rollback_finished.get_or_insert((at, *succeeded));
                About::Event
            }
            Fact::RunPaused { .. } => {
                self.paused = Some(at);
                About::Event
            }
            Fact::RunFinished { .. } => {
                self.finished = Some(at);
                About::Event
            }
            _ => About::Event,
        };
        self.push(event, &said, text, about);
    }

    fn push(&mut self, event: &Event, said: &Said, text: String, about: About) {
        self.timeline.push(Entry {
            seq: event.seq,
            at: At::of(event.time_ms),
            kind: event.kind.clone(),
            person: said.person.clone(),
            os_user: said.os_user.clone(),
            text,
            about,
        });
    }

    /// An answer with what every answer has: when, what, about what, and from whom.
    fn answer_by(&self, at: At, said: &Said, answer: &str, about: &str) -> Answer {
        let people = self
            .header
            .as_ref()
            .map(|header| header.people.as_slice())
            .unwrap_or_default();
        let known = said
            .person
            .as_deref()
            .and_then(|login| people.iter().find(|person| person.login == login));
        Answer {
            at,
            answer: answer.to_string(),
            about: about.to_string(),
            person: said.person.clone(),
            name: known.and_then(|person| person.name.clone()),
            os_user: said.os_user.clone(),
            roles: known.map(|person| person.roles.clone()).unwrap_or_default(),
            role: None,
            decision: None,
            values: Default::default(),
            reason: None,
            refused: None,
        }
    }

    fn answer(&mut self, answer: Answer) -> About {
        self.answers.push(answer);
        About::Answer {
            answer: self.answers.len() - 1,
        }
    }

    fn finish(mut self, events: &[Event]) -> Transcript {
        let status = match (self.history.finished, &self.history.paused) {
            (Some(RunStatus::Completed), _) => RunState::Completed,
            (Some(RunStatus::Failed), _) => RunState::Failed,
            (Some(RunStatus::RollbackFailed), _) => RunState::RollbackFailed,
            (None, Some(_)) => RunState::Paused,
            (None, None) => RunState::NotEnded,
        };
        if let Some(header) = &mut self.header {
            header.status = status;
        }
        let key_moments = self.key_moments(status);
        let postmortem = self.postmortem();
        let chain = match (events.first(), events.last()) {
            (Some(first), Some(last)) => Some(Chain {
                events: events.len(),
                first: At::of(first.time_ms),
                last: At::of(last.time_ms),
                last_hash: last.hash.clone(),
            }),
            _ => None,
        };
        Transcript {
            schema: SCHEMA,
            header: self.header,
            key_moments,
            timeline: self.timeline,
            answers: self.answers,
            commands: self.commands,
            evaluations: self.evaluations,
            objectives: self.objectives,
            notices: self.notices,
            postmortem,
            chain,
        }
    }

    fn key_moments(&self, status: RunState) -> Vec<Moment> {
        let clocks = &self.history.clocks;
        let start = self.header.as_ref().map(|header| header.started.clone());
        let failure = clocks.failure_ms.map(At::of);
        let moment = |kind: MomentKind, at: Option<At>, detail: String| Moment {
            moment: kind,
            since_start_ms: at
                .as_ref()
                .zip(start.as_ref())
                .and_then(|(at, start)| at.since(start)),
            since_failure_ms: at
                .as_ref()
                .zip(failure.as_ref())
                .and_then(|(at, failure)| at.since(failure)),
            at,
            detail,
        };
        let started = match &self.header {
            Some(header) => format!(
                "run {} started by {} on {}",
                header.run,
                Person::described(&header.started_by, &header.people),
                header.machine
            ),
            None => "the log does not start with a run".to_string(),
        };
        let first_failure = self
            .failures
            .first()
            .map(FailureNote::text)
            .unwrap_or_else(|| "no failure".to_string());
        let rollback_started = match &self.rollback_started {
            Some((scope, units)) => format!("rollback ({scope}) of {units} unit(s)"),
            None => "no rollback".to_string(),
        };
        let rollback_finished = match (&self.rollback_finished, &self.rollback_started) {
            (Some((_, true)), _) => "the rollback finished well".to_string(),
            (Some((_, false)), _) => "THE ROLLBACK FAILED: people took over".to_string(),
            (None, Some(_)) => "the rollback has not finished".to_string(),
            (None, None) => "no rollback".to_string(),
        };
        let restored_at = clocks.restored_ms.map(At::of);
        let restored = match (&restored_at, &failure, &self.rollback_finished) {
            (Some(at), _, Some((finished, true))) if at == finished => {
                "the rollback finished well".to_string()
            }
            (Some(_), ..) => "the run completed after the failure".to_string(),
            (None, Some(_), _) => "not restored by the end of the log".to_string(),
            (None, None, _) => "nothing to restore: no failure".to_string(),
        };
        let last = match status {
            RunState::Paused => moment(
                MomentKind::Paused,
                self.paused.clone(),
                format!(
                    "paused: {}",
                    self.history.paused.as_deref().unwrap_or_default()
                ),
            ),
            RunState::NotEnded => moment(
                MomentKind::Finished,
                None,
                "the log does not say the run ended: it is under way, or its engine stopped"
                    .to_string(),
            ),
            ended => moment(
                MomentKind::Finished,
                self.finished.clone(),
                format!("run {}", ended.words()),
            ),
        };
        vec![
            moment(MomentKind::Started, start.clone(), started),
            moment(MomentKind::FirstFailure, failure.clone(), first_failure),
            moment(
                MomentKind::RollbackStarted,
                clocks.rollback_started_ms.map(At::of),
                rollback_started,
            ),
            moment(
                MomentKind::RollbackFinished,
                self.rollback_finished.as_ref().map(|(at, _)| at.clone()),
                rollback_finished,
            ),
            moment(MomentKind::Restored, restored_at, restored),
            last,
        ]
    }

    /// The skeleton, with prompts from the log: the failures for the root cause, what
    /// was met for what went well, what was breached, refused or lost for what went
    /// badly.
    fn postmortem(&self) -> Postmortem {
        let mut went_well = Vec::new();
        let mut went_badly = Vec::new();
        for objective in &self.objectives {
            let said = format!(
                "objective {} ({}) {}",
                objective.objective,
                objective.limit(),
                objective.result()
            );
            if objective.met {
                went_well.push(said);
            } else {
                went_badly.push(said);
            }
        }
        match self.rollback_finished {
            Some((_, true)) => went_well.push("the rollback finished well".to_string()),
            Some((_, false)) => went_badly.push("the rollback failed".to_string()),
            None => {}
        }
        for notice in self.notices.iter().filter(|notice| !notice.delivered()) {
            went_badly.push(format!(
                "the notice to {} ({}): {}",
                notice.audience,
                notice.message,
                notice.outcome()
            ));
        }
        for answer in &self.answers {
            let who = answer.person.as_deref().unwrap_or("someone");
            match (&answer.refused, answer.answer.as_str()) {
                (Some(why), word) => went_badly.push(format!(
                    "{who}'s `{word}` on {} was refused: {why}",
                    answer.about
                )),
                (None, "reject") => went_badly.push(format!(
                    "{who} rejected {}{}",
                    answer.about,
                    answer
                        .reason
                        .as_deref()
                        .map(|reason| format!(": {reason}"))
                        .unwrap_or_default()
                )),
                _ => {}
            }
        }
        Postmortem {
            status: TO_FILL_IN.to_string(),
            failures: self.failures.clone(),
            root_cause: Part {
                prompts: self.failures.iter().map(FailureNote::text).collect(),
                text: String::new(),
            },
            corrective_actions: vec![Action::default()],
            went_well: Part {
                prompts: went_well,
                text: String::new(),
            },
            went_badly: Part {
                prompts: went_badly,
                text: String::new(),
            },
        }
    }
}

fn header(started: &RunStarted, at: At, said: &Said) -> Header {
    Header {
        run: started.run.clone(),
        runbook: started.runbook.clone(),
        title: started.title.clone(),
        file: started.file.clone(),
        source_sha256: started.source_sha256.clone(),
        source: started.source.clone(),
        accepted_edits: Vec::new(),
        started: at,
        started_by: started.started_by.clone(),
        person: said.person.clone(),
        os_user: said.os_user.clone(),
        machine: started.machine.clone(),
        engine_version: started.engine_version.clone(),
        drill: started.drill.as_ref().map(|mark| Drill {
            simulated: mark.simulated,
            injected: mark.injected.clone(),
            probes: mark.probes.clone(),
            responders: mark.responders.clone(),
        }),
        status: RunState::NotEnded,
        params: started.params.clone(),
        inventories: started.inventories.clone(),
        people: Person::all(started.roster.as_ref()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::super::sealed::log;
    use super::*;

    fn started() -> (u64, &'static str, Value, Option<&'static str>) {
        (
            60_000,
            "run_started",
            json!({
                "run": "r1", "runbook": "plan", "file": "plan.rbk", "machine": "box",
                "started_by": "alice", "source_sha256": "abc", "source": "runbook \"plan\" {}",
                "params": {}, "inventories": {}, "seed": 1, "engine_version": "0",
                "roster": {
                    "alice": {"name": "Alice", "roles": ["commander"]},
                    "bao": {"roles": ["dba", "executor"]}
                }
            }),
            Some("alice"),
        )
    }

    #[test]
    fn every_kind_of_answer_is_kept_with_the_roles_the_roster_gave_its_person() {
        let transcript = Transcript::from_events(&log(&[
            started(),
            (
                61_000,
                "decided",
                json!({"unit": "s@h1", "decision": "skip"}),
                Some("bao"),
            ),
            (
                62_000,
                "pause_skipped",
                json!({"waves": "roll", "index": 1, "reason": "clean"}),
                Some("alice"),
            ),
            (
                63_000,
                "refused",
                json!({"node": "go", "answer": "approve", "why": "not in the roster"}),
                Some("mallory"),
            ),
        ]));
        let answers: Vec<(&str, &str, Vec<String>, bool)> = transcript
            .answers
            .iter()
            .map(|answer| {
                (
                    answer.answer.as_str(),
                    answer.about.as_str(),
                    answer.roles.clone(),
                    answer.refused.is_none(),
                )
            })
            .collect();
        assert_eq!(
            answers,
            [
                (
                    "decide",
                    "s@h1",
                    vec!["dba".into(), "executor".into()],
                    true
                ),
                (
                    "skip-pause",
                    "roll, before wave 2",
                    vec!["commander".into()],
                    true
                ),
                ("approve", "go", vec![], false),
            ]
        );
        assert_eq!(
            transcript.answers[0].decision,
            Some(crate::engine::facts::Decision::Skip)
        );
        assert_eq!(transcript.answers[1].reason.as_deref(), Some("clean"));
        assert_eq!(
            transcript.postmortem.went_badly.prompts,
            ["mallory's `approve` on go was refused: not in the roster"]
        );
        let about: Vec<About> = transcript
            .timeline
            .iter()
            .map(|entry| entry.about)
            .collect();
        assert_eq!(
            about,
            [
                About::Run,
                About::Answer { answer: 0 },
                About::Answer { answer: 1 },
                About::Answer { answer: 2 }
            ]
        );
    }

    #[test]
    fn a_paused_run_without_a_failure_has_its_moments_and_an_unknown_event_is_shown() {
        let transcript = Transcript::from_events(&log(&[
            started(),
            (90_000, "comet_sighted", json!({}), None),
            (
                120_000,
                "run_paused",
                json!({"reason": "waiting for a person"}),
                None,
            ),
        ]));
        let moments: Vec<(MomentKind, Option<u64>, &str)> = transcript
            .key_moments
            .iter()
            .map(|moment| (moment.moment, moment.since_start_ms, moment.detail.as_str()))
            .collect();
        assert_eq!(
            moments,
            [
                (
                    MomentKind::Started,
                    Some(0),
                    "run r1 started by alice (Alice; commander) on box"
                ),
                (MomentKind::FirstFailure, None, "no failure"),
                (MomentKind::RollbackStarted, None, "no rollback"),
                (MomentKind::RollbackFinished, None, "no rollback"),
                (MomentKind::Restored, None, "nothing to restore: no failure"),
                (
                    MomentKind::Paused,
                    Some(60_000),
                    "paused: waiting for a person"
                ),
            ]
        );
        let unknown = &transcript.timeline[1];
        assert_eq!(unknown.about, About::Unknown);
        assert_eq!(unknown.text, "(event 1 of an unknown kind `comet_sighted`)");
        assert_eq!(
            transcript.header.as_ref().map(|header| header.status),
            Some(RunState::Paused)
        );
        assert!(transcript.postmortem.root_cause.prompts.is_empty());
    }

    #[test]
    fn output_and_ends_go_to_the_latest_command_of_their_unit() {
        let transcript = Transcript::from_events(&log(&[
            started(),
            (
                61_000,
                "unit_started",
                json!({"unit": "s@h1", "node": "s", "host": "h1", "attempt": 1}),
                None,
            ),
            (
                61_001,
                "unit_started",
                json!({"unit": "s@h2", "node": "s", "host": "h2", "attempt": 1}),
                None,
            ),
            (
                61_002,
                "command_started",
                json!({"unit": "s@h1", "phase": "run", "index": 0, "attempt": 1, "command": "one"}),
                None,
            ),
            (
                61_003,
                "command_started",
                json!({"unit": "s@h2", "phase": "run", "index": 0, "attempt": 1, "command": "two"}),
                None,
            ),
            (
                61_004,
                "output",
                json!({"unit": "s@h1", "stream": "stderr", "text": "oops\n"}),
                None,
            ),
            (
                61_005,
                "command_finished",
                json!({"unit": "s@h1", "phase": "run", "index": 0, "attempt": 1,
                       "exit": {"code": 2}, "duration_ms": 3}),
                None,
            ),
        ]));
        let [first, second] = transcript.commands.as_slice() else {
            panic!("two commands: {:?}", transcript.commands);
        };
        assert_eq!(first.host.as_deref(), Some("h1"));
        assert_eq!(first.output.len(), 1);
        assert_eq!(first.ended_text(), "exit 2");
        assert_eq!(second.host.as_deref(), Some("h2"));
        assert!(second.output.is_empty() && second.exit.is_none());
        assert_eq!(
            transcript.timeline.last().map(|entry| entry.about),
            Some(About::CommandFinished { command: 0 })
        );
    }
}
