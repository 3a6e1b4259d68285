//! The deploy rehearsal: the real bootstrap binaries, each run as its own process against a
//! Lambda Runtime API emulator, with exactly the environment `template.yaml` gives it and the
//! credentials of a role built from the template's policy statements, on a moto server that
//! enforces IAM.
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

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use kontomatik_sandbox::{start_local, RunningSandbox, SandboxOptions, TimeSource};
use serde_json::{json, Value as Json};
use std::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, Notify};

use crate::template::{physical, DeployedFunction, EventSource, Stack, ACCOUNT, REGION};
use crate::API_KEY;

// ------------------------------------------------------------------ the Runtime API emulator

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

struct ApiState {
    function_arn: String,
    timeout: Duration,
    /// Locked across the wait: one `next` at a time, and a cancelled `next` loses nothing
    /// (`recv` is cancel-safe).
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<(Outcome, Duration)>>>,
    timing: Mutex<Timing>,
    init_error: Mutex<Option<(String, Json)>>,
    changed: Notify,
}

/// One function's Lambda Runtime API (each process gets its own, as in Lambda).
pub struct RuntimeApi {
    pub addr: SocketAddr,
    tx: mpsc::UnboundedSender<Pending>,
    state: Arc<ApiState>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn now_ms() -> u128 {
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

fn uuid_like() -> String {
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

// ------------------------------------------------------------------ moto with IAM enforced

/// A moto server of its own, with IAM authorisation on, and its administrator.
pub struct Moto {
    pub endpoint: String,
    pub admin: SdkConfig,
    child: Child,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Requests moto lets through unchecked: exactly the three that create the administrator.
const UNCHECKED_REQUESTS: &str = "3";

fn sdk(endpoint: &str, credentials: Credentials) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            credentials,
        ))
        .build()
}

impl Moto {
    pub async fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(run_dir().join(format!("moto-{port}.log"))).unwrap();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", UNCHECKED_REQUESTS)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("python3 -m moto.server (pip install 'moto[server]')");
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let endpoint = format!("http://127.0.0.1:{port}");
        let bootstrap = sdk(
            &endpoint,
            Credentials::new("bootstrap", "bootstrap", None, None, "rehearsal"),
        );
        let iam = aws_sdk_iam::Client::new(&bootstrap);
        iam.create_user().user_name("admin").send().await.unwrap();
        iam.put_user_policy()
            .user_name("admin")
            .policy_name("everything")
            .policy_document(
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
                    .to_string(),
            )
            .send()
            .await
            .unwrap();
        let key = iam
            .create_access_key()
            .user_name("admin")
            .send()
            .await
            .unwrap()
            .access_key
            .unwrap();
        let admin = sdk(
            &endpoint,
            Credentials::new(
                key.access_key_id,
                key.secret_access_key,
                None,
                None,
                "rehearsal-admin",
            ),
        );
        Moto {
            endpoint,
            admin,
            child,
        }
    }

    /// Proves enforcement is on: credentials moto does not know are refused.
    pub async fn assert_enforcing(&self) {
        let stranger = sdk(
            &self.endpoint,
            Credentials::new("AKIASTRANGER00000000", "nope", None, None, "stranger"),
        );
        let err = aws_sdk_sqs::Client::new(&stranger)
            .list_queues()
            .send()
            .await
            .expect_err("moto must refuse unknown credentials (IAM enforcement on)");
        let shown = aws_sdk_sqs::error::DisplayErrorContext(err).to_string();
        assert!(
            shown.contains("InvalidClientTokenId") || shown.contains("403"),
            "{shown}"
        );
    }

    /// A role with the template's statements (actions as given, resources widened to `*`),
    /// assumed through STS.
    pub async fn role(&self, name: &str, statements: &[Json]) -> Credentials {
        let iam = aws_sdk_iam::Client::new(&self.admin);
        let trust = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/admin")},
            "Action": "sts:AssumeRole"
        }]});
        iam.create_role()
            .role_name(name)
            .assume_role_policy_document(trust.to_string())
            .send()
            .await
            .unwrap();
        iam.put_role_policy()
            .role_name(name)
            .policy_name("template")
            .policy_document(json!({"Version": "2012-10-17", "Statement": statements}).to_string())
            .send()
            .await
            .unwrap();
        let c = aws_sdk_sts::Client::new(&self.admin)
            .assume_role()
            .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/{name}"))
            .role_session_name(name)
            .send()
            .await
            .unwrap()
            .credentials
            .unwrap();
        Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            None,
            "assumed-role",
        )
    }

    /// The emails moto's SES accepted, parsed.
    pub async fn mails(&self) -> Vec<crate::flow::Mail> {
        signin_aws::testing::recorded_raw_mail_at(&self.endpoint)
            .await
            .into_iter()
            .filter_map(|(_, raw)| crate::flow::Mail::parse(&raw))
            .collect()
    }
}

// ------------------------------------------------------------------ IAM's resource half

/// The half of IAM that moto leaves out for assumed roles: **which resource** a call acts on.
/// One gate per function sits between its process and moto (its `AWS_ENDPOINT_URL`). A request
/// is forwarded unchanged (moto then checks the signature and the action) only when one of the
/// function's template statements, resolved with the real ARNs, allows its action on every
/// resource it names; otherwise the gate answers as AWS does (`AccessDeniedException`, "… is not
/// authorized to perform …") and records the denial. A request whose resource the gate cannot
/// tell is refused too, so an unknown call can never pass unchecked.
pub struct ResourceGate {
    pub endpoint: String,
    allowed: Arc<Mutex<Vec<String>>>,
    denials: Arc<Mutex<Vec<String>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for ResourceGate {
    fn drop(&mut self) {
        self.server.abort();
    }
}

struct GateState {
    principal: String,
    /// The actions forwarded, in order.
    allowed: Arc<Mutex<Vec<String>>>,
    statements: Vec<crate::template::Statement>,
    upstream: String,
    http: reqwest::Client,
    denials: Arc<Mutex<Vec<String>>>,
}

/// IAM's wildcard match (`*` any run, `?` one character). Actions match ignoring case,
/// resources (ARNs) exactly.
pub fn iam_matches(pattern: &str, value: &str, ignore_case: bool) -> bool {
    fn go(p: &[u8], v: &[u8], ignore_case: bool) -> bool {
        match (p.first(), v.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                go(&p[1..], v, ignore_case) || (!v.is_empty() && go(p, &v[1..], ignore_case))
            }
            (Some(b'?'), Some(_)) => go(&p[1..], &v[1..], ignore_case),
            (Some(a), Some(b)) if a == b || (ignore_case && a.eq_ignore_ascii_case(b)) => {
                go(&p[1..], &v[1..], ignore_case)
            }
            _ => false,
        }
    }
    go(pattern.as_bytes(), value.as_bytes(), ignore_case)
}

/// A request's action and the resources it acts on: each inner list is one resource named in
/// the request, given as the ARNs any of which IAM accepts for it (SES: the address or its
/// domain identity).
pub type Access = (String, Vec<Vec<String>>);

/// What `method path` with `headers` and `body` asks of AWS, for the services the functions
/// call; `Err` says why the gate cannot tell.
pub fn access_of(
    method: &str,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Access, String> {
    let arn = |service: &str, rest: &str| format!("arn:aws:{service}:{REGION}:{ACCOUNT}:{rest}");
    let json: Json = serde_json::from_slice(body).unwrap_or(Json::Null);
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let (prefix, operation) = target
            .split_once('.')
            .ok_or_else(|| format!("X-Amz-Target {target}"))?;
        let service = match prefix {
            "DynamoDB_20120810" => "dynamodb",
            "AmazonSQS" => "sqs",
            "AmazonSSM" => "ssm",
            "AWSEvents" => "events",
            other => return Err(format!("a service the gate does not know: {other}")),
        };
        let action = format!("{service}:{operation}");
        let table = |name: &str| arn("dynamodb", &format!("table/{name}"));
        let mut resources = vec![];
        match service {
            "dynamodb" => {
                if let Some(t) = json["TableName"].as_str() {
                    resources.push(vec![match json["IndexName"].as_str() {
                        Some(i) => format!("{}/index/{i}", table(t)),
                        None => table(t),
                    }]);
                }
                for t in json["RequestItems"]
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.keys())
                {
                    resources.push(vec![table(t)]);
                }
            }
            "sqs" => {
                if let Some(url) = json["QueueUrl"].as_str() {
                    let name = url.rsplit('/').next().unwrap_or_default();
                    resources.push(vec![arn("sqs", name)]);
                }
            }
            // Each entry names its bus (absent: the account's default bus).
            "events" => {
                for entry in json["Entries"].as_array().into_iter().flatten() {
                    let bus = entry["EventBusName"].as_str().unwrap_or("default");
                    resources.push(vec![if bus.starts_with("arn:") {
                        bus.to_owned()
                    } else {
                        arn("events", &format!("event-bus/{bus}"))
                    }]);
                }
            }
            _ => {
                let names = json["Name"].as_str().into_iter().chain(
                    json["Names"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Json::as_str),
                );
                for name in names {
                    let sep = if name.starts_with('/') { "" } else { "/" };
                    resources.push(vec![arn("ssm", &format!("parameter{sep}{name}"))]);
                }
            }
        }
        if resources.is_empty() {
            return Err(format!("{action}: no resource the gate can read"));
        }
        return Ok((action, resources));
    }
    if method == "POST" && path == "/v2/email/outbound-emails" {
        let from = json["FromEmailAddress"]
            .as_str()
            .ok_or("ses:SendEmail without FromEmailAddress")?;
        let address = from
            .rsplit_once('<')
            .map(|(_, a)| a.trim_end_matches('>'))
            .unwrap_or(from)
            .trim();
        let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        let mut resources = vec![vec![
            arn("ses", &format!("identity/{address}")),
            arn("ses", &format!("identity/{domain}")),
        ]];
        if let Some(set) = json["ConfigurationSetName"].as_str() {
            resources.push(vec![arn("ses", &format!("configuration-set/{set}"))]);
        }
        return Ok(("ses:SendEmail".into(), resources));
    }
    Err(format!("{method} {path}: a call the gate does not know"))
}

impl GateState {
    fn allows(&self, action: &str, resource: &str) -> bool {
        self.statements.iter().any(|s| {
            s.actions.iter().any(|a| iam_matches(a, action, true))
                && s.resources.iter().any(|r| iam_matches(r, resource, false))
        })
    }

    /// `None` when allowed, else why not.
    fn check(&self, method: &str, path: &str, headers: &HeaderMap, body: &[u8]) -> Option<String> {
        match access_of(method, path, headers, body) {
            Err(why) => Some(why),
            Ok((action, resources)) => resources
                .iter()
                .find(|any_of| !any_of.iter().any(|r| self.allows(&action, r)))
                .map(|any_of| {
                    format!(
                        "User: {} is not authorized to perform: {action} on resource: {} \
                         because no identity-based policy allows the {action} action",
                        self.principal, any_of[0]
                    )
                }),
        }
    }
}

async fn gate(
    State(s): State<Arc<GateState>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let access = access_of(method.as_str(), uri.path(), &headers, &body);
    if let Some(denied) = s.check(method.as_str(), uri.path(), &headers, &body) {
        s.denials.lock().unwrap().push(denied.clone());
        let json_protocol = headers.contains_key("x-amz-target");
        let status = if json_protocol {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::FORBIDDEN
        };
        let body = if json_protocol {
            json!({"__type": "com.amazon.coral.service#AccessDeniedException", "message": denied})
        } else {
            json!({"message": denied})
        };
        return (
            status,
            [
                ("x-amzn-errortype", "AccessDeniedException"),
                ("content-type", "application/x-amz-json-1.0"),
            ],
            body.to_string(),
        )
            .into_response();
    }
    if let Ok((action, _)) = access {
        s.allowed.lock().unwrap().push(action);
    }
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    // Forwarded with the headers as signed (Host included), so moto's signature check holds.
    let forwarded = s
        .http
        .request(method, format!("{}{path_and_query}", s.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await;
    match forwarded {
        Ok(r) => {
            let status = r.status();
            let headers = r.headers().clone();
            let body = r.bytes().await.unwrap_or_default();
            let mut out = (status, body).into_response();
            for (k, v) in &headers {
                if k != "content-length" && k != "transfer-encoding" {
                    out.headers_mut().insert(k, v.clone());
                }
            }
            out
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

impl ResourceGate {
    pub async fn start(
        upstream: &str,
        principal: &str,
        statements: Vec<crate::template::Statement>,
    ) -> ResourceGate {
        let denials = Arc::new(Mutex::new(vec![]));
        let allowed = Arc::new(Mutex::new(vec![]));
        let state = Arc::new(GateState {
            principal: principal.to_owned(),
            allowed: allowed.clone(),
            statements,
            upstream: upstream.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            denials: denials.clone(),
        });
        let app = axum::Router::new().fallback(gate).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ResourceGate {
            endpoint,
            allowed,
            denials,
            server,
        }
    }

    /// The actions of every request forwarded so far.
    pub fn allowed(&self) -> Vec<String> {
        self.allowed.lock().unwrap().clone()
    }

    /// Every request refused so far, with why.
    pub fn denials(&self) -> Vec<String> {
        self.denials.lock().unwrap().clone()
    }
}

// ------------------------------------------------------------------ the binaries

/// Where the rehearsal keeps its logs.
pub fn run_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/rehearsal");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Builds the functions' binaries as they ship (their own packages and `main`s; the dev
/// profile, or `release`) and returns each one's path by name. A no-op when `test-all.sh` built
/// them already.
pub fn binaries(names: &[String], release: bool) -> BTreeMap<String, PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .args([
            "build",
            "--message-format=json-render-diagnostics",
            "--bins",
        ]);
    if release {
        cmd.arg("--release");
    }
    // Not the variables cargo set for this test (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, …): build
    // scripts that watch them (ring's does) would see a change and rebuild everything.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CARGO_") && !matches!(key.as_str(), "CARGO_HOME" | "CARGO_TARGET_DIR") {
            cmd.env_remove(key);
        }
    }
    for n in names {
        cmd.args(["-p", n]);
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo build of the functions");
    assert!(out.status.success(), "the functions must build");
    let mut found = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<Json>(line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact" && msg["target"]["kind"][0] == "bin" {
            if let Some(exe) = msg["executable"].as_str() {
                found.insert(
                    msg["target"]["name"].as_str().unwrap_or("").to_owned(),
                    PathBuf::from(exe),
                );
            }
        }
    }
    for n in names {
        assert!(found.contains_key(n), "no binary {n}");
    }
    found
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// One function running as its own process.
pub struct FunctionProcess {
    pub deployed: DeployedFunction,
    pub api: RuntimeApi,
    pub log: PathBuf,
    pub spawned: Instant,
    child: Mutex<Child>,
    /// Each invocation's duration (event handed out → answer), in order.
    pub invocations: Mutex<Vec<Duration>>,
}

impl FunctionProcess {
    /// Starts `exe` with `environment` (nothing inherited) against a fresh Runtime API.
    pub async fn spawn(
        exe: &Path,
        deployed: &DeployedFunction,
        environment: &BTreeMap<String, String>,
        tag: &str,
    ) -> FunctionProcess {
        let name = format!("rehearsal-{}", deployed.binary);
        let arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}");
        let api = RuntimeApi::start(&arn, Duration::from_secs(deployed.timeout_seconds)).await;
        let log = run_dir().join(format!("{}-{tag}.log", deployed.binary));
        let file = std::fs::File::create(&log).unwrap();
        let spawned = Instant::now();
        let child = Command::new(exe)
            .env_clear()
            .envs(environment)
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                deployed.memory_mb.to_string(),
            )
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/11/26/[$LATEST]rehearsal",
            )
            .env("_HANDLER", "bootstrap")
            .env("TZ", ":UTC")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("the function's binary");
        FunctionProcess {
            deployed: deployed.clone(),
            api,
            log,
            spawned,
            child: Mutex::new(child),
            invocations: Mutex::new(vec![]),
        }
    }

    /// Waits until the process asks for its first invocation (Ok: the cold start) or reports
    /// an init error / exits (Err: what it reported).
    pub async fn ready(&mut self) -> Result<Duration, String> {
        let started = Instant::now();
        loop {
            if let Some(first) = self.api.first_next() {
                return Ok(first - self.spawned);
            }
            if let Some((kind, body)) = self.api.init_error() {
                return Err(format!("{kind}: {body}"));
            }
            if let Some(status) = self.exited() {
                // It may have reported just before exiting.
                if let Some((kind, body)) = self.api.init_error() {
                    return Err(format!("{kind}: {body}"));
                }
                return Err(format!("exited with {status} without init/error"));
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{} did not start: {}",
                self.deployed.binary,
                self.logs()
            );
            tokio::select! {
                _ = self.api.state.changed.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    }

    /// Waits for the process to exit (after a failed start-up).
    pub async fn exit_status(&mut self) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the process exits"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The exit status, once the process has ended.
    pub fn exited(&self) -> Option<std::process::ExitStatus> {
        self.child.lock().unwrap().try_wait().ok().flatten()
    }

    /// Hands `payload` to the function and waits for its answer; a process that dies meanwhile
    /// fails the invocation at once (as Lambda reports `Runtime.ExitError`).
    pub async fn invoke(&self, payload: &Json) -> Outcome {
        let died = async {
            loop {
                if let Some(status) = self.exited() {
                    return status;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        let answer = tokio::select! {
            answer = self.api.invoke(payload) => answer,
            status = died => Err(format!("Runtime.ExitError: the process exited ({status})")),
        };
        let (outcome, took) =
            answer.unwrap_or_else(|e| panic!("{}: {e}\n{}", self.deployed.binary, self.logs()));
        self.invocations.lock().unwrap().push(took);
        outcome
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

// ------------------------------------------------------------------ the rehearsal stack

pub const PUBLIC_BASE: &str = "https://signin.rehearsal.example";
pub const SENDER: &str = "no-reply@lender.example";
pub const STATS_TOKEN: &str = "rehearsal-stats-token-0123456789";
pub const LINK_SIGNING_KEY: &str = "rehearsal-link-signing-key-0123456789abcdef";

/// What a rehearsal changes from the template as shipped.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Set `StatsTokenParameter` (docs/deploy.md suggests it).
    pub stats_token: bool,
    /// (function, action) pairs left out of that function's role.
    pub withheld_actions: Vec<(String, String)>,
    /// (function, resource) pairs: ARNs containing `resource` left out of that function's
    /// statements at its resource gate (moto's role keeps them).
    pub withheld_resources: Vec<(String, String)>,
    /// The import queue's visibility timeout, in place of the template's (redelivery tests).
    pub visibility_timeout: Option<u64>,
    /// Set `EventBusName` to a bus on moto whose one rule delivers to a queue that
    /// [`Rehearsal::events`] reads (a subscriber's view).
    pub events: bool,
    /// Run the release builds of the functions (the cold-start benchmark).
    pub release: bool,
    /// Template parameters set on top of the rehearsal's own (e.g. `ImportCommandWait`).
    pub parameters: Vec<(String, String)>,
    /// Status polls a sandbox import command takes to finish (default 1: at once).
    pub import_polls: Option<u32>,
    /// Put a key the sandbox refuses (401) into the Kontomatik key's SSM parameter.
    pub wrong_api_key: bool,
    /// Commands the sandbox runs at once; Default Import beyond it is refused with
    /// `JobsQuotaExceeded` (`Some(0)`: every import is refused).
    pub jobs_quota: Option<u32>,
}

/// The whole stack, with every function running.
pub struct Rehearsal {
    pub moto: Moto,
    pub sandbox: RunningSandbox,
    pub stack: Stack,
    pub functions: BTreeMap<String, FunctionProcess>,
    pub binaries: BTreeMap<String, PathBuf>,
    /// Each function's full process environment (template + Lambda's own + credentials).
    pub environments: BTreeMap<String, BTreeMap<String, String>>,
    pub credentials: BTreeMap<String, Credentials>,
    /// Each function's resource gate (its `AWS_ENDPOINT_URL`).
    pub gates: BTreeMap<String, ResourceGate>,
    pub table: String,
    pub queue_url: String,
    pub dead_letter_url: String,
    /// The subscriber's queue of the event bus (with [`Options::events`]).
    event_capture_url: Option<String>,
}

fn unique(prefix: &str) -> String {
    signin_core::contract::unique(prefix)
}

impl Rehearsal {
    pub async fn start(options: Options) -> Rehearsal {
        let moto = Moto::start().await;
        let stack_name = unique("rehearsal").to_lowercase();
        let sandbox = start_local(SandboxOptions {
            api_key: API_KEY.into(),
            admin: true,
            time: TimeSource::System,
            sim: kontomatik_sandbox::sim::SimConfig {
                import_polls: options.import_polls.unwrap_or(1),
                jobs_quota: options.jobs_quota,
                ..Default::default()
            },
            ..SandboxOptions::default()
        })
        .await
        .unwrap();

        // The resources the template creates, on moto, as the administrator.
        let admin = &moto.admin;
        let dynamo = aws_sdk_dynamodb::Client::new(admin);
        let table = format!("{stack_name}-Table");
        signin_aws::schema::create_table(&dynamo, &table)
            .await
            .unwrap();
        let sqs = aws_sdk_sqs::Client::new(admin);
        let dead_letter_url = sqs
            .create_queue()
            .queue_name(format!("{stack_name}-ImportDeadLetterQueue"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let queue_url = sqs
            .create_queue()
            .queue_name(format!("{stack_name}-ImportQueue"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let parameter = |secret: &str| format!("/{stack_name}/{secret}");
        let mut overrides: Vec<(&str, String)> = vec![
            ("Stage", "rehearsal".into()),
            ("PublicBaseUrl", PUBLIC_BASE.into()),
            ("SenderEmail", SENDER.into()),
            (
                "KontomatikBaseUrl",
                sandbox.base_url.as_str().trim_end_matches('/').into(),
            ),
            ("KontomatikApiKeyParameter", parameter("kontomatik-api-key")),
            ("LinkSigningKeyParameter", parameter("link-signing-key")),
            ("FollowUpDelayMinutes", "0".into()),
        ];
        if options.stats_token {
            overrides.push(("StatsTokenParameter", parameter("stats-token")));
        }
        let mut event_capture_url = None;
        if options.events {
            let (bus, capture) = crate::flow::capture_events(admin, &sqs).await;
            overrides.push(("EventBusName", bus));
            event_capture_url = Some(capture);
        }
        for (k, v) in &options.parameters {
            match overrides.iter_mut().find(|(name, _)| name == k) {
                Some(given) => given.1 = v.clone(),
                None => overrides.push((k.as_str(), v.clone())),
            }
        }
        let pairs: Vec<(&str, &str)> = overrides.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let stack = Stack::new(
            &stack_name,
            &pairs,
            &["KontomatikBaseUrl"],
            physical(&stack_name, &table, &queue_url, &dead_letter_url),
        )
        .unwrap();

        // The queues' own settings, from the template.
        let set_attributes = |url: &str, props: &Json, visibility: Option<u64>| {
            let mut attrs = HashMap::new();
            use aws_sdk_sqs::types::QueueAttributeName as A;
            if let Some(v) = visibility.or(props["VisibilityTimeout"].as_u64()) {
                attrs.insert(A::VisibilityTimeout, v.to_string());
            }
            if let Some(v) = props["MessageRetentionPeriod"].as_u64() {
                attrs.insert(A::MessageRetentionPeriod, v.to_string());
            }
            if props["RedrivePolicy"].is_object() {
                attrs.insert(A::RedrivePolicy, props["RedrivePolicy"].to_string());
            }
            let url = url.to_owned();
            let sqs = sqs.clone();
            async move {
                sqs.set_queue_attributes()
                    .queue_url(url)
                    .set_attributes(Some(attrs))
                    .send()
                    .await
                    .unwrap();
            }
        };
        set_attributes(
            &dead_letter_url,
            &stack.properties("ImportDeadLetterQueue"),
            None,
        )
        .await;
        set_attributes(
            &queue_url,
            &stack.properties("ImportQueue"),
            options.visibility_timeout,
        )
        .await;
        let ses = aws_sdk_sesv2::Client::new(admin);
        ses.create_email_identity()
            .email_identity(SENDER)
            .send()
            .await
            .unwrap();
        let set = stack.properties("MailConfigurationSet");
        let _ = ses
            .create_configuration_set()
            .configuration_set_name(set["Name"].as_str().unwrap_or_default())
            .send()
            .await;
        // Secrets as SecureString parameters under the names the template passes on.
        let ssm = aws_sdk_ssm::Client::new(admin);
        let mut secrets = vec![
            (
                "KontomatikApiKeyParameter",
                if options.wrong_api_key {
                    "revoked-api-key-0000"
                } else {
                    API_KEY
                },
            ),
            ("LinkSigningKeyParameter", LINK_SIGNING_KEY),
        ];
        if options.stats_token {
            secrets.push(("StatsTokenParameter", STATS_TOKEN));
        }
        for (param, value) in secrets {
            ssm.put_parameter()
                .name(&stack.parameters[param])
                .value(value)
                .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
                .send()
                .await
                .unwrap();
        }
        // Without a domain or a URL, the stack publishes its API's URL for the functions.
        if stack.creates("ApiUrlParameter") {
            let p = stack.properties("ApiUrlParameter");
            ssm.put_parameter()
                .name(p["Name"].as_str().unwrap())
                .value(p["Value"].as_str().unwrap())
                .r#type(aws_sdk_ssm::types::ParameterType::String)
                .send()
                .await
                .unwrap();
        }
        moto.assert_enforcing().await;

        // One role per function, from its statements.
        let deployed = stack.functions();
        let mut credentials = BTreeMap::new();
        for d in &deployed {
            let statements: Vec<Json> = d
                .statements
                .iter()
                .map(|s| {
                    let actions: Vec<&String> = s
                        .actions
                        .iter()
                        .filter(|a| {
                            !options
                                .withheld_actions
                                .iter()
                                .any(|(f, w)| f == &d.binary && w == *a)
                        })
                        .collect();
                    json!({"Sid": s.sid, "Effect": "Allow", "Action": actions, "Resource": "*"})
                })
                .filter(|s| !s["Action"].as_array().is_some_and(Vec::is_empty))
                .collect();
            let role = moto
                .role(&format!("{stack_name}-{}", d.binary), &statements)
                .await;
            credentials.insert(d.binary.clone(), role);
        }

        let names: Vec<String> = deployed.iter().map(|d| d.binary.clone()).collect();
        let binaries = binaries(&names, options.release);
        let mut environments = BTreeMap::new();
        let mut functions = BTreeMap::new();
        let mut gates = BTreeMap::new();
        for d in &deployed {
            let c = &credentials[&d.binary];
            let statements = d
                .statements
                .iter()
                .map(|s| crate::template::Statement {
                    resources: s
                        .resources
                        .iter()
                        .filter(|r| {
                            !options
                                .withheld_resources
                                .iter()
                                .any(|(f, w)| f == &d.binary && r.contains(w.as_str()))
                        })
                        .cloned()
                        .collect(),
                    ..s.clone()
                })
                .collect();
            let role = format!("{stack_name}-{}", d.binary);
            let gate = ResourceGate::start(
                &moto.endpoint,
                &format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{role}"),
                statements,
            )
            .await;
            let mut env = d.environment.clone();
            env.insert("AWS_REGION".into(), REGION.into());
            env.insert("AWS_DEFAULT_REGION".into(), REGION.into());
            env.insert("AWS_ACCESS_KEY_ID".into(), c.access_key_id().into());
            env.insert("AWS_SECRET_ACCESS_KEY".into(), c.secret_access_key().into());
            env.insert(
                "AWS_SESSION_TOKEN".into(),
                c.session_token().unwrap_or_default().into(),
            );
            env.insert("AWS_ENDPOINT_URL".into(), gate.endpoint.clone());
            gates.insert(d.binary.clone(), gate);
            let process = FunctionProcess::spawn(&binaries[&d.binary], d, &env, &stack_name).await;
            environments.insert(d.binary.clone(), env);
            functions.insert(d.binary.clone(), process);
        }
        Rehearsal {
            moto,
            sandbox,
            stack,
            functions,
            binaries,
            environments,
            credentials,
            gates,
            table,
            queue_url,
            dead_letter_url,
            event_capture_url,
        }
    }

    /// What a subscriber of the bus has received so far: (detail-type, detail), in order.
    pub async fn events(&self) -> Vec<(String, Json)> {
        let url = self
            .event_capture_url
            .as_ref()
            .expect("a rehearsal with Options::events");
        let sqs = aws_sdk_sqs::Client::new(&self.moto.admin);
        let mut out = vec![];
        loop {
            let got = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .visibility_timeout(600)
                .send()
                .await
                .unwrap()
                .messages
                .unwrap_or_default();
            if got.is_empty() {
                return out;
            }
            for m in got {
                let body: Json = serde_json::from_str(m.body().unwrap_or_default()).unwrap();
                out.push((
                    body["detail-type"].as_str().unwrap_or_default().to_owned(),
                    body["detail"].clone(),
                ));
            }
        }
    }

    pub fn function(&self, name: &str) -> &FunctionProcess {
        self.functions
            .get(name)
            .unwrap_or_else(|| panic!("no function {name}"))
    }

    /// The function API Gateway sends `method path` to, by the template's HttpApi events.
    pub fn route(&self, method: &str, path: &str) -> Option<&FunctionProcess> {
        self.functions.values().find(|f| {
            f.deployed.events.iter().any(|e| {
                matches!(e, EventSource::HttpApi { method: m, path: p } if m == method && p == path)
            })
        })
    }

    /// One HTTP request through API Gateway to the function its route names.
    pub async fn http(&self, request: HttpRequest<'_>) -> HttpAnswer {
        let f = self
            .route(request.method, request.path)
            .unwrap_or_else(|| panic!("no route {} {}", request.method, request.path));
        self.http_to(f, request).await
    }

    /// One HTTP request delivered to `f` whatever its route.
    pub async fn http_to(&self, f: &FunctionProcess, request: HttpRequest<'_>) -> HttpAnswer {
        match f.invoke(&request.event()).await {
            Outcome::Response(r) => HttpAnswer::from_lambda(&r),
            Outcome::Error {
                error_type,
                message,
            } => panic!(
                "{} failed: {error_type}: {message}\n{}",
                f.deployed.binary,
                f.logs()
            ),
        }
    }

    /// One scheduled poller run, as EventBridge invokes it.
    pub async fn run_poller(&self) -> Json {
        let f = self.function("status-poller");
        let event = json!({
            "version": "0",
            "id": uuid_like(),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT,
            "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "region": REGION,
            "resources": [format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/{}-EveryMinute", self.stack.stack_name)],
            "detail": {}
        });
        match f.invoke(&event).await {
            Outcome::Response(r) => r,
            Outcome::Error {
                error_type,
                message,
            } => panic!("poller failed: {error_type}: {message}\n{}", f.logs()),
        }
    }

    /// What the SQS event source mapping does once: receive up to the batch size with the
    /// worker's role, invoke the worker, delete what it did not report failed (nothing if the
    /// invocation failed). Failed messages stay for redelivery after the visibility timeout.
    /// `wait_seconds` is the receive's long poll.
    pub async fn deliver_imports(&self, wait_seconds: i32) -> Delivery {
        let worker = self.function("import-worker");
        let Some(EventSource::Sqs {
            queue_arn,
            batch_size,
            report_batch_item_failures,
            ..
        }) = worker
            .deployed
            .events
            .iter()
            .find(|e| matches!(e, EventSource::Sqs { .. }))
            .cloned()
        else {
            panic!("the worker has no SQS event source");
        };
        let role = sdk(
            &self.moto.endpoint,
            self.credentials["import-worker"].clone(),
        );
        let sqs = aws_sdk_sqs::Client::new(&role);
        let out = sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(batch_size.min(10) as i32)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .wait_time_seconds(wait_seconds)
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return Delivery::default();
        }
        let records: Vec<Json> = messages
            .iter()
            .map(|m| {
                let attrs: serde_json::Map<String, Json> = m
                    .attributes
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k.as_str().to_owned(), Json::String(v)))
                    .collect();
                // As the event source mapping renders them: camelCase, list fields present.
                let message_attributes: serde_json::Map<String, Json> = m
                    .message_attributes
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            k,
                            json!({
                                "stringValue": v.string_value,
                                "stringListValues": [],
                                "binaryListValues": [],
                                "dataType": v.data_type
                            }),
                        )
                    })
                    .collect();
                json!({
                    "messageId": m.message_id,
                    "receiptHandle": m.receipt_handle,
                    "body": m.body,
                    "attributes": attrs,
                    "messageAttributes": message_attributes,
                    "md5OfBody": m.md5_of_body,
                    "eventSource": "aws:sqs",
                    "eventSourceARN": queue_arn,
                    "awsRegion": REGION
                })
            })
            .collect();
        let receive_counts = messages
            .iter()
            .map(|m| {
                m.attributes
                    .as_ref()
                    .and_then(|a| {
                        a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
                    })
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            })
            .collect();
        let outcome = worker.invoke(&json!({ "Records": records })).await;
        let ids: Vec<String> = messages
            .iter()
            .filter_map(|m| m.message_id.clone())
            .collect();
        // Lambda's rules for a partial batch response: a failed invocation, or a response
        // naming an item with an empty, null or unknown itemIdentifier, fails the whole batch;
        // a response without batchItemFailures (or an empty list) is a full success.
        let failed: Vec<String> = match &outcome {
            Outcome::Response(r) if report_batch_item_failures => {
                match r.get("batchItemFailures").and_then(Json::as_array) {
                    None => vec![],
                    Some(items) => {
                        let named: Option<Vec<String>> = items
                            .iter()
                            .map(|f| {
                                f["itemIdentifier"]
                                    .as_str()
                                    .filter(|id| ids.iter().any(|known| known == id))
                                    .map(str::to_owned)
                            })
                            .collect();
                        named.unwrap_or_else(|| ids.clone())
                    }
                }
            }
            Outcome::Response(_) => vec![],
            Outcome::Error { .. } => ids.clone(),
        };
        for m in &messages {
            if m.message_id.as_ref().is_some_and(|id| failed.contains(id)) {
                continue;
            }
            sqs.delete_message()
                .queue_url(&self.queue_url)
                .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                .send()
                .await
                .unwrap();
        }
        Delivery {
            received: messages.len(),
            messages: messages
                .iter()
                .map(|m| {
                    (
                        m.message_id.clone().unwrap_or_default(),
                        m.body.clone().unwrap_or_default(),
                    )
                })
                .collect(),
            failed,
            receive_counts,
            outcome: Some(outcome),
        }
    }

    /// Messages in a queue (visible, in flight or delayed), read as the administrator.
    pub async fn depth(&self, queue_url: &str) -> usize {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let attrs = aws_sdk_sqs::Client::new(&self.moto.admin)
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(A::All)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap_or_default();
        [
            A::ApproximateNumberOfMessages,
            A::ApproximateNumberOfMessagesNotVisible,
            A::ApproximateNumberOfMessagesDelayed,
        ]
        .iter()
        .map(|k| {
            attrs
                .get(k)
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0)
        })
        .sum()
    }

    /// The store, as the administrator sees it (for the operator's steps of a test).
    pub fn store(&self) -> signin_aws::DynamoStore {
        signin_aws::DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&self.moto.admin),
            &self.table,
            Arc::new(signin_core::SystemClock),
        )
    }

    /// Every call a resource gate refused so far, as "function: why".
    pub fn denials(&self) -> Vec<String> {
        self.gates
            .iter()
            .flat_map(|(f, g)| g.denials().into_iter().map(move |d| format!("{f}: {d}")))
            .collect()
    }

    /// Every function's log so far.
    pub fn all_logs(&self) -> String {
        self.functions
            .values()
            .map(|f| format!("=== {}\n{}", f.deployed.binary, f.logs()))
            .collect()
    }

    /// Cold start and invocation times per function, as a table.
    pub fn timings(&self) -> String {
        let mut out =
            String::from("function                cold start   invocations  median      max\n");
        for (name, f) in &self.functions {
            let cold = f
                .api
                .first_next()
                .map(|t| format!("{:>8.1} ms", (t - f.spawned).as_secs_f64() * 1000.0))
                .unwrap_or_else(|| "       -   ".into());
            let mut times = f.invocations.lock().unwrap().clone();
            times.sort();
            let median = times
                .get(times.len() / 2)
                .map(|d| format!("{:>8.1} ms", d.as_secs_f64() * 1000.0))
                .unwrap_or_else(|| "       -   ".into());
            let max = times
                .last()
                .map(|d| format!("{:>8.1} ms", d.as_secs_f64() * 1000.0))
                .unwrap_or_else(|| "       -   ".into());
            out.push_str(&format!(
                "{name:<22} {cold}  {:>11}  {median}  {max}\n",
                times.len()
            ));
        }
        out
    }
}

/// What one event source mapping poll did.
#[derive(Debug, Default)]
pub struct Delivery {
    pub received: usize,
    /// Each message received: its id and body, in the batch's order.
    pub messages: Vec<(String, String)>,
    pub failed: Vec<String>,
    /// `ApproximateReceiveCount` of each message received.
    pub receive_counts: Vec<u32>,
    pub outcome: Option<Outcome>,
}

/// An HTTP request as a browser sends it.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The raw query string (may repeat keys).
    pub query: &'a str,
    pub form: Option<&'a str>,
    /// Send the body base64-encoded, as API Gateway does for some content types.
    pub base64: bool,
    pub cookies: &'a [&'a str],
    pub headers: &'a [(&'a str, &'a str)],
}

impl HttpRequest<'_> {
    /// The API Gateway HTTP API (payload 2.0) event.
    pub fn event(&self) -> Json {
        let mut params = serde_json::Map::new();
        for (k, v) in url::form_urlencoded::parse(self.query.as_bytes()) {
            // Repeated keys: API Gateway joins the values with commas.
            match params.get_mut(k.as_ref()) {
                Some(Json::String(s)) => {
                    s.push(',');
                    s.push_str(&v);
                }
                _ => {
                    params.insert(k.into_owned(), Json::String(v.into_owned()));
                }
            }
        }
        let mut headers = serde_json::Map::new();
        headers.insert("host".into(), "signin.rehearsal.example".into());
        headers.insert("user-agent".into(), "Mozilla/5.0 (rehearsal)".into());
        headers.insert("x-forwarded-proto".into(), "https".into());
        for (k, v) in self.headers {
            headers.insert(k.to_ascii_lowercase(), Json::String((*v).into()));
        }
        let mut event = json!({
            "version": "2.0",
            "routeKey": format!("{} {}", self.method, self.path),
            "rawPath": self.path,
            "rawQueryString": self.query,
            "headers": headers,
            "requestContext": {
                "accountId": ACCOUNT,
                "apiId": "rehearsal1",
                "domainName": "signin.rehearsal.example",
                "domainPrefix": "signin",
                "http": {
                    "method": self.method,
                    "path": self.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "203.0.113.9",
                    "userAgent": "Mozilla/5.0 (rehearsal)"
                },
                "requestId": uuid_like(),
                "routeKey": format!("{} {}", self.method, self.path),
                "stage": "$default",
                "time": chrono::Utc::now().format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
                "timeEpoch": now_ms() as u64
            },
            "isBase64Encoded": false
        });
        if !params.is_empty() {
            event["queryStringParameters"] = Json::Object(params);
        }
        if !self.cookies.is_empty() {
            event["cookies"] = json!(self.cookies);
        }
        if let Some(form) = self.form {
            event["headers"]["content-type"] = "application/x-www-form-urlencoded".into();
            if self.base64 {
                event["body"] = base64::engine::general_purpose::STANDARD
                    .encode(form.as_bytes())
                    .into();
                event["isBase64Encoded"] = true.into();
            } else {
                event["body"] = form.into();
            }
        }
        event
    }
}

/// The function's answer, as API Gateway would send it on.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl HttpAnswer {
    fn from_lambda(r: &Json) -> HttpAnswer {
        let mut headers = BTreeMap::new();
        for (k, v) in r["headers"].as_object().into_iter().flatten() {
            headers.insert(k.to_ascii_lowercase(), v.as_str().unwrap_or("").to_owned());
        }
        for (k, v) in r["multiValueHeaders"].as_object().into_iter().flatten() {
            if let Some(first) = v.as_array().and_then(|a| a.first()).and_then(Json::as_str) {
                headers
                    .entry(k.to_ascii_lowercase())
                    .or_insert_with(|| first.to_owned());
            }
        }
        // Payload 2.0 answers carry their cookies apart from the headers.
        if let Some(first) = r["cookies"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(Json::as_str)
        {
            headers.insert("set-cookie".into(), first.to_owned());
        }
        let raw = r["body"].as_str().unwrap_or("");
        let body = if r["isBase64Encoded"].as_bool() == Some(true) {
            String::from_utf8_lossy(
                &base64::engine::general_purpose::STANDARD
                    .decode(raw)
                    .unwrap_or_default(),
            )
            .into_owned()
        } else {
            raw.to_owned()
        };
        HttpAnswer {
            status: r["statusCode"].as_u64().unwrap_or(0) as u16,
            headers,
            body,
        }
    }
}
