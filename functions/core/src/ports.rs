//! The ports: what the use cases need from the outside world. Each has an embedded adapter here
//! (local run, unit tests) and a production one elsewhere (`functions/aws`, `functions/kontomatik`);
//! the same contract tests run against both.

use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::domain::{
    AccessMode, CommandId, CommandState, Country, Email, ErrorInfo, Language, OwnerExternalId,
    RedirectionId, RedirectionStatus, SessionData, Timestamp, UserKey,
};
use crate::import::{ImportSink, ImportSummary};
use crate::machine::{Expected, Redirection};

// ---------------------------------------------------------------------------------------------
// RedirectionStore
// ---------------------------------------------------------------------------------------------

/// A store failure that is not an outcome: the store could not be reached or held bad data.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("the store holds an item that cannot be read: {0}")]
    Corrupt(String),
    /// A logged-in person's record is gone or was never verified (erased meanwhile).
    #[error("the person's record is not verified")]
    NotVerified,
}

/// The outcome of a create-if-absent write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    Created,
    AlreadyExists,
}

/// The outcome of a conditional write. Losing a race is an ordinary outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cas {
    Applied,
    /// The item was no longer at the expected state and version (or is gone).
    Conflict,
}

/// How many partitions the poll index is spread over. The poller queries each one.
pub const POLL_SHARDS: u8 = 4;

/// The poll-index shard of a redirection: stable, spread evenly.
pub fn poll_shard(id: &RedirectionId) -> u8 {
    let digest = Sha256::digest(id.as_str().as_bytes());
    digest[0] % POLL_SHARDS
}

/// One redirection that is due for a status check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueItem {
    pub id: RedirectionId,
    pub next_poll_at: Timestamp,
}

/// An opaque position in a due-for-poll query, for the next page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollCursor(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuePage {
    /// Due items in `next_poll_at` order (oldest first).
    pub items: Vec<DueItem>,
    /// Present when more due items may follow.
    pub next: Option<PollCursor>,
}

/// Where a consent choice was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentSource {
    /// The start form's box, ticked or not.
    StartForm,
    /// An unsubscribe link (in a follow-up, or the mail client's one-click button).
    Unsubscribe,
    /// The logged-in person's own choice (a start or their page): the mailbox is proven.
    Verified,
}

impl SignInRecord {
    /// The record of a new sign-in, kept until `kept_until`.
    pub fn of(r: &Redirection, kept_until: Timestamp) -> Self {
        Self {
            id: r.id.clone(),
            owner: r.owner.clone(),
            created_at: r.created_at,
            window_ends: r.forgotten_at(),
            outcome: None,
            kept_until: kept_until.max(r.forgotten_at()),
        }
    }
}

impl ConsentSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentSource::StartForm => "start_form",
            ConsentSource::Unsubscribe => "unsubscribe",
            ConsentSource::Verified => "verified",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "start_form" => Some(ConsentSource::StartForm),
            "unsubscribe" => Some(ConsentSource::Unsubscribe),
            "verified" => Some(ConsentSource::Verified),
            _ => None,
        }
    }
}

/// The person's latest explicit choice about follow-up email. The latest one counts: an
/// unsubscribe wins until the person ticks the box again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentChoice {
    pub given: bool,
    pub at: Timestamp,
    pub source: ConsentSource,
}

/// A person who started a sign-in, keyed by their normalised email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserProfile {
    pub key: UserKey,
    /// Assigned once, then the same for every sign-in of this person.
    pub owner: OwnerExternalId,
    pub email: Email,
    pub name: String,
    pub language: Language,
    /// Follow-up email (one, if the sign-in is not finished): the latest choice.
    pub consent: ConsentChoice,
    pub created_at: Timestamp,
    pub last_follow_up_at: Option<Timestamp>,
    pub last_success_at: Option<Timestamp>,
    /// The record is deleted after this (retention; pushed on by every start).
    pub expires_at: Timestamp,
    /// When the person first proved the mailbox (followed a log-in link we mailed to it).
    /// `None`: the address was only typed into a form, by anyone.
    #[serde(default)]
    pub verified_at: Option<Timestamp>,
    /// Every session cookie carries this number; raising it ends all of the person's sessions.
    #[serde(default)]
    pub session_generation: u64,
}

impl UserProfile {
    /// The person proved this mailbox: their owner id is stable and only they change the record.
    pub fn is_verified(&self) -> bool {
        self.verified_at.is_some()
    }

    /// Follow-ups may be sent.
    pub fn follow_up_consent(&self) -> bool {
        self.consent.given
    }

    /// The latest choice was an unsubscribe.
    pub fn opted_out(&self) -> bool {
        !self.consent.given && self.consent.source == ConsentSource::Unsubscribe
    }
}

/// Something the store counts against a limit, atomically (abuse limits, spent form tokens).
/// The counter is kept until the end of its window (TTL), then forgotten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowance {
    /// Starts from one client (a keyed hash of its address, never the address) in one hour
    /// (`hour`: epoch hours).
    StartsFromClient { client: String, hour: i64 },
    /// Sign-in links emailed to one person on one day. Kept with the person's data (erased with
    /// it).
    LinkEmails { user: UserKey, day: NaiveDate },
    /// One form token: a limit of 1 spends it.
    FormToken { nonce: String },
    /// Log-in links emailed to one mailbox on one day. Kept with the person's data.
    LoginEmails { user: UserKey, day: NaiveDate },
    /// Follow-ups to one mailbox ([`Email::mailbox_key`]) in one window of the follow-up
    /// window's length (`window`: its number since the epoch; each has a key of its own, so
    /// that a counter DynamoDB has not deleted yet never counts again): one, whichever of the
    /// inbox's addresses dropped off.
    FollowUpsToMailbox { mailbox: UserKey, window: i64 },
}

/// Where one of a person's sign-ins ended, kept with the person (for their page) after the
/// redirection's 24 h window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInOutcome {
    /// The bank sign-in succeeded; the import is under way.
    Succeeded,
    /// The data was received.
    Imported,
    /// The bank sign-in failed.
    Failed,
    /// The link expired (or the window closed) before the sign-in finished.
    Expired,
    /// The bank sign-in succeeded but the data could not be fetched.
    ImportFailed,
}

impl SignInOutcome {
    /// The outcome a redirection entering `state` records (none for the steps in between).
    pub fn on_entering(state: crate::machine::State) -> Option<Self> {
        use crate::machine::State;
        Some(match state {
            State::SessionSaved => SignInOutcome::Succeeded,
            State::Imported => SignInOutcome::Imported,
            State::Failed => SignInOutcome::Failed,
            State::Expired => SignInOutcome::Expired,
            State::ImportFailed => SignInOutcome::ImportFailed,
            State::Created
            | State::Pending
            | State::ImportQueued
            | State::ImportRunning
            | State::FollowUpSent => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SignInOutcome::Succeeded => "succeeded",
            SignInOutcome::Imported => "imported",
            SignInOutcome::Failed => "failed",
            SignInOutcome::Expired => "expired",
            SignInOutcome::ImportFailed => "import_failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            SignInOutcome::Succeeded,
            SignInOutcome::Imported,
            SignInOutcome::Failed,
            SignInOutcome::Expired,
            SignInOutcome::ImportFailed,
        ]
        .into_iter()
        .find(|o| o.as_str() == raw)
    }
}

/// One sign-in as the person's history keeps it: for their page and for erasure. Kept for the
/// person's retention (not the redirection's 24 h window), with no bank data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInRecord {
    pub id: RedirectionId,
    /// This sign-in's owner id at Kontomatik (an anonymous start has one of its own).
    pub owner: OwnerExternalId,
    pub created_at: Timestamp,
    /// The end of the redirection's 24 h window (the redirection is held until then).
    pub window_ends: Timestamp,
    /// The latest decisive moment recorded, if any.
    pub outcome: Option<SignInOutcome>,
    /// The record is deleted after this (the person's retention).
    pub kept_until: Timestamp,
}

/// A log-in link asked for and not yet followed: the address it was mailed to, kept only until
/// the link expires (the link itself carries a random id, never the address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRequest {
    /// Random, 128 bits, hex; the signed link carries it.
    pub nonce: String,
    pub email: Email,
    pub language: Language,
    pub expires_at: Timestamp,
}

/// Who a start is recorded for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartedBy {
    /// Someone not logged in typed the address: never changes a verified person's record, never
    /// turns an unsubscribe back to yes.
    Anonymous,
    /// The logged-in person (their session was checked): their record takes the start's name,
    /// language, consent and retention.
    Verified,
}

/// Everything the store holds about one person (found by their user key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonalData {
    pub user: Option<UserProfile>,
    /// Their redirections still held (at most 24 h old).
    pub redirections: Vec<RedirectionId>,
    /// Their owner ids (one, unless the user record expired and a new one was given).
    pub owners: std::collections::BTreeSet<OwnerExternalId>,
    /// Their import records.
    pub imports: usize,
}

impl PersonalData {
    pub fn is_empty(&self) -> bool {
        self.user.is_none() && self.redirections.is_empty() && self.imports == 0
    }
}

/// The conditions under which a follow-up may be claimed for a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowUpClaim {
    pub now: Timestamp,
    /// No other follow-up within this window before `now`.
    pub not_within: Duration,
    /// The user must not have succeeded at or after this moment (the drop-off's start).
    pub no_success_since: Timestamp,
}

/// An import's stored outcome for one owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportRecord {
    pub owner: OwnerExternalId,
    pub redirection_id: RedirectionId,
    pub imported_at: Timestamp,
    pub summary: ImportSummary,
    /// The record is deleted after this (retention).
    pub expires_at: Timestamp,
}

/// The steps of the conversion funnel, counted per day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FunnelStep {
    Started,
    Returned,
    Success,
    Error,
    Expired,
    Imported,
    FollowUps,
    Recovered,
}

impl FunnelStep {
    pub const ALL: [FunnelStep; 8] = [
        FunnelStep::Started,
        FunnelStep::Returned,
        FunnelStep::Success,
        FunnelStep::Error,
        FunnelStep::Expired,
        FunnelStep::Imported,
        FunnelStep::FollowUps,
        FunnelStep::Recovered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FunnelStep::Started => "started",
            FunnelStep::Returned => "returned",
            FunnelStep::Success => "success",
            FunnelStep::Error => "error",
            FunnelStep::Expired => "expired",
            FunnelStep::Imported => "imported",
            FunnelStep::FollowUps => "follow_ups",
            FunnelStep::Recovered => "recovered",
        }
    }
}

/// One day of the funnel: a count per step (steps never counted are 0).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunnelDay {
    pub day: Option<NaiveDate>,
    pub counts: std::collections::BTreeMap<FunnelStep, u64>,
}

impl FunnelDay {
    pub fn get(&self, step: FunnelStep) -> u64 {
        self.counts.get(&step).copied().unwrap_or(0)
    }
}

/// What a start makes of the person's live record (`None`: there is none), by the rules of
/// [`RedirectionStore::record_start`]. Every store adapter follows it.
pub fn merge_start(
    live: Option<UserProfile>,
    candidate: &UserProfile,
    record_consent: bool,
    by: StartedBy,
) -> Result<UserProfile, StoreError> {
    let Some(mut u) = live else {
        return match by {
            StartedBy::Anonymous => Ok(candidate.clone()),
            StartedBy::Verified => Err(StoreError::NotVerified),
        };
    };
    match by {
        StartedBy::Anonymous if u.is_verified() => return Ok(u),
        StartedBy::Verified if !u.is_verified() => return Err(StoreError::NotVerified),
        _ => {}
    }
    u.name = candidate.name.clone();
    u.language = candidate.language;
    u.expires_at = candidate.expires_at;
    // An unsubscribe stays until the verified person says otherwise: an anonymous start
    // neither ticks it away nor replaces it with a plain "no" (which the next tick would undo).
    if record_consent && !(by == StartedBy::Anonymous && u.opted_out()) {
        u.consent = candidate.consent;
    }
    Ok(u)
}

/// What a live record that was not verified becomes when its person proves the mailbox: the
/// candidate's owner id (the one anonymous starts under the address used may hold a stranger's
/// data), address and verification; the name cleared and the consent the candidate's, unless
/// it is an unsubscribe (what anyone typed into a form is not the person's word; an opt-out
/// is kept). Retention and history stay.
pub fn verified_record(existing: &UserProfile, candidate: &UserProfile) -> UserProfile {
    let mut u = existing.clone();
    u.verified_at = candidate.verified_at;
    u.owner = candidate.owner.clone();
    u.email = candidate.email.clone();
    u.name = candidate.name.clone();
    if !u.opted_out() {
        u.consent = candidate.consent;
    }
    u
}

/// Where redirections, users, import results and funnel counters live.
///
/// Contract (checked by the shared contract tests for every adapter):
/// - an item whose 24 h window has passed is treated as absent by every read, whether or not
///   the store has physically deleted it yet (DynamoDB's TTL deletes late);
/// - [`RedirectionStore::save_redirection`] writes only if the stored item is still at
///   `expected` state *and* version — exactly one of several racing writers wins;
/// - the due-for-poll query reads one shard of a sparse index ordered by `next_poll_at`; it never
///   scans the table.
#[async_trait]
pub trait RedirectionStore: Send + Sync {
    /// Saves a new redirection unless one with its id exists, with the person's record of it
    /// (kept for the window only).
    async fn create_redirection(&self, r: &Redirection) -> Result<Created, StoreError> {
        self.create_sign_in(r, &SignInRecord::of(r, r.forgotten_at()))
            .await
    }

    /// Saves a new redirection unless one with its id exists, and `record` in the person's
    /// history first (so that an erasure finds every redirection that exists).
    async fn create_sign_in(
        &self,
        r: &Redirection,
        record: &SignInRecord,
    ) -> Result<Created, StoreError>;

    /// The person's sign-ins still within their retention, newest first.
    async fn sign_ins(&self, key: &UserKey) -> Result<Vec<SignInRecord>, StoreError>;

    /// Records a sign-in's decisive moment in the person's history; nothing when the history
    /// holds no such sign-in (erased, or past retention).
    async fn record_sign_in_outcome(
        &self,
        key: &UserKey,
        id: &RedirectionId,
        outcome: SignInOutcome,
    ) -> Result<(), StoreError>;

    /// Keeps a log-in request until it expires.
    async fn put_login_request(&self, request: &LoginRequest) -> Result<(), StoreError>;

    /// The log-in request with this nonce, unspent and unexpired, without taking it (for the
    /// link's page, which says which address it logs in).
    async fn login_request(&self, nonce: &str) -> Result<Option<LoginRequest>, StoreError>;

    /// Takes a log-in request away, once: the first caller gets it, every later one (and any
    /// after it expired) gets `None`.
    async fn take_login_request(&self, nonce: &str) -> Result<Option<LoginRequest>, StoreError>;

    /// Records that the person of `candidate.key` proved their mailbox: a person with no live
    /// record gets `candidate` (verified); a live record that was not verified becomes
    /// [`verified_record`] of it, and its old owner id is kept as a former one (erasure still
    /// finds it); a verified record stays as it is. Returns the stored user.
    async fn verify_person(&self, candidate: &UserProfile) -> Result<UserProfile, StoreError>;

    /// Ends every session of the person (raises the session generation). `false` if there is
    /// no such user.
    async fn end_sessions(&self, key: &UserKey) -> Result<bool, StoreError>;

    /// The redirection, or `None` if unknown or past its 24 h window.
    async fn get_redirection(&self, id: &RedirectionId) -> Result<Option<Redirection>, StoreError>;

    /// Replaces the redirection with `next` if it is still at `expected`.
    async fn save_redirection(
        &self,
        next: &Redirection,
        expected: Expected,
    ) -> Result<Cas, StoreError>;

    /// Redirections of one shard with `next_poll_at <= now`, oldest first, at most `limit`.
    async fn due_for_poll(
        &self,
        shard: u8,
        now: Timestamp,
        limit: usize,
        after: Option<PollCursor>,
    ) -> Result<DuePage, StoreError>;

    /// Records a start for the person of `candidate.key`: creates the user from `candidate` if
    /// there is none yet; else keeps its owner id, creation time, verification, sessions and
    /// follow-up history, and takes the candidate's name, language and retention, and its
    /// consent when `record_consent` (a start from the form is an explicit choice; a resume
    /// link is not). By [`StartedBy::Anonymous`], a verified person's record is returned as
    /// it is, and an unsubscribe is never replaced. By [`StartedBy::Verified`] the
    /// record must be verified and live (else [`StoreError::NotVerified`]). Returns the stored
    /// user.
    async fn record_start(
        &self,
        candidate: &UserProfile,
        record_consent: bool,
        by: StartedBy,
    ) -> Result<UserProfile, StoreError>;

    /// The user, or `None` if unknown or past its retention.
    async fn get_user(&self, key: &UserKey) -> Result<Option<UserProfile>, StoreError>;

    /// Records a consent choice made outside the start form (an unsubscribe). `false` if there
    /// is no such user.
    async fn record_consent(
        &self,
        key: &UserKey,
        choice: ConsentChoice,
    ) -> Result<bool, StoreError>;

    /// Takes one unit of `what` if fewer than `limit` were taken in its window, in one
    /// conditional write (no read first); the counter is forgotten after `window_end`. `false`
    /// when the limit is reached (nothing written).
    async fn take_allowance(
        &self,
        what: &Allowance,
        limit: u64,
        window_end: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Everything held about the person with `key`.
    async fn personal_data(&self, key: &UserKey) -> Result<PersonalData, StoreError>;

    /// Deletes everything held about the person with `key`: the user record and what is kept
    /// with it, their redirections (and so their poll index entries), and every import record
    /// of their owner ids. Funnel counters stay (they hold no personal data). Idempotent.
    async fn erase_person(&self, key: &UserKey) -> Result<PersonalData, StoreError>;

    /// Deletes one import record (an import that finished after its redirection was erased).
    async fn delete_import_record(&self, record: &ImportRecord) -> Result<(), StoreError>;

    /// Records that the user signed in successfully at `at`.
    async fn record_success(&self, key: &UserKey, at: Timestamp) -> Result<(), StoreError>;

    /// Takes the right to send one follow-up, in one conditional write: the user consented, has
    /// not opted out, got no follow-up within the window and has not succeeded since. `true` if
    /// taken (the caller then sends); `false` for everyone else.
    async fn claim_follow_up(
        &self,
        key: &UserKey,
        claim: FollowUpClaim,
    ) -> Result<bool, StoreError>;

    async fn put_import_record(&self, record: &ImportRecord) -> Result<(), StoreError>;

    /// The owner's import records still within their retention, oldest first.
    async fn import_records(
        &self,
        owner: &OwnerExternalId,
    ) -> Result<Vec<ImportRecord>, StoreError>;

    /// Adds `n` to one funnel counter of one day (atomic).
    async fn add_to_funnel(
        &self,
        day: NaiveDate,
        step: FunnelStep,
        n: u64,
    ) -> Result<(), StoreError>;

    /// The funnel for each day from `from` to `to` inclusive (days with no counts included).
    async fn funnel(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<FunnelDay>, StoreError>;
}

// ---------------------------------------------------------------------------------------------
// ImportQueue
// ---------------------------------------------------------------------------------------------

/// A request to run (or continue) the import of one redirection's session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportJob {
    pub redirection_id: RedirectionId,
    /// 0 for the first run; incremented when a worker hands the job on before its time runs out.
    #[serde(default)]
    pub continuation: u32,
}

#[derive(Debug, Error)]
pub enum QueueError {
    #[error("the queue is unavailable: {0}")]
    Unavailable(String),
    #[error("a message on the queue cannot be read: {0}")]
    Malformed(String),
}

/// Sends import jobs (SQS in production).
#[async_trait]
pub trait ImportQueue: Send + Sync {
    /// Enqueues `job`, invisible to consumers for `delay` (SQS caps this at 15 minutes).
    async fn enqueue(&self, job: &ImportJob, delay: StdDuration) -> Result<(), QueueError>;
}

/// One received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub receipt: String,
    pub job: ImportJob,
    /// 1 on first delivery, then +1 on each redelivery.
    pub receive_count: u32,
}

/// Receives import jobs. In AWS, Lambda's SQS event source does this; the local run and the
/// contract tests use it directly.
#[async_trait]
pub trait ImportQueueConsumer: Send + Sync {
    /// Up to `max` visible messages, hidden for `visibility` after receipt.
    async fn receive(
        &self,
        max: usize,
        visibility: StdDuration,
    ) -> Result<Vec<Delivery>, QueueError>;
    /// Deletes a handled message.
    async fn ack(&self, receipt: &str) -> Result<(), QueueError>;
}

// ---------------------------------------------------------------------------------------------
// Mailer
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailCategory {
    /// Mail the user needs (import finished, retry): always sent.
    Transactional,
    /// Follow-ups: only with consent, with `List-Unsubscribe`.
    Marketing,
}

/// One email, multipart HTML + text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingEmail {
    pub to: Email,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Extra headers, e.g. `List-Unsubscribe`.
    pub headers: Vec<(String, String)>,
    pub category: MailCategory,
    /// What kind of mail this is (`import_done`, `follow_up`, …), for logs and statistics.
    pub tag: String,
}

#[derive(Debug, Error)]
pub enum MailError {
    #[error("the mail service is unavailable: {0}")]
    Unavailable(String),
    #[error("the mail service refused the message: {0}")]
    Rejected(String),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends the email; returns the provider's message id.
    async fn send(&self, mail: &OutgoingEmail) -> Result<String, MailError>;

    /// Drops the copies this mailer keeps of mail sent to `to` (erasure). SES keeps none that
    /// we can read back; the local outbox keeps every mail. Returns how many were dropped.
    async fn forget_recipient(&self, to: &Email) -> Result<usize, MailError> {
        let _ = to;
        Ok(0)
    }
}

// ---------------------------------------------------------------------------------------------
// Kontomatik
// ---------------------------------------------------------------------------------------------

/// The inputs of *Fetch redirection*.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRedirection {
    pub redirect_uri: String,
    pub owner: OwnerExternalId,
    pub language: Language,
    pub country: Country,
    pub access_mode: AccessMode,
}

/// The answer of *Fetch redirection*.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectionLink {
    pub redirection_id: RedirectionId,
    pub url: String,
}

/// The answer of *Get import result* (the result itself goes to the sink).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandStatus {
    pub id: CommandId,
    pub state: CommandState,
    /// 0–100 when Kontomatik says.
    pub progress: Option<u8>,
    /// Present on `error` / `fatal`.
    pub exception: Option<ErrorInfo>,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum KontomatikError {
    #[error("Kontomatik asked us to slow down (429)")]
    RateLimited { retry_after: Option<StdDuration> },
    #[error("Kontomatik does not know this id (never existed, or older than 24 hours)")]
    NotFound,
    #[error("Kontomatik refused the API key")]
    Unauthorized,
    #[error("Default Import was already called for this session")]
    AlreadyImported,
    #[error("the session cannot be used any more: {}", .0.message)]
    SessionInvalid(ErrorInfo),
    #[error("Kontomatik refused the request: {}: {}", .0.code, .0.message)]
    Rejected(ErrorInfo),
    #[error("Kontomatik is unavailable: {0}")]
    Transient(String),
    /// Default Import refused because too many import jobs run at once: nothing was started,
    /// so the session can still be imported later.
    #[error("Kontomatik's import jobs quota is full; nothing was started")]
    JobsQuotaExceeded,
    #[error("Kontomatik's reply could not be read: {0}")]
    Malformed(String),
}

impl KontomatikError {
    /// Worth trying again later without changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Transient(_) | Self::RateLimited { .. } | Self::JobsQuotaExceeded
        )
    }
}

/// Kontomatik's API as the use cases need it.
#[async_trait]
pub trait Kontomatik: Send + Sync {
    async fn fetch_redirection(
        &self,
        req: &FetchRedirection,
    ) -> Result<RedirectionLink, KontomatikError>;

    async fn redirection_status(
        &self,
        id: &RedirectionId,
    ) -> Result<RedirectionStatus, KontomatikError>;

    /// Starts Default Import for the session, for the history since `since`. Call **once per
    /// session, ever**.
    async fn default_import(
        &self,
        session: &SessionData,
        since: NaiveDate,
    ) -> Result<CommandId, KontomatikError>;

    /// The command's state; when `successful`, its result is streamed into `sink`.
    async fn command_status(
        &self,
        command: &CommandId,
        sink: &mut dyn ImportSink,
    ) -> Result<CommandStatus, KontomatikError>;

    /// [`Kontomatik::command_status`] that gives up (a transient timeout) after `limit` at the
    /// latest, however long the result would take to read: a caller with a deadline passes
    /// the time it has left.
    async fn command_status_within(
        &self,
        command: &CommandId,
        sink: &mut dyn ImportSink,
        limit: std::time::Duration,
    ) -> Result<CommandStatus, KontomatikError>;

    /// Ends the bank session once the import is final (sessions count against a limit).
    /// Targets that cannot sign out answer [`SignOut::NotAvailable`], which is fine.
    async fn sign_out(&self, session: &SessionData) -> Result<SignOut, KontomatikError>;

    /// The owner's aggregated data as Kontomatik keeps it, streamed into `sink`, without a new
    /// import. `false` when Kontomatik holds nothing for the owner.
    async fn owner_data(
        &self,
        owner: &OwnerExternalId,
        sink: &mut dyn ImportSink,
    ) -> Result<bool, KontomatikError>;

    /// Removes the owner's data at Kontomatik (the right to erasure). `false` when there was
    /// nothing to remove.
    async fn delete_owner_data(&self, owner: &OwnerExternalId) -> Result<bool, KontomatikError>;
}

/// The answer to a sign-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignOut {
    SignedOut,
    /// The target offers no sign-out (`CommandNotAvailable`).
    NotAvailable,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_shards_are_stable_and_all_used() {
        let mut seen = [0u32; POLL_SHARDS as usize];
        for i in 0..400 {
            let id = RedirectionId::parse(&format!("r-{i}")).expect("id");
            let s = poll_shard(&id);
            assert_eq!(s, poll_shard(&id));
            seen[s as usize] += 1;
        }
        assert!(seen.iter().all(|n| *n > 50), "{seen:?}");
    }

    #[test]
    fn import_job_wire_format_is_stable() {
        let job = ImportJob {
            redirection_id: RedirectionId::parse("r1").expect("id"),
            continuation: 0,
        };
        let json = serde_json::to_string(&job).expect("json");
        assert_eq!(json, r#"{"redirectionId":"r1","continuation":0}"#);
        let old: ImportJob = serde_json::from_str(r#"{"redirectionId":"r1"}"#).expect("json");
        assert_eq!(old, job);
        assert!(serde_json::from_str::<ImportJob>(r#"{"redirectionId":"a b"}"#).is_err());
    }

    #[test]
    fn only_rate_limits_and_outages_are_transient() {
        assert!(KontomatikError::Transient("x".into()).is_transient());
        assert!(KontomatikError::RateLimited { retry_after: None }.is_transient());
        assert!(!KontomatikError::AlreadyImported.is_transient());
        assert!(!KontomatikError::NotFound.is_transient());
    }
}
