//! Benchmark: one status poller at N redirections due at once. The real `App::poll_due` (the
//! status-poller's core, with the function's concurrency and the production call budget) runs
//! against the Kontomatik sandbox over HTTP, which holds every answer for a set latency, on the
//! embedded store and on DynamoDB (moto). Time is real (a clock at real speed that the bench
//! moves only between runs, as the one-minute schedule would), so each run stops at its 55 s
//! deadline and leaves the rest to the next run.
//!
//!   cargo run --release -p e2e-tests --example poller_bench -- [--due 10000] [--latency-ms 50]
//!       [--concurrency 8,32] [--store embedded|moto|both] [--fan-out] [--runs N]
//!       [--section NAME] [--readme]
//!
//! `--fan-out` runs, each minute, one poller per poll-index shard at once (the template's
//! `PollerFanOut=per-shard`); `--runs` caps the runs (a saturation measurement).
//!
//! Reports, per store: runs needed until every due id was checked once, each run's wall time and
//! checks (and their spread over the poll-index shards), the most status checks in flight at
//! once, the floor `due × latency / concurrency`, the 429s the sandbox answered, and (moto) the
//! DynamoDB requests per due item, counted by an SDK interceptor.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use async_trait::async_trait;
use chrono::{Duration, NaiveDate};
use e2e_tests::bench_arg as arg;
use e2e_tests::flow::Recorder;
use e2e_tests::{client_for, fetch_request, API_KEY};
use futures::StreamExt;
use kontomatik_sandbox::{start_local, FaultConfig, SandboxOptions, TimeSource};
use signin_core::adapters::embedded::{EmbeddedQueue, EmbeddedStore, Outbox};
use signin_core::adapters::events::NoEvents;
use signin_core::config::Settings;
use signin_core::domain::import::ImportSink;
use signin_core::domain::machine::{NewRedirection, Redirection};
use signin_core::domain::{
    CommandId, Email, OwnerExternalId, RedirectionId, RedirectionStatus, SessionData,
};
use signin_core::ports::{
    poll_shard, CommandStatus, FetchRedirection, Kontomatik, KontomatikError, RedirectionLink,
    SignOut, Store, POLL_SHARDS,
};
use signin_core::{App, Clock, ScaledClock, TokioPause};

const PUBLIC: &str = "https://signin.lender.example";
/// The status-poller's Lambda timeout (template.yaml).
const LAMBDA_TIMEOUT: StdDuration = StdDuration::from_secs(55);

/// The Kontomatik client, counting the status checks in flight.
struct InFlight {
    inner: Arc<dyn Kontomatik>,
    now: AtomicUsize,
    max: AtomicUsize,
}

#[async_trait]
impl Kontomatik for InFlight {
    async fn fetch_redirection(
        &self,
        req: &FetchRedirection,
    ) -> Result<RedirectionLink, KontomatikError> {
        self.inner.fetch_redirection(req).await
    }
    async fn redirection_status(
        &self,
        id: &RedirectionId,
    ) -> Result<RedirectionStatus, KontomatikError> {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
        let r = self.inner.redirection_status(id).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        r
    }
    async fn default_import(
        &self,
        session: &SessionData,
        since: NaiveDate,
    ) -> Result<CommandId, KontomatikError> {
        self.inner.default_import(session, since).await
    }
    async fn command_status(
        &self,
        command: &CommandId,
        sink: &mut dyn ImportSink,
    ) -> Result<CommandStatus, KontomatikError> {
        self.inner.command_status(command, sink).await
    }
    async fn command_status_within(
        &self,
        command: &CommandId,
        sink: &mut dyn ImportSink,
        limit: StdDuration,
    ) -> Result<CommandStatus, KontomatikError> {
        self.inner.command_status_within(command, sink, limit).await
    }
    async fn sign_out(&self, session: &SessionData) -> Result<SignOut, KontomatikError> {
        self.inner.sign_out(session).await
    }
    async fn owner_data(
        &self,
        owner: &OwnerExternalId,
        sink: &mut dyn ImportSink,
    ) -> Result<bool, KontomatikError> {
        self.inner.owner_data(owner, sink).await
    }
    async fn delete_owner_data(&self, owner: &OwnerExternalId) -> Result<bool, KontomatikError> {
        self.inner.delete_owner_data(owner).await
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum StoreKind {
    Embedded,
    Moto,
}

impl StoreKind {
    fn name(self) -> &'static str {
        match self {
            StoreKind::Embedded => "embedded",
            StoreKind::Moto => "DynamoDB (moto)",
        }
    }
}

struct Run {
    wall: StdDuration,
    checked: usize,
    out_of_time: bool,
    per_shard: [usize; POLL_SHARDS as usize],
}

struct Outcome {
    kind: StoreKind,
    due: usize,
    runs: Vec<Run>,
    max_in_flight: usize,
    rate_limited: u64,
    /// Every due id was checked before the runs were capped.
    all_checked: bool,
    /// DynamoDB requests during the runs, by operation (moto only).
    requests: BTreeMap<String, u64>,
}

async fn scenario(
    kind: StoreKind,
    due: usize,
    latency_ms: u64,
    concurrency: usize,
    fan_out: bool,
    max_runs: usize,
) -> Outcome {
    let clock = ScaledClock::new(1.0);
    let clock_arc: Arc<dyn Clock> = Arc::new(clock.clone());
    let sandbox = start_local(SandboxOptions {
        api_key: API_KEY.into(),
        time: TimeSource::Scaled(clock.clone()),
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let recorder = Recorder::default();
    let store: Arc<dyn Store> = match kind {
        StoreKind::Embedded => Arc::new(EmbeddedStore::new(clock_arc.clone())),
        StoreKind::Moto => {
            let aws = signin_aws::testing::sdk_config().await;
            let dynamo = aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&aws)
                    .interceptor(recorder.clone())
                    .build(),
            );
            let table = signin_core::contract::unique("pollbench");
            signin_aws::schema::create_table(&dynamo, &table)
                .await
                .unwrap();
            Arc::new(signin_aws::DynamoStore::new(
                dynamo,
                &table,
                clock_arc.clone(),
            ))
        }
    };
    // The production client settings (timeouts) against the sandbox.
    let client: Arc<dyn Kontomatik> =
        Arc::new(client_for(&sandbox, API_KEY, StdDuration::from_secs(15)));
    let kontomatik = Arc::new(InFlight {
        inner: client.clone(),
        now: AtomicUsize::new(0),
        max: AtomicUsize::new(0),
    });
    let settings = Settings::with_defaults(PUBLIC);
    let app = App {
        store: store.clone(),
        queue: Arc::new(EmbeddedQueue::new(clock_arc.clone(), 5)),
        mailer: Arc::new(Outbox::new(clock_arc.clone())),
        kontomatik: kontomatik.clone(),
        clock: clock_arc.clone(),
        pause: Arc::new(TokioPause),
        events: Arc::new(NoEvents),
        settings,
    };

    // N users who opened their link and never came back: real ids from the sandbox.
    let created_at = clock.now();
    let first_poll_at = app.settings.pacing.first_poll_at(created_at);
    futures::stream::iter(0..due)
        .map(|i| {
            let client = client.clone();
            let store = store.clone();
            async move {
                let req = fetch_request(&format!("bench-owner-{i}"));
                let link = client.fetch_redirection(&req).await.unwrap();
                let r = Redirection::new(
                    NewRedirection {
                        id: link.redirection_id,
                        owner: req.owner,
                        email: Email::parse(&format!("user{i}@users.example")).unwrap(),
                        language: req.language,
                        country: req.country,
                        access_mode: req.access_mode,
                        link: link.url,
                        first_poll_at,
                    },
                    created_at,
                );
                store.create_redirection(&r).await.unwrap();
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    let shard_of: BTreeMap<String, u8> = sandbox
        .handle
        .redirections()
        .into_iter()
        .map(|r| {
            let shard = poll_shard(&RedirectionId::parse(&r.id).unwrap());
            (r.id, shard)
        })
        .collect();
    recorder.reset();
    // Every one due now; Kontomatik far away from here on.
    clock.advance(Duration::minutes(6));
    sandbox.handle.set_faults(FaultConfig {
        latency_ms,
        ..FaultConfig::default()
    });

    let mut runs = vec![];
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    loop {
        let started = Instant::now();
        let deadline = app.now() + Duration::from_std(LAMBDA_TIMEOUT).unwrap();
        let report = if fan_out {
            // One invocation per shard, all at once (PollerFanOut=per-shard).
            let runs = (0..POLL_SHARDS).map(|shard| {
                let app = &app;
                async move {
                    app.poll_shards(deadline, concurrency, &[shard])
                        .await
                        .unwrap()
                }
            });
            let reports = futures::future::join_all(runs).await;
            signin_core::usecases::PollReport {
                checked: reports.iter().map(|r| r.checked).sum(),
                out_of_time: reports.iter().any(|r| r.out_of_time),
                ..Default::default()
            }
        } else {
            app.poll_due(deadline, concurrency).await.unwrap()
        };
        let wall = started.elapsed();
        let calls = sandbox.handle.counters().status_calls;
        let mut per_shard = [0usize; POLL_SHARDS as usize];
        for (id, n) in &calls {
            if *n > seen.get(id).copied().unwrap_or(0) {
                per_shard[usize::from(shard_of[id])] += 1;
            }
        }
        seen = calls;
        runs.push(Run {
            wall,
            checked: report.checked,
            out_of_time: report.out_of_time,
            per_shard,
        });
        if seen.len() >= due || runs.len() >= max_runs {
            break;
        }
        // The next scheduled run, a minute after this one started.
        if let Some(rest) = StdDuration::from_secs(60).checked_sub(wall) {
            clock.advance(Duration::from_std(rest).unwrap());
        }
    }
    let counters = sandbox.handle.counters();
    sandbox.stop().await;
    Outcome {
        kind,
        due,
        runs,
        max_in_flight: kontomatik.max.load(Ordering::SeqCst),
        all_checked: seen.len() >= due,
        rate_limited: counters.rate_limited,
        requests: recorder.counts(),
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let readme = args.iter().any(|a| a == "--readme");
    let due: usize = arg(&args, "--due").unwrap_or(10_000);
    let latency_ms: u64 = arg(&args, "--latency-ms").unwrap_or(50);
    // Each store at each concurrency (comma-separated); by default 8 (the function before)
    // and the function's own.
    let concurrencies: Vec<usize> = arg::<String>(&args, "--concurrency")
        .map(|list| list.split(',').map(|c| c.trim().parse().unwrap()).collect())
        .unwrap_or_else(|| vec![8, signin_runtime::poller::CONCURRENCY]);
    // One run per minute of all shards, or (--fan-out) one run per shard per minute.
    let fan_out = args.iter().any(|a| a == "--fan-out");
    let max_runs: usize = arg(&args, "--runs").unwrap_or(20);
    let kinds = match arg::<String>(&args, "--store").as_deref() {
        Some("embedded") => vec![StoreKind::Embedded],
        Some("moto") => vec![StoreKind::Moto],
        _ => vec![StoreKind::Embedded, StoreKind::Moto],
    };
    let mut out = vec![format!(
        "{due} redirections due at once; Kontomatik answers after {latency_ms} ms; each run has the Lambda's {} s and starts no check in its last 20 s (the call budget); the floor is `due × latency / concurrency`.\n",
        LAMBDA_TIMEOUT.as_secs()
    )];
    if fan_out {
        out.push("Fan-out: each minute, one invocation per shard (4), all at once; `checks at once` is per invocation.\n".into());
    }
    out.push("| store | checks at once | floor | runs | wall per run | checks per run | shards 0/1/2/3 per run | all checked after | max in flight | 429s |".into());
    out.push("|---|---:|---:|---:|---|---|---|---:|---:|---:|".into());
    let mut per_item = vec![];
    for (kind, concurrency) in kinds
        .iter()
        .flat_map(|k| concurrencies.iter().map(move |c| (*k, *c)))
    {
        let at_once = if fan_out {
            concurrency * usize::from(POLL_SHARDS)
        } else {
            concurrency
        };
        let floor = due as f64 * latency_ms as f64 / 1000.0 / at_once as f64;
        let o = scenario(kind, due, latency_ms, concurrency, fan_out, max_runs).await;
        let walls: Vec<String> = o
            .runs
            .iter()
            .map(|r| {
                format!(
                    "{:.1} s{}",
                    r.wall.as_secs_f64(),
                    if r.out_of_time { "*" } else { "" }
                )
            })
            .collect();
        let checks: Vec<String> = o.runs.iter().map(|r| r.checked.to_string()).collect();
        let shards: Vec<String> = o
            .runs
            .iter()
            .map(|r| {
                r.per_shard
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .collect();
        let total: f64 = o.runs.iter().map(|r| r.wall.as_secs_f64()).sum();
        let total = if o.all_checked {
            format!("{total:.1} s")
        } else {
            format!("not all in {} run(s)", o.runs.len())
        };
        if let Some(first) = o.runs.first().filter(|_| !o.all_checked) {
            // Saturated: what one minute's runs can do is the capacity.
            per_item.push(format!(
                "{} at {concurrency} at once{}: {} checks in a minute's run → at 5–10 min pacing (7.5 min on average per id, a link's first 90 minutes; hourly after that) it keeps up with about {} pending ids in their first 90 minutes.",
                o.kind.name(),
                if fan_out { " per shard, one invocation per shard" } else { "" },
                first.checked,
                first.checked * 15 / 2
            ));
        }
        out.push(format!(
            "| {} | {concurrency} | {floor:.1} s | {} | {} | {} | {} | {total} | {} | {} |",
            o.kind.name(),
            o.runs.len(),
            walls.join(", "),
            checks.join(", "),
            shards.join(", "),
            o.max_in_flight,
            o.rate_limited,
        ));
        if !o.requests.is_empty() {
            let line: Vec<String> = o
                .requests
                .iter()
                .map(|(op, n)| format!("{op} {:.2}", *n as f64 / o.due as f64))
                .collect();
            let all: u64 = o.requests.values().sum();
            per_item.push(format!(
                "DynamoDB requests per due item ({}, {concurrency} at once): {} — {:.2} in all.",
                o.kind.name(),
                line.join(", "),
                all as f64 / o.due as f64
            ));
        }
    }
    out.push(String::new());
    out.push("`*` the run stopped at its deadline and left the rest to the next run.".into());
    out.extend(per_item);
    let text = out.join("\n");
    println!("{text}");
    if readme {
        e2e_tests::write_bench_section(
            &arg::<String>(&args, "--section")
                .unwrap_or_else(|| if fan_out { "poller-fan-out" } else { "poller" }.to_owned()),
            &format!(
                "`cargo run --release -p e2e-tests --example poller_bench -- {}`. {}\n\n{text}",
                args.join(" "),
                e2e_tests::machine_line()
            ),
        );
    }
}
