//! Telling people: a failure policy's `notify`, and the subscriptions (`notify WHO via
//! CHANNEL on EVENT` or `every D`). Each message is logged as a `notice` first (a `log`
//! channel is delivered by that event alone), then handed to the delivery pump, which
//! runs beside the flow so that a slow webhook never holds up a rollback, and logs how
//! each delivery went (`delivered`). A delivery that fails is logged, never fatal.

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc;

use super::{Result, Run};
use crate::ast::{EventKind, FailureClass, Word};
use crate::compile::{Channel, ChannelKind, Trigger};
use crate::engine::facts::Fact;
use crate::engine::values::Scope;
use crate::notify;

/// One message for one channel, on its way.
pub struct Delivery {
    pub(super) key: String,
    pub(super) channel: Channel,
    message: notify::Message,
}

pub type Deliveries = mpsc::UnboundedSender<Delivery>;

/// The two ends of the way messages go to the delivery pump.
pub fn deliveries() -> (Deliveries, mpsc::UnboundedReceiver<Delivery>) {
    mpsc::unbounded_channel()
}

/// Attempts a delivery may take, and the first wait between two.
const ATTEMPTS: u32 = 4;
const BACKOFF: std::time::Duration = std::time::Duration::from_secs(2);
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl<'g> Run<'g> {
    /// Sends `message` to `audience`: through `channel`, or (without one) the channels
    /// the subscriptions use for that audience, or the plan's only channel.
    pub(super) fn tell(
        &self,
        key: &str,
        audience: &str,
        channel: Option<&str>,
        message: &str,
        event: &str,
    ) -> Result<()> {
        let channels: Vec<&Channel> = match channel {
            Some(name) => self
                .graph
                .channels()
                .iter()
                .filter(|c| c.name == name)
                .collect(),
            None => {
                let mut named: Vec<&Channel> = self
                    .graph
                    .subscriptions()
                    .iter()
                    .filter(|subscription| subscription.audience == audience)
                    .filter_map(|subscription| {
                        self.graph
                            .channels()
                            .iter()
                            .find(|c| c.name == subscription.channel)
                    })
                    .collect();
                named.dedup_by(|a, b| a.name == b.name);
                if named.is_empty() && self.graph.channels().len() == 1 {
                    named.extend(self.graph.channels().first());
                }
                named
            }
        };
        if channels.is_empty() {
            // Nowhere to send it: the log is where it is kept.
            if !self.marked(key) {
                self.note(Fact::Notice {
                    key: key.to_string(),
                    audience: audience.to_string(),
                    channel: None,
                    message: message.to_string(),
                })?;
            }
            return Ok(());
        }
        let several = channels.len() > 1;
        for channel in channels {
            let key = if several {
                format!("{key}~{}", channel.name)
            } else {
                key.to_string()
            };
            if self.marked(&key) {
                continue;
            }
            self.note(Fact::Notice {
                key: key.clone(),
                audience: audience.to_string(),
                channel: Some(channel.name.clone()),
                message: message.to_string(),
            })?;
            if matches!(channel.kind, ChannelKind::Log) {
                self.note(Fact::Delivered {
                    key,
                    channel: channel.name.clone(),
                    ok: true,
                    attempts: 1,
                    detail: "kept in the run's log".to_string(),
                })?;
                continue;
            }
            // On disk before it is sent: a resume sends again what has no `delivered`.
            self.recorder.borrow_mut().flush()?;
            self.send(key, channel, audience, message, event)?;
        }
        Ok(())
    }

    /// Hands a logged notice to the delivery pump, its channel's target filled in
    /// (a webhook's URL as it is, a command's values quoted for the shell).
    fn send(
        &self,
        key: String,
        channel: &Channel,
        audience: &str,
        message: &str,
        event: &str,
    ) -> Result<()> {
        let scope = Scope::default();
        let target = match &channel.kind {
            ChannelKind::Webhook { url } => self
                .fill_raw(&crate::compile::segments(url, &[]), &scope)
                .map(|url| ChannelKind::Webhook { url }),
            ChannelKind::Command { command } => {
                let template = crate::compile::segments(command, &[]);
                crate::executor::quote::render(&template, |name| {
                    self.value(name, &scope).map(std::borrow::Cow::Owned)
                })
                .map(|command| ChannelKind::Command { command })
                .map_err(|error| error.to_string())
            }
            ChannelKind::Log => Ok(ChannelKind::Log),
        };
        let kind = match target {
            Ok(kind) => kind,
            Err(why) => {
                return self.commit(Fact::Delivered {
                    key,
                    channel: channel.name.clone(),
                    ok: false,
                    attempts: 0,
                    detail: self.redactor.redact(&why).into_owned(),
                });
            }
        };
        let delivery = Delivery {
            key,
            channel: Channel {
                kind,
                ..channel.clone()
            },
            message: notify::Message {
                audience: audience.to_string(),
                text: message.to_string(),
                event: event.to_string(),
                run_id: self.run_id.clone(),
            },
        };
        if let Some(deliveries) = self.deliveries.borrow().as_ref() {
            let _ = deliveries.send(delivery);
        }
        Ok(())
    }

    /// Sends again the notices an earlier engine logged and did not see delivered (it
    /// stopped first): delivery is at least once.
    pub(super) fn send_undelivered(&self) -> Result<()> {
        let pending: Vec<(String, (String, String, String))> = self
            .recorder
            .borrow()
            .history
            .undelivered
            .iter()
            .map(|(key, notice)| (key.clone(), notice.clone()))
            .collect();
        for (key, (audience, channel, message)) in pending {
            if let Some(channel) = self.graph.channels().iter().find(|c| c.name == channel) {
                self.send(key, channel, &audience, &message, "notice")?;
            }
        }
        Ok(())
    }

    /// An event of the run: every subscription to it is told, once (`key` marks it).
    /// `class` narrows `failure` subscriptions; `default` is the message when the
    /// subscription gives none.
    pub(super) fn event(
        &self,
        kind: EventKind,
        class: Option<FailureClass>,
        key: &str,
        scope: &Scope,
        default: impl Fn() -> String,
    ) -> Result<()> {
        for (index, subscription) in self.graph.subscriptions().iter().enumerate() {
            let Trigger::On { events } = &subscription.trigger else {
                continue;
            };
            let wanted = events
                .iter()
                .any(|event| event.kind == kind && (event.class.is_none() || event.class == class));
            if !wanted {
                continue;
            }
            let message = match &subscription.message {
                Some(message) => self.fill_plain(message, scope),
                None => self.redactor.redact(&default()).into_owned(),
            };
            // Each subscription its own key: two to one audience both speak.
            let key = format!("notify:{key}>{index}");
            self.tell(
                &key,
                &subscription.audience,
                Some(&subscription.channel),
                &message,
                kind.word(),
            )?;
        }
        Ok(())
    }

    /// The `every D` subscriptions, for as long as the flow runs: the n-th message of
    /// each is keyed by n, so a resume does not send one again.
    pub async fn periodic(&self) {
        let started = self.recorder.borrow().history.started_ms;
        let every: Vec<(usize, u64)> = self
            .graph
            .subscriptions()
            .iter()
            .enumerate()
            .filter_map(|(index, subscription)| match subscription.trigger {
                Trigger::Every { interval_ms } if interval_ms > 0 => Some((index, interval_ms)),
                _ => None,
            })
            .collect();
        if every.is_empty() {
            return std::future::pending().await;
        }
        loop {
            let now = self.now();
            let next = every
                .iter()
                .map(|(_, interval)| {
                    let elapsed = now.saturating_sub(started);
                    started.saturating_add((elapsed / interval + 1) * interval)
                })
                .min()
                .unwrap_or(now);
            self.clock.sleep(next.saturating_sub(now)).await;
            let now = self.now();
            for (index, interval) in &every {
                let number = now.saturating_sub(started) / interval;
                let subscription = &self.graph.subscriptions()[*index];
                let key = format!("notify:every:{index}#{number}");
                if number == 0 || self.marked(&key) {
                    continue;
                }
                let message = match &subscription.message {
                    Some(message) => self.fill_plain(message, &Scope::default()),
                    None => format!(
                        "{}: running for {}, {} unit(s) done",
                        self.title,
                        crate::ast::duration_text(now.saturating_sub(started)),
                        self.recorder.borrow().history.completed.len()
                    ),
                };
                let told = self.tell(
                    &key,
                    &subscription.audience,
                    Some(&subscription.channel),
                    &message,
                    "every",
                );
                if let Err(error) = told {
                    tracing::warn!(%error, "a periodic notification could not be logged");
                }
            }
        }
    }

    /// Delivers what `tell` hands over, several at once, logging each outcome, until
    /// the flow is over and every delivery has ended.
    pub async fn deliver(&self, mut jobs: mpsc::UnboundedReceiver<Delivery>) -> Result<()> {
        let mut running = FuturesUnordered::new();
        let mut open = true;
        while open || !running.is_empty() {
            tokio::select! {
                biased;
                job = jobs.recv(), if open => match job {
                    Some(job) => running.push(self.deliver_one(job)),
                    None => open = false,
                },
                Some(fact) = running.next(), if !running.is_empty() => self.commit(fact)?,
                // Told to stop at once: what is still on its way is sent by the resume.
                () = self.stopped(super::StopLevel::Kill) => return Ok(()),
            }
        }
        Ok(())
    }

    async fn deliver_one(&self, job: Delivery) -> Fact {
        if let Some(recording) = self.replay {
            return self.replayed_delivery(recording, job).await;
        }
        // A drill pages nobody: the message is recorded as it would have gone.
        if self.drill.is_some_and(|drill| drill.mark.simulated) {
            return Fact::Delivered {
                key: job.key,
                channel: job.channel.name,
                ok: true,
                attempts: 0,
                detail: "drill: recorded, not sent".to_string(),
            };
        }
        let settings = notify::Settings {
            timeout: TIMEOUT,
            attempts: ATTEMPTS,
            backoff: BACKOFF,
            work_dir: self.work_dir.clone(),
            env: self.environment(&job.key, &Scope::default(), 1),
        };
        let sleep = |wait: std::time::Duration| {
            self.clock
                .sleep(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX))
        };
        let delivered = notify::deliver(&job.channel, &job.message, &settings, &sleep).await;
        let (ok, attempts, detail) = match delivered {
            Ok(delivered) => (true, delivered.attempts, delivered.detail),
            Err(error) => (false, error.attempts(), error.to_string()),
        };
        if !ok {
            tracing::warn!(key = %job.key, channel = %job.channel.name, %detail, "a notification was not delivered");
        }
        Fact::Delivered {
            key: job.key,
            channel: job.channel.name,
            ok,
            attempts,
            detail: self.redactor.redact(&detail).into_owned(),
        }
    }
}
