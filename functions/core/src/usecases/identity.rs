//! Applicants who prove who they are: a passwordless log-in by a one-time link mailed to the
//! address (proving the mailbox is what makes an address *verified*), a signed session cookie
//! that the person can end everywhere, and their own page of sign-ins ("my applications").
//!
//! The log-in link carries a random request id and, when the person came back from the bank in
//! a browser without their session, the redirection id (Kontomatik's guide: "remember the
//! received redirectionId after the user provides credentials"). The address itself stays in
//! the store until the link expires; it is never in a URL.

use chrono::Duration;
use thiserror::Error;

use super::start::{mailbox_key, Limited, Requester};
use super::{App, FlowError};
use crate::domain::links::{self, LinkError, LoginClaims, Purpose, SessionClaims};
use crate::domain::machine::State;
use crate::domain::{Email, InvalidInput, Language, OwnerExternalId, RedirectionId, Timestamp};
use crate::notify;
use crate::ports::{
    Allowance, ConsentChoice, ConsentSource, LoginRequest, SignInOutcome, UserProfile,
};

/// How long an emailed log-in link works.
pub const LOGIN_LINK_LIFE: Duration = Duration::minutes(15);
/// How long an applicant's session lasts.
pub const APPLICANT_SESSION_LIFE: Duration = Duration::days(30);
/// At most this many sign-ins are shown on the person's page (newest first).
pub const SIGN_INS_SHOWN: usize = 20;

#[derive(Debug, Error)]
pub enum LoginError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// An abuse limit: nothing was sent.
    #[error("too many log-in links; try again in {} s", retry_after.num_seconds())]
    Limited {
        limit: Limited,
        retry_after: Duration,
    },
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The link was followed already (or its request expired).
    #[error("this log-in link was used already")]
    Used,
    #[error(transparent)]
    Internal(#[from] FlowError),
}

/// Where one of the person's sign-ins stands, as their page says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInStage {
    /// The link was sent; the bank sign-in is not finished (yet).
    WaitingForBank,
    /// The bank sign-in succeeded; the data is being fetched.
    Importing,
    /// The data was received.
    Received,
    /// The bank sign-in failed.
    Failed,
    /// The bank sign-in worked but fetching the data did not.
    ImportFailed,
    /// The link expired before the sign-in finished.
    Expired,
}

impl SignInStage {
    fn of_state(state: State, recorded: Option<SignInOutcome>) -> Self {
        match state {
            State::Created | State::Pending => SignInStage::WaitingForBank,
            State::SessionSaved | State::ImportQueued | State::ImportRunning => {
                SignInStage::Importing
            }
            State::Imported => SignInStage::Received,
            State::Failed => SignInStage::Failed,
            State::ImportFailed => SignInStage::ImportFailed,
            State::Expired => SignInStage::Expired,
            // After a follow-up: why it was sent.
            State::FollowUpSent => match recorded {
                Some(SignInOutcome::Failed) => SignInStage::Failed,
                _ => SignInStage::Expired,
            },
        }
    }

    fn of_outcome(outcome: Option<SignInOutcome>, imported: bool) -> Self {
        match outcome {
            _ if imported => SignInStage::Received,
            Some(SignInOutcome::Imported) => SignInStage::Received,
            Some(SignInOutcome::Succeeded) => SignInStage::Importing,
            Some(SignInOutcome::Failed) => SignInStage::Failed,
            Some(SignInOutcome::ImportFailed) => SignInStage::ImportFailed,
            // The window ended with nothing decisive recorded: the link was never finished.
            Some(SignInOutcome::Expired) | None => SignInStage::Expired,
        }
    }
}

/// One sign-in on the person's page (no bank data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInView {
    pub id: RedirectionId,
    pub started_at: Timestamp,
    pub stage: SignInStage,
}

impl App {
    /// Mails a one-time log-in link to `email` (after the client's and the mailbox's limits),
    /// remembering `redirection` inside the link. The same answer whether the address is known
    /// or not.
    pub async fn request_applicant_login(
        &self,
        email: &str,
        language: Language,
        redirection: Option<RedirectionId>,
        from: &Requester,
    ) -> Result<(), LoginError> {
        let email = Email::parse(email)?;
        if let Some(retry_after) = self.take_client_allowance(from).await? {
            return Err(LoginError::Limited {
                limit: Limited::StartsFromClient,
                retry_after,
            });
        }
        let now = self.now();
        let day_end = super::start::day_end(now);
        let allowed = self
            .store
            .take_allowance(
                &Allowance::LoginEmails {
                    user: mailbox_key(&email),
                    day: now.date_naive(),
                },
                self.settings.limits.login_emails_per_recipient_per_day,
                day_end,
            )
            .await
            .map_err(FlowError::from)?;
        if !allowed {
            tracing::warn!(
                limit = "login_emails_per_recipient_per_day",
                "a log-in link was refused by its limit"
            );
            return Err(LoginError::Limited {
                limit: Limited::LinkEmails,
                retry_after: day_end - now,
            });
        }
        let key = self.signing_key()?;
        let expires = now + LOGIN_LINK_LIFE;
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        self.store
            .put_login_request(&LoginRequest {
                nonce: nonce.clone(),
                email: email.clone(),
                language,
                expires_at: expires,
            })
            .await
            .map_err(FlowError::from)?;
        let token = links::sign_login(
            key,
            &LoginClaims {
                nonce,
                redirection,
                expires: expires.timestamp(),
            },
        );
        let link = format!("{}/login/link?t={token}", self.settings.public_base_url);
        let mail = notify::login_email(&email, language, &self.settings.company_name, &link);
        self.mailer.send(&mail).await.map_err(FlowError::from)?;
        tracing::info!("an applicant log-in link was sent");
        Ok(())
    }

    /// Checks a log-in link (no write): its signature and expiry.
    pub fn check_login_link(&self, token: &str) -> Result<LoginClaims, LinkError> {
        let Some(key) = self.settings.link_signing_key.as_ref() else {
            return Err(LinkError::Invalid);
        };
        links::verify_login(key, token, self.now())
    }

    /// The address a log-in link logs in as (no write), for its page to say: a link forwarded
    /// by someone else says whose it is before anyone presses its button.
    pub async fn login_link_address(&self, token: &str) -> Result<Email, LoginError> {
        let claims = self.check_login_link(token)?;
        self.store
            .login_request(&claims.nonce)
            .await
            .map_err(FlowError::from)?
            .map(|r| r.email)
            .ok_or(LoginError::Used)
    }

    /// Spends a log-in link: the mailbox is proven, the person's record is verified (created
    /// if there is none), and a session token for the cookie is returned with the person and
    /// the redirection the link remembered.
    pub async fn applicant_session_from_link(
        &self,
        token: &str,
    ) -> Result<(String, UserProfile, Option<RedirectionId>), LoginError> {
        let claims = self.check_login_link(token)?;
        let request = self
            .store
            .take_login_request(&claims.nonce)
            .await
            .map_err(FlowError::from)?
            .ok_or(LoginError::Used)?;
        let now = self.now();
        let user = self
            .store
            .verify_person(&UserProfile {
                key: request.email.user_key(),
                owner: OwnerExternalId::generate(),
                email: request.email.clone(),
                name: String::new(),
                language: request.language,
                consent: ConsentChoice {
                    given: false,
                    at: now,
                    source: ConsentSource::Verified,
                },
                created_at: now,
                last_follow_up_at: None,
                last_success_at: None,
                expires_at: now + self.settings.user_retention,
                verified_at: Some(now),
                session_generation: 0,
            })
            .await
            .map_err(FlowError::from)?;
        let session = links::sign_session(
            self.signing_key()?,
            &SessionClaims {
                user: user.key.clone(),
                verified: user.verified_at.map_or(0, |t| t.timestamp_millis()),
                generation: user.session_generation,
                expires: (now + APPLICANT_SESSION_LIFE).timestamp(),
            },
        );
        tracing::info!("an applicant logged in");
        Ok((session, user, claims.redirection))
    }

    /// The person of a session cookie, if it is genuine, unexpired, of their current session
    /// generation, and their record is verified and live.
    pub async fn applicant_session(&self, cookie: &str) -> Result<Option<UserProfile>, FlowError> {
        let Some(key) = self.settings.link_signing_key.as_ref() else {
            return Ok(None);
        };
        let Ok(claims) = links::verify_session(key, cookie, self.now()) else {
            return Ok(None);
        };
        Ok(self.store.get_user(&claims.user).await?.filter(|u| {
            u.verified_at.map(|t| t.timestamp_millis()) == Some(claims.verified)
                && u.session_generation == claims.generation
        }))
    }

    /// Ends every session of the person (log out everywhere).
    pub async fn end_applicant_sessions(&self, person: &UserProfile) -> Result<(), FlowError> {
        self.store.end_sessions(&person.key).await?;
        tracing::info!("an applicant logged out everywhere");
        Ok(())
    }

    /// The logged-in person's own choice about follow-up email (it may turn an unsubscribe
    /// back to yes: the mailbox is proven).
    pub async fn record_own_consent(
        &self,
        person: &UserProfile,
        given: bool,
    ) -> Result<(), FlowError> {
        let choice = ConsentChoice {
            given,
            at: self.now(),
            source: ConsentSource::Verified,
        };
        self.store.record_consent(&person.key, choice).await?;
        Ok(())
    }

    /// The person's sign-ins, newest first, with where each stands: from the redirection while
    /// it is held, then from what the person's history kept (for their retention).
    pub async fn my_sign_ins(&self, person: &UserProfile) -> Result<Vec<SignInView>, FlowError> {
        let mut views = vec![];
        for record in self
            .store
            .sign_ins(&person.key)
            .await?
            .into_iter()
            .take(SIGN_INS_SHOWN)
        {
            let stage = match self.store.get_redirection(&record.id).await? {
                Some(r) if r.user_key == person.key => {
                    SignInStage::of_state(r.state, record.outcome)
                }
                _ => {
                    let imported = matches!(record.outcome, Some(SignInOutcome::Succeeded))
                        && self
                            .store
                            .import_records(&record.owner)
                            .await?
                            .iter()
                            .any(|i| i.redirection_id == record.id);
                    SignInStage::of_outcome(record.outcome, imported)
                }
            };
            views.push(SignInView {
                id: record.id,
                started_at: record.created_at,
                stage,
            });
        }
        Ok(views)
    }

    /// The signed "delete my data" link for the logged-in person's page.
    pub fn own_erase_url(&self, person: &UserProfile) -> Result<String, FlowError> {
        self.link_for(
            Purpose::Erase,
            &person.key,
            person.language,
            self.settings.default_country,
            &person.owner,
        )
    }

    /// Whether the redirection `id` is one of the person's sign-ins.
    pub async fn owns_sign_in(
        &self,
        person: &UserProfile,
        id: &RedirectionId,
    ) -> Result<bool, FlowError> {
        Ok(self
            .store
            .sign_ins(&person.key)
            .await?
            .iter()
            .any(|r| &r.id == id))
    }
}
