//! Marketing's way into the funnel page: a staff member on the allow-list (`STAFF_EMAILS`)
//! asks for a one-time link by email; the link (signed, 15 minutes, spent once) gives a
//! signed session for the cookie (12 hours). No passwords, no server-side sessions.

use chrono::Duration;
use thiserror::Error;

use super::{App, FlowError};
use crate::domain::{Country, Email, Language};
use crate::links::{self, LinkClaims, LinkError, Purpose};
use crate::notify;
use crate::ports::Allowance;

/// How long an emailed sign-in link works.
pub const LOGIN_LINK_LIFE: Duration = Duration::minutes(15);
/// How long a staff session lasts.
pub const SESSION_LIFE: Duration = Duration::hours(12);
/// The same, for the cookie's `Max-Age`.
pub const STAFF_COOKIE_LIFE: i64 = 12 * 3600;

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
    /// The allow-listed address with this key, if any.
    fn staff_by_key(&self, key: &crate::domain::UserKey) -> Option<&Email> {
        self.settings
            .staff_emails
            .iter()
            .find(|s| s.user_key() == *key)
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
            },
        ))
    }

    /// Emails a one-time sign-in link to `email` if it is on the allow-list; says nothing
    /// either way (the page is the same, so the list cannot be probed).
    pub async fn request_staff_login(&self, email: &Email) -> Result<(), FlowError> {
        if !self.is_staff(email) {
            tracing::warn!("a sign-in link was asked for an address not on STAFF_EMAILS");
            return Ok(());
        }
        let token = self.staff_token(Purpose::StaffLogin, email, LOGIN_LINK_LIFE)?;
        let link = format!("{}/stats/login?t={token}", self.settings.public_base_url);
        let mail = notify::staff_login_email(email, &self.settings.company_name, &link);
        self.mailer.send(&mail).await?;
        Ok(())
    }

    /// Spends a one-time sign-in link and gives the session token for the cookie.
    pub async fn staff_session_from_link(&self, token: &str) -> Result<String, StaffError> {
        let claims = self.check_link(token, Purpose::StaffLogin)?;
        let staff = self
            .staff_by_key(&claims.user)
            .cloned()
            .ok_or(LinkError::Invalid)?;
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
        tracing::info!("a staff member signed in to the funnel page");
        Ok(self.staff_token(Purpose::StaffSession, &staff, SESSION_LIFE)?)
    }

    /// Whether a session cookie's value is a live session of someone still on the allow-list.
    pub fn staff_session_valid(&self, session: &str) -> bool {
        self.check_link(session, Purpose::StaffSession)
            .is_ok_and(|c| self.staff_by_key(&c.user).is_some())
    }
}
