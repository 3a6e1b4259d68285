//! Staff's way in (marketing to the funnel, credit to the applications): a member on the
//! allow-list (`STAFF_EMAILS`, with their roles)
//! asks for a one-time link by email; the link (signed, 15 minutes, spent once) gives a
//! signed session for the cookie (12 hours). No passwords. Signing out ends the member's sessions
//! on every device: the store keeps when (for the 12 hours a session lives), and a session
//! issued at or before that moment is void.

use chrono::Duration;
use thiserror::Error;

use super::{App, FlowError};
use crate::config::{StaffMember, StaffRole};
use crate::domain::links::{self, LinkClaims, LinkError, Purpose};
use crate::domain::{Country, Email, Language};
use crate::notify;
use crate::ports::Allowance;

/// How long an emailed sign-in link works.
pub const LOGIN_LINK_LIFE: Duration = Duration::minutes(15);
/// How long a staff session lasts.
pub const SESSION_LIFE: Duration = Duration::hours(12);
/// The same, for the cookie's `Max-Age`.
pub const STAFF_COOKIE_LIFE: i64 = 12 * 3600;

/// How long `POST /stats/login` takes whoever asks (longer than a mail send at its usual
/// latency), so that its time does not tell who is on `STAFF_EMAILS`.
pub const STAFF_LOGIN_ANSWER_TIME: std::time::Duration = std::time::Duration::from_secs(3);

#[derive(Debug, Error)]
pub enum StaffLoginError {
    /// Too many requests from this client this hour (nothing was looked up or sent).
    #[error("too many requests; try again in {} s", retry_after.num_seconds())]
    Limited { retry_after: Duration },
    #[error(transparent)]
    Internal(#[from] FlowError),
}

#[derive(Debug, Error)]
pub enum StaffError {
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The link was used already.
    #[error("this sign-in link was used already")]
    Used,
    #[error(transparent)]
    Internal(#[from] FlowError),
}

impl App {
    /// The allow-listed member with this key, if any.
    fn staff_by_key(&self, key: &crate::domain::UserKey) -> Option<&StaffMember> {
        self.settings
            .staff
            .iter()
            .find(|s| s.email.user_key() == *key)
    }

    /// Whether `email` may see the funnel.
    pub fn is_staff(&self, email: &Email) -> bool {
        self.staff_by_key(&email.user_key()).is_some()
    }

    fn staff_token(
        &self,
        purpose: Purpose,
        email: &Email,
        life: Duration,
    ) -> Result<String, FlowError> {
        let key = self.signing_key()?;
        Ok(links::sign(
            key,
            &LinkClaims {
                purpose,
                user: email.user_key(),
                language: Language::FIRST,
                country: Country::FIRST,
                expires: (self.now() + life).timestamp(),
                record: None,
            },
        ))
    }

    /// Emails a one-time sign-in link to `email` if it is on the allow-list, within the
    /// client's allowance and the mailbox's daily log-in links. Says nothing either way, and
    /// takes [`STAFF_LOGIN_ANSWER_TIME`] whoever asks: the answer, its status and its time are
    /// the same for an address on the list and one that is not (a mail failure is logged, not
    /// shown). `Err` only when the client is over its allowance (decided before the address
    /// is looked at) or the store fails.
    pub async fn request_staff_login(
        &self,
        email: Option<&Email>,
        from: &super::Requester,
    ) -> Result<(), StaffLoginError> {
        let started = self.now();
        if let Some(retry_after) = self.take_client_allowance(from).await? {
            return Err(StaffLoginError::Limited { retry_after });
        }
        match email.filter(|e| self.is_staff(e)) {
            Some(staff) => self.send_staff_login(staff).await?,
            None => tracing::warn!("a sign-in link was asked for an address not on STAFF_EMAILS"),
        }
        let spent = (self.now() - started).to_std().unwrap_or_default();
        if let Some(rest) = STAFF_LOGIN_ANSWER_TIME.checked_sub(spent) {
            self.pause.pause(rest).await;
        }
        Ok(())
    }

    async fn send_staff_login(&self, staff: &Email) -> Result<(), FlowError> {
        let now = self.now();
        let allowed = self
            .store
            .take_allowance(
                &Allowance::LoginEmails {
                    user: staff.mailbox_key(),
                    day: now.date_naive(),
                },
                self.settings.limits.login_emails_per_recipient_per_day,
                super::start::day_end(now),
            )
            .await?;
        if !allowed {
            tracing::warn!(
                limit = "login_emails_per_recipient_per_day",
                "a staff sign-in link was refused by its limit"
            );
            return Ok(());
        }
        let token = self.staff_token(Purpose::StaffLogin, staff, LOGIN_LINK_LIFE)?;
        let link = format!("{}/stats/login?t={token}", self.settings.public_base_url);
        let mail = notify::staff_login_email(staff, &self.settings.company_name, &link);
        if self.mailer.send(&mail).await.is_err() {
            // Not the provider's message (it may name the address); the page stays the same.
            tracing::warn!("a staff sign-in link could not be mailed");
        }
        Ok(())
    }

    /// Spends a one-time sign-in link and gives the session token for the cookie.
    pub async fn staff_session_from_link(&self, token: &str) -> Result<String, StaffError> {
        let claims = self.check_link(token, Purpose::StaffLogin)?;
        let staff = self
            .staff_by_key(&claims.user)
            .map(|m| m.email.clone())
            .ok_or(LinkError::Invalid)?;
        // A link mailed before the member signed out on every device ends with those sessions.
        let issued = claims.expires - LOGIN_LINK_LIFE.num_seconds();
        if !self.issued_after_sign_out(&claims.user, issued).await? {
            return Err(StaffError::Link(LinkError::Invalid));
        }
        let key = self.signing_key()?;
        let end = chrono::DateTime::from_timestamp(claims.expires, 0).unwrap_or(self.now());
        let first = self
            .store
            .take_allowance(
                &Allowance::FormToken {
                    nonce: links::pseudonym(key, "staff-login", token),
                },
                1,
                end,
            )
            .await
            .map_err(FlowError::from)?;
        if !first {
            return Err(StaffError::Used);
        }
        tracing::info!("a staff member signed in");
        Ok(self.staff_token(Purpose::StaffSession, &staff, SESSION_LIFE)?)
    }

    /// The staff member of a session cookie's value, if it is a live session of someone still
    /// on the allow-list (with the roles the list gives them now), issued after they last
    /// signed out. A store failure counts as no session.
    pub async fn staff_member(&self, session: &str) -> Option<StaffMember> {
        match self.staff_of_session(session).await {
            Ok(staff) => staff,
            Err(e) => {
                tracing::error!(error = %e, "a staff session could not be checked");
                None
            }
        }
    }

    /// Whether a session cookie's value is a live session of a member with `role`.
    pub async fn staff_session_may(&self, session: &str, role: StaffRole) -> bool {
        self.staff_member(session)
            .await
            .is_some_and(|m| m.may(role))
    }

    /// The staff member of a live session: signed, on the allow-list, issued after their last
    /// sign-out.
    async fn staff_of_session(&self, session: &str) -> Result<Option<StaffMember>, FlowError> {
        let Ok(claims) = self.check_link(session, Purpose::StaffSession) else {
            return Ok(None);
        };
        let Some(member) = self.staff_by_key(&claims.user).cloned() else {
            return Ok(None);
        };
        let issued = claims.expires - SESSION_LIFE.num_seconds();
        Ok(self
            .issued_after_sign_out(&claims.user, issued)
            .await?
            .then_some(member))
    }

    /// Whether something of `staff`'s issued at `issued` (epoch seconds) is after their last
    /// sign-out. The same second counts as before: a sign-out leaves nothing of its moment.
    async fn issued_after_sign_out(
        &self,
        staff: &crate::domain::UserKey,
        issued: i64,
    ) -> Result<bool, FlowError> {
        Ok(match self.store.staff_sessions_ended_at(staff).await? {
            Some(ended) => issued > ended.timestamp(),
            None => true,
        })
    }

    /// Signs the session's staff member out on every device. `Ok(false)`: the session was not
    /// live (nothing to end); `Err`: nothing could be written, the sessions may live on.
    pub async fn end_staff_sessions(&self, session: &str) -> Result<bool, FlowError> {
        let Some(staff) = self.staff_of_session(session).await? else {
            return Ok(false);
        };
        let now = self.now();
        self.store
            .end_staff_sessions(&staff.email.user_key(), now, now + SESSION_LIFE)
            .await?;
        tracing::info!("a staff member signed out on every device");
        Ok(true)
    }
}
