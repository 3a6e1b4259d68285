//! The adapters that inject our side's faults around the real ones: kill points in the store
//! and the Kontomatik client, unreadable items, failing mail; the simulated clock's pause; and
//! the DynamoDB client that sends one write request at a time (for moto).

use signin_core::domain::case::{Case, CaseStatus};
use signin_core::ports::{CaseCursor, CaseOrder, CasePage, CaseStore, CaseView};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::Duration;
use chrono::NaiveDate;
use kontomatik::KontomatikClient;
use signin_core::adapters::embedded::Outbox;
use signin_core::domain::import::ImportSink;
use signin_core::domain::machine::{Expected, Redirection, State};
use signin_core::domain::RedirectionStatus;
use signin_core::domain::{
    CommandId, OwnerExternalId, RedirectionId, SessionData, Timestamp, UserKey,
};
use signin_core::ports::{
    Allowance, AllowanceStore, CommandStatus, ConditionalWrite, ConsentChoice, Created, DuePage,
    FetchRedirection, FollowUpClaim, FunnelDay, FunnelStep, FunnelStore, ImportRecord,
    ImportRecordStore, Kontomatik, KontomatikError, LoginRequest, LoginStore, MailError, Mailer,
    OutgoingEmail, PersonStore, PersonalData, PollCursor, RedirectionLink, RedirectionStore,
    SignInOutcome, SignInRecord, SignOut, StartedBy, Store, StoreError, UserProfile,
};
use signin_core::SimClock;
use tokio::sync::Notify;

/// Where a worker is killed (the Lambda's process ends there; its message is redelivered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KillPoint {
    BeforeClaim,
    AfterClaim,
    AfterDefaultImport,
    MidPolling,
}

pub(super) const KILL_POINTS: [KillPoint; 4] = [
    KillPoint::BeforeClaim,
    KillPoint::AfterClaim,
    KillPoint::AfterDefaultImport,
    KillPoint::MidPolling,
];

/// Arms one kill; the adapter that reaches the point fires it and never returns.
#[derive(Debug, Default)]
pub(super) struct KillSwitch {
    pub(super) armed: Mutex<Option<KillPoint>>,
    /// Where the last kill happened.
    pub(super) fired_at: Mutex<Option<KillPoint>>,
    pub(super) fired: Notify,
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
pub(super) struct FaultyStore {
    pub(super) inner: Arc<dyn Store>,
    pub(super) kill: Arc<KillSwitch>,
    pub(super) unreadable: Mutex<HashSet<RedirectionId>>,
}

/// Moto applies a write without a lock: it reads the item, evaluates the condition (or the
/// `ADD`) and stores the result, and a concurrent request can run in between. Two conditional
/// puts on the same version can then both succeed (`infra/scripts/moto-conditional-race.py`
/// shows it), and two adds at the same instant can lose one. DynamoDB applies each write
/// request to an item atomically. So that the run on moto tests our writes and not moto's, the
/// DynamoDB client sends one write request at a time; reads, and everything between requests
/// (a store method's several requests too), still interleave.
pub(super) fn one_write_request_at_a_time() -> aws_smithy_runtime_api::client::http::SharedHttpClient
{
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
    ) -> Result<ConditionalWrite, StoreError> {
        let claim = next.state == State::ImportRunning && expected.state != State::ImportRunning;
        if claim {
            self.kill.at(KillPoint::BeforeClaim).await;
        }
        let done = self.inner.save_redirection(next, expected).await?;
        if claim && done == ConditionalWrite::Applied {
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
}

#[async_trait]
impl PersonStore for FaultyStore {
    async fn record_start(
        &self,
        candidate: &UserProfile,
        record_consent: bool,
        by: StartedBy,
    ) -> Result<UserProfile, StoreError> {
        self.inner.record_start(candidate, record_consent, by).await
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

    async fn verify_person(&self, candidate: &UserProfile) -> Result<UserProfile, StoreError> {
        self.inner.verify_person(candidate).await
    }

    async fn end_sessions(&self, key: &UserKey) -> Result<bool, StoreError> {
        self.inner.end_sessions(key).await
    }

    async fn record_success(&self, key: &UserKey, at: Timestamp) -> Result<(), StoreError> {
        self.inner.record_success(key, at).await
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

    async fn personal_data(&self, key: &UserKey) -> Result<PersonalData, StoreError> {
        self.inner.personal_data(key).await
    }

    async fn erase_person(&self, key: &UserKey) -> Result<PersonalData, StoreError> {
        self.inner.erase_person(key).await
    }
}

#[async_trait]
impl LoginStore for FaultyStore {
    async fn put_login_request(&self, request: &LoginRequest) -> Result<(), StoreError> {
        self.inner.put_login_request(request).await
    }

    async fn login_request(&self, nonce: &str) -> Result<Option<LoginRequest>, StoreError> {
        self.inner.login_request(nonce).await
    }

    async fn take_login_request(&self, nonce: &str) -> Result<Option<LoginRequest>, StoreError> {
        self.inner.take_login_request(nonce).await
    }

    async fn staff_sessions_ended_at(
        &self,
        staff: &UserKey,
    ) -> Result<Option<Timestamp>, StoreError> {
        self.inner.staff_sessions_ended_at(staff).await
    }

    async fn end_staff_sessions(
        &self,
        staff: &UserKey,
        at: Timestamp,
        forget_after: Timestamp,
    ) -> Result<(), StoreError> {
        self.inner.end_staff_sessions(staff, at, forget_after).await
    }
}

#[async_trait]
impl AllowanceStore for FaultyStore {
    async fn take_allowance(
        &self,
        what: &Allowance,
        limit: u64,
        window_end: Timestamp,
    ) -> Result<bool, StoreError> {
        self.inner.take_allowance(what, limit, window_end).await
    }

    async fn claim_follow_up(
        &self,
        key: &UserKey,
        claim: FollowUpClaim,
    ) -> Result<bool, StoreError> {
        self.inner.claim_follow_up(key, claim).await
    }

    async fn take_import_slot(
        &self,
        holder: &RedirectionId,
        quota: u32,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.inner.take_import_slot(holder, quota, until, now).await
    }

    async fn give_back_import_slot(&self, holder: &RedirectionId) -> Result<(), StoreError> {
        self.inner.give_back_import_slot(holder).await
    }
}

#[async_trait]
impl ImportRecordStore for FaultyStore {
    async fn put_import_record(&self, record: &ImportRecord) -> Result<(), StoreError> {
        self.inner.put_import_record(record).await
    }

    async fn import_records(
        &self,
        owner: &OwnerExternalId,
    ) -> Result<Vec<ImportRecord>, StoreError> {
        self.inner.import_records(owner).await
    }

    async fn delete_import_record(&self, record: &ImportRecord) -> Result<(), StoreError> {
        self.inner.delete_import_record(record).await
    }
}

#[async_trait]
impl FunnelStore for FaultyStore {
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

#[async_trait]
impl CaseStore for FaultyStore {
    async fn get_case(&self, key: &UserKey) -> Result<Option<Case>, StoreError> {
        self.inner.get_case(key).await
    }

    async fn case_by_reference(&self, reference: &str) -> Result<Option<Case>, StoreError> {
        self.inner.case_by_reference(reference).await
    }

    async fn case_by_external_id(&self, external: &str) -> Result<Option<Case>, StoreError> {
        self.inner.case_by_external_id(external).await
    }

    async fn put_case(
        &self,
        next: &Case,
        status: CaseStatus,
        previous: Option<&Case>,
    ) -> Result<ConditionalWrite, StoreError> {
        self.inner.put_case(next, status, previous).await
    }

    async fn list_cases(
        &self,
        status: CaseStatus,
        order: CaseOrder,
        after: Option<&CaseCursor>,
        limit: usize,
    ) -> Result<CasePage, StoreError> {
        self.inner.list_cases(status, order, after, limit).await
    }

    async fn record_case_view(
        &self,
        key: &UserKey,
        view: &CaseView,
        kept_until: Timestamp,
    ) -> Result<(), StoreError> {
        self.inner.record_case_view(key, view, kept_until).await
    }

    async fn case_views(&self, key: &UserKey) -> Result<Vec<CaseView>, StoreError> {
        self.inner.case_views(key).await
    }
}

#[async_trait]
impl signin_core::ports::AccessStore for FaultyStore {
    async fn put_access_grant(
        &self,
        key: &UserKey,
        grant: &signin_core::domain::access::AccessGrant,
    ) -> Result<(), StoreError> {
        self.inner.put_access_grant(key, grant).await
    }

    async fn access_grants(
        &self,
        key: &UserKey,
    ) -> Result<Vec<signin_core::domain::access::AccessGrant>, StoreError> {
        self.inner.access_grants(key).await
    }
}

/// The Kontomatik client, with kill points around Default Import and the command polls.
pub(super) struct KillableKontomatik {
    pub(super) inner: KontomatikClient,
    pub(super) kill: Arc<KillSwitch>,
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
pub(super) struct ClockPause(pub(super) SimClock);

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
pub(super) struct FaultyMailer {
    pub(super) inner: Arc<Outbox>,
    pub(super) fail_to: Mutex<Option<String>>,
    pub(super) failed: Mutex<u64>,
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
