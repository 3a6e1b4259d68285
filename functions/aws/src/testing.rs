//! Test support: a moto server to talk to. `MOTO_ENDPOINT` (set by `infra/scripts/test-all.sh`)
//! wins; otherwise one moto server is started for the test process and stopped when it ends.
//! Tests that need moto fail — never skip — when it cannot be had.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// The moto server's base URL.
pub fn moto_endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        if let Ok(e) = std::env::var("MOTO_ENDPOINT") {
            return e;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("a free port")
            .local_addr()
            .expect("a local address")
            .port();
        // A watchdog shell stops moto when this test process ends; nothing waits for it
        // (it outlives every test by design).
        let script = format!(
            "python3 -m moto.server -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
             while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill $m",
            parent = std::process::id()
        );
        #[allow(clippy::zombie_processes)]
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .spawn()
            .expect("could not start a shell to run moto server");
        let endpoint = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto server did not start on {endpoint}: these tests need it \
                 (pip install 'moto[server]', or run ./infra/scripts/test-all.sh)"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        endpoint
    })
}

/// An SDK configuration pointed at moto, with static test credentials.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(moto_endpoint())
        .region(Region::new("eu-central-1"))
        .test_credentials()
        .load()
        .await
}

/// The raw MIME messages moto's SES recorded, with their ids. moto serialises its whole state
/// for this and can fail while other tests change it, so a failed read is tried again.
pub async fn recorded_raw_mail() -> Vec<(String, String)> {
    recorded_raw_mail_at(moto_endpoint()).await
}

/// The raw MIME messages that the moto server at `endpoint` recorded.
pub async fn recorded_raw_mail_at(endpoint: &str) -> Vec<(String, String)> {
    let url = format!("{endpoint}/moto-api/data.json");
    let mut last_error = String::new();
    for _ in 0..20 {
        let url = url.clone();
        let out = tokio::task::spawn_blocking(move || {
            Command::new("python3")
                .args([
                    "-c",
                    "import sys,urllib.request;sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=30).read().decode())",
                    &url,
                ])
                .output()
        })
        .await
        .expect("reader task")
        .expect("python3 to read moto's data");
        let body = String::from_utf8_lossy(&out.stdout);
        match serde_json::from_str::<serde_json::Value>(&body) {
            Ok(data) => {
                return data["ses"]["RawMessage"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|m| {
                                (
                                    m["id"].as_str().unwrap_or_default().to_owned(),
                                    m["raw_data"].as_str().unwrap_or_default().to_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            }
            Err(e) => {
                last_error = format!("{e}; {}", String::from_utf8_lossy(&out.stderr));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    panic!("could not read moto's recorded mail: {last_error}");
}

/// What a client made by [`http_client_around`] does with each request: given the request and
/// the real connection, the response (e.g. after taking a turn, or after changing the table).
pub type Around =
    Arc<dyn Fn(HttpRequest, SharedHttpConnector) -> HttpConnectorFuture + Send + Sync>;

/// The SDK's own HTTP client, with every request passed through `around`.
pub fn http_client_around(around: Around) -> SharedHttpClient {
    SharedHttpClient::new(AroundClient {
        inner: aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .build_https(),
        around,
    })
}

/// The DynamoDB operation a request calls (`PutItem`, `Query`, …).
pub fn dynamodb_operation(request: &HttpRequest) -> Option<&str> {
    request
        .headers()
        .get("x-amz-target")
        .and_then(|t| t.rsplit('.').next())
}

struct AroundClient {
    inner: SharedHttpClient,
    around: Around,
}

impl std::fmt::Debug for AroundClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AroundClient")
    }
}

impl HttpClient for AroundClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(AroundConnector {
            inner: self.inner.http_connector(settings, components),
            around: self.around.clone(),
        })
    }
}

struct AroundConnector {
    inner: SharedHttpConnector,
    around: Around,
}

impl std::fmt::Debug for AroundConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AroundConnector")
    }
}

impl HttpConnector for AroundConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        (self.around)(request, self.inner.clone())
    }
}
