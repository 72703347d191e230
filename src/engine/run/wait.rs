//! Waiting for people: a wait is logged, shown, and answered from the run's own
//! terminal or from another one (the inbox). Confirmations and decisions end at the
//! first answer taken; approvals (gate.rs) hear votes one at a time until settled.
//!
//! When the run has a roster, a person not in it is refused, whatever they answer:
//! the refusal is logged beside the answers that were taken.

use std::collections::BTreeMap;

use tokio::sync::{mpsc, MutexGuard};

use super::{Result, Run, StopLevel};
use crate::engine::facts::{Ask, Fact, Need};
use crate::engine::inbox::{self, Answer, Reply, Taken};
use crate::engine::terminal::{self, Typed};
use crate::store::Actor;

/// One wait for people, as it is asked.
pub(super) struct Wait<'a> {
    /// The unit waiting.
    pub key: &'a str,
    /// The name people answer to: a node's id, or `failure:CLASS`.
    pub node: &'a str,
    pub host: Option<&'a str>,
    pub need: Need,
    /// What the person is asked to do.
    pub text: String,
    /// Who is expected to answer, for the display.
    pub owner: Option<&'a str>,
    /// The keys a confirmation enters, in the order they are asked for.
    pub records: Vec<&'a str>,
    pub approval: Option<Ask>,
}

/// What a wait heard.
pub(super) enum Heard {
    Answer {
        answer: Answer,
        actor: Actor,
        /// Where the answer came from another terminal: the reply goes there.
        taken: Option<Box<Taken>>,
    },
    /// The deadline given passed first.
    TimeUp,
    /// The run is stopping.
    Stopped,
    /// A drill: no responder answers this wait, and it has no end of its own.
    Nobody,
}

type Lines = mpsc::UnboundedReceiver<String>;

/// The keyboard while one wait holds it, and a confirmation's values typed so far.
#[derive(Default)]
pub(super) struct Listener<'t> {
    keyboard: Option<MutexGuard<'t, Lines>>,
    entered: Option<Vec<String>>,
}

impl<'g> Run<'g> {
    /// Logs the wait (once: a resumed wait is not logged again) and shows it. Returns
    /// whether to wait; `false` when the engine was told not to, and the run pauses.
    pub(super) fn announce(&self, wait: &Wait<'_>) -> Result<bool> {
        let waiting = Fact::Waiting {
            unit: wait.key.to_string(),
            node: wait.node.to_string(),
            host: wait.host.map(str::to_string),
            need: wait.need,
            text: self.redactor.redact(&wait.text).into_owned(),
            approval: wait.approval.clone(),
        };
        let asked = {
            let recorder = self.recorder.borrow();
            let history = &recorder.history;
            let waits = history
                .unit(wait.key)
                .is_some_and(|record| record.waiting == Some(wait.need));
            let open = wait.approval.is_none()
                || history
                    .approvals
                    .get(wait.key)
                    .is_some_and(|approval| approval.settled.is_none());
            waits && open
        };
        if asked {
            self.recorder.borrow_mut().flush()?;
        } else {
            self.note(waiting.clone())?;
            if wait.need == Need::Approval {
                let key = format!("gate:{}", wait.key);
                let scope = crate::engine::values::Scope::default();
                self.event(crate::ast::EventKind::Gate, None, &key, &scope, || {
                    format!(
                        "{}: `{}` waits for an approval: runbook approve {} {} --as NAME",
                        self.title, wait.node, self.run_id, wait.node
                    )
                })?;
            }
            self.recorder.borrow_mut().flush()?;
        }
        if !self.wait_for_people {
            return Ok(false);
        }
        tracing::debug!(unit = wait.key, need = ?wait.need, "waiting for a person");
        let mut recorder = self.recorder.borrow_mut();
        if recorder.reporter().live() {
            recorder
                .reporter()
                .waiting(&waiting, wait.owner, &wait.records);
        }
        Ok(true)
    }

    /// A confirmation or a decision: the first answer taken, or `None` when the run is
    /// to pause instead (or was interrupted while waiting).
    pub(super) async fn ask(&self, wait: Wait<'_>) -> Result<Option<Answer>> {
        if !self.announce(&wait)? {
            return Ok(None);
        }
        let mut listener = Listener::default();
        loop {
            let Heard::Answer {
                answer,
                actor,
                taken,
            } = self.hear(&wait, &mut listener, None).await?
            else {
                return Ok(None);
            };
            if let Some(answer) = self.take_answer(&wait, answer, actor, taken.as_deref())? {
                return Ok(Some(answer));
            }
        }
    }

    /// Judges an answer by the run's rules (`History::judge`), then logs it as said by
    /// `actor`, or logs its refusal, and tells them which. `None` when refused.
    pub(super) fn take_answer(
        &self,
        wait: &Wait<'_>,
        answer: Answer,
        actor: Actor,
        taken: Option<&Taken>,
    ) -> Result<Option<Answer>> {
        let person = actor.person.clone().unwrap_or_default();
        let judged = self
            .recorder
            .borrow()
            .history
            .judge(&answer, wait.key, &person);
        let role = match judged {
            Ok(role) => role,
            Err(refusal) => {
                self.refuse(wait, &answer, actor, &refusal, taken)?;
                return Ok(None);
            }
        };
        tracing::debug!(unit = wait.key, person = %person, "answer taken");
        let fact = match answer.fact(wait.key, &role) {
            Fact::Confirmed { unit, values } => Fact::Confirmed {
                values: self.redacted(&values),
                unit,
            },
            Fact::Voted {
                unit,
                role,
                approve,
                reason,
            } => Fact::Voted {
                unit,
                role,
                approve,
                reason: reason.map(|reason| self.redactor.redact(&reason).into_owned()),
            },
            other => other,
        };
        self.recorder
            .borrow_mut()
            .commit_as(self.now(), fact, Some(actor))?;
        if let Some(taken) = taken {
            taken.reply(&Reply {
                taken: true,
                message: format!("the engine logged the answer for {}", wait.node),
                code: None,
                help: None,
            });
        }
        Ok(Some(answer))
    }

    /// Logs a refused answer, and tells the person who gave it.
    pub(super) fn refuse(
        &self,
        wait: &Wait<'_>,
        answer: &Answer,
        actor: Actor,
        refusal: &crate::engine::approval::Refusal,
        taken: Option<&Taken>,
    ) -> Result<()> {
        tracing::debug!(unit = wait.key, %refusal, "answer refused");
        self.recorder.borrow_mut().commit_as(
            self.now(),
            Fact::Refused {
                node: wait.node.to_string(),
                answer: answer.word().to_string(),
                why: refusal.to_string(),
            },
            Some(actor),
        )?;
        match taken {
            Some(taken) => taken.reply(&Reply {
                taken: false,
                message: refusal.to_string(),
                code: Some(crate::engine::codes::REFUSED.as_str().to_string()),
                help: Some(refusal.help().to_string()),
            }),
            None => self.say(&format!("  refused: {refusal}")),
        }
        Ok(())
    }

    /// The next answer for `wait`, from another terminal or typed here; or the
    /// deadline, or the run stopping, whichever comes first.
    pub(super) async fn hear<'t>(
        &'t self,
        wait: &Wait<'_>,
        listener: &mut Listener<'t>,
        deadline: Option<u64>,
    ) -> Result<Heard> {
        if let Some(recording) = self.replay {
            return Ok(self.hear_recorded(recording, wait, deadline).await);
        }
        if let Some(drill) = self.drill.filter(|drill| drill.mark.simulated) {
            return Ok(self.hear_responders(drill, wait, deadline).await);
        }
        loop {
            let taken = inbox::take(&self.run_dir, wait.node, wait.host, wait.key, wait.need);
            if let Some(taken) = taken {
                let actor = Actor {
                    person: Some(taken.request.person.clone()),
                    os_user: taken.request.os_user.clone(),
                };
                return Ok(Heard::Answer {
                    answer: taken.request.answer.clone(),
                    actor,
                    taken: Some(Box::new(taken)),
                });
            }
            if deadline.is_some_and(|deadline| self.now() >= deadline) {
                return Ok(Heard::TimeUp);
            }
            let poll = deadline.map_or(inbox::POLL_MS, |deadline| {
                deadline.saturating_sub(self.now()).clamp(1, inbox::POLL_MS)
            });
            tokio::select! {
                biased;
                () = self.stopped(StopLevel::NoNewWork) => return Ok(Heard::Stopped),
                () = self.clock.sleep(poll) => {}
                taken = own_keyboard(self.terminal.as_ref()), if listener.keyboard.is_none() => {
                    self.say(&terminal::prompt(wait.need, wait.key));
                    listener.keyboard = Some(taken);
                }
                line = next_line(&mut listener.keyboard), if listener.keyboard.is_some() => {
                    let Some(line) = line else {
                        // End of input: answers can still come from other terminals.
                        if let Some(terminal) = &self.terminal {
                            terminal.close();
                        }
                        listener.keyboard = None;
                        continue;
                    };
                    if let Some(answer) = self.typed(wait, listener, line) {
                        return Ok(Heard::Answer {
                            answer,
                            actor: self.here(),
                            taken: None,
                        });
                    }
                }
            }
        }
    }

    /// A line typed at the run's terminal: an answer once it is complete.
    fn typed(&self, wait: &Wait<'_>, listener: &mut Listener<'_>, line: String) -> Option<Answer> {
        let records = &wait.records;
        let answer = match listener.entered.as_mut() {
            Some(values) => {
                values.push(line);
                (values.len() == records.len())
                    .then(|| terminal::confirmation(records, std::mem::take(values)))
            }
            None => match terminal::read(wait.need, &line) {
                Typed::Answer(answer) => Some(answer),
                Typed::Confirming if records.is_empty() => {
                    Some(terminal::confirmation(records, Vec::new()))
                }
                Typed::Confirming => {
                    listener.entered = Some(Vec::new());
                    None
                }
                Typed::Unclear => {
                    self.say(&terminal::prompt(wait.need, wait.key));
                    None
                }
            },
        };
        if answer.is_some() {
            listener.entered = None;
        } else if let Some(values) = &listener.entered {
            if let Some(next) = records.get(values.len()) {
                self.say(&format!("  {next}:"));
            }
        }
        answer
    }

    /// Who answers at the run's own terminal: the person who started or resumed the
    /// run there (`--as`), else the account.
    fn here(&self) -> Actor {
        let os_user = crate::engine::os_user();
        Actor {
            person: self.person.clone().or_else(|| os_user.clone()),
            os_user,
        }
    }

    /// Values a person entered, as the log may hold them: a secret pasted into one is
    /// redacted there like anywhere else.
    fn redacted(&self, values: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        values
            .iter()
            .map(|(key, value)| (key.clone(), self.redactor.redact(value).into_owned()))
            .collect()
    }

    /// A line for the person at the terminal, above the progress display.
    pub(super) fn say(&self, text: &str) {
        self.recorder.borrow_mut().reporter().say(text);
    }
}

/// The keyboard, once no other wait holds it; never without a terminal.
async fn own_keyboard(terminal: Option<&terminal::Terminal>) -> MutexGuard<'_, Lines> {
    match terminal {
        Some(terminal) => terminal.take().await,
        None => std::future::pending().await,
    }
}

/// The next line typed, or `None` at the end of input.
async fn next_line(keyboard: &mut Option<MutexGuard<'_, Lines>>) -> Option<String> {
    match keyboard {
        Some(lines) => lines.recv().await,
        None => std::future::pending().await,
    }
}

impl Run<'_> {
    /// Sleeps until the earlier of the moment an answer comes and the wait's deadline,
    /// and returns it; `Nobody` when neither can come, `Stopped` when the run stops
    /// first. (A drill's responders and a replay's recorded people answer this way.)
    pub(super) async fn sleep_until_answer(
        &self,
        answer_at: Option<u64>,
        deadline: Option<u64>,
    ) -> std::result::Result<u64, Heard> {
        let until = match (answer_at, deadline) {
            (Some(at), Some(deadline)) => at.min(deadline),
            (Some(at), None) => at,
            (None, Some(deadline)) => deadline,
            (None, None) => return Err(Heard::Nobody),
        };
        tokio::select! {
            biased;
            () = self.stopped(StopLevel::NoNewWork) => Err(Heard::Stopped),
            () = self.clock.sleep(until.saturating_sub(self.now())) => Ok(until),
        }
    }

    /// A drill's people: the next responder for this wait answers when their delay,
    /// counted from when the wait began, has passed on the drill's clock; the wait's
    /// own deadline comes first if it is earlier. With no responder left, only the
    /// deadline can end the wait, or nothing can (`Nobody`).
    async fn hear_responders(
        &self,
        drill: &crate::drill::Rehearsal,
        wait: &Wait<'_>,
        deadline: Option<u64>,
    ) -> Heard {
        let asked = *self
            .drill_asked
            .borrow_mut()
            .entry(wait.key.to_string())
            .or_insert_with(|| self.now());
        let next = {
            let used = self.drill_answered.borrow();
            drill
                .responses
                .iter()
                .enumerate()
                .filter(|(index, response)| {
                    !used.contains(&(*index, wait.key.to_string()))
                        && response.answers(wait.node, wait.host)
                })
                .min_by_key(|(_, response)| response.after_ms)
                .map(|(index, response)| (index, response, asked.saturating_add(response.after_ms)))
        };
        let until = match self
            .sleep_until_answer(next.map(|(_, _, at)| at), deadline)
            .await
        {
            Ok(until) => until,
            Err(heard) => return heard,
        };
        match next {
            Some((index, response, at)) if at <= until => {
                self.drill_answered
                    .borrow_mut()
                    .insert((index, wait.key.to_string()));
                Heard::Answer {
                    answer: response.answer(wait.need, &wait.records),
                    actor: Actor {
                        person: Some(response.person.clone()),
                        os_user: None,
                    },
                    taken: None,
                }
            }
            _ => Heard::TimeUp,
        }
    }
}
