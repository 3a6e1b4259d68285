//! Step 5: run the import of one saved session. Default Import is called **at most once per
//! session, ever**: the claim (`import_running`) is written before the call, and a job that finds
//! the claim taken without a command id never calls again. The command is polled every few
//! seconds until final; when the worker's time runs short it hands on through a delayed message.

use super::{App, FlowError, Step};
use crate::domain::{CommandId, ErrorInfo, SessionData, Timestamp};
use crate::import::SummaryBuilder;
use crate::machine::{Event, Redirection, State};
use crate::notify;
use crate::ports::{FunnelStep, ImportJob, ImportRecord, KontomatikError};

/// What became of one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// Nothing more to do for this job (finished here, earlier, or elsewhere).
    Done(State),
    /// Handed on to a delayed continuation message before the deadline.
    Continued,
    /// Leave the message on the queue: it becomes visible again and is retried.
    RetryLater(String),
}

fn failure(code: &str, message: impl Into<String>) -> ErrorInfo {
    ErrorInfo {
        code: code.into(),
        message: message.into(),
    }
}

impl App {
    /// Handles one import job until done, handed on, or to be retried.
    pub async fn run_import(
        &self,
        job: &ImportJob,
        deadline: Timestamp,
    ) -> Result<JobOutcome, FlowError> {
        let Some(mut r) = self.store.get_redirection(&job.redirection_id).await? else {
            tracing::warn!(redirection = %job.redirection_id, "import job for an unknown redirection");
            return Ok(JobOutcome::Done(State::Expired));
        };
        // The machine saves the session with `session_saved`; without one there is nothing to
        // import (finishing only applies to a running import; any other state is left as is).
        let Some(session) = r.session.clone() else {
            return self
                .finish(r, Some(failure("NoSession", "no session was saved")))
                .await;
        };
        loop {
            match r.state {
                State::SessionSaved | State::ImportQueued => {
                    match self.step(&r, |_| Event::ImportClaimed).await? {
                        Step::Applied(claimed) => {
                            return self.start_import(claimed, session, job, deadline).await
                        }
                        Step::Refused(current) => r = current,
                        Step::Gone => return Ok(JobOutcome::Done(State::Expired)),
                    }
                }
                State::ImportRunning => {
                    let command = r.import.as_ref().and_then(|i| i.command_id.clone());
                    return match command {
                        Some(cmd) => self.follow_command(r, session, cmd, job, deadline).await,
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
        match self
            .kontomatik
            .default_import(&session, Some(&r.owner), None)
            .await
        {
            Ok(cmd) => {
                tracing::info!(redirection = %r.id, command = %cmd, "default import started");
                match self
                    .step(&r, |_| Event::ImportCommandStarted {
                        command_id: cmd.clone(),
                    })
                    .await?
                {
                    Step::Applied(started) => {
                        self.follow_command(started, session, cmd, job, deadline)
                            .await
                    }
                    Step::Refused(current) => Ok(JobOutcome::Done(current.state)),
                    Step::Gone => Ok(JobOutcome::Done(State::Expired)),
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
                self.finish(r, Some(failure(code, e.to_string()))).await
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
            Some(failure(
                "Interrupted",
                "the import was interrupted before Kontomatik's command id was saved",
            )),
        )
        .await
    }

    /// Polls the command until final, or hands on before the deadline.
    async fn follow_command(
        &self,
        r: Redirection,
        session: SessionData,
        cmd: CommandId,
        job: &ImportJob,
        deadline: Timestamp,
    ) -> Result<JobOutcome, FlowError> {
        let interval = self.settings.import_poll_interval;
        loop {
            if self.now() + self.settings.worker_safety_margin >= deadline {
                let next = ImportJob {
                    redirection_id: r.id.clone(),
                    continuation: job.continuation + 1,
                };
                self.queue.enqueue(&next, interval).await?;
                tracing::info!(redirection = %r.id, continuation = next.continuation, "import handed on");
                return Ok(JobOutcome::Continued);
            }
            let mut summary = SummaryBuilder::default();
            match self
                .kontomatik
                .command_status(&cmd, &session, &mut summary)
                .await
            {
                Ok(status) if !status.state.is_final() => self.pause.pause(interval).await,
                Ok(status) if status.state == crate::domain::CommandState::Successful => {
                    let imported_at = r.import.as_ref().map_or(self.now(), |i| i.claimed_at);
                    self.store
                        .put_import_record(&ImportRecord {
                            owner: r.owner.clone(),
                            redirection_id: r.id.clone(),
                            imported_at,
                            summary: summary.build(),
                        })
                        .await?;
                    return self.finish(r, None).await;
                }
                Ok(status) => {
                    let error = status
                        .exception
                        .unwrap_or_else(|| failure(status.state.as_str(), "the import failed"));
                    return self.finish(r, Some(error)).await;
                }
                Err(e) if e.is_transient() => {
                    tracing::warn!(redirection = %r.id, error = %e, "command status check failed; retrying");
                    self.pause.pause(interval * 2).await;
                }
                Err(e) => {
                    return self
                        .finish(r, Some(failure("CommandFailed", e.to_string())))
                        .await
                }
            }
        }
    }

    /// Records the import's end and tells the user. Only the writer that wins the transition
    /// counts it and sends the email.
    async fn finish(
        &self,
        r: Redirection,
        error: Option<ErrorInfo>,
    ) -> Result<JobOutcome, FlowError> {
        let ok = error.is_none();
        let done = match self
            .step(&r, |_| Event::ImportFinished {
                error: error.clone(),
            })
            .await?
        {
            Step::Applied(done) => done,
            Step::Refused(current) => return Ok(JobOutcome::Done(current.state)),
            Step::Gone => return Ok(JobOutcome::Done(State::Expired)),
        };
        let user = self.store.get_user(&done.user_key).await?;
        let name = user.as_ref().map(|u| u.name.clone()).unwrap_or_default();
        let company = &self.settings.company_name;
        let mail = if ok {
            self.count(FunnelStep::Imported).await;
            let summary = self
                .store
                .import_records(&done.owner)
                .await?
                .into_iter()
                .rev()
                .find(|rec| rec.redirection_id == done.id)
                .map(|rec| rec.summary)
                .unwrap_or_default();
            notify::import_done_email(
                &done.email,
                &name,
                done.language,
                company,
                &summary,
                &self.status_url(&done),
            )
        } else {
            notify::import_failed_email(
                &done.email,
                &name,
                done.language,
                company,
                &self.start_url(done.language),
            )
        };
        if let Err(e) = self.mailer.send(&mail).await {
            // The state is final and correct; only the message is lost. Loud, not fatal.
            tracing::error!(redirection = %done.id, error = %e, tag = %mail.tag, "could not email the user");
        }
        Ok(JobOutcome::Done(done.state))
    }
}
