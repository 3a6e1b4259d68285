//! In-process adapters with the same semantics as the AWS ones: conditional writes that fail on a
//! stale state or version, items that vanish after their 24 h window (TTL) on the injected clock,
//! a queue with delays, visibility timeouts, redelivery and a dead-letter list, and an outbox.
//! Used by the local run and by unit tests; the contract tests hold them to the AWS behaviour.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::domain::{OwnerExternalId, RedirectionId, Timestamp, UserKey};

use crate::machine::{Expected, Redirection};
use crate::ports::{
    poll_shard, Allowance, Cas, ConsentChoice, Created, Delivery, DueItem, DuePage, FollowUpClaim,
    FunnelDay, FunnelStep, ImportJob, ImportQueue, ImportQueueConsumer, ImportRecord, LoginRequest,
    MailError, Mailer, OutgoingEmail, PersonalData, PollCursor, QueueError, RedirectionStore,
    SignInOutcome, SignInRecord, StartedBy, StoreError, UserProfile,
};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
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
struct StoreData {
    redirections: HashMap<RedirectionId, Redirection>,
    users: HashMap<UserKey, UserProfile>,
    /// Keyed by `owner#time#redirection` (fixed-width time) so one owner's records read back
    /// in order; a string key keeps the snapshot plain JSON.
    imports: BTreeMap<String, ImportRecord>,
    funnel: BTreeMap<NaiveDate, BTreeMap<FunnelStep, u64>>,
    /// Abuse-limit counters and spent form tokens: count and window end.
    #[serde(default)]
    allowances: BTreeMap<String, (u64, Timestamp)>,
    /// How many counters were left by the last sweep of ended ones (the next sweep waits until
    /// there are twice as many: a sweep per take made every start O(counters)).
    #[serde(skip)]
    allowances_after_sweep: usize,
    /// Each person's sign-ins (their history), kept for their retention.
    #[serde(default)]
    sign_ins: BTreeMap<String, StoredSignIn>,
    /// Log-in requests not yet followed, by nonce.
    #[serde(default)]
    logins: BTreeMap<String, StoredLogin>,
    /// Owner ids a record had before its person was verified (erasure still finds them).
    #[serde(default)]
    former_owners: BTreeMap<UserKey, std::collections::BTreeSet<OwnerExternalId>>,
}

/// A [`SignInRecord`] as the snapshot keeps it, keyed `user#id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSignIn {
    user: UserKey,
    id: RedirectionId,
    owner: OwnerExternalId,
    created_at: Timestamp,
    window_ends: Timestamp,
    outcome: Option<SignInOutcome>,
    kept_until: Timestamp,
}

impl StoredSignIn {
    fn record(&self) -> SignInRecord {
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
struct StoredLogin {
    email: crate::domain::Email,
    language: crate::domain::Language,
    expires_at: Timestamp,
}

impl StoredLogin {
    fn request(&self, nonce: &str) -> LoginRequest {
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
    fn live_user(&self, key: &UserKey, now: Timestamp) -> Option<UserProfile> {
        self.users.get(key).filter(|u| u.expires_at > now).cloned()
    }
}

fn sign_in_key(user: &UserKey, id: &RedirectionId) -> String {
    format!("{user}#{id}")
}

/// The key of an allowance counter (the same shape as the DynamoDB adapter's).
fn allowance_key(what: &Allowance) -> String {
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

fn import_key(record: &ImportRecord) -> String {
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
    clock: Arc<dyn Clock>,
    data: Mutex<StoreData>,
    /// A fault on demand: the next conditional write that applies answers `Conflict`, as when
    /// DynamoDB applied a write, its answer was lost and the SDK's retry failed its condition.
    lose_next_answer: std::sync::atomic::AtomicBool,
}

impl EmbeddedStore {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        EmbeddedStore {
            clock,
            data: Mutex::new(StoreData::default()),
            lose_next_answer: std::sync::atomic::AtomicBool::new(false),
        }
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
    ) -> Result<Cas, StoreError> {
        let now = self.clock.now();
        let mut d = lock(&self.data);
        let current = d.redirections.get(&next.id);
        let matches = current.is_some_and(|c| {
            !c.is_forgotten(now) && c.state == expected.state && c.version == expected.version
        });
        if !matches {
            return Ok(Cas::Conflict);
        }
        d.redirections.insert(next.id.clone(), next.clone());
        if self
            .lose_next_answer
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return Ok(Cas::Conflict);
        }
        Ok(Cas::Applied)
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

    async fn sign_ins(&self, key: &UserKey) -> Result<Vec<SignInRecord>, StoreError> {
        let now = self.clock.now();
        let prefix = format!("{key}#");
        let mut found: Vec<SignInRecord> = lock(&self.data)
            .sign_ins
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(_, s)| s)
            .filter(|s| s.kept_until > now)
            .map(StoredSignIn::record)
            .collect();
        found.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        Ok(found)
    }

    async fn record_sign_in_outcome(
        &self,
        key: &UserKey,
        id: &RedirectionId,
        outcome: SignInOutcome,
    ) -> Result<(), StoreError> {
        if let Some(s) = lock(&self.data).sign_ins.get_mut(&sign_in_key(key, id)) {
            s.outcome = Some(outcome);
        }
        Ok(())
    }

    async fn put_login_request(&self, request: &LoginRequest) -> Result<(), StoreError> {
        lock(&self.data).logins.insert(
            request.nonce.clone(),
            StoredLogin {
                email: request.email.clone(),
                language: request.language,
                expires_at: request.expires_at,
            },
        );
        Ok(())
    }

    async fn login_request(&self, nonce: &str) -> Result<Option<LoginRequest>, StoreError> {
        let now = self.clock.now();
        Ok(lock(&self.data)
            .logins
            .get(nonce)
            .filter(|l| l.expires_at > now)
            .map(|l| l.request(nonce)))
    }

    async fn take_login_request(&self, nonce: &str) -> Result<Option<LoginRequest>, StoreError> {
        let now = self.clock.now();
        let mut d = lock(&self.data);
        // Expired ones go as DynamoDB's TTL would take them.
        d.logins.retain(|_, l| l.expires_at > now);
        Ok(d.logins.remove(nonce).map(|l| l.request(nonce)))
    }

    async fn verify_person(&self, candidate: &UserProfile) -> Result<UserProfile, StoreError> {
        let now = self.clock.now();
        let mut d = lock(&self.data);
        let live = d.live_user(&candidate.key, now);
        let stored = match live {
            Some(u) if u.is_verified() => u,
            Some(u) => {
                d.former_owners
                    .entry(u.key.clone())
                    .or_default()
                    .insert(u.owner.clone());
                crate::ports::verified_record(&u, candidate)
            }
            // None, or past its retention (gone, as DynamoDB's TTL would have it).
            None => candidate.clone(),
        };
        d.users.insert(candidate.key.clone(), stored.clone());
        Ok(stored)
    }

    async fn end_sessions(&self, key: &UserKey) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let mut d = lock(&self.data);
        Ok(match d.users.get_mut(key).filter(|u| u.expires_at > now) {
            Some(u) => {
                u.session_generation += 1;
                true
            }
            None => false,
        })
    }

    async fn record_start(
        &self,
        candidate: &UserProfile,
        record_consent: bool,
        by: StartedBy,
    ) -> Result<UserProfile, StoreError> {
        let now = self.clock.now();
        let mut d = lock(&self.data);
        let live = d.live_user(&candidate.key, now);
        let next = crate::ports::merge_start(live, candidate, record_consent, by)?;
        d.users.insert(candidate.key.clone(), next.clone());
        Ok(next)
    }

    async fn get_user(&self, key: &UserKey) -> Result<Option<UserProfile>, StoreError> {
        Ok(lock(&self.data).live_user(key, self.clock.now()))
    }

    async fn record_consent(
        &self,
        key: &UserKey,
        choice: ConsentChoice,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let mut d = lock(&self.data);
        Ok(match d.users.get_mut(key).filter(|u| u.expires_at > now) {
            Some(u) => {
                u.consent = choice;
                true
            }
            None => false,
        })
    }

    async fn take_allowance(
        &self,
        what: &Allowance,
        limit: u64,
        window_end: Timestamp,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let mut d = lock(&self.data);
        if d.allowances.len() >= 2 * d.allowances_after_sweep.max(512) {
            d.allowances.retain(|_, (_, end)| *end > now);
            d.allowances_after_sweep = d.allowances.len();
        }
        let entry = d
            .allowances
            .entry(allowance_key(what))
            .or_insert((0, window_end));
        // An ended window counts as absent (as DynamoDB's TTL, which may delete it late).
        if entry.1 <= now {
            *entry = (0, window_end);
        }
        if entry.0 >= limit {
            return Ok(false);
        }
        entry.0 += 1;
        Ok(true)
    }

    async fn personal_data(&self, key: &UserKey) -> Result<PersonalData, StoreError> {
        let now = self.clock.now();
        let d = lock(&self.data);
        let stored = d.users.get(key);
        let user = stored.filter(|u| u.expires_at > now).cloned();
        // An expired record's owner id still finds that owner's import records.
        let mut owners: std::collections::BTreeSet<OwnerExternalId> =
            stored.iter().map(|u| u.owner.clone()).collect();
        let mut redirections = vec![];
        for r in d.redirections.values().filter(|r| &r.user_key == key) {
            owners.insert(r.owner.clone());
            redirections.push(r.id.clone());
        }
        owners.extend(d.former_owners.get(key).into_iter().flatten().cloned());
        // Sign-ins past their window keep their owner ids (an anonymous start's own).
        let history = format!("{key}#");
        for (_, s) in d
            .sign_ins
            .range(history.clone()..)
            .take_while(|(k, _)| k.starts_with(&history))
        {
            owners.insert(s.owner.clone());
        }
        redirections.sort();
        let imports = d
            .imports
            .values()
            .filter(|i| owners.contains(&i.owner))
            .count();
        Ok(PersonalData {
            user,
            redirections,
            owners,
            imports,
        })
    }

    async fn erase_person(&self, key: &UserKey) -> Result<PersonalData, StoreError> {
        let found = self.personal_data(key).await?;
        let mut d = lock(&self.data);
        d.users.remove(key);
        d.former_owners.remove(key);
        d.redirections.retain(|_, r| &r.user_key != key);
        let history = format!("{key}#");
        d.sign_ins.retain(|k, _| !k.starts_with(&history));
        d.imports.retain(|_, i| !found.owners.contains(&i.owner));
        let links = format!("links#{key}#");
        d.allowances.retain(|k, _| !k.starts_with(&links));
        Ok(found)
    }

    async fn delete_import_record(&self, record: &ImportRecord) -> Result<(), StoreError> {
        lock(&self.data).imports.remove(&import_key(record));
        Ok(())
    }

    async fn record_success(&self, key: &UserKey, at: Timestamp) -> Result<(), StoreError> {
        let mut d = lock(&self.data);
        if let Some(u) = d.users.get_mut(key) {
            u.last_success_at = Some(u.last_success_at.map_or(at, |old| old.max(at)));
        }
        Ok(())
    }

    async fn claim_follow_up(
        &self,
        key: &UserKey,
        claim: FollowUpClaim,
    ) -> Result<bool, StoreError> {
        let mut d = lock(&self.data);
        let Some(u) = d.users.get_mut(key) else {
            return Ok(false);
        };
        let cutoff = claim.now - claim.not_within;
        let allowed = u.expires_at > claim.now
            && u.consent.given
            && u.last_follow_up_at.is_none_or(|t| t < cutoff)
            && u.last_success_at.is_none_or(|t| t < claim.no_success_since);
        if allowed {
            u.last_follow_up_at = Some(claim.now);
        }
        Ok(allowed)
    }

    async fn put_import_record(&self, record: &ImportRecord) -> Result<(), StoreError> {
        lock(&self.data)
            .imports
            .insert(import_key(record), record.clone());
        Ok(())
    }

    async fn import_records(
        &self,
        owner: &OwnerExternalId,
    ) -> Result<Vec<ImportRecord>, StoreError> {
        let now = self.clock.now();
        Ok(lock(&self.data)
            .imports
            .range(format!("{owner}#")..)
            .take_while(|(k, _)| k.starts_with(&format!("{owner}#")))
            .map(|(_, r)| r)
            .filter(|r| r.expires_at > now)
            .cloned()
            .collect())
    }

    async fn add_to_funnel(
        &self,
        day: NaiveDate,
        step: FunnelStep,
        n: u64,
    ) -> Result<(), StoreError> {
        *lock(&self.data)
            .funnel
            .entry(day)
            .or_default()
            .entry(step)
            .or_insert(0) += n;
        Ok(())
    }

    async fn funnel(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<FunnelDay>, StoreError> {
        let d = lock(&self.data);
        Ok(from
            .iter_days()
            .take_while(|day| *day <= to)
            .map(|day| FunnelDay {
                day: Some(day),
                counts: d.funnel.get(&day).cloned().unwrap_or_default(),
            })
            .collect())
    }
}

// ---------------------------------------------------------------------------------------------
// Queue
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Message {
    job: ImportJob,
    visible_at: Timestamp,
    receive_count: u32,
    receipt: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct QueueData {
    messages: Vec<Message>,
    dead: Vec<ImportJob>,
}

/// The embedded import queue: SQS semantics on the injected clock. A message received more than
/// `max_receives` times goes to the dead-letter list instead (SQS's redrive policy).
#[derive(Debug)]
pub struct EmbeddedQueue {
    clock: Arc<dyn Clock>,
    max_receives: u32,
    data: Mutex<QueueData>,
}

impl EmbeddedQueue {
    pub fn new(clock: Arc<dyn Clock>, max_receives: u32) -> Self {
        EmbeddedQueue {
            clock,
            max_receives: max_receives.max(1),
            data: Mutex::new(QueueData::default()),
        }
    }

    /// Messages on the queue, visible or not.
    pub fn len(&self) -> usize {
        lock(&self.data).messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Jobs moved to the dead-letter list.
    pub fn dead_letters(&self) -> Vec<ImportJob> {
        lock(&self.data).dead.clone()
    }

    /// The queue as JSON (for the local run's data directory).
    pub fn snapshot(&self) -> Result<String, QueueError> {
        serde_json::to_string(&*lock(&self.data)).map_err(|e| QueueError::Malformed(e.to_string()))
    }

    pub fn restore(&self, json: &str) -> Result<(), QueueError> {
        *lock(&self.data) =
            serde_json::from_str(json).map_err(|e| QueueError::Malformed(e.to_string()))?;
        Ok(())
    }

    /// The jobs on the queue with when each becomes visible (for the operator view).
    pub fn pending(&self) -> Vec<(ImportJob, Timestamp, u32)> {
        lock(&self.data)
            .messages
            .iter()
            .map(|m| (m.job.clone(), m.visible_at, m.receive_count))
            .collect()
    }
}

fn chrono_of(d: StdDuration) -> Duration {
    Duration::from_std(d).unwrap_or_else(|_| Duration::days(365))
}

#[async_trait]
impl ImportQueue for EmbeddedQueue {
    async fn enqueue(&self, job: &ImportJob, delay: StdDuration) -> Result<(), QueueError> {
        let visible_at = self.clock.now() + chrono_of(delay.min(StdDuration::from_secs(900)));
        lock(&self.data).messages.push(Message {
            job: job.clone(),
            visible_at,
            receive_count: 0,
            receipt: None,
        });
        Ok(())
    }
}

#[async_trait]
impl ImportQueueConsumer for EmbeddedQueue {
    async fn receive(
        &self,
        max: usize,
        visibility: StdDuration,
    ) -> Result<Vec<Delivery>, QueueError> {
        let now = self.clock.now();
        let mut d = lock(&self.data);
        let data = &mut *d;
        let mut out = vec![];
        let mut i = 0;
        while i < data.messages.len() && out.len() < max {
            let m = &mut data.messages[i];
            if m.visible_at > now {
                i += 1;
                continue;
            }
            if m.receive_count >= self.max_receives {
                let dead = data.messages.remove(i);
                data.dead.push(dead.job);
                continue;
            }
            m.receive_count += 1;
            m.visible_at = now + chrono_of(visibility);
            let receipt = uuid::Uuid::new_v4().to_string();
            m.receipt = Some(receipt.clone());
            out.push(Delivery {
                receipt,
                job: m.job.clone(),
                receive_count: m.receive_count,
            });
            i += 1;
        }
        Ok(out)
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        lock(&self.data)
            .messages
            .retain(|m| m.receipt.as_deref() != Some(receipt));
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Mailer
// ---------------------------------------------------------------------------------------------

/// One email the outbox holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentEmail {
    pub id: String,
    pub sent_at: Timestamp,
    pub mail: OutgoingEmail,
}

/// The embedded [`Mailer`]: keeps every message, and can be told to fail the next sends.
#[derive(Debug)]
pub struct Outbox {
    clock: Arc<dyn Clock>,
    sent: Mutex<Vec<SentEmail>>,
    fail_next: Mutex<u32>,
}

impl Outbox {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Outbox {
            clock,
            sent: Mutex::new(vec![]),
            fail_next: Mutex::new(0),
        }
    }

    pub fn sent(&self) -> Vec<SentEmail> {
        lock(&self.sent).clone()
    }

    /// The outbox as JSON (for the local run's data directory).
    pub fn snapshot(&self) -> Result<String, MailError> {
        serde_json::to_string(&*lock(&self.sent)).map_err(|e| MailError::Rejected(e.to_string()))
    }

    pub fn restore(&self, json: &str) -> Result<(), MailError> {
        *lock(&self.sent) =
            serde_json::from_str(json).map_err(|e| MailError::Rejected(e.to_string()))?;
        Ok(())
    }

    /// The next `n` sends fail as if the mail service were down.
    pub fn fail_next(&self, n: u32) {
        *lock(&self.fail_next) = n;
    }
}

#[async_trait]
impl Mailer for Outbox {
    async fn send(&self, mail: &OutgoingEmail) -> Result<String, MailError> {
        {
            let mut f = lock(&self.fail_next);
            if *f > 0 {
                *f -= 1;
                return Err(MailError::Unavailable("outbox told to fail".into()));
            }
        }
        let id = format!("local-{}", uuid::Uuid::new_v4().simple());
        lock(&self.sent).push(SentEmail {
            id: id.clone(),
            sent_at: self.clock.now(),
            mail: mail.clone(),
        });
        Ok(id)
    }

    async fn forget_recipient(&self, to: &crate::domain::Email) -> Result<usize, MailError> {
        let key = to.user_key();
        let mut sent = lock(&self.sent);
        let before = sent.len();
        sent.retain(|m| m.mail.to.user_key() != key);
        Ok(before - sent.len())
    }
}
