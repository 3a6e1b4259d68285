//! Benchmark: a burst of successful sign-ins, and how fast their imports finish. N users sign in
//! at once (sandbox: each import takes a set time at Kontomatik, optionally under a jobs quota);
//! each comes back through the callback, which queues its import; the import worker runs as
//! Lambda's SQS event source runs it — at most 5 invocations at once (the template's
//! `MaximumConcurrency`), each with a batch of up to 5 messages and the worker's 120 s timeout.
//! Time runs `--speed` times faster than real time, on one clock for us and the sandbox.
//!
//!   cargo run --release -p e2e-tests --example import_burst_bench -- [--users 1000]
//!       [--import-secs 30] [--quota N] [--latency-ms 300] [--speed 50] [--section NAME]
//!       [--only-quota] [--readme]
//!
//! Three ways of running the worker are compared on the same burst:
//! - a batch's jobs one after another, sleeping between command polls (the worker before);
//! - a batch's jobs at once, still sleeping between polls;
//! - a batch's jobs at once, each waiting between polls as a delayed message (the default);
//! - with `--quota`, also as the previous one, each import started only with a slot of the
//!   jobs quota (`KONTOMATIK_JOBS_QUOTA`); `--only-quota` runs just these two.
//!
//! Reported per way: Default Imports started in the first 2 minutes, the time until every
//! import ended, imported / failed, Lambda invocations, billed worker time per import (the sum
//! of the invocations' durations; 1 ms granularity), and the sandbox's counts (duplicate
//! Default Imports must be 0).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use e2e_tests::bench_arg as arg;
use e2e_tests::{client_for, fetch_request, API_KEY};
use futures::StreamExt;
use kontomatik_sandbox::{start_local, SandboxOptions, SimConfig, TimeSource, UserAction};
use signin_core::adapters::embedded::{EmbeddedQueue, EmbeddedStore, Outbox};
use signin_core::adapters::events::NoEvents;
use signin_core::config::{CommandWait, Settings};
use signin_core::domain::machine::State;
use signin_core::domain::Secret;
use signin_core::ports::{ImportQueueConsumer, Kontomatik, RedirectionStore};
use signin_core::usecases::JobOutcome;
use signin_core::{App, Clock, ScaledClock, ScaledPause};

const PUBLIC: &str = "https://signin.lender.example";
/// The template's worker: timeout, event source batch size and maximum concurrency.
const WORKER_TIMEOUT: i64 = 120;
const BATCH: usize = 5;
const INVOCATIONS_AT_ONCE: usize = 5;
const VISIBILITY: StdDuration = StdDuration::from_secs(720);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Way {
    Sequential,
    ConcurrentSleeping,
    ConcurrentDelayed,
    /// As above, each import started only with a slot of the jobs quota (`--quota`).
    AdmittedAtQuota,
}

impl Way {
    fn name(self) -> &'static str {
        match self {
            Way::Sequential => "jobs in turn, sleeping between polls (before)",
            Way::ConcurrentSleeping => "jobs at once, sleeping between polls",
            Way::ConcurrentDelayed => "jobs at once, waiting as delayed messages",
            Way::AdmittedAtQuota => {
                "as above, started only with a slot of the jobs quota (KONTOMATIK_JOBS_QUOTA)"
            }
        }
    }
}

struct Outcome {
    started_in_2_min: u64,
    all_ended_after: Option<Duration>,
    imported: usize,
    failed: usize,
    invocations: u64,
    billed: Duration,
    imports_started: u64,
    duplicates: u64,
    quota_refusals: u64,
}

#[allow(clippy::too_many_arguments)]
async fn burst(
    way: Way,
    users: usize,
    import_secs: i64,
    quota: Option<u32>,
    speed: f64,
    latency_ms: u64,
) -> Outcome {
    let clock = ScaledClock::new(speed);
    let clock_arc: Arc<dyn Clock> = Arc::new(clock.clone());
    let sandbox = start_local(SandboxOptions {
        api_key: API_KEY.into(),
        time: TimeSource::Scaled(clock.clone()),
        sim: SimConfig {
            import_time: Some(Duration::seconds(import_secs)),
            jobs_quota: quota,
            ..SimConfig::default()
        },
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let client: Arc<dyn Kontomatik> =
        Arc::new(client_for(&sandbox, API_KEY, StdDuration::from_secs(15)));
    let store = Arc::new(EmbeddedStore::new(clock_arc.clone()));
    let queue = Arc::new(EmbeddedQueue::new(clock_arc.clone(), 5));
    let mut settings = Settings {
        link_signing_key: Some(Secret::new("bench-link-signing-key-0123456789abcdef")),
        ..Settings::with_defaults(PUBLIC)
    };
    settings.command_wait = match way {
        Way::ConcurrentDelayed | Way::AdmittedAtQuota => CommandWait::DelayedMessage,
        _ => CommandWait::InInvocation,
    };
    if way == Way::AdmittedAtQuota {
        settings.jobs_quota = quota;
    }
    let app = App {
        store: store.clone(),
        queue: queue.clone(),
        mailer: Arc::new(Outbox::new(clock_arc.clone())),
        kontomatik: client.clone(),
        clock: clock_arc.clone(),
        pause: Arc::new(ScaledPause { factor: speed }),
        events: Arc::new(NoEvents),
        settings,
    };
    // The burst: every user signs in at the bank and comes back.
    let ids: Vec<_> = futures::stream::iter(0..users)
        .map(|i| {
            let client = client.clone();
            let sandbox = &sandbox;
            let app = &app;
            async move {
                let link = client
                    .fetch_redirection(&fetch_request(&format!("burst-owner-{i}")))
                    .await
                    .unwrap();
                let id = link.redirection_id.clone();
                let r = signin_core::domain::machine::Redirection::new(
                    signin_core::domain::machine::NewRedirection {
                        id: id.clone(),
                        owner: fetch_request(&format!("burst-owner-{i}")).owner,
                        email: signin_core::domain::Email::parse(&format!("user{i}@users.example"))
                            .unwrap(),
                        language: signin_core::domain::Language::FIRST,
                        country: signin_core::domain::Country::FIRST,
                        access_mode: signin_core::domain::AccessMode::Single,
                        link: link.url,
                        first_poll_at: app.now() + Duration::minutes(5),
                    },
                    app.now(),
                );
                app.store.create_redirection(&r).await.unwrap();
                sandbox
                    .handle
                    .act(id.as_str(), UserAction::Succeed, None)
                    .unwrap();
                app.callback(Some(id.as_str())).await.unwrap();
                id
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    // Kontomatik's answers take their (simulated) time from here on.
    sandbox.handle.set_faults(kontomatik_sandbox::FaultConfig {
        latency_ms: (latency_ms as f64 / speed).round() as u64,
        ..Default::default()
    });
    let t0 = clock.now();
    let stats = Arc::new(std::sync::Mutex::new((0u64, Duration::zero())));
    let started_in_2_min = Arc::new(std::sync::Mutex::new(None::<u64>));
    let ended = |r: &signin_core::domain::machine::Redirection| {
        matches!(r.state, State::Imported | State::ImportFailed)
    };
    // Lambda's event source: up to 5 invocations at once, each a batch of up to 5; a slot
    // with nothing visible on the queue long-polls (here: looks again 5 ms later, a quarter of a
    // simulated second at 50×).
    let limit = t0 + Duration::hours(3);
    let finished = std::sync::atomic::AtomicBool::new(false);
    let monitor = async {
        let mut running = ids.clone();
        let outcome = loop {
            if clock.now() >= t0 + Duration::minutes(2)
                && started_in_2_min.lock().unwrap().is_none()
            {
                *started_in_2_min.lock().unwrap() = Some(sandbox.handle.counters().imports_started);
            }
            // Only the imports not seen ended yet are read again (reading all 1 000 every tick
            // took CPU from the run it measures).
            let mut still_running = Vec::with_capacity(running.len());
            for id in running {
                if !store
                    .get_redirection(&id)
                    .await
                    .unwrap()
                    .is_some_and(|r| ended(&r))
                {
                    still_running.push(id);
                }
            }
            running = still_running;
            if running.is_empty() {
                break Some(clock.now() - t0);
            }
            if clock.now() >= limit {
                break None;
            }
            // Every simulated second at 50× (the end time is read to the second).
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        };
        finished.store(true, std::sync::atomic::Ordering::SeqCst);
        outcome
    };
    let app = &app;
    let queue = &queue;
    let stats = &stats;
    let finished = &finished;
    let slots = (0..INVOCATIONS_AT_ONCE).map(|_| async move {
        while !finished.load(std::sync::atomic::Ordering::SeqCst) {
            let batch = queue.receive(BATCH, VISIBILITY).await.unwrap();
            if batch.is_empty() {
                tokio::time::sleep(StdDuration::from_millis(5)).await;
                continue;
            }
            let started: DateTime<Utc> = app.now();
            let deadline = started + Duration::seconds(WORKER_TIMEOUT);
            let run = |d: signin_core::ports::ReceivedJob| async move {
                match app.run_import(&d.job, deadline).await {
                    Ok(JobOutcome::RetryLater(_)) | Err(_) => {}
                    Ok(_) => queue.ack(&d.receipt).await.unwrap(),
                }
            };
            match way {
                Way::Sequential => {
                    for d in batch {
                        run(d).await;
                    }
                }
                _ => {
                    futures::future::join_all(batch.into_iter().map(run)).await;
                }
            }
            let took = app.now() - started;
            let billed = Duration::milliseconds(took.num_milliseconds().max(1));
            let mut s = stats.lock().unwrap();
            s.0 += 1;
            s.1 += billed;
        }
    });
    let (all_ended_after, _) = futures::join!(monitor, futures::future::join_all(slots));
    let mut imported = 0;
    let mut failed = 0;
    for id in &ids {
        match store.get_redirection(id).await.unwrap().map(|r| r.state) {
            Some(State::Imported) => imported += 1,
            Some(State::ImportFailed) => failed += 1,
            _ => {}
        }
    }
    let counters = sandbox.handle.counters();
    let (invocations, billed) = *stats.lock().unwrap();
    let started_in_2_min = started_in_2_min
        .lock()
        .unwrap()
        .unwrap_or(counters.imports_started);
    sandbox.stop().await;
    Outcome {
        started_in_2_min,
        all_ended_after,
        imported,
        failed,
        invocations,
        billed,
        imports_started: counters.imports_started,
        duplicates: counters.duplicate_imports,
        quota_refusals: counters.jobs_quota_refusals,
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let readme = args.iter().any(|a| a == "--readme");
    let users: usize = arg(&args, "--users").unwrap_or(1000);
    let import_secs: i64 = arg(&args, "--import-secs").unwrap_or(30);
    let quota: Option<u32> = arg(&args, "--quota");
    let speed: f64 = arg(&args, "--speed").unwrap_or(50.0);
    // Each Kontomatik answer, in simulated milliseconds.
    let latency_ms: u64 = arg(&args, "--latency-ms").unwrap_or(300);
    let mut rows = vec![
        format!(
            "{users} successful sign-ins at once; each import takes {import_secs} s at Kontomatik{}, each answer {latency_ms} ms; the worker as the template runs it (5 invocations at once, batches of 5, 120 s timeout); simulated time at {speed}× real time.\n",
            quota.map_or(String::new(), |q| format!(", at most {q} running at once (jobs quota)"))
        ),
        "| worker | Default Imports started in the first 2 min | all ended after | × the quota's floor | imported / failed | invocations | billed worker time per import | duplicate Default Imports | quota refusals (per import) |".to_owned(),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|".to_owned(),
    ];
    let mut ways = vec![
        Way::Sequential,
        Way::ConcurrentSleeping,
        Way::ConcurrentDelayed,
    ];
    if quota.is_some() {
        ways.push(Way::AdmittedAtQuota);
    }
    // `--only-quota`: the last two side by side (today's default, and with admission).
    if args.iter().any(|a| a == "--only-quota") {
        ways.retain(|w| matches!(w, Way::ConcurrentDelayed | Way::AdmittedAtQuota));
    }
    for way in ways {
        let o = burst(way, users, import_secs, quota, speed, latency_ms).await;
        assert_eq!(o.duplicates, 0, "a second Default Import for a session");
        assert!(o.imports_started <= users as u64);
        // The floor under a quota: as many waves of `quota` imports as it takes, each as long
        // as one import.
        let floor_min =
            quota.map(|q| users.div_ceil(q as usize) as f64 * import_secs as f64 / 60.0);
        let ended_min = o
            .all_ended_after
            .map(|d| d.num_milliseconds() as f64 / 60_000.0);
        rows.push(format!(
            "| {} | {} | {} | {} | {} / {} | {} | {:.2} s | {} | {} ({:.1} %) |",
            way.name(),
            o.started_in_2_min,
            ended_min.map_or("not within 3 h".to_owned(), |m| format!("{m:.1} min")),
            match (ended_min, floor_min) {
                (Some(m), Some(f)) => format!("{:.2}× ({f:.1} min)", m / f),
                _ => "–".to_owned(),
            },
            o.imported,
            o.failed,
            o.invocations,
            o.billed.num_milliseconds() as f64 / 1000.0 / users as f64,
            o.duplicates,
            o.quota_refusals,
            o.quota_refusals as f64 * 100.0 / users as f64,
        ));
    }
    let text = rows.join("\n");
    println!("{text}");
    if readme {
        e2e_tests::write_bench_section(
            &arg::<String>(&args, "--section").unwrap_or_else(|| "import-burst".to_owned()),
            &format!(
                "`cargo run --release -p e2e-tests --example import_burst_bench -- {}`. {}\n\n{text}",
                args.join(" "),
                e2e_tests::machine_line()
            ),
        );
    }
}
