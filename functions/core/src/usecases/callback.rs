//! Transition 3: Kontomatik sends the user back to `…/kontomatik-signin?redirectionId=ID`. The id comes
//! from the URL only (the user may be in another browser). A repeated callback shows the same
//! outcome and starts nothing twice.

use thiserror::Error;

use super::{App, FlowError, Transition};
use crate::domain::machine::{Event, Redirection, State};
use crate::domain::{ErrorInfo, InvalidInput, RedirectionId};
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
/// The longest a callback waits for another request's answer: after its own read earned a
/// 429, or instead of reading while another request's check may still answer (the function's
/// timeout leaves room for it beside the callback's own calls).
pub const CALLBACK_SETTLE_AT_MOST: std::time::Duration = SETTLE_PAUSE.saturating_mul(SETTLE_TRIES);

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
        let (r, first_return) = match self.step(&r, |_| Event::UserReturned).await? {
            Transition::Applied(r) => {
                self.count(FunnelStep::Returned).await;
                (r, true)
            }
            Transition::Refused(r) => (r, false),
            Transition::Gone => return Err(CallbackError::Unknown),
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
        // within the poll interval would earn a 429. So this request asks only on the user's
        // first return or when a check is due, and not while a check another request leased may
        // still be waiting for its answer: that answer is awaited instead.
        let now = self.now();
        let budget = self.settings.kontomatik_call_budget;
        let checks_at_arrival = r.status_checks;
        let may_ask = (first_return || r.next_poll_at.is_some_and(|at| at <= now))
            && !r.check_under_way(now, budget);
        // Another request recorded the user's return moments ago (a double click): its check
        // may not be leased yet, but it is coming.
        let other_is_checking = |r: &Redirection, now| {
            r.check_under_way(now, budget)
                || (!first_return && r.returned_at.is_some_and(|at| now < at + budget))
        };
        let leased = if may_ask {
            let lease = Event::CheckLeased {
                next_poll_at: Some(self.check_lease_end(&r, now)),
            };
            self.lease(&r, lease).await?
        } else {
            None
        };
        let asked = leased.is_some();
        let lease_lost = may_ask && !asked;
        let (mut r, mut failed) = match leased {
            Some(leased) => {
                let status = self.kontomatik.redirection_status(&leased.id).await;
                self.record_status(&leased, status).await?
            }
            None => (r, None),
        };
        // Our read was refused as too soon (someone was just told the outcome and may be saving
        // it), or another request holds the check: give it a moment. Not after our own timeout
        // or outage: the user has waited long enough, and the poller follows up.
        let wait = match &failed {
            Some(e) => matches!(e, KontomatikError::RateLimited { .. }),
            None => !asked && (lease_lost || other_is_checking(&r, now)),
        };
        if wait {
            for _ in 0..SETTLE_TRIES {
                self.pause.pause(SETTLE_PAUSE).await;
                r = self
                    .store
                    .get_redirection(&r.id)
                    .await
                    .map_err(FlowError::from)?
                    .ok_or(CallbackError::Unknown)?;
                if !r.state.needs_polling()
                    || (!asked
                        && r.status_checks > checks_at_arrival
                        && !r.check_under_way(self.now(), budget))
                {
                    // Decided, or the other request's check was answered "still open".
                    break;
                }
            }
        }
        if !r.state.needs_polling() {
            failed = None;
        } else if !asked
            && r.status_checks == checks_at_arrival
            && other_is_checking(&r, self.now())
        {
            failed = Some(checked_elsewhere());
        }
        // Else, without our own check, the record holds the latest answer (a reload soon after
        // a check, a return in another browser): it is shown.
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
