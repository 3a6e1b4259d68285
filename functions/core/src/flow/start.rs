//! Step 1: the user fills the form; we assign the stable owner id, fetch a redirection link,
//! save the redirection **before** the user leaves, and send them to the link (or email it).

use thiserror::Error;

use super::{App, FlowError};
use crate::config::Settings;
use crate::domain::{Country, Email, InvalidInput, Language, OwnerExternalId};
use crate::machine::{NewRedirection, Redirection};
use crate::notify;
use crate::ports::{Created, FetchRedirection, FunnelStep, KontomatikError, UserProfile};

/// The start form as submitted (strings straight from the request).
#[derive(Debug, Clone, Default)]
pub struct StartForm {
    pub email: Option<String>,
    pub name: Option<String>,
    pub follow_up_consent: Option<String>,
    pub language: Option<String>,
    pub country: Option<String>,
    /// `redirect` (default) or `email`.
    pub delivery: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Send the browser to the link now.
    Redirect,
    /// Email the link instead.
    Email,
}

/// A start form that passed validation.
#[derive(Debug, Clone)]
pub struct ValidStart {
    pub email: Email,
    pub name: String,
    pub follow_up_consent: bool,
    pub language: Language,
    pub country: Country,
    pub delivery: Delivery,
}

pub const NAME_MAX: usize = 100;

impl StartForm {
    /// Checks every field; the first problem is returned with the field's name.
    pub fn validate(&self, settings: &Settings) -> Result<ValidStart, InvalidInput> {
        let email = Email::parse(self.email.as_deref().unwrap_or(""))?;
        let name = self.name.as_deref().unwrap_or("").trim().to_owned();
        if name.is_empty() {
            return Err(InvalidInput::Missing { field: "name" });
        }
        if name.chars().count() > NAME_MAX {
            return Err(InvalidInput::TooLong {
                field: "name",
                max: NAME_MAX,
            });
        }
        if name.chars().any(char::is_control) {
            return Err(InvalidInput::Format {
                field: "name",
                reason: "it contains control characters",
            });
        }
        let consent = match self.follow_up_consent.as_deref() {
            None | Some("") | Some("no") | Some("false") | Some("off") => false,
            Some("yes") | Some("true") | Some("on") => true,
            Some(_) => {
                return Err(InvalidInput::Format {
                    field: "followUpConsent",
                    reason: "expected yes or no",
                })
            }
        };
        let language = match self.language.as_deref().map(str::trim) {
            None | Some("") => settings.default_language,
            Some(l) => Language::parse(l)?,
        };
        let country = match self.country.as_deref().map(str::trim) {
            None | Some("") => settings.default_country,
            Some(c) => Country::parse(c)?,
        };
        let delivery = match self.delivery.as_deref().map(str::trim) {
            None | Some("") | Some("redirect") => Delivery::Redirect,
            Some("email") => Delivery::Email,
            Some(other) => {
                return Err(InvalidInput::Unsupported {
                    field: "delivery",
                    value: crate::domain::shorten(other),
                    allowed: "redirect, email".into(),
                })
            }
        };
        Ok(ValidStart {
            email,
            name,
            follow_up_consent: consent,
            language,
            country,
            delivery,
        })
    }
}

#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// Kontomatik could not be reached or asked us to slow down: try again shortly.
    #[error("the bank connection service is unavailable: {0}")]
    Unavailable(KontomatikError),
    #[error(transparent)]
    Internal(#[from] FlowError),
}

/// A started sign-in.
#[derive(Debug, Clone)]
pub struct Started {
    pub redirection: Redirection,
    pub link: String,
    pub delivery: Delivery,
    pub user: UserProfile,
}

impl App {
    /// Validates the form and starts a sign-in. Nothing is written for an invalid form.
    pub async fn start_sign_in(&self, form: &StartForm) -> Result<Started, StartError> {
        let valid = form.validate(&self.settings)?;
        self.start_valid(valid).await
    }

    /// Starts a sign-in for an already validated request.
    pub async fn start_valid(&self, v: ValidStart) -> Result<Started, StartError> {
        let now = self.now();
        let user = self
            .store
            .get_or_create_user(&UserProfile {
                key: v.email.user_key(),
                owner: OwnerExternalId::generate(),
                email: v.email.clone(),
                name: v.name.clone(),
                language: v.language,
                follow_up_consent: v.follow_up_consent,
                opted_out: false,
                created_at: now,
                last_follow_up_at: None,
                last_success_at: None,
            })
            .await
            .map_err(FlowError::from)?;
        let link = self
            .kontomatik
            .fetch_redirection(&FetchRedirection {
                redirect_uri: self.settings.redirect_uri(),
                owner: user.owner.clone(),
                language: v.language,
                country: v.country,
                access_mode: self.settings.access_mode,
            })
            .await
            .map_err(|e| match e {
                e if e.is_transient() => StartError::Unavailable(e),
                e => StartError::Internal(FlowError::Kontomatik(e)),
            })?;
        let r = Redirection::new(
            NewRedirection {
                id: link.redirection_id.clone(),
                owner: user.owner.clone(),
                email: v.email.clone(),
                language: v.language,
                country: v.country,
                access_mode: self.settings.access_mode,
                link: link.url.clone(),
                first_poll_at: self.settings.pacing.first_poll_at(now),
            },
            now,
        );
        if self
            .store
            .create_redirection(&r)
            .await
            .map_err(FlowError::from)?
            == Created::AlreadyExists
        {
            tracing::error!(redirection = %r.id, "Kontomatik returned a redirection id we already hold");
            return Err(StartError::Internal(FlowError::Contended(1)));
        }
        self.count(FunnelStep::Started).await;
        tracing::info!(redirection = %r.id, owner = %r.owner, "sign-in started");
        if v.delivery == Delivery::Email {
            let mail = notify::link_email(
                &v.email,
                &v.name,
                v.language,
                &self.settings.company_name,
                &link.url,
            );
            self.mailer.send(&mail).await.map_err(FlowError::from)?;
        }
        Ok(Started {
            redirection: r,
            link: link.url,
            delivery: v.delivery,
            user,
        })
    }
}
