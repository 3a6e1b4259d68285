//! The fault-run harness: one seeded run of a simulated population through the use cases and
//! the Kontomatik sandbox (over HTTP, on the simulated clock), with faults on both sides, for 26
//! simulated hours; then the system's promises are checked from the sandbox's counters, our
//! records and the outbox. The records live on the embedded store or on DynamoDB (moto, its
//! write requests sent one at a time: see [`one_write_request_at_a_time`]); the queue, the
//! outbox and the event log are embedded. Each simulated minute the users' steps, the
//! schedule's poller run and the worker's invocations run at the same time.
//!
//! Users (drawn per seed): finish fast and come back; finish late and never come back; come back
//! twice; fail at the bank; walk away; come back after the link expired.
//! Sandbox faults: 5xx, slow replies past the client's timeout, dropped connections, spurious
//! 429s, answers lost after the call was handled, banks whose import fails, and a bank whose
//! import command stays `in_progress`. Our faults: duplicate SQS deliveries of one message, a
//! worker killed at each step boundary (before the claim, after the claim, after Default Import
//! before its command id is stored, mid-polling), overlapping poller runs, failing mail (for the
//! invocation's user), and truly poison messages (jobs whose item cannot be read).
//!
//! The client's timeouts are short here (a slow reply costs real time); the production
//! timeouts and margins are exercised by `signin_core::flow` unit tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::Duration;
use chrono::NaiveDate;
use kontomatik::{ClientConfig, KontomatikClient};
use kontomatik_sandbox::{start_local, FaultConfig, SandboxOptions, TimeSource, UserAction};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use signin_core::config::Settings;
use signin_core::domain::RedirectionStatus;
use signin_core::domain::{
    CommandId, OwnerExternalId, RedirectionId, Secret, SessionData, Timestamp, UserKey,
};
use signin_core::embedded::{EmbeddedQueue, EmbeddedStore, Outbox};
use signin_core::events::EventKind;
use signin_core::flow::{JobOutcome, Requester, StartForm};
use signin_core::import::ImportSink;
use signin_core::links::Form;
use signin_core::machine::{Expected, Redirection, State};
use signin_core::ports::{
    Allowance, Cas, CommandStatus, ConsentChoice, Created, DuePage, FetchRedirection,
    FollowUpClaim, FunnelDay, FunnelStep, ImportJob, ImportQueue, ImportQueueConsumer,
    ImportRecord, Kontomatik, KontomatikError, LoginRequest, MailError, Mailer, OutgoingEmail,
    PersonalData, PollCursor, RedirectionLink, RedirectionStore, SignInOutcome, SignInRecord,
    SignOut, StartedBy, StoreError, UserProfile,
};
use signin_core::{App, Clock, SimClock};
use tokio::sync::Notify;

use crate::API_KEY;

/// Where a worker is killed (the Lambda's process ends there; its message is redelivered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KillPoint {
    BeforeClaim,
    AfterClaim,
    AfterDefaultImport,
    MidPolling,
}

const KILL_POINTS: [KillPoint; 4] = [
    KillPoint::BeforeClaim,
    KillPoint::AfterClaim,
    KillPoint::AfterDefaultImport,
    KillPoint::MidPolling,
];

/// Arms one kill; the adapter that reaches the point fires it and never returns.
#[derive(Debug, Default)]
struct KillSwitch {
    armed: Mutex<Option<KillPoint>>,
    /// Where the last kill happened.
    fired_at: Mutex<Option<KillPoint>>,
    fired: Notify,
}

impl KillSwitch {
    /// If `point` is armed: fire, and hang (the job's future is dropped by the harness).
    async fn at(&self, point: KillPoint) {
        let hit = {
            let mut armed = self.armed.lock().unwrap();
            if *armed == Some(point) {
                *armed = None;
                true
            } else {
                false
            }
        };
        if hit {
            *self.fired_at.lock().unwrap() = Some(point);
            self.fired.notify_one();
            std::future::pending::<()>().await;
        }
    }
}

/// The store, with kill points around the import claim, and items that cannot be read (what
/// makes a job truly poison: no delivery of it can ever succeed).
struct FaultyStore {
    inner: Arc<dyn RedirectionStore>,
    kill: Arc<KillSwitch>,
    unreadable: Mutex<HashSet<RedirectionId>>,
}

/// Moto applies a write without a lock: it reads the item, evaluates the condition (or the
/// `ADD`) and stores the result, and a concurrent request can run in between. Two conditional
/// puts on the same version can then both succeed (`infra/scripts/moto-conditional-race.py`
/// shows it), and two adds at the same instant can lose one. DynamoDB applies each write
/// request to an item atomically. So that the run on moto tests our writes and not moto's, the
/// DynamoDB client sends one write request at a time; reads, and everything between requests
/// (a store method's several requests too), still interleave.
fn one_write_request_at_a_time() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_runtime_api::client::http::HttpConnector as _;
    const WRITES: [&str; 5] = [
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
    ];
    let turn = Arc::new(tokio::sync::Mutex::new(()));
    signin_aws::testing::http_client_around(Arc::new(move |request, connection| {
        let write = signin_aws::testing::dynamodb_operation(&request)
            .is_some_and(|op| WRITES.contains(&op));
        let turn = turn.clone();
        aws_smithy_runtime_api::client::http::HttpConnectorFuture::new(async move {
            let _turn = if write { Some(turn.lock().await) } else { None };
            connection.call(request).await
        })
    }))
}

#[async_trait]
impl RedirectionStore for FaultyStore {
    async fn create_sign_in(
        &self,
        r: &Redirection,
        record: &SignInRecord,
    ) -> Result<Created, StoreError> {
        self.inner.create_sign_in(r, record).await
    }
    async fn get_redirection(&self, id: &RedirectionId) -> Result<Option<Redirection>, StoreError> {
        if self.unreadable.lock().unwrap().contains(id) {
            return Err(StoreError::Corrupt(format!(
                "{id}: an item written by no version of this code"
            )));
        }
        self.inner.get_redirection(id).await
    }
    async fn save_redirection(
        &self,
        next: &Redirection,
        expected: Expected,
    ) -> Result<Cas, StoreError> {
        let claim = next.state == State::ImportRunning && expected.state != State::ImportRunning;
        if claim {
            self.kill.at(KillPoint::BeforeClaim).await;
        }
        let done = self.inner.save_redirection(next, expected).await?;
        if claim && done == Cas::Applied {
            self.kill.at(KillPoint::AfterClaim).await;
        }
        Ok(done)
    }
    async fn due_for_poll(
        &self,
        shard: u8,
        now: Timestamp,
        limit: usize,
        after: Option<PollCursor>,
    ) -> Result<DuePage, StoreError> {
        self.inner.due_for_poll(shard, now, limit, after).await
    }
    async fn record_start(
        &self,
        candidate: &UserProfile,
        record_consent: bool,
        by: StartedBy,
    ) -> Result<UserProfile, StoreError> {
        self.inner.record_start(candidate, record_consent, by).await
    }
    async fn sign_ins(&self, key: &UserKey) -> Result<Vec<SignInRecord>, StoreError> {
        self.inner.sign_ins(key).await
    }
    async fn record_sign_in_outcome(
        &self,
        key: &UserKey,
        id: &RedirectionId,
        outcome: SignInOutcome,
    ) -> Result<(), StoreError> {
        self.inner.record_sign_in_outcome(key, id, outcome).await
    }
    async fn put_login_request(&self, request: &LoginRequest) -> Result<(), StoreError> {
        self.inner.put_login_request(request).await
    }
    async fn login_request(&self, nonce: &str) -> Result<Option<LoginRequest>, StoreError> {
        self.inner.login_request(nonce).await
    }
    async fn take_login_request(&self, nonce: &str) -> Result<Option<LoginRequest>, StoreError> {
        self.inner.take_login_request(nonce).await
    }
    async fn verify_person(&self, candidate: &UserProfile) -> Result<UserProfile, StoreError> {
        self.inner.verify_person(candidate).await
    }
    async fn end_sessions(&self, key: &UserKey) -> Result<bool, StoreError> {
        self.inner.end_sessions(key).await
    }
    async fn get_user(&self, key: &UserKey) -> Result<Option<UserProfile>, StoreError> {
        self.inner.get_user(key).await
    }
    async fn record_consent(
        &self,
        key: &UserKey,
        choice: ConsentChoice,
    ) -> Result<bool, StoreError> {
        self.inner.record_consent(key, choice).await
    }
    async fn take_allowance(
        &self,
        what: &Allowance,
        limit: u64,
        window_end: Timestamp,
    ) -> Result<bool, StoreError> {
        self.inner.take_allowance(what, limit, window_end).await
    }
    async fn personal_data(&self, key: &UserKey) -> Result<PersonalData, StoreError> {
        self.inner.personal_data(key).await
    }
    async fn erase_person(&self, key: &UserKey) -> Result<PersonalData, StoreError> {
        self.inner.erase_person(key).await
    }
    async fn delete_import_record(&self, record: &ImportRecord) -> Result<(), StoreError> {
        self.inner.delete_import_record(record).await
    }
    async fn record_success(&self, key: &UserKey, at: Timestamp) -> Result<(), StoreError> {
        self.inner.record_success(key, at).await
    }
    async fn claim_follow_up(
        &self,
        key: &UserKey,
        claim: FollowUpClaim,
    ) -> Result<bool, StoreError> {
        self.inner.claim_follow_up(key, claim).await
    }
    async fn put_import_record(&self, record: &ImportRecord) -> Result<(), StoreError> {
        self.inner.put_import_record(record).await
    }
    async fn import_records(
        &self,
        owner: &OwnerExternalId,
    ) -> Result<Vec<ImportRecord>, StoreError> {
        self.inner.import_records(owner).await
    }
    async fn add_to_funnel(
        &self,
        day: NaiveDate,
        step: FunnelStep,
        n: u64,
    ) -> Result<(), StoreError> {
        self.inner.add_to_funnel(day, step, n).await
    }
    async fn funnel(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<FunnelDay>, StoreError> {
        self.inner.funnel(from, to).await
    }
}

/// The Kontomatik client, with kill points around Default Import and the command polls.
struct KillableKontomatik {
    inner: KontomatikClient,
    kill: Arc<KillSwitch>,
}

#[async_trait]
impl Kontomatik for KillableKontomatik {
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
        self.inner.redirection_status(id).await
    }
    async fn default_import(
        &self,
        session: &SessionData,
        since: chrono::NaiveDate,
    ) -> Result<CommandId, KontomatikError> {
        let cmd = self.inner.default_import(session, since).await;
        if cmd.is_ok() {
            self.kill.at(KillPoint::AfterDefaultImport).await;
        }
        cmd
    }
    async fn command_status(
        &self,
        command: &CommandId,
        sink: &mut dyn ImportSink,
    ) -> Result<CommandStatus, KontomatikError> {
        self.kill.at(KillPoint::MidPolling).await;
        self.inner.command_status(command, sink).await
    }
    async fn command_status_within(
        &self,
        command: &CommandId,
        sink: &mut dyn ImportSink,
        limit: StdDuration,
    ) -> Result<CommandStatus, KontomatikError> {
        self.kill.at(KillPoint::MidPolling).await;
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

/// Waiting moves the simulated clock, and lets what runs at the same time (the users, the
/// poller, the worker) go on meanwhile.
#[derive(Debug)]
struct ClockPause(SimClock);

#[async_trait]
impl signin_core::clock::Pause for ClockPause {
    async fn pause(&self, d: StdDuration) {
        self.0
            .advance(Duration::from_std(d).unwrap_or_else(|_| Duration::seconds(1)));
        tokio::task::yield_now().await;
    }
}

/// The outbox, with a send failure armed for one recipient (the user whose job an invocation
/// runs): the poller's follow-ups and resends at the same instant are not hit by it.
struct FaultyMailer {
    inner: Arc<Outbox>,
    fail_to: Mutex<Option<String>>,
    failed: Mutex<u64>,
}

#[async_trait]
impl Mailer for FaultyMailer {
    async fn send(&self, mail: &OutgoingEmail) -> Result<String, MailError> {
        let fail = {
            let mut armed = self.fail_to.lock().unwrap();
            if armed.as_deref() == Some(mail.to.as_str()) {
                *armed = None;
                true
            } else {
                false
            }
        };
        if fail {
            *self.failed.lock().unwrap() += 1;
            return Err(MailError::Unavailable(
                "injected: the mail service is down".into(),
            ));
        }
        self.inner.send(mail).await
    }
}

/// How a simulated user behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Persona {
    FinishFast,
    FinishLateNeverReturn,
    ReturnTwice,
    FailAtBank,
    WalkAway,
    ReturnAfterExpiry,
}

const PERSONAS: [Persona; 6] = [
    Persona::FinishFast,
    Persona::FinishLateNeverReturn,
    Persona::ReturnTwice,
    Persona::FailAtBank,
    Persona::WalkAway,
    Persona::ReturnAfterExpiry,
];

/// How much of each fault a run injects.
#[derive(Debug, Clone, Copy)]
pub struct FaultRates {
    pub server_error: f64,
    pub slow: f64,
    pub dropped: f64,
    pub rate_limit: f64,
    /// A call handled at Kontomatik whose answer is lost (Default Import included).
    pub lost_reply: f64,
    /// A delivery also delivered a second time, at once.
    pub duplicate_delivery: f64,
    /// A worker invocation killed at a random step boundary.
    pub worker_killed: f64,
    /// A poller run that overlaps another.
    pub overlapping_poller: f64,
    /// A worker invocation whose mail sends fail.
    pub mail_failure: f64,
    /// Truly poison messages put on the queue per run: jobs whose item cannot be read.
    pub poison_messages: u32,
}

impl Default for FaultRates {
    fn default() -> Self {
        FaultRates {
            server_error: 0.03,
            slow: 0.01,
            dropped: 0.01,
            rate_limit: 0.01,
            lost_reply: 0.01,
            duplicate_delivery: 0.1,
            worker_killed: 0.1,
            overlapping_poller: 0.1,
            mail_failure: 0.05,
            poison_messages: 2,
        }
    }
}

/// Where the records live during a run. The queue, the outbox and the event log are embedded
/// in both: moto's SQS runs its visibility timeouts and delays in real time, and a run lasts 26
/// simulated hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Embedded,
    /// DynamoDB's wire protocol on moto (`MOTO_ENDPOINT`, or a moto server started for it).
    Moto,
}

impl StoreKind {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "embedded" => Some(StoreKind::Embedded),
            "moto" => Some(StoreKind::Moto),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::Embedded => "embedded",
            StoreKind::Moto => "moto",
        }
    }
}

/// One run's settings.
#[derive(Debug, Clone, Copy)]
pub struct RunConfig {
    pub seed: u64,
    pub users: usize,
    pub hours: i64,
    pub faults: FaultRates,
    pub store: StoreKind,
}

impl RunConfig {
    pub fn new(seed: u64, users: usize) -> Self {
        RunConfig {
            seed,
            users,
            hours: 26,
            faults: FaultRates::default(),
            store: StoreKind::Embedded,
        }
    }

    /// The same run with its records on DynamoDB (moto).
    pub fn on_moto(self) -> Self {
        RunConfig {
            store: StoreKind::Moto,
            ..self
        }
    }

    /// The command that runs this seed alone (the same population, timings and fault rates).
    pub fn replay_command(&self) -> String {
        format!(
            "cargo run -p e2e-tests --release --example faultrun -- --seed {} --users {} --store {}",
            self.seed,
            self.users,
            self.store.as_str()
        )
    }
}

/// What one run did and found.
#[derive(Debug, Default, Clone)]
pub struct RunTotals {
    pub runs: u64,
    pub users: u64,
    pub personas: BTreeMap<String, u64>,
    pub faults: BTreeMap<String, u64>,
    /// The pages users were shown when they came back, by whether the bank had said yes.
    pub pages: BTreeMap<String, u64>,
    pub bank_successes: u64,
    pub imports: u64,
    pub import_failures: u64,
    /// Default Import calls refused as a second one for a session (must be 0).
    pub duplicates: u64,
    /// Bank successes neither imported nor ended with the retry email (must be 0).
    pub lost: u64,
    pub dead_letters: u64,
    /// Truly poison messages put on the queue (each must end in the dead-letter queue).
    pub poison_messages: u64,
    pub violations: Vec<String>,
}

impl RunTotals {
    pub fn add(&mut self, other: &RunTotals) {
        self.runs += other.runs;
        self.users += other.users;
        for (k, v) in &other.personas {
            *self.personas.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.faults {
            *self.faults.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.pages {
            *self.pages.entry(k.clone()).or_default() += v;
        }
        self.bank_successes += other.bank_successes;
        self.imports += other.imports;
        self.import_failures += other.import_failures;
        self.duplicates += other.duplicates;
        self.lost += other.lost;
        self.dead_letters += other.dead_letters;
        self.poison_messages += other.poison_messages;
        self.violations.extend(other.violations.iter().cloned());
    }
}

#[derive(Debug)]
struct User {
    persona: Persona,
    email: String,
    bank: &'static str,
    start_minute: i64,
    act_minute: i64,
    id: Option<RedirectionId>,
    /// The sandbox accepted the sign-in.
    succeeded_at_bank: bool,
}

const PUBLIC: &str = "https://signin.faultrun.example";

/// Faults injected, by kind.
#[derive(Debug, Default)]
struct Tally(Mutex<BTreeMap<String, u64>>);

impl Tally {
    fn add(&self, kind: &str) {
        *self.0.lock().unwrap().entry(kind.to_owned()).or_default() += 1;
    }
}

/// One invocation of the worker for one delivery, with the faults drawn for it.
struct Invocation {
    delivery: signin_core::ports::Delivery,
    /// A mail send to this invocation's user fails (the user of a poison job has none).
    mail_fails: Option<Option<String>>,
    killed_at: Option<KillPoint>,
    duplicate: bool,
}

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
    let (store, dynamo): (Arc<dyn RedirectionStore>, _) = match cfg.store {
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
            (
                dynamo.clone() as Arc<dyn RedirectionStore>,
                Some((dynamo, client)),
            )
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
    let events = Arc::new(signin_core::events::EventLog::default());
    let mut settings = Settings {
        link_signing_key: Some(Secret::new("fault-run-link-signing-key-0123456789")),
        ..Settings::with_defaults(PUBLIC)
    };
    settings
        .link_origins
        .allow_loopback_http(sandbox.base_url.as_str())
        .unwrap();
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
    let published_for = |id: &str, kind: EventKind| {
        published
            .iter()
            .filter(|e| e.kind == kind && e.detail.redirection_id.as_deref() == Some(id))
            .count()
    };
    for id in &all_ids {
        let key = id.to_string();
        if published_for(&key, EventKind::Started) != 1 {
            violate(format!("{id}: not one signin.started event"));
        }
        // Each moment the record passed through on its way to its ending, published once.
        let moments: Vec<EventKind> = match last_seen.get(id) {
            None => vec![],
            Some(r) => match r.state {
                State::Imported => vec![EventKind::Succeeded, EventKind::Imported],
                State::ImportFailed => vec![EventKind::Succeeded, EventKind::ImportFailed],
                State::Expired => vec![EventKind::Expired],
                State::Failed => vec![EventKind::Failed],
                State::FollowUpSent if r.error.is_some() => {
                    vec![EventKind::Failed, EventKind::FollowUpSent]
                }
                State::FollowUpSent => vec![EventKind::Expired, EventKind::FollowUpSent],
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
