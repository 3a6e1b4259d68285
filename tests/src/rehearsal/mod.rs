//! The deploy rehearsal: the real bootstrap binaries, each run as its own process against a
//! Lambda Runtime API emulator, with exactly the environment `template.yaml` gives it and the
//! credentials of a role built from the template's policy statements, on a moto server that
//! enforces IAM.
//!
//! The parts of this module:
//! - `runtime_api.rs`: the Lambda Runtime API emulator ([`RuntimeApi`], [`Outcome`]).
//! - `moto.rs`: a moto server of its own with IAM enforced, its administrator and the
//!   functions' roles ([`Moto`]).
//! - `resource_gate.rs`: IAM's resource half in front of moto ([`ResourceGate`],
//!   [`access_of`], [`iam_matches`]).
//! - `processes.rs`: the functions' binaries, built and run one process each
//!   ([`binaries`], [`FunctionProcess`], [`run_dir`]).
//! - `stack.rs`: the whole rehearsal stack, set up from the template ([`Rehearsal`],
//!   [`Options`]), and what a test reads back from it.
//! - `steps.rs`: a user's steps through the stack (the form, the bank, the way back), shared
//!   by the rehearsal tests and the cost model.
//! - `event_sources.rs`: how the functions are invoked, as AWS's event sources do it: API
//!   Gateway ([`HttpRequest`], [`HttpAnswer`]), the EventBridge schedule and the SQS event
//!   source mapping ([`MappingPoll`]).
//!
//! What stands in for AWS, and how closely:
//! - **Runtime API** ([`RuntimeApi`]): the documented `/2018-06-01/runtime/...` interface —
//!   `invocation/next` (long poll; request id, deadline, function ARN and trace id headers),
//!   `invocation/{id}/response`, `invocation/{id}/error` and `init/error`. The deadline is the
//!   template's `Timeout`; an invocation not answered by then fails the rehearsal.
//! - **Environment**: Globals merged with the function's own, resolved for a rehearsal
//!   parameter set ([`crate::template::Stack`]), plus the variables Lambda itself sets
//!   (`AWS_LAMBDA_*`, `AWS_REGION`, the role's temporary credentials). The one rehearsal-only
//!   variable is `AWS_ENDPOINT_URL` (moto). `KontomatikBaseUrl` is the sandbox's address, which
//!   its `AllowedValues` would refuse: the only parameter checked loosely.
//! - **IAM**: moto with `INITIAL_NO_AUTH_ACTION_COUNT`: the first three requests create an
//!   administrator (user, policy, access key); every later request is authorised. Each function
//!   gets a role whose policy is the template's statements with resources widened to `*` (moto
//!   matches actions, not DynamoDB/SQS ARNs), assumed through STS; its credentials go to that
//!   process only. The resource half is the [`ResourceGate`] in front of moto: each function's
//!   calls pass only when its statements, with the real ARNs, allow the action on every
//!   resource the request names (deployment.rs also checks each ARN statically).
//! - **Events** in AWS's shapes: API Gateway HTTP API payload 2.0, the EventBridge scheduled
//!   event, and SQS batches the way the event source mapping delivers them (receive with the
//!   worker's role, the queue's visibility timeout, partial batch failures honoured, failed
//!   messages left for redelivery, the queue's redrive policy moving them to the DLQ).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod event_sources;
mod moto;
mod processes;
mod resource_gate;
mod runtime_api;
mod stack;
pub mod steps;

pub use event_sources::{HttpAnswer, HttpRequest, MappingPoll};
pub use moto::Moto;
pub use processes::{binaries, run_dir, FunctionProcess};
pub use resource_gate::{access_of, iam_matches, Access, ResourceGate};
pub use runtime_api::{Outcome, RuntimeApi};
pub use stack::{Options, Rehearsal, LINK_SIGNING_KEY, PUBLIC_BASE, SENDER, STATS_TOKEN};
