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

mod timing;
pub use timing::*;

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
    /// The lender's own application id, when its systems started the sign-in (every event of
    /// the sign-in carries it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_application_id: Option<String>,
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
            external_application_id: None,
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
pub(crate) mod tests;
