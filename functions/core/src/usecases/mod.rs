//! The use cases: start a sign-in, handle the callback, poll due redirections, run an import.
//! They run unchanged in the Lambdas, the local run and the tests; only the adapters behind the
//! ports differ.

mod callback;
mod cases;
mod erase;
mod followup;
mod funnel;
mod identity;
mod lender_api;
mod link_actions;
mod poller;
mod staff;
mod start;
mod worker;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use thiserror::Error;

pub use callback::{CallbackError, CallbackOutcome, CallbackView, CALLBACK_SETTLE_AT_MOST};
pub use cases::{decision_message, CaseError, CaseFile, Decided, CASES_PER_PAGE};
pub use erase::{EraseError, Erased};
pub use funnel::FunnelReport;
pub use identity::{LoginError, SignInStage, SignInView, APPLICANT_SESSION_LIFE};
pub use lender_api::{
    ApiError, ApiStart, ApiStarted, ApplicationChange, ApplicationState, ChangesPage,
    CHANGES_PER_PAGE,
};
pub use link_actions::LinkUseError;
pub use poller::{all_shards, PollReport};
pub use staff::{StaffError, StaffLoginError, STAFF_COOKIE_LIFE, STAFF_LOGIN_ANSWER_TIME};
pub use start::{
    FormError, Limited, LinkDelivery, Requester, StartError, StartForm, Started, ValidStart,
};
pub use worker::JobOutcome;

use crate::clock::{Clock, Pause};
use crate::config::Settings;
use crate::domain::events::{DetailType, LifecycleEvent};
use crate::domain::machine::{apply, Event, Redirection};
use crate::domain::{KontomatikStatus, RedirectionStatus, SessionData, Timestamp};
use crate::ports::EventBus;
use crate::ports::{
    ConditionalWrite, FunnelStep, ImportJob, ImportQueue, Kontomatik, KontomatikError, MailError,
    Mailer, QueueError, SignInOutcome, Store, StoreError,
};

/// A failure of the infrastructure under a use case (not a user mistake).
#[derive(Debug, Error)]
pub enum FlowError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Kontomatik(#[from] KontomatikError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error("the redirection kept changing under us; giving up after {0} tries")]
    Contended(u32),
    /// A use case needs a variable this function does not read (a wiring mistake, see
    /// `signin_runtime::functions`).
    #[error("this function does not read {0}, which this step needs")]
    Unconfigured(&'static str),
}

/// The ports and settings every use case runs on.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn ImportQueue>,
    pub mailer: Arc<dyn Mailer>,
    pub kontomatik: Arc<dyn Kontomatik>,
    pub clock: Arc<dyn Clock>,
    pub pause: Arc<dyn Pause>,
    /// Where the decisive moments are published for other systems ([`crate::domain::events`]).
    pub events: Arc<dyn EventBus>,
    pub settings: Settings,
}

/// The result of one conditional transition.
#[derive(Debug)]
pub(crate) enum Transition {
    /// Our write won; this is the stored redirection now.
    Applied(Redirection),
    /// The event does not apply to the redirection as it is now (someone else acted first).
    Refused(Redirection),
    /// The redirection is unknown or past its 24 h window.
    Gone,
}

pub(crate) const MAX_TRIES: u32 = 5;

/// What a conditional write that failed left stored ([`App::after_conflict`]).
pub(super) enum AfterConflict {
    /// Our write is what is stored.
    Ours,
    /// Another writer's version.
    Theirs(Box<Redirection>),
    Gone,
}

impl App {
    /// An owner's latest data as Kontomatik keeps it, analysed like an import, without a new
    /// import (for the operator). `None` when Kontomatik holds nothing for the owner.
    pub async fn owner_data_summary(
        &self,
        owner: &crate::domain::OwnerExternalId,
    ) -> Result<Option<crate::domain::import::ImportSummary>, FlowError> {
        let mut summary = crate::domain::import::SummaryBuilder::default();
        let found = self.kontomatik.owner_data(owner, &mut summary).await?;
        Ok(found.then(|| summary.build()))
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The key that signs links, form tokens and pseudonyms; an error in a function that does
    /// not read it (never an unsigned link).
    pub(crate) fn signing_key(&self) -> Result<&crate::domain::Secret, FlowError> {
        self.settings
            .link_signing_key
            .as_ref()
            .ok_or(FlowError::Unconfigured("LINK_SIGNING_KEY"))
    }

    /// Applies the event made by `event` to the stored redirection with a conditional write; on
    /// a lost race re-reads and decides again, so exactly one writer's transition lands.
    pub(crate) async fn step(
        &self,
        r: &Redirection,
        event: impl Fn(&Redirection) -> Event,
    ) -> Result<Transition, FlowError> {
        let mut current = r.clone();
        for _ in 0..MAX_TRIES {
            let now = self.now();
            let Ok(mut next) = apply(&current, event(&current), now) else {
                return Ok(Transition::Refused(current));
            };
            next.write_id = Some(uuid::Uuid::new_v4().simple().to_string());
            match self
                .store
                .save_redirection(&next, current.expected())
                .await?
            {
                ConditionalWrite::Applied => return Ok(self.applied(&current, next, now).await),
                ConditionalWrite::Conflict => match self.after_conflict(&next).await? {
                    AfterConflict::Ours => return Ok(self.applied(&current, next, now).await),
                    AfterConflict::Theirs(fresh) => current = *fresh,
                    AfterConflict::Gone => return Ok(Transition::Gone),
                },
            }
        }
        Err(FlowError::Contended(MAX_TRIES))
    }

    /// What is stored after a conditional write of `next` failed. Our own write may have
    /// landed with only its answer lost (DynamoDB applied it, the SDK's retry then failed the
    /// condition): its write id says so; the same transition computed by another writer at the
    /// same instant is not ours. (If another writer wrote after ours before this re-read, ours
    /// is not recognised and the caller decides again on the newer version.)
    pub(super) async fn after_conflict(
        &self,
        next: &Redirection,
    ) -> Result<AfterConflict, FlowError> {
        Ok(match self.store.get_redirection(&next.id).await? {
            Some(fresh) if fresh.write_id == next.write_id => AfterConflict::Ours,
            Some(fresh) => AfterConflict::Theirs(Box::new(fresh)),
            None => AfterConflict::Gone,
        })
    }

    /// Our write of `next` over `before` landed: a state change into a decisive moment is
    /// published (by this writer only: every other writer's condition failed).
    async fn applied(&self, before: &Redirection, next: Redirection, now: Timestamp) -> Transition {
        if next.state != before.state {
            if let Some(kind) = DetailType::on_entering(next.state) {
                self.publish(LifecycleEvent::of(kind, &next, now)).await;
            }
            if let Some(outcome) = SignInOutcome::on_entering(next.state) {
                self.remember_outcome(&next, outcome).await;
            }
        }
        Transition::Applied(next)
    }

    /// Keeps a sign-in's decisive moment with the person (their page shows it after the
    /// redirection's 24 h window). Best effort: the redirection has decided the moment, and
    /// while it is held the page reads it from there.
    async fn remember_outcome(&self, r: &Redirection, outcome: SignInOutcome) {
        if let Err(e) = self
            .store
            .record_sign_in_outcome(&r.user_key, &r.id, outcome)
            .await
        {
            tracing::warn!(error = %e, redirection = %r.id, "could not keep a sign-in's outcome");
        }
        // The application: an import is filed by the worker with its analysis (before this).
        if matches!(
            outcome,
            SignInOutcome::Failed | SignInOutcome::Expired | SignInOutcome::ImportFailed
        ) {
            self.note_case(
                &r.user_key,
                crate::domain::case::CaseChange::SignInEnded { id: r.id.clone() },
            )
            .await;
        }
    }

    /// Publishes one event for other systems. Best effort, like the funnel counts: the table
    /// has decided the moment, and a bus that fails never fails the user's request.
    pub(crate) async fn publish(&self, event: LifecycleEvent) {
        if let Err(e) = self.events.publish(std::slice::from_ref(&event)).await {
            crate::metrics::count(
                "EventsNotPublished",
                Some(("DetailType", event.kind.detail_type())),
            );
            // The redirection id says which; an erasure's event names only its type (its id
            // holds the owner id, which the log must not keep after the erasure).
            tracing::warn!(
                error = %e,
                detail_type = event.kind.detail_type(),
                redirection = event.detail.redirection_id.as_deref().unwrap_or("-"),
                "could not publish an event"
            );
        }
    }

    /// Counts one funnel step for today, in the table (the funnel page reads it there; no
    /// metric series each). Statistics never fail a user's request.
    pub(crate) async fn count(&self, step: FunnelStep) {
        let day = self.now().date_naive();
        if let Err(e) = self.store.add_to_funnel(day, step, 1).await {
            tracing::warn!(error = %e, step = step.as_str(), "could not count a funnel step");
        }
    }

    /// Sign-in succeeded: save the session, then queue the import (only the winner does).
    pub(crate) async fn on_success(
        &self,
        r: &Redirection,
        session: SessionData,
    ) -> Result<Redirection, FlowError> {
        match self
            .step(r, |_| Event::SignInSucceeded {
                session: session.clone(),
            })
            .await?
        {
            Transition::Applied(saved) => {
                self.count(FunnelStep::Success).await;
                // Recovered: the first success after a follow-up.
                if let Some(user) = self.store.get_user(&saved.user_key).await? {
                    let recovered = user.last_follow_up_at.is_some_and(|f| {
                        f <= self.now() && user.last_success_at.is_none_or(|s| s < f)
                    });
                    if recovered {
                        self.count(FunnelStep::Recovered).await;
                    }
                }
                self.store
                    .record_success(&saved.user_key, self.now())
                    .await?;
                self.queue_import(saved).await
            }
            Transition::Refused(current) => Ok(current),
            Transition::Gone => Ok(r.clone()),
        }
    }

    /// Puts the import job on the queue, then marks the redirection `import_queued`. If this
    /// stops half-way, the redirection stays `session_saved` in the poll index and the poller
    /// enqueues it again; the worker's conditional claim makes a duplicate job harmless.
    pub(crate) async fn queue_import(&self, saved: Redirection) -> Result<Redirection, FlowError> {
        let job = ImportJob {
            redirection_id: saved.id.clone(),
            continuation: 0,
        };
        self.queue.enqueue(&job, StdDuration::ZERO).await?;
        match self.step(&saved, |_| Event::ImportQueued).await? {
            Transition::Applied(r) | Transition::Refused(r) => Ok(r),
            Transition::Gone => Ok(saved),
        }
    }

    /// Records what Kontomatik said about a redirection (shared by the callback and the
    /// poller). Returns the redirection as stored afterwards, and the error if the check failed.
    pub(crate) async fn record_status(
        &self,
        r: &Redirection,
        status: Result<RedirectionStatus, KontomatikError>,
    ) -> Result<(Redirection, Option<KontomatikError>), FlowError> {
        let pacing = self.settings.pacing;
        let now = self.now();
        let done = |step: Transition| match step {
            Transition::Applied(x) | Transition::Refused(x) => x,
            Transition::Gone => r.clone(),
        };
        // A 404 means the 24 h window closed only near its end; earlier it is a fault, deferred
        // like any other, or a live sign-in would be ended.
        let status = match status {
            Err(KontomatikError::NotFound) if !r.not_found_is_final(now) => {
                Err(KontomatikError::Transient(
                    "404 for a redirection that Kontomatik still keeps".into(),
                ))
            }
            other => other,
        };
        match status {
            Ok(RedirectionStatus::Success(session)) => {
                Ok((self.on_success(r, session).await?, None))
            }
            Ok(RedirectionStatus::Error(error)) => {
                let step = self
                    .step(r, |c| Event::SignInFailed {
                        error: error.clone(),
                        follow_up_at: Some(self.follow_up_at(c)),
                    })
                    .await?;
                if matches!(step, Transition::Applied(_)) {
                    self.count(FunnelStep::Error).await;
                }
                Ok((done(step), None))
            }
            Ok(RedirectionStatus::Expired) | Err(KontomatikError::NotFound) => {
                let gone = status.is_err();
                let step = self
                    .step(r, |c| {
                        let follow_up_at = Some(self.follow_up_at(c));
                        if gone {
                            Event::WindowClosed { follow_up_at }
                        } else {
                            Event::LinkExpired { follow_up_at }
                        }
                    })
                    .await?;
                if matches!(step, Transition::Applied(_)) {
                    self.count(FunnelStep::Expired).await;
                }
                Ok((done(step), None))
            }
            Ok(open @ (RedirectionStatus::Initialized | RedirectionStatus::InProgress)) => {
                let kind: KontomatikStatus = open.kind();
                let step = self
                    .step(r, |c| Event::StillOpen {
                        status: kind,
                        next_poll_at: pacing.next_poll_at(
                            &c.id,
                            c.created_at,
                            c.status_checks + 1,
                            now,
                        ),
                    })
                    .await?;
                Ok((done(step), None))
            }
            Err(e) => {
                let retry_after = match &e {
                    KontomatikError::RateLimited { retry_after } => {
                        retry_after.and_then(|d| chrono::Duration::from_std(d).ok())
                    }
                    _ => None,
                };
                // Deferred at Kontomatik's pace; if another request saved the session
                // meanwhile (the write is decided again on the re-read), its import recovery
                // time stays.
                let step = self
                    .step(r, |c| Event::CheckDeferred {
                        next_poll_at: if c.state.needs_polling() {
                            pacing.after_deferral(
                                &c.id,
                                c.created_at,
                                c.status_checks,
                                now,
                                retry_after,
                            )
                        } else {
                            c.next_poll_at
                        },
                    })
                    .await?;
                Ok((done(step), Some(e)))
            }
        }
    }

    /// When a drop-off's follow-up is decided: after the configured delay, but while the item
    /// still exists (before its 24 h window ends).
    pub(crate) fn follow_up_at(&self, r: &Redirection) -> Timestamp {
        let now = self.now();
        let latest = r.forgotten_at() - chrono::Duration::minutes(2);
        (now + self.settings.follow_up_delay).min(latest).max(now)
    }

    /// The person's own page (through the log-in when their browser has no session).
    pub fn my_page_url(&self) -> String {
        format!("{}/me", self.settings.public_base_url)
    }

    /// The start page, in the user's language.
    pub fn start_url(&self, lang: crate::domain::Language) -> String {
        self.start_url_in(lang.as_str())
    }

    /// The start page in the language of this code (`en`, `pl`…); an unsupported one falls
    /// back to the default.
    pub fn start_url_in(&self, lang: &str) -> String {
        let lang = crate::domain::Language::parse(lang).unwrap_or(self.settings.default_language);
        format!("{}/?lang={}", self.settings.public_base_url, lang)
    }
}
