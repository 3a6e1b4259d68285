//! The one state machine that owns a redirection's life.
//!
//! ```text
//! created ──user leaves──▶ pending (non-final statuses seen while polling)
//!    │                         │
//!    ├────────────── success ──┴──▶ session_saved ─▶ import_queued ─▶ import_running ─▶ imported
//!    │                                   └──────(job seen first)─────────┘            └─▶ import_failed
//!    ├────────────── error ───────▶ failed ──────────────┐
//!    └── 1 h, never finished ─────▶ expired ─────────────┴─▶ follow_up_sent (one per user
//!                                                             and window, with consent)
//! ```
//!
//! [`apply`] is pure: it takes a redirection and an event and returns the next version of the
//! redirection, or refuses. Stores persist the result with a conditional write on the *previous*
//! state and version ([`Expected`]), so duplicate callbacks, the poller and SQS redelivery can race
//! freely: exactly one write of any transition wins and the losers re-read and re-decide.

use chrono::Duration;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::{
    AccessMode, CommandId, Country, Email, ErrorInfo, KontomatikStatus, Language, OwnerExternalId,
    RedirectionId, SessionData, Timestamp, UserKey,
};

/// A link can be used for one hour; after that its status is `expired`.
pub fn link_lifetime() -> Duration {
    Duration::hours(1)
}

/// A saved session whose import job was not confirmed on the queue within this time is swept up
/// by the poller and enqueued again (the worker's conditional claim makes duplicates harmless).
pub fn import_recovery_delay() -> Duration {
    Duration::minutes(2)
}

/// An import (queued or running) that nothing has moved for this long is swept up by the poller
/// and its job enqueued again: longer than the import queue's visibility timeout (720 s), so a
/// job still on the queue has been delivered by then, and than the worker's claim lease.
pub fn import_stale_after() -> Duration {
    Duration::minutes(15)
}

/// An import not final this long after the session was saved is ended as failed and the user
/// is asked to sign in again (Kontomatik imports take seconds to minutes; a job stuck in the
/// dead-letter queue or a command stuck `in_progress` must not leave the user waiting).
pub fn import_deadline() -> Duration {
    Duration::hours(1)
}

/// Kontomatik answers 404 for an id it has forgotten (24 h after creation). Before this much
/// of the window has passed, a 404 is taken for a transient fault, not the window closing.
pub fn not_found_is_final_after() -> Duration {
    Duration::hours(23)
}

/// An import email not confirmed sent is sent (again) this long after it was due.
pub fn email_retry() -> Duration {
    Duration::minutes(5)
}

/// A redirection's status can be read for 24 hours; after that Kontomatik forgets the id and our
/// item's TTL removes it.
pub fn status_window() -> Duration {
    Duration::hours(24)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Saved before the user leaves for the bank; no status seen yet.
    Created,
    /// A non-final status (`initialized` / `in_progress`) was seen.
    Pending,
    /// Sign-in succeeded; the session is saved but the import is not claimed yet.
    SessionSaved,
    /// The import job is claimed for this session and on the queue.
    ImportQueued,
    /// A worker took the import claim: Default Import may have been called. Never called again.
    ImportRunning,
    Imported,
    ImportFailed,
    /// The sign-in ended with Kontomatik's `error`.
    Failed,
    /// The link expired unused (or the 24 h window closed without a final status).
    Expired,
    /// The user was sent the one follow-up email for this drop-off.
    FollowUpSent,
}

impl State {
    pub const ALL: [State; 10] = [
        State::Created,
        State::Pending,
        State::SessionSaved,
        State::ImportQueued,
        State::ImportRunning,
        State::Imported,
        State::ImportFailed,
        State::Failed,
        State::Expired,
        State::FollowUpSent,
    ];

    /// States in which Kontomatik's status is still open and worth asking for.
    pub fn needs_polling(self) -> bool {
        matches!(self, State::Created | State::Pending)
    }

    /// States the poller visits: open statuses, saved sessions whose import job may have been
    /// lost before it reached the queue, and drop-offs whose follow-up is not decided yet.
    pub fn in_poll_index(self) -> bool {
        self.needs_polling()
            || matches!(
                self,
                State::SessionSaved
                    | State::ImportQueued
                    | State::ImportRunning
                    | State::Expired
                    | State::Failed
            )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Pending => "pending",
            State::SessionSaved => "session_saved",
            State::ImportQueued => "import_queued",
            State::ImportRunning => "import_running",
            State::Imported => "imported",
            State::ImportFailed => "import_failed",
            State::Failed => "failed",
            State::Expired => "expired",
            State::FollowUpSent => "follow_up_sent",
        }
    }

    pub fn parse(raw: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// Where an import stands. Present from the moment a worker claims it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportProgress {
    /// When the claim was taken: from then on Default Import may have been called.
    pub claimed_at: Timestamp,
    /// Kontomatik's command id, once Default Import answered.
    pub command_id: Option<CommandId>,
    pub finished_at: Option<Timestamp>,
    pub error: Option<ErrorInfo>,
}

/// Everything we keep about one redirection (one sign-in attempt of one user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Redirection {
    pub id: RedirectionId,
    pub owner: OwnerExternalId,
    pub user_key: UserKey,
    pub email: Email,
    pub language: Language,
    pub country: Country,
    pub access_mode: AccessMode,
    /// The link Kontomatik gave us (kept to resend it while it is alive).
    pub link: String,
    pub state: State,
    /// Incremented by every write; the optimistic lock of conditional writes.
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The last status Kontomatik reported.
    pub last_status: Option<KontomatikStatus>,
    /// How many times we asked Kontomatik for the status.
    pub status_checks: u32,
    /// When the poller should ask next; `None` when no polling is needed (sparse poll index).
    pub next_poll_at: Option<Timestamp>,
    /// When the user came back through the callback (first time only).
    pub returned_at: Option<Timestamp>,
    pub session: Option<SessionData>,
    /// When the sign-in's success was recorded (the import's deadline counts from here).
    #[serde(default)]
    pub session_saved_at: Option<Timestamp>,
    pub error: Option<ErrorInfo>,
    pub import: Option<ImportProgress>,
    /// The import's email is owed (set when the import ends, cleared once it is sent); while
    /// it is, the poller sends it at `next_poll_at`.
    #[serde(default)]
    pub email_unsent: bool,
    /// A random id of the write that stored this version: a writer whose answer was lost
    /// recognises its own write by it (two writers may compute the same transition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_id: Option<String>,
    /// The number of the one live import job (raised by every hand-on and every re-sent
    /// job): a job with a lower number is a stale copy — an SQS duplicate, a redelivery, or
    /// the job of a chain another job continued — and ends without acting.
    #[serde(default)]
    pub job_continuation: u32,
    /// When a status check was leased ([`Event::CheckLeased`]) and its answer not recorded
    /// yet: while that check may still be under way, nobody else asks Kontomatik for this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_leased_at: Option<Timestamp>,
}

/// What a new redirection is made of.
#[derive(Debug, Clone)]
pub struct NewRedirection {
    pub id: RedirectionId,
    pub owner: OwnerExternalId,
    pub email: Email,
    pub language: Language,
    pub country: Country,
    pub access_mode: AccessMode,
    pub link: String,
    pub first_poll_at: Timestamp,
}

impl Redirection {
    pub fn new(n: NewRedirection, now: Timestamp) -> Self {
        Redirection {
            user_key: n.email.user_key(),
            id: n.id,
            owner: n.owner,
            email: n.email,
            language: n.language,
            country: n.country,
            access_mode: n.access_mode,
            link: n.link,
            state: State::Created,
            version: 1,
            created_at: now,
            updated_at: now,
            last_status: None,
            status_checks: 0,
            next_poll_at: Some(n.first_poll_at),
            returned_at: None,
            session: None,
            session_saved_at: None,
            error: None,
            import: None,
            email_unsent: false,
            write_id: None,
            job_continuation: 0,
            check_leased_at: None,
        }
    }

    /// By then the import must be final, or it is ended as failed (see [`import_deadline`]):
    /// an hour after the session was saved, and in any case 10 minutes before the record's
    /// 24 h life ends (a late success must still be told). Records from before
    /// `session_saved_at` count from the claim, else from their last write.
    pub fn import_deadline_at(&self) -> Timestamp {
        let saved = self
            .session_saved_at
            .or(self.import.as_ref().map(|i| i.claimed_at))
            .unwrap_or(self.updated_at);
        (saved + import_deadline()).min(self.forgotten_at() - Duration::minutes(10))
    }

    /// When the poller looks at a queued or running import next: when it would be stale, but
    /// no later than its deadline.
    fn import_check_at(&self, now: Timestamp) -> Timestamp {
        (now + import_stale_after()).min(self.import_deadline_at())
    }

    /// Whether Kontomatik's 404 for this id at `now` means the 24 h window has closed.
    pub fn not_found_is_final(&self, now: Timestamp) -> bool {
        now >= self.created_at + not_found_is_final_after()
    }

    pub fn link_expires_at(&self) -> Timestamp {
        self.created_at + link_lifetime()
    }

    /// After this moment Kontomatik no longer knows the id, and our item is gone (TTL).
    pub fn forgotten_at(&self) -> Timestamp {
        self.created_at + status_window()
    }

    /// The DynamoDB TTL value (epoch seconds).
    pub fn ttl_epoch_seconds(&self) -> i64 {
        self.forgotten_at().timestamp()
    }

    /// Whether a status check leased at most `call_budget` ago may still be waiting for
    /// Kontomatik's answer (after that, whoever leased it is gone). A lease stamped a few
    /// seconds after `now` (another Lambda's clock runs ahead) is under way too; one stamped
    /// further ahead is not trusted.
    pub fn check_under_way(&self, now: Timestamp, call_budget: Duration) -> bool {
        self.check_leased_at
            .is_some_and(|at| at <= now + CLOCK_SKEW && now < at + call_budget)
    }

    pub fn is_forgotten(&self, now: Timestamp) -> bool {
        now >= self.forgotten_at()
    }

    /// The condition under which the next version of this redirection may be written.
    pub fn expected(&self) -> Expected {
        Expected {
            state: self.state,
            version: self.version,
        }
    }
}

/// How far apart two Lambdas' clocks may be and still be trusted with each other's leases.
pub const CLOCK_SKEW: Duration = Duration::seconds(5);

/// The condition of a write: the item must still be in this state at this version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    pub state: State,
    pub version: u64,
}

/// Something that happened to a redirection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Kontomatik reported a non-final status; ask again at `next_poll_at` (None: stop asking).
    StillOpen {
        status: KontomatikStatus,
        next_poll_at: Option<Timestamp>,
    },
    /// A status check could not be made (429, Kontomatik unavailable): ask again later.
    CheckDeferred { next_poll_at: Option<Timestamp> },
    /// A status check is about to be made (the poller's run, or the user's return): nobody
    /// else asks until its answer is recorded or `next_poll_at`, whichever comes first.
    CheckLeased { next_poll_at: Option<Timestamp> },
    /// Kontomatik reported `success` with this session.
    SignInSucceeded { session: SessionData },
    /// Kontomatik reported `error`. The follow-up is decided at `follow_up_at` (None: never).
    SignInFailed {
        error: ErrorInfo,
        follow_up_at: Option<Timestamp>,
    },
    /// Kontomatik reported `expired`.
    LinkExpired { follow_up_at: Option<Timestamp> },
    /// The 24 h window closed and no final status was ever seen.
    WindowClosed { follow_up_at: Option<Timestamp> },
    /// The user came back through the callback URL (recorded once).
    UserReturned,
    /// The import job for the saved session was claimed for the queue.
    ImportQueued,
    /// A worker took the import claim; Default Import may be called from now on, once.
    ImportClaimed,
    /// Default Import answered with this command id.
    ImportCommandStarted { command_id: CommandId },
    /// Kontomatik refused Default Import before starting anything (its jobs quota was full):
    /// the claim taken at `claimed_at` is given back and the import queued again. Only that
    /// claim, and only before a command id exists.
    ImportNotStarted { claimed_at: Timestamp },
    /// A job numbered `continuation` is about to go on the queue (a worker handing on, or the
    /// poller sweeping up a stale import): it is the one live job from now on, and the import
    /// is not stale until [`import_stale_after`] from now. Only a higher number than the last.
    ImportJobSent { continuation: u32 },
    /// The poller gave up on a stale import at its deadline. Applies only while the import is
    /// still due (`next_poll_at` passed): a worker that moved it meanwhile wins.
    ImportAbandoned { error: ErrorInfo },
    /// The import command reached a final state (or can never be resumed).
    ImportFinished { error: Option<ErrorInfo> },
    /// The one follow-up email for this drop-off was sent.
    FollowUpSent,
    /// No follow-up for this drop-off (no consent, opted out, succeeded since, or one was sent
    /// to this user recently).
    FollowUpSkipped,
    /// The import's email (done or "sign in again") could not be sent: the poller sends it
    /// again at `retry_at`.
    EmailUnsent { retry_at: Timestamp },
    /// The import's email went out (after an earlier failure).
    EmailSent,
}

/// The kind of an event without its data, for tables and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    StillOpen,
    CheckDeferred,
    CheckLeased,
    SignInSucceeded,
    SignInFailed,
    LinkExpired,
    WindowClosed,
    UserReturned,
    ImportQueued,
    ImportClaimed,
    ImportCommandStarted,
    ImportNotStarted,
    ImportJobSent,
    ImportAbandoned,
    ImportFinished,
    FollowUpSent,
    FollowUpSkipped,
    EmailUnsent,
    EmailSent,
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::StillOpen { .. } => EventKind::StillOpen,
            Event::CheckDeferred { .. } => EventKind::CheckDeferred,
            Event::CheckLeased { .. } => EventKind::CheckLeased,
            Event::SignInSucceeded { .. } => EventKind::SignInSucceeded,
            Event::SignInFailed { .. } => EventKind::SignInFailed,
            Event::LinkExpired { .. } => EventKind::LinkExpired,
            Event::WindowClosed { .. } => EventKind::WindowClosed,
            Event::UserReturned => EventKind::UserReturned,
            Event::ImportQueued => EventKind::ImportQueued,
            Event::ImportClaimed => EventKind::ImportClaimed,
            Event::ImportCommandStarted { .. } => EventKind::ImportCommandStarted,
            Event::ImportNotStarted { .. } => EventKind::ImportNotStarted,
            Event::ImportJobSent { .. } => EventKind::ImportJobSent,
            Event::ImportAbandoned { .. } => EventKind::ImportAbandoned,
            Event::ImportFinished { .. } => EventKind::ImportFinished,
            Event::FollowUpSent => EventKind::FollowUpSent,
            Event::FollowUpSkipped => EventKind::FollowUpSkipped,
            Event::EmailUnsent { .. } => EventKind::EmailUnsent,
            Event::EmailSent => EventKind::EmailSent,
        }
    }
}

/// An event that does not apply to a redirection in its current state. Not a fault: it is how a
/// late duplicate (second callback, redelivered job) learns that someone else already acted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{event:?} does not apply to a redirection in state {from:?}")]
pub struct Refused {
    pub from: State,
    pub event: EventKind,
}

/// The import's end: imported without an error, else failed; the progress records when and
/// why (an import never claimed gets progress without a command id); its email is owed.
fn end_import(next: &mut Redirection, now: Timestamp, error: Option<ErrorInfo>) {
    next.state = if error.is_none() {
        State::Imported
    } else {
        State::ImportFailed
    };
    let import = next.import.get_or_insert(ImportProgress {
        claimed_at: now,
        command_id: None,
        finished_at: None,
        error: None,
    });
    import.finished_at = Some(now);
    import.error = error;
    next.email_unsent = true;
    // The session's signature and tokens are of no use once the import is final; they go now,
    // not with the record a day later. The state and counts stay for the funnel.
    next.session = None;
}

/// The next version of `r` after `event` at `now`, or why the event does not apply.
pub fn apply(r: &Redirection, event: Event, now: Timestamp) -> Result<Redirection, Refused> {
    use State::*;
    let kind = event.kind();
    let refused = Refused {
        from: r.state,
        event: kind,
    };
    let mut next = r.clone();
    match (r.state, event) {
        (
            Created | Pending,
            Event::StillOpen {
                status,
                next_poll_at,
            },
        ) if !status.is_final() => {
            next.state = Pending;
            next.last_status = Some(status);
            next.status_checks += 1;
            next.next_poll_at = next_poll_at;
        }
        (Created | Pending, Event::CheckDeferred { next_poll_at }) => {
            next.next_poll_at = next_poll_at;
        }
        (Created | Pending, Event::CheckLeased { next_poll_at }) => {
            next.next_poll_at = next_poll_at;
            next.check_leased_at = Some(now);
        }
        (Created | Pending, Event::SignInSucceeded { session }) => {
            next.state = SessionSaved;
            next.last_status = Some(KontomatikStatus::Success);
            next.status_checks += 1;
            next.session = Some(session);
            next.session_saved_at = Some(now);
            next.next_poll_at = Some(now + import_recovery_delay());
        }
        (
            Created | Pending,
            Event::SignInFailed {
                error,
                follow_up_at,
            },
        ) => {
            next.state = Failed;
            next.last_status = Some(KontomatikStatus::Error);
            next.status_checks += 1;
            next.error = Some(error);
            next.next_poll_at = follow_up_at;
        }
        (Created | Pending, Event::LinkExpired { follow_up_at }) => {
            next.state = Expired;
            next.last_status = Some(KontomatikStatus::Expired);
            next.status_checks += 1;
            next.next_poll_at = follow_up_at;
        }
        (Created | Pending, Event::WindowClosed { follow_up_at }) => {
            next.state = Expired;
            next.next_poll_at = follow_up_at;
        }
        (_, Event::UserReturned) if r.returned_at.is_none() => {
            next.returned_at = Some(now);
        }
        (SessionSaved, Event::ImportQueued) => {
            next.state = ImportQueued;
            next.next_poll_at = Some(r.import_check_at(now));
        }
        (SessionSaved, Event::CheckDeferred { next_poll_at }) => {
            next.next_poll_at = next_poll_at;
        }
        (SessionSaved | ImportQueued, Event::ImportClaimed) => {
            next.state = ImportRunning;
            next.next_poll_at = Some(r.import_check_at(now));
            next.import = Some(ImportProgress {
                claimed_at: now,
                command_id: None,
                finished_at: None,
                error: None,
            });
        }
        (ImportRunning, Event::ImportCommandStarted { command_id })
            if r.import.as_ref().is_some_and(|i| i.command_id.is_none()) =>
        {
            if let Some(import) = next.import.as_mut() {
                import.command_id = Some(command_id);
            }
            next.next_poll_at = Some(r.import_check_at(now));
        }
        (ImportRunning, Event::ImportNotStarted { claimed_at })
            if r.import
                .as_ref()
                .is_some_and(|i| i.command_id.is_none() && i.claimed_at == claimed_at) =>
        {
            next.state = ImportQueued;
            next.import = None;
            next.next_poll_at = Some(r.import_check_at(now));
        }
        (SessionSaved | ImportQueued | ImportRunning, Event::ImportJobSent { continuation })
            if continuation > r.job_continuation =>
        {
            // A job handed on before its import was marked queued marks it now.
            if r.state == SessionSaved {
                next.state = ImportQueued;
            }
            next.job_continuation = continuation;
            next.next_poll_at = Some(r.import_check_at(now));
        }
        (ImportQueued | ImportRunning, Event::ImportAbandoned { error })
            if r.next_poll_at.is_some_and(|at| at <= now) =>
        {
            end_import(&mut next, now, Some(error));
        }
        // Never claimed, and never to be (too late to start): failed, not imported.
        (SessionSaved | ImportQueued, Event::ImportFinished { error: Some(error) }) => {
            end_import(&mut next, now, Some(error));
        }
        (ImportRunning, Event::ImportFinished { error }) => {
            end_import(&mut next, now, error);
        }
        (Expired | Failed, Event::FollowUpSent) => {
            next.state = FollowUpSent;
        }
        (Expired | Failed, Event::FollowUpSkipped) if r.next_poll_at.is_some() => {
            next.next_poll_at = None;
        }
        (Imported | ImportFailed, Event::EmailUnsent { retry_at }) => {
            next.email_unsent = true;
            next.next_poll_at = Some(retry_at);
        }
        (Imported | ImportFailed, Event::EmailSent) if r.email_unsent => {
            next.email_unsent = false;
        }
        _ => return Err(refused),
    }
    // A leased check ends with its answer recorded (or deferred), or with anything else that
    // moves the redirection on; the user's return (recorded once) leaves it.
    if !matches!(kind, EventKind::CheckLeased | EventKind::UserReturned) {
        next.check_leased_at = None;
    }
    if next.email_unsent && !r.email_unsent {
        // The import's end: its email is owed until `EmailSent`. If the sender dies before
        // sending, the poller sends it at this time.
        next.next_poll_at = Some(now + email_retry());
    }
    if !next.state.in_poll_index() && !next.email_unsent {
        next.next_poll_at = None;
    }
    next.version = r.version + 1;
    next.updated_at = now;
    Ok(next)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::Secret;
    use chrono::TimeZone;
    use std::collections::HashSet;

    pub(crate) fn t0() -> Timestamp {
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 2, 9, 0, 0)
            .single()
            .expect("valid time")
    }

    pub(crate) fn sample(id: &str) -> Redirection {
        Redirection::new(
            NewRedirection {
                id: RedirectionId::parse(id).expect("id"),
                owner: OwnerExternalId::parse("own-1").expect("owner"),
                email: Email::parse("ann@example.com").expect("email"),
                language: Language::parse("en").expect("lang"),
                country: Country::parse("pl").expect("country"),
                access_mode: AccessMode::Single,
                link: "https://sandbox/signin/x".into(),
                first_poll_at: t0() + Duration::minutes(5),
            },
            t0(),
        )
    }

    fn session() -> SessionData {
        SessionData {
            session_id: "s1".into(),
            session_id_signature: Secret::new("sig"),
            target: "DemoBank".into(),
            owner_external_id: None,
            multiple_access_token: None,
        }
    }

    fn error() -> ErrorInfo {
        ErrorInfo {
            code: "UserCancelled".into(),
            message: "The user cancelled".into(),
        }
    }

    fn events() -> Vec<Event> {
        vec![
            Event::StillOpen {
                status: KontomatikStatus::InProgress,
                next_poll_at: Some(t0()),
            },
            Event::CheckDeferred {
                next_poll_at: Some(t0()),
            },
            Event::CheckLeased {
                next_poll_at: Some(t0()),
            },
            Event::SignInSucceeded { session: session() },
            Event::SignInFailed {
                error: error(),
                follow_up_at: Some(t0()),
            },
            Event::LinkExpired {
                follow_up_at: Some(t0()),
            },
            Event::WindowClosed { follow_up_at: None },
            Event::UserReturned,
            Event::ImportQueued,
            Event::ImportClaimed,
            Event::ImportCommandStarted {
                command_id: CommandId::parse("77").expect("cmd"),
            },
            Event::ImportNotStarted { claimed_at: t0() },
            Event::ImportJobSent { continuation: 1 },
            Event::ImportAbandoned { error: error() },
            Event::ImportFinished { error: None },
            Event::FollowUpSent,
            Event::FollowUpSkipped,
            Event::EmailUnsent { retry_at: t0() },
            Event::EmailSent,
        ]
    }

    /// A redirection in `state` with the data that state implies.
    fn in_state(state: State) -> Redirection {
        let mut r = sample("r1");
        r.state = state;
        if !state.in_poll_index() {
            r.next_poll_at = None;
        }
        if matches!(state, State::ImportQueued | State::ImportRunning) {
            // Due: the poller may abandon it.
            r.next_poll_at = Some(t0());
        }
        if state >= State::ImportRunning && state <= State::ImportFailed {
            r.import = Some(ImportProgress {
                claimed_at: t0(),
                command_id: None,
                finished_at: None,
                error: None,
            });
        }
        r
    }

    /// The legal transitions, written out once by hand from the diagram above.
    fn legal() -> Vec<(State, EventKind, State)> {
        use EventKind as E;
        use State::*;
        let mut v = vec![];
        for from in [Created, Pending] {
            v.push((from, E::StillOpen, Pending));
            v.push((from, E::CheckDeferred, from));
            v.push((from, E::CheckLeased, from));
            v.push((from, E::SignInSucceeded, SessionSaved));
            v.push((from, E::SignInFailed, Failed));
            v.push((from, E::LinkExpired, Expired));
            v.push((from, E::WindowClosed, Expired));
        }
        for s in State::ALL {
            v.push((s, E::UserReturned, s));
        }
        v.push((SessionSaved, E::ImportQueued, ImportQueued));
        v.push((SessionSaved, E::CheckDeferred, SessionSaved));
        v.push((SessionSaved, E::ImportClaimed, ImportRunning));
        v.push((ImportQueued, E::ImportClaimed, ImportRunning));
        v.push((ImportRunning, E::ImportCommandStarted, ImportRunning));
        v.push((ImportRunning, E::ImportNotStarted, ImportQueued));
        v.push((ImportRunning, E::ImportFinished, Imported));
        v.push((ImportQueued, E::ImportJobSent, ImportQueued));
        v.push((SessionSaved, E::ImportJobSent, ImportQueued));
        // `in_state` makes them due (next_poll_at in the past).
        v.push((ImportQueued, E::ImportAbandoned, ImportFailed));
        v.push((ImportRunning, E::ImportAbandoned, ImportFailed));
        v.push((ImportRunning, E::ImportJobSent, ImportRunning));
        v.push((Expired, E::FollowUpSent, FollowUpSent));
        v.push((Failed, E::FollowUpSent, FollowUpSent));
        v.push((Expired, E::FollowUpSkipped, Expired));
        v.push((Failed, E::FollowUpSkipped, Failed));
        v.push((Imported, E::EmailUnsent, Imported));
        v.push((ImportFailed, E::EmailUnsent, ImportFailed));
        v
    }

    /// A leased status check ends with whatever moves the redirection on: only the lease
    /// itself and the user's return (which a callback records before it checks) leave it.
    #[test]
    fn every_event_but_the_lease_and_the_return_ends_a_leased_check() {
        let mut ended = 0;
        for from in State::ALL {
            for event in events() {
                let kind = event.kind();
                let mut r = in_state(from);
                r.check_leased_at = Some(t0());
                let Ok(next) = apply(&r, event, t0() + Duration::minutes(1)) else {
                    continue;
                };
                match kind {
                    EventKind::CheckLeased => {
                        assert_eq!(next.check_leased_at, Some(t0() + Duration::minutes(1)))
                    }
                    EventKind::UserReturned => {
                        assert_eq!(next.check_leased_at, Some(t0()), "{from:?}")
                    }
                    _ => {
                        assert_eq!(next.check_leased_at, None, "{from:?} + {kind:?}");
                        ended += 1;
                    }
                }
            }
        }
        assert!(ended > 10, "the events that apply were tried: {ended}");
    }

    #[test]
    fn every_state_event_pair_is_either_the_listed_transition_or_refused() {
        let legal = legal();
        let mut seen = HashSet::new();
        for from in State::ALL {
            for event in events() {
                let kind = event.kind();
                let r = in_state(from);
                let result = apply(&r, event, t0() + Duration::minutes(1));
                let expected = legal.iter().find(|(f, e, _)| *f == from && *e == kind);
                match (expected, result) {
                    (Some((_, _, to)), Ok(next)) => {
                        assert_eq!(next.state, *to, "{from:?} + {kind:?}");
                        assert_eq!(next.version, r.version + 1, "every write bumps the version");
                        assert_eq!(next.updated_at, t0() + Duration::minutes(1));
                        seen.insert((from, kind));
                    }
                    (None, Err(refused)) => {
                        assert_eq!(refused, Refused { from, event: kind });
                    }
                    (Some(_), Err(e)) => panic!("{from:?} + {kind:?} should apply, got {e}"),
                    (None, Ok(next)) => {
                        panic!(
                            "{from:?} + {kind:?} should be refused, got {:?}",
                            next.state
                        )
                    }
                }
            }
        }
        assert_eq!(
            seen.len(),
            legal.len(),
            "every legal transition was exercised"
        );
    }

    #[test]
    fn an_unclaimed_import_can_fail_but_never_be_imported() {
        for state in [State::SessionSaved, State::ImportQueued] {
            let r = in_state(state);
            let failed = apply(
                &r,
                Event::ImportFinished {
                    error: Some(error()),
                },
                t0(),
            )
            .expect("failed");
            assert_eq!(failed.state, State::ImportFailed);
            assert_eq!(failed.import.unwrap().command_id, None);
            assert!(apply(&r, Event::ImportFinished { error: None }, t0()).is_err());
        }
    }

    #[test]
    fn an_import_is_abandoned_only_while_it_is_still_due() {
        let mut r = in_state(State::ImportRunning);
        r.next_poll_at = Some(t0() + Duration::minutes(15));
        let moved = apply(&r, Event::ImportAbandoned { error: error() }, t0());
        assert!(moved.is_err(), "a worker refreshed it: the worker wins");
        r.next_poll_at = Some(t0());
        let abandoned =
            apply(&r, Event::ImportAbandoned { error: error() }, t0()).expect("abandoned");
        assert_eq!(abandoned.state, State::ImportFailed);
        assert!(abandoned.email_unsent, "the retry email is owed");
        assert_eq!(abandoned.next_poll_at, Some(t0() + email_retry()));
        let told = apply(&abandoned, Event::EmailSent, t0()).expect("sent");
        assert_eq!(told.next_poll_at, None, "out of the index once told");
    }

    #[test]
    fn the_import_is_looked_at_no_later_than_its_deadline() {
        let mut r = in_state(State::SessionSaved);
        r.session_saved_at = Some(t0());
        let late = t0() + Duration::minutes(50);
        let queued = apply(&r, Event::ImportQueued, late).expect("queued");
        assert_eq!(queued.next_poll_at, Some(t0() + import_deadline()));
        // A success seen late in the window: the deadline comes before the record's end.
        r.session_saved_at = Some(r.forgotten_at() - Duration::minutes(30));
        assert_eq!(
            r.import_deadline_at(),
            r.forgotten_at() - Duration::minutes(10)
        );
    }

    #[test]
    fn import_finished_with_an_error_ends_in_import_failed() {
        let r = in_state(State::ImportRunning);
        let next = apply(
            &r,
            Event::ImportFinished {
                error: Some(error()),
            },
            t0(),
        )
        .expect("applies");
        assert_eq!(next.state, State::ImportFailed);
        let import = next.import.expect("import kept");
        assert_eq!(import.error, Some(error()));
        assert_eq!(import.finished_at, Some(t0()));
    }

    #[test]
    fn a_final_status_cannot_be_reported_as_still_open() {
        let r = in_state(State::Pending);
        let refused = apply(
            &r,
            Event::StillOpen {
                status: KontomatikStatus::Success,
                next_poll_at: None,
            },
            t0(),
        );
        assert!(refused.is_err());
    }

    #[test]
    fn a_drop_off_waits_in_the_index_for_its_follow_up_decision() {
        let r = in_state(State::Pending);
        let at = t0() + Duration::hours(2);
        let expired = apply(
            &r,
            Event::LinkExpired {
                follow_up_at: Some(at),
            },
            t0(),
        )
        .expect("expired");
        assert_eq!(expired.next_poll_at, Some(at));
        let skipped = apply(&expired, Event::FollowUpSkipped, at).expect("skip");
        assert_eq!(skipped.state, State::Expired);
        assert_eq!(skipped.next_poll_at, None, "decided: out of the index");
        assert!(
            apply(&skipped, Event::FollowUpSkipped, at).is_err(),
            "decided once"
        );
        let sent = apply(&expired, Event::FollowUpSent, at).expect("sent");
        assert_eq!(sent.next_poll_at, None);
    }

    #[test]
    fn the_user_return_is_recorded_once() {
        let r = in_state(State::Pending);
        let once = apply(&r, Event::UserReturned, t0()).expect("first return");
        assert_eq!(once.returned_at, Some(t0()));
        assert!(apply(&once, Event::UserReturned, t0() + Duration::minutes(1)).is_err());
    }

    #[test]
    fn the_command_id_is_stored_once_and_never_replaced() {
        let r = in_state(State::ImportRunning);
        let started = apply(
            &r,
            Event::ImportCommandStarted {
                command_id: CommandId::parse("1").expect("cmd"),
            },
            t0(),
        )
        .expect("first");
        let again = apply(
            &started,
            Event::ImportCommandStarted {
                command_id: CommandId::parse("2").expect("cmd"),
            },
            t0(),
        );
        assert!(again.is_err());
        assert_eq!(
            started.import.and_then(|i| i.command_id).map(String::from),
            Some("1".into())
        );
    }

    #[test]
    fn a_claim_is_given_back_only_by_its_own_taker_and_only_before_a_command_id() {
        let r = in_state(State::ImportRunning);
        let other_claim = Event::ImportNotStarted {
            claimed_at: t0() + Duration::seconds(1),
        };
        assert!(
            apply(&r, other_claim, t0()).is_err(),
            "another worker's claim"
        );
        let started = apply(
            &r,
            Event::ImportCommandStarted {
                command_id: CommandId::parse("1").expect("cmd"),
            },
            t0(),
        )
        .expect("started");
        let ours = Event::ImportNotStarted { claimed_at: t0() };
        assert!(
            apply(&started, ours.clone(), t0()).is_err(),
            "a command runs"
        );
        let released = apply(&r, ours, t0()).expect("released");
        assert_eq!(released.state, State::ImportQueued);
        assert!(released.import.is_none());
    }

    #[test]
    fn only_a_newer_import_job_becomes_the_live_one() {
        let r = in_state(State::ImportRunning);
        let sent = apply(&r, Event::ImportJobSent { continuation: 3 }, t0()).expect("newer");
        assert_eq!(sent.job_continuation, 3);
        for stale in [0, 2, 3] {
            assert!(
                apply(
                    &sent,
                    Event::ImportJobSent {
                        continuation: stale
                    },
                    t0()
                )
                .is_err(),
                "{stale}"
            );
        }
    }

    #[test]
    fn claiming_the_import_records_when_default_import_became_possible() {
        let r = in_state(State::ImportQueued);
        let claimed = apply(&r, Event::ImportClaimed, t0()).expect("claim");
        let import = claimed.import.clone().expect("progress");
        assert_eq!(import.claimed_at, t0());
        assert_eq!(import.command_id, None);
        // A second claim (redelivery, a racing worker) is refused.
        assert!(apply(&claimed, Event::ImportClaimed, t0()).is_err());
    }

    #[test]
    fn polling_schedule_is_kept_only_while_polling_is_needed() {
        let r = sample("r2");
        assert_eq!(r.next_poll_at, Some(t0() + Duration::minutes(5)));
        let later = t0() + Duration::minutes(12);
        let pending = apply(
            &r,
            Event::StillOpen {
                status: KontomatikStatus::InProgress,
                next_poll_at: Some(later),
            },
            t0() + Duration::minutes(5),
        )
        .expect("pending");
        assert_eq!(pending.next_poll_at, Some(later));
        assert_eq!(pending.status_checks, 1);
        let done = apply(
            &pending,
            Event::SignInSucceeded { session: session() },
            later,
        )
        .expect("success");
        assert_eq!(
            done.next_poll_at,
            Some(later + import_recovery_delay()),
            "a saved session stays in the index until its import is queued"
        );
        assert_eq!(done.session, Some(session()));
        assert_eq!(done.status_checks, 2);
        let queued = apply(&done, Event::ImportQueued, later).expect("queued");
        assert_eq!(
            queued.next_poll_at,
            Some(later + import_stale_after()),
            "a queued import is looked at again if nothing moves it"
        );
        let claimed = apply(&queued, Event::ImportClaimed, later).expect("claimed");
        assert_eq!(claimed.next_poll_at, Some(later + import_stale_after()));
        let done = apply(&claimed, Event::ImportFinished { error: None }, later).expect("done");
        assert_eq!(
            done.next_poll_at,
            Some(later + email_retry()),
            "stays until its email is sent"
        );
        let told = apply(&done, Event::EmailSent, later).expect("sent");
        assert_eq!(told.next_poll_at, None, "leaves the sparse poll index");
    }

    #[test]
    fn lifetimes_follow_the_guide() {
        let r = sample("r3");
        assert_eq!(r.link_expires_at() - r.created_at, Duration::hours(1));
        assert_eq!(r.forgotten_at() - r.created_at, Duration::hours(24));
        assert_eq!(
            r.ttl_epoch_seconds(),
            (t0() + Duration::hours(24)).timestamp()
        );
        assert!(!r.is_forgotten(t0() + Duration::hours(23)));
        assert!(r.is_forgotten(t0() + Duration::hours(24)));
    }

    #[test]
    fn states_round_trip_through_their_names() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).expect("json"),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(State::parse("nonsense"), None);
    }
}
