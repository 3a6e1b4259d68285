//! Transition 1: the user fills the form; we assign the stable owner id, fetch a redirection link,
//! save the redirection **before** the user leaves, and send them to the link (or email it).

use thiserror::Error;

use chrono::{Duration, TimeZone, Utc};

use super::{App, FlowError};
use crate::config::Settings;
use crate::domain::links::{self, Form, FormClaims, FormTokenError};
use crate::domain::machine::{NewRedirection, Redirection};
use crate::domain::{Country, Email, InvalidInput, Language, OwnerExternalId, Timestamp};
use crate::notify;
use crate::ports::{
    Allowance, ConsentChoice, ConsentSource, Created, FetchRedirection, FunnelStep,
    KontomatikError, SignInRecord, StartedBy, UserProfile,
};

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
    /// The page's form token.
    pub form_token: Option<String>,
}

/// Who is asking, as far as the abuse limits need to know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requester {
    /// The client's address (API Gateway's `requestContext.http.sourceIp`); requests without
    /// one share one allowance.
    pub client: Option<String>,
    /// The browser's form binding (its cookie's value); its form tokens are bound to it.
    pub form_binding: String,
    /// The logged-in applicant (their session checked by [`App::applicant_session`]); `None`
    /// for someone not logged in.
    pub applicant: Option<UserProfile>,
}

/// A limit that stopped a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// Too many starts from this client this hour.
    StartsFromClient,
    /// Too many sign-in links emailed to this address today.
    LinkEmails,
}

/// Why a form's token was refused.
#[derive(Debug, Error)]
pub enum FormError {
    /// Missing, forged, cut, or issued for another form.
    #[error("this form did not come from our page")]
    Invalid,
    /// Genuine, but the page was open too long.
    #[error("this form was open too long")]
    Expired,
    /// Genuine, but already sent once.
    #[error("this form was already sent")]
    Replayed,
    #[error(transparent)]
    Internal(#[from] FlowError),
}

impl From<FormTokenError> for FormError {
    fn from(e: FormTokenError) -> Self {
        match e {
            FormTokenError::Invalid => FormError::Invalid,
            FormTokenError::Expired => FormError::Expired,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkDelivery {
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
    pub delivery: LinkDelivery,
    /// The lender's own application id (a start by its systems, through the API).
    pub external_application_id: Option<String>,
}

pub const NAME_MAX: usize = 100;

/// A name: letters (any script), single spaces, apostrophes and hyphens; at least one letter.
/// No digits, punctuation, URLs or markup: the name is written into our emails.
fn name_is_plain(name: &str) -> bool {
    name.chars().any(char::is_alphabetic)
        && name
            .chars()
            .all(|c| c.is_alphabetic() || matches!(c, ' ' | '\'' | '’' | '-'))
        && !name.contains("  ")
}

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
        if !name_is_plain(&name) {
            return Err(InvalidInput::Format {
                field: "name",
                reason: "use letters, spaces, apostrophes and hyphens only",
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
        if !settings.allowed_countries.contains(&country) {
            return Err(InvalidInput::Unsupported {
                field: "country",
                value: country.as_str().to_owned(),
                allowed: settings
                    .allowed_countries
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let delivery = match self.delivery.as_deref().map(str::trim) {
            None | Some("") | Some("redirect") => LinkDelivery::Redirect,
            Some("email") => LinkDelivery::Email,
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
            external_application_id: None,
        })
    }
}

#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error(transparent)]
    Form(FormError),
    /// An abuse limit: try again after `retry_after`. Nothing was sent or asked.
    #[error("too many requests; try again in {} s", retry_after.num_seconds())]
    Limited {
        limit: Limited,
        retry_after: Duration,
    },
    /// This start needs a logged-in person (`APPLICANT_LOGIN=required`, or the session's
    /// record is gone). Nothing was written.
    #[error("please log in first")]
    LoginRequired,
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
    pub delivery: LinkDelivery,
    pub user: UserProfile,
}

/// The end of the hour of `now` (abuse-limit windows are whole UTC hours and days).
fn hour_of(now: Timestamp) -> (i64, Timestamp) {
    let hour = now.timestamp().div_euclid(3600);
    let end = Utc
        .timestamp_opt((hour + 1) * 3600, 0)
        .single()
        .unwrap_or(now);
    (hour, end)
}

pub(super) fn day_end(now: Timestamp) -> Timestamp {
    let next = now.date_naive() + chrono::Days::new(1);
    next.and_hms_opt(0, 0, 0)
        .map(|t| Utc.from_utc_datetime(&t))
        .unwrap_or(now)
}

/// The network a client address counts for: an IPv4 address itself, an IPv6 address its /64
/// (one subscriber's prefix, which they can rotate addresses within).
fn client_network(client: Option<&str>) -> String {
    match client.map(str::parse::<std::net::IpAddr>) {
        Some(Ok(std::net::IpAddr::V6(v6))) if v6.to_ipv4_mapped().is_some() => v6
            .to_ipv4_mapped()
            .map(|v4| v4.to_string())
            .unwrap_or_default(),
        Some(Ok(std::net::IpAddr::V6(v6))) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(Ok(ip)) => ip.to_string(),
        Some(Err(_)) | None => "unknown".into(),
    }
}

/// The mailbox an address reaches, for the mail limits: `ann+1@x` and `ann+2@x` are one, and
/// so are `a.nn@gmail.com` and `ann@googlemail.com` ([`Email::mailbox`]).
pub(super) fn mailbox_key(email: &Email) -> crate::domain::UserKey {
    email.mailbox_key()
}

impl App {
    /// A fresh token for one of our forms, bound to the browser's `binding` (no state is kept).
    pub fn form_token(&self, form: Form, binding: &str) -> Result<String, FlowError> {
        let key = self.signing_key()?;
        let expires = (self.now() + self.settings.form_token_life).timestamp();
        Ok(links::sign_form(key, form, expires, binding))
    }

    /// Checks a form token against the browser's binding (no write).
    pub fn check_form_token(
        &self,
        form: Form,
        token: Option<&str>,
        binding: &str,
    ) -> Result<FormClaims, FormError> {
        let key = self.signing_key()?;
        Ok(links::verify_form(
            key,
            token.unwrap_or(""),
            form,
            binding,
            self.now(),
        )?)
    }

    /// Spends a checked form token: the first use wins, every later one is [`FormError::Replayed`].
    pub async fn spend_form_token(&self, claims: &FormClaims) -> Result<(), FormError> {
        let end = Utc
            .timestamp_opt(claims.expires, 0)
            .single()
            .ok_or(FormError::Invalid)?;
        let first = self
            .store
            .take_allowance(
                &Allowance::FormToken {
                    nonce: claims.nonce.clone(),
                },
                1,
                end,
            )
            .await
            .map_err(FlowError::from)?;
        if first {
            Ok(())
        } else {
            Err(FormError::Replayed)
        }
    }

    /// Checks and spends a form token in one go (forms whose fields need no validation).
    pub async fn use_form_token(
        &self,
        form: Form,
        token: Option<&str>,
        binding: &str,
    ) -> Result<(), FormError> {
        let claims = self.check_form_token(form, token, binding)?;
        self.spend_form_token(&claims).await
    }

    /// Takes one start from the client's hourly allowance (each start costs a Kontomatik call).
    pub(crate) async fn take_start_allowance(&self, from: &Requester) -> Result<(), StartError> {
        match self.take_client_allowance(from).await? {
            None => Ok(()),
            Some(retry_after) => Err(StartError::Limited {
                limit: Limited::StartsFromClient,
                retry_after,
            }),
        }
    }

    /// Takes one unit of the client's hourly allowance (starts and log-in links share it);
    /// over it, how long until the next hour.
    pub(super) async fn take_client_allowance(
        &self,
        from: &Requester,
    ) -> Result<Option<Duration>, FlowError> {
        let key = self.signing_key()?;
        let now = self.now();
        let (hour, end) = hour_of(now);
        let client = links::pseudonym(key, "client", &client_network(from.client.as_deref()));
        let allowed = self
            .store
            .take_allowance(
                &Allowance::StartsFromClient { client, hour },
                self.settings.limits.starts_per_client_per_hour,
                end,
            )
            .await?;
        if allowed {
            Ok(None)
        } else {
            tracing::warn!(
                limit = "starts_per_client_per_hour",
                "a request was refused by the client's limit"
            );
            Ok(Some(end - now))
        }
    }

    /// Validates the form, checks its token and the client's allowance, and starts a sign-in.
    /// Nothing is written for a forged or invalid form; nothing is asked of Kontomatik or sent
    /// over a limit.
    pub async fn start_sign_in(
        &self,
        form: &StartForm,
        from: &Requester,
    ) -> Result<Started, StartError> {
        let claims = self
            .check_form_token(Form::Start, form.form_token.as_deref(), &from.form_binding)
            .map_err(StartError::Form)?;
        if from.applicant.is_none()
            && self.settings.applicant_login == crate::config::ApplicantLogin::Required
        {
            return Err(StartError::LoginRequired);
        }
        let valid = match &from.applicant {
            // A logged-in person starts with their verified address, whatever the form says.
            Some(person) => StartForm {
                email: Some(person.email.as_str().to_owned()),
                ..form.clone()
            }
            .validate(&self.settings)?,
            None => form.validate(&self.settings)?,
        };
        self.spend_form_token(&claims)
            .await
            .map_err(StartError::Form)?;
        self.take_start_allowance(from).await?;
        self.start_valid_by(valid, true, from.applicant.as_ref())
            .await
    }

    /// Starts a sign-in for an already validated request by someone not logged in.
    pub async fn start_valid(
        &self,
        v: ValidStart,
        consent_chosen: bool,
    ) -> Result<Started, StartError> {
        self.start_valid_by(v, consent_chosen, None).await
    }

    /// Starts a sign-in for an already validated request; `consent_chosen` when the request
    /// carries the person's explicit consent choice (the start form does; a resume link not).
    /// By the logged-in `applicant` (`v.email` is then theirs), the sign-in has the person's
    /// stable owner id; by anyone else, an owner id of its own, and a verified person's record
    /// is left as it is.
    pub async fn start_valid_by(
        &self,
        v: ValidStart,
        consent_chosen: bool,
        applicant: Option<&UserProfile>,
    ) -> Result<Started, StartError> {
        let now = self.now();
        let by = match applicant {
            Some(_) => StartedBy::Verified,
            None => StartedBy::Anonymous,
        };
        if v.delivery == LinkDelivery::Email {
            let end = day_end(now);
            let allowed = self
                .store
                .take_allowance(
                    &Allowance::LinkEmails {
                        user: mailbox_key(&v.email),
                        day: now.date_naive(),
                    },
                    self.settings.limits.link_emails_per_recipient_per_day,
                    end,
                )
                .await
                .map_err(FlowError::from)?;
            if !allowed {
                tracing::warn!(
                    limit = "link_emails_per_recipient_per_day",
                    "a link email was refused by its limit"
                );
                return Err(StartError::Limited {
                    limit: Limited::LinkEmails,
                    retry_after: end - now,
                });
            }
        }
        let user = self
            .store
            .record_start(
                &UserProfile {
                    key: v.email.user_key(),
                    owner: OwnerExternalId::generate(),
                    email: v.email.clone(),
                    name: v.name.clone(),
                    language: v.language,
                    consent: ConsentChoice {
                        given: v.follow_up_consent,
                        at: now,
                        source: match by {
                            StartedBy::Verified => ConsentSource::Verified,
                            StartedBy::Anonymous => ConsentSource::StartForm,
                        },
                    },
                    created_at: now,
                    last_follow_up_at: None,
                    last_success_at: None,
                    expires_at: now + self.settings.user_retention,
                    verified_at: None,
                    session_generation: 0,
                },
                consent_chosen,
                by,
            )
            .await
            .map_err(|e| match e {
                crate::ports::StoreError::NotVerified => StartError::LoginRequired,
                e => StartError::Internal(FlowError::from(e)),
            })?;
        // Only a verified person's owner id is stable: whoever typed an address must not add
        // their bank data to that person's owner at Kontomatik.
        let owner = match by {
            StartedBy::Verified => user.owner.clone(),
            StartedBy::Anonymous => OwnerExternalId::generate(),
        };
        let link = self
            .kontomatik
            .fetch_redirection(&FetchRedirection {
                redirect_uri: self.settings.redirect_uri(),
                owner: owner.clone(),
                language: v.language,
                country: v.country,
                access_mode: self.settings.access_mode,
            })
            .await
            .map_err(|e| match e {
                e if e.is_transient() => StartError::Unavailable(e),
                e => StartError::Internal(FlowError::Kontomatik(e)),
            })?;
        let Some(link_url) = self.settings.link_origins.allowed(&link.url) else {
            // Never sent on: a link elsewhere than Kontomatik would be an open redirect.
            tracing::error!(redirection = %link.redirection_id, "Kontomatik's link is not on an allowed https host (KONTOMATIK_LINK_HOSTS); refused");
            return Err(StartError::Internal(FlowError::Kontomatik(
                KontomatikError::Malformed("the link is not on an allowed host".into()),
            )));
        };
        // From here on, the link as checked (parsed and written out again), never the raw one.
        let link = crate::ports::RedirectionLink {
            redirection_id: link.redirection_id,
            url: link_url,
        };
        let mut r = Redirection::new(
            NewRedirection {
                id: link.redirection_id.clone(),
                owner,
                email: v.email.clone(),
                language: v.language,
                country: v.country,
                access_mode: self.settings.access_mode,
                link: link.url.clone(),
                first_poll_at: self.settings.pacing.first_poll_at(now),
            },
            now,
        );
        r.external_application_id = v.external_application_id.clone();
        let record = SignInRecord::of(&r, now + self.settings.user_retention);
        if self
            .store
            .create_sign_in(&r, &record)
            .await
            .map_err(FlowError::from)?
            == Created::AlreadyExists
        {
            tracing::error!(redirection = %r.id, "Kontomatik returned a redirection id we already hold");
            return Err(StartError::Internal(FlowError::Contended(1)));
        }
        self.count(FunnelStep::Started).await;
        self.note_case(
            &r.user_key,
            crate::domain::case::CaseChange::SignInStarted {
                key: r.user_key.clone(),
                id: r.id.clone(),
                window_ends: r.forgotten_at(),
                email: user.email.clone(),
                name: user.name.clone(),
                language: v.language,
                external_application_id: v.external_application_id.clone(),
                kept_until: record.kept_until,
                speaks_for_person: by == StartedBy::Verified || !user.is_verified(),
            },
        )
        .await;
        self.publish(crate::domain::events::LifecycleEvent::of(
            crate::domain::events::DetailType::Started,
            &r,
            now,
        ))
        .await;
        // No owner id or user key in the log: they outlive an erasure in the logs and link a
        // person's sign-ins (the redirection id is random and gone with the window).
        tracing::info!(redirection = %r.id, "sign-in started");
        if v.delivery == LinkDelivery::Email {
            let mail = notify::link_email(
                &v.email,
                &v.name,
                v.language,
                &self.settings.company_name,
                &link.url,
                &self.erase_url(&r)?,
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
