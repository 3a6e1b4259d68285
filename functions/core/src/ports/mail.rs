//! The mailer: one email out, and forgetting a recipient on erasure.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::Email;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailCategory {
    /// Mail the user needs (import finished, retry): always sent.
    Transactional,
    /// Follow-ups: only with consent, with `List-Unsubscribe`.
    Marketing,
}

/// One email, multipart HTML + text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingEmail {
    pub to: Email,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Extra headers, e.g. `List-Unsubscribe`.
    pub headers: Vec<(String, String)>,
    pub category: MailCategory,
    /// What kind of mail this is (`import_done`, `follow_up`, …), for logs and statistics.
    pub tag: String,
}

#[derive(Debug, Error)]
pub enum MailError {
    #[error("the mail service is unavailable: {0}")]
    Unavailable(String),
    #[error("the mail service refused the message: {0}")]
    Rejected(String),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends the email; returns the provider's message id.
    async fn send(&self, mail: &OutgoingEmail) -> Result<String, MailError>;

    /// Drops the copies this mailer keeps of mail sent to `to` (erasure). SES keeps none that
    /// we can read back; the local outbox keeps every mail. Returns how many were dropped.
    async fn forget_recipient(&self, to: &Email) -> Result<usize, MailError> {
        let _ = to;
        Ok(0)
    }
}
