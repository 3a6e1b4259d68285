//! The core of the Kontomatik SignIn Redirection backend: domain types, the one state machine of
//! a redirection's life, the ports (traits) the use cases need, and embedded adapters.
//!
//! Nothing here knows about AWS or HTTP. The Lambda handlers, the local run and the tests all use
//! these types; only the adapters behind the ports differ.
//!
//! # Layout
//!
//! ```text
//! domain/        what things are; no I/O
//!   types.rs       value types parsed once at the edge (Email, RedirectionId, Language, …)
//!   machine.rs     the one state machine of a redirection's life (apply: pure)
//!   machine/timing.rs  the link's hour, the 24 h window, the sweep-up delays
//!   pacing.rs      when the poller checks a pending id next
//!   import.rs      what a Default Import returns and its summary (the analysis)
//!   links.rs       signed links and form tokens (HMAC, key ring)
//!   events.rs      the events other systems subscribe to (no bank data)
//!   records.rs     the records the stores keep, and the rules for merging them
//! usecases/      what the functions do, one file per use case, on `App`
//!   mod.rs         App (the ports and settings) and the conditional transition
//!   start.rs callback.rs poller.rs worker.rs followup.rs link_actions.rs funnel.rs
//!   identity.rs (applicant log-in) staff.rs (staff log-in) erase.rs
//! ports/         traits only: what the use cases need from outside
//!   store.rs       the store by concern: redirections, people, log-ins, allowances,
//!                  import records, funnel (`Store` is all of them)
//!   queue.rs mail.rs kontomatik.rs events.rs
//! adapters/      in-process adapters with the AWS semantics (local run, unit tests)
//! copy/          every page text in each language, one constant each
//! config/        the settings, and one table of every environment variable (vars.rs)
//! notify/        the emails, in the person's language
//! metrics.rs     metrics around the ports; clock.rs injected time
//! contract/      the contract tests every adapter passes (feature "contract")
//! ```
//!
//! The AWS adapters live in `functions/aws`, Kontomatik's client in `functions/kontomatik`, the
//! HTTP side in `functions/web`, and the wiring of each Lambda function in `functions/runtime`.

pub mod adapters;
pub mod clock;
pub mod config;
pub mod copy;
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
