//! Step 3: Kontomatik sends the user back to `…/kontomatik-signin?redirectionId=ID`. The id comes
//! from the URL only (the user may be in another browser). A repeated callback shows the same
//! outcome and starts nothing twice.

use thiserror::Error;

use super::{App, FlowError, Step};
use crate::domain::{ErrorInfo, InvalidInput, RedirectionId};
use crate::machine::{Event, Redirection, State};
use crate::ports::{FunnelStep, KontomatikError};

/// What the user is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackView {
    /// Signed in; the import is queued or running. "We will email you."
    Importing,
    Imported,
    /// The sign-in worked but the import failed: sign in again.
    ImportFailed,
    /// Kontomatik reported `error`: a way to try again.
    SignInFailed(Option<ErrorInfo>),
    /// The link expired: start a fresh sign-in.
    Expired,
    /// Kontomatik has no final status yet (the user came back early).
    StillOpen,
    /// Kontomatik could not be asked right now; nothing is lost, the poller will follow up.
    TryLater,
}

#[derive(Debug, Clone)]
pub struct CallbackOutcome {
    pub view: CallbackView,
    pub redirection: Redirection,
}

#[derive(Debug, Error)]
pub enum CallbackError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("this sign-in is unknown or more than a day old")]
    Unknown,
    #[error(transparent)]
    Internal(#[from] FlowError),
}

/// How long a callback whose status check failed, or that found another request's check under
/// way, waits for the outcome to be saved (at most `SETTLE_TRIES` × `SETTLE_PAUSE`).
const SETTLE_TRIES: u32 = 10;
const SETTLE_PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

fn view_of(r: &Redirection, check_failed: bool) -> CallbackView {
    match r.state {
        State::Created | State::Pending if check_failed => CallbackView::TryLater,
        State::Created | State::Pending => CallbackView::StillOpen,
        State::SessionSaved | State::ImportQueued | State::ImportRunning => CallbackView::Importing,
        State::Imported => CallbackView::Imported,
        State::ImportFailed => CallbackView::ImportFailed,
        State::Failed => CallbackView::SignInFailed(r.error.clone()),
        State::FollowUpSent if r.error.is_some() => CallbackView::SignInFailed(r.error.clone()),
        State::Expired | State::FollowUpSent => CallbackView::Expired,
    }
}

/// Why a callback did not ask Kontomatik itself.
fn checked_elsewhere() -> KontomatikError {
    KontomatikError::Transient("checked by another request".into())
}

impl App {
    /// Handles the callback for the `redirectionId` taken from the URL (`None` when absent).
    pub async fn callback(&self, raw_id: Option<&str>) -> Result<CallbackOutcome, CallbackError> {
        let id = RedirectionId::parse(raw_id.unwrap_or(""))?;
        let Some(r) = self
            .store
            .get_redirection(&id)
            .await
            .map_err(FlowError::from)?
        else {
            return Err(CallbackError::Unknown);
        };
        let r = match self.step(&r, |_| Event::UserReturned).await? {
            Step::Applied(r) => {
                self.count(FunnelStep::Returned).await;
                r
            }
            Step::Refused(r) => r,
            Step::Gone => return Err(CallbackError::Unknown),
        };
        if !r.state.needs_polling() {
            // Decided already (by an earlier callback or the poller): show it, ask nobody.
            return Ok(CallbackOutcome {
                view: view_of(&r, false),
                redirection: r,
            });
        }
        // Leased like a poller's check (a conditional write): of the user's return and a poller
        // run at the same instant — or two returns — only one asks Kontomatik; a second read
        // within the poll interval would earn a 429. While a check another request leased may
        // still be waiting for its answer, this one waits for that answer instead. If that check
        // began before the user came back, its answer may predate the user's finish: once it is
        // recorded as still open, this request asks itself (once).
        let arrived = self.now();
        let checks_at_arrival = r.status_checks;
        let budget = self.settings.kontomatik_call_budget;
        let mut r = r;
        let mut may_ask = true;
        let mut asked = false;
        let mut failed: Option<KontomatikError> = None;
        let mut waits = 0;
        loop {
            if !r.state.needs_polling() {
                failed = None;
                break;
            }
            let now = self.now();
            if r.check_under_way(now, budget) {
                may_ask &= r.check_leased_at.is_some_and(|at| at <= arrived);
                failed = Some(checked_elsewhere());
            } else if may_ask {
                may_ask = false;
                asked = true;
                let lease = Event::CheckLeased {
                    next_poll_at: Some(self.check_lease_end(&r, now)),
                };
                match self.lease(&r, lease).await? {
                    Some(leased) => {
                        let status = self.kontomatik.redirection_status(&leased.id).await;
                        (r, failed) = self.record_status(&leased, status).await?;
                        if failed.is_none() {
                            break;
                        }
                    }
                    None => failed = Some(checked_elsewhere()),
                }
            } else if !asked && r.status_checks > checks_at_arrival {
                // The other request's check ended with an answer given after the user came
                // back: it is the latest there is.
                failed = None;
                break;
            }
            if waits == SETTLE_TRIES {
                break;
            }
            // Our check failed (a 429 means someone was just told the outcome and may be saving
            // it), or another request holds the check: give it a moment.
            waits += 1;
            self.pause.pause(SETTLE_PAUSE).await;
            r = self
                .store
                .get_redirection(&r.id)
                .await
                .map_err(FlowError::from)?
                .ok_or(CallbackError::Unknown)?;
        }
        match &failed {
            Some(e) if asked => {
                tracing::warn!(redirection = %r.id, error = %e, "status check at callback failed; the poller will follow up")
            }
            Some(_) => {
                tracing::info!(redirection = %r.id, "another request's status check had not answered yet; the poller will follow up")
            }
            None => {}
        }
        Ok(CallbackOutcome {
            view: view_of(&r, failed.is_some()),
            redirection: r,
        })
    }
}
