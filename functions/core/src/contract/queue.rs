//! The import queue's contract: delays, visibility timeout, redelivery, acknowledgement.

use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::Duration;

use crate::clock::SimClock;
use crate::domain::RedirectionId;
use crate::ports::{ImportJob, ImportQueue, ImportQueueConsumer};

/// Moves a queue's notion of time: the simulated clock for the embedded queue, a real (short)
/// wait for SQS.
#[async_trait]
pub trait TimePasses: Send + Sync {
    async fn pass(&self, d: StdDuration);
}

#[async_trait]
impl TimePasses for SimClock {
    async fn pass(&self, d: StdDuration) {
        self.advance(Duration::from_std(d).unwrap());
    }
}

/// Delays, visibility timeout, redelivery and acknowledgement.
pub async fn queue_semantics<Q>(queue: &Q, time: &dyn TimePasses)
where
    Q: ImportQueue + ImportQueueConsumer,
{
    let job = |id: &str| ImportJob {
        redirection_id: RedirectionId::parse(id).unwrap(),
        continuation: 0,
    };
    let vis = StdDuration::from_secs(2);
    queue
        .enqueue(&job("q-now"), StdDuration::ZERO)
        .await
        .unwrap();
    queue
        .enqueue(&job("q-later"), StdDuration::from_secs(3))
        .await
        .unwrap();

    let first = queue.receive(10, vis).await.unwrap();
    assert_eq!(
        first.iter().map(|d| d.job.clone()).collect::<Vec<_>>(),
        vec![job("q-now")],
        "a delayed message is not visible yet"
    );
    assert_eq!(first[0].receive_count, 1);
    assert!(
        queue.receive(10, vis).await.unwrap().is_empty(),
        "a received message is invisible during its visibility timeout"
    );

    time.pass(StdDuration::from_millis(3500)).await;
    let mut second = queue.receive(10, vis).await.unwrap();
    second.sort_by(|a, b| a.job.redirection_id.cmp(&b.job.redirection_id));
    let ids: Vec<_> = second
        .iter()
        .map(|d| d.job.redirection_id.to_string())
        .collect();
    assert_eq!(
        ids,
        vec!["q-later", "q-now"],
        "unacknowledged message is redelivered and the delayed one is now visible"
    );
    let redelivered = second
        .iter()
        .find(|d| d.job == job("q-now"))
        .unwrap()
        .clone();
    assert_eq!(redelivered.receive_count, 2);
    for d in &second {
        queue.ack(&d.receipt).await.unwrap();
    }
    time.pass(StdDuration::from_millis(2500)).await;
    assert!(
        queue.receive(10, vis).await.unwrap().is_empty(),
        "acknowledged messages are gone for good"
    );
}
