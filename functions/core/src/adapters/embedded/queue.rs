//! The embedded import queue.

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::domain::Timestamp;

use crate::ports::{ImportJob, ImportQueue, ImportQueueConsumer, QueueError, ReceivedJob};

use super::store::lock;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Message {
    job: ImportJob,
    visible_at: Timestamp,
    receive_count: u32,
    receipt: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct QueueData {
    messages: Vec<Message>,
    dead: Vec<ImportJob>,
}

/// The embedded import queue: SQS semantics on the injected clock. A message received more than
/// `max_receives` times goes to the dead-letter list instead (SQS's redrive policy).
#[derive(Debug)]
pub struct EmbeddedQueue {
    clock: Arc<dyn Clock>,
    max_receives: u32,
    data: Mutex<QueueData>,
}

impl EmbeddedQueue {
    pub fn new(clock: Arc<dyn Clock>, max_receives: u32) -> Self {
        EmbeddedQueue {
            clock,
            max_receives: max_receives.max(1),
            data: Mutex::new(QueueData::default()),
        }
    }

    /// Messages on the queue, visible or not.
    pub fn len(&self) -> usize {
        lock(&self.data).messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Jobs moved to the dead-letter list.
    pub fn dead_letters(&self) -> Vec<ImportJob> {
        lock(&self.data).dead.clone()
    }

    /// The queue as JSON (for the local run's data directory).
    pub fn snapshot(&self) -> Result<String, QueueError> {
        serde_json::to_string(&*lock(&self.data)).map_err(|e| QueueError::Malformed(e.to_string()))
    }

    pub fn restore(&self, json: &str) -> Result<(), QueueError> {
        *lock(&self.data) =
            serde_json::from_str(json).map_err(|e| QueueError::Malformed(e.to_string()))?;
        Ok(())
    }

    /// The jobs on the queue with when each becomes visible (for the operator view).
    pub fn pending(&self) -> Vec<(ImportJob, Timestamp, u32)> {
        lock(&self.data)
            .messages
            .iter()
            .map(|m| (m.job.clone(), m.visible_at, m.receive_count))
            .collect()
    }
}

fn chrono_of(d: StdDuration) -> Duration {
    Duration::from_std(d).unwrap_or_else(|_| Duration::days(365))
}

#[async_trait]
impl ImportQueue for EmbeddedQueue {
    async fn enqueue(&self, job: &ImportJob, delay: StdDuration) -> Result<(), QueueError> {
        let visible_at = self.clock.now() + chrono_of(delay.min(StdDuration::from_secs(900)));
        lock(&self.data).messages.push(Message {
            job: job.clone(),
            visible_at,
            receive_count: 0,
            receipt: None,
        });
        Ok(())
    }
}

#[async_trait]
impl ImportQueueConsumer for EmbeddedQueue {
    async fn receive(
        &self,
        max: usize,
        visibility: StdDuration,
    ) -> Result<Vec<ReceivedJob>, QueueError> {
        let now = self.clock.now();
        let mut d = lock(&self.data);
        let data = &mut *d;
        let mut out = vec![];
        let mut i = 0;
        while i < data.messages.len() && out.len() < max {
            let m = &mut data.messages[i];
            if m.visible_at > now {
                i += 1;
                continue;
            }
            if m.receive_count >= self.max_receives {
                let dead = data.messages.remove(i);
                data.dead.push(dead.job);
                continue;
            }
            m.receive_count += 1;
            m.visible_at = now + chrono_of(visibility);
            let receipt = uuid::Uuid::new_v4().to_string();
            m.receipt = Some(receipt.clone());
            out.push(ReceivedJob {
                receipt,
                job: m.job.clone(),
                receive_count: m.receive_count,
            });
            i += 1;
        }
        Ok(out)
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        lock(&self.data)
            .messages
            .retain(|m| m.receipt.as_deref() != Some(receipt));
        Ok(())
    }
}
