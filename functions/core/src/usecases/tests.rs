//! The use cases on the embedded adapters with the **production** settings (timeouts, margins,
//! lease, pacing), a scripted Kontomatik whose every call takes a set time on the simulated
//! clock, and the worker's and poller's deadlines as Lambda gives them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{Duration, NaiveDate};

mod cases;

use super::{App, JobOutcome};
use crate::adapters::embedded::{EmbeddedQueue, EmbeddedStore, Outbox};
use crate::clock::{Clock, SimClock};
use crate::config::Settings;
use crate::domain::import::ImportSink;
use crate::domain::machine::{Event, NewRedirection, Redirection, State};
use crate::domain::RedirectionStatus;
use crate::domain::{
    AccessMode, CommandId, CommandState, Country, Email, Language, OwnerExternalId, RedirectionId,
    Secret, SessionData, Timestamp,
};
use crate::ports::{
    poll_shard, CommandStatus, FetchRedirection, ImportJob, ImportQueue, ImportQueueConsumer,
    Kontomatik, KontomatikError, RedirectionLink, RedirectionStore, SignOut, POLL_SHARDS,
};

/// Kontomatik as a script: each call takes `latency` on the clock; statuses and command states
/// are answered from queues (then a default); every call is recorded.
#[derive(Debug)]
struct Scripted {
    clock: Arc<SimClock>,
    latency: Mutex<Duration>,
    /// How long reading a command's status (and result) takes, if not `latency`.
    read_latency: Mutex<Option<Duration>>,
    statuses: Mutex<VecDeque<Result<RedirectionStatus, KontomatikError>>>,
    commands: Mutex<VecDeque<CommandState>>,
    /// When the command queue is empty.
    command_default: Mutex<CommandState>,
    /// (call, when it started) of every call.
    calls: Mutex<Vec<(&'static str, Timestamp)>>,
    /// The limit of each command status read.
    limits: Mutex<Vec<Option<StdDuration>>>,
    /// Default Import's answers, in order (then a command id).
    imports: Mutex<VecDeque<Result<CommandId, KontomatikError>>>,
    status_checks: Mutex<Vec<RedirectionId>>,
    /// Holds the next status check open until released.
    gate: Mutex<Option<Arc<Gate>>>,
    /// Each owner deletion waits here until as many are under way as the barrier holds.
    deletions_together: Mutex<Option<Arc<tokio::sync::Barrier>>>,
}

/// A status check held open, to race another request against it: `entered` once the check
/// has begun, and it answers after `release`.
#[derive(Debug, Default)]
struct Gate {
    entered: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

impl Scripted {
    fn new(clock: Arc<SimClock>) -> Self {
        Scripted {
            clock,
            latency: Mutex::new(Duration::milliseconds(100)),
            read_latency: Mutex::new(None),
            statuses: Mutex::new(VecDeque::new()),
            commands: Mutex::new(VecDeque::new()),
            command_default: Mutex::new(CommandState::InProgress),
            calls: Mutex::new(vec![]),
            limits: Mutex::new(vec![]),
            imports: Mutex::new(VecDeque::new()),
            status_checks: Mutex::new(vec![]),
            gate: Mutex::new(None),
            deletions_together: Mutex::new(None),
        }
    }

    fn call(&self, name: &'static str) {
        let now = self.clock.now();
        self.calls.lock().unwrap().push((name, now));
        self.clock.advance(*self.latency.lock().unwrap());
    }

    fn count(&self, name: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| *n == name)
            .count()
    }

    /// Status checks made, per poll-index shard.
    fn checks_per_shard(&self) -> [usize; POLL_SHARDS as usize] {
        let mut per_shard = [0usize; POLL_SHARDS as usize];
        for checked in self.status_checks.lock().unwrap().iter() {
            per_shard[poll_shard(checked) as usize] += 1;
        }
        per_shard
    }

    fn command_state(&self) -> CommandState {
        let next = self.commands.lock().unwrap().pop_front();
        next.unwrap_or(*self.command_default.lock().unwrap())
    }
}

#[async_trait]
impl Kontomatik for Scripted {
    async fn fetch_redirection(
        &self,
        _req: &FetchRedirection,
    ) -> Result<RedirectionLink, KontomatikError> {
        unreachable!("not used by these tests")
    }

    async fn redirection_status(
        &self,
        id: &RedirectionId,
    ) -> Result<RedirectionStatus, KontomatikError> {
        let gate = self.gate.lock().unwrap().take();
        if let Some(gate) = gate {
            gate.entered.notify_one();
            gate.release.notified().await;
        }
        self.call("redirection_status");
        self.status_checks.lock().unwrap().push(id.clone());
        let next = self.statuses.lock().unwrap().pop_front();
        next.unwrap_or(Ok(RedirectionStatus::InProgress))
    }

    async fn default_import(
        &self,
        _session: &SessionData,
        _since: NaiveDate,
    ) -> Result<CommandId, KontomatikError> {
        self.call("default_import");
        let next = self.imports.lock().unwrap().pop_front();
        next.unwrap_or_else(|| Ok(CommandId::parse("4242").unwrap()))
    }

    async fn command_status(
        &self,
        command: &CommandId,
        _sink: &mut dyn ImportSink,
    ) -> Result<CommandStatus, KontomatikError> {
        self.call("command_status");
        self.limits.lock().unwrap().push(None);
        Ok(CommandStatus {
            id: command.clone(),
            state: self.command_state(),
            progress: None,
            exception: None,
        })
    }

    async fn command_status_within(
        &self,
        command: &CommandId,
        _sink: &mut dyn ImportSink,
        limit: StdDuration,
    ) -> Result<CommandStatus, KontomatikError> {
        self.limits.lock().unwrap().push(Some(limit));
        let latency = self
            .read_latency
            .lock()
            .unwrap()
            .unwrap_or(*self.latency.lock().unwrap());
        let limit = Duration::from_std(limit).unwrap();
        if latency > limit {
            // The client's read timeout.
            self.calls
                .lock()
                .unwrap()
                .push(("command_status", self.clock.now()));
            self.clock.advance(limit);
            return Err(KontomatikError::Transient("timed out".into()));
        }
        self.calls
            .lock()
            .unwrap()
            .push(("command_status", self.clock.now()));
        self.clock.advance(latency);
        Ok(CommandStatus {
            id: command.clone(),
            state: self.command_state(),
            progress: None,
            exception: None,
        })
    }

    async fn sign_out(&self, _session: &SessionData) -> Result<SignOut, KontomatikError> {
        self.call("sign_out");
        Ok(SignOut::SignedOut)
    }

    async fn owner_data(
        &self,
        _owner: &OwnerExternalId,
        _sink: &mut dyn ImportSink,
    ) -> Result<bool, KontomatikError> {
        Ok(false)
    }

    async fn delete_owner_data(&self, _owner: &OwnerExternalId) -> Result<bool, KontomatikError> {
        let together = self.deletions_together.lock().unwrap().clone();
        match together {
            Some(barrier) => {
                barrier.wait().await;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// Waiting, on the simulated clock; a wait lets the other futures of a test's `join!` run (a
/// concurrent request may answer meanwhile).
#[derive(Debug)]
struct ClockPause(Arc<SimClock>);

#[async_trait]
impl crate::clock::Pause for ClockPause {
    async fn pause(&self, d: StdDuration) {
        self.0.advance(Duration::from_std(d).unwrap());
        tokio::task::yield_now().await;
    }
}

struct World {
    app: App,
    clock: Arc<SimClock>,
    store: Arc<EmbeddedStore>,
    queue: Arc<EmbeddedQueue>,
    outbox: Arc<Outbox>,
    k: Arc<Scripted>,
    events: Arc<crate::adapters::events::EventLog>,
}

/// The worker's Lambda timeout (template.yaml) and the poller's.
const WORKER_TIMEOUT: i64 = 120;
const POLLER_TIMEOUT: i64 = 55;

/// The production settings, but the worker sleeping between command polls
/// ([`crate::config::CommandWait::InInvocation`]): for what happens within one invocation.
fn world_waiting_in_invocation() -> World {
    let mut w = world();
    w.app.settings.command_wait = crate::config::CommandWait::InInvocation;
    w
}

fn world() -> World {
    let clock = Arc::new(SimClock::at_default_start());
    let store = Arc::new(EmbeddedStore::new(clock.clone()));
    let queue = Arc::new(EmbeddedQueue::new(clock.clone(), 5));
    let outbox = Arc::new(Outbox::new(clock.clone()));
    let k = Arc::new(Scripted::new(clock.clone()));
    let events = Arc::new(crate::adapters::events::EventLog::default());
    let settings = Settings {
        link_signing_key: Some(Secret::new("a-link-signing-key-of-at-least-32-chars")),
        ..Settings::with_defaults("https://signin.lender.example")
    };
    let app = App {
        store: store.clone(),
        queue: queue.clone(),
        mailer: outbox.clone(),
        kontomatik: k.clone(),
        clock: clock.clone(),
        pause: Arc::new(ClockPause(clock.clone())),
        events: events.clone(),
        settings,
    };
    World {
        app,
        clock,
        store,
        queue,
        outbox,
        k,
        events,
    }
}

fn session() -> SessionData {
    SessionData {
        session_id: "s-1".into(),
        session_id_signature: Secret::new("signature-1"),
        target: "DemoBank".into(),
        owner_external_id: None,
        multiple_access_token: None,
    }
}

fn id(n: usize) -> RedirectionId {
    RedirectionId::parse(&format!("{n:032x}")).unwrap()
}

impl World {
    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    async fn created(&self, n: usize) -> Redirection {
        self.created_by(n, &Email::parse(&format!("user{n}@example.com")).unwrap())
            .await
    }

    /// Redirection `n` (owner `own-n`) of the person with `email`.
    async fn created_by(&self, n: usize, email: &Email) -> Redirection {
        let now = self.now();
        let r = Redirection::new(
            NewRedirection {
                id: id(n),
                owner: OwnerExternalId::parse(&format!("own-{n}")).unwrap(),
                email: email.clone(),
                language: Language::parse("en").unwrap(),
                country: Country::parse("pl").unwrap(),
                access_mode: AccessMode::Single,
                link: "https://sandbox.example/signin/x".into(),
                first_poll_at: now + Duration::minutes(5),
            },
            now,
        );
        self.store.create_redirection(&r).await.unwrap();
        r
    }

    /// A sign-in that succeeded: the session saved and its job on the queue.
    async fn queued(&self, n: usize) -> Redirection {
        let r = self.created(n).await;
        self.app.on_success(&r, session()).await.unwrap()
    }

    /// `n` fresh sign-ins nobody finishes, all due for their first status check.
    async fn due_population(&self, n: usize) {
        for i in 0..n {
            self.created(i).await;
        }
        self.clock.advance(Duration::minutes(6));
    }

    /// Redirection 1, due for its first check, whose next status check is held open by the
    /// returned gate; Kontomatik then answers `statuses` in order.
    async fn due_with_a_held_check(
        &self,
        statuses: impl IntoIterator<Item = Result<RedirectionStatus, KontomatikError>>,
    ) -> Arc<Gate> {
        self.created(1).await;
        self.clock.advance(Duration::minutes(6));
        let gate = Arc::new(Gate::default());
        *self.k.gate.lock().unwrap() = Some(gate.clone());
        self.k.statuses.lock().unwrap().extend(statuses);
        gate
    }

    async fn get(&self, n: usize) -> Redirection {
        self.store.get_redirection(&id(n)).await.unwrap().unwrap()
    }

    /// Runs every job due on the queue once, each in an invocation of its own with the
    /// worker's timeout (as the event source mapping would); returns the outcomes.
    async fn deliver(&self) -> Vec<JobOutcome> {
        let mut out = vec![];
        for d in self
            .queue
            .receive(10, StdDuration::from_secs(720))
            .await
            .unwrap()
        {
            let deadline = self.now() + Duration::seconds(WORKER_TIMEOUT);
            let outcome = self.app.run_import(&d.job, deadline).await.unwrap();
            assert!(
                self.now() <= deadline,
                "the invocation outlived its timeout"
            );
            if !matches!(outcome, JobOutcome::RetryLater(_)) {
                self.queue.ack(&d.receipt).await.unwrap();
            }
            out.push(outcome);
        }
        out
    }

    fn mails_tagged(&self, tag: &str) -> usize {
        self.outbox
            .sent()
            .iter()
            .filter(|m| m.mail.tag == tag)
            .count()
    }
}

#[tokio::test]
async fn no_claim_without_time_for_default_import_the_job_goes_to_a_fresh_invocation() {
    let w = world();
    w.queued(1).await;
    let job = ImportJob {
        redirection_id: id(1),
        continuation: 0,
    };
    // The third job of a batch, with 5 s of the invocation left.
    let deadline = w.now() + Duration::seconds(5);
    let outcome = w.app.run_import(&job, deadline).await.unwrap();
    assert_eq!(outcome, JobOutcome::Continued);
    assert_eq!(w.k.count("default_import"), 0, "no Default Import started");
    assert_eq!(w.get(1).await.state, State::ImportQueued, "not claimed");
    let pending = w.queue.pending();
    assert_eq!(
        pending.len(),
        2,
        "the original job and its hand-on: {pending:?}"
    );
    // The fresh invocation imports it, once.
    *w.k.command_default.lock().unwrap() = CommandState::Successful;
    let outcomes = w.deliver().await;
    assert!(
        outcomes.contains(&JobOutcome::Done(State::Imported)),
        "{outcomes:?}"
    );
    assert_eq!(w.k.count("default_import"), 1);
}

#[tokio::test]
async fn every_kontomatik_call_starts_with_its_budget_left_and_reads_end_before_the_hand_on() {
    let w = world_waiting_in_invocation();
    *w.k.latency.lock().unwrap() = Duration::seconds(14);
    w.queued(1).await;
    *w.k.command_default.lock().unwrap() = CommandState::InProgress;
    let deadline = w.now() + Duration::seconds(WORKER_TIMEOUT);
    let job = ImportJob {
        redirection_id: id(1),
        continuation: 0,
    };
    let outcome = w.app.run_import(&job, deadline).await.unwrap();
    assert_eq!(outcome, JobOutcome::Continued);
    let budget = w.app.settings.kontomatik_call_budget;
    let margin = w.app.settings.worker_safety_margin;
    for (call, at) in w.k.calls.lock().unwrap().iter() {
        assert!(
            *at + budget <= deadline || *call == "command_status",
            "{call} at {at}"
        );
    }
    let limits = w.k.limits.lock().unwrap().clone();
    assert!(!limits.is_empty());
    for (limit, (_, at)) in limits.iter().zip(
        w.k.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(c, _)| *c == "command_status"),
    ) {
        let limit = limit.expect("a command read with a limit");
        let read_ends = *at + Duration::from_std(limit).unwrap();
        assert!(
            read_ends + margin <= deadline,
            "a read may run into the hand-on margin"
        );
    }
    assert!(w.now() <= deadline, "the invocation ended in time");
}

#[tokio::test]
async fn a_command_that_stays_in_progress_is_followed_through_hand_ons_then_ended_with_the_retry_email(
) {
    // An hour of 120 s invocations that hand on 20 s before their end.
    stuck_command_is_ended_at_its_deadline(world_waiting_in_invocation(), 30..=40).await;
}

#[tokio::test]
async fn a_command_that_stays_in_progress_is_followed_by_delayed_messages_then_ended_with_the_retry_email(
) {
    // An hour of polls 3 s apart, each its own short invocation (each poll takes 100 ms).
    stuck_command_is_ended_at_its_deadline(world(), 1000..=1200).await;
}

async fn stuck_command_is_ended_at_its_deadline(
    w: World,
    expected_continuations: std::ops::RangeInclusive<usize>,
) {
    w.queued(1).await;
    *w.k.command_default.lock().unwrap() = CommandState::InProgress;
    let mut continuations = 0;
    for _ in 0..2000 {
        let outcomes = w.deliver().await;
        continuations += outcomes
            .iter()
            .filter(|o| **o == JobOutcome::Continued)
            .count();
        if matches!(w.get(1).await.state, State::Imported | State::ImportFailed) {
            break;
        }
        w.clock.advance(Duration::seconds(3));
        // The poller runs meanwhile: a followed import is alive, never sent again.
        let report = w
            .app
            .poll_due(w.now() + Duration::seconds(POLLER_TIMEOUT), 8)
            .await
            .unwrap();
        assert_eq!(report.imports_queued, 0, "{report:?}");
        assert!(w.queue.pending().len() <= 1, "one chain of jobs");
    }
    let r = w.get(1).await;
    assert_eq!(r.state, State::ImportFailed);
    assert_eq!(
        r.import.unwrap().error.unwrap().code,
        "ImportTimedOut",
        "ended at the import's deadline"
    );
    assert!(w.now() >= r.session_saved_at.unwrap() + crate::domain::machine::import_deadline());
    assert_eq!(w.mails_tagged(crate::notify::TAG_IMPORT_FAILED), 1);
    assert_eq!(w.k.count("default_import"), 1);
    assert!(
        expected_continuations.contains(&continuations),
        "{continuations} hand-ons"
    );
    assert!(w.queue.pending().is_empty(), "nothing left on the queue");
}

#[tokio::test]
async fn the_hand_on_continues_the_same_command_and_imports_once() {
    let w = world_waiting_in_invocation();
    w.queued(1).await;
    // In progress for about three invocations, then done.
    *w.k.commands.lock().unwrap() = std::iter::repeat_n(CommandState::InProgress, 90).collect();
    *w.k.command_default.lock().unwrap() = CommandState::Successful;
    let first = w.deliver().await;
    assert_eq!(first, [JobOutcome::Continued]);
    let pending = w.queue.pending();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].0.continuation, 1, "the hand-on counts");
    assert!(
        pending[0].1 >= w.now() + Duration::seconds(3),
        "handed on with the poll interval as delay"
    );
    for _ in 0..10 {
        w.clock.advance(Duration::seconds(3));
        w.deliver().await;
    }
    assert_eq!(w.get(1).await.state, State::Imported);
    assert_eq!(w.k.count("default_import"), 1);
    assert_eq!(w.mails_tagged(crate::notify::TAG_IMPORT_DONE), 1);
    assert_eq!(w.k.count("sign_out"), 1);
}

#[tokio::test]
async fn a_claim_without_a_command_id_waits_for_the_lease_then_is_ended_never_imported_again() {
    let w = world();
    let r = w.queued(1).await;
    // A worker claimed and died before storing the command id.
    let claimed = w.app.step(&r, |_| Event::ImportClaimed).await.unwrap();
    assert!(matches!(claimed, super::Transition::Applied(_)));
    let outcomes = w.deliver().await;
    assert!(
        matches!(outcomes[..], [JobOutcome::RetryLater(_)]),
        "{outcomes:?}"
    );
    w.clock
        .advance(w.app.settings.import_claim_lease + Duration::seconds(1));
    // The redelivered job after the lease (the visibility timeout is longer than the lease).
    w.clock.advance(Duration::seconds(720));
    let outcomes = w.deliver().await;
    assert_eq!(outcomes, [JobOutcome::Done(State::ImportFailed)]);
    assert_eq!(w.k.count("default_import"), 0, "never called again");
    assert_eq!(
        w.k.count("sign_out"),
        0,
        "the other worker may still hold the session"
    );
    assert_eq!(w.mails_tagged(crate::notify::TAG_IMPORT_FAILED), 1);
}

#[tokio::test]
async fn a_lost_import_job_is_sent_again_by_the_poller_then_ended_at_the_deadline() {
    let w = world();
    w.queued(1).await;
    // The job is lost (say, in the dead-letter queue).
    w.queue
        .receive(10, StdDuration::from_secs(3600 * 24))
        .await
        .unwrap();
    let poll = || async {
        let deadline = w.now() + Duration::seconds(POLLER_TIMEOUT);
        w.app.poll_due(deadline, 8).await.unwrap()
    };
    w.clock.advance(Duration::minutes(14));
    assert_eq!(poll().await.imports_queued, 0, "not stale yet");
    w.clock.advance(Duration::minutes(2));
    assert_eq!(poll().await.imports_queued, 1, "stale: sent again");
    assert_eq!(w.get(1).await.state, State::ImportQueued);
    // Still nobody runs it; at the deadline it ends, and the user hears.
    let mut ended = 0;
    let mut ended_at = None;
    let deadline = w.get(1).await.import_deadline_at();
    for _ in 0..60 {
        w.clock.advance(Duration::minutes(1));
        let n = poll().await.imports_ended;
        if n > 0 {
            ended_at = Some(w.now());
        }
        ended += n;
    }
    assert_eq!(ended, 1);
    assert!(
        ended_at.unwrap() <= deadline + Duration::minutes(1),
        "ended at {ended_at:?}, the deadline was {deadline}"
    );
    let r = w.get(1).await;
    assert_eq!(r.state, State::ImportFailed);
    assert_eq!(r.next_poll_at, None, "out of the poll index");
    assert_eq!(w.mails_tagged(crate::notify::TAG_IMPORT_FAILED), 1);
    assert_eq!(w.k.count("default_import"), 0);
}

#[tokio::test]
async fn a_404_from_a_young_redirection_is_a_fault_not_the_window_closing() {
    let w = world();
    w.created(1).await;
    w.clock.advance(Duration::minutes(6));
    w.k.statuses
        .lock()
        .unwrap()
        .push_back(Err(KontomatikError::NotFound));
    let deadline = w.now() + Duration::seconds(POLLER_TIMEOUT);
    let report = w.app.poll_due(deadline, 8).await.unwrap();
    assert_eq!((report.checked, report.deferred), (1, 1), "{report:?}");
    let r = w.get(1).await;
    assert_eq!(r.state, State::Created, "still open");
    assert!(r.next_poll_at.is_some(), "asked again later");
    // Late in the window, a 404 is Kontomatik forgetting the id.
    w.clock.advance(Duration::hours(23));
    let mut r = w.get(1).await;
    let expected = r.expected();
    r.next_poll_at = Some(w.now());
    w.store.save_redirection(&r, expected).await.unwrap();
    w.k.statuses
        .lock()
        .unwrap()
        .push_back(Err(KontomatikError::NotFound));
    let deadline = w.now() + Duration::seconds(POLLER_TIMEOUT);
    w.app.poll_due(deadline, 8).await.unwrap();
    assert_eq!(w.get(1).await.state, State::Expired);
}

#[tokio::test]
async fn a_poller_run_ends_before_its_deadline_whatever_the_latency() {
    // One at a time, and as the function runs them (32 at once; here each call moves the
    // one clock, so checks at once still cost time).
    for (latency, concurrency) in [1, 9, 14, 15].into_iter().flat_map(|l| [(l, 1), (l, 32)]) {
        let w = world();
        *w.k.latency.lock().unwrap() = Duration::seconds(latency);
        w.due_population(400).await;
        let deadline = w.now() + Duration::seconds(POLLER_TIMEOUT);
        let report = w.app.poll_due(deadline, concurrency).await.unwrap();
        assert!(report.out_of_time, "{latency}s: {report:?}");
        assert!(report.checked > 0);
        assert!(
            w.now() <= deadline,
            "{latency}s: ran {} past",
            w.now() - deadline
        );
    }
}

#[tokio::test]
async fn under_a_backlog_every_shard_is_checked_within_as_many_runs_as_there_are_shards() {
    let w = world();
    *w.k.latency.lock().unwrap() = Duration::seconds(1);
    w.due_population(1200).await;
    let first_run = w.now();
    for run in 0..POLL_SHARDS {
        // The schedule's run at the start of each minute.
        w.clock.set(first_run + Duration::minutes(i64::from(run)));
        let deadline = w.now() + Duration::seconds(POLLER_TIMEOUT);
        let report = w.app.poll_due(deadline, 1).await.unwrap();
        assert!(report.out_of_time, "a backlog: {report:?}");
    }
    let per_shard = w.k.checks_per_shard();
    assert!(
        per_shard.iter().all(|&n| n > 0),
        "checks per shard: {per_shard:?}"
    );
}

#[tokio::test]
async fn a_result_that_takes_longer_than_the_margin_to_read_is_imported() {
    let w = world();
    w.queued(1).await;
    *w.k.read_latency.lock().unwrap() = Some(Duration::seconds(30));
    *w.k.command_default.lock().unwrap() = CommandState::Successful;
    let outcomes = w.deliver().await;
    assert_eq!(outcomes, [JobOutcome::Done(State::Imported)]);
    assert_eq!(w.mails_tagged(crate::notify::TAG_IMPORT_DONE), 1);
}

#[tokio::test]
async fn a_result_that_can_never_be_read_in_time_ends_with_the_retry_email_not_in_the_dead_letters()
{
    let w = world();
    w.queued(1).await;
    *w.k.read_latency.lock().unwrap() = Some(Duration::seconds(110));
    *w.k.command_default.lock().unwrap() = CommandState::Successful;
    for _ in 0..100 {
        w.deliver().await;
        if w.get(1).await.state == State::ImportFailed {
            break;
        }
        w.clock.advance(Duration::seconds(3));
    }
    let r = w.get(1).await;
    assert_eq!(r.state, State::ImportFailed);
    assert_eq!(r.import.unwrap().error.unwrap().code, "ImportTimedOut");
    assert_eq!(w.mails_tagged(crate::notify::TAG_IMPORT_FAILED), 1);
    assert!(w.queue.dead_letters().is_empty());
    assert_eq!(w.k.count("default_import"), 1);
}

#[tokio::test]
async fn one_run_reads_a_page_of_every_shard_in_turn() {
    let w = world();
    *w.k.latency.lock().unwrap() = Duration::milliseconds(100);
    w.due_population(1200).await;
    let deadline = w.now() + Duration::seconds(POLLER_TIMEOUT);
    let report = w.app.poll_due(deadline, 1).await.unwrap();
    assert!(report.out_of_time, "a backlog: {report:?}");
    let per_shard = w.k.checks_per_shard();
    assert!(
        per_shard.iter().all(|&n| n >= 50),
        "checks per shard: {per_shard:?}"
    );
}

#[tokio::test]
async fn a_job_that_arrives_after_the_import_deadline_spends_no_default_import() {
    let w = world();
    w.queued(1).await;
    w.clock.advance(Duration::minutes(60));
    let outcomes = w.deliver().await;
    assert_eq!(outcomes, [JobOutcome::Done(State::ImportFailed)]);
    assert_eq!(w.k.count("default_import"), 0);
    assert_eq!(w.mails_tagged(crate::notify::TAG_IMPORT_FAILED), 1);
}

#[tokio::test]
async fn an_import_email_that_fails_to_send_is_sent_again_by_the_poller() {
    for (bank_result, tag) in [
        (CommandState::Successful, crate::notify::TAG_IMPORT_DONE),
        (CommandState::Error, crate::notify::TAG_IMPORT_FAILED),
    ] {
        let w = world();
        w.queued(1).await;
        *w.k.command_default.lock().unwrap() = bank_result;
        w.outbox.fail_next(1);
        w.deliver().await;
        let r = w.get(1).await;
        assert!(r.email_unsent, "{:?}", r.state);
        assert_eq!(w.mails_tagged(tag), 0);
        let poll = || async {
            let deadline = w.now() + Duration::seconds(POLLER_TIMEOUT);
            w.app.poll_due(deadline, 8).await.unwrap()
        };
        assert_eq!(poll().await.emails_resent, 0, "not before the retry time");
        w.clock.advance(Duration::minutes(5));
        assert_eq!(poll().await.emails_resent, 1);
        assert_eq!(w.mails_tagged(tag), 1);
        let r = w.get(1).await;
        assert!(!r.email_unsent);
        assert_eq!(r.next_poll_at, None, "out of the poll index");
        w.clock.advance(Duration::minutes(10));
        assert_eq!(poll().await.emails_resent, 0);
        assert_eq!(w.mails_tagged(tag), 1, "sent once");
    }
}

/// Each decisive moment is published once, when the table decides it: a success seen twice
/// (the callback and the poller racing) is one `signin.succeeded`; the import's end is one
/// `signin.imported`; a state change that is no moment (queued, running) publishes nothing.
#[tokio::test]
async fn each_decisive_moment_is_published_once_with_the_documented_detail() {
    use crate::domain::events::DetailType;
    let w = world();
    let r = w.created(1).await;
    w.app.on_success(&r, session()).await.unwrap();
    // The same success again, from a stale copy (the poller's page, read before the callback).
    w.app.on_success(&r, session()).await.unwrap();
    *w.k.command_default.lock().unwrap() = CommandState::Successful;
    let outcomes = w.deliver().await;
    assert!(
        outcomes.contains(&JobOutcome::Done(State::Imported)),
        "{outcomes:?}"
    );
    let kinds: Vec<DetailType> = w.events.events().iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [DetailType::Succeeded, DetailType::Imported]);
    let imported = &w.events.events()[1];
    assert_eq!(
        imported.detail.schema_version,
        crate::domain::events::SCHEMA_VERSION
    );
    assert_eq!(
        imported.detail.redirection_id.as_deref(),
        Some(id(1).as_str())
    );
    assert_eq!(imported.detail.owner_external_id, "own-1");
    assert_eq!(imported.detail.language.as_deref(), Some("en"));
    assert_eq!(imported.detail.reason, None);
    let finished = w.get(1).await.import.and_then(|i| i.finished_at);
    assert_eq!(
        Some(imported.detail.occurred_at),
        finished,
        "when the import ended"
    );
    let json: serde_json::Value = serde_json::from_str(&imported.detail_json()).unwrap();
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "eventId",
            "language",
            "occurredAt",
            "ownerExternalId",
            "redirectionId",
            "schemaVersion"
        ]
    );
}

/// A failed sign-in's event carries Kontomatik's error code; a failed import's, ours.
#[tokio::test]
async fn failures_are_published_with_their_reason() {
    use crate::domain::events::DetailType;
    let w = world();
    let r = w.created(1).await;
    let error = crate::domain::ErrorInfo {
        code: "InvalidCredentials".into(),
        message: "wrong password".into(),
    };
    w.app
        .record_status(&r, Ok(RedirectionStatus::Error(error)))
        .await
        .unwrap();
    w.queued(2).await;
    *w.k.command_default.lock().unwrap() = CommandState::Error;
    w.deliver().await;
    let events = w.events.events();
    let failed = events
        .iter()
        .find(|e| e.kind == DetailType::Failed)
        .unwrap();
    assert_eq!(failed.detail.reason.as_deref(), Some("InvalidCredentials"));
    assert!(
        !failed.detail_json().contains("wrong password"),
        "no free text"
    );
    let import_failed = events
        .iter()
        .find(|e| e.kind == DetailType::ImportFailed)
        .unwrap();
    assert_eq!(
        import_failed.detail.redirection_id.as_deref(),
        Some(id(2).as_str())
    );
    let stored = w.get(2).await.import.and_then(|i| i.error).unwrap();
    assert_eq!(
        import_failed.detail.reason.as_deref(),
        Some(crate::domain::events::reason_code(&stored.code).as_str()),
        "the stored failure's code"
    );
    assert!(
        !import_failed.detail_json().contains(&stored.message),
        "no free text"
    );
}

/// A bus that fails never fails the user's request: the moment stands, the import is queued.
#[tokio::test]
async fn a_failing_bus_does_not_fail_the_step() {
    #[derive(Default)]
    struct Down(Mutex<usize>);
    #[async_trait::async_trait]
    impl crate::ports::EventBus for Down {
        async fn publish(
            &self,
            _: &[crate::domain::events::LifecycleEvent],
        ) -> Result<(), crate::ports::EventError> {
            *self.0.lock().unwrap() += 1;
            Err(crate::ports::EventError::Unavailable("down".into()))
        }
    }
    let mut w = world();
    let down = Arc::new(Down::default());
    w.app.events = down.clone();
    let r = w.created(1).await;
    let saved = w.app.on_success(&r, session()).await.unwrap();
    assert_eq!(saved.state, State::ImportQueued);
    assert_eq!(
        *down.0.lock().unwrap(),
        1,
        "the success was offered to the bus"
    );
    assert_eq!(w.queue.pending().len(), 1, "and its import queued");
}

/// DynamoDB applied our write but its answer was lost (the SDK's retry then failed the
/// condition against our own write): the transition is still ours — the import is queued and
/// the moment published once. Before, the re-read looked like someone else's write: no import
/// job until the poller's sweep, and no `signin.succeeded` at all.
#[tokio::test]
async fn a_write_whose_answer_was_lost_is_still_ours() {
    use crate::domain::events::DetailType;
    let w = world();
    let r = w.created(1).await;
    w.store.lose_next_write_answer();
    let saved = w.app.on_success(&r, session()).await.unwrap();
    assert_eq!(saved.state, State::ImportQueued);
    assert_eq!(w.queue.pending().len(), 1, "the import queued at once");
    let kinds: Vec<DetailType> = w.events.events().iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [DetailType::Succeeded]);
}

#[tokio::test]
async fn a_job_waits_between_command_polls_as_a_delayed_message_and_holds_no_invocation() {
    let w = world();
    w.queued(1).await;
    // Kontomatik needs 20 polls.
    *w.k.commands.lock().unwrap() = std::iter::repeat_n(CommandState::InProgress, 19).collect();
    *w.k.command_default.lock().unwrap() = CommandState::Successful;
    let interval = w.app.settings.import_poll_interval;
    let started = w.now();
    assert_eq!(w.deliver().await, [JobOutcome::Continued]);
    // Claim, Default Import, one poll: 3 calls of 100 ms, no wait inside the invocation.
    assert!(
        w.now() - started < Duration::seconds(1),
        "{}",
        w.now() - started
    );
    let mut invocations = 1;
    while w.get(1).await.state == State::ImportRunning {
        let pending = w.queue.pending();
        assert_eq!(pending.len(), 1, "one chain of jobs: {pending:?}");
        let (_, visible_at, _) = &pending[0];
        assert!(
            *visible_at
                >= w.now() + Duration::from_std(interval).unwrap() - Duration::milliseconds(300),
            "the next poll waits on the queue: {visible_at} vs {}",
            w.now()
        );
        assert!(w.deliver().await.is_empty(), "not visible before its delay");
        w.clock.advance(Duration::from_std(interval).unwrap());
        let started = w.now();
        let outcomes = w.deliver().await;
        assert_eq!(outcomes.len(), 1);
        assert!(
            w.now() - started < Duration::seconds(1),
            "one short invocation per poll"
        );
        invocations += 1;
        assert!(invocations <= 25, "never ends");
    }
    assert_eq!(w.get(1).await.state, State::Imported);
    assert_eq!(invocations, 20, "one invocation per poll");
    assert_eq!(w.k.count("default_import"), 1);
    assert_eq!(w.k.count("command_status"), 20);
    assert_eq!(w.mails_tagged(crate::notify::TAG_IMPORT_DONE), 1);
    assert!(w.queue.pending().is_empty());
}

#[tokio::test]
async fn a_full_jobs_quota_gives_the_claim_back_and_the_import_waits_instead_of_failing() {
    let w = world();
    w.queued(1).await;
    w.k.imports
        .lock()
        .unwrap()
        .push_back(Err(KontomatikError::JobsQuotaExceeded));
    *w.k.command_default.lock().unwrap() = CommandState::Successful;
    assert_eq!(w.deliver().await, [JobOutcome::Continued]);
    let r = w.get(1).await;
    assert_eq!(r.state, State::ImportQueued, "the claim is given back");
    assert!(r.import.is_none());
    assert_eq!(
        w.mails_tagged(crate::notify::TAG_IMPORT_FAILED),
        0,
        "nobody told to sign in again"
    );
    let backoff = Duration::from_std(w.app.settings.jobs_quota_backoff).unwrap();
    let pending = w.queue.pending();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert!(
        pending[0].1 >= w.now() + backoff - Duration::seconds(1),
        "backs off"
    );
    w.clock.advance(backoff / 2);
    assert!(w.deliver().await.is_empty(), "not before the back-off");
    // The poller meanwhile does not send a second job: the import is fresh.
    let report = w
        .app
        .poll_due(w.now() + Duration::seconds(POLLER_TIMEOUT), 8)
        .await
        .unwrap();
    assert_eq!(report.imports_queued, 0, "{report:?}");
    w.clock.advance(backoff);
    let outcomes = w.deliver().await;
    assert_eq!(outcomes, [JobOutcome::Done(State::Imported)]);
    assert_eq!(
        w.k.count("default_import"),
        2,
        "the refused call, then the one that started the import"
    );
    assert_eq!(w.mails_tagged(crate::notify::TAG_IMPORT_DONE), 1);
}

#[tokio::test]
async fn under_a_jobs_quota_an_import_starts_only_with_a_slot_and_gives_it_back_when_it_ends() {
    let mut w = world();
    w.app.settings.jobs_quota = Some(1);
    w.queued(1).await;
    w.queued(2).await;
    *w.k.command_default.lock().unwrap() = CommandState::InProgress;
    assert_eq!(
        w.deliver().await,
        [JobOutcome::Continued, JobOutcome::Continued]
    );
    assert_eq!(
        w.k.count("default_import"),
        1,
        "one slot, one import started"
    );
    let (first, second) = if w.get(1).await.state == State::ImportRunning {
        (1, 2)
    } else {
        (2, 1)
    };
    let waiting = w.get(second).await;
    assert_eq!(
        waiting.state,
        State::ImportQueued,
        "not claimed while it waits"
    );
    assert!(waiting.import.is_none());
    // The first import ends; only then does the second start.
    *w.k.command_default.lock().unwrap() = CommandState::Successful;
    let mut rounds = 0;
    while w.get(second).await.state != State::Imported {
        w.clock.advance(Duration::seconds(5));
        w.deliver().await;
        if w.k.count("default_import") == 2 {
            assert_eq!(
                w.get(first).await.state,
                State::Imported,
                "the second started only after the first gave its slot back"
            );
        }
        rounds += 1;
        assert!(rounds <= 20, "the waiting import never started");
    }
    assert_eq!(w.k.count("default_import"), 2);
    // Both slots are free again: a third import starts at once.
    w.queued(3).await;
    *w.k.command_default.lock().unwrap() = CommandState::InProgress;
    w.deliver().await;
    assert_eq!(w.get(3).await.state, State::ImportRunning);
}

#[tokio::test]
async fn an_import_kontomatik_refuses_for_its_quota_gives_its_slot_back_while_it_waits() {
    let mut w = world();
    w.app.settings.jobs_quota = Some(1);
    w.queued(1).await;
    w.k.imports
        .lock()
        .unwrap()
        .push_back(Err(KontomatikError::JobsQuotaExceeded));
    *w.k.command_default.lock().unwrap() = CommandState::InProgress;
    assert_eq!(w.deliver().await, [JobOutcome::Continued]);
    assert_eq!(
        w.get(1).await.state,
        State::ImportQueued,
        "waits its back-off"
    );
    // The slot it took is free: the next import starts at once.
    w.queued(2).await;
    w.deliver().await;
    assert_eq!(
        w.get(2).await.state,
        State::ImportRunning,
        "the refused import holds no slot while it backs off"
    );
}

#[tokio::test]
async fn the_pollers_give_up_on_an_import_gives_its_slot_back() {
    let mut w = world();
    w.app.settings.jobs_quota = Some(1);
    let signed_in = w.now();
    w.queued(1).await;
    *w.k.command_default.lock().unwrap() = CommandState::InProgress;
    assert_eq!(w.deliver().await, [JobOutcome::Continued]);
    assert_eq!(w.get(1).await.state, State::ImportRunning);
    // Its job is lost (taken off the queue, never run); past its hour the poller ends it.
    w.clock.advance(Duration::seconds(10));
    for d in w
        .queue
        .receive(10, StdDuration::from_secs(720))
        .await
        .unwrap()
    {
        w.queue.ack(&d.receipt).await.unwrap();
    }
    w.clock.advance(Duration::minutes(61));
    w.app
        .poll_due(w.now() + Duration::seconds(POLLER_TIMEOUT), 8)
        .await
        .unwrap();
    assert_eq!(w.get(1).await.state, State::ImportFailed);
    // The slot was given back, not left to wear out: a take dated within the import's hour
    // (when the slot would still be held) finds it free.
    let within_its_hour = signed_in + Duration::minutes(30);
    assert!(
        crate::ports::AllowanceStore::take_import_slot(
            w.store.as_ref(),
            &id(9),
            1,
            w.now(),
            within_its_hour
        )
        .await
        .unwrap(),
        "the slot of the import the poller ended is given back"
    );
}

#[tokio::test]
async fn a_refused_default_import_other_than_the_quota_is_never_repeated() {
    let w = world();
    w.queued(1).await;
    w.k.imports
        .lock()
        .unwrap()
        .push_back(Err(KontomatikError::Transient("503".into())));
    assert_eq!(w.deliver().await, [JobOutcome::Done(State::ImportFailed)]);
    w.clock.advance(Duration::minutes(30));
    w.app
        .poll_due(w.now() + Duration::seconds(POLLER_TIMEOUT), 8)
        .await
        .unwrap();
    w.deliver().await;
    assert_eq!(
        w.k.count("default_import"),
        1,
        "the call may have reached Kontomatik"
    );
    assert_eq!(w.mails_tagged(crate::notify::TAG_IMPORT_FAILED), 1);
}

/// Runs the job on the queue until the import is final, the poller every minute meanwhile;
/// asserts that there is never more than one job for the import.
async fn follow_to_the_end(w: &World) {
    let mut last_poller = w.now();
    for _ in 0..2000 {
        if matches!(w.get(1).await.state, State::Imported | State::ImportFailed) {
            return;
        }
        w.deliver().await;
        assert!(
            w.queue.pending().len() <= 1,
            "two chains: {:?}",
            w.queue.pending()
        );
        w.clock.advance(Duration::seconds(1));
        if w.now() - last_poller >= Duration::minutes(1) {
            last_poller = w.now();
            w.app
                .poll_due(w.now() + Duration::seconds(POLLER_TIMEOUT), 32)
                .await
                .unwrap();
        }
    }
    panic!("the import never ended");
}

#[tokio::test]
async fn a_duplicate_of_a_waiting_job_ends_and_one_chain_follows_the_command() {
    let w = world();
    w.queued(1).await;
    *w.k.commands.lock().unwrap() = std::iter::repeat_n(CommandState::InProgress, 30).collect();
    *w.k.command_default.lock().unwrap() = CommandState::Successful;
    assert_eq!(w.deliver().await, [JobOutcome::Continued]);
    // SQS delivers the waiting job twice, both copies in one batch, run at once.
    let (job, _, _) = w.queue.pending()[0].clone();
    w.queue.enqueue(&job, StdDuration::ZERO).await.unwrap();
    w.clock.advance(Duration::seconds(4));
    let batch = w
        .queue
        .receive(10, StdDuration::from_secs(720))
        .await
        .unwrap();
    assert_eq!(batch.len(), 2);
    let deadline = w.now() + Duration::seconds(WORKER_TIMEOUT);
    let (a, b) = futures::join!(
        w.app.run_import(&batch[0].job, deadline),
        w.app.run_import(&batch[1].job, deadline)
    );
    let mut outcomes = [a.unwrap(), b.unwrap()];
    outcomes.sort_by_key(|o| matches!(o, JobOutcome::Continued));
    assert!(
        matches!(outcomes, [JobOutcome::Done(_), JobOutcome::Continued]),
        "one copy goes on, the other ends: {outcomes:?}"
    );
    for d in &batch {
        w.queue.ack(&d.receipt).await.unwrap();
    }
    assert_eq!(w.queue.pending().len(), 1, "one chain");
    // A copy arriving later still is stale.
    w.queue.enqueue(&job, StdDuration::ZERO).await.unwrap();
    follow_to_the_end(&w).await;
    assert_eq!(w.get(1).await.state, State::Imported);
    assert_eq!(w.k.count("default_import"), 1);
    assert_eq!(w.mails_tagged(crate::notify::TAG_IMPORT_DONE), 1);
}

#[tokio::test]
async fn a_waiting_job_whose_invocation_failed_comes_back_and_the_poller_sends_no_second_one() {
    let w = world();
    w.queued(1).await;
    // Six minutes of polls, then the command ends.
    *w.k.commands.lock().unwrap() = std::iter::repeat_n(CommandState::InProgress, 200).collect();
    *w.k.command_default.lock().unwrap() = CommandState::Successful;
    let until = w.now() + Duration::minutes(6);
    while w.now() < until {
        w.deliver().await;
        w.clock.advance(Duration::seconds(1));
    }
    // This delivery's invocation fails (a crash): the message comes back after the
    // visibility timeout, 12 minutes, while the poller runs every minute.
    w.clock.advance(Duration::seconds(4));
    let lost = w
        .queue
        .receive(10, StdDuration::from_secs(720))
        .await
        .unwrap();
    assert_eq!(lost.len(), 1);
    for _ in 0..13 {
        w.clock.advance(Duration::minutes(1));
        let report = w
            .app
            .poll_due(w.now() + Duration::seconds(POLLER_TIMEOUT), 32)
            .await
            .unwrap();
        assert_eq!(
            report.imports_queued, 0,
            "the import is still alive: {report:?}"
        );
    }
    assert_eq!(w.queue.pending().len(), 1, "only the redelivered job");
    *w.k.commands.lock().unwrap() = VecDeque::new();
    follow_to_the_end(&w).await;
    assert_eq!(w.get(1).await.state, State::Imported);
    assert_eq!(w.k.count("default_import"), 1);
}

/// The user comes back while a poller run is waiting for Kontomatik's answer about the same
/// id: the callback does not ask again (that second read, within the poll interval, would earn
/// a 429); the poller's answer is what gets recorded.
#[tokio::test]
async fn a_return_while_the_poller_checks_the_same_id_does_not_ask_kontomatik_again() {
    let w = world();
    let gate = w
        .due_with_a_held_check([Ok(RedirectionStatus::Success(session()))])
        .await;
    let deadline = w.now() + Duration::seconds(POLLER_TIMEOUT);
    let user = async {
        gate.entered.notified().await;
        let seen = w.app.callback(Some(id(1).as_str())).await;
        gate.release.notify_one();
        seen
    };
    let (report, seen) = tokio::join!(w.app.poll_due(deadline, 8), user);
    assert_eq!(report.unwrap().checked, 1);
    assert_eq!(
        w.k.count("redirection_status"),
        1,
        "one status read for the id"
    );
    // The poller still held the answer when the callback gave up waiting for it.
    assert_eq!(seen.unwrap().view, super::CallbackView::TryLater);
    assert_eq!(w.get(1).await.state, State::ImportQueued);
    assert_eq!(w.get(1).await.check_leased_at, None, "the lease ended");
}

/// A poller run while the user's return is waiting for Kontomatik's answer: the run leaves the
/// id alone (no second read within the poll interval), and the callback records the success.
#[tokio::test]
async fn a_poller_run_while_a_return_checks_the_same_id_leaves_it_alone() {
    let w = world();
    let gate = w
        .due_with_a_held_check([Ok(RedirectionStatus::Success(session()))])
        .await;
    let deadline = w.now() + Duration::seconds(POLLER_TIMEOUT);
    let poller = async {
        gate.entered.notified().await;
        let report = w.app.poll_due(deadline, 8).await;
        gate.release.notify_one();
        report
    };
    let returned = id(1);
    let (seen, report) = tokio::join!(w.app.callback(Some(returned.as_str())), poller);
    assert_eq!(report.unwrap().checked, 0);
    assert_eq!(
        w.k.count("redirection_status"),
        1,
        "one status read for the id"
    );
    assert_eq!(seen.unwrap().view, super::CallbackView::Importing);
    assert_eq!(w.get(1).await.state, State::ImportQueued);
}

/// A lease whose holder died (its Lambda killed mid-check) does not block the user for longer
/// than the call budget: a return after that asks Kontomatik itself.
#[tokio::test]
async fn a_return_after_a_dead_checks_budget_asks_kontomatik() {
    let w = world();
    let r = w.created(1).await;
    let leased = crate::domain::machine::apply(
        &r,
        Event::CheckLeased {
            next_poll_at: Some(w.now() + Duration::minutes(5)),
        },
        w.now(),
    )
    .unwrap();
    w.store
        .save_redirection(&leased, r.expected())
        .await
        .unwrap();
    w.k.statuses
        .lock()
        .unwrap()
        .push_back(Ok(RedirectionStatus::Success(session())));
    w.clock
        .advance(w.app.settings.kontomatik_call_budget + Duration::seconds(1));
    let seen = w.app.callback(Some(id(1).as_str())).await.unwrap();
    assert_eq!(seen.view, super::CallbackView::Importing);
    assert_eq!(w.k.count("redirection_status"), 1);
}

/// The user comes back while the poller waits for the answer, and the answer arrives while the
/// callback waits for it: the user is shown the import, from one status read.
#[tokio::test]
async fn a_return_that_waits_for_the_pollers_answer_shows_the_import() {
    let w = world();
    let gate = w
        .due_with_a_held_check([Ok(RedirectionStatus::Success(session()))])
        .await;
    let deadline = w.now() + Duration::seconds(POLLER_TIMEOUT);
    let user = async {
        gate.entered.notified().await;
        // The answer is on its way as the user comes back.
        gate.release.notify_one();
        w.app.callback(Some(id(1).as_str())).await
    };
    let (report, seen) = tokio::join!(w.app.poll_due(deadline, 8), user);
    assert_eq!(report.unwrap().checked, 1);
    assert_eq!(w.k.count("redirection_status"), 1);
    assert_eq!(seen.unwrap().view, super::CallbackView::Importing);
}

/// The poller's read answers "still open" while the user, back, waits for it: the user is shown
/// that answer, and nobody reads again within the poll interval (Kontomatik would answer 429);
/// the poller's next check follows up.
#[tokio::test]
async fn a_return_that_waits_for_a_still_open_answer_shows_it_without_a_second_read() {
    let w = world();
    let gate = w
        .due_with_a_held_check([
            Ok(RedirectionStatus::InProgress),
            Ok(RedirectionStatus::Success(session())),
        ])
        .await;
    let deadline = w.now() + Duration::seconds(POLLER_TIMEOUT);
    let user = async {
        gate.entered.notified().await;
        gate.release.notify_one();
        w.app.callback(Some(id(1).as_str())).await
    };
    let (report, seen) = tokio::join!(w.app.poll_due(deadline, 8), user);
    assert_eq!(report.unwrap().checked, 1);
    assert_eq!(w.k.count("redirection_status"), 1);
    assert_eq!(seen.unwrap().view, super::CallbackView::StillOpen);
    assert_eq!(w.get(1).await.state, State::Pending);
}

/// A reload of the callback page (or a return in another browser) right after a check does not
/// read again within the poll interval: it shows what that check recorded.
#[tokio::test]
async fn a_reload_soon_after_a_check_shows_the_record_without_a_second_read() {
    let w = world();
    w.created(1).await;
    let first = w.app.callback(Some(id(1).as_str())).await.unwrap();
    assert_eq!(first.view, super::CallbackView::StillOpen);
    w.clock.advance(Duration::seconds(30));
    let again = w.app.callback(Some(id(1).as_str())).await.unwrap();
    assert_eq!(again.view, super::CallbackView::StillOpen);
    assert_eq!(w.k.count("redirection_status"), 1);
}

/// The user comes back in the last minutes of the 24 h window and Kontomatik still says
/// "in progress": the redirection stays in the poll index, and the poller's next run closes it
/// (expired, with its follow-up decided) instead of leaving it open until the TTL.
#[tokio::test]
async fn a_check_answered_after_the_last_check_leaves_the_next_run_to_close_the_window() {
    let w = world();
    let r = w.created(1).await;
    let last = w.app.settings.pacing.last_check_at(r.created_at);
    w.clock.set(last + Duration::seconds(30));
    let seen = w.app.callback(Some(id(1).as_str())).await.unwrap();
    assert_eq!(seen.view, super::CallbackView::StillOpen);
    assert!(
        w.get(1).await.next_poll_at.is_some(),
        "still in the poll index"
    );
    let deadline = w.now() + Duration::seconds(POLLER_TIMEOUT);
    w.app.poll_due(deadline, 8).await.unwrap();
    assert_eq!(w.get(1).await.state, State::Expired);
}

/// An erasure asks Kontomatik to delete all the person's owners at once, so that its page waits
/// for one call (at most the client's timeout) and not one per owner: a person with three owner
/// ids (sign-ins whose user record had lapsed in between) is erased only if the three deletions
/// are under way together (one after the other, the first would wait for ever).
#[tokio::test(start_paused = true)]
async fn an_erasure_deletes_the_owners_at_kontomatik_at_once() {
    let w = world();
    let email = Email::parse("user1@example.com").unwrap();
    for n in 1..=3 {
        w.created_by(n, &email).await;
    }
    *w.k.deletions_together.lock().unwrap() = Some(Arc::new(tokio::sync::Barrier::new(3)));
    let erased = tokio::time::timeout(StdDuration::from_secs(60), w.app.erase_email(&email))
        .await
        .expect("the three deletions ran one after the other")
        .unwrap();
    assert_eq!(erased.deleted_at_kontomatik, 3);
    assert_eq!(erased.found.owners.len(), 3);
}
