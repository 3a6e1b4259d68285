//! The sandbox's HTTP surface: Kontomatik's API (`/v1/…`), the hosted sign-in page
//! (`/signin/…`) and, when enabled, the admin endpoints tests use (`/_sandbox/…`).
//!
//! The parts: this file holds the options, the shared state, the in-process [`SandboxHandle`],
//! the [`router`] and the answers every endpoint shares; `faults.rs` the fault injection
//! ([`Fault`], [`FaultConfig`]); `requests.rs` the log of API requests ([`RequestSeen`]) and
//! the refusal of secrets in URLs; `json_api.rs` Fetch redirection and Redirection status;
//! `xml_api.rs` the XML command API (Default Import, command status, sign-out, owner data);
//! `signin.rs` the hosted sign-in page; `admin.rs` the admin endpoints (`/_sandbox/…`).

mod admin;
mod faults;
mod json_api;
mod requests;
mod signin;
mod xml_api;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::Duration;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use signin_core::{Clock, ScaledClock, SimClock};
use url::Url;

use crate::data::DataShape;
use crate::pages;
use crate::sim::{self, Acted, Counters, Sim, SimError, Status, UserAction};
use crate::wire::{self, json};

use admin::{
    admin_act, admin_advance, admin_clock, admin_counters, admin_faults, admin_redirections,
    admin_requests, admin_shape,
};
use faults::{inject_faults, Faults};
pub use faults::{Fault, FaultConfig};
use json_api::{fetch_redirection, redirection_status};
use requests::record_requests;
pub use requests::RequestSeen;
use signin::{signin_left, signin_page, signin_submit};
use xml_api::{command_status, default_import, delete_owner_data, owner_data, sign_out};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where the sandbox's time comes from.
#[derive(Debug, Clone)]
pub enum TimeSource {
    System,
    /// Stands still until advanced (tests).
    Sim(SimClock),
    /// Runs faster than real time (the local run).
    Scaled(ScaledClock),
}

impl TimeSource {
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        match self {
            TimeSource::System => chrono::Utc::now(),
            TimeSource::Sim(c) => c.now(),
            TimeSource::Scaled(c) => c.now(),
        }
    }

    /// Moves time forward; the system clock cannot be moved.
    pub fn advance(&self, by: Duration) -> bool {
        match self {
            TimeSource::System => false,
            TimeSource::Sim(c) => {
                c.advance(by);
                true
            }
            TimeSource::Scaled(c) => {
                c.advance(by);
                true
            }
        }
    }
}

/// Everything the sandbox is started with.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub sim: sim::SimConfig,
    pub api_key: String,
    pub shape: DataShape,
    pub seed: u64,
    /// Serve `/_sandbox/…` (time control, counters, faults). Off unless asked for.
    pub admin: bool,
    pub faults: FaultConfig,
    /// The base of the links handed out; defaults to the address the server is bound to.
    pub public_base_url: Option<Url>,
    pub time: TimeSource,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            sim: sim::SimConfig::default(),
            api_key: "sandbox-api-key".into(),
            shape: DataShape::default(),
            seed: 1,
            admin: false,
            faults: FaultConfig::default(),
            public_base_url: None,
            time: TimeSource::System,
        }
    }
}

pub(crate) struct Shared {
    sim: Mutex<Sim>,
    faults: Mutex<Faults>,
    time: TimeSource,
    api_key: String,
    shape: Mutex<DataShape>,
    seed: u64,
    public_base: Mutex<Option<Url>>,
    requests: Mutex<VecDeque<RequestSeen>>,
}

/// In-process control of a running sandbox (what the admin endpoints do, without HTTP).
#[derive(Clone)]
pub struct SandboxHandle {
    shared: Arc<Shared>,
}

/// One redirection as the admin view shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedirectionView {
    pub id: String,
    pub status: Status,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub owner_external_id: Option<String>,
    pub status_calls: u64,
}

impl SandboxHandle {
    pub fn counters(&self) -> Counters {
        lock(&self.shared.sim).counters.clone()
    }

    /// Every API request received (the latest [`requests::MAX_REQUESTS_SEEN`]), oldest first.
    pub fn requests(&self) -> Vec<RequestSeen> {
        lock(&self.shared.requests).iter().cloned().collect()
    }

    pub fn set_faults(&self, config: FaultConfig) {
        let mut f = lock(&self.shared.faults);
        f.next = config.next.iter().copied().collect();
        f.config = config;
    }

    pub fn set_shape(&self, shape: DataShape) -> Result<(), String> {
        *lock(&self.shared.shape) = shape.checked()?;
        Ok(())
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.shared.time.now()
    }

    /// Advances the sandbox's clock; `false` when it runs on the system clock.
    pub fn advance(&self, by: Duration) -> bool {
        self.shared.time.advance(by)
    }

    /// Acts as the user of redirection `id` would on the hosted page.
    pub fn act(&self, id: &str, action: UserAction, bank: Option<&str>) -> Result<Acted, SimError> {
        let now = self.shared.time.now();
        lock(&self.shared.sim).act(id, action, bank, now)
    }

    /// The live redirections, newest first.
    pub fn redirections(&self) -> Vec<RedirectionView> {
        let now = self.shared.time.now();
        let mut sim = lock(&self.shared.sim);
        let ids: Vec<String> = sim.redirections.keys().cloned().collect();
        let mut out: Vec<RedirectionView> = ids
            .iter()
            .filter_map(|id| {
                let r = sim.peek(id, now).ok()?;
                Some(RedirectionView {
                    status_calls: sim.counters.status_calls.get(id).copied().unwrap_or(0),
                    id: r.id,
                    status: r.status,
                    created_at: r.created_at,
                    owner_external_id: r.owner_external_id,
                })
            })
            .collect();
        out.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        out
    }

    pub(crate) fn set_public_base(&self, url: Url) {
        let mut base = lock(&self.shared.public_base);
        if base.is_none() {
            *base = Some(url);
        }
    }
}

/// Builds the router and its handle.
pub fn router(options: SandboxOptions) -> Result<(Router, SandboxHandle), String> {
    let shape = options.shape.checked()?;
    let shared = Arc::new(Shared {
        sim: Mutex::new(Sim::new(options.sim)),
        faults: Mutex::new(Faults {
            next: options.faults.next.iter().copied().collect(),
            config: options.faults,
            rng: ChaCha8Rng::seed_from_u64(options.seed),
        }),
        time: options.time,
        api_key: options.api_key,
        shape: Mutex::new(shape),
        seed: options.seed,
        public_base: Mutex::new(options.public_base_url),
        requests: Mutex::new(VecDeque::new()),
    });
    let api = Router::new()
        .route(wire::FETCH_REDIRECTION, post(fetch_redirection))
        .route(wire::REDIRECTION_STATUS, get(redirection_status))
        .route(wire::DEFAULT_IMPORT, post(default_import))
        .route(wire::SIGN_OUT, post(sign_out))
        .route(wire::COMMAND_STATUS, get(command_status))
        .route(wire::OWNER_DATA, get(owner_data).delete(delete_owner_data))
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            inject_faults,
        ))
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            record_requests,
        ));
    let mut app = Router::new()
        .merge(api)
        .route(wire::SIGNIN_PAGE, get(signin_page).post(signin_submit))
        .route("/signin/{id}/left", get(signin_left))
        .route("/", get(|| async { Html(pages::message("Kontomatik sandbox", "A Kontomatik look-alike for local runs and tests. Sign-in links look like /signin/ID.", None).into_string()) }));
    if options.admin {
        app = app
            .route("/_sandbox/counters", get(admin_counters))
            .route("/_sandbox/requests", get(admin_requests))
            .route("/_sandbox/clock", get(admin_clock))
            .route("/_sandbox/clock/advance", post(admin_advance))
            .route("/_sandbox/faults", put(admin_faults))
            .route("/_sandbox/shape", put(admin_shape))
            .route("/_sandbox/redirections", get(admin_redirections))
            .route("/_sandbox/redirections/{id}/act", post(admin_act));
    }
    let handle = SandboxHandle {
        shared: shared.clone(),
    };
    Ok((app.with_state(shared), handle))
}

type Shr = State<Arc<Shared>>;

fn json_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json::ErrorReply {
            error: json::Error {
                code: code.into(),
                message: message.into(),
            },
        }),
    )
        .into_response()
}

/// A whole XML reply: `<reply status=…>inner</reply>`, with the HTTP status it names.
fn xml_reply(status: StatusCode, owner: Option<&str>, timestamp: &str, inner: &str) -> Response {
    let reason = status.canonical_reason().unwrap_or("");
    let mut body =
        wire::xml::reply_open(&format!("{} {reason}", status.as_u16()), owner, timestamp);
    body.push_str(inner);
    body.push_str(wire::xml::REPLY_CLOSE);
    (
        status,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Recorded: a wrong key (or an unlisted IP) gets 401 with a `<comment>`, no `<exception>`.
fn unauthorized(s: &Shared) -> Response {
    xml_reply(
        StatusCode::UNAUTHORIZED,
        None,
        &s.timestamp(),
        &wire::xml::comment(
            "Access denied. Please check your IP address and API key HTTP header (X-Api-Key).",
        ),
    )
}

impl Shared {
    /// The key must come in the header, and only there.
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let given = headers
            .get(wire::API_KEY_HEADER)
            .and_then(|v| v.to_str().ok());
        let ok = given == Some(self.api_key.as_str());
        if !ok {
            lock(&self.sim).counters.unauthorized += 1;
        }
        ok
    }

    fn count(&self, endpoint: &str) {
        lock(&self.sim).count_call(endpoint);
    }

    fn link_base(&self) -> String {
        lock(&self.public_base)
            .as_ref()
            .map(|u| u.as_str().trim_end_matches('/').to_owned())
            .unwrap_or_default()
    }

    fn timestamp(&self) -> String {
        self.time
            .now()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }
}
