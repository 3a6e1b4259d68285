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

/// How long a callback whose status check failed waits for a concurrent request to save the
/// outcome (at most `SETTLE_TRIES` × `SETTLE_PAUSE`).
const SETTLE_TRIES: u32 = 5;
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
        // within the poll interval would earn a 429. A check another request leased and may
        // still be waiting on is not asked again: its answer is awaited below.
        let now = self.now();
        let lease = Event::CheckLeased {
            next_poll_at: Some(now + self.settings.pacing.min_interval),
        };
        let leased = if r.check_under_way(now, self.settings.kontomatik_call_budget) {
            None
        } else {
            self.lease(&r, lease).await?
        };
        let (mut r, mut failed) = match leased {
            Some(leased) => {
                let status = self.kontomatik.redirection_status(&leased.id).await;
                self.record_status(&leased, status).await?
            }
            None => (
                r,
                Some(KontomatikError::Transient(
                    "checked by another request".into(),
                )),
            ),
        };
        if failed.is_some() {
            // A concurrent request for the same id (a double click, the poller) holds the
            // check, or was just told the outcome (Kontomatik answers a re-read with 429) and
            // is saving it. Give it a moment before telling the user to come back later.
            for _ in 0..SETTLE_TRIES {
                if !r.state.needs_polling() {
                    failed = None;
                    break;
                }
                self.pause.pause(SETTLE_PAUSE).await;
                match self
                    .store
                    .get_redirection(&r.id)
                    .await
                    .map_err(FlowError::from)?
                {
                    Some(fresh) => r = fresh,
                    None => return Err(CallbackError::Unknown),
                }
            }
            if !r.state.needs_polling() {
                failed = None;
            }
        }
        if let Some(e) = &failed {
            tracing::warn!(redirection = %r.id, error = %e, "status check at callback failed; the poller will follow up");
        }
        Ok(CallbackOutcome {
            view: view_of(&r, failed.is_some()),
            redirection: r,
        })
    }
}
