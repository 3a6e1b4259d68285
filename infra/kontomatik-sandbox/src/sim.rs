//! The simulated Kontomatik: redirections whose status moves as a simulated user acts, links that
//! expire after an hour, ids forgotten after 24 hours, a per-id poll limit, sessions that can be
//! imported once, and commands that finish after a few polls. Pure state + clock; the HTTP layer
//! only translates.

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

fn with_redirection_id(uri: &str, id: &str) -> String {
    match url::Url::parse(uri) {
        Ok(mut u) => {
            u.query_pairs_mut().append_pair("redirectionId", id);
            u.into()
        }
        Err(_) => uri.to_owned(),
    }
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

    /// Applies lazy expiry and forgetting; the redirection as it is at `now`.
    fn live(&mut self, id: &str, now: Time) -> Result<&mut Redirection, SimError> {
        let window = self.config.status_window;
        let lifetime = self.config.link_lifetime;
        let r = self.redirections.get_mut(id).ok_or(SimError::NotFound)?;
        if now >= r.created_at + window {
            return Err(SimError::NotFound);
        }
        let expires = r.created_at + lifetime;
        if !r.status.is_final() && now >= expires {
            r.set_status(Status::Expired, expires);
        }
        Ok(r)
    }

    pub fn fetch_redirection(&mut self, req: NewRedirection, now: Time) -> Redirection {
        let id = token();
        let r = Redirection {
            id: id.clone(),
            redirect_uri: req.redirect_uri,
            owner_external_id: req.owner_external_id,
            language: req.language,
            country: req.country,
            access_mode: req.access_mode,
            created_at: now,
            status: Status::Initialized,
            status_changed_at: now,
            changes: 0,
            last_read_at: None,
            changes_at_last_read: 0,
        };
        self.redirections.insert(id, r.clone());
        r
    }

    /// The *Redirection status* endpoint: enforces the poll limit, counts the call.
    pub fn status(
        &mut self,
        id: &str,
        now: Time,
    ) -> Result<(Redirection, Option<Session>), SimError> {
        *self.counters.status_calls.entry(id.to_owned()).or_insert(0) += 1;
        let min = self.config.min_poll_interval;
        let r = self.live(id, now)?;
        if let Some(last) = r.last_read_at {
            let unchanged = r.changes == r.changes_at_last_read;
            if unchanged && now - last < min {
                let wait = (min - (now - last)).num_seconds().max(1) as u64;
                self.counters.rate_limited += 1;
                if self.lost_status_reads.get(id) == Some(&last) {
                    self.counters.rate_limited_after_lost_reply += 1;
                }
                return Err(SimError::RateLimited {
                    retry_after_secs: wait,
                });
            }
        }
        r.last_read_at = Some(now);
        r.changes_at_last_read = r.changes;
        let r = r.clone();
        let session = match &r.status {
            Status::Success { session_id } => self.sessions.get(session_id).cloned(),
            _ => None,
        };
        Ok((r, session))
    }

    /// The status read of `id` just handled had its answer lost (an injected fault).
    pub fn status_answer_lost(&mut self, id: &str) {
        if let Some(at) = self.redirections.get(id).and_then(|r| r.last_read_at) {
            self.lost_status_reads.insert(id.to_owned(), at);
        }
    }

    /// A read without side effects (for the hosted page and the admin view).
    pub fn peek(&mut self, id: &str, now: Time) -> Result<Redirection, SimError> {
        self.live(id, now).map(|r| r.clone())
    }

    /// What the simulated user does on the hosted page.
    pub fn act(
        &mut self,
        id: &str,
        action: UserAction,
        bank_id: Option<&str>,
        now: Time,
    ) -> Result<Acted, SimError> {
        let r = self.live(id, now)?;
        let back = with_redirection_id(&r.redirect_uri, &r.id);
        if r.status == Status::Expired {
            return Ok(Acted::LinkExpired { redirect_to: back });
        }
        if r.status.is_final() {
            return Ok(Acted::AlreadyFinished { redirect_to: back });
        }
        let (status, session) = match action {
            UserAction::Open => {
                if r.status == Status::Initialized {
                    r.set_status(Status::InProgress, now);
                }
                return Ok(Acted::Done { redirect_to: None });
            }
            UserAction::Succeed => {
                let session = Session {
                    id: token(),
                    signature: token(),
                    redirection_id: r.id.clone(),
                    bank: bank_id.and_then(bank).unwrap_or(&BANKS[0]),
                    owner_external_id: r.owner_external_id.clone(),
                    multiple_access_token: (r.access_mode != "single").then(token),
                    created_at: now,
                    command_id: None,
                    signed_out: false,
                };
                let status = Status::Success {
                    session_id: session.id.clone(),
                };
                (status, Some(session))
            }
            UserAction::FailLogin => (
                Status::Error {
                    code: "InvalidCredentials".into(),
                    message: "The bank did not accept the login or password.".into(),
                },
                None,
            ),
            UserAction::Cancel => (
                Status::Error {
                    code: "UserCancelled".into(),
                    message: "The user cancelled the sign-in.".into(),
                },
                None,
            ),
        };
        r.set_status(status, now);
        if let Some(session) = session {
            self.sessions.insert(session.id.clone(), session);
        }
        Ok(Acted::Done {
            redirect_to: Some(back),
        })
    }

    /// *Default Import*: once per session, ever.
    pub fn default_import(
        &mut self,
        session_id: &str,
        signature: &str,
        since: NaiveDate,
        now: Time,
    ) -> Result<u64, SimError> {
        let lifetime = self.config.session_lifetime;
        let running = self
            .commands
            .values()
            .filter(|c| c.running(&self.config, now))
            .count();
        let quota_full = self
            .config
            .jobs_quota
            .is_some_and(|quota| running >= quota as usize);
        let s = self
            .sessions
            .get_mut(session_id)
            .filter(|s| s.signature == signature && !s.signed_out)
            .ok_or(SimError::InvalidSession)?;
        if s.command_id.is_some() {
            self.counters.duplicate_imports += 1;
            return Err(SimError::AlreadyExecuted);
        }
        if now >= s.created_at + lifetime {
            return Err(SimError::SessionExpired);
        }
        if quota_full {
            self.counters.jobs_quota_refusals += 1;
            return Err(SimError::JobsQuotaExceeded);
        }
        self.next_command += 1;
        let id = self.next_command;
        s.command_id = Some(id);
        let outcome = s.bank.import;
        self.commands.insert(
            id,
            Command {
                id,
                session_id: session_id.to_owned(),
                polls: 0,
                outcome,
                created_at: now,
                since,
            },
        );
        self.counters.imports_started += 1;
        Ok(id)
    }

    /// *Get import result*: the command moves on by one step per poll. Commands are the API
    /// user's own: the id is enough (no session in the request).
    pub fn command_status(
        &mut self,
        id: u64,
        seed: u64,
        now: Time,
    ) -> Result<CommandView, SimError> {
        let needed = self.config.import_polls.max(1);
        let c = self
            .commands
            .get_mut(&id)
            .ok_or(SimError::CommandNotFound)?;
        let session = self
            .sessions
            .get(&c.session_id)
            .cloned()
            .ok_or(SimError::CommandNotFound)?;
        c.polls += 1;
        // How far the command is: by time at Kontomatik, or by polls.
        let (done, progress) = match self.config.import_time {
            Some(t) => {
                let spent = (now - c.created_at).num_milliseconds().max(0) as u128;
                let whole = t.num_milliseconds().max(1) as u128;
                (spent >= whole, (spent.min(whole) * 100 / whole) as u8)
            }
            None => (
                c.polls >= needed,
                ((c.polls.min(needed) * 100) / needed) as u8,
            ),
        };
        let setup = match self.config.import_time {
            Some(_) => c.polls == 1 && !done,
            None => c.polls == 1 && needed > 1,
        };
        let mut view = CommandView {
            id,
            state: "in_progress",
            progress,
            data_seed: None,
            exception: None,
            bank: session.bank,
            owner_external_id: session.owner_external_id.clone(),
            as_of: c.created_at,
            since: c.since,
        };
        if setup {
            view.state = "setup";
            view.progress = 0;
        } else if done {
            match c.outcome {
                ImportOutcome::Successful => {
                    view.state = "successful";
                    // Recorded: a successful command's progress can say 0.
                    view.progress = 0;
                    view.data_seed = Some(seed ^ id);
                }
                ImportOutcome::Error => {
                    view.state = "error";
                    view.exception = Some((
                        "BankTemporarilyUnavailable",
                        "The bank did not answer during the import.",
                    ));
                }
                ImportOutcome::Fatal => {
                    view.state = "fatal";
                    view.exception = Some(("ImportFailed", "The import could not be completed."));
                }
                ImportOutcome::Stuck => view.progress = 99,
            }
        } else {
            view.progress = view.progress.min(99);
        }
        if let (Some(data_seed), Some(owner)) = (view.data_seed, view.owner_external_id.clone()) {
            let created_at = self.owner_data.get(&owner).map_or(now, |d| d.created_at);
            let fresher = self
                .owner_data
                .get(&owner)
                .is_none_or(|d| d.command_id <= id);
            if fresher {
                self.owner_data.insert(
                    owner,
                    OwnerData {
                        command_id: id,
                        data_seed,
                        bank: session.bank,
                        since: view.since,
                        created_at,
                        updated_at: view.as_of,
                    },
                );
            }
        }
        Ok(view)
    }

    /// A fresh command id (for commands that finish at once, like sign-out).
    pub fn next_command_id(&mut self) -> u64 {
        self.next_command += 1;
        self.next_command
    }

    /// *Sign out*: ends the session (some targets cannot).
    pub fn sign_out(&mut self, session_id: &str, signature: &str) -> Result<(), SimError> {
        let s = self
            .sessions
            .get_mut(session_id)
            .filter(|s| s.signature == signature && !s.signed_out)
            .ok_or(SimError::InvalidSession)?;
        if !s.bank.sign_out {
            self.counters.sign_outs_unavailable += 1;
            return Err(SimError::CommandNotAvailable);
        }
        s.signed_out = true;
        self.counters.sign_outs += 1;
        Ok(())
    }

    /// The data kept for an owner.
    pub fn owner_data(&mut self, owner: &str) -> Result<OwnerData, SimError> {
        self.counters.owner_data_reads += 1;
        self.owner_data
            .get(owner)
            .cloned()
            .ok_or(SimError::OwnerNotFound)
    }

    /// Removes what is kept for an owner.
    pub fn delete_owner_data(&mut self, owner: &str) -> Result<(), SimError> {
        self.counters.owner_data_deletes += 1;
        self.owner_data
            .remove(owner)
            .map(|_| ())
            .ok_or(SimError::OwnerNotFound)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    fn t0() -> Time {
        Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).single().unwrap()
    }

    fn since() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 11, 2).unwrap()
    }

    fn new_sim() -> (Sim, String) {
        let mut s = Sim::new(SimConfig::default());
        let r = s.fetch_redirection(
            NewRedirection {
                redirect_uri: "https://app.test/kontomatik-signin?lang=en".into(),
                owner_external_id: Some("own-1".into()),
                language: "en".into(),
                country: "pl".into(),
                access_mode: "single".into(),
            },
            t0(),
        );
        (s, r.id)
    }

    #[test]
    fn status_follows_the_user_and_polls_are_paced() {
        let (mut s, id) = new_sim();
        assert_eq!(s.status(&id, t0()).unwrap().0.status, Status::Initialized);
        assert!(matches!(
            s.status(&id, t0() + Duration::minutes(4)),
            Err(SimError::RateLimited {
                retry_after_secs: 60
            })
        ));
        // A change of status lets the next read through at once.
        s.act(&id, UserAction::Open, None, t0() + Duration::minutes(4))
            .unwrap();
        assert_eq!(
            s.status(&id, t0() + Duration::minutes(4)).unwrap().0.status,
            Status::InProgress
        );
        let acted = s
            .act(
                &id,
                UserAction::Succeed,
                Some("DemoBank"),
                t0() + Duration::minutes(6),
            )
            .unwrap();
        let Acted::Done {
            redirect_to: Some(back),
        } = acted
        else {
            panic!("{acted:?}")
        };
        assert_eq!(
            back,
            format!("https://app.test/kontomatik-signin?lang=en&redirectionId={id}")
        );
        let (r, session) = s.status(&id, t0() + Duration::minutes(6)).unwrap();
        assert!(matches!(r.status, Status::Success { .. }));
        assert_eq!(session.unwrap().owner_external_id.as_deref(), Some("own-1"));
        assert_eq!(s.counters.rate_limited, 1);
        assert_eq!(s.counters.status_calls[&id], 4);
    }

    #[test]
    fn an_unused_link_expires_after_an_hour_and_is_forgotten_after_a_day() {
        let (mut s, id) = new_sim();
        let later = t0() + Duration::minutes(59);
        assert_eq!(s.peek(&id, later).unwrap().status, Status::Initialized);
        assert_eq!(
            s.status(&id, t0() + Duration::hours(1)).unwrap().0.status,
            Status::Expired
        );
        let acted = s
            .act(&id, UserAction::Succeed, None, t0() + Duration::hours(2))
            .unwrap();
        assert!(matches!(acted, Acted::LinkExpired { .. }));
        assert!(s.sessions.is_empty(), "no session from an expired link");
        assert_eq!(
            s.status(&id, t0() + Duration::hours(24)).unwrap_err(),
            SimError::NotFound
        );
        assert_eq!(s.status("nope", t0()).unwrap_err(), SimError::NotFound);
    }

    #[test]
    fn default_import_runs_once_per_session() {
        let (mut s, id) = new_sim();
        s.act(&id, UserAction::Succeed, Some("DemoBank"), t0())
            .unwrap();
        let session = s.sessions.values().next().unwrap().clone();
        let cmd = s
            .default_import(&session.id, &session.signature, since(), t0())
            .unwrap();
        assert_eq!(
            s.default_import(&session.id, &session.signature, since(), t0()),
            Err(SimError::AlreadyExecuted)
        );
        assert_eq!(s.counters.imports_started, 1);
        assert_eq!(s.counters.duplicate_imports, 1);
        assert_eq!(
            s.default_import(&session.id, "forged", since(), t0()),
            Err(SimError::InvalidSession)
        );
        assert!(
            s.owner_data("own-1").is_err(),
            "no data before the import ends"
        );
        let states: Vec<_> = (0..4)
            .map(|_| s.command_status(cmd, 7, t0()).unwrap().state)
            .collect();
        assert_eq!(
            states,
            vec!["setup", "in_progress", "successful", "successful"]
        );
        assert_eq!(
            s.command_status(cmd + 1, 7, t0()),
            Err(SimError::CommandNotFound)
        );
        let kept = s.owner_data("own-1").unwrap();
        assert_eq!(kept.command_id, cmd);
        assert_eq!(kept.since, since());
        s.sign_out(&session.id, &session.signature).unwrap();
        assert_eq!(
            s.sign_out(&session.id, &session.signature),
            Err(SimError::InvalidSession),
            "signed out once"
        );
        s.delete_owner_data("own-1").unwrap();
        assert_eq!(s.owner_data("own-1").unwrap_err(), SimError::OwnerNotFound);
    }

    #[test]
    fn a_late_import_finds_the_session_expired() {
        let (mut s, id) = new_sim();
        s.act(&id, UserAction::Succeed, None, t0()).unwrap();
        let session = s.sessions.values().next().unwrap().clone();
        assert_eq!(
            s.default_import(
                &session.id,
                &session.signature,
                since(),
                t0() + Duration::hours(2)
            ),
            Err(SimError::SessionExpired)
        );
    }

    #[test]
    fn the_bank_decides_how_the_import_ends() {
        for (bank, state) in [("FlakyBank", "error"), ("BrokenBank", "fatal")] {
            let (mut s, id) = new_sim();
            s.act(&id, UserAction::Succeed, Some(bank), t0()).unwrap();
            let ses = s.sessions.values().next().unwrap().clone();
            let cmd = s
                .default_import(&ses.id, &ses.signature, since(), t0())
                .unwrap();
            let mut last = None;
            for _ in 0..3 {
                last = Some(s.command_status(cmd, 1, t0()).unwrap());
            }
            let last = last.unwrap();
            assert_eq!(last.state, state);
            assert!(last.exception.is_some());
            assert_eq!(last.data_seed, None);
        }
    }

    #[test]
    fn failures_and_cancellations_end_in_error_and_send_the_user_back() {
        for (action, code) in [
            (UserAction::FailLogin, "InvalidCredentials"),
            (UserAction::Cancel, "UserCancelled"),
        ] {
            let (mut s, id) = new_sim();
            let acted = s.act(&id, action, None, t0()).unwrap();
            assert!(matches!(
                acted,
                Acted::Done {
                    redirect_to: Some(_)
                }
            ));
            let (r, _) = s.status(&id, t0()).unwrap();
            assert!(matches!(r.status, Status::Error { code: ref c, .. } if c == code));
            let again = s.act(&id, UserAction::Succeed, None, t0()).unwrap();
            assert!(matches!(again, Acted::AlreadyFinished { .. }));
        }
    }
}
