//! The durations that drive a redirection's life: the link's hour, the 24 h status window,
//! and when the poller sweeps up an import or retries an email.

use chrono::Duration;

/// A link can be used for one hour; after that its status is `expired`.
pub fn link_lifetime() -> Duration {
    Duration::hours(1)
}

/// A saved session whose import job was not confirmed on the queue within this time is swept up
/// by the poller and enqueued again (the worker's conditional claim makes duplicates harmless).
pub fn import_recovery_delay() -> Duration {
    Duration::minutes(2)
}

/// An import (queued or running) that nothing has moved for this long is swept up by the poller
/// and its job enqueued again: longer than the import queue's visibility timeout (720 s), so a
/// job still on the queue has been delivered by then, and than the worker's claim lease.
pub fn import_stale_after() -> Duration {
    Duration::minutes(15)
}

/// An import not final this long after the session was saved is ended as failed and the user
/// is asked to sign in again (Kontomatik imports take seconds to minutes; a job stuck in the
/// dead-letter queue or a command stuck `in_progress` must not leave the user waiting).
pub fn import_deadline() -> Duration {
    Duration::hours(1)
}

/// Kontomatik answers 404 for an id it has forgotten (24 h after creation). Before this much
/// of the window has passed, a 404 is taken for a transient fault, not the window closing.
pub fn not_found_is_final_after() -> Duration {
    Duration::hours(23)
}

/// An import email not confirmed sent is sent (again) this long after it was due.
pub fn email_retry() -> Duration {
    Duration::minutes(5)
}

/// A redirection's status can be read for 24 hours; after that Kontomatik forgets the id and our
/// item's TTL removes it.
pub fn status_window() -> Duration {
    Duration::hours(24)
}
