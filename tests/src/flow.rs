//! The whole backend on one simulated clock: the real handlers (`signin_runtime`) fed with real
//! event payloads (API Gateway HTTP API v2, EventBridge schedule, SQS), on the AWS adapters
//! against moto server, with the Kontomatik sandbox.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use signin_runtime::functions::{iam_prefix, Function, FUNCTIONS};
use signin_runtime::unwired::Unwired;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_dynamodb::types::AttributeValue;
use kontomatik_sandbox::{start_local, Counters, RunningSandbox, SandboxOptions};
use lambda_runtime::{Context, LambdaEvent};
use signin_aws::schema::create_table;
use signin_aws::testing::{recorded_raw_mail, sdk_config};
use signin_aws::{DynamoStore, EventBridgeBus, SesMailer, SqsQueue};
use signin_core::config::Config;
use signin_core::domain::RedirectionId;
use signin_core::events::{EventBus, NoEvents};
use signin_core::machine::Redirection;
use signin_core::ports::RedirectionStore;
use signin_core::ports::{ImportQueue, Kontomatik, Mailer};
use signin_core::{App, Clock, SimClock};
use signin_runtime::poller::RunReport;

use crate::{client_for, API_KEY};

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
/// and an [`Unwired`] port for what it does not read.
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

impl Flow {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tune: impl FnOnce(&mut SandboxOptions)) -> Self {
        Self::start_waiting(tune, "in-invocation").await
    }

    /// A flow whose worker waits between command polls as `command_wait` says
    /// (`IMPORT_COMMAND_WAIT`). `delayed-message` makes each wait a real one on moto: for
    /// measurements (the cost model), not for tests on the simulated clock.
    pub async fn start_waiting(
        tune: impl FnOnce(&mut SandboxOptions),
        command_wait: &'static str,
    ) -> Self {
        let clock = SimClock::at_default_start();
        let mut options = crate::sandbox_options(&clock);
        tune(&mut options);
        let sandbox = start_local(options).await.unwrap();
        let aws = sdk_config().await;
        let dynamo = aws_sdk_dynamodb::Client::new(&aws);
        let table = unique("flow");
        create_table(&dynamo, &table).await.unwrap();
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let queue_url = sqs
            .create_queue()
            .queue_name(unique("imports"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let ses = aws_sdk_sesv2::Client::new(&aws);
        ses.create_email_identity()
            .email_identity(SENDER)
            .send()
            .await
            .unwrap();
        let (event_bus, event_capture_url) = capture_events(&aws, &sqs).await;
        let clock_arc: Arc<dyn Clock> = Arc::new(clock.clone());
        let store = Arc::new(DynamoStore::new(dynamo.clone(), &table, clock_arc.clone()));
        let kontomatik = Arc::new(client_for(&sandbox, API_KEY, StdDuration::from_secs(10)));
        let environment = |name: &str| -> Option<String> {
            Some(match name {
                "TABLE_NAME" => table.clone(),
                "IMPORT_QUEUE_URL" => queue_url.clone(),
                "SENDER_EMAIL" => SENDER.into(),
                "PUBLIC_BASE_URL" => PUBLIC_BASE.into(),
                "KONTOMATIK_BASE_URL" => sandbox.base_url.to_string(),
                "KONTOMATIK_API_KEY" => API_KEY.into(),
                "LINK_SIGNING_KEY" => LINK_SIGNING_KEY.into(),
                "DEFAULT_LANGUAGE" => "en".into(),
                "DEFAULT_COUNTRY" => "pl".into(),
                "ACCESS_MODE" => "single".into(),
                "EVENT_BUS_NAME" => event_bus.clone(),
                // Moto's message delays run on real time and this harness on a simulated
                // clock: a job waiting 3 s between polls as a delayed message would make every
                // import here take real seconds. The waiting as a delayed message (the
                // deployed default) runs in the rehearsal, with the template's environment.
                "IMPORT_COMMAND_WAIT" => command_wait.into(),
                _ => return None,
            })
        };
        let make = |name: &'static str, reads: &[&str], recorder: &Recorder| {
            let config = Config::from_lookup(&environment, reads).unwrap();
            let unwired = Arc::new(Unwired { function: name });
            let dynamo = aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&aws)
                    .interceptor(recorder.clone())
                    .build(),
            );
            let sqs = aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(&aws)
                    .interceptor(recorder.clone())
                    .build(),
            );
            let ses = aws_sdk_sesv2::Client::from_conf(
                aws_sdk_sesv2::config::Builder::from(&aws)
                    .interceptor(recorder.clone())
                    .build(),
            );
            let events: Arc<dyn EventBus> = match &config.event_bus {
                Some(bus) => Arc::new(EventBridgeBus::new(
                    aws_sdk_eventbridge::Client::from_conf(
                        aws_sdk_eventbridge::config::Builder::from(&aws)
                            .interceptor(recorder.clone())
                            .build(),
                    ),
                    bus,
                )),
                None => Arc::new(NoEvents),
            };
            let queue: Arc<dyn ImportQueue> = match &config.import_queue_url {
                Some(url) => Arc::new(SqsQueue::new(sqs, url)),
                None => unwired.clone(),
            };
            let mailer: Arc<dyn Mailer> = match &config.mail {
                Some(m) => Arc::new(SesMailer::new(
                    ses,
                    &m.sender_email,
                    m.configuration_set.clone(),
                    clock_arc.clone(),
                )),
                None => unwired.clone(),
            };
            let kontomatik: Arc<dyn Kontomatik> = match &config.kontomatik {
                Some(_) => kontomatik.clone(),
                None => unwired,
            };
            App {
                store: Arc::new(DynamoStore::new(
                    dynamo,
                    &config.table_name,
                    clock_arc.clone(),
                )),
                queue,
                mailer,
                kontomatik,
                clock: clock_arc.clone(),
                pause: Arc::new(clock.clone()),
                events,
                settings: config.settings,
            }
        };
        // The test's own app reads every function's variables.
        let every: Vec<&str> = FUNCTIONS
            .iter()
            .flat_map(|f| f.reads.iter().copied())
            .collect();
        let app = make("test", &every, &Recorder::default());
        let functions = FUNCTIONS
            .iter()
            .map(|function| {
                let recorder = Recorder::default();
                FunctionApp {
                    function,
                    app: make(function.name, function.reads, &recorder),
                    recorder,
                }
            })
            .collect();
        Flow {
            clock,
            sandbox,
            app,
            functions,
            store,
            dynamo,
            table,
            sqs,
            queue_url,
            recipient_domain: format!("{}.example", unique("users")),
            next_client: std::sync::atomic::AtomicU32::new(0),
            cookies: Default::default(),
            event_bus,
            event_capture_url,
            captured: Default::default(),
        }
    }

    /// Every event published on the flow's bus so far, in the order received, as a subscriber
    /// that deduplicates on `eventId` reads them (a repeat must be the same event).
    pub async fn events(&self) -> Vec<PublishedEvent> {
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.event_capture_url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                let body: serde_json::Value =
                    serde_json::from_str(m.body().unwrap_or_default()).unwrap();
                let event = PublishedEvent {
                    source: body["source"].as_str().unwrap_or_default().to_owned(),
                    detail_type: body["detail-type"].as_str().unwrap_or_default().to_owned(),
                    detail: body["detail"].clone(),
                };
                {
                    let mut captured = self.captured.lock().unwrap();
                    match captured
                        .iter()
                        .find(|e| e.detail["eventId"] == event.detail["eventId"])
                    {
                        Some(first) => assert!(
                            first.detail_type == event.detail_type && first.detail == event.detail,
                            "a repeat differs: {first:?} {event:?}"
                        ),
                        None => captured.push(event),
                    }
                }
                self.sqs
                    .delete_message()
                    .queue_url(&self.event_capture_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .unwrap();
            }
        }
        self.captured.lock().unwrap().clone()
    }

    /// The detail types published about one redirection, in the order they happened (a
    /// standard queue does not keep the order of publishing).
    pub async fn event_types_of(&self, id: &RedirectionId) -> Vec<String> {
        let mut of: Vec<PublishedEvent> = self
            .events()
            .await
            .into_iter()
            .filter(|e| e.detail["redirectionId"].as_str() == Some(id.as_str()))
            .collect();
        of.sort_by_key(|e| occurred_at(&e.detail));
        of.into_iter().map(|e| e.detail_type).collect()
    }

    /// A unique address of this flow's users.
    pub fn email(&self, local: &str) -> String {
        format!("{local}@{}", self.recipient_domain)
    }

    pub fn advance(&self, d: chrono::Duration) {
        self.clock.advance(d);
    }

    /// A GET with an `Authorization` header.
    pub async fn http_with_auth(&self, path_and_query: &str, authorization: &str) -> Page {
        self.request(
            "GET",
            path_and_query,
            None,
            &[("authorization", authorization)],
            DEFAULT_CLIENT_IP,
        )
        .await
    }

    /// Sends one HTTP request through the real Lambda handler as an API Gateway v2 event.
    pub async fn http(&self, method: &str, path_and_query: &str, form: Option<&str>) -> Page {
        self.request(method, path_and_query, form, &[], DEFAULT_CLIENT_IP)
            .await
    }

    /// A request from another browser (none of this browser's cookies), e.g. an attacker's
    /// page posting a form it filled in itself.
    pub async fn http_as_stranger(
        &self,
        method: &str,
        path_and_query: &str,
        form: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Page {
        let saved = std::mem::take(&mut *self.cookies.lock().unwrap());
        let page = self
            .request(method, path_and_query, form, headers, "192.0.2.66")
            .await;
        *self.cookies.lock().unwrap() = saved;
        page
    }

    /// This browser's form binding (the cookie its form tokens are bound to), once a page with
    /// a form was opened.
    pub fn form_binding(&self) -> Option<String> {
        self.cookies
            .lock()
            .unwrap()
            .get("__Host-signin-form")
            .cloned()
    }

    /// [`Flow::http`] with request headers, from the client address `client_ip`.
    pub async fn http_from(
        &self,
        method: &str,
        path_and_query: &str,
        form: Option<&str>,
        headers: &[(&str, &str)],
        client_ip: &str,
    ) -> Page {
        self.request(method, path_and_query, form, headers, client_ip)
            .await
    }

    /// Follows a signed link from an email as a person does: opens its confirm page, then
    /// presses the button (a POST with the link's token and the page's form token).
    pub async fn confirm_link(&self, link: &str) -> Page {
        let path_and_query = link
            .strip_prefix(PUBLIC_BASE)
            .unwrap_or_else(|| panic!("not one of our links: {link}"));
        let page = self.http("GET", path_and_query, None).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let (_, query) = path_and_query.split_once('?').unwrap();
        let t = query.strip_prefix("t=").unwrap();
        let form = format!("t={t}&formToken={}", crate::form_token_in(&page.body));
        // Where the page's button posts to.
        let marker = r#"<form method="post" action=""#;
        let at = page.body.find(marker).unwrap() + marker.len();
        let action = &page.body[at..at + page.body[at..].find('"').unwrap()];
        self.http("POST", action, Some(&form)).await
    }

    /// The form token of the page at `path_and_query` (a GET), as a browser sends it back.
    pub async fn form_token(&self, path_and_query: &str) -> String {
        let page = self.http("GET", path_and_query, None).await;
        assert_eq!(page.status, 200, "{}", page.body);
        crate::form_token_in(&page.body)
    }

    async fn request(
        &self,
        method: &str,
        path_and_query: &str,
        form: Option<&str>,
        headers: &[(&str, &str)],
        client_ip: &str,
    ) -> Page {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let mut event = api_gateway_event(method, path, query, client_ip);
        for (name, value) in headers {
            event["headers"][*name] = serde_json::Value::String((*value).to_owned());
        }
        let cookies: Vec<String> = self
            .cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !cookies.is_empty() {
            event["cookies"] = serde_json::json!(cookies);
        }
        if let Some(body) = form {
            event["body"] = serde_json::Value::String(body.to_owned());
            event["headers"]["content-type"] =
                serde_json::Value::String("application/x-www-form-urlencoded".into());
        }
        let request = lambda_http::request::from_str(&event.to_string()).unwrap();
        // API Gateway sends each route to the function that serves it (template.yaml, checked
        // against the functions table); an unknown path reaches none and answers 404 there.
        let function = signin_web::Route::of(method, path)
            .and_then(|route| {
                self.functions
                    .iter()
                    .find(|f| f.function.routes().contains(&route))
            })
            .unwrap_or_else(|| self.function("create-redirection"));
        let response = signin_runtime::http::handle_request(
            &function.app,
            function.function.routes(),
            request,
        )
        .await
        .unwrap();
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            assert!(
                set.contains("HttpOnly") && set.contains("SameSite=") && set.contains("Secure"),
                "{set}"
            );
            if let Some((k, v)) = set.split(';').next().and_then(|c| c.split_once('=')) {
                self.cookies
                    .lock()
                    .unwrap()
                    .insert(k.to_owned(), v.to_owned());
            }
        }
        let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
        Page {
            status,
            location,
            headers,
            body,
        }
    }

    /// Fills and submits the start form; returns the answer.
    pub async fn start_sign_in(&self, email: &str, consent: bool) -> Page {
        self.start_sign_in_in(email, consent, "en").await
    }

    /// Opens the start page, fills and submits its form in `language`; returns the answer.
    /// Each user comes from an address of their own.
    pub async fn start_sign_in_in(&self, email: &str, consent: bool, language: &str) -> Page {
        let token = self.form_token(&format!("/start?lang={language}")).await;
        let mut form = format!(
            "email={}&name=Ann+Smith&language={language}&country=pl&delivery=redirect&formToken={token}",
            email.replace('+', "%2B").replace('@', "%40")
        );
        if consent {
            form.push_str("&followUpConsent=yes");
        }
        let n = self
            .next_client
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ip = format!("198.51.{}.{}", (n / 250) % 250, n % 250 + 1);
        self.request("POST", "/start", Some(&form), &[], &ip).await
    }

    /// The redirection id in a Kontomatik link (`…/signin/ID`).
    pub fn id_of(link: &str) -> RedirectionId {
        RedirectionId::parse(link.rsplit('/').next().unwrap()).unwrap()
    }

    pub async fn redirection(&self, id: &RedirectionId) -> Option<Redirection> {
        self.store.get_redirection(id).await.unwrap()
    }

    /// The user signs in on the sandbox's hosted page and is sent back; returns where to.
    pub async fn sign_in_at_bank(&self, link: &str, outcome: &str, bank: &str) -> String {
        let http = crate::browser();
        let page = http.get(link).send().await.unwrap();
        assert_eq!(page.status(), 200, "the hosted page opens");
        let back = http
            .post(link)
            .form(&[("bank", bank), ("outcome", outcome)])
            .send()
            .await
            .unwrap();
        assert_eq!(back.status(), 303);
        back.headers()["location"].to_str().unwrap().to_owned()
    }

    /// Follows Kontomatik's redirect to our callback (path and query only).
    pub async fn come_back(&self, back_url: &str) -> Page {
        let path = back_url
            .strip_prefix(PUBLIC_BASE)
            .expect("the user is sent back to our callback");
        self.http("GET", path, None).await
    }

    /// One scheduled poller run, as EventBridge invokes it.
    pub async fn run_poller(&self) -> RunReport {
        let event: EventBridgeEvent<serde_json::Value> =
            serde_json::from_value(serde_json::json!({
                "version": "0",
                "id": unique("evt"),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": "123456789012",
                "time": "2026-11-02T09:00:00Z",
                "region": "eu-central-1",
                "resources": ["arn:aws:events:eu-central-1:123456789012:rule/status-poller"],
                "detail": {}
            }))
            .unwrap();
        signin_runtime::poller::handle_event(
            &self.function("status-poller").app,
            LambdaEvent::new(
                signin_runtime::poller::PollerEvent::Scheduled(event),
                Context::default(),
            ),
        )
        .await
        .unwrap()
    }

    /// What Lambda's SQS event source does: receive a batch, invoke the worker with it, delete
    /// the messages it did not report failed. Returns the number handled and the failures.
    pub async fn deliver_imports(&self) -> (usize, SqsBatchResponse) {
        self.deliver_imports_hidden_for(30).await
    }

    /// Delivers import jobs until the queue holds none (at most `rounds` deliveries). A job
    /// whose delivery failed (a Kontomatik call that timed out on a loaded machine, say) comes
    /// back at once, as it would after its visibility timeout: the test's time is simulated,
    /// the queue's is not.
    pub async fn settle_imports(&self, rounds: usize) {
        for _ in 0..rounds {
            let (handled, _) = self.deliver_imports_hidden_for(0).await;
            if handled == 0 && self.queue_depth().await == 0 {
                return;
            }
        }
        panic!("import jobs still queued after {rounds} deliveries");
    }

    async fn deliver_imports_hidden_for(&self, visibility: i32) -> (usize, SqsBatchResponse) {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(visibility)
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        let records: Vec<serde_json::Value> = messages
            .iter()
            .map(|m| {
                serde_json::json!({
                    "messageId": m.message_id.clone().unwrap_or_default(),
                    "receiptHandle": m.receipt_handle.clone().unwrap_or_default(),
                    "body": m.body.clone().unwrap_or_default(),
                    "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1793610000000"},
                    "messageAttributes": {},
                    "md5OfBody": "",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:eu-central-1:123456789012:imports",
                    "awsRegion": "eu-central-1"
                })
            })
            .collect();
        let event: SqsEvent =
            serde_json::from_value(serde_json::json!({ "Records": records })).unwrap();
        let response = signin_runtime::worker::handle_event(
            &self.function("import-worker").app,
            LambdaEvent::new(event, Context::default()),
        )
        .await
        .unwrap();
        for m in &messages {
            let failed = response
                .batch_item_failures
                .iter()
                .any(|f| Some(&f.item_identifier) == m.message_id.as_ref());
            if !failed {
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                    .send()
                    .await
                    .unwrap();
            }
        }
        (messages.len(), response)
    }

    /// Messages on the queue (visible or in flight).
    pub async fn queue_depth(&self) -> usize {
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap_or_default();
        let n = |k: aws_sdk_sqs::types::QueueAttributeName| {
            attrs
                .get(&k)
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0)
        };
        n(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            + n(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            + n(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
    }

    /// Every item in the table (test inspection only; the adapter never scans).
    pub async fn table_items(&self) -> Vec<std::collections::HashMap<String, AttributeValue>> {
        self.dynamo
            .scan()
            .table_name(&self.table)
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default()
    }

    /// The AWS actions each function performed so far, by binary name.
    pub fn recorded_actions(&self) -> BTreeMap<&'static str, BTreeSet<String>> {
        self.functions
            .iter()
            .map(|f| (f.function.name, f.recorder.actions()))
            .collect()
    }

    /// The app of the function called `name`.
    pub fn function(&self, name: &str) -> &FunctionApp {
        self.functions
            .iter()
            .find(|f| f.function.name == name)
            .unwrap_or_else(|| panic!("no function {name}"))
    }

    /// The app of the function called `name`, to change its settings in a test.
    pub fn function_mut(&mut self, name: &str) -> &mut FunctionApp {
        self.functions
            .iter_mut()
            .find(|f| f.function.name == name)
            .unwrap_or_else(|| panic!("no function {name}"))
    }

    pub fn counters(&self) -> Counters {
        self.sandbox.handle.counters()
    }

    /// This browser's cookie `name`, if set.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    /// Puts a cookie in this browser (e.g. one kept from an earlier session).
    pub fn set_cookie(&self, name: &str, value: &str) {
        self.cookies
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
    }

    /// A fresh browser from here on: none of this browser's cookies (its session, its form
    /// binding), as when a person comes back from the bank in another browser.
    pub fn fresh_browser(&self) {
        self.cookies.lock().unwrap().clear();
    }

    /// Logs in as `email` in this browser through the emailed link: the log-in form (keeping
    /// `redirection`, as the callback's form does), the mail, the link's page and its button.
    /// Returns the button's answer (a 303 to the person's page).
    pub async fn log_in(&self, email: &str, redirection: Option<&str>) -> Page {
        let path = match redirection {
            Some(id) => format!("/login?redirectionId={id}"),
            None => "/login".to_owned(),
        };
        let token = self.form_token(&path).await;
        let mut form = format!(
            "email={}&language=en&formToken={token}",
            email.replace('@', "%40")
        );
        if let Some(id) = redirection {
            form.push_str(&format!("&redirectionId={id}"));
        }
        let before = self.mails().await.len();
        let sent = self.http("POST", "/login", Some(&form)).await;
        assert_eq!(sent.status, 200, "{}", sent.body);
        let mails = self.mails().await;
        let mail = mails[before..]
            .iter()
            .rev()
            .find(|m| m.to == email)
            .unwrap_or_else(|| panic!("no log-in mail to {email}"));
        let link = mail
            .text
            .split_whitespace()
            .find(|w| w.starts_with(&format!("{PUBLIC_BASE}/login/link?")))
            .unwrap_or_else(|| panic!("no log-in link in {}", mail.text))
            .to_owned();
        self.confirm_link(&link).await
    }

    /// The emails sent to this flow's users.
    pub async fn mails(&self) -> Vec<Mail> {
        recorded_raw_mail()
            .await
            .into_iter()
            .filter_map(|(_, raw)| Mail::parse(&raw))
            .filter(|m| m.to.ends_with(&self.recipient_domain))
            .collect()
    }
}

/// The API Gateway HTTP API (v2) event of one request from `client_ip`, as Lambda hands it to
/// an HTTP function (headers: host and user agent; add more, cookies and a body as needed).
pub fn api_gateway_event(
    method: &str,
    path: &str,
    query: &str,
    client_ip: &str,
) -> serde_json::Value {
    serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "host": "signin.lender.example",
            "user-agent": "e2e-test",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "signin.lender.example",
            "domainPrefix": "signin",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": client_ip,
                "userAgent": "e2e-test"
            },
            "requestId": unique("req"),
            "routeKey": "$default",
            "stage": "$default",
            "time": "02/Nov/2026:09:00:00 +0000",
            "timeEpoch": 1_793_610_000_000u64
        },
        "isBase64Encoded": false
    })
}

/// An event detail's `occurredAt`.
pub fn occurred_at(detail: &serde_json::Value) -> chrono::DateTime<chrono::Utc> {
    detail["occurredAt"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_default()
}

/// A fresh bus on moto with one rule (`source` ours) whose target is a fresh queue: what a
/// subscriber (a CRM's queue) would set up. Returns the bus name and the queue's URL.
pub async fn capture_events(
    aws: &aws_config::SdkConfig,
    sqs: &aws_sdk_sqs::Client,
) -> (String, String) {
    let events = aws_sdk_eventbridge::Client::new(aws);
    let bus = unique("bus");
    events.create_event_bus().name(&bus).send().await.unwrap();
    let url = sqs
        .create_queue()
        .queue_name(unique("events"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    events
        .put_rule()
        .name("subscriber")
        .event_bus_name(&bus)
        .event_pattern(serde_json::json!({"source": [signin_core::events::SOURCE]}).to_string())
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("subscriber")
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    (bus, url)
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
