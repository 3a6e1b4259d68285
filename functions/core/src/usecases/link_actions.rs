//! What a signed link in an email does: a follow-up's "try again" (resume) and unsubscribe.
//! The erase link is `erase.rs`; the log-in link is `identity.rs`.

use thiserror::Error;

use super::{App, FlowError, Requester, Started, ValidStart};
use crate::domain::links::{self, LinkClaims, LinkError, Purpose};
use crate::domain::Country;
use crate::ports::{ConsentChoice, ConsentSource};
use crate::usecases::LinkDelivery;

/// Why a signed link could not be used.
#[derive(Debug, Error)]
pub enum LinkUseError {
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The link is genuine but its user no longer exists.
    #[error("this link is not valid any more")]
    UnknownUser,
    #[error(transparent)]
    Start(#[from] super::StartError),
    #[error(transparent)]
    Internal(#[from] FlowError),
}

impl App {
    /// What a resume link is for (checked, not used yet): for the confirmation page.
    pub fn check_link(&self, token: &str, purpose: Purpose) -> Result<LinkClaims, LinkError> {
        let Some(key) = self.settings.link_signing_key.as_ref() else {
            tracing::error!("a signed link reached a function that does not read LINK_SIGNING_KEY");
            return Err(LinkError::Invalid);
        };
        links::verify(key, token, purpose, self.now())
    }

    /// Starts a fresh sign-in for the user of a follow-up link (within the client's start
    /// allowance; the person's consent choice stays as it is).
    pub async fn resume(&self, token: &str, from: &Requester) -> Result<Started, LinkUseError> {
        let claims = self.check_link(token, Purpose::Resume)?;
        let user = self
            .store
            .get_user(&claims.user)
            .await
            .map_err(FlowError::from)?
            .ok_or(LinkUseError::UnknownUser)?;
        // The person's own start only when they are logged in as the link's person.
        let applicant = from.applicant.as_ref().filter(|a| a.key == claims.user);
        if applicant.is_none()
            && self.settings.applicant_login == crate::config::ApplicantLogin::Required
        {
            return Err(LinkUseError::Start(super::StartError::LoginRequired));
        }
        self.take_start_allowance(from).await?;
        // A link made before the country left the countries of operation starts in the
        // default country.
        let country: Country = if self.settings.allowed_countries.contains(&claims.country) {
            claims.country
        } else {
            self.settings.default_country
        };
        Ok(self
            .start_valid_by(
                ValidStart {
                    follow_up_consent: user.follow_up_consent(),
                    email: user.email,
                    name: user.name,
                    language: claims.language,
                    country,
                    delivery: LinkDelivery::Redirect,
                    external_application_id: None,
                },
                false,
                applicant,
            )
            .await?)
    }

    /// Records the unsubscribe of the user of an unsubscribe link: their latest choice, until
    /// they tick the box on the start form again.
    pub async fn unsubscribe(&self, token: &str) -> Result<LinkClaims, LinkUseError> {
        let claims = self.check_link(token, Purpose::Unsubscribe)?;
        let choice = ConsentChoice {
            given: false,
            at: self.now(),
            source: ConsentSource::Unsubscribe,
        };
        if !self
            .store
            .record_consent(&claims.user, choice)
            .await
            .map_err(FlowError::from)?
        {
            return Err(LinkUseError::UnknownUser);
        }
        tracing::info!("unsubscribed from follow-ups");
        Ok(claims)
    }
}
