//! The event bus: where the decisive moments of each redirection are published.

use async_trait::async_trait;
use thiserror::Error;

use crate::domain::events::LifecycleEvent;

#[derive(Debug, Error)]
pub enum EventError {
    #[error("the event bus is unavailable: {0}")]
    Unavailable(String),
    #[error("the event bus refused {failed} of the events: {reason}")]
    Refused { failed: usize, reason: String },
}

/// Where events go.
#[async_trait]
pub trait EventBus: Send + Sync {
    async fn publish(&self, events: &[LifecycleEvent]) -> Result<(), EventError>;
}
