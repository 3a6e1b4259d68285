//! In-process adapters with the same semantics as the AWS ones: conditional writes that fail on a
//! stale state or version, items that vanish after their 24 h window (TTL) on the injected clock,
//! a queue with delays, visibility timeouts, redelivery and a dead-letter list, and an outbox.
//! Used by the local run and by unit tests; the contract tests hold them to the AWS behaviour.
//!
//! The store is split like the port: `store.rs` holds its data and the redirections,
//! `people.rs` people and log-ins, `counters.rs` allowances, import records and the funnel.

mod cases;
mod counters;
mod outbox;
mod people;
mod queue;
mod store;

pub use outbox::{Outbox, SentEmail};
pub use queue::EmbeddedQueue;
pub use store::{poll_sort_key, EmbeddedStore};
