//! The embedded mailer: an outbox.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::domain::Timestamp;

use crate::ports::{MailError, Mailer, OutgoingEmail};

use super::store::lock;

/// One email the outbox holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentEmail {
    pub id: String,
    pub sent_at: Timestamp,
    pub mail: OutgoingEmail,
}

/// The embedded [`Mailer`]: keeps every message, and can be told to fail the next sends.
#[derive(Debug)]
pub struct Outbox {
    clock: Arc<dyn Clock>,
    sent: Mutex<Vec<SentEmail>>,
    fail_next: Mutex<u32>,
}

impl Outbox {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Outbox {
            clock,
            sent: Mutex::new(vec![]),
            fail_next: Mutex::new(0),
        }
    }

    pub fn sent(&self) -> Vec<SentEmail> {
        lock(&self.sent).clone()
    }

    /// The outbox as JSON (for the local run's data directory).
    pub fn snapshot(&self) -> Result<String, MailError> {
        serde_json::to_string(&*lock(&self.sent)).map_err(|e| MailError::Rejected(e.to_string()))
    }

    pub fn restore(&self, json: &str) -> Result<(), MailError> {
        *lock(&self.sent) =
            serde_json::from_str(json).map_err(|e| MailError::Rejected(e.to_string()))?;
        Ok(())
    }

    /// The next `n` sends fail as if the mail service were down.
    pub fn fail_next(&self, n: u32) {
        *lock(&self.fail_next) = n;
    }
}

#[async_trait]
impl Mailer for Outbox {
    async fn send(&self, mail: &OutgoingEmail) -> Result<String, MailError> {
        {
            let mut f = lock(&self.fail_next);
            if *f > 0 {
                *f -= 1;
                return Err(MailError::Unavailable("outbox told to fail".into()));
            }
        }
        let id = format!("local-{}", uuid::Uuid::new_v4().simple());
        lock(&self.sent).push(SentEmail {
            id: id.clone(),
            sent_at: self.clock.now(),
            mail: mail.clone(),
        });
        Ok(id)
    }

    async fn forget_recipient(&self, to: &crate::domain::Email) -> Result<usize, MailError> {
        let key = to.user_key();
        let mut sent = lock(&self.sent);
        let before = sent.len();
        sent.retain(|m| m.mail.to.user_key() != key);
        Ok(before - sent.len())
    }
}
