//! The header's objectives, measured while the run goes: every clock starts at the
//! first failure. An objective is met when what it measures comes within its limit
//! (a rollback starts; the state before the change is back; people are told), and
//! breached when the limit passes first, which is logged at that moment and told to
//! the `breach` subscriptions. `outage at most D` is the time from the first failure
//! until restored. A run that ends before either leaves the objective undecided.

use super::{Result, Run};
use crate::ast::{EventKind, ObjectiveKind, Word};
use crate::engine::facts::Fact;
use crate::engine::values::Scope;

impl Run<'_> {
    /// Decides what can be decided now, logging each objective once. `completed`: the
    /// run has just completed, which restores whatever a failure took away.
    pub(in crate::engine) fn judge_objectives(&self, completed: bool) -> Result<()> {
        let now = self.now();
        for objective in &self.graph.header().objectives {
            let word = objective.kind.word();
            let clocks = self.recorder.borrow().history.clocks.clone();
            if clocks.decided.contains_key(word) {
                continue;
            }
            let Some(failure) = clocks.failure_ms else {
                return Ok(());
            };
            let came = match objective.kind {
                ObjectiveKind::RollbackStart => clocks.rollback_started_ms,
                ObjectiveKind::Restored | ObjectiveKind::Outage => {
                    clocks.restored_ms.or_else(|| completed.then_some(now))
                }
                ObjectiveKind::Alert => clocks.alerted_ms,
            };
            let deadline = failure.saturating_add(objective.limit_ms);
            let (met, after_ms) = match came {
                Some(at) => (at <= deadline, Some(at.saturating_sub(failure))),
                None if now > deadline => (false, None),
                None => continue,
            };
            self.commit(Fact::Objective {
                objective: word.to_string(),
                limit_ms: objective.limit_ms,
                met,
                after_ms,
            })?;
            if !met {
                let limit = crate::ast::duration_text(objective.limit_ms);
                // The message may quote the failure whose clock ran out.
                let scope = Scope {
                    failure: clocks.first.clone().map(|(class, node, host, summary)| {
                        std::rc::Rc::new(super::Failure {
                            key: String::new(),
                            class,
                            unit: node.clone(),
                            node,
                            host,
                            summary,
                            wave: None,
                        })
                    }),
                    ..Scope::default()
                };
                self.event(
                    EventKind::Breach,
                    None,
                    &format!("objective:{word}"),
                    &scope,
                    || format!("{}: objective {word} ({limit}) BREACHED", self.title),
                )?;
            }
        }
        Ok(())
    }

    /// Beside the flow: decides each objective as soon as it can be, looking again
    /// whenever the engine logs something (a failure, a rollback, a delivery) and when
    /// the next limit passes. It never polls: a drill's virtual days cost nothing here.
    pub async fn watch_objectives(&self) {
        if self.graph.header().objectives.is_empty() {
            return std::future::pending().await;
        }
        loop {
            let changed = self.changed.notified();
            if let Err(error) = self.judge_objectives(false) {
                tracing::warn!(%error, "an objective could not be logged");
            }
            match self.next_limit() {
                Some(limit) => tokio::select! {
                    biased;
                    () = changed => {}
                    // Just past the limit: an objective is breached once it has passed.
                    () = self.clock.sleep(limit.saturating_sub(self.now()).saturating_add(1)) => {}
                },
                None => changed.await,
            }
        }
    }

    /// The earliest limit of an objective not yet decided, once a failure started the
    /// clocks.
    fn next_limit(&self) -> Option<u64> {
        let clocks = self.recorder.borrow().history.clocks.clone();
        let failure = clocks.failure_ms?;
        self.graph
            .header()
            .objectives
            .iter()
            .filter(|objective| !clocks.decided.contains_key(objective.kind.word()))
            .map(|objective| failure.saturating_add(objective.limit_ms))
            .min()
    }
}
