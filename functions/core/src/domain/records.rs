//! The records the stores keep about people, their sign-ins, imports and the funnel, and the
//! rules every store adapter follows when a start or a verification meets a live record.

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::domain::import::ImportSummary;
use crate::domain::machine::Redirection;
use crate::domain::{Email, Language, OwnerExternalId, RedirectionId, Timestamp, UserKey};
use crate::ports::StoreError;

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
    pub fn on_entering(state: crate::domain::machine::State) -> Option<Self> {
        use crate::domain::machine::State;
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
    /// The credit officer's figures (records made before it have none).
    #[serde(default)]
    pub credit: Option<crate::domain::credit::CreditAnalysis>,
    /// Where the data came from: a Default Import of the sign-in, or the owner's data as
    /// Kontomatik keeps it, read later by staff (a case's refresh).
    #[serde(default)]
    pub source: ImportSource,
    /// The record is deleted after this (retention).
    pub expires_at: Timestamp,
}

/// Where an import record's data came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportSource {
    /// The sign-in's one Default Import.
    #[default]
    DefaultImport,
    /// The owner's data as Kontomatik keeps it (`GET /v1/data.xml`), read to refresh a case.
    OwnerData,
    /// A new import without the applicant, with a kept multiple access (a case's refresh).
    AccessImport,
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
    /// A next step sent to an applicant by the lender.
    Decided,
}

impl FunnelStep {
    pub const ALL: [FunnelStep; 9] = [
        FunnelStep::Started,
        FunnelStep::Returned,
        FunnelStep::Success,
        FunnelStep::Error,
        FunnelStep::Expired,
        FunnelStep::Imported,
        FunnelStep::FollowUps,
        FunnelStep::Recovered,
        FunnelStep::Decided,
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
            FunnelStep::Decided => "decided",
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
/// [`PersonStore::record_start`](crate::ports::PersonStore::record_start). Every store adapter follows it.
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
