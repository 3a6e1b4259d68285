//! The event bus for other systems: EventBridge `PutEvents` on the configured bus, one entry
//! per event, `source` [`signin_core::domain::events::SOURCE`] and the event's `detail-type`.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;
use signin_core::domain::events::{LifecycleEvent, SOURCE};
use signin_core::ports::{EventBus, EventError};

/// EventBridge's largest batch of one `PutEvents`.
const MAX_ENTRIES: usize = 10;

#[derive(Debug, Clone)]
pub struct EventBridgeBus {
    client: Client,
    /// A bus name or ARN.
    bus: String,
}

/// A publish is on the user's request path (the callback page, each poller item, the import's
/// end): it may take at most this long, retries included, before it is given up (and counted as
/// not published).
pub const PUBLISH_BUDGET: Duration = Duration::from_secs(2);

impl EventBridgeBus {
    /// The bus through `client` as given (its own timeouts and retries).
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        EventBridgeBus {
            client,
            bus: bus.into(),
        }
    }

    /// The bus on `aws`, with the publish's own limits: 1 s per attempt, two attempts,
    /// [`PUBLISH_BUDGET`] in all. (A retried attempt whose first try did land publishes the
    /// event twice, with the same `eventId`: subscribers deduplicate on it.)
    pub fn on(aws: &aws_config::SdkConfig, bus: impl Into<String>) -> Self {
        let config = aws_sdk_eventbridge::config::Builder::from(aws)
            .timeout_config(
                aws_sdk_eventbridge::config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(1))
                    .operation_timeout(PUBLISH_BUDGET)
                    .build(),
            )
            .retry_config(
                aws_sdk_eventbridge::config::retry::RetryConfig::standard().with_max_attempts(2),
            )
            .build();
        Self::new(Client::from_conf(config), bus)
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn publish(&self, events: &[LifecycleEvent]) -> Result<(), EventError> {
        for batch in events.chunks(MAX_ENTRIES) {
            let entries = batch
                .iter()
                .map(|e| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus)
                        .source(SOURCE)
                        .detail_type(e.kind.detail_type())
                        .detail(e.detail_json())
                        .time(aws_sdk_eventbridge::primitives::DateTime::from_millis(
                            e.detail.occurred_at.timestamp_millis(),
                        ))
                        .build()
                })
                .collect();
            let out = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| EventError::Unavailable(DisplayErrorContext(e).to_string()))?;
            // PutEvents answers 200 with per-entry failures (throttling, an internal error).
            let failed = usize::try_from(out.failed_entry_count).unwrap_or(0);
            if failed > 0 {
                let reason = out
                    .entries()
                    .iter()
                    .find_map(|r| r.error_code().map(str::to_owned))
                    .unwrap_or_else(|| "unknown".into());
                return Err(EventError::Refused { failed, reason });
            }
        }
        Ok(())
    }
}
