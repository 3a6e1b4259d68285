//! The simulated Kontomatik: redirections whose status moves as a simulated user acts, links that
//! expire after an hour, ids forgotten after 24 hours, a per-id poll limit, sessions that can be
//! imported once, and commands that finish after a few polls. Pure state + clock; the HTTP layer
//! only translates.
//!
//! The parts: this file holds the state (configuration, banks, redirections, sessions,
//! commands, owner data, counters, errors); `redirections.rs` the redirections' lifecycle and
//! what the simulated user does; `commands.rs` Default Import, command status, sign-out and the
//! owner data; `tests.rs` the unit tests.

mod commands;
mod redirections;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Time in the sandbox.
pub type Time = DateTime<Utc>;

/// What the sandbox is told at start.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub link_lifetime: Duration,
    pub status_window: Duration,
    /// Reading one id's status again sooner than this (with no change in between) earns 429.
    pub min_poll_interval: Duration,
    /// Default Import must be called within this time of the sign-in.
    pub session_lifetime: Duration,
    /// How many status polls a command takes to finish.
    pub import_polls: u32,
    /// When set, a command takes this long at Kontomatik instead (however often it is polled),
    /// as a real import does; `import_polls` is then not used.
    pub import_time: Option<Duration>,
    /// When set, at most this many commands may be running at once: Default Import beyond it
    /// is refused with `JobsQuotaExceeded` (nothing is started; the session can import later).
    pub jobs_quota: Option<u32>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            link_lifetime: Duration::hours(1),
            status_window: Duration::hours(24),
            min_poll_interval: Duration::minutes(5),
            session_lifetime: Duration::hours(1),
            import_polls: 3,
            import_time: None,
            jobs_quota: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportOutcome {
    Successful,
    Error,
    Fatal,
    /// The command stays `in_progress` for ever (a stuck import).
    Stuck,
}

/// A bank the hosted page offers, and how its import ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bank {
    pub id: &'static str,
    pub name: &'static str,
    pub import: ImportOutcome,
    /// `false`: sign-out answers `CommandNotAvailable` (some targets do).
    pub sign_out: bool,
    /// Its data holds a credit card (a `creditCards` block).
    pub credit_card: bool,
}

pub const BANKS: &[Bank] = &[
    Bank {
        id: "DemoBank",
        name: "Demo Bank",
        import: ImportOutcome::Successful,
        sign_out: true,
        credit_card: true,
    },
    Bank {
        id: "SlowBank",
        name: "Slow Savings Bank",
        import: ImportOutcome::Successful,
        sign_out: false,
        credit_card: false,
    },
    Bank {
        id: "FlakyBank",
        name: "Flaky Bank (its import fails)",
        import: ImportOutcome::Error,
        sign_out: true,
        credit_card: false,
    },
    Bank {
        id: "BrokenBank",
        name: "Broken Bank (its import fails fatally)",
        import: ImportOutcome::Fatal,
        sign_out: true,
        credit_card: false,
    },
    Bank {
        id: "StuckBank",
        name: "Stuck Bank (its import never finishes)",
        import: ImportOutcome::Stuck,
        sign_out: true,
        credit_card: false,
    },
];

pub fn bank(id: &str) -> Option<&'static Bank> {
    BANKS.iter().find(|b| b.id == id)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    Initialized,
    InProgress,
    Success { session_id: String },
    Error { code: String, message: String },
    Expired,
}

impl Status {
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Status::Success { .. } | Status::Error { .. } | Status::Expired
        )
    }
}

#[derive(Debug, Clone)]
pub struct Redirection {
    pub id: String,
    pub redirect_uri: String,
    pub owner_external_id: Option<String>,
    pub language: String,
    pub country: String,
    pub access_mode: String,
    pub created_at: Time,
    pub status: Status,
    pub status_changed_at: Time,
    /// Incremented on every status change.
    pub changes: u64,
    pub last_read_at: Option<Time>,
    /// `changes` as it was at the last read.
    pub changes_at_last_read: u64,
}

impl Redirection {
    fn set_status(&mut self, status: Status, at: Time) {
        self.status = status;
        self.status_changed_at = at;
        self.changes += 1;
    }
}

#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub signature: String,
    pub redirection_id: String,
    pub bank: &'static Bank,
    pub owner_external_id: Option<String>,
    pub multiple_access_token: Option<String>,
    pub created_at: Time,
    pub command_id: Option<u64>,
    pub signed_out: bool,
}

#[derive(Debug, Clone)]
pub struct Command {
    pub id: u64,
    pub session_id: String,
    pub polls: u32,
    pub outcome: ImportOutcome,
    pub created_at: Time,
    /// The first day of history asked for.
    pub since: NaiveDate,
}

impl Command {
    /// Still running at Kontomatik (counts against the jobs quota).
    fn running(&self, config: &SimConfig, now: Time) -> bool {
        if self.outcome == ImportOutcome::Stuck {
            return true;
        }
        match config.import_time {
            Some(t) => now < self.created_at + t,
            None => self.polls < config.import_polls.max(1),
        }
    }
}

/// The latest data Kontomatik keeps for an owner (`/v1/data.xml`).
#[derive(Debug, Clone)]
pub struct OwnerData {
    pub command_id: u64,
    pub data_seed: u64,
    pub bank: &'static Bank,
    pub since: NaiveDate,
    pub created_at: Time,
    pub updated_at: Time,
}

/// What a simulated user does on the hosted page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserAction {
    /// Opens the link (status becomes `in_progress`).
    Open,
    /// Signs in at the bank successfully.
    Succeed,
    /// Enters wrong credentials: the sign-in ends in `error`.
    FailLogin,
    /// Cancels in the widget: `error` with a cancellation code.
    Cancel,
}

/// The outcome of a user action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acted {
    /// Status is now as given; the browser is sent back to this URL (if any).
    Done { redirect_to: Option<String> },
    /// The link is past its hour: nothing changed; the status is `expired`.
    LinkExpired { redirect_to: String },
    /// The sign-in already ended; nothing changed.
    AlreadyFinished { redirect_to: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("redirection not found")]
    NotFound,
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    #[error("{code}: {message}")]
    Invalid { code: &'static str, message: String },
    #[error("Session expired.")]
    InvalidSession,
    #[error("The session is too old to import.")]
    SessionExpired,
    #[error("Default import was already executed for this session.")]
    AlreadyExecuted,
    #[error("No such command.")]
    CommandNotFound,
    #[error("Too many import jobs are running; try again later.")]
    JobsQuotaExceeded,
    #[error("This target does not support signing out.")]
    CommandNotAvailable,
    #[error("No data for this owner.")]
    OwnerNotFound,
}

/// A request for Fetch redirection, already decoded.
#[derive(Debug, Clone)]
pub struct NewRedirection {
    pub redirect_uri: String,
    pub owner_external_id: Option<String>,
    pub language: String,
    pub country: String,
    pub access_mode: String,
}

/// One command status poll's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandView {
    pub id: u64,
    pub state: &'static str,
    pub progress: u8,
    /// Set when successful: the seed of the data set to render.
    pub data_seed: Option<u64>,
    pub exception: Option<(&'static str, &'static str)>,
    pub bank: &'static Bank,
    pub owner_external_id: Option<String>,
    pub as_of: Time,
    pub since: NaiveDate,
}

/// Calls and events tests can read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    /// Calls per API endpoint (`fetch_redirection`, `redirection_status`, `default_import`,
    /// `command_status`), including refused ones.
    pub calls: BTreeMap<String, u64>,
    /// Status calls per redirection id.
    pub status_calls: BTreeMap<String, u64>,
    /// Every 429 answered: earned by over-polling, or injected.
    pub rate_limited: u64,
    /// The 429s that were injected faults.
    pub injected_rate_limits: u64,
    pub unauthorized: u64,
    /// Default Import calls accepted (one per session at most).
    pub imports_started: u64,
    /// Default Import calls with a multiple-access token (no session) accepted.
    pub access_imports: u64,
    /// Default Import calls refused because the session was imported already.
    pub duplicate_imports: u64,
    pub sign_outs: u64,
    /// Sign-outs answered `CommandNotAvailable`.
    pub sign_outs_unavailable: u64,
    pub owner_data_reads: u64,
    pub owner_data_deletes: u64,
    /// Requests that carried the API key or a session signature in the URL or a form field
    /// other than the contract's (all refused).
    pub secrets_in_url: u64,
    pub faults_injected: u64,
    /// Default Import calls refused with `JobsQuotaExceeded` (nothing started).
    pub jobs_quota_refusals: u64,
    /// Calls handled whose answer was then lost (an injected fault).
    pub lost_replies: u64,
    /// 429s for a read sooner than allowed after a status read whose answer was lost: the
    /// caller could not know it counted (a consequence of the fault, not over-polling).
    pub rate_limited_after_lost_reply: u64,
}

#[derive(Debug, Default)]
pub struct Sim {
    pub config: SimConfig,
    pub redirections: HashMap<String, Redirection>,
    pub sessions: HashMap<String, Session>,
    pub commands: HashMap<u64, Command>,
    /// Data kept per owner external id.
    pub owner_data: HashMap<String, OwnerData>,
    pub counters: Counters,
    next_command: u64,
    /// Ids whose last status read was handled but its answer lost (an injected fault), and
    /// when: the caller cannot know that the read counted.
    lost_status_reads: HashMap<String, Time>,
}

pub const ENDPOINT_FETCH: &str = "fetch_redirection";
pub const ENDPOINT_STATUS: &str = "redirection_status";
pub const ENDPOINT_IMPORT: &str = "default_import";
pub const ENDPOINT_COMMAND: &str = "command_status";
pub const ENDPOINT_SIGN_OUT: &str = "sign_out";
pub const ENDPOINT_OWNER_DATA: &str = "owner_data";

fn token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl Sim {
    pub fn new(config: SimConfig) -> Self {
        Sim {
            config,
            next_command: 1000,
            ..Default::default()
        }
    }

    pub fn count_call(&mut self, endpoint: &str) {
        *self.counters.calls.entry(endpoint.to_owned()).or_insert(0) += 1;
    }
}

#[cfg(test)]
mod tests;
