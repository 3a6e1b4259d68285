//! How the rehearsal invokes its functions, as AWS's event sources do: API Gateway's HTTP API
//! (payload 2.0), the EventBridge schedule, and the SQS event source mapping.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{json, Value as Json};

use super::moto::sdk;
use super::processes::FunctionProcess;
use super::runtime_api::{now_ms, uuid_like, Outcome};
use super::stack::Rehearsal;
use crate::template::{EventSource, ACCOUNT, REGION};

impl Rehearsal {
    /// The function API Gateway sends `method path` to, by the template's HttpApi events.
    pub fn route(&self, method: &str, path: &str) -> Option<&FunctionProcess> {
        self.functions.values().find(|f| {
            f.deployed.events.iter().any(|e| {
                matches!(e, EventSource::HttpApi { method: m, path: p, .. } if m == method && p == path)
            })
        })
    }

    /// Whether the template gives `method path` the `AWS_IAM` authorizer.
    pub fn route_needs_iam(&self, method: &str, path: &str) -> bool {
        self.functions.values().any(|f| {
            f.deployed.events.iter().any(|e| {
                matches!(e, EventSource::HttpApi { method: m, path: p, iam: true } if m == method && p == path)
            })
        })
    }

    /// One HTTP request through API Gateway to the function its route names. An unsigned
    /// request to a route the template gives the `AWS_IAM` authorizer is answered by API
    /// Gateway itself (403), as in AWS: the function never sees it.
    pub async fn http(&self, request: HttpRequest<'_>) -> HttpAnswer {
        let f = self
            .route(request.method, request.path)
            .unwrap_or_else(|| panic!("no route {} {}", request.method, request.path));
        if self.route_needs_iam(request.method, request.path) {
            return HttpAnswer::gateway_forbidden();
        }
        self.http_to(f, request).await
    }

    /// One SigV4-signed request of the IAM principal `caller` (an ARN) with a JSON body, as API
    /// Gateway passes it on after its IAM authorizer checked it: the route must have that
    /// authorizer (else API Gateway would not have verified anyone), and the event carries
    /// `requestContext.authorizer.iam`.
    pub async fn http_signed(
        &self,
        request: HttpRequest<'_>,
        caller: &str,
        json_body: Option<&str>,
    ) -> HttpAnswer {
        let f = self
            .route(request.method, request.path)
            .unwrap_or_else(|| panic!("no route {} {}", request.method, request.path));
        assert!(
            self.route_needs_iam(request.method, request.path),
            "{} {} has no IAM authorizer in the template",
            request.method,
            request.path
        );
        let mut event = request.event();
        let account = caller.split(':').nth(4).unwrap_or(ACCOUNT);
        event["requestContext"]["authorizer"] = json!({
            "iam": {
                "accessKey": "ASIAREHEARSAL0000001",
                "accountId": account,
                "callerId": "AROAREHEARSAL0000001:lender-app",
                "cognitoIdentity": null,
                "principalOrgId": null,
                "userArn": caller,
                "userId": "AROAREHEARSAL0000001:lender-app"
            }
        });
        if let Some(body) = json_body {
            event["headers"]["content-type"] = "application/json".into();
            event["body"] = body.into();
        }
        match f.invoke(&event).await {
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
    pub async fn deliver_imports(&self, wait_seconds: i32) -> MappingPoll {
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
            return MappingPoll::default();
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
        MappingPoll {
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
}

/// What one event source mapping poll did.
#[derive(Debug, Default)]
pub struct MappingPoll {
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
    /// API Gateway's own answer to an unsigned request on an IAM-authorized route.
    pub fn gateway_forbidden() -> HttpAnswer {
        HttpAnswer {
            status: 403,
            headers: BTreeMap::from([("content-type".into(), "application/json".into())]),
            body: r#"{"message":"Forbidden"}"#.into(),
        }
    }

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
