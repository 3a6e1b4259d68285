//! The Lambda Runtime API emulator: one per function process, handing out invocations and
//! collecting their answers (`invocation/next`, `…/response`, `…/error`, `init/error`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value as Json;
use tokio::sync::{mpsc, oneshot, Notify};

/// How an invocation ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Response(Json),
    Error { error_type: String, message: String },
}

struct Pending {
    id: String,
    payload: Vec<u8>,
    reply: oneshot::Sender<(Outcome, Duration)>,
}

#[derive(Default)]
struct Timing {
    first_next: Option<Instant>,
    delivered: HashMap<String, Instant>,
}

pub(super) struct ApiState {
    function_arn: String,
    timeout: Duration,
    /// Locked across the wait: one `next` at a time, and a cancelled `next` loses nothing
    /// (`recv` is cancel-safe).
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<(Outcome, Duration)>>>,
    timing: Mutex<Timing>,
    init_error: Mutex<Option<(String, Json)>>,
    pub(super) changed: Notify,
}

/// One function's Lambda Runtime API (each process gets its own, as in Lambda).
pub struct RuntimeApi {
    pub addr: SocketAddr,
    tx: mpsc::UnboundedSender<Pending>,
    pub(super) state: Arc<ApiState>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub(super) fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

async fn next(State(s): State<Arc<ApiState>>) -> Response {
    let mut rx = s.queue.lock().await;
    {
        let mut t = s.timing.lock().unwrap();
        t.first_next.get_or_insert_with(Instant::now);
    }
    s.changed.notify_waiters();
    let pending = rx.recv().await;
    drop(rx);
    let Some(p) = pending else {
        return StatusCode::GONE.into_response();
    };
    s.timing
        .lock()
        .unwrap()
        .delivered
        .insert(p.id.clone(), Instant::now());
    s.in_flight.lock().unwrap().insert(p.id.clone(), p.reply);
    let deadline = now_ms() + s.timeout.as_millis();
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", p.id.parse().unwrap());
    headers.insert(
        "lambda-runtime-deadline-ms",
        deadline.to_string().parse().unwrap(),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        s.function_arn.parse().unwrap(),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        format!(
            "Root=1-{:08x}-{}",
            now_ms() / 1000,
            &p.id.replace('-', "")[..24]
        )
        .parse()
        .unwrap(),
    );
    headers.insert("content-type", "application/json".parse().unwrap());
    (StatusCode::OK, headers, p.payload).into_response()
}

fn finish(s: &ApiState, id: &str, outcome: Outcome) -> StatusCode {
    let started = s.timing.lock().unwrap().delivered.remove(id);
    let Some(reply) = s.in_flight.lock().unwrap().remove(id) else {
        return StatusCode::BAD_REQUEST;
    };
    let took = started.map(|t| t.elapsed()).unwrap_or_default();
    let _ = reply.send((outcome, took));
    StatusCode::ACCEPTED
}

async fn response(
    State(s): State<Arc<ApiState>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    // Lambda refuses a response that is not JSON; the caller sees Runtime.InvalidResponse…
    let outcome = match serde_json::from_slice(&body) {
        Ok(body) => Outcome::Response(body),
        Err(e) => Outcome::Error {
            error_type: "Runtime.InvalidResponsePayload".into(),
            message: format!("the response is not JSON: {e}"),
        },
    };
    finish(&s, &id, outcome)
}

async fn error(
    State(s): State<Arc<ApiState>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    let j: Json = serde_json::from_slice(&body).unwrap_or(Json::Null);
    finish(
        &s,
        &id,
        Outcome::Error {
            error_type: j["errorType"].as_str().unwrap_or("").to_owned(),
            message: j["errorMessage"].as_str().unwrap_or("").to_owned(),
        },
    )
}

async fn init_error(State(s): State<Arc<ApiState>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    // As Lambda: once the runtime asked for an invocation, initialisation is over.
    if s.timing.lock().unwrap().first_next.is_some() {
        return StatusCode::FORBIDDEN;
    }
    let kind = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let j: Json = serde_json::from_slice(&body).unwrap_or(Json::Null);
    *s.init_error.lock().unwrap() = Some((kind, j));
    s.changed.notify_waiters();
    StatusCode::ACCEPTED
}

impl RuntimeApi {
    pub async fn start(function_arn: &str, timeout: Duration) -> RuntimeApi {
        let (tx, rx) = mpsc::unbounded_channel();
        let state = Arc::new(ApiState {
            function_arn: function_arn.to_owned(),
            timeout,
            queue: tokio::sync::Mutex::new(rx),
            in_flight: Mutex::new(HashMap::new()),
            timing: Mutex::new(Timing::default()),
            init_error: Mutex::new(None),
            changed: Notify::new(),
        });
        let app = axum::Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RuntimeApi {
            addr,
            tx,
            state,
            server,
        }
    }

    /// When the process first asked for an invocation.
    pub fn first_next(&self) -> Option<Instant> {
        self.state.timing.lock().unwrap().first_next
    }

    /// What the process reported to `init/error`: the error-type header and the body.
    pub fn init_error(&self) -> Option<(String, Json)> {
        self.state.init_error.lock().unwrap().clone()
    }

    /// Hands `payload` to the function and waits for its answer, at most its timeout.
    pub async fn invoke(&self, payload: &Json) -> Result<(Outcome, Duration), String> {
        let (reply, answer) = oneshot::channel();
        let id = uuid_like();
        self.tx
            .send(Pending {
                id,
                payload: payload.to_string().into_bytes(),
                reply,
            })
            .map_err(|_| "the Runtime API is gone".to_owned())?;
        match tokio::time::timeout(self.state.timeout + Duration::from_secs(5), answer).await {
            Ok(Ok(done)) => Ok(done),
            Ok(Err(_)) => Err("the invocation was dropped".into()),
            Err(_) => Err(format!(
                "no answer within the function's timeout ({:?})",
                self.state.timeout
            )),
        }
    }
}

pub(super) fn uuid_like() -> String {
    use rand::Rng;
    let b: [u8; 16] = rand::thread_rng().gen();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}
