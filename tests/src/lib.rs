//! Shared fixtures of the end-to-end tests: a Kontomatik sandbox on a simulated clock and a real
//! client pointed at it.
#![allow(clippy::unwrap_used)]

pub mod cloudwatch;
pub mod dashboard;
pub mod faultrun;
pub mod flow;
pub mod rehearsal;
pub mod template;

use std::time::Duration as StdDuration;

use kontomatik::{ClientConfig, KontomatikClient};
use kontomatik_sandbox::{start_local, RunningSandbox, SandboxOptions, TimeSource, UserAction};
use signin_core::domain::{
    AccessMode, CommandId, Country, Language, OwnerExternalId, RedirectionStatus, Secret,
};
use signin_core::ports::{FetchRedirection, Kontomatik};
use signin_core::SimClock;

pub const API_KEY: &str = "test-api-key-7f3a";

/// The form token of the (first) form on a page, as a browser would send it back.
pub fn form_token_in(page: &str) -> String {
    let marker = r#"name="formToken" value=""#;
    let start = page
        .find(marker)
        .unwrap_or_else(|| panic!("no form token on the page: {page}"))
        + marker.len();
    let len = page[start..].find('"').unwrap();
    page[start..start + len].to_owned()
}

/// A sandbox on a simulated clock, and a client for it.
pub struct SandboxFixture {
    pub clock: SimClock,
    pub sandbox: RunningSandbox,
    pub client: KontomatikClient,
}

impl SandboxFixture {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts with options adjusted by `tune` (the clock and API key are set already).
    pub async fn start_with(tune: impl FnOnce(&mut SandboxOptions)) -> Self {
        let clock = SimClock::at_default_start();
        let mut options = sandbox_options(&clock);
        tune(&mut options);
        let sandbox = start_local(options).await.unwrap();
        let client = client_for(&sandbox, API_KEY, StdDuration::from_secs(10));
        SandboxFixture {
            clock,
            sandbox,
            client,
        }
    }

    pub fn client_with_key(&self, key: &str) -> KontomatikClient {
        client_for(&self.sandbox, key, StdDuration::from_secs(10))
    }

    pub fn client_with_timeout(&self, timeout: StdDuration) -> KontomatikClient {
        client_for(&self.sandbox, API_KEY, timeout)
    }

    pub fn advance(&self, d: chrono::Duration) {
        self.clock.advance(d);
    }

    /// A sign-in of `owner` that succeeds at the bank, and the Default Import of its session.
    pub async fn default_import_of_a_sign_in(&self, owner: &str) -> CommandId {
        let link = self
            .client
            .fetch_redirection(&fetch_request(owner))
            .await
            .unwrap();
        self.sandbox
            .handle
            .act(link.redirection_id.as_str(), UserAction::Succeed, None)
            .unwrap();
        let RedirectionStatus::Success(session) = self
            .client
            .redirection_status(&link.redirection_id)
            .await
            .unwrap()
        else {
            panic!("no session")
        };
        self.client.default_import(&session, since()).await.unwrap()
    }
}

/// The sandbox's options in tests: our API key, admin on, the given simulated clock.
pub fn sandbox_options(clock: &SimClock) -> SandboxOptions {
    SandboxOptions {
        api_key: API_KEY.into(),
        admin: true,
        time: TimeSource::Sim(clock.clone()),
        ..SandboxOptions::default()
    }
}

pub fn client_for(sandbox: &RunningSandbox, key: &str, timeout: StdDuration) -> KontomatikClient {
    let mut cfg = ClientConfig::new(sandbox.base_url.clone(), Secret::new(key));
    cfg.timeout = timeout;
    cfg.result_timeout = timeout.max(StdDuration::from_secs(60));
    KontomatikClient::new(cfg).unwrap()
}

/// A typical Fetch redirection request.
pub fn fetch_request(owner: &str) -> FetchRedirection {
    FetchRedirection {
        redirect_uri: "https://lender.example/kontomatik-signin".into(),
        owner: OwnerExternalId::parse(owner).unwrap(),
        language: Language::parse("pl").unwrap(),
        country: Country::parse("pl").unwrap(),
        access_mode: AccessMode::Single,
    }
}

/// A `since` for Default Import in tests (12 months before the simulated clock's start).
pub fn since() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2025, 11, 2).unwrap()
}

/// Asserts that every API request the sandbox received carried the key in the header, and that
/// none had the key, a session signature or any of `secrets` in its URL or a form field name.
/// Returns how many requests were checked.
pub fn assert_no_secret_in_any_url(sandbox: &RunningSandbox, secrets: &[&str]) -> usize {
    let seen = sandbox.handle.requests();
    for r in &seen {
        assert!(
            r.api_key_header,
            "no X-Api-Key header: {} {}",
            r.method, r.uri
        );
        assert!(
            !r.uri.contains(API_KEY) && !r.uri.contains("apiKey"),
            "the API key in a URL: {}",
            r.uri
        );
        assert!(
            !r.uri.contains("sessionIdSignature"),
            "a session signature in a URL: {}",
            r.uri
        );
        for s in secrets {
            assert!(!r.uri.contains(s), "a secret in a URL: {}", r.uri);
        }
        assert!(
            !r.form_fields.iter().any(|f| f == "apiKey"),
            "the API key in a form: {} {}",
            r.method,
            r.uri
        );
    }
    assert_eq!(sandbox.handle.counters().secrets_in_url, 0);
    seen.len()
}

/// A plain HTTP client that does not follow redirects (to see the sandbox's 303s).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Replaces the generated section `name` of docs/benchmarks.md (between `<!-- bench:NAME -->`
/// and `<!-- /bench:NAME -->`) with `body`: the bench commands (`--readme`) write their own
/// figures there.
pub fn write_bench_section(name: &str, body: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/benchmarks.md");
    let readme = std::fs::read_to_string(&path).expect("docs/benchmarks.md");
    let open = format!("<!-- bench:{name} -->");
    let close = format!("<!-- /bench:{name} -->");
    let (Some(start), Some(end)) = (readme.find(&open), readme.find(&close)) else {
        panic!("docs/benchmarks.md has no {open} … {close} section");
    };
    let updated = format!(
        "{}{open}\n{}\n{}",
        &readme[..start],
        body.trim_end(),
        &readme[end..]
    );
    std::fs::write(&path, updated).expect("docs/benchmarks.md written");
}

/// A benchmark's `--name value` argument, parsed; `None` when absent or unreadable.
pub fn bench_arg<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).and_then(|v| v.parse().ok())
}

/// One line naming the machine a benchmark ran on (cores, model) and the day.
pub fn machine_line() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpu
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "Measured {} on {cores} cores ({model}), a shared machine: medians of one run.",
        chrono::Utc::now().format("%Y-%m-%d")
    )
}
