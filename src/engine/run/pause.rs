//! The wait between two waves: logged when it begins (so a resume waits only what is
//! left of it), shown as a countdown, and cut short only by a person holding the
//! commander's role or the rollout's owner (`runbook skip-pause RUN --as NAME`), whose
//! word is logged like any answer.

use super::wait::{Heard, Listener, Wait};
use super::{wave_key, Halt, Result, Run};
use crate::compile::Node;
use crate::engine::facts::{Fact, Need};
use crate::engine::inbox::Answer;

/// How often a pause looks whether a failure policy has held the rollout.
const HELD_CHECK_MS: u64 = 500;

impl<'g> Run<'g> {
    /// Waits before wave `index` of `node`; `Some` when the run must stop instead.
    pub(super) async fn pause_before(
        &self,
        node: &'g Node,
        index: usize,
        pause_ms: u64,
    ) -> Result<Option<Halt>> {
        let key = wave_key(&node.name, index);
        let logged = self
            .recorder
            .borrow()
            .history
            .pause
            .clone()
            .filter(|pause| pause.waves == *node.name && pause.index == index);
        let pause = match logged {
            Some(pause) => pause,
            None => {
                let may_skip: Vec<String> = self
                    .graph
                    .header()
                    .commander
                    .iter()
                    .cloned()
                    .chain(node.owner.as_deref().map(str::to_string))
                    .collect();
                self.commit(Fact::WavePause {
                    waves: node.name.to_string(),
                    index,
                    until_ms: self.now().saturating_add(pause_ms),
                    may_skip,
                })?;
                self.recorder
                    .borrow()
                    .history
                    .pause
                    .clone()
                    .unwrap_or_else(|| unreachable!("the pause was just logged"))
            }
        };
        let wait = Wait {
            key: &key,
            node: &node.name,
            host: None,
            need: Need::SkipPause,
            text: String::new(),
            owner: node.owner.as_deref(),
            records: Vec::new(),
            approval: None,
        };
        let mut listener = Listener::default();
        loop {
            let skipped = self
                .recorder
                .borrow()
                .history
                .pause
                .as_ref()
                .is_some_and(|pause| pause.skipped);
            if let Some(held) = self.held.get() {
                return Ok(Some(held));
            }
            if skipped || self.now() >= pause.until_ms {
                return Ok(None);
            }
            // Look up now and then: a policy in another branch may hold the rollout.
            let look_again = self.now().saturating_add(HELD_CHECK_MS).min(pause.until_ms);
            match self.hear(&wait, &mut listener, Some(look_again)).await? {
                Heard::Stopped => return Ok(Some(Halt::Interrupted)),
                // A pause always has its end: nobody answering is the same.
                Heard::TimeUp | Heard::Nobody => {}
                Heard::Answer {
                    answer,
                    actor,
                    taken,
                } => {
                    if let Answer::SkipPause { .. } = answer {
                        self.take_answer(&wait, answer, actor, taken.as_deref())?;
                    }
                }
            }
        }
    }
}
