//! The import queue: a job per session to import, delivered at least once.

use std::time::Duration as StdDuration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::RedirectionId;

/// A request to run (or continue) the import of one redirection's session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportJob {
    pub redirection_id: RedirectionId,
    /// 0 for the first run; incremented when a worker hands the job on before its time runs out.
    #[serde(default)]
    pub continuation: u32,
}

#[derive(Debug, Error)]
pub enum QueueError {
    #[error("the queue is unavailable: {0}")]
    Unavailable(String),
    #[error("a message on the queue cannot be read: {0}")]
    Malformed(String),
}

/// Sends import jobs (SQS in production).
#[async_trait]
pub trait ImportQueue: Send + Sync {
    /// Enqueues `job`, invisible to consumers for `delay` (SQS caps this at 15 minutes).
    async fn enqueue(&self, job: &ImportJob, delay: StdDuration) -> Result<(), QueueError>;
}

/// One received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedJob {
    pub receipt: String,
    pub job: ImportJob,
    /// 1 on first delivery, then +1 on each redelivery.
    pub receive_count: u32,
}

/// Receives import jobs. In AWS, Lambda's SQS event source does this; the local run and the
/// contract tests use it directly.
#[async_trait]
pub trait ImportQueueConsumer: Send + Sync {
    /// Up to `max` visible messages, hidden for `visibility` after receipt.
    async fn receive(
        &self,
        max: usize,
        visibility: StdDuration,
    ) -> Result<Vec<ReceivedJob>, QueueError>;
    /// Deletes a handled message.
    async fn ack(&self, receipt: &str) -> Result<(), QueueError>;
}
