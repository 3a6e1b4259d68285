//! The domain: value types parsed once at the edge, the one state machine of a redirection's
//! life, the pacing of status polls, what a Default Import returns and how it is summarised,
//! signed links, and the events other systems may subscribe to. Nothing here does I/O.

pub mod access;
pub mod case;
pub mod credit;
pub mod events;
pub mod import;
pub mod links;
pub mod machine;
pub mod pacing;
pub mod records;
mod types;

pub use types::*;
