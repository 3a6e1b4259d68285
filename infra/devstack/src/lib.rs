//! The whole system on one machine: the pages and callback (the same `signin_web::handle` the
//! Lambdas run), the Kontomatik sandbox with its hosted sign-in page, the status poller on a
//! timer, the import worker reading the queue, and the embedded store / queue / outbox — or the
//! AWS adapters against `AWS_ENDPOINT_URL` (moto) with `--aws`, and the real Kontomatik when
//! `KONTOMATIK_BASE_URL` / `KONTOMATIK_API_KEY` are set.
//!
//! The parts: this file holds the run's options, clock and shared state ([`DevOptions`],
//! [`DevClock`], [`Dev`], [`RunningDev`]); `stack.rs` starts everything ([`start`]: Kontomatik,
//! the adapters, the poller and worker, the HTTP server) and runs the worker's rounds;
//! `persist.rs` saves and restores the embedded state in a data directory; `erase.rs` the
//! `erase` commands ([`erase_in_aws`], [`erase_in_data_dir`]); `view.rs` the operator view
//! (`/_dev`).

mod erase;
mod persist;
mod stack;
mod view;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use kontomatik_sandbox::{RunningSandbox, SandboxHandle, TimeSource};
use signin_core::adapters::embedded::{EmbeddedQueue, EmbeddedStore, Outbox};
use signin_core::adapters::events::EventLog;
use signin_core::ports::ImportQueueConsumer;
use signin_core::{App, Clock, Pause, ScaledClock, ScaledPause, SimClock};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use erase::{erase_in_aws, erase_in_data_dir};
pub use stack::start;

/// Where the local run's time comes from.
#[derive(Debug, Clone)]
pub enum DevClock {
    /// Real time times `factor` (1 = real time).
    Scaled(ScaledClock, f64),
    /// Stands still until advanced (tests).
    Sim(SimClock),
}

impl DevClock {
    pub fn scaled(factor: f64) -> Self {
        DevClock::Scaled(ScaledClock::new(factor), factor)
    }

    fn clock(&self) -> Arc<dyn Clock> {
        match self {
            DevClock::Scaled(c, _) => Arc::new(c.clone()),
            DevClock::Sim(c) => Arc::new(c.clone()),
        }
    }

    fn pause(&self) -> Arc<dyn Pause> {
        match self {
            DevClock::Scaled(_, f) => Arc::new(ScaledPause { factor: *f }),
            DevClock::Sim(c) => Arc::new(c.clone()),
        }
    }

    fn time_source(&self) -> TimeSource {
        match self {
            DevClock::Scaled(c, _) => TimeSource::Scaled(c.clone()),
            DevClock::Sim(c) => TimeSource::Sim(c.clone()),
        }
    }

    /// Jumps ahead (the operator view's "skip ahead").
    pub fn advance(&self, by: chrono::Duration) {
        match self {
            DevClock::Scaled(c, _) => c.advance(by),
            DevClock::Sim(c) => {
                c.advance(by);
            }
        }
    }

    /// How much real time one simulated minute takes.
    fn real_minute(&self) -> StdDuration {
        match self {
            DevClock::Scaled(_, f) => StdDuration::from_secs(60).div_f64(f.max(1.0)),
            DevClock::Sim(_) => StdDuration::from_millis(100),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DevOptions {
    /// 0 for any free port.
    pub port: u16,
    pub sandbox_port: u16,
    pub clock: DevClock,
    /// Keep the store, queue and outbox here across restarts.
    pub data_dir: Option<PathBuf>,
    /// Use the AWS adapters (with `AWS_ENDPOINT_URL`, e.g. moto) instead of the embedded ones.
    pub aws: bool,
    /// Whether applicants log in before they start (`APPLICANT_LOGIN`).
    pub applicant_login: signin_core::config::ApplicantLogin,
}

impl Default for DevOptions {
    fn default() -> Self {
        DevOptions {
            port: 8080,
            sandbox_port: 8090,
            clock: DevClock::scaled(1.0),
            data_dir: None,
            aws: false,
            applicant_login: signin_core::config::ApplicantLogin::Optional,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("could not listen: {0}")]
    Io(#[from] std::io::Error),
    #[error("sandbox: {0}")]
    Sandbox(String),
    #[error("{0}")]
    Setup(String),
}

/// The local adapters, when the run is not on AWS.
pub struct Embedded {
    pub store: Arc<EmbeddedStore>,
    pub queue: Arc<EmbeddedQueue>,
    pub outbox: Arc<Outbox>,
    /// The events the run published (shown in the operator view).
    pub events: Arc<EventLog>,
}

/// Shared by the HTTP handlers and background tasks.
pub struct Dev {
    pub app: App,
    pub clock: DevClock,
    pub embedded: Option<Embedded>,
    pub sandbox: Option<SandboxHandle>,
    pub sandbox_url: Option<String>,
    consumer: Arc<dyn ImportQueueConsumer>,
    data_dir: Option<PathBuf>,
}

/// A running local stack; stops when dropped.
pub struct RunningDev {
    pub url: String,
    pub dev: Arc<Dev>,
    _sandbox: Option<RunningSandbox>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningDev {
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        self.dev.save();
    }
}

impl Drop for RunningDev {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Worker invocations at once (the template's `ScalingConfig.MaximumConcurrency`).
pub const WORKER_CONCURRENCY: usize = 5;

/// Who may sign in as staff in a local run unless `STAFF_EMAILS` says otherwise (the sign-in
/// link shows up in the operator view's outbox): marketing sees the funnel, credit the cases.
pub const LOCAL_STAFF: &str = "marketing@lender.example=marketing,credit@lender.example=credit";
/// The local run's marketing member (on [`LOCAL_STAFF`]).
pub const LOCAL_MARKETING_EMAIL: &str = "marketing@lender.example";
/// The local run's credit officer (on [`LOCAL_STAFF`]).
pub const LOCAL_CREDIT_EMAIL: &str = "credit@lender.example";

/// The local run's stand-in for a SigV4-signed caller of the lender's API (`docs/api.md`):
/// `Authorization: Bearer local-lender-api` (the local run listens on 127.0.0.1 only).
pub const LOCAL_API_TOKEN: &str = "local-lender-api";
/// Who the local run says called the API (recorded with each read, as an IAM ARN would be).
pub const LOCAL_API_CALLER: &str = "arn:local:iam::000000000000:role/local-lender-app";

/// The link-signing key of local runs (never of a deployment: the template reads it from SSM).
pub const LOCAL_LINK_SIGNING_KEY: &str = "local-development-signing-key-0123456789";
