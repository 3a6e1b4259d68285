//! Metrics in CloudWatch Embedded Metric Format: one JSON line on standard output per data
//! point, which CloudWatch Logs turns into a metric — no API call on the hot path. The Lambda
//! functions install the writer at start-up ([`install_stdout`]); elsewhere (the local run,
//! unit tests) nothing is written.
//!
//! Dimensions are kept small and never hold personal data: the function, and one of the
//! outcome, endpoint or mail tag. Each combination is a custom metric billed for every hour it
//! is written (docs/benchmarks.md prices them): the funnel is counted in the table only (its
//! page and CSV read it there), Kontomatik calls only when they fail, and the poller's
//! out-of-time runs by a metric filter on its log line (which the alarm reads).

use std::sync::OnceLock;
use std::time::Instant;

use async_trait::async_trait;
use chrono::NaiveDate;

use crate::domain::import::ImportSink;
use crate::domain::{CommandId, OwnerExternalId, RedirectionId, RedirectionStatus, SessionData};
use crate::ports::{
    CommandStatus, FetchRedirection, Kontomatik, KontomatikError, MailError, Mailer, OutgoingEmail,
    RedirectionLink, SignOut,
};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "SignInRedirection";

/// Every metric name, with its unit and its one dimension besides `Function` (the dashboard in
/// `template.yaml` reads each by exactly these; a test checks, and [`put`] refuses another).
pub const METRICS: &[(&str, &str, Option<&str>)] = &[
    ("DefaultImport", "Count", Some("Outcome")),
    ("KontomatikLatency", "Milliseconds", Some("Endpoint")),
    ("KontomatikFailedCalls", "Count", Some("Outcome")),
    ("KontomatikRateLimited", "Count", Some("Endpoint")),
    ("PollerDue", "Count", None),
    ("PollerChecked", "Count", None),
    ("PollerOldestDueAge", "Seconds", None),
    ("WorkerHandOn", "Count", None),
    ("MailSent", "Count", Some("Tag")),
    ("MailFailed", "Count", Some("Tag")),
    ("EventsNotPublished", "Count", Some("DetailType")),
];

struct Writer {
    function: String,
    write: Box<dyn Fn(&str) + Send + Sync>,
}

static WRITER: OnceLock<Writer> = OnceLock::new();

/// Writes this process's metrics to standard output as `function` (a Lambda's own name).
pub fn install_stdout(function: &str) {
    install(function, |line| println!("{line}"));
}

/// Writes this process's metrics through `write` (one EMF line per call). The first install
/// wins.
pub fn install(function: &str, write: impl Fn(&str) + Send + Sync + 'static) {
    let _ = WRITER.set(Writer {
        function: function.to_owned(),
        write: Box::new(write),
    });
}

fn unit_of(name: &str) -> &'static str {
    METRICS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map_or("None", |(_, u, _)| u)
}

/// The EMF line of one data point (public for tests).
pub fn line(function: &str, name: &str, dimension: Option<(&str, &str)>, value: f64) -> String {
    let mut dims = vec!["Function"];
    if let Some((k, _)) = dimension {
        dims.push(k);
    }
    let mut doc = serde_json::json!({
        "_aws": {
            "Timestamp": chrono::Utc::now().timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dims],
                "Metrics": [{ "Name": name, "Unit": unit_of(name) }],
            }],
        },
        "Function": function,
    });
    doc[name] = serde_json::json!(value);
    if let Some((k, v)) = dimension {
        doc[k] = serde_json::json!(v);
    }
    doc.to_string()
}

/// Records one data point of `name` (one of [`METRICS`]), with at most one dimension besides
/// the function.
pub fn put(name: &str, dimension: Option<(&str, &str)>, value: f64) {
    debug_assert!(
        METRICS
            .iter()
            .any(|(n, _, d)| *n == name && *d == dimension.map(|(k, _)| k)),
        "{name} is not declared with the dimension {dimension:?} in METRICS"
    );
    if let Some(w) = WRITER.get() {
        (w.write)(&line(&w.function, name, dimension, value));
    }
}

/// Counts one event of `name`.
pub fn count(name: &str, dimension: Option<(&str, &str)>) {
    put(name, dimension, 1.0);
}

/// The Kontomatik port with each call's latency, outcome and 429s recorded, by endpoint.
pub struct MeasuredKontomatik<K>(pub K);

fn observe<T>(endpoint: &str, started: Instant, result: &Result<T, KontomatikError>) {
    put(
        "KontomatikLatency",
        Some(("Endpoint", endpoint)),
        started.elapsed().as_secs_f64() * 1000.0,
    );
    // Failures only: each series is billed for every hour it is written, and the calls that
    // went well are the latency's sample count already.
    let failure = match result {
        Ok(_) => None,
        Err(KontomatikError::RateLimited { .. }) => Some("rate_limited"),
        Err(e) if e.is_transient() => Some("unavailable"),
        Err(_) => Some("refused"),
    };
    if let Some(outcome) = failure {
        count("KontomatikFailedCalls", Some(("Outcome", outcome)));
    }
    if matches!(result, Err(KontomatikError::RateLimited { .. })) {
        count("KontomatikRateLimited", Some(("Endpoint", endpoint)));
    }
}

macro_rules! measured {
    ($endpoint:literal, $call:expr) => {{
        let started = Instant::now();
        let result = $call.await;
        observe($endpoint, started, &result);
        result
    }};
}

#[async_trait]
impl<K: Kontomatik> Kontomatik for MeasuredKontomatik<K> {
    async fn fetch_redirection(
        &self,
        req: &FetchRedirection,
    ) -> Result<RedirectionLink, KontomatikError> {
        measured!("fetch_redirection", self.0.fetch_redirection(req))
    }

    async fn redirection_status(
        &self,
        id: &RedirectionId,
    ) -> Result<RedirectionStatus, KontomatikError> {
        measured!("redirection_status", self.0.redirection_status(id))
    }

    async fn default_import(
        &self,
        session: &SessionData,
        since: NaiveDate,
    ) -> Result<CommandId, KontomatikError> {
        measured!("default_import", self.0.default_import(session, since))
    }

    async fn command_status(
        &self,
        command: &CommandId,
        sink: &mut dyn ImportSink,
    ) -> Result<CommandStatus, KontomatikError> {
        measured!("command_status", self.0.command_status(command, sink))
    }

    async fn command_status_within(
        &self,
        command: &CommandId,
        sink: &mut dyn ImportSink,
        limit: std::time::Duration,
    ) -> Result<CommandStatus, KontomatikError> {
        measured!(
            "command_status",
            self.0.command_status_within(command, sink, limit)
        )
    }

    async fn sign_out(&self, session: &SessionData) -> Result<SignOut, KontomatikError> {
        measured!("sign_out", self.0.sign_out(session))
    }

    async fn owner_data(
        &self,
        owner: &OwnerExternalId,
        sink: &mut dyn ImportSink,
    ) -> Result<bool, KontomatikError> {
        measured!("owner_data", self.0.owner_data(owner, sink))
    }

    async fn delete_owner_data(&self, owner: &OwnerExternalId) -> Result<bool, KontomatikError> {
        measured!("delete_owner_data", self.0.delete_owner_data(owner))
    }
}

/// The mailer with each send's outcome recorded, by the mail's tag.
pub struct MeasuredMailer<M>(pub M);

#[async_trait]
impl<M: Mailer> Mailer for MeasuredMailer<M> {
    async fn send(&self, mail: &OutgoingEmail) -> Result<String, MailError> {
        let result = self.0.send(mail).await;
        let name = if result.is_ok() {
            "MailSent"
        } else {
            "MailFailed"
        };
        count(name, Some(("Tag", &mail.tag)));
        result
    }

    async fn forget_recipient(&self, to: &crate::domain::Email) -> Result<usize, MailError> {
        self.0.forget_recipient(to).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_embedded_metric_format() {
        let l = line(
            "callback",
            "KontomatikLatency",
            Some(("Endpoint", "redirection_status")),
            12.5,
        );
        let v: serde_json::Value = serde_json::from_str(&l).expect("json");
        let m = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(m["Namespace"], NAMESPACE);
        assert_eq!(
            m["Dimensions"][0],
            serde_json::json!(["Function", "Endpoint"])
        );
        assert_eq!(m["Metrics"][0]["Name"], "KontomatikLatency");
        assert_eq!(m["Metrics"][0]["Unit"], "Milliseconds");
        assert_eq!(v["KontomatikLatency"], 12.5);
        assert_eq!(v["Function"], "callback");
        assert_eq!(v["Endpoint"], "redirection_status");
        assert!(v["_aws"]["Timestamp"].as_i64().expect("ms") > 1_700_000_000_000);
        let plain = line("status-poller", "PollerDue", None, 3.0);
        let v: serde_json::Value = serde_json::from_str(&plain).expect("json");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0],
            serde_json::json!(["Function"])
        );
    }
}
