//! The sandbox's HTTP surface: Kontomatik's API (`/v1/…`), the hosted sign-in page
//! (`/signin/…`) and, when enabled, the admin endpoints tests use (`/_sandbox/…`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration as StdDuration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{Duration, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use signin_core::{Clock, ScaledClock, SimClock};
use url::Url;

use crate::data::{DataShape, Envelope, Rendering, ResultChunks};
use crate::pages;
use crate::sim::{self, Acted, Counters, Sim, SimError, Status, UserAction};
use crate::wire::{self, json};

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

/// A fault the sandbox can inject into an API call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Answer 503.
    ServerError,
    /// Answer after `slow_ms`.
    Slow,
    /// Send the headers, then break the connection.
    Drop,
    /// Answer 429 with `Retry-After`.
    RateLimit,
    /// Handle the request for real, then break the connection before the answer: the caller
    /// cannot tell whether it happened (a Default Import that started, unknown to us).
    LostReply,
}

/// Faults to inject: shares of calls (0.0–1.0, drawn from a seeded generator) and a list of
/// faults for the very next calls, in order (deterministic, for tests).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FaultConfig {
    pub server_error_rate: f64,
    pub slow_rate: f64,
    pub slow_ms: u64,
    pub drop_rate: f64,
    pub rate_limit_rate: f64,
    /// Share of calls handled whose answer is then lost ([`Fault::LostReply`]).
    pub lost_reply_rate: f64,
    /// The `Retry-After` of an injected 429, in seconds (30 when 0).
    pub retry_after_secs: u64,
    /// Every API answer is held this long (real time), as a distant Kontomatik would be:
    /// what benchmarks of our concurrency need. Not a fault: not counted.
    pub latency_ms: u64,
    pub next: Vec<Fault>,
}

struct Faults {
    config: FaultConfig,
    next: VecDeque<Fault>,
    rng: ChaCha8Rng,
}

impl Faults {
    fn draw(&mut self) -> Option<Fault> {
        if let Some(f) = self.next.pop_front() {
            return Some(f);
        }
        let c = &self.config;
        let x: f64 = self.rng.gen();
        let mut edge = 0.0;
        for (rate, fault) in [
            (c.server_error_rate, Fault::ServerError),
            (c.slow_rate, Fault::Slow),
            (c.drop_rate, Fault::Drop),
            (c.rate_limit_rate, Fault::RateLimit),
            (c.lost_reply_rate, Fault::LostReply),
        ] {
            edge += rate.clamp(0.0, 1.0);
            if x < edge {
                return Some(fault);
            }
        }
        None
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

    /// Every API request received (the latest [`MAX_REQUESTS_SEEN`]), oldest first.
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

// --- faults -----------------------------------------------------------------------------------

async fn inject_faults(State(s): Shr, req: Request, next: Next) -> Response {
    let (fault, slow_ms, retry_after_secs, latency_ms) = {
        let mut f = lock(&s.faults);
        (
            f.draw(),
            f.config.slow_ms,
            f.config.retry_after_secs,
            f.config.latency_ms,
        )
    };
    if latency_ms > 0 {
        tokio::time::sleep(StdDuration::from_millis(latency_ms)).await;
    }
    if fault.is_some() {
        lock(&s.sim).counters.faults_injected += 1;
    }
    match fault {
        None => next.run(req).await,
        Some(Fault::ServerError) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "injected fault: service unavailable",
        )
            .into_response(),
        Some(Fault::RateLimit) => {
            {
                let mut sim = lock(&s.sim);
                sim.counters.rate_limited += 1;
                sim.counters.injected_rate_limits += 1;
            }
            let mut r =
                (StatusCode::TOO_MANY_REQUESTS, "injected fault: slow down").into_response();
            let secs = match retry_after_secs {
                0 => 30,
                n => n,
            };
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Some(Fault::Slow) => {
            tokio::time::sleep(StdDuration::from_millis(slow_ms)).await;
            next.run(req).await
        }
        Some(Fault::Drop) => broken_answer(),
        Some(Fault::LostReply) => {
            let status_of = req
                .uri()
                .path()
                .strip_prefix(wire::REDIRECTION_STATUS.trim_end_matches("{id}"))
                .map(str::to_owned);
            let handled = next.run(req).await;
            {
                let mut sim = lock(&s.sim);
                sim.counters.lost_replies += 1;
                if let Some(id) = status_of {
                    sim.status_answer_lost(&id);
                }
            }
            drop(handled);
            broken_answer()
        }
    }
}

/// Headers, then a broken connection instead of the body.
fn broken_answer() -> Response {
    let broken = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("injected fault: dropped"))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(broken))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

// --- every API request: the log, and secrets where they do not belong ----------------------

/// One API request as the sandbox received it (for tests that check what our client sends).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestSeen {
    pub method: String,
    /// Path and query, exactly as received.
    pub uri: String,
    /// The `X-Api-Key` header was present.
    pub api_key_header: bool,
    /// Names of the form fields of a urlencoded body.
    pub form_fields: Vec<String>,
}

/// At most this many requests are kept (oldest dropped first).
const MAX_REQUESTS_SEEN: usize = 20_000;
/// The largest API request body read.
const MAX_BODY: usize = 64 * 1024;

fn query_names(query: &str) -> Vec<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, _)| k.into_owned())
        .collect()
}

async fn record_requests(State(s): Shr, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return xml_reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                &s.timestamp(),
                &wire::xml::exception(wire::xml::EXC_INVALID_PARAMETER, "Request too large.", None),
            )
        }
    };
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form_fields = if is_form {
        url::form_urlencoded::parse(&bytes)
            .map(|(k, _)| k.into_owned())
            .collect()
    } else {
        Vec::new()
    };
    let query = parts.uri.query().unwrap_or("");
    let in_query = query_names(query);
    let seen = RequestSeen {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        api_key_header: parts.headers.contains_key(wire::API_KEY_HEADER),
        form_fields: form_fields.clone(),
    };
    let key_in_url = in_query.iter().any(|k| k == wire::LEGACY_API_KEY_PARAM)
        || (!s.api_key.is_empty() && query.contains(s.api_key.as_str()));
    let key_in_form = form_fields.iter().any(|k| k == wire::LEGACY_API_KEY_PARAM);
    let signature_in_url = in_query
        .iter()
        .any(|k| k == wire::FORM_SESSION_ID_SIGNATURE);
    {
        let mut log = lock(&s.requests);
        if log.len() >= MAX_REQUESTS_SEEN {
            log.pop_front();
        }
        log.push_back(seen);
    }
    if key_in_url || key_in_form || signature_in_url {
        let mut sim = lock(&s.sim);
        sim.counters.secrets_in_url += u64::from(key_in_url || signature_in_url);
        sim.counters.unauthorized += u64::from(key_in_url || key_in_form);
    }
    if key_in_url || key_in_form {
        return unauthorized(&s);
    }
    if signature_in_url {
        return xml_reply(
            StatusCode::BAD_REQUEST,
            None,
            &s.timestamp(),
            &wire::xml::exception(
                wire::xml::EXC_INVALID_PARAMETER,
                "The session signature must not be sent in the URL.",
                None,
            ),
        );
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

// --- JSON API ---------------------------------------------------------------------------------

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

/// The sandbox's own reading of a Fetch redirection request.
fn check_fetch(req: json::FetchRedirection) -> Result<sim::NewRedirection, (String, String)> {
    use wire::rules;
    let bad = |field: &str, why: &str| Err((field.to_owned(), why.to_owned()));
    let redirect_uri = match req.redirect_uri.as_deref().map(Url::parse) {
        Some(Ok(u)) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            u.to_string()
        }
        Some(_) => return bad("redirectUri", "must be an absolute http(s) URL"),
        None => return bad("redirectUri", "is required"),
    };
    let language = req.language.unwrap_or_default();
    if !rules::LANGUAGES.contains(&language.as_str()) {
        return bad("language", "is not a language the widget offers");
    }
    let country = req.country.unwrap_or_default();
    if !rules::COUNTRIES.contains(&country.as_str()) {
        return bad(
            "country",
            "is not a country with banks here (lower case, e.g. pl)",
        );
    }
    let access_mode = req.access_mode.unwrap_or_else(|| "single".into());
    if !rules::ACCESS_MODES.contains(&access_mode.as_str()) {
        return bad("accessMode", "must be single, multiple or mixed");
    }
    if let Some(owner) = req.owner_external_id.as_deref() {
        if !rules::owner_id_ok(owner) {
            return bad(
                "ownerExternalId",
                "must be 1-200 printable characters without spaces",
            );
        }
    }
    Ok(sim::NewRedirection {
        redirect_uri,
        owner_external_id: req.owner_external_id,
        language,
        country,
        access_mode,
    })
}

async fn fetch_redirection(State(s): Shr, headers: HeaderMap, body: Bytes) -> Response {
    s.count(sim::ENDPOINT_FETCH);
    if !s.authorized(&headers) {
        return unauthorized(&s);
    }
    let req: json::FetchRedirection = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, "InvalidRequest", e.to_string()),
    };
    let new = match check_fetch(req) {
        Ok(n) => n,
        Err((field, why)) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                format!("{field}: {why}"),
            )
        }
    };
    let now = s.time.now();
    let r = lock(&s.sim).fetch_redirection(new, now);
    let url = format!("{}/signin/{}", s.link_base(), r.id);
    Json(json::Link {
        redirection_id: r.id,
        url,
    })
    .into_response()
}

async fn redirection_status(State(s): Shr, headers: HeaderMap, Path(id): Path<String>) -> Response {
    s.count(sim::ENDPOINT_STATUS);
    if !s.authorized(&headers) {
        return unauthorized(&s);
    }
    let now = s.time.now();
    let result = lock(&s.sim).status(&id, now);
    match result {
        Err(SimError::RateLimited { retry_after_secs }) => {
            let mut r = json_error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Poll a redirection at most every 5-10 minutes",
            );
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Err(_) => json_error(
            StatusCode::NOT_FOUND,
            "RedirectionNotFound",
            "No such redirection (or it is older than 24 hours)",
        ),
        Ok((r, session)) => {
            let mut body = json::Status {
                redirection_id: r.id.clone(),
                status: "",
                session_id: None,
                session_id_signature: None,
                target: None,
                owner_external_id: r.owner_external_id.clone(),
                multiple_access_token: None,
                error: None,
            };
            body.status = match r.status {
                Status::Initialized => "initialized",
                Status::InProgress => "in_progress",
                Status::Expired => "expired",
                Status::Error { code, message } => {
                    body.error = Some(json::Error { code, message });
                    "error"
                }
                Status::Success { .. } => {
                    if let Some(ses) = session {
                        body.session_id = Some(ses.id);
                        body.session_id_signature = Some(ses.signature);
                        body.target = Some(ses.bank.id.into());
                        body.multiple_access_token = ses.multiple_access_token;
                    }
                    "success"
                }
            };
            Json(body).into_response()
        }
    }
}

// --- XML command API --------------------------------------------------------------------------

fn sim_xml_error(s: &Shared, e: SimError) -> Response {
    use wire::xml::*;
    let (status, name) = match &e {
        SimError::InvalidSession => (StatusCode::NOT_FOUND, EXC_INVALID_SESSION_ID),
        SimError::SessionExpired => (StatusCode::BAD_REQUEST, EXC_SESSION_EXPIRED),
        SimError::AlreadyExecuted => (StatusCode::BAD_REQUEST, EXC_ALREADY_EXECUTED),
        SimError::CommandNotFound | SimError::NotFound => {
            (StatusCode::NOT_FOUND, EXC_INVALID_COMMAND_ID)
        }
        SimError::CommandNotAvailable => (StatusCode::BAD_REQUEST, EXC_COMMAND_NOT_AVAILABLE),
        SimError::OwnerNotFound => (StatusCode::NOT_FOUND, EXC_INVALID_OWNER),
        SimError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, EXC_SERVICE_UNAVAILABLE),
        // The status is not recorded; the name is the contract's (section 6).
        SimError::JobsQuotaExceeded => (StatusCode::BAD_REQUEST, EXC_JOBS_QUOTA),
        SimError::Invalid { code, .. } => (StatusCode::BAD_REQUEST, *code),
    };
    xml_reply(
        status,
        None,
        &s.timestamp(),
        &exception(name, &e.to_string(), None),
    )
}

fn xml_invalid(s: &Shared, name: &str, message: &str) -> Response {
    xml_reply(
        StatusCode::BAD_REQUEST,
        None,
        &s.timestamp(),
        &wire::xml::exception(name, message, None),
    )
}

/// A urlencoded form's fields (each name once).
fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn session_fields(f: &HashMap<String, String>) -> Option<(&str, &str)> {
    let id = f.get(wire::FORM_SESSION_ID).filter(|v| !v.is_empty())?;
    let sig = f
        .get(wire::FORM_SESSION_ID_SIGNATURE)
        .filter(|v| !v.is_empty())?;
    Some((id, sig))
}

async fn default_import(State(s): Shr, headers: HeaderMap, body: Bytes) -> Response {
    s.count(sim::ENDPOINT_IMPORT);
    if !s.authorized(&headers) {
        return unauthorized(&s);
    }
    let f = form(&body);
    let Some((session_id, signature)) = session_fields(&f) else {
        return xml_invalid(
            &s,
            wire::xml::EXC_INVALID_PARAMETER,
            "sessionId and sessionIdSignature are required.",
        );
    };
    let now = s.time.now();
    let since = match f
        .get(wire::FORM_SINCE)
        .map(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d"))
    {
        Some(Ok(d)) if d <= now.date_naive() => d,
        Some(_) => {
            return xml_invalid(
                &s,
                wire::xml::EXC_INVALID_SINCE,
                "since must be a past day, YYYY-MM-DD.",
            )
        }
        // Every known client sends it; the sandbox insists, so that forgetting it shows.
        None => return xml_invalid(&s, wire::xml::EXC_INVALID_SINCE, "since is required."),
    };
    let result = lock(&s.sim).default_import(session_id, signature, since, now);
    match result {
        Ok(id) => {
            let owner = lock(&s.sim)
                .sessions
                .get(session_id)
                .and_then(|x| x.owner_external_id.clone());
            let mut inner =
                wire::xml::command_open(id, "setup", wire::xml::COMMAND_DEFAULT_IMPORT, None);
            inner.push_str(&wire::xml::progress(0));
            inner.push_str("</command>");
            xml_reply(
                StatusCode::ACCEPTED,
                owner.as_deref(),
                &s.timestamp(),
                &inner,
            )
        }
        Err(e) => sim_xml_error(&s, e),
    }
}

async fn command_status(State(s): Shr, headers: HeaderMap, Path(file): Path<String>) -> Response {
    s.count(sim::ENDPOINT_COMMAND);
    if !s.authorized(&headers) {
        return unauthorized(&s);
    }
    let Some(id) = file
        .strip_suffix(wire::COMMAND_SUFFIX)
        .and_then(|n| n.parse::<u64>().ok())
    else {
        return sim_xml_error(&s, SimError::CommandNotFound);
    };
    let now = s.time.now();
    let view = lock(&s.sim).command_status(id, s.seed, now);
    let view = match view {
        Ok(v) => v,
        Err(e) => return sim_xml_error(&s, e),
    };
    match view.data_seed {
        Some(seed) => {
            let shape = *lock(&s.shape);
            let chunks = ResultChunks::new(Rendering {
                envelope: Envelope::Command {
                    id: view.id,
                    owner_external_id: view.owner_external_id.clone(),
                },
                seed,
                bank: view.bank,
                shape,
                as_of: view.as_of.date_naive(),
                since: view.since,
                timestamp: s.timestamp(),
            });
            stream_xml(chunks)
        }
        None => {
            let bank = view.state != "setup";
            let mut inner = wire::xml::command_open(
                view.id,
                view.state,
                wire::xml::COMMAND_DEFAULT_IMPORT,
                bank.then_some((view.bank.id, view.bank.name)),
            );
            inner.push_str(&wire::xml::progress(view.progress));
            if let Some((name, text)) = view.exception {
                inner.push_str(&wire::xml::exception(
                    name,
                    text,
                    Some("Nie udało się pobrać danych z banku. Spróbuj ponownie później."),
                ));
            }
            inner.push_str("</command>");
            xml_reply(
                StatusCode::OK,
                view.owner_external_id.as_deref(),
                &s.timestamp(),
                &inner,
            )
        }
    }
}

fn stream_xml(chunks: ResultChunks) -> Response {
    let stream = futures::stream::iter(chunks.map(Ok::<_, std::convert::Infallible>));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/xml; charset=utf-8")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn sign_out(State(s): Shr, headers: HeaderMap, body: Bytes) -> Response {
    s.count(sim::ENDPOINT_SIGN_OUT);
    if !s.authorized(&headers) {
        return unauthorized(&s);
    }
    let f = form(&body);
    let Some((session_id, signature)) = session_fields(&f) else {
        return xml_invalid(
            &s,
            wire::xml::EXC_INVALID_PARAMETER,
            "sessionId and sessionIdSignature are required.",
        );
    };
    let result = lock(&s.sim).sign_out(session_id, signature);
    match result {
        Ok(()) => {
            let id = lock(&s.sim).next_command_id();
            let mut inner =
                wire::xml::command_open(id, "successful", wire::xml::COMMAND_SIGN_OUT, None);
            inner.push_str(&wire::xml::progress(0));
            inner.push_str("</command>");
            xml_reply(StatusCode::OK, None, &s.timestamp(), &inner)
        }
        Err(e) => sim_xml_error(&s, e),
    }
}

fn owner_param(q: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .find(|(k, _)| k == wire::QUERY_OWNER_EXTERNAL_ID)
        .map(|(_, v)| v.into_owned())
        .filter(|v| wire::rules::owner_id_ok(v))
}

/// The owner an owner-data request is about, once it is counted and authorized.
fn owner_request(
    s: &Shared,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<String, Box<Response>> {
    s.count(sim::ENDPOINT_OWNER_DATA);
    if !s.authorized(headers) {
        return Err(Box::new(unauthorized(s)));
    }
    owner_param(query).ok_or_else(|| {
        Box::new(xml_invalid(
            s,
            wire::xml::EXC_INVALID_OWNER,
            "ownerExternalId is required.",
        ))
    })
}

async fn owner_data(State(s): Shr, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let owner = match owner_request(&s, &headers, q.as_deref()) {
        Ok(o) => o,
        Err(refused) => return *refused,
    };
    let data = lock(&s.sim).owner_data(&owner);
    match data {
        Ok(d) => {
            let shape = *lock(&s.shape);
            let stamp = |t: sim::Time| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            stream_xml(ResultChunks::new(Rendering {
                envelope: Envelope::OwnerData {
                    owner_external_id: owner,
                    created_at: stamp(d.created_at),
                    updated_at: stamp(d.updated_at),
                },
                seed: d.data_seed,
                bank: d.bank,
                shape,
                as_of: d.updated_at.date_naive(),
                since: d.since,
                timestamp: s.timestamp(),
            }))
        }
        Err(e) => sim_xml_error(&s, e),
    }
}

async fn delete_owner_data(State(s): Shr, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let owner = match owner_request(&s, &headers, q.as_deref()) {
        Ok(o) => o,
        Err(refused) => return *refused,
    };
    let result = lock(&s.sim).delete_owner_data(&owner);
    match result {
        Ok(()) => xml_reply(StatusCode::OK, Some(&owner), &s.timestamp(), ""),
        Err(e) => sim_xml_error(&s, e),
    }
}

// --- hosted sign-in page ----------------------------------------------------------------------

fn page(status: StatusCode, markup: maud::Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

fn not_found_page() -> Response {
    page(
        StatusCode::NOT_FOUND,
        pages::message(
            "Link not found",
            "This sign-in link does not exist or is more than a day old.",
            None,
        ),
    )
}

fn acted_page(acted: Acted) -> Response {
    match acted {
        Acted::Done {
            redirect_to: Some(to),
        } => Redirect::to(&to).into_response(),
        Acted::Done { redirect_to: None } => page(
            StatusCode::OK,
            pages::message("Nothing to do", "The sign-in is still open.", None),
        ),
        Acted::LinkExpired { redirect_to } => page(
            StatusCode::GONE,
            pages::message(
                "This link has expired",
                "Sign-in links can be used for one hour. Go back to the service to get a new one.",
                Some(("Back to the service", &redirect_to)),
            ),
        ),
        Acted::AlreadyFinished { redirect_to } => page(
            StatusCode::OK,
            pages::message(
                "This sign-in has already ended",
                "There is nothing more to do here.",
                Some(("Back to the service", &redirect_to)),
            ),
        ),
    }
}

async fn signin_page(State(s): Shr, Path(id): Path<String>) -> Response {
    let now = s.time.now();
    let mut sim = lock(&s.sim);
    match sim.act(&id, UserAction::Open, None, now) {
        Ok(Acted::Done { .. }) => match sim.peek(&id, now) {
            Ok(r) => page(StatusCode::OK, pages::signin(&r)),
            Err(_) => not_found_page(),
        },
        Ok(other) => acted_page(other),
        Err(_) => not_found_page(),
    }
}

#[derive(Debug, Deserialize)]
struct SigninForm {
    bank: Option<String>,
    outcome: Option<String>,
}

async fn signin_submit(State(s): Shr, Path(id): Path<String>, body: Bytes) -> Response {
    let form: SigninForm = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(_) => {
            return page(
                StatusCode::BAD_REQUEST,
                pages::message(
                    "Something is missing",
                    "Choose a bank and an outcome.",
                    None,
                ),
            )
        }
    };
    let action = match form.outcome.as_deref() {
        Some("success") => UserAction::Succeed,
        Some("fail_login") => UserAction::FailLogin,
        Some("cancel") => UserAction::Cancel,
        _ => {
            return page(
                StatusCode::BAD_REQUEST,
                pages::message(
                    "Something is missing",
                    "Choose what happens at the bank.",
                    None,
                ),
            )
        }
    };
    let now = s.time.now();
    let result = lock(&s.sim).act(&id, action, form.bank.as_deref(), now);
    match result {
        Ok(acted) => acted_page(acted),
        Err(_) => not_found_page(),
    }
}

async fn signin_left(State(s): Shr, Path(id): Path<String>) -> Response {
    let now = s.time.now();
    if lock(&s.sim).peek(&id, now).is_err() {
        return not_found_page();
    }
    page(
        StatusCode::OK,
        pages::message(
            "You left the sign-in",
            "Nothing was shared. You can close this window.",
            None,
        ),
    )
}

// --- admin ------------------------------------------------------------------------------------

async fn admin_counters(State(s): Shr) -> Json<Counters> {
    Json(lock(&s.sim).counters.clone())
}

async fn admin_requests(State(s): Shr) -> Json<Vec<RequestSeen>> {
    Json(SandboxHandle { shared: s }.requests())
}

#[derive(Serialize)]
struct ClockView {
    now: chrono::DateTime<chrono::Utc>,
}

async fn admin_clock(State(s): Shr) -> Json<ClockView> {
    Json(ClockView { now: s.time.now() })
}

#[derive(Deserialize)]
struct Advance {
    seconds: i64,
}

async fn admin_advance(State(s): Shr, Json(a): Json<Advance>) -> Response {
    if a.seconds < 0 {
        return json_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "time only moves forward",
        );
    }
    if !s.time.advance(Duration::seconds(a.seconds)) {
        return json_error(
            StatusCode::CONFLICT,
            "SystemClock",
            "this sandbox runs on the system clock; start it with a simulated or scaled clock",
        );
    }
    Json(ClockView { now: s.time.now() }).into_response()
}

async fn admin_faults(State(s): Shr, Json(cfg): Json<FaultConfig>) -> StatusCode {
    SandboxHandle { shared: s }.set_faults(cfg);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShapeBody {
    accounts: u32,
    transactions_per_account: u32,
}

async fn admin_shape(State(s): Shr, Json(b): Json<ShapeBody>) -> Response {
    let shape = DataShape {
        accounts: b.accounts,
        transactions_per_account: b.transactions_per_account,
    };
    match (SandboxHandle { shared: s }).set_shape(shape) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => json_error(StatusCode::BAD_REQUEST, "InvalidRequest", e),
    }
}

async fn admin_redirections(State(s): Shr) -> Json<Vec<RedirectionView>> {
    Json(SandboxHandle { shared: s }.redirections())
}

#[derive(Deserialize)]
struct ActBody {
    action: UserAction,
    bank: Option<String>,
}

async fn admin_act(State(s): Shr, Path(id): Path<String>, Json(b): Json<ActBody>) -> Response {
    match (SandboxHandle { shared: s }).act(&id, b.action, b.bank.as_deref()) {
        Ok(Acted::Done { redirect_to }) => {
            Json(serde_json::json!({"done": true, "redirectTo": redirect_to})).into_response()
        }
        Ok(Acted::LinkExpired { .. }) => {
            json_error(StatusCode::GONE, "Expired", "the link has expired")
        }
        Ok(Acted::AlreadyFinished { .. }) => json_error(
            StatusCode::CONFLICT,
            "AlreadyFinished",
            "the sign-in already ended",
        ),
        Err(_) => json_error(
            StatusCode::NOT_FOUND,
            "RedirectionNotFound",
            "no such redirection",
        ),
    }
}
