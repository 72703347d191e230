use serde::Serialize;

use super::At;

/// A message to an audience, and how each delivery through its channel went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub at: At,
    pub key: String,
    pub audience: String,
    /// Nothing for the log alone: the event is the delivery.
    pub channel: Option<String>,
    pub message: String,
    pub deliveries: Vec<Delivery>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub at: At,
    pub channel: String,
    pub ok: bool,
    pub attempts: u32,
    /// What the receiver said, or why it was not delivered.
    pub detail: String,
}

impl Notice {
    /// `delivered after 1 attempt(s)`, `NOT DELIVERED ...`, `in the log only`.
    pub fn outcome(&self) -> String {
        match (&self.channel, self.deliveries.last()) {
            (None, _) => "in the log only".to_string(),
            (Some(_), None) => "no delivery in the log".to_string(),
            (Some(_), Some(delivery)) if delivery.ok => format!(
                "delivered after {} attempt(s): {}",
                delivery.attempts, delivery.detail
            ),
            (Some(_), Some(delivery)) => format!(
                "NOT DELIVERED after {} attempt(s): {}",
                delivery.attempts, delivery.detail
            ),
        }
    }

    pub fn delivered(&self) -> bool {
        self.channel.is_none() || self.deliveries.iter().any(|delivery| delivery.ok)
    }
}
