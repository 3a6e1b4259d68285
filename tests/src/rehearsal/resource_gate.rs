//! IAM's resource half: the [`ResourceGate`] between each function's process and moto, which
//! lets a request through only when the function's template statements allow its action on
//! every resource it names.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value as Json};

use crate::template::{ACCOUNT, REGION};

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
