//! What runs behind a flow's pages: the events on its bus, the scheduled poller, the import
//! queue and its worker, the table, the functions' apps and the sandbox's counters.

use std::collections::{BTreeMap, BTreeSet};

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_dynamodb::types::AttributeValue;
use kontomatik_sandbox::Counters;
use lambda_runtime::{Context, LambdaEvent};
use signin_core::domain::RedirectionId;
use signin_runtime::poller::RunReport;

use super::{unique, Flow, FunctionApp, PublishedEvent};

impl Flow {
    /// Every event published on the flow's bus so far, in the order received, as a subscriber
    /// that deduplicates on `eventId` reads them (a repeat must be the same event).
    pub async fn events(&self) -> Vec<PublishedEvent> {
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.event_capture_url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                let body: serde_json::Value =
                    serde_json::from_str(m.body().unwrap_or_default()).unwrap();
                let event = PublishedEvent {
                    source: body["source"].as_str().unwrap_or_default().to_owned(),
                    detail_type: body["detail-type"].as_str().unwrap_or_default().to_owned(),
                    detail: body["detail"].clone(),
                };
                {
                    let mut captured = self.captured.lock().unwrap();
                    match captured
                        .iter()
                        .find(|e| e.detail["eventId"] == event.detail["eventId"])
                    {
                        Some(first) => assert!(
                            first.detail_type == event.detail_type && first.detail == event.detail,
                            "a repeat differs: {first:?} {event:?}"
                        ),
                        None => captured.push(event),
                    }
                }
                self.sqs
                    .delete_message()
                    .queue_url(&self.event_capture_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .unwrap();
            }
        }
        self.captured.lock().unwrap().clone()
    }

    /// The detail types published about one redirection, in the order they happened (a
    /// standard queue does not keep the order of publishing).
    pub async fn event_types_of(&self, id: &RedirectionId) -> Vec<String> {
        let mut of: Vec<PublishedEvent> = self
            .events()
            .await
            .into_iter()
            .filter(|e| e.detail["redirectionId"].as_str() == Some(id.as_str()))
            .collect();
        of.sort_by_key(|e| occurred_at(&e.detail));
        of.into_iter().map(|e| e.detail_type).collect()
    }

    /// One scheduled poller run, as EventBridge invokes it.
    pub async fn run_poller(&self) -> RunReport {
        let event: EventBridgeEvent<serde_json::Value> =
            serde_json::from_value(serde_json::json!({
                "version": "0",
                "id": unique("evt"),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": "123456789012",
                "time": "2026-11-02T09:00:00Z",
                "region": "eu-central-1",
                "resources": ["arn:aws:events:eu-central-1:123456789012:rule/status-poller"],
                "detail": {}
            }))
            .unwrap();
        signin_runtime::poller::handle_event(
            &self.function("status-poller").app,
            LambdaEvent::new(
                signin_runtime::poller::PollerEvent::Scheduled(event),
                Context::default(),
            ),
        )
        .await
        .unwrap()
    }

    /// What Lambda's SQS event source does: receive a batch, invoke the worker with it, delete
    /// the messages it did not report failed. Returns the number handled and the failures.
    pub async fn deliver_imports(&self) -> (usize, SqsBatchResponse) {
        self.deliver_imports_hidden_for(30).await
    }

    /// Delivers import jobs until the queue holds none (at most `rounds` deliveries). A job
    /// whose delivery failed (a Kontomatik call that timed out on a loaded machine, say) comes
    /// back at once, as it would after its visibility timeout: the test's time is simulated,
    /// the queue's is not.
    pub async fn settle_imports(&self, rounds: usize) {
        for _ in 0..rounds {
            let (handled, _) = self.deliver_imports_hidden_for(0).await;
            if handled == 0 && self.queue_depth().await == 0 {
                return;
            }
        }
        panic!("import jobs still queued after {rounds} deliveries");
    }

    async fn deliver_imports_hidden_for(&self, visibility: i32) -> (usize, SqsBatchResponse) {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(visibility)
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        let records: Vec<serde_json::Value> = messages
            .iter()
            .map(|m| {
                serde_json::json!({
                    "messageId": m.message_id.clone().unwrap_or_default(),
                    "receiptHandle": m.receipt_handle.clone().unwrap_or_default(),
                    "body": m.body.clone().unwrap_or_default(),
                    "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1793610000000"},
                    "messageAttributes": {},
                    "md5OfBody": "",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:eu-central-1:123456789012:imports",
                    "awsRegion": "eu-central-1"
                })
            })
            .collect();
        let event: SqsEvent =
            serde_json::from_value(serde_json::json!({ "Records": records })).unwrap();
        let response = signin_runtime::worker::handle_event(
            &self.function("import-worker").app,
            LambdaEvent::new(event, Context::default()),
        )
        .await
        .unwrap();
        for m in &messages {
            let failed = response
                .batch_item_failures
                .iter()
                .any(|f| Some(&f.item_identifier) == m.message_id.as_ref());
            if !failed {
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                    .send()
                    .await
                    .unwrap();
            }
        }
        (messages.len(), response)
    }

    /// Messages on the queue (visible or in flight).
    pub async fn queue_depth(&self) -> usize {
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap_or_default();
        let n = |k: aws_sdk_sqs::types::QueueAttributeName| {
            attrs
                .get(&k)
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0)
        };
        n(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            + n(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            + n(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
    }

    /// Every item in the table (test inspection only; the adapter never scans).
    pub async fn table_items(&self) -> Vec<std::collections::HashMap<String, AttributeValue>> {
        self.dynamo
            .scan()
            .table_name(&self.table)
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default()
    }

    /// The AWS actions each function performed so far, by binary name.
    pub fn recorded_actions(&self) -> BTreeMap<&'static str, BTreeSet<String>> {
        self.functions
            .iter()
            .map(|f| (f.function.name, f.recorder.actions()))
            .collect()
    }

    /// The app of the function called `name`.
    pub fn function(&self, name: &str) -> &FunctionApp {
        self.functions
            .iter()
            .find(|f| f.function.name == name)
            .unwrap_or_else(|| panic!("no function {name}"))
    }

    /// The app of the function called `name`, to change its settings in a test.
    pub fn function_mut(&mut self, name: &str) -> &mut FunctionApp {
        self.functions
            .iter_mut()
            .find(|f| f.function.name == name)
            .unwrap_or_else(|| panic!("no function {name}"))
    }

    pub fn counters(&self) -> Counters {
        self.sandbox.handle.counters()
    }
}

/// An event detail's `occurredAt`.
pub fn occurred_at(detail: &serde_json::Value) -> chrono::DateTime<chrono::Utc> {
    detail["occurredAt"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_default()
}
