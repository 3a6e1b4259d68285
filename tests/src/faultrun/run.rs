//! One seeded run: the sandbox with its faults, the app on the faulty adapters, the simulated
//! users, poller and worker minute by minute for the run's hours; then the promises checked.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::Duration;
use kontomatik::{ClientConfig, KontomatikClient};
use kontomatik_sandbox::{start_local, FaultConfig, SandboxOptions, TimeSource, UserAction};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use signin_core::adapters::embedded::{EmbeddedQueue, EmbeddedStore, Outbox};
use signin_core::config::Settings;
use signin_core::domain::events::DetailType;
use signin_core::domain::links::Form;
use signin_core::domain::machine::{Redirection, State};
use signin_core::domain::{RedirectionId, Secret, Timestamp};
use signin_core::ports::{FunnelStep, ImportJob, ImportQueue, ImportQueueConsumer, Store};
use signin_core::usecases::{JobOutcome, Requester, StartForm};
use signin_core::{App, Clock, SimClock};

use super::adapters::{
    one_write_request_at_a_time, ClockPause, FaultyMailer, FaultyStore, KillSwitch,
    KillableKontomatik, KILL_POINTS,
};
use super::{Invocation, Persona, RunConfig, RunTotals, StoreKind, Tally, User, PERSONAS, PUBLIC};
use crate::API_KEY;

/// Runs one seed; the totals carry every broken promise in `violations`.
pub async fn run(cfg: RunConfig) -> RunTotals {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let clock = SimClock::at_default_start();
    let f = cfg.faults;
    let sandbox = start_local(SandboxOptions {
        api_key: API_KEY.into(),
        admin: true,
        seed: cfg.seed,
        time: TimeSource::Sim(clock.clone()),
        faults: FaultConfig {
            server_error_rate: f.server_error,
            slow_rate: f.slow,
            slow_ms: 200,
            drop_rate: f.dropped,
            rate_limit_rate: f.rate_limit,
            lost_reply_rate: f.lost_reply,
            retry_after_secs: 0,
            latency_ms: 0,
            next: vec![],
        },
        sim: kontomatik_sandbox::SimConfig {
            jobs_quota: cfg.jobs_quota,
            ..kontomatik_sandbox::SimConfig::default()
        },
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let mut client = ClientConfig::new(sandbox.base_url.clone(), Secret::new(API_KEY));
    client.timeout = StdDuration::from_millis(100);
    client.connect_timeout = StdDuration::from_millis(100);
    client.result_timeout = StdDuration::from_secs(5);
    let kill = Arc::new(KillSwitch::default());
    let clock_arc: Arc<dyn Clock> = Arc::new(clock.clone());
    let (store, dynamo): (Arc<dyn Store>, _) = match cfg.store {
        StoreKind::Embedded => (Arc::new(EmbeddedStore::new(clock_arc.clone())), None),
        StoreKind::Moto => {
            let aws = signin_aws::testing::sdk_config()
                .await
                .into_builder()
                .http_client(one_write_request_at_a_time())
                .build();
            let client = aws_sdk_dynamodb::Client::new(&aws);
            let table = signin_core::contract::unique("faultrun");
            signin_aws::schema::create_table(&client, &table)
                .await
                .unwrap();
            let dynamo = Arc::new(signin_aws::DynamoStore::new(
                client.clone(),
                &table,
                clock_arc.clone(),
            ));
            (dynamo.clone() as Arc<dyn Store>, Some((dynamo, client)))
        }
    };
    let faulty = Arc::new(FaultyStore {
        inner: store.clone(),
        kill: kill.clone(),
        unreadable: Mutex::new(HashSet::new()),
    });
    let queue = Arc::new(EmbeddedQueue::new(clock_arc.clone(), 5));
    let outbox = Arc::new(Outbox::new(clock_arc.clone()));
    let mailer = Arc::new(FaultyMailer {
        inner: outbox.clone(),
        fail_to: Mutex::new(None),
        failed: Mutex::new(0),
    });
    let events = Arc::new(signin_core::adapters::events::EventLog::default());
    let mut settings = Settings {
        link_signing_key: Some(Secret::new("fault-run-link-signing-key-0123456789")),
        ..Settings::with_defaults(PUBLIC)
    };
    settings
        .link_origins
        .allow_loopback_http(sandbox.base_url.as_str())
        .unwrap();
    settings.jobs_quota = cfg.jobs_quota;
    let started_at = clock.now();
    let app = App {
        store: faulty.clone(),
        queue: queue.clone(),
        mailer: mailer.clone(),
        kontomatik: Arc::new(KillableKontomatik {
            inner: KontomatikClient::new(client).unwrap(),
            kill: kill.clone(),
        }),
        clock: clock_arc.clone(),
        pause: Arc::new(ClockPause(clock.clone())),
        events: events.clone(),
        settings,
    };

    let mut totals = RunTotals {
        runs: 1,
        users: cfg.users as u64,
        ..RunTotals::default()
    };
    let faults = Tally::default();
    // What the users were shown when they came back.
    let pages = Tally::default();
    let mut users: Vec<User> = (0..cfg.users)
        .map(|i| {
            let persona = PERSONAS[rng.gen_range(0..PERSONAS.len())];
            let start_minute = rng.gen_range(0..120);
            let act_minute = start_minute
                + match persona {
                    Persona::FinishFast | Persona::ReturnTwice | Persona::FailAtBank => {
                        rng.gen_range(1..10)
                    }
                    Persona::FinishLateNeverReturn => rng.gen_range(10..55),
                    Persona::ReturnAfterExpiry => rng.gen_range(61..90),
                    Persona::WalkAway => 0,
                };
            User {
                persona,
                email: format!("user{i}.s{}@users.faultrun.example", cfg.seed),
                bank: match rng.gen_range(0..100) {
                    0..10 => "FlakyBank",
                    10..13 => "StuckBank",
                    _ => "DemoBank",
                },
                start_minute,
                act_minute,
                id: None,
                succeeded_at_bank: false,
            }
        })
        .collect();
    for u in &users {
        *totals
            .personas
            .entry(format!("{:?}", u.persona))
            .or_default() += 1;
    }

    // The truly poison messages: jobs whose item no version of this code can read, put on the
    // queue in the first two hours.
    let poison: Vec<(i64, RedirectionId)> = (0..f.poison_messages)
        .map(|n| {
            let id = RedirectionId::parse(&format!("poison-s{}-{n}", cfg.seed)).unwrap();
            (rng.gen_range(0..120), id)
        })
        .collect();
    // On DynamoDB the item is really there and really unreadable; embedded, the store says so.
    for (_, id) in &poison {
        match &dynamo {
            Some((d, _)) => d.put_unreadable_redirection(id).await.unwrap(),
            None => {
                faulty.unreadable.lock().unwrap().insert(id.clone());
            }
        }
    }
    totals.poison_messages = poison.len() as u64;

    let start = clock.now();
    // What each redirection looked like last before its TTL removed it: read back in the last
    // minutes of its 24 h (and once more at the end for the youngest).
    let mut last_seen: HashMap<RedirectionId, Redirection> = HashMap::new();
    let mut forgotten_at: Vec<(RedirectionId, Timestamp)> = vec![];
    let mut all_ids: Vec<RedirectionId> = vec![];
    for minute in 0..cfg.hours * 60 {
        let target = start + Duration::minutes(minute);
        if clock.now() < target {
            clock.set(target);
        }
        for (_, id) in poison.iter().filter(|(at, _)| *at == minute) {
            let job = ImportJob {
                redirection_id: id.clone(),
                continuation: 0,
            };
            queue.enqueue(&job, StdDuration::ZERO).await.unwrap();
            faults.add("poison message");
        }
        // Our side's draws for this minute, made before anything runs, so that they do not
        // depend on how the users, the poller and the worker interleave.
        let overlapping = rng.gen_bool(f.overlapping_poller);
        // The event source mapping: every visible job, one invocation each.
        let invocations: Vec<Invocation> = queue
            .receive(10, StdDuration::from_secs(720))
            .await
            .unwrap()
            .into_iter()
            .map(|delivery| {
                let mail_fails = rng.gen_bool(f.mail_failure).then(|| {
                    users
                        .iter()
                        .find(|u| u.id.as_ref() == Some(&delivery.job.redirection_id))
                        .map(|u| u.email.clone())
                });
                let killed_at = rng
                    .gen_bool(f.worker_killed)
                    .then(|| KILL_POINTS[rng.gen_range(0..KILL_POINTS.len())]);
                let duplicate = rng.gen_bool(f.duplicate_delivery);
                Invocation {
                    delivery,
                    mail_fails,
                    killed_at,
                    duplicate,
                }
            })
            .collect();
        // The users' steps, the schedule's poller run and the worker's invocations, at the
        // same time (as they are in production: a user may come back while the poller checks
        // the same id and a worker imports another).
        let users_step = async {
            for u in users.iter_mut() {
                if u.start_minute == minute {
                    let form = StartForm {
                        email: Some(u.email.clone()),
                        name: Some("Fault Run".into()),
                        follow_up_consent: Some("yes".into()),
                        language: Some("en".into()),
                        country: Some("pl".into()),
                        delivery: None,
                        form_token: app.form_token(Form::Start, "").ok(),
                    };
                    // Each user from an address of their own (the abuse limit is not under test).
                    let from = Requester {
                        client: Some(format!("198.51.100.{}", all_ids.len() % 250)),
                        form_binding: String::new(),
                        applicant: None,
                    };
                    // A failed start (Kontomatik down) is retried by the user a minute later.
                    match app.start_sign_in(&form, &from).await {
                        Ok(started) => {
                            let r = &started.redirection;
                            u.id = Some(r.id.clone());
                            all_ids.push(r.id.clone());
                            forgotten_at.push((r.id.clone(), r.forgotten_at()));
                        }
                        Err(_) => {
                            u.start_minute += 1;
                            u.act_minute += 1;
                        }
                    }
                }
                let Some(id) = u.id.clone() else { continue };
                if u.act_minute != minute || u.persona == Persona::WalkAway {
                    continue;
                }
                let action = match u.persona {
                    Persona::FailAtBank => UserAction::FailLogin,
                    _ => UserAction::Succeed,
                };
                let acted = sandbox.handle.act(id.as_str(), action, Some(u.bank));
                u.succeeded_at_bank =
                    matches!(acted, Ok(kontomatik_sandbox::sim::Acted::Done { .. }))
                        && action == UserAction::Succeed;
                let returns = match u.persona {
                    Persona::FinishFast | Persona::FailAtBank | Persona::ReturnAfterExpiry => 1,
                    Persona::ReturnTwice => 2,
                    _ => 0,
                };
                for _ in 0..returns {
                    let page = match app.callback(Some(id.as_str())).await {
                        Ok(seen) => format!("{:?}", seen.view),
                        Err(e) => format!("error: {e}"),
                    };
                    let page = page.split('(').next().unwrap_or_default().to_owned();
                    let who = if u.succeeded_at_bank {
                        "after a bank success"
                    } else {
                        "otherwise"
                    };
                    pages.add(&format!("{page} ({who})"));
                }
            }
        };
        let poller_step = async {
            let deadline = clock.now() + Duration::seconds(55);
            if overlapping {
                faults.add("overlapping poller run");
                let (a, b) = tokio::join!(app.poll_due(deadline, 8), app.poll_due(deadline, 8));
                a.unwrap();
                b.unwrap();
            } else {
                app.poll_due(deadline, 8).await.unwrap();
            }
        };
        let worker_step = async {
            for inv in invocations {
                let deadline = clock.now() + Duration::seconds(120);
                if let Some(to) = inv.mail_fails {
                    *mailer.fail_to.lock().unwrap() = to;
                }
                *kill.armed.lock().unwrap() = inv.killed_at;
                let job = inv.delivery.job.clone();
                let invocation = async {
                    if inv.duplicate {
                        let (a, b) = tokio::join!(
                            app.run_import(&job, deadline),
                            app.run_import(&job, deadline)
                        );
                        (a, Some(b))
                    } else {
                        (app.run_import(&job, deadline).await, None)
                    }
                };
                let outcome = tokio::select! {
                    done = invocation => Some(done),
                    _ = kill.fired.notified() => None,
                };
                // Disarmed: a kill armed for a point this job never reached does not carry over.
                kill.armed.lock().unwrap().take();
                // A mail failure belongs to this invocation only.
                mailer.fail_to.lock().unwrap().take();
                match outcome {
                    None => {
                        // Killed: the message stays for redelivery after the visibility timeout.
                        let point = kill.fired_at.lock().unwrap().take();
                        faults.add(&format!("worker killed {point:?}"));
                    }
                    Some((a, _)) => {
                        if inv.duplicate {
                            faults.add("duplicate delivery");
                        }
                        if !matches!(a, Ok(JobOutcome::RetryLater(_)) | Err(_)) {
                            queue.ack(&inv.delivery.receipt).await.unwrap();
                        }
                    }
                }
            }
        };
        tokio::join!(users_step, poller_step, worker_step);
        let now = clock.now();
        for (id, at) in &forgotten_at {
            if *at > now && *at - now <= Duration::minutes(5) {
                if let Some(r) = store.get_redirection(id).await.unwrap() {
                    last_seen.insert(id.clone(), r);
                }
            }
        }
    }
    let now = clock.now();
    for (id, at) in &forgotten_at {
        if *at > now {
            if let Some(r) = store.get_redirection(id).await.unwrap() {
                last_seen.insert(id.clone(), r);
            }
        }
    }
    let counters = sandbox.handle.counters();
    let mut faults = faults.0.into_inner().unwrap();
    faults.insert("mail send failed".into(), *mailer.failed.lock().unwrap());
    totals.pages = pages.0.into_inner().unwrap();
    faults.insert(
        "sandbox: injected (5xx, slow, dropped, 429, lost reply)".into(),
        counters.faults_injected,
    );
    faults.insert(
        "sandbox: handled, answer lost".into(),
        counters.lost_replies,
    );
    faults.insert(
        "sandbox: 429 after a lost status answer".into(),
        counters.rate_limited_after_lost_reply,
    );
    totals.faults = faults;

    // ---- the promises
    let mut violations = vec![];
    let mut violate = |why: String| violations.push(format!("seed {}: {why}", cfg.seed));
    // Every import ended: every slot of the quota was given back. A take dated at the run's
    // start (before any slot's time is up, so none counts as free for that) finds all free.
    if let Some(quota) = cfg.jobs_quota {
        for taken in 0..quota {
            let probe =
                signin_core::domain::RedirectionId::parse(&format!("slot-probe-{taken}")).unwrap();
            let free = store
                .take_import_slot(&probe, quota, clock.now(), started_at)
                .await
                .unwrap();
            if !free {
                violate(format!(
                    "{} slot(s) of the jobs quota still held after every import ended",
                    quota - taken
                ));
                break;
            }
        }
    }
    totals.duplicates = counters.duplicate_imports;
    if counters.duplicate_imports > 0 {
        violate(format!(
            "{} second Default Import call(s) for a session",
            counters.duplicate_imports
        ));
    }
    let mails = outbox.sent();
    let mailed = |to: &str, tag: &str| {
        mails
            .iter()
            .any(|m| m.mail.to.as_str() == to && m.mail.tag == tag)
    };
    for u in &users {
        let Some(id) = &u.id else {
            violate(format!("{} could never start", u.email));
            continue;
        };
        let Some(r) = last_seen.get(id) else {
            violate(format!("{id}: never stored"));
            continue;
        };
        // Final: an ending reached, and nothing left to do for it (a drop-off's follow-up
        // decided, an import's email sent).
        let final_state = match r.state {
            State::Imported | State::ImportFailed => !r.email_unsent,
            State::Expired | State::Failed => r.next_poll_at.is_none(),
            State::FollowUpSent => true,
            _ => false,
        };
        if !final_state {
            violate(format!(
                "{id} ({:?}) not final by 24 h: {:?} (next visit {:?}, email owed {})",
                u.persona, r.state, r.next_poll_at, r.email_unsent
            ));
        }
        if u.succeeded_at_bank {
            totals.bank_successes += 1;
            match r.state {
                State::Imported if mailed(&u.email, signin_core::notify::TAG_IMPORT_DONE) => {
                    totals.imports += 1
                }
                State::ImportFailed if mailed(&u.email, signin_core::notify::TAG_IMPORT_FAILED) => {
                    totals.import_failures += 1
                }
                other => {
                    totals.lost += 1;
                    violate(format!(
                        "{id} ({:?}, {}) succeeded at the bank but ended {other:?} without its email",
                        u.persona, u.bank
                    ));
                }
            }
            if mailed(&u.email, signin_core::notify::TAG_FOLLOW_UP) {
                violate(format!("{id}: a follow-up after a success"));
            }
        }
    }
    // Every 429 was injected, or followed a status read whose answer was lost (we could not
    // know that the read counted).
    let explained = counters.injected_rate_limits + counters.rate_limited_after_lost_reply;
    if counters.rate_limited != explained {
        violate(format!(
            "{} 429s earned by over-polling (beside {} injected, {} after a lost answer)",
            counters.rate_limited.saturating_sub(explained),
            counters.injected_rate_limits,
            counters.rate_limited_after_lost_reply
        ));
    }
    // The dead-letter queue holds the truly poison messages, each of them, and nothing else:
    // every other job ends (done, handed on, or retried until it is).
    let dead = queue.dead_letters();
    totals.dead_letters = dead.len() as u64;
    let dead_ids: BTreeSet<&RedirectionId> = dead.iter().map(|j| &j.redirection_id).collect();
    for (_, id) in &poison {
        if !dead_ids.contains(id) {
            violate(format!(
                "{id}: a poison message not in the dead-letter queue"
            ));
        }
    }
    for job in &dead {
        if !poison.iter().any(|(_, id)| *id == job.redirection_id) {
            let state = last_seen.get(&job.redirection_id).map(|r| r.state);
            violate(format!(
                "{}: a job in the dead-letter queue that was not poison (its import: {state:?})",
                job.redirection_id
            ));
        }
    }
    // The funnel equals a recount from the records.
    let day0 = start.date_naive();
    let funnel = app
        .funnel_report(day0, clock.now().date_naive())
        .await
        .unwrap();
    let recount = |wanted: &[State]| {
        all_ids
            .iter()
            .filter(|id| {
                last_seen
                    .get(*id)
                    .is_some_and(|r| wanted.contains(&r.state))
            })
            .count() as u64
    };
    for (step, counted) in [
        (FunnelStep::Started, all_ids.len() as u64),
        (FunnelStep::Imported, recount(&[State::Imported])),
    ] {
        let reported = funnel.totals[&step];
        if reported != counted {
            violate(format!(
                "funnel {step:?} {reported} but the records say {counted}"
            ));
        }
    }
    // The published events: each moment once, and the ending each record reached.
    let published = events.events();
    let mut seen_ids = BTreeSet::new();
    for e in &published {
        if !seen_ids.insert(e.detail.event_id.clone()) {
            violate(format!("event {} published twice", e.detail.event_id));
        }
    }
    let published_for = |id: &str, kind: DetailType| {
        published
            .iter()
            .filter(|e| e.kind == kind && e.detail.redirection_id.as_deref() == Some(id))
            .count()
    };
    for id in &all_ids {
        let key = id.to_string();
        if published_for(&key, DetailType::Started) != 1 {
            violate(format!("{id}: not one signin.started event"));
        }
        // Each moment the record passed through on its way to its ending, published once.
        let moments: Vec<DetailType> = match last_seen.get(id) {
            None => vec![],
            Some(r) => match r.state {
                State::Imported => vec![DetailType::Succeeded, DetailType::Imported],
                State::ImportFailed => vec![DetailType::Succeeded, DetailType::ImportFailed],
                State::Expired => vec![DetailType::Expired],
                State::Failed => vec![DetailType::Failed],
                State::FollowUpSent if r.error.is_some() => {
                    vec![DetailType::Failed, DetailType::FollowUpSent]
                }
                State::FollowUpSent => vec![DetailType::Expired, DetailType::FollowUpSent],
                _ => vec![],
            },
        };
        for kind in moments {
            let n = published_for(&key, kind);
            if n != 1 {
                violate(format!("{id}: {kind:?} published {n} times"));
            }
        }
    }
    totals.violations = violations;
    if let Some((d, client)) = dynamo {
        // A long run on a shared moto server leaves no table per seed behind.
        let _ = client.delete_table().table_name(d.table()).send().await;
    }
    totals
}
