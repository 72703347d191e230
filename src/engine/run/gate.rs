//! Gates and approvals. An approval waits for votes from people holding the roles it
//! asks, judged against the run's roster (engine/approval.rs), until a quorum approves,
//! one person rejects, or its time runs out and `on timeout` says what that means.
//!
//! A gate's approvals are asked one after another; a rejection fails the gate and ends
//! the run once the failure policy has run. An approval in a failure policy that is
//! rejected leaves the rest of the policy undone and pauses the run for people; a
//! resume asks it again.

use std::collections::BTreeMap;

use super::wait::{Heard, Listener, Wait};
use super::{unit_key, Halt, NodeEnd, Result, Run, StopLevel};
use crate::ast::FailureClass;
use crate::compile::{self, Node};
use crate::engine::approval::Lapse;
use crate::engine::facts::{Ask, Fact, Need, Outcome, Settlement};
use crate::engine::inbox::Answer;
use crate::engine::values::Scope;

/// How an approval ended.
pub(super) enum Verdict {
    Approved,
    /// Rejected, and why: who rejected it, or that nobody answered in time.
    Rejected(String),
    Halted(Halt),
}

/// One approval to ask: where it is, what it asks, and what the approvers read.
pub(super) struct Question<'a> {
    /// The approval's unit: the gate's (its second approval `GATE/2`...), or the
    /// failure policy's action.
    pub unit: &'a str,
    /// The name people answer to.
    pub node: &'a str,
    pub approval: &'a compile::Approval,
    pub text: String,
    pub owner: Option<&'a str>,
    /// A rejection recorded before a resume is asked again rather than kept.
    pub ask_again: bool,
}

impl<'g> Run<'g> {
    /// A gate: each approval in turn. Approved, it opens; rejected, it fails
    /// (`functional`), and the flow ends the run once its policy has run.
    pub(super) async fn gate(
        &self,
        node: &'g Node,
        approvals: &'g [compile::Approval],
        conditions: &'g [compile::Requirement],
        poll: Option<compile::Poll>,
        scope: &Scope,
    ) -> Result<NodeEnd> {
        let key = unit_key(&node.id, None, scope);
        let record = self.unit_record(&key);
        let failure = |class, summary| self.failure_once(node, &key, class, summary, scope);
        match &record.outcome {
            Some(Outcome::Succeeded { .. } | Outcome::Skipped {}) => return Ok(NodeEnd::Done),
            Some(Outcome::Failed { class }) => {
                return Ok(NodeEnd::Rejected(failure(
                    *class,
                    "refused before the resume".into(),
                )))
            }
            None => {}
        }
        if self.stop_level() > StopLevel::Running {
            return Ok(NodeEnd::Halted(Halt::Interrupted));
        }
        if record.attempts == 0 {
            self.commit(Fact::UnitStarted {
                unit: key.clone(),
                node: node.id.to_string(),
                host: None,
                attempt: 1,
            })?;
        }
        // The numbers first: people approve knowing they hold.
        if !conditions.is_empty() {
            match self.gate_conditions(&key, conditions, poll).await? {
                Ok(None) => {}
                Ok(Some((class, why))) => {
                    self.finish(&key, Outcome::Failed { class }, Some(&why))?;
                    return Ok(NodeEnd::Rejected(failure(class, why)));
                }
                Err(halt) => return Ok(NodeEnd::Halted(halt)),
            }
        }
        for (index, approval) in approvals.iter().enumerate() {
            let unit = match index {
                0 => key.clone(),
                _ => format!("{key}/{}", index + 1),
            };
            let text = approval.reason.as_deref().map_or_else(
                || {
                    node.description
                        .clone()
                        .unwrap_or_else(|| node.name.to_string())
                },
                |reason| self.fill_plain(reason, scope),
            );
            let question = Question {
                unit: &unit,
                node: &node.id,
                approval,
                text,
                owner: node.owner.as_deref(),
                ask_again: false,
            };
            match self.approval(question).await? {
                Verdict::Approved => {}
                Verdict::Rejected(why) => {
                    let class = FailureClass::Functional;
                    self.finish(&key, Outcome::Failed { class }, Some(&why))?;
                    return Ok(NodeEnd::Rejected(failure(class, why)));
                }
                Verdict::Halted(halt) => return Ok(NodeEnd::Halted(halt)),
            }
        }
        self.finish(
            &key,
            Outcome::Succeeded {
                values: BTreeMap::new(),
            },
            None,
        )?;
        Ok(NodeEnd::Done)
    }

    /// Asks one approval, or reads how it was settled from the log.
    pub(super) async fn approval(&self, question: Question<'_>) -> Result<Verdict> {
        let unit = question.unit;
        let settled = self
            .recorder
            .borrow()
            .history
            .approvals
            .get(unit)
            .and_then(|asked| asked.settled);
        match settled {
            Some(true) => return Ok(Verdict::Approved),
            Some(false) if !question.ask_again => {
                return Ok(self.verdict(unit, question.approval, false))
            }
            _ => {}
        }
        let approval = question.approval;
        let wait = Wait {
            key: unit,
            node: question.node,
            host: None,
            need: Need::Approval,
            text: question.text,
            owner: question.owner,
            records: Vec::new(),
            approval: Some(Ask {
                roles: approval.roles.clone(),
                quorum: approval.quorum,
                distinct: approval.distinct,
                within_ms: approval.within_ms,
                on_timeout: approval.on_timeout,
                escalate_to: self.graph.header().commander.clone(),
            }),
        };
        // Told not to wait, the engine still settles what the log already decides:
        // votes given while the run was paused, or the time allowed having run out.
        let waits = self.announce(&wait)?;
        let mut listener = Listener::default();
        loop {
            let Some(asked) = self.recorder.borrow().history.approvals.get(unit).cloned() else {
                return Err(crate::engine::EngineError::Internal(format!(
                    "approval `{unit}` was asked but is not in the run's state"
                )));
            };
            if let Some(approved) = asked.tally() {
                return self.settle(unit, approval, approved, Settlement::Votes);
            }
            if let Some(lapse) = asked.lapse(self.now()) {
                let settled = match &lapse {
                    Lapse::Settle { approved, .. } => Some(*approved),
                    Lapse::Escalate(_) => None,
                };
                self.commit(crate::engine::approval::Approval::lapse_fact(unit, lapse))?;
                if let Some(approved) = settled {
                    return Ok(self.verdict(unit, approval, approved));
                }
                continue;
            }
            if !waits {
                return Ok(Verdict::Halted(Halt::Waiting));
            }
            match self.hear(&wait, &mut listener, asked.deadline_ms()).await? {
                Heard::Stopped => return Ok(Verdict::Halted(Halt::Interrupted)),
                Heard::Nobody => return Ok(Verdict::Halted(Halt::Waiting)),
                // Seen at the top of the loop.
                Heard::TimeUp => {}
                Heard::Answer {
                    answer,
                    actor,
                    taken,
                } => {
                    // Only votes are heard for an approval; each is judged as taken.
                    if let Answer::Voted { .. } = answer {
                        self.take_answer(&wait, answer, actor, taken.as_deref())?;
                    }
                }
            }
        }
    }

    /// Logs how an approval was settled, and says what it means.
    fn settle(
        &self,
        unit: &str,
        approval: &compile::Approval,
        approved: bool,
        by: Settlement,
    ) -> Result<Verdict> {
        self.commit(Fact::ApprovalSettled {
            unit: unit.to_string(),
            approved,
            by,
        })?;
        Ok(self.verdict(unit, approval, approved))
    }

    fn verdict(&self, unit: &str, approval: &compile::Approval, approved: bool) -> Verdict {
        if approved {
            Verdict::Approved
        } else {
            Verdict::Rejected(self.rejection(unit, approval))
        }
    }

    /// Why an approval was rejected, from its log: who said no, or its time.
    fn rejection(&self, unit: &str, approval: &compile::Approval) -> String {
        let recorder = self.recorder.borrow();
        let rejected = recorder
            .history
            .approvals
            .get(unit)
            .and_then(|asked| asked.votes.iter().find(|vote| !vote.approve).cloned());
        match rejected {
            Some(vote) => {
                let why = vote
                    .reason
                    .map(|reason| format!(": {reason}"))
                    .unwrap_or_default();
                format!("rejected by {} ({}){why}", vote.person, vote.role)
            }
            None => format!(
                "nobody answered within {} (on timeout abort)",
                crate::ast::duration_text(approval.within_ms.unwrap_or_default())
            ),
        }
    }
}
