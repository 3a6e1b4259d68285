//! The core of the Kontomatik SignIn Redirection backend: domain types, the one state machine of
//! a redirection's life, the ports (traits) the use cases need, and embedded adapters.
//!
//! Nothing here knows about AWS or HTTP. The Lambda handlers, the local run and the tests all use
//! these types; only the adapters behind the ports differ.

pub mod clock;
pub mod domain;
pub mod embedded;
pub mod import;
pub mod machine;
pub mod pacing;
pub mod ports;

#[cfg(any(test, feature = "contract"))]
pub mod contract;

pub use clock::{Clock, ScaledClock, SimClock, SystemClock};
