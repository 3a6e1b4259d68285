//! The end-to-end tests, one binary (one link, one run): a module per topic. Helpers they share
//! live in the library (`tests/src`: the flow harness, the deploy rehearsal, the fault run, the
//! template resolver).

mod browser;
mod cases;
mod deployment;
mod faultrun;
mod flow;
mod followups;
mod kontomatik_sandbox;
mod marketing;
mod privacy;
mod redrive;
mod rehearsal;
mod wire_fixtures;
