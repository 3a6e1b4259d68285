//! Adapters behind the ports that need nothing outside the process. The AWS adapters live in
//! the `signin-aws` crate, Kontomatik's client in `kontomatik`.

pub mod embedded;
pub mod events;
