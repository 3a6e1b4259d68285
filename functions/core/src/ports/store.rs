//! The store, split by concern: redirections (and the poll index), people, log-in requests,
//! allowances, import records and the funnel. [`Store`] is all of them, which is what the use
//! cases hold; every adapter implements each part.

use async_trait::async_trait;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::domain::case::{Case, CaseStatus};
use crate::domain::machine::{Expected, Redirection};
use crate::domain::records::*;
use crate::domain::{OwnerExternalId, RedirectionId, Timestamp, UserKey};

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
pub enum ConditionalWrite {
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

/// Redirections and the poll index. The other parts of [`Store`] follow.
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

    /// The redirection, or `None` if unknown or past its 24 h window.
    async fn get_redirection(&self, id: &RedirectionId) -> Result<Option<Redirection>, StoreError>;

    /// Replaces the redirection with `next` if it is still at `expected`.
    async fn save_redirection(
        &self,
        next: &Redirection,
        expected: Expected,
    ) -> Result<ConditionalWrite, StoreError>;

    /// Redirections of one shard with `next_poll_at <= now`, oldest first, at most `limit`.
    async fn due_for_poll(
        &self,
        shard: u8,
        now: Timestamp,
        limit: usize,
        after: Option<PollCursor>,
    ) -> Result<DuePage, StoreError>;
}

/// People: their record, consent, verification, sessions, history of sign-ins, and erasure.
#[async_trait]
pub trait PersonStore: Send + Sync {
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

    /// Records that the person of `candidate.key` proved their mailbox: a person with no live
    /// record gets `candidate` (verified); a live record that was not verified becomes
    /// [`verified_record`] of it, and its old owner id is kept as a former one (erasure still
    /// finds it); a verified record stays as it is. Returns the stored user.
    async fn verify_person(&self, candidate: &UserProfile) -> Result<UserProfile, StoreError>;

    /// Ends every session of the person (raises the session generation). `false` if there is
    /// no such user.
    async fn end_sessions(&self, key: &UserKey) -> Result<bool, StoreError>;

    /// Records that the user signed in successfully at `at`.
    async fn record_success(&self, key: &UserKey, at: Timestamp) -> Result<(), StoreError>;

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

    /// Everything held about the person with `key`.
    async fn personal_data(&self, key: &UserKey) -> Result<PersonalData, StoreError>;

    /// Deletes everything held about the person with `key`: the user record and what is kept
    /// with it, their redirections (and so their poll index entries), and every import record
    /// of their owner ids. Funnel counters stay (they hold no personal data). Idempotent.
    async fn erase_person(&self, key: &UserKey) -> Result<PersonalData, StoreError>;
}

/// Applicants' log-in requests, each spent once.
#[async_trait]
pub trait LoginStore: Send + Sync {
    /// Keeps a log-in request until it expires.
    async fn put_login_request(&self, request: &LoginRequest) -> Result<(), StoreError>;

    /// The log-in request with this nonce, unspent and unexpired, without taking it (for the
    /// link's page, which says which address it logs in).
    async fn login_request(&self, nonce: &str) -> Result<Option<LoginRequest>, StoreError>;

    /// Takes a log-in request away, once: the first caller gets it, every later one (and any
    /// after it expired) gets `None`.
    async fn take_login_request(&self, nonce: &str) -> Result<Option<LoginRequest>, StoreError>;

    /// When `staff`'s sessions were last ended (signed out on every device): a session issued
    /// at or before it is void. `None`: never, or so long ago that no session from before it
    /// is alive.
    async fn staff_sessions_ended_at(
        &self,
        staff: &UserKey,
    ) -> Result<Option<Timestamp>, StoreError>;

    /// Ends every session of `staff` issued up to `at`. The mark may be forgotten after
    /// `forget_after`, when every session it ended has expired anyway.
    async fn end_staff_sessions(
        &self,
        staff: &UserKey,
        at: Timestamp,
        forget_after: Timestamp,
    ) -> Result<(), StoreError>;
}

/// Allowances against abuse, and the one follow-up per window.
#[async_trait]
pub trait AllowanceStore: Send + Sync {
    /// Takes one unit of `what` if fewer than `limit` were taken in its window, in one
    /// conditional write (no read first); the counter is forgotten after `window_end`. `false`
    /// when the limit is reached (nothing written).
    async fn take_allowance(
        &self,
        what: &Allowance,
        limit: u64,
        window_end: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Takes the right to send one follow-up, in one conditional write: the user consented, has
    /// not opted out, got no follow-up within the window and has not succeeded since. `true` if
    /// taken (the caller then sends); `false` for everyone else.
    async fn claim_follow_up(
        &self,
        key: &UserKey,
        claim: FollowUpClaim,
    ) -> Result<bool, StoreError>;

    /// Takes one of `quota` slots of Kontomatik's jobs quota for `holder`'s import, held until
    /// `until` at the latest: granted if fewer than `quota` are held (slots whose holder's
    /// `until` is before `now` are freed on the way, as a worker that died holding one). Taking
    /// it again as its holder is granted and changes nothing. `false`: every slot is held
    /// (nothing written).
    async fn take_import_slot(
        &self,
        holder: &RedirectionId,
        quota: u32,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Gives `holder`'s slot back (its import ended); nothing if it holds none.
    async fn give_back_import_slot(&self, holder: &RedirectionId) -> Result<(), StoreError>;
}

/// What each import found, kept for the lender.
#[async_trait]
pub trait ImportRecordStore: Send + Sync {
    async fn put_import_record(&self, record: &ImportRecord) -> Result<(), StoreError>;

    /// The owner's import records still within their retention, oldest first.
    async fn import_records(
        &self,
        owner: &OwnerExternalId,
    ) -> Result<Vec<ImportRecord>, StoreError>;

    /// Deletes one import record (an import that finished after its redirection was erased).
    async fn delete_import_record(&self, record: &ImportRecord) -> Result<(), StoreError>;
}

/// The funnel's daily counters (no personal data).
#[async_trait]
pub trait FunnelStore: Send + Sync {
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

/// An opaque position in the case list (a [`case_sort_key`](crate::domain::case::case_sort_key)),
/// for the next page.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CaseCursor(pub String);

/// Which way the case list runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseOrder {
    /// Latest change first (staff's list).
    NewestFirst,
    /// Earliest change first (the API's "changed since").
    OldestFirst,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasePage {
    pub cases: Vec<Case>,
    /// Present when more cases may follow.
    pub next: Option<CaseCursor>,
}

/// One look at a case by a staff member, kept for audit with the case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseView {
    /// The staff member's address.
    pub by: String,
    pub at: Timestamp,
}

/// Applications (one [`Case`] per person), filed by status in a sparse index for the case list.
///
/// Contract: a case is kept and erased with its person ([`PersonStore::erase_person`] deletes
/// it, its lookups and its views); one past its `expires_at` is absent from every read; the list
/// reads one status's part of the index, never the table.
#[async_trait]
pub trait CaseStore: Send + Sync {
    /// The person's case, if any.
    async fn get_case(&self, key: &UserKey) -> Result<Option<Case>, StoreError>;

    /// The case with this staff reference, if any.
    async fn case_by_reference(&self, reference: &str) -> Result<Option<Case>, StoreError>;

    /// The case the lender's systems know by this application id, if any (the latest case to
    /// take the id holds it).
    async fn case_by_external_id(&self, external: &str) -> Result<Option<Case>, StoreError>;

    /// Writes `next` filed under `status` if the stored case is still `previous` (by version;
    /// `None`: there must be none), with its lookups by reference and by external id.
    async fn put_case(
        &self,
        next: &Case,
        status: CaseStatus,
        previous: Option<&Case>,
    ) -> Result<ConditionalWrite, StoreError>;

    /// Cases filed under `status`, in `order` of their latest change, strictly after `after`,
    /// at most `limit`.
    async fn list_cases(
        &self,
        status: CaseStatus,
        order: CaseOrder,
        after: Option<&CaseCursor>,
        limit: usize,
    ) -> Result<CasePage, StoreError>;

    /// Records a look at the person's case (kept as long as the case).
    async fn record_case_view(
        &self,
        key: &UserKey,
        view: &CaseView,
        kept_until: Timestamp,
    ) -> Result<(), StoreError>;

    /// The looks at the person's case, newest first.
    async fn case_views(&self, key: &UserKey) -> Result<Vec<CaseView>, StoreError>;
}

/// Multiple accesses kept for imports without the applicant (`domain::access`), in the
/// person's partition: erased with them, forgotten when the access lapses.
#[async_trait]
pub trait AccessStore: Send + Sync {
    /// Keeps `grant` for the person with `key` (in place of one of the same owner id).
    async fn put_access_grant(
        &self,
        key: &UserKey,
        grant: &crate::domain::access::AccessGrant,
    ) -> Result<(), StoreError>;

    /// The person's grants that have not lapsed.
    async fn access_grants(
        &self,
        key: &UserKey,
    ) -> Result<Vec<crate::domain::access::AccessGrant>, StoreError>;
}

/// The whole store, as the use cases hold it: every part above. Any type that implements each
/// part is one.
pub trait Store:
    RedirectionStore
    + PersonStore
    + LoginStore
    + AllowanceStore
    + ImportRecordStore
    + FunnelStore
    + CaseStore
    + AccessStore
{
}

impl<T> Store for T where
    T: RedirectionStore
        + PersonStore
        + LoginStore
        + AllowanceStore
        + ImportRecordStore
        + FunnelStore
        + CaseStore
        + AccessStore
{
}
