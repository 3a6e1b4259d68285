//! Cost model: every AWS request per completed sign-in and per drop-off, counted by an SDK
//! interceptor on each function's own clients (`e2e_tests::flow::Recorder`) while the real
//! handlers run the whole flow on moto with the sandbox, the worker waiting between command
//! polls as a delayed message (the deployed default; moto's delays run on real time, so this
//! takes a minute). Then priced with eu-central-1 list prices for a month of sign-ins.
//!
//!   cargo run --release -p e2e-tests --example cost_model -- [--sign-ins 10000]
//!       [--success 60] [--expire 25] [--fail 15] [--import-polls 10] [--readme]
//!
//! What is counted and what is modelled:
//! - counted: invocations per function, AWS requests per operation, Kontomatik calls, emails;
//! - modelled: each invocation's billed duration, from what it waited on (the latencies in
//!   [`LATENCY_MS`], typical in-region figures, and Kontomatik's) plus 3 ms of our own work
//!   (handler_bench measures 25-60 µs; 3 ms covers start-up of the request and logging);
//! - the SQS event source's own requests (a ReceiveMessage per batch, a DeleteMessage per
//!   message), which no client of ours makes;
//! - the fixed part: the poller's run every minute with nothing due (measured once), and the
//!   event source's long polls of an idle queue (5 pollers, one 20 s ReceiveMessage each);
//! - CloudWatch, counted through the real bootstraps (the deploy rehearsal, on the same moto):
//!   the custom metric series their EMF lines make, and the log bytes of a completed sign-in,
//!   of a failed one with its follow-up, of one status check and of an idle poller run, Lambda's
//!   own START/END/REPORT lines added per invocation; API Gateway's access log line per request
//!   is the template's format with typical values. The dashboard and alarms are counted in
//!   `template.yaml`;
//! - the `new-vpc` network option's NAT gateway: its hours, and the bytes of every call that
//!   leaves through it (all but DynamoDB's, which has a gateway endpoint), modelled at
//!   [`NAT_BYTES_PER_CALL`] per call.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use chrono::Duration;
use e2e_tests::bench_arg as arg;
use e2e_tests::cloudwatch::{count_in_rehearsal, Counted, LogVolume};
use e2e_tests::flow::Flow;
use signin_core::domain::machine::State;

/// What one Lambda invocation waits on, per request (milliseconds).
const LATENCY_MS: &[(&str, f64)] = &[
    ("dynamodb", 6.0),
    ("sqs", 12.0),
    ("ses", 40.0),
    ("events", 15.0),
    ("ssm", 10.0),
    ("kontomatik:fetch_redirection", 300.0),
    ("kontomatik:redirection_status", 250.0),
    ("kontomatik:default_import", 400.0),
    ("kontomatik:command_status", 300.0),
    ("kontomatik:sign_out", 250.0),
];
const OWN_WORK_MS: f64 = 3.0;

/// eu-central-1 list prices (USD), as published by AWS in 2025 (on-demand; free tiers not
/// applied). Written here once; update them from the AWS pricing pages.
const PRICES_AS_OF: &str =
    "2025 list prices (AWS pricing pages, eu-central-1, on-demand, no free tier)";
const LAMBDA_ARM_GB_SECOND: f64 = 0.000_013_333_4;
const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
const HTTP_API_REQUEST: f64 = 1.20 / 1e6;
const DYNAMO_WRITE_UNIT: f64 = 0.7625 / 1e6;
const DYNAMO_READ_UNIT: f64 = 0.1525 / 1e6;
const SQS_REQUEST: f64 = 0.40 / 1e6;
const SES_EMAIL: f64 = 0.10 / 1000.0;
const EVENTS_CUSTOM_EVENT: f64 = 1.00 / 1e6;
const CW_METRIC_MONTH: f64 = 0.30;
const CW_DASHBOARD_MONTH: f64 = 3.00;
const CW_ALARM_MONTH: f64 = 0.10;
const CW_LOGS_INGESTED_GB: f64 = 0.63;
const CW_LOGS_STORED_GB_MONTH: f64 = 0.0324;
const NAT_HOUR: f64 = 0.052;
const NAT_GB: f64 = 0.052;
/// What one call through the NAT gateway moves, both ways (TLS, headers and a small body;
/// modelled, not counted).
const NAT_BYTES_PER_CALL: f64 = 6_000.0;
/// The edge option (`EdgeWebAclArn`): AWS WAF's web ACL and its one rule a month, its requests;
/// CloudFront's requests beyond its always-free 10 million a month (HTTPS, Europe).
const WAF_WEB_ACL_MONTH: f64 = 5.00;
const WAF_RULE_MONTH: f64 = 1.00;
const WAF_REQUEST: f64 = 0.60 / 1e6;
const CLOUDFRONT_HTTPS_REQUEST: f64 = 0.012 / 10_000.0;
const CLOUDFRONT_FREE_REQUESTS: f64 = 10e6;
const GB: f64 = 1e9;
const HOURS_PER_MONTH: f64 = 730.0;

/// Memory of each function (template.yaml).
fn memory_gb(function: &str) -> f64 {
    match function {
        "import-worker" => 0.5,
        _ => 0.25,
    }
}

/// What a persona (or the fixed schedule) used.
#[derive(Default, Clone)]
struct Usage {
    /// function → invocations
    invocations: BTreeMap<&'static str, f64>,
    /// function → modelled billed milliseconds (summed over invocations)
    billed_ms: BTreeMap<&'static str, f64>,
    /// `service:Operation` → requests
    requests: BTreeMap<String, f64>,
    /// Kontomatik endpoint → calls
    kontomatik: BTreeMap<String, f64>,
    http_requests: f64,
    /// CloudWatch Logs: what the functions wrote (counted in the rehearsal).
    logs: LogVolume,
}

impl Usage {
    fn scaled(&self, by: f64) -> Usage {
        let s = |m: &BTreeMap<String, f64>| m.iter().map(|(k, v)| (k.clone(), v * by)).collect();
        Usage {
            invocations: self.invocations.iter().map(|(k, v)| (*k, v * by)).collect(),
            billed_ms: self.billed_ms.iter().map(|(k, v)| (*k, v * by)).collect(),
            requests: s(&self.requests),
            kontomatik: s(&self.kontomatik),
            http_requests: self.http_requests * by,
            logs: self.logs.scaled(by),
        }
    }

    fn add(&mut self, o: &Usage) {
        for (k, v) in &o.invocations {
            *self.invocations.entry(k).or_default() += v;
        }
        for (k, v) in &o.billed_ms {
            *self.billed_ms.entry(k).or_default() += v;
        }
        for (k, v) in &o.requests {
            *self.requests.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.kontomatik {
            *self.kontomatik.entry(k.clone()).or_default() += v;
        }
        self.http_requests += o.http_requests;
        self.logs = self.logs.plus(o.logs);
    }

    /// Calls that leave the VPC through the NAT gateway (`new-vpc`): Kontomatik's and every
    /// AWS request but DynamoDB's and the event source's own.
    fn calls_through_nat(&self) -> f64 {
        let aws: f64 = self
            .requests
            .iter()
            .filter(|(k, _)| !k.starts_with("dynamodb:") && !k.contains("(event source"))
            .map(|(_, v)| v)
            .sum();
        aws + self.kontomatik.values().sum::<f64>()
    }

    fn requests_of(&self, service: &str) -> f64 {
        self.requests
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{service}:")))
            .map(|(_, v)| v)
            .sum()
    }

    /// DynamoDB units: a write of an item under 1 KB is one unit, and one more for the poll
    /// index (charged as a conservative bound for every write); a read of up to 4 KB
    /// (consistent) is one unit; a BatchGetItem reads two items (user and import records).
    fn dynamo_units(&self) -> (f64, f64) {
        let mut writes = 0.0;
        let mut reads = 0.0;
        for (k, v) in &self.requests {
            match k.as_str() {
                "dynamodb:PutItem" | "dynamodb:UpdateItem" | "dynamodb:DeleteItem" => {
                    writes += 2.0 * v
                }
                "dynamodb:BatchGetItem" => reads += 2.0 * v,
                k if k.starts_with("dynamodb:") => reads += v,
                _ => {}
            }
        }
        (writes, reads)
    }

    fn cost(&self) -> Vec<(&'static str, f64)> {
        let gb_seconds: f64 = self
            .billed_ms
            .iter()
            .map(|(f, ms)| ms / 1000.0 * memory_gb(f))
            .sum();
        let invocations: f64 = self.invocations.values().sum();
        let (wru, rru) = self.dynamo_units();
        vec![
            ("Lambda duration (arm64)", gb_seconds * LAMBDA_ARM_GB_SECOND),
            ("Lambda requests", invocations * LAMBDA_REQUEST),
            (
                "API Gateway HTTP API",
                self.http_requests * HTTP_API_REQUEST,
            ),
            ("DynamoDB writes", wru * DYNAMO_WRITE_UNIT),
            ("DynamoDB reads", rru * DYNAMO_READ_UNIT),
            ("SQS", self.requests_of("sqs") * SQS_REQUEST),
            ("SES", self.requests_of("ses") * SES_EMAIL),
            (
                "EventBridge events",
                self.requests_of("events") * EVENTS_CUSTOM_EVENT,
            ),
            (
                "CloudWatch Logs ingestion",
                self.logs.bytes / GB * CW_LOGS_INGESTED_GB,
            ),
        ]
    }
}

/// What CloudWatch holds whatever the traffic: the metric series, the dashboard, the alarms.
struct CloudWatchFixed {
    /// Written as EMF by the functions (counted in the rehearsal).
    series: usize,
    /// Made by the template's metric filters: one per namespace and name (filters on several
    /// log groups may feed one), written whenever logs arrive (their default value 0).
    filter_metrics: usize,
    dashboards: usize,
    alarms: usize,
}

impl CloudWatchFixed {
    fn from_template(series: usize) -> CloudWatchFixed {
        let template = include_str!("../../template.yaml");
        let count = |kind: &str| {
            template
                .lines()
                .filter(|l| l.trim() == format!("Type: {kind}"))
                .count()
        };
        let lines: Vec<&str> = template.lines().map(str::trim).collect();
        let filter_metrics: std::collections::BTreeSet<(&str, &str)> = lines
            .windows(2)
            .filter_map(|w| {
                Some((
                    w[0].strip_prefix("- MetricNamespace:")?.trim(),
                    w[1].strip_prefix("MetricName:")?.trim(),
                ))
            })
            .collect();
        CloudWatchFixed {
            series,
            filter_metrics: filter_metrics.len(),
            dashboards: count("AWS::CloudWatch::Dashboard"),
            alarms: count("AWS::CloudWatch::Alarm"),
        }
    }
}

/// API Gateway's access log line for one request: the template's format, typical values in.
fn access_log_line() -> String {
    let template = include_str!("../../template.yaml");
    let format = template
        .lines()
        .find_map(|l| l.trim().strip_prefix("Format: '"))
        .and_then(|f| f.strip_suffix('\''))
        .expect("the access log format in template.yaml");
    [
        ("$context.requestId", "Zx1YzhK0FiAEJLw="),
        ("$context.routeKey", "GET /kontomatik-signin"),
        ("$context.status", "200"),
        ("$context.integrationStatus", "200"),
        ("$context.responseLatency", "250"),
    ]
    .iter()
    .fold(format.to_owned(), |f, (k, v)| f.replace(k, v))
}

fn latency_of(key: &str) -> f64 {
    let service = key.split(':').next().unwrap_or("");
    LATENCY_MS
        .iter()
        .find(|(k, _)| *k == key)
        .or_else(|| LATENCY_MS.iter().find(|(k, _)| *k == service))
        .map_or(0.0, |(_, ms)| *ms)
}

/// Everything counted so far: per function, its requests; the sandbox's calls.
type Snapshot = (
    BTreeMap<&'static str, BTreeMap<String, u64>>,
    BTreeMap<String, u64>,
);

fn snapshot(f: &Flow) -> Snapshot {
    (
        f.functions
            .iter()
            .map(|fa| (fa.function.name, fa.recorder.counts()))
            .collect(),
        f.counters().calls,
    )
}

fn diff(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), (v - before.get(k).copied().unwrap_or(0)) as f64))
        .filter(|(_, v)| *v > 0.0)
        .collect()
}

/// Adds to `usage` what `function` did between two snapshots, as `invocations` invocations
/// (`http`: behind API Gateway), less `baseline` (what an idle run does).
fn account(
    usage: &mut Usage,
    function: &'static str,
    invocations: f64,
    http: bool,
    (before, after): (&Snapshot, &Snapshot),
    baseline: Option<&Usage>,
) {
    let requests = diff(&before.0[function], &after.0[function]);
    let kontomatik = diff(&before.1, &after.1);
    let mut ms = invocations * OWN_WORK_MS;
    for (k, v) in &requests {
        ms += v * latency_of(k);
        *usage.requests.entry(k.clone()).or_default() += v;
    }
    for (k, v) in &kontomatik {
        ms += v * latency_of(&format!("kontomatik:{k}"));
        *usage.kontomatik.entry(k.clone()).or_default() += v;
    }
    match baseline {
        // The marginal part of a run that happens anyway: no invocation, its idle work off.
        Some(idle) => {
            for (k, v) in &idle.requests {
                *usage.requests.entry(k.clone()).or_default() -= v;
            }
            let idle_ms = idle.billed_ms.get(function).copied().unwrap_or(0.0);
            *usage.billed_ms.entry(function).or_default() += (ms - idle_ms).max(0.0);
        }
        None => {
            *usage.invocations.entry(function).or_default() += invocations;
            *usage.billed_ms.entry(function).or_default() += ms;
            if http {
                usage.http_requests += invocations;
            }
        }
    }
}

async fn idle_poller_run() -> Usage {
    let f = Flow::start_waiting(|_| {}, "delayed-message").await;
    let mut u = Usage::default();
    let before = snapshot(&f);
    f.run_poller().await;
    let after = snapshot(&f);
    account(&mut u, "status-poller", 1.0, false, (&before, &after), None);
    u
}

#[derive(Clone, Copy)]
enum Persona {
    Success,
    Expire,
    Fail,
}

/// The log volume of one user of `persona`: counted for a completed and a failed sign-in; an
/// expired link is a failed story whose poller checked the link `checks` times instead of once.
fn persona_logs(p: Persona, counted: &Counted, checks: f64, http_requests: f64) -> LogVolume {
    let story = match p {
        Persona::Success => counted.stories["completed"],
        Persona::Fail => counted.stories["failed at the bank"],
        Persona::Expire => counted.stories["failed at the bank"]
            .plus(counted.pending_check.scaled((checks - 1.0).max(0.0))),
    };
    story.plus(LogVolume::of_output(&access_log_line()).scaled(http_requests))
}

/// One user of `persona`, from the start page to the end of their story.
async fn persona(p: Persona, idle: &Usage, import_polls: u32) -> Usage {
    // A Kontomatik import takes `import_polls` command polls (3 s apart) to finish.
    let f = Flow::start_waiting(|o| o.sim.import_polls = import_polls, "delayed-message").await;
    let mut u = Usage::default();
    let s0 = snapshot(&f);
    let start = f.start_sign_in(&f.email("cost"), true).await;
    let s1 = snapshot(&f);
    // The start page (its form) and the POST.
    account(&mut u, "create-redirection", 2.0, true, (&s0, &s1), None);
    let link = start.location.unwrap();
    let id = Flow::id_of(&link);
    match p {
        Persona::Success | Persona::Fail => {
            let outcome = match p {
                Persona::Success => "success",
                _ => "fail_login",
            };
            let back = f.sign_in_at_bank(&link, outcome, "DemoBank").await;
            let s2 = snapshot(&f);
            f.come_back(&back).await;
            let s3 = snapshot(&f);
            account(&mut u, "callback", 1.0, true, (&s2, &s3), None);
        }
        Persona::Expire => {}
    }
    match p {
        Persona::Success => {
            // The event source: a batch whenever a message is visible.
            let began = std::time::Instant::now();
            loop {
                let before = snapshot(&f);
                let (n, _) = f.deliver_imports().await;
                let after = snapshot(&f);
                if n > 0 {
                    account(&mut u, "import-worker", 1.0, false, (&before, &after), None);
                    *u.requests
                        .entry("sqs:ReceiveMessage (event source)".into())
                        .or_default() += 1.0;
                    *u.requests
                        .entry("sqs:DeleteMessage (event source)".into())
                        .or_default() += n as f64;
                }
                if f.redirection(&id).await.unwrap().state == State::Imported {
                    break;
                }
                assert!(began.elapsed() < StdDuration::from_secs(120), "no import");
                tokio::time::sleep(StdDuration::from_millis(500)).await;
            }
        }
        Persona::Expire | Persona::Fail => {
            // The poller every minute until the drop-off's follow-up is sent.
            for _ in 0..(6 * 60) {
                f.advance(Duration::minutes(1));
                let before = snapshot(&f);
                f.run_poller().await;
                let after = snapshot(&f);
                account(
                    &mut u,
                    "status-poller",
                    1.0,
                    false,
                    (&before, &after),
                    Some(idle),
                );
                if f.redirection(&id).await.unwrap().state == State::FollowUpSent {
                    break;
                }
            }
            assert_eq!(f.redirection(&id).await.unwrap().state, State::FollowUpSent);
        }
    }
    u
}

fn dollars(x: f64) -> String {
    if x >= 0.01 {
        format!("${x:.2}")
    } else {
        format!("${x:.4}")
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let readme = args.iter().any(|a| a == "--readme");
    let sign_ins: f64 = arg(&args, "--sign-ins").unwrap_or(10_000.0);
    let mix = [
        (
            Persona::Success,
            "completed (imported)",
            arg(&args, "--success").unwrap_or(60.0),
        ),
        (
            Persona::Expire,
            "drop-off: link expired",
            arg(&args, "--expire").unwrap_or(25.0),
        ),
        (
            Persona::Fail,
            "drop-off: failed at the bank",
            arg(&args, "--fail").unwrap_or(15.0),
        ),
    ];
    let import_polls: u32 = arg(&args, "--import-polls").unwrap_or(10);
    let counted = count_in_rehearsal(import_polls).await;
    let mut idle = idle_poller_run().await;
    idle.logs = counted.idle_poller_run;
    let mut per_persona = vec![];
    for (p, name, share) in mix {
        let mut u = persona(p, &idle, import_polls).await;
        let checks = u
            .kontomatik
            .get("redirection_status")
            .copied()
            .unwrap_or(0.0);
        u.logs = persona_logs(p, &counted, checks, u.http_requests);
        per_persona.push((name, share, u));
    }
    let cw = CloudWatchFixed::from_template(counted.series.len());
    // The fixed part of a month (30 days): a poller run every minute, and the event
    // source's long polls of the queue (5 pollers × one 20 s ReceiveMessage).
    let minutes = 30.0 * 24.0 * 60.0;
    let mut fixed = idle.scaled(minutes);
    fixed.requests.insert(
        "sqs:ReceiveMessage (event source, idle)".into(),
        5.0 * 3.0 * minutes,
    );

    let mut out = vec![];
    out.push(format!(
        "Requests per user (counted; an import takes {import_polls} command polls), and each invocation's billed time (modelled: {} plus {OWN_WORK_MS} ms of our own work):\n",
        LATENCY_MS
            .iter()
            .map(|(k, ms)| format!("{k} {ms} ms"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out.push("| per user | invocations | billed ms | DynamoDB requests | SQS | SES | EventBridge | Kontomatik calls | log events / KB |".into());
    out.push("|---|---|---:|---|---:|---:|---:|---|---:|".into());
    for (name, _, u) in &per_persona {
        let list = |m: &BTreeMap<String, f64>, prefix: &str| {
            m.iter()
                .filter(|(k, v)| k.starts_with(prefix) && **v != 0.0)
                .map(|(k, v)| format!("{} {v}", k.trim_start_matches(prefix)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let inv = u
            .invocations
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push(format!(
            "| {name} | {inv} | {:.0} | {} | {} | {} | {} | {} | {:.0} / {:.1} |",
            u.billed_ms.values().sum::<f64>(),
            list(&u.requests, "dynamodb:"),
            u.requests_of("sqs") + 0.0,
            u.requests_of("ses") + 0.0,
            u.requests_of("events") + 0.0,
            list(&u.kontomatik, ""),
            u.logs.events,
            u.logs.bytes / 1000.0,
        ));
    }
    out.push(String::new());
    let mut month = fixed.clone();
    let mut share_total = 0.0;
    for (_, share, u) in &per_persona {
        month.add(&u.scaled(sign_ins * share / 100.0));
        share_total += share;
    }
    assert!(
        (share_total - 100.0).abs() < 1e-6,
        "the mix must add up to 100 %"
    );
    let mut with_events: Vec<(String, f64)> = month
        .cost()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    // Logs are kept `LogRetentionDays` (30 by default): a month's worth stored at any time,
    // charged uncompressed (an upper bound: CloudWatch bills the compressed size).
    with_events.push((
        "CloudWatch Logs storage (30 days kept)".to_owned(),
        month.logs.bytes / GB * CW_LOGS_STORED_GB_MONTH,
    ));
    with_events.push((
        format!(
            "CloudWatch custom metrics ({} EMF series counted, {} from metric filters)",
            cw.series, cw.filter_metrics
        ),
        (cw.series + cw.filter_metrics) as f64 * CW_METRIC_MONTH,
    ));
    with_events.push((
        format!("CloudWatch dashboard ({})", cw.dashboards),
        cw.dashboards as f64 * CW_DASHBOARD_MONTH,
    ));
    with_events.push((
        format!("CloudWatch alarms ({})", cw.alarms),
        cw.alarms as f64 * CW_ALARM_MONTH,
    ));
    let events_cost = with_events
        .iter()
        .find(|(k, _)| *k == "EventBridge events")
        .map_or(0.0, |(_, v)| *v);
    let cloudwatch_fixed = (cw.series + cw.filter_metrics) as f64 * CW_METRIC_MONTH
        + cw.dashboards as f64 * CW_DASHBOARD_MONTH
        + cw.alarms as f64 * CW_ALARM_MONTH;
    let fixed_cost: f64 = fixed.cost().iter().map(|(_, v)| v).sum::<f64>() + cloudwatch_fixed;
    out.push(format!(
        "A month of {sign_ins:.0} sign-ins ({}), priced with {PRICES_AS_OF}:\n",
        per_persona
            .iter()
            .map(|(n, s, _)| format!("{s} % {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out.push("| item | per month |".into());
    out.push("|---|---:|".into());
    let mut total = 0.0;
    for (k, v) in &with_events {
        out.push(format!("| {k} | {} |", dollars(*v)));
        total += v;
    }
    out.push(format!("| **total** | **{}** |", dollars(total)));
    let nat_hours = HOURS_PER_MONTH * NAT_HOUR;
    let nat_gb = month.calls_through_nat() * NAT_BYTES_PER_CALL / GB;
    let nat_data = nat_gb * NAT_GB;
    out.push(format!(
        "| of which fixed (poller every minute, idle queue polls, metric series, dashboard, alarms) | {} |",
        dollars(fixed_cost)
    ));
    out.push(format!(
        "| per completed sign-in, all costs shared out | {} |",
        dollars(total / (sign_ins * per_persona[0].1 / 100.0))
    ));
    out.push(format!(
        "| `NetworkMode` new-vpc only: NAT gateway, {HOURS_PER_MONTH} h | {} |",
        dollars(nat_hours)
    ));
    out.push(format!(
        "| `NetworkMode` new-vpc only: NAT data processed ({nat_gb:.2} GB, modelled) | {} |",
        dollars(nat_data)
    ));
    out.push(format!(
        "| **total with `NetworkMode` new-vpc** | **{}** |",
        dollars(total + nat_hours + nat_data)
    ));
    let waf = WAF_WEB_ACL_MONTH + WAF_RULE_MONTH + month.http_requests * WAF_REQUEST;
    let cloudfront =
        (month.http_requests - CLOUDFRONT_FREE_REQUESTS).max(0.0) * CLOUDFRONT_HTTPS_REQUEST;
    out.push(format!(
        "| `EdgeWebAclArn` only: AWS WAF (web ACL, one rate rule, {:.0} requests) | {} |",
        month.http_requests,
        dollars(waf)
    ));
    out.push(format!(
        "| `EdgeWebAclArn` only: CloudFront requests (the first 10 million a month are free) | {} |",
        dollars(cloudfront)
    ));
    out.push(format!(
        "| **total with `EdgeWebAclArn`** | **{}** |",
        dollars(total + waf + cloudfront)
    ));
    out.push(String::new());
    out.push(format!(
        "Log volume per month: {:.0} MB ({:.0} events), the idle poller's runs included. The metric series the functions wrote in the rehearsal (each bills $0.30 a month when written in every hour): {}.",
        month.logs.bytes / 1e6,
        month.logs.events,
        counted
            .series
            .iter()
            .map(|s| format!("`{}`", s.trim_start_matches(&format!("{}/", signin_core::metrics::NAMESPACE))))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out.push(String::new());
    out.push(format!("EventBridge events are on only when `EventBusName` is set ({} of the total). Not included: KMS decrypts of the SSM secrets at cold starts, data transfer out to the internet, and Kontomatik's own fees.", dollars(events_cost)));
    let text = out.join("\n");
    println!("{text}");
    if readme {
        e2e_tests::write_bench_section(
            "cost",
            &format!(
                "`cargo run --release -p e2e-tests --example cost_model -- --readme`. Counted on {}.\n\n{text}",
                chrono::Utc::now().format("%Y-%m-%d")
            ),
        );
    }
}
