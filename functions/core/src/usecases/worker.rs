//! Transition 5: run the import of one saved session. Default Import is called **at most once per
//! session, ever**: the claim (`import_running`) is written before the call, and a job that finds
//! the claim taken without a command id never calls again. The command is polled every few
//! seconds until final. Between two polls the job waits as a delayed message (no invocation
//! held; [`CommandWait`]), and whenever the worker's time runs short it hands on the same way.

use super::{App, FlowError, Transition};
use crate::config::CommandWait;
use crate::domain::credit::CreditAnalysisBuilder;
use crate::domain::import::{ImportSummary, SummaryBuilder, Tee};
use crate::domain::machine::{Event, Redirection, State};
use crate::domain::{CommandId, ErrorInfo, SessionData, Timestamp};
use crate::notify;
use crate::ports::{FunnelStep, ImportJob, ImportRecord, KontomatikError, SignOut};

/// A claim needs at least this long before the import's deadline: Default Import is spent
/// only on an import with time to finish.
const MIN_IMPORT_TIME: chrono::Duration = chrono::Duration::minutes(10);

const TIMED_OUT: &str = "the import did not finish within an hour of the sign-in";

const NOT_ADMITTED: &str =
    "no slot of Kontomatik's jobs quota came free in time for the import to finish within an hour of the sign-in";

/// What became of one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// Nothing more to do for this job (finished here, earlier, or elsewhere).
    Done(State),
    /// Handed on to a delayed continuation message: between two command polls, or before the
    /// deadline.
    Continued,
    /// Leave the message on the queue: it becomes visible again and is retried.
    RetryLater(String),
}

pub(super) fn failure(code: &str, message: impl Into<String>) -> ErrorInfo {
    ErrorInfo {
        code: code.into(),
        message: message.into(),
    }
}

/// Why a job goes back on the queue.
#[derive(Debug, Clone, Copy)]
enum RequeueReason {
    /// Between two command polls.
    Wait,
    /// The invocation's time is running out.
    Deadline,
    /// Kontomatik's jobs quota was full; nothing was started.
    QuotaFull,
    /// Every slot of the jobs quota is held by a running import; this one waits its turn.
    AwaitingSlot,
}

impl RequeueReason {
    fn as_str(self) -> &'static str {
        match self {
            RequeueReason::Wait => "wait",
            RequeueReason::Deadline => "deadline",
            RequeueReason::QuotaFull => "quota_full",
            RequeueReason::AwaitingSlot => "awaiting_slot",
        }
    }
}

/// How an import ended.
#[derive(Debug, Clone)]
pub(super) enum Ended {
    /// The data arrived; this is its analysis (handed over as built, never re-read).
    Imported(ImportSummary),
    Failed(ErrorInfo),
    /// A claim taken for dead: the import is lost, but the worker that held it may still be
    /// following its command, so the session is not signed out.
    Interrupted(ErrorInfo),
    /// The poller gave up at the import's deadline, unless a worker moved it meanwhile (no
    /// sign-out: a worker may hold the session).
    Abandoned(ErrorInfo),
}

impl App {
    /// Handles one import job until done, handed on, or to be retried. An import that ended
    /// gives its slot of the jobs quota back (if it held one).
    pub async fn run_import(
        &self,
        job: &ImportJob,
        deadline: Timestamp,
    ) -> Result<JobOutcome, FlowError> {
        let outcome = self.run_import_job(job, deadline).await?;
        // An import that ended gave its slot back in `finish`; one whose record vanished
        // (erased meanwhile) gives it back here. Never on another state: a stale copy finds the
        // live chain's (running) and must not give back the slot that chain holds.
        if outcome == JobOutcome::Done(State::Expired) {
            self.give_back_slot(&job.redirection_id).await;
        }
        Ok(outcome)
    }

    /// Gives `id`'s slot of the jobs quota back (admission on; nothing if it holds none). Best
    /// effort: a slot not given back is freed at the import's deadline by a refused take.
    pub(super) async fn give_back_slot(&self, id: &crate::domain::RedirectionId) {
        if self.settings.jobs_quota.is_none() {
            return;
        }
        if let Err(e) = self.store.give_back_import_slot(id).await {
            tracing::warn!(redirection = %id, error = %e, "a slot of the jobs quota could not be given back; it is freed at the import's deadline");
        }
    }

    async fn run_import_job(
        &self,
        job: &ImportJob,
        deadline: Timestamp,
    ) -> Result<JobOutcome, FlowError> {
        let Some(mut r) = self.store.get_redirection(&job.redirection_id).await? else {
            tracing::warn!(redirection = %job.redirection_id, "import job for an unknown redirection");
            return Ok(JobOutcome::Done(State::Expired));
        };
        // A stale copy (an SQS duplicate, a redelivery, a job of a chain that went on without
        // it): the live job does the work.
        if job.continuation < r.job_continuation {
            tracing::info!(redirection = %r.id, continuation = job.continuation, live = r.job_continuation, "a stale copy of the import job; it ends");
            return Ok(JobOutcome::Done(r.state));
        }
        // The machine saves the session with `session_saved`; without one there is nothing to
        // import (finishing only applies to a running import; any other state is left as is).
        let Some(session) = r.session.clone() else {
            return self
                .finish(
                    r,
                    Ended::Failed(failure("NoSession", "no session was saved")),
                )
                .await;
        };
        loop {
            match r.state {
                State::SessionSaved | State::ImportQueued => {
                    // Too late to start: Default Import would be spent on an import that is
                    // ended at once. The user is told to sign in again.
                    if self.now() + MIN_IMPORT_TIME >= r.import_deadline_at() {
                        // Under a jobs quota the wait was for a slot: said apart, so that an
                        // overloaded quota is not taken for slow imports.
                        let why = match self.settings.jobs_quota {
                            Some(_) => failure("ImportNotAdmitted", NOT_ADMITTED),
                            None => failure("ImportTimedOut", TIMED_OUT),
                        };
                        return self.finish(r, Ended::Failed(why)).await;
                    }
                    // The claim commits us to Default Import: only with time for the call and
                    // for storing its command id. Else a fresh invocation takes the job.
                    if self.now() + self.settings.kontomatik_call_budget >= deadline {
                        return self
                            .hand_on(&r, job, std::time::Duration::ZERO, RequeueReason::Deadline)
                            .await;
                    }
                    // Under a jobs quota, Default Import is called only with a slot, held
                    // until the import ends (or its deadline, should the worker die holding
                    // it). Without one the job waits on the queue, nothing billed meanwhile.
                    if let Some(quota) = self.settings.jobs_quota {
                        let admitted = self
                            .store
                            .take_import_slot(&r.id, quota, r.import_deadline_at(), self.now())
                            .await?;
                        if !admitted {
                            if job.continuation == 0 {
                                tracing::info!(redirection = %r.id, "every slot of the jobs quota is held; the import waits for one");
                            }
                            let wait = self.settings.import_slot_wait;
                            let spread = wait.mul_f64(crate::domain::pacing::Pacing::jitter(
                                &r.id,
                                job.continuation,
                            ));
                            return self
                                .hand_on(&r, job, wait + spread, RequeueReason::AwaitingSlot)
                                .await;
                        }
                    }
                    match self.step(&r, |_| Event::ImportClaimed).await? {
                        Transition::Applied(claimed) => {
                            return self.start_import(claimed, session, job, deadline).await
                        }
                        Transition::Refused(current) => r = current,
                        Transition::Gone => return Ok(JobOutcome::Done(State::Expired)),
                    }
                }
                State::ImportRunning => {
                    let command = r.import.as_ref().and_then(|i| i.command_id.clone());
                    return match command {
                        Some(cmd) => self.follow_command(r, cmd, job, deadline).await,
                        None => self.claimed_elsewhere(r).await,
                    };
                }
                other => return Ok(JobOutcome::Done(other)),
            }
        }
    }

    /// The claim is ours: call Default Import, once.
    async fn start_import(
        &self,
        r: Redirection,
        session: SessionData,
        job: &ImportJob,
        deadline: Timestamp,
    ) -> Result<JobOutcome, FlowError> {
        let since = self.settings.import_since(self.now().date_naive());
        match self.kontomatik.default_import(&session, since).await {
            Ok(cmd) => {
                crate::metrics::count("DefaultImport", Some(("Outcome", "started")));
                tracing::info!(redirection = %r.id, command = %cmd, "default import started");
                match self
                    .step(&r, |_| Event::ImportCommandStarted {
                        command_id: cmd.clone(),
                    })
                    .await?
                {
                    Transition::Applied(started) => {
                        self.follow_command(started, cmd, job, deadline).await
                    }
                    Transition::Refused(current) => {
                        // Ended meanwhile (the poller gave up): nobody follows this command,
                        // so the bank session is ended here.
                        if matches!(current.state, State::ImportFailed | State::Imported) {
                            self.sign_out(&current.id, &session).await;
                        }
                        Ok(JobOutcome::Done(current.state))
                    }
                    Transition::Gone => Ok(JobOutcome::Done(State::Expired)),
                }
            }
            // Refused before anything started (too many jobs run at Kontomatik): nothing to
            // repeat. The claim is given back and the job waits; under a burst the imports
            // queue up instead of failing.
            Err(KontomatikError::JobsQuotaExceeded) => {
                crate::metrics::count("DefaultImport", Some(("Outcome", "quota_full")));
                tracing::info!(redirection = %r.id, "Kontomatik's jobs quota is full; the import waits");
                let claimed_at = r.import.as_ref().map_or(r.updated_at, |i| i.claimed_at);
                match self
                    .step(&r, |_| Event::ImportNotStarted { claimed_at })
                    .await?
                {
                    Transition::Applied(queued) => {
                        // Kontomatik counts jobs we do not (another system's, or a quota set
                        // above the real one): the slot goes back while this one waits.
                        self.give_back_slot(&queued.id).await;
                        // Spread out, so that the refused jobs of a burst do not all come back
                        // at the same moment.
                        let backoff = self.settings.jobs_quota_backoff;
                        let spread = backoff.mul_f64(crate::domain::pacing::Pacing::jitter(
                            &queued.id,
                            job.continuation,
                        ));
                        self.hand_on(&queued, job, backoff + spread, RequeueReason::QuotaFull)
                            .await
                    }
                    Transition::Refused(current) => Ok(JobOutcome::Done(current.state)),
                    Transition::Gone => Ok(JobOutcome::Done(State::Expired)),
                }
            }
            // Whatever the failure, the call may have reached Kontomatik: it is never repeated.
            // The user signs in again for a new session (Kontomatik's rule for Default Import).
            Err(e) => {
                tracing::warn!(redirection = %r.id, error = %e, "default import failed; not retried");
                let code = match e {
                    KontomatikError::AlreadyImported => "AlreadyImported",
                    KontomatikError::SessionInvalid(_) => "SessionInvalid",
                    ref e if e.is_transient() => "Interrupted",
                    _ => "ImportRefused",
                };
                crate::metrics::count("DefaultImport", Some(("Outcome", code)));
                self.finish(r, Ended::Failed(failure(code, e.to_string())))
                    .await
            }
        }
    }

    /// Found `import_running` without a command id: another worker took the claim. If it has
    /// had time to store the id and did not, it died after (maybe) calling Default Import: the
    /// import is lost for good, never called again.
    async fn claimed_elsewhere(&self, r: Redirection) -> Result<JobOutcome, FlowError> {
        let claimed_at = r.import.as_ref().map_or(r.updated_at, |i| i.claimed_at);
        if self.now() < claimed_at + self.settings.import_claim_lease {
            return Ok(JobOutcome::RetryLater(
                "another worker holds the import claim".into(),
            ));
        }
        self.finish(
            r,
            Ended::Interrupted(failure(
                "Interrupted",
                "the import was interrupted before Kontomatik's command id was saved",
            )),
        )
        .await
    }

    /// Puts the job back on the queue for a fresh invocation after `delay`, as the next live
    /// job (`job`'s number + 1), marking the import alive. The mark is written first, on the
    /// version this job holds: of two copies of one job (an SQS duplicate, a redelivery) only
    /// the one whose mark lands goes on, and the other ends — two chains never follow one
    /// command. If the send then fails, the import is stale once its mark wears out and the
    /// poller sends a new job.
    async fn hand_on(
        &self,
        r: &Redirection,
        job: &ImportJob,
        delay: std::time::Duration,
        why: RequeueReason,
    ) -> Result<JobOutcome, FlowError> {
        let next = ImportJob {
            redirection_id: r.id.clone(),
            continuation: job.continuation + 1,
        };
        let sent = Event::ImportJobSent {
            continuation: next.continuation,
        };
        if self.lease(r, sent).await?.is_none() {
            tracing::info!(redirection = %r.id, continuation = job.continuation, "another job went on with this import; this copy ends");
            return Ok(JobOutcome::Done(r.state));
        }
        self.queue.enqueue(&next, delay).await?;
        match why {
            // Every few seconds per import: not worth a log line or a metric each.
            RequeueReason::Wait | RequeueReason::AwaitingSlot => {
                tracing::debug!(redirection = %r.id, continuation = next.continuation, reason = why.as_str(), "the import waits")
            }
            RequeueReason::Deadline | RequeueReason::QuotaFull => {
                crate::metrics::count("WorkerHandOn", None);
                tracing::info!(redirection = %r.id, continuation = next.continuation, reason = why.as_str(), "import handed on");
            }
        }
        Ok(JobOutcome::Continued)
    }

    /// Waits `wait` before the next command poll, where [`CommandWait`] says: on the queue
    /// (the hand-on's outcome, this invocation ends) or here (`None`, poll again).
    async fn wait_to_poll(
        &self,
        r: &Redirection,
        job: &ImportJob,
        wait: std::time::Duration,
    ) -> Result<Option<JobOutcome>, FlowError> {
        match self.settings.command_wait {
            CommandWait::DelayedMessage => self
                .hand_on(r, job, wait, RequeueReason::Wait)
                .await
                .map(Some),
            CommandWait::InInvocation => {
                self.pause.pause(wait).await;
                Ok(None)
            }
        }
    }

    /// Polls the command until final, or hands on before the deadline. An import not final by
    /// its deadline (an hour after the sign-in) is ended as failed, and the user told.
    async fn follow_command(
        &self,
        r: Redirection,
        cmd: CommandId,
        job: &ImportJob,
        deadline: Timestamp,
    ) -> Result<JobOutcome, FlowError> {
        let interval = self.settings.import_poll_interval;
        let margin = self.settings.worker_safety_margin;
        loop {
            let now = self.now();
            if now >= r.import_deadline_at() {
                return self
                    .finish(r, Ended::Failed(failure("ImportTimedOut", TIMED_OUT)))
                    .await;
            }
            if now + margin >= deadline {
                return self
                    .hand_on(&r, job, interval, RequeueReason::Deadline)
                    .await;
            }
            // Never past the hand-on point, nor past the import's deadline, however long the
            // result takes to read.
            let limit = (deadline - margin - now)
                .min(r.import_deadline_at() - now)
                .to_std()
                .unwrap_or(std::time::Duration::ZERO);
            let mut summary = SummaryBuilder::default();
            // The period asked for: Default Import's `since`, from the day of the claim.
            let claimed = r.import.as_ref().map_or(now, |i| i.claimed_at);
            let mut credit = CreditAnalysisBuilder::new(
                self.settings.import_since(claimed.date_naive()),
                now.date_naive(),
            );
            let polled = self
                .kontomatik
                .command_status_within(&cmd, &mut Tee(&mut summary, &mut credit), limit)
                .await;
            match polled {
                Ok(status) if !status.state.is_final() => {
                    if let Some(handed_on) = self.wait_to_poll(&r, job, interval).await? {
                        return Ok(handed_on);
                    }
                }
                Ok(status) if status.state == crate::domain::CommandState::Successful => {
                    let imported_at = claimed;
                    let summary = summary.build();
                    // The owners are matched against the name the applicant gave (none known, or
                    // the store not answering: `ownerChecked` false, nothing flagged).
                    // A verified person's sign-ins under their own owner id are theirs; one
                    // under another owner id was started by someone not logged in.
                    let mut unproven = false;
                    let applicant = match self.store.get_user(&r.user_key).await {
                        Ok(Some(person)) => {
                            unproven = person.is_verified() && person.owner != r.owner;
                            person.name
                        }
                        Ok(None) => String::new(),
                        Err(e) => {
                            tracing::warn!(redirection = %r.id, error = %e, "the applicant's name could not be read; the owners are not matched");
                            String::new()
                        }
                    };
                    let credit = credit.build(&applicant);
                    let mut flags = crate::domain::case::CaseFlag::of(&credit);
                    if unproven {
                        flags.push(crate::domain::case::CaseFlag::StartedWithoutLogIn);
                    }
                    let record = ImportRecord {
                        owner: r.owner.clone(),
                        redirection_id: r.id.clone(),
                        imported_at,
                        summary: summary.clone(),
                        credit: Some(credit),
                        source: crate::ports::ImportSource::DefaultImport,
                        expires_at: self.now() + self.settings.import_retention,
                    };
                    self.store.put_import_record(&record).await?;
                    self.note_case(
                        &r.user_key,
                        crate::domain::case::CaseChange::Imported {
                            id: r.id.clone(),
                            flags,
                        },
                    )
                    .await;
                    let outcome = self.finish(r.clone(), Ended::Imported(summary)).await?;
                    // A multiple access is kept once the import is recorded (not for a
                    // redirection an erasure took meanwhile), and only the person's own: a
                    // stranger's sign-in under their address gives no unattended access.
                    if outcome != JobOutcome::Done(State::Expired) && !unproven {
                        self.keep_access(&r).await;
                    }
                    if outcome == JobOutcome::Done(State::Expired) {
                        // The redirection vanished while we imported (its deadline is well
                        // inside its 24 h, so only an erasure removes it): Kontomatik is asked
                        // again for what this import added, the bank session is ended, and
                        // what we just stored goes too — each step whatever the others did.
                        if let Err(e) = self.kontomatik.delete_owner_data(&r.owner).await {
                            tracing::error!(redirection = %r.id, error = %e, "an import finished after an erasure; Kontomatik's copy could not be deleted");
                        }
                        if let Some(session) = &r.session {
                            self.sign_out(&r.id, session).await;
                        }
                        if let Err(e) = self.store.delete_import_record(&record).await {
                            tracing::error!(redirection = %r.id, error = %e, "an import finished after an erasure; its record could not be deleted");
                        }
                    }
                    return Ok(outcome);
                }
                Ok(status) => {
                    let error = status
                        .exception
                        .unwrap_or_else(|| failure(status.state.as_str(), "the import failed"));
                    return self.finish(r, Ended::Failed(error)).await;
                }
                Err(e) if e.is_transient() => {
                    tracing::warn!(redirection = %r.id, error = %e, "command status check failed; retrying");
                    if let Some(handed_on) = self.wait_to_poll(&r, job, interval * 2).await? {
                        return Ok(handed_on);
                    }
                }
                Err(e) => {
                    return self
                        .finish(r, Ended::Failed(failure("CommandFailed", e.to_string())))
                        .await
                }
            }
        }
    }

    /// A multiple-access sign-in's token, sealed and kept with the person for imports without
    /// them (a case's refresh). Best effort: the import is done; without it a refresh reads
    /// the owner's data as Kontomatik keeps it.
    async fn keep_access(&self, r: &Redirection) {
        let Some(token) = r
            .session
            .as_ref()
            .and_then(|s| s.multiple_access_token.as_ref())
        else {
            return;
        };
        let Ok(key) = self.signing_key() else {
            return;
        };
        let now = self.now();
        let grant = match crate::domain::access::seal_token(key, &r.owner, token) {
            Ok(sealed) => crate::domain::access::AccessGrant {
                owner: r.owner.clone(),
                sealed_token: sealed,
                granted_at: now,
                // Never longer than the person's data is kept.
                expires_at: now
                    + crate::domain::access::ACCESS_LIFE.min(self.settings.user_retention),
            },
            Err(e) => {
                tracing::warn!(redirection = %r.id, error = %e, "a multiple access could not be sealed; not kept");
                return;
            }
        };
        if let Err(e) = self.store.put_access_grant(&r.user_key, &grant).await {
            tracing::warn!(redirection = %r.id, error = %e, "a multiple access could not be kept");
        }
    }

    /// Records the import's end, tells the user, then ends the bank session. Only the writer
    /// that wins the transition counts it, sends the email and signs out.
    pub(super) async fn finish(
        &self,
        r: Redirection,
        ended: Ended,
    ) -> Result<JobOutcome, FlowError> {
        let error = match &ended {
            Ended::Imported(_) => None,
            Ended::Failed(e) | Ended::Interrupted(e) | Ended::Abandoned(e) => Some(e.clone()),
        };
        let sign_out = match ended {
            Ended::Interrupted(_) | Ended::Abandoned(_) => None,
            _ => r.session.clone(),
        };
        let abandoned = matches!(ended, Ended::Abandoned(_));
        let done = match self
            .step(&r, |_| match (&error, abandoned) {
                (Some(e), true) => Event::ImportAbandoned { error: e.clone() },
                _ => Event::ImportFinished {
                    error: error.clone(),
                },
            })
            .await?
        {
            Transition::Applied(done) => done,
            Transition::Refused(current) => return Ok(JobOutcome::Done(current.state)),
            Transition::Gone => return Ok(JobOutcome::Done(State::Expired)),
        };
        // The state is final now: nothing below may stop the email or the sign-out. The slot
        // of the jobs quota goes back (the poller's give-up included).
        self.give_back_slot(&done.id).await;
        let (outcome, reason) = match &ended {
            Ended::Imported(_) => ("imported", String::new()),
            Ended::Failed(e) => ("failed", e.code.clone()),
            Ended::Interrupted(e) => ("interrupted", e.code.clone()),
            Ended::Abandoned(e) => ("abandoned", e.code.clone()),
        };
        crate::metrics::count("DefaultImport", Some(("Outcome", outcome)));
        // The saved query "import failures by reason" reads this line.
        tracing::info!(redirection = %done.id, outcome, reason = %reason, "import ended");
        let summary = match &ended {
            Ended::Imported(summary) => {
                self.count(FunnelStep::Imported).await;
                Some(summary)
            }
            _ => None,
        };
        self.send_import_email(&done, summary).await;
        // After the email, so that a slow or failing sign-out never delays or blocks it.
        if let Some(session) = sign_out {
            self.sign_out(&done.id, &session).await;
        }
        Ok(JobOutcome::Done(done.state))
    }

    /// The import's email: the analysis for an imported session (`summary`), else the "sign in
    /// again" email. A failed send is recorded on the redirection, and the poller sends it
    /// again (the user must hear either way).
    pub(super) async fn send_import_email(
        &self,
        done: &Redirection,
        summary: Option<&ImportSummary>,
    ) -> bool {
        let name = match self.store.get_user(&done.user_key).await {
            Ok(user) => user.map(|u| u.name).unwrap_or_default(),
            Err(e) => {
                tracing::warn!(redirection = %done.id, error = %e, "user record unreadable; emailing without a name");
                String::new()
            }
        };
        let company = &self.settings.company_name;
        let tag = match summary {
            Some(_) => notify::TAG_IMPORT_DONE,
            None => notify::TAG_IMPORT_FAILED,
        };
        let sent = match self.erase_url(done) {
            Ok(erase) => {
                let mail = match summary {
                    Some(_) => notify::import_done_email(
                        &done.email,
                        &name,
                        done.language,
                        company,
                        &self.my_page_url(),
                        &erase,
                    ),
                    None => notify::import_failed_email(
                        &done.email,
                        &name,
                        done.language,
                        company,
                        &self.start_url(done.language),
                        &erase,
                    ),
                };
                self.mailer.send(&mail).await.map_err(FlowError::from)
            }
            // A wiring mistake (the function does not read LINK_SIGNING_KEY): the email waits
            // like an unsent one rather than go out without its erase link.
            Err(e) => Err(e),
        };
        match sent {
            Ok(_) => {
                if let Err(e) = self.step(done, |_| Event::EmailSent).await {
                    tracing::warn!(redirection = %done.id, error = %e, "email sent; could not record it (it may be sent once more)");
                }
                true
            }
            Err(e) => {
                let retry_at = self.now() + crate::domain::machine::email_retry();
                tracing::error!(redirection = %done.id, error = %e, tag, "could not email the user; trying again later");
                if let Err(e) = self.step(done, |_| Event::EmailUnsent { retry_at }).await {
                    tracing::error!(redirection = %done.id, error = %e, "could not record the unsent email");
                }
                false
            }
        }
    }

    /// Ends the bank session; best effort (it ends on its own).
    async fn sign_out(&self, id: &crate::domain::RedirectionId, session: &SessionData) {
        match self.kontomatik.sign_out(session).await {
            Ok(SignOut::SignedOut) => {
                tracing::info!(redirection = %id, "signed out of the bank session")
            }
            Ok(SignOut::NotAvailable) => {
                tracing::info!(redirection = %id, "the bank offers no sign-out (CommandNotAvailable)")
            }
            Err(e) => {
                tracing::warn!(redirection = %id, error = %e, "sign-out failed; the session ends on its own")
            }
        }
    }
}
