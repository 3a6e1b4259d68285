//! A typed async client for Kontomatik's API: *Fetch redirection*, *Redirection status*,
//! *Default Import* and the import command's status with its result, read as a stream.
//!
//! Every wire name lives in [`wire`]; errors are the core's typed [`KontomatikError`]; every call
//! has a timeout; the API key never appears in `Debug` output or error messages.
//!
//! [`KontomatikError`]: signin_core::ports::KontomatikError

pub mod client;
pub mod probe;
pub mod wire;
pub mod xml;

pub use client::{ClientConfig, KontomatikClient};
