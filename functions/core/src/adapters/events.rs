//! Event buses that need nothing outside the process: none at all, and an in-memory log.

use async_trait::async_trait;

use crate::domain::events::LifecycleEvent;
use crate::ports::{EventBus, EventError};

/// Events off: nothing is published and nothing is called.
pub struct NoEvents;

#[async_trait]
impl EventBus for NoEvents {
    async fn publish(&self, _events: &[LifecycleEvent]) -> Result<(), EventError> {
        Ok(())
    }
}

/// Events kept in memory, in order (the local run's operator view, and tests).
#[derive(Default)]
pub struct EventLog {
    events: std::sync::Mutex<Vec<LifecycleEvent>>,
}

impl EventLog {
    pub fn events(&self) -> Vec<LifecycleEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl EventBus for EventLog {
    async fn publish(&self, events: &[LifecycleEvent]) -> Result<(), EventError> {
        let mut log = self
            .events
            .lock()
            .map_err(|_| EventError::Unavailable("the log's lock is poisoned".into()))?;
        log.extend_from_slice(events);
        Ok(())
    }
}
