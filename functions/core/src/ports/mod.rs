//! The ports: what the use cases need from the outside world. Each has an embedded adapter here
//! (local run, unit tests) and a production one elsewhere (`functions/aws`, `functions/kontomatik`);
//! the same contract tests run against both.
//!
//! This module holds the traits (and their errors) only. The records they speak in live in
//! [`crate::domain::records`] and are re-exported here, so an adapter needs one import.

mod events;
mod kontomatik;
mod mail;
mod queue;
mod store;

pub use crate::domain::records::*;
pub use events::*;
pub use kontomatik::*;
pub use mail::*;
pub use queue::*;
pub use store::*;

#[cfg(test)]
mod tests;
