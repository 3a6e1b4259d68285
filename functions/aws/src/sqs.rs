//! The SQS import queue: JSON job bodies with message attributes and optional delay; a consumer
//! side for the local run and the contract tests (in AWS, Lambda's event source receives).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName};
use aws_sdk_sqs::Client;
use signin_core::ports::{ImportJob, ImportQueue, ImportQueueConsumer, QueueError, ReceivedJob};

/// The longest an enqueue from a function waits for SQS, retries included ([`SqsQueue::on`]).
pub const ENQUEUE_BUDGET: Duration = Duration::from_secs(3);

/// SQS's largest delay.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
}

fn unavailable(e: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(e.to_string())
}

fn string_attr(v: &str) -> Result<MessageAttributeValue, QueueError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .map_err(|e| QueueError::Malformed(e.to_string()))
}

impl SqsQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// The queue on `aws`, as the functions send to it: an enqueue is on a page's path (the
    /// callback), so it takes at most [`ENQUEUE_BUDGET`], retries included, and is then given
    /// up (the poller enqueues a saved session again). No attempt is cut off on its own, so a
    /// slow answer is not sent twice. Not for [`ImportQueueConsumer::receive`]'s long poll.
    pub fn on(aws: &aws_config::SdkConfig, queue_url: impl Into<String>) -> Self {
        let config = aws_sdk_sqs::config::Builder::from(aws)
            .timeout_config(
                aws_sdk_sqs::config::timeout::TimeoutConfig::builder()
                    .operation_timeout(ENQUEUE_BUDGET)
                    .build(),
            )
            .build();
        Self::new(Client::from_conf(config), queue_url)
    }

    /// Decodes an SQS message body into a job (also used by the Lambda handler).
    pub fn decode(body: &str) -> Result<ImportJob, QueueError> {
        serde_json::from_str(body).map_err(|e| QueueError::Malformed(e.to_string()))
    }
}

#[async_trait]
impl ImportQueue for SqsQueue {
    async fn enqueue(&self, job: &ImportJob, delay: Duration) -> Result<(), QueueError> {
        let body = serde_json::to_string(job).map_err(|e| QueueError::Malformed(e.to_string()))?;
        let delay = i32::try_from(delay.min(MAX_DELAY).as_secs()).unwrap_or(900);
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(delay)
            .message_attributes("kind", string_attr("import")?)
            .message_attributes("redirectionId", string_attr(job.redirection_id.as_str())?)
            .send()
            .await
            .map_err(|e| unavailable(DisplayErrorContext(e)))?;
        Ok(())
    }
}

#[async_trait]
impl ImportQueueConsumer for SqsQueue {
    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<ReceivedJob>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(i32::try_from(max.clamp(1, 10)).unwrap_or(10))
            .visibility_timeout(i32::try_from(visibility.as_secs()).unwrap_or(43_200))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| unavailable(DisplayErrorContext(e)))?;
        let mut deliveries = vec![];
        for m in out.messages.unwrap_or_default() {
            let receipt = m
                .receipt_handle
                .ok_or_else(|| QueueError::Malformed("message without receipt".into()))?;
            let job = Self::decode(m.body.as_deref().unwrap_or(""))?;
            let receive_count = m
                .attributes
                .as_ref()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            deliveries.push(ReceivedJob {
                receipt,
                job,
                receive_count,
            });
        }
        Ok(deliveries)
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| unavailable(DisplayErrorContext(e)))?;
        Ok(())
    }
}
