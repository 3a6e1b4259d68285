//! The fault-run harness: one seeded run of a simulated population through the use cases and
//! the Kontomatik sandbox (over HTTP, on the simulated clock), with faults on both sides, for 26
//! simulated hours; then the system's promises are checked from the sandbox's counters, our
//! records and the outbox. The records live on the embedded store or on DynamoDB (moto, its
//! write requests sent one at a time: see [`adapters::one_write_request_at_a_time`]); the
//! queue, the outbox and the event log are embedded. Each simulated minute the users' steps, the
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
//! timeouts and margins are exercised by `signin_core::usecases` unit tests.
//!
//! The parts: this file holds a run's settings ([`RunConfig`], [`FaultRates`], [`StoreKind`]),
//! its [`RunTotals`] and the bookkeeping of the simulated users; `adapters.rs` the adapters that
//! inject our side's faults (kill points, unreadable items, failing mail) and the moto write
//! serialisation; `run.rs` the run itself ([`run`]) and the promises it checks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod adapters;
mod run;

use std::collections::BTreeMap;
use std::sync::Mutex;

use signin_core::domain::RedirectionId;

pub use adapters::KillPoint;
pub use run::run;

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
    /// Kontomatik's jobs quota, at the sandbox and as the worker's admission
    /// (`KONTOMATIK_JOBS_QUOTA`); `None`: neither.
    pub jobs_quota: Option<u32>,
}

impl RunConfig {
    pub fn new(seed: u64, users: usize) -> Self {
        RunConfig {
            seed,
            users,
            hours: 26,
            faults: FaultRates::default(),
            store: StoreKind::Embedded,
            jobs_quota: None,
        }
    }

    /// The same run under a jobs quota, imports admitted at it.
    pub fn with_jobs_quota(self, quota: u32) -> Self {
        RunConfig {
            jobs_quota: Some(quota),
            ..self
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
            "cargo run -p e2e-tests --release --example faultrun -- --seed {} --users {} --store {}{}",
            self.seed,
            self.users,
            self.store.as_str(),
            self.jobs_quota
                .map_or(String::new(), |q| format!(" --jobs-quota {q}"))
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
    delivery: signin_core::ports::ReceivedJob,
    /// A mail send to this invocation's user fails (the user of a poison job has none).
    mail_fails: Option<Option<String>>,
    killed_at: Option<KillPoint>,
    duplicate: bool,
}
