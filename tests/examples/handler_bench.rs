//! Benchmark: the time create-redirection's `POST /start` and the callback's
//! `GET /kontomatik-signin` spend in our code, per invocation, with every port answering at once
//! (in-process store, queue and outbox; a Kontomatik that answers without I/O). Each invocation
//! is what the Lambda runtime hands the handler: the API Gateway v2 event as JSON text, parsed by
//! `lambda_http`, handled by `signin_runtime::http::handle_request`, answered. Logs and EMF
//! metrics are formatted as in Lambda and written to nowhere (the write itself is the runtime's).
//!
//!   cargo run --release -p e2e-tests --example handler_bench [-- INVOCATIONS] [--readme]
//!
//! Prints p50 / p90 / p99 / max per handler over INVOCATIONS (default 10 000), after 500 warm-up
//! invocations of each.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::NaiveDate;
use signin_core::adapters::embedded::{EmbeddedQueue, EmbeddedStore, Outbox};
use signin_core::adapters::events::NoEvents;
use signin_core::config::Settings;
use signin_core::domain::import::ImportSink;
use signin_core::domain::links::{sign_form, Form};
use signin_core::domain::{
    CommandId, OwnerExternalId, RedirectionId, RedirectionStatus, Secret, SessionData,
};
use signin_core::ports::{
    CommandStatus, FetchRedirection, Kontomatik, KontomatikError, RedirectionLink, SignOut,
};
use signin_core::{App, Clock, SystemClock, TokioPause};
use signin_runtime::functions::{CALLBACK, CREATE_REDIRECTION};

const PUBLIC: &str = "https://signin.lender.example";
const KEY: &str = "bench-link-signing-key-0123456789abcdef";
const BINDING: &str = "0123456789abcdef0123456789abcdef";

/// Kontomatik without I/O: links with fresh ids, every status a success.
#[derive(Default)]
struct Instantly {
    next: AtomicU64,
}

#[async_trait]
impl Kontomatik for Instantly {
    async fn fetch_redirection(
        &self,
        _req: &FetchRedirection,
    ) -> Result<RedirectionLink, KontomatikError> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let id = RedirectionId::parse(&format!("{n:032x}")).unwrap();
        Ok(RedirectionLink {
            url: format!("https://signin.kontomatik.com/r/{id}"),
            redirection_id: id,
        })
    }
    async fn redirection_status(
        &self,
        _id: &RedirectionId,
    ) -> Result<RedirectionStatus, KontomatikError> {
        Ok(RedirectionStatus::Success(SessionData {
            session_id: "s-1".into(),
            session_id_signature: Secret::new("signature-1"),
            target: "DemoBank".into(),
            owner_external_id: None,
            multiple_access_token: None,
        }))
    }
    async fn default_import(
        &self,
        _session: &SessionData,
        _since: NaiveDate,
    ) -> Result<CommandId, KontomatikError> {
        unreachable!("not on these paths")
    }
    async fn command_status(
        &self,
        _command: &CommandId,
        _sink: &mut dyn ImportSink,
    ) -> Result<CommandStatus, KontomatikError> {
        unreachable!("not on these paths")
    }
    async fn command_status_within(
        &self,
        _command: &CommandId,
        _sink: &mut dyn ImportSink,
        _limit: Duration,
    ) -> Result<CommandStatus, KontomatikError> {
        unreachable!("not on these paths")
    }
    async fn sign_out(&self, _session: &SessionData) -> Result<SignOut, KontomatikError> {
        unreachable!("not on these paths")
    }
    async fn owner_data(
        &self,
        _owner: &OwnerExternalId,
        _sink: &mut dyn ImportSink,
    ) -> Result<bool, KontomatikError> {
        unreachable!("not on these paths")
    }
    async fn delete_owner_data(&self, _owner: &OwnerExternalId) -> Result<bool, KontomatikError> {
        unreachable!("not on these paths")
    }
}

/// The API Gateway HTTP API (v2) event of one request from a browser that holds the form's
/// binding cookie, as the Lambda runtime receives it.
fn event(method: &str, path: &str, query: &str, body: Option<&str>, ip: &str) -> String {
    let mut e = e2e_tests::flow::api_gateway_event(method, path, query, ip);
    e["cookies"] = serde_json::json!([format!("__Host-signin-form={BINDING}")]);
    for (name, value) in [
        ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) bench"),
        ("accept", "text/html,application/xhtml+xml"),
        ("accept-language", "pl-PL,pl;q=0.9,en;q=0.8"),
        ("sec-fetch-site", "same-origin"),
        ("origin", PUBLIC),
    ] {
        e["headers"][name] = value.into();
    }
    if let Some(b) = body {
        e["body"] = serde_json::Value::String(b.to_owned());
        e["headers"]["content-type"] = "application/x-www-form-urlencoded".into();
    }
    e.to_string()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn report(name: &str, mut times: Vec<Duration>) -> String {
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    format!(
        "| {name} | {} | {:.0} µs | {:.0} µs | {:.0} µs | {:.0} µs |",
        times.len(),
        us(percentile(&times, 0.5)),
        us(percentile(&times, 0.9)),
        us(percentile(&times, 0.99)),
        us(*times.last().unwrap()),
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let readme = args.iter().any(|a| a == "--readme");
    let n: usize = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(|a| a.parse().unwrap())
        .unwrap_or(10_000);
    // As in Lambda: JSON logs at info, EMF metrics; both formatted, then dropped.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::sink)
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .try_init();
    signin_core::metrics::install("bench", |line| {
        std::hint::black_box(line);
    });
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut settings = Settings {
        link_signing_key: Some(Secret::new(KEY)),
        ..Settings::with_defaults(PUBLIC)
    };
    settings.limits.starts_per_client_per_hour = u64::MAX;
    let app = App {
        store: Arc::new(EmbeddedStore::new(clock.clone())),
        queue: Arc::new(EmbeddedQueue::new(clock.clone(), 5)),
        mailer: Arc::new(Outbox::new(clock.clone())),
        kontomatik: Arc::new(Instantly::default()),
        clock: clock.clone(),
        pause: Arc::new(TokioPause),
        events: Arc::new(NoEvents),
        settings,
    };
    let key = Secret::new(KEY);
    let warm = 500;
    let total = warm + n;
    let mut starts = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(total);
    for i in 0..total {
        let token = sign_form(&key, Form::Start, clock.now().timestamp() + 3600, BINDING);
        let body = format!(
            "email=user{i}%40users.example&name=Anna+Kowalska&language=pl&country=pl&delivery=redirect&consent=yes&formToken={token}"
        );
        let ip = format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255);
        let json = event("POST", "/start", "", Some(&body), &ip);
        let t = Instant::now();
        let req = lambda_http::request::from_str(&json).unwrap();
        let res = signin_runtime::http::handle_request(&app, CREATE_REDIRECTION.routes(), req)
            .await
            .unwrap();
        let elapsed = t.elapsed();
        assert_eq!(res.status(), 303, "{:?}", res.body());
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        ids.push(location.rsplit('/').next().unwrap().to_owned());
        if i >= warm {
            starts.push(elapsed);
        }
    }
    let mut callbacks = Vec::with_capacity(n);
    for (i, id) in ids.iter().enumerate() {
        let json = event(
            "GET",
            signin_core::CALLBACK_PATH,
            &format!("redirectionId={id}"),
            None,
            "10.0.0.1",
        );
        let t = Instant::now();
        let req = lambda_http::request::from_str(&json).unwrap();
        let res = signin_runtime::http::handle_request(&app, CALLBACK.routes(), req)
            .await
            .unwrap();
        let elapsed = t.elapsed();
        assert_eq!(res.status(), 200);
        if i >= warm {
            callbacks.push(elapsed);
        }
    }
    let table = [
        "| handler | invocations | p50 | p90 | p99 | max |".to_owned(),
        "|---|---:|---:|---:|---:|---:|".to_owned(),
        report("create-redirection `POST /start`", starts),
        report("callback `GET /kontomatik-signin`", callbacks),
    ]
    .join("\n");
    println!("{table}");
    if readme {
        e2e_tests::write_bench_section(
            "handlers",
            &format!(
                "`cargo run --release -p e2e-tests --example handler_bench -- --readme`. {}\n\n{table}",
                e2e_tests::machine_line()
            ),
        );
    }
}
