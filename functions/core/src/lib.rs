//! The core of the Kontomatik SignIn Redirection backend: domain types, the one state machine of
//! a redirection's life, the ports (traits) the use cases need, and embedded adapters.
//!
//! Nothing here knows about AWS or HTTP. The Lambda handlers, the local run and the tests all use
//! these types; only the adapters behind the ports differ.

pub mod adapters;
pub mod clock;
pub mod config;
pub mod domain;
pub mod metrics;
pub mod notify;
pub mod ports;
pub mod usecases;

#[cfg(any(test, feature = "contract"))]
pub mod contract;

pub use clock::{Clock, Pause, ScaledClock, ScaledPause, SimClock, SystemClock, TokioPause};
pub use usecases::App;

/// Where Kontomatik sends the user back to (appended to `PUBLIC_BASE_URL`).
pub const CALLBACK_PATH: &str = "/kontomatik-signin";
