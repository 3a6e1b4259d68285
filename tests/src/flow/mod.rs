//! The whole backend on one simulated clock: the real handlers (`signin_runtime`) fed with real
//! event payloads (API Gateway HTTP API v2, EventBridge schedule, SQS), on the AWS adapters
//! against moto server, with the Kontomatik sandbox.
//!
//! The parts: this file holds the flow's types ([`Flow`], [`FunctionApp`], [`Page`], [`Mail`],
//! [`PublishedEvent`]) and the [`Recorder`] of AWS operations; `start.rs` sets a flow up (the
//! resources on moto, one app per function, the subscriber's bus); `browser.rs` is the
//! browser's side (HTTP requests as API Gateway events, cookies, sign-in steps, mails);
//! `backend.rs` what runs behind the pages (the poller, the import queue and worker, the bus's
//! events, the table, the sandbox's counters).

mod backend;
mod browser;
mod start;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use kontomatik_sandbox::RunningSandbox;
use signin_aws::DynamoStore;
use signin_core::{App, SimClock};
use signin_runtime::functions::{iam_prefix, Function};

pub use backend::occurred_at;
pub use browser::api_gateway_event;
pub use start::capture_events;

pub const PUBLIC_BASE: &str = "https://signin.lender.example";
pub const SENDER: &str = "no-reply@lender.example";
pub const LINK_SIGNING_KEY: &str = "e2e-link-signing-key-0123456789abcdef";

/// An HTTP answer of a handler, decoded for assertions.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Page {
    /// A response header (names in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One email moto's SES recorded, parsed.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub headers: Vec<(String, String)>,
}

/// Records the AWS operations a client performs (`dynamodb:GetItem`, …) and how often, through
/// the SDK's interceptor hook: the truth about what each function needs from IAM, and what it
/// costs (each operation is one billed request; the SDK's retries are not counted again).
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<BTreeMap<String, u64>>>);

impl Recorder {
    pub fn actions(&self) -> BTreeSet<String> {
        self.0.lock().unwrap().keys().cloned().collect()
    }

    /// Operations made so far, by `service:Operation`.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.0.lock().unwrap().clone()
    }

    /// Forgets what was recorded (to count one phase of a run).
    pub fn reset(&self) {
        self.0.lock().unwrap().clear();
    }
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "operation-recorder"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            *self
                .0
                .lock()
                .unwrap()
                .entry(format!("{}:{}", iam_prefix(m.service()), m.name()))
                .or_default() += 1;
        }
        Ok(())
    }
}

/// One function's app, with the recorder of its AWS calls. It is configured the way the
/// function's binary is: [`Config::from_lookup`] with only the variables its table entry reads,
/// and an [`UnusedPort`] port for what it does not read.
pub struct FunctionApp {
    pub function: &'static Function,
    pub app: App,
    pub recorder: Recorder,
}

pub struct Flow {
    pub clock: SimClock,
    pub sandbox: RunningSandbox,
    /// An app for calling use cases directly.
    pub app: App,
    /// One app per function of `signin_runtime::functions::FUNCTIONS`, in its order.
    pub functions: Vec<FunctionApp>,
    pub store: Arc<DynamoStore>,
    pub dynamo: aws_sdk_dynamodb::Client,
    pub table: String,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    /// Only this flow's emails are read back (moto keeps every test's).
    recipient_domain: String,
    /// The next user's client address.
    next_client: std::sync::atomic::AtomicU32,
    /// The browser's cookies (set by our answers, sent with every request).
    cookies: std::sync::Mutex<BTreeMap<String, String>>,
    /// The flow's EventBridge bus (on moto), and the queue its one rule delivers every event
    /// of ours to, read back by [`Flow::events`].
    pub event_bus: String,
    event_capture_url: String,
    captured: std::sync::Mutex<Vec<PublishedEvent>>,
}

/// An event as a subscriber of the bus receives it.
#[derive(Debug, Clone)]
pub struct PublishedEvent {
    pub source: String,
    pub detail_type: String,
    pub detail: serde_json::Value,
}

/// The client address of requests that do not say otherwise.
pub const DEFAULT_CLIENT_IP: &str = "203.0.113.7";

fn unique(prefix: &str) -> String {
    signin_core::contract::unique(prefix)
}

impl Mail {
    /// A raw MIME message, parsed; `None` if it is not one.
    pub fn parse(raw: &str) -> Option<Mail> {
        let m = mail_parser::MessageParser::default().parse(raw.as_bytes())?;
        Some(Mail {
            to: m.to()?.first()?.address()?.to_owned(),
            subject: m.subject().unwrap_or_default().to_owned(),
            text: m.body_text(0).unwrap_or_default().into_owned(),
            html: m.body_html(0).unwrap_or_default().into_owned(),
            headers: m
                .headers_raw()
                .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
                .collect(),
        })
    }
}
