//! The embedded store's data, snapshot and redirections (with the poll index).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::domain::{OwnerExternalId, RedirectionId, Timestamp, UserKey};

use crate::domain::machine::{Expected, Redirection};
use crate::ports::{
    poll_shard, Allowance, ConditionalWrite, Created, DueItem, DuePage, FunnelStep, ImportRecord,
    LoginRequest, PollCursor, RedirectionStore, SignInOutcome, SignInRecord, StoreError,
    UserProfile,
};

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data behind these locks is replaced whole in each operation, so a panic elsewhere
    // cannot leave it half-written.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The sort key of the poll index: `<nextPollAt>#<id>`, fixed-width so that string order is time
/// order. Shared by every store adapter so cursors mean the same everywhere.
pub fn poll_sort_key(next_poll_at: Timestamp, id: &RedirectionId) -> String {
    format!(
        "{}#{}",
        next_poll_at.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        id.as_str()
    )
}

// ---------------------------------------------------------------------------------------------
// Store
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(super) struct StoreData {
    pub(super) redirections: HashMap<RedirectionId, Redirection>,
    pub(super) users: HashMap<UserKey, UserProfile>,
    /// Keyed by `owner#time#redirection` (fixed-width time) so one owner's records read back
    /// in order; a string key keeps the snapshot plain JSON.
    pub(super) imports: BTreeMap<String, ImportRecord>,
    pub(super) funnel: BTreeMap<NaiveDate, BTreeMap<FunnelStep, u64>>,
    /// Abuse-limit counters and spent form tokens: count and window end.
    #[serde(default)]
    pub(super) allowances: BTreeMap<String, (u64, Timestamp)>,
    /// How many counters were left by the last sweep of ended ones (the next sweep waits until
    /// there are twice as many: a sweep per take made every start O(counters)).
    #[serde(skip)]
    pub(super) allowances_after_sweep: usize,
    /// Staff members signed out on every device: when, and until when that is remembered.
    #[serde(default)]
    pub(super) staff_sessions_ended: BTreeMap<String, (Timestamp, Timestamp)>,
    /// The slots of Kontomatik's jobs quota: each holder (a redirection id) and until when.
    #[serde(skip)]
    pub(super) import_slots: HashMap<String, Timestamp>,
    /// Each person's sign-ins (their history), kept for their retention.
    #[serde(default)]
    pub(super) sign_ins: BTreeMap<String, StoredSignIn>,
    /// Log-in requests not yet followed, by nonce.
    #[serde(default)]
    pub(super) logins: BTreeMap<String, StoredLogin>,
    /// Owner ids a record had before its person was verified (erasure still finds them).
    #[serde(default)]
    pub(super) former_owners: BTreeMap<UserKey, std::collections::BTreeSet<OwnerExternalId>>,
    /// Each person's case and the status it is filed under.
    #[serde(default)]
    pub(super) cases:
        BTreeMap<UserKey, (crate::domain::case::Case, crate::domain::case::CaseStatus)>,
    /// Case lookups (`r:<reference>`, `x:<external id>`) to the person's key.
    #[serde(default)]
    pub(super) case_aliases: BTreeMap<String, UserKey>,
    /// The looks at each person's case.
    #[serde(default)]
    pub(super) case_views: BTreeMap<UserKey, Vec<crate::ports::CaseView>>,
    /// Each person's kept multiple accesses.
    #[serde(default)]
    pub(super) access_grants: BTreeMap<UserKey, Vec<crate::domain::access::AccessGrant>>,
}

/// A [`SignInRecord`] as the snapshot keeps it, keyed `user#id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct StoredSignIn {
    pub(super) user: UserKey,
    pub(super) id: RedirectionId,
    pub(super) owner: OwnerExternalId,
    pub(super) created_at: Timestamp,
    pub(super) window_ends: Timestamp,
    pub(super) outcome: Option<SignInOutcome>,
    pub(super) kept_until: Timestamp,
}

impl StoredSignIn {
    pub(super) fn record(&self) -> SignInRecord {
        SignInRecord {
            id: self.id.clone(),
            owner: self.owner.clone(),
            created_at: self.created_at,
            window_ends: self.window_ends,
            outcome: self.outcome,
            kept_until: self.kept_until,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct StoredLogin {
    pub(super) email: crate::domain::Email,
    pub(super) language: crate::domain::Language,
    pub(super) expires_at: Timestamp,
}

impl StoredLogin {
    pub(super) fn request(&self, nonce: &str) -> LoginRequest {
        LoginRequest {
            nonce: nonce.to_owned(),
            email: self.email.clone(),
            language: self.language,
            expires_at: self.expires_at,
        }
    }
}

impl StoreData {
    /// The user record, unless past its retention (gone, as DynamoDB's TTL would have it).
    pub(super) fn live_user(&self, key: &UserKey, now: Timestamp) -> Option<UserProfile> {
        self.users.get(key).filter(|u| u.expires_at > now).cloned()
    }
}

pub(super) fn sign_in_key(user: &UserKey, id: &RedirectionId) -> String {
    format!("{user}#{id}")
}

/// The key of an allowance counter (the same shape as the DynamoDB adapter's).
pub(super) fn allowance_key(what: &Allowance) -> String {
    match what {
        Allowance::StartsFromClient { client, hour } => format!("starts#{client}#{hour}"),
        Allowance::LinkEmails { user, day } => format!("links#{user}#{day}"),
        Allowance::FormToken { nonce } => format!("form#{nonce}"),
        // Under the person's prefix, so that an erasure takes it with the link counters.
        Allowance::LoginEmails { user, day } => format!("links#{user}#login#{day}"),
        Allowance::FollowUpsToMailbox { mailbox, window } => {
            format!("links#{mailbox}#followups#{window}")
        }
    }
}

pub(super) fn import_key(record: &ImportRecord) -> String {
    format!(
        "{}#{}#{}",
        record.owner,
        record.imported_at.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        record.redirection_id
    )
}

/// The embedded [`RedirectionStore`].
#[derive(Debug)]
pub struct EmbeddedStore {
    pub(super) clock: Arc<dyn Clock>,
    pub(super) data: Mutex<StoreData>,
    /// A fault on demand: the next conditional write that applies answers `Conflict`, as when
    /// DynamoDB applied a write, its answer was lost and the SDK's retry failed its condition.
    pub(super) lose_next_answer: std::sync::atomic::AtomicBool,
    /// A page size on demand: the case list answers at most this many per page (0: as asked),
    /// as DynamoDB does when a page reaches 1 MB.
    pub(super) case_page_cap: std::sync::atomic::AtomicUsize,
}

impl EmbeddedStore {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        EmbeddedStore {
            clock,
            data: Mutex::new(StoreData::default()),
            lose_next_answer: std::sync::atomic::AtomicBool::new(false),
            case_page_cap: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// From now on the case list answers at most `cap` cases a page, whatever was asked (a
    /// page cut short, as DynamoDB cuts one at 1 MB).
    pub fn cap_case_pages(&self, cap: usize) {
        self.case_page_cap
            .store(cap, std::sync::atomic::Ordering::SeqCst);
    }

    /// The next redirection write that applies answers `Conflict` (its answer lost).
    pub fn lose_next_write_answer(&self) {
        self.lose_next_answer
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Every live redirection, newest first (for the local operator view).
    pub fn redirections(&self) -> Vec<Redirection> {
        let now = self.clock.now();
        let mut v: Vec<_> = lock(&self.data)
            .redirections
            .values()
            .filter(|r| !r.is_forgotten(now))
            .cloned()
            .collect();
        v.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        v
    }

    /// How many redirection items are physically held, expired or not (TTL deletion is lazy).
    pub fn physical_redirection_count(&self) -> usize {
        lock(&self.data).redirections.len()
    }

    /// Deletes items whose window has passed, as DynamoDB's TTL sweeper eventually does.
    pub fn sweep_expired(&self) -> usize {
        let now = self.clock.now();
        let mut d = lock(&self.data);
        let before = d.redirections.len() + d.users.len() + d.imports.len();
        d.redirections.retain(|_, r| !r.is_forgotten(now));
        d.users.retain(|_, u| u.expires_at > now);
        d.imports.retain(|_, i| i.expires_at > now);
        d.allowances.retain(|_, (_, end)| *end > now);
        before - (d.redirections.len() + d.users.len() + d.imports.len())
    }

    /// The whole state as JSON (for the local run's data directory).
    pub fn snapshot(&self) -> Result<String, StoreError> {
        serde_json::to_string(&*lock(&self.data)).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// Replaces the whole state with a snapshot.
    pub fn restore(&self, json: &str) -> Result<(), StoreError> {
        let data: StoreData =
            serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        *lock(&self.data) = data;
        Ok(())
    }
}

#[async_trait]
impl RedirectionStore for EmbeddedStore {
    async fn create_sign_in(
        &self,
        r: &Redirection,
        record: &SignInRecord,
    ) -> Result<Created, StoreError> {
        let now = self.clock.now();
        let mut d = lock(&self.data);
        d.sign_ins.insert(
            sign_in_key(&r.user_key, &r.id),
            StoredSignIn {
                user: r.user_key.clone(),
                id: record.id.clone(),
                owner: record.owner.clone(),
                created_at: record.created_at,
                window_ends: record.window_ends,
                outcome: record.outcome,
                kept_until: record.kept_until,
            },
        );
        if d.redirections
            .get(&r.id)
            .is_some_and(|old| !old.is_forgotten(now))
        {
            return Ok(Created::AlreadyExists);
        }
        d.redirections.insert(r.id.clone(), r.clone());
        Ok(Created::Created)
    }

    async fn get_redirection(&self, id: &RedirectionId) -> Result<Option<Redirection>, StoreError> {
        let now = self.clock.now();
        Ok(lock(&self.data)
            .redirections
            .get(id)
            .filter(|r| !r.is_forgotten(now))
            .cloned())
    }

    async fn save_redirection(
        &self,
        next: &Redirection,
        expected: Expected,
    ) -> Result<ConditionalWrite, StoreError> {
        let now = self.clock.now();
        let mut d = lock(&self.data);
        let current = d.redirections.get(&next.id);
        let matches = current.is_some_and(|c| {
            !c.is_forgotten(now) && c.state == expected.state && c.version == expected.version
        });
        if !matches {
            return Ok(ConditionalWrite::Conflict);
        }
        d.redirections.insert(next.id.clone(), next.clone());
        if self
            .lose_next_answer
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return Ok(ConditionalWrite::Conflict);
        }
        Ok(ConditionalWrite::Applied)
    }

    async fn due_for_poll(
        &self,
        shard: u8,
        now: Timestamp,
        limit: usize,
        after: Option<PollCursor>,
    ) -> Result<DuePage, StoreError> {
        let clock_now = self.clock.now();
        let d = lock(&self.data);
        let mut due: Vec<(String, DueItem)> = d
            .redirections
            .values()
            .filter(|r| !r.is_forgotten(clock_now) && poll_shard(&r.id) == shard)
            .filter_map(|r| {
                let at = r.next_poll_at?;
                (at <= now).then(|| {
                    (
                        poll_sort_key(at, &r.id),
                        DueItem {
                            id: r.id.clone(),
                            next_poll_at: at,
                        },
                    )
                })
            })
            .filter(|(key, _)| after.as_ref().is_none_or(|c| key.as_str() > c.0.as_str()))
            .collect();
        due.sort_by(|a, b| a.0.cmp(&b.0));
        let more = due.len() > limit;
        due.truncate(limit);
        let next = if more {
            due.last().map(|(k, _)| PollCursor(k.clone()))
        } else {
            None
        };
        Ok(DuePage {
            items: due.into_iter().map(|(_, item)| item).collect(),
            next,
        })
    }
}
