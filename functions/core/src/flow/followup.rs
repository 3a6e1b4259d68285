//! Users who dropped off (their link expired, or the sign-in failed at the bank) get **one**
//! follow-up email with a fresh way back in — decided by a conditional write on the user, so
//! repeated or parallel poller runs cannot send twice — and never without consent, after an
//! opt-out, or after they succeeded anyway. Plus the signed links' use cases and the funnel.

use chrono::NaiveDate;
use serde::Serialize;
use thiserror::Error;

use super::{App, FlowError, Requester, Started, Step, ValidStart};
use crate::domain::Country;
use crate::flow::Delivery;
use crate::links::{self, LinkClaims, LinkError, Purpose};
use crate::machine::{Event, Redirection, State};
use crate::notify::{self, DropOff};
use crate::ports::{ConsentChoice, ConsentSource, FollowUpClaim, FunnelDay, FunnelStep};

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

/// Funnel statistics for a range of days.
#[derive(Debug, Clone, Serialize)]
pub struct FunnelReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub days: Vec<FunnelDay>,
    /// Each step summed over the range.
    pub totals: std::collections::BTreeMap<FunnelStep, u64>,
}

impl App {
    fn link(&self, purpose: Purpose, r: &Redirection) -> Result<String, FlowError> {
        self.link_for(purpose, &r.user_key, r.language, r.country)
    }

    /// A signed link of `purpose` for the person with `user`.
    pub(crate) fn link_for(
        &self,
        purpose: Purpose,
        user: &crate::domain::UserKey,
        language: crate::domain::Language,
        country: Country,
    ) -> Result<String, FlowError> {
        let key = self.signing_key()?;
        let life = match purpose {
            Purpose::Resume => self.settings.resume_link_life,
            Purpose::Unsubscribe => self.settings.unsubscribe_link_life,
            // As long as anything of theirs may be kept.
            Purpose::Erase => self.settings.user_retention,
            Purpose::StaffLogin => super::staff::LOGIN_LINK_LIFE,
            Purpose::StaffSession => super::staff::SESSION_LIFE,
        };
        let token = links::sign(
            key,
            &LinkClaims {
                purpose,
                user: user.clone(),
                language,
                country,
                expires: (self.now() + life).timestamp(),
            },
        );
        let path = match purpose {
            Purpose::Resume => "/resume",
            Purpose::Unsubscribe => "/unsubscribe",
            Purpose::Erase => "/erase",
            Purpose::StaffLogin | Purpose::StaffSession => "/stats/login",
        };
        Ok(format!("{}{path}?t={token}", self.settings.public_base_url))
    }

    /// The signed "delete my data" link every email carries.
    pub(crate) fn erase_url(&self, r: &Redirection) -> Result<String, FlowError> {
        self.link(Purpose::Erase, r)
    }

    /// Decides the follow-up of one drop-off; `true` if an email was sent.
    pub(crate) async fn decide_follow_up(&self, r: Redirection) -> Result<bool, FlowError> {
        let why = match r.state {
            State::Expired => DropOff::Expired,
            State::Failed => DropOff::Failed,
            _ => return Ok(false),
        };
        let now = self.now();
        // Before the claim: a function that cannot sign links must not spend the user's one
        // follow-up.
        let resume = self.link(Purpose::Resume, &r)?;
        let unsubscribe = self.link(Purpose::Unsubscribe, &r)?;
        let erase = self.erase_url(&r)?;
        let claimed = self
            .store
            .claim_follow_up(
                &r.user_key,
                FollowUpClaim {
                    now,
                    not_within: self.settings.follow_up_window,
                    no_success_since: r.created_at,
                },
            )
            .await?;
        // One follow-up per inbox too: `ann+1@` and `a.nn@gmail` are other user records but one
        // mailbox. Taken after the person's own claim (consent, opt-out, success), so that only
        // a follow-up that would go out counts; a refused one stays claimed and unsent. The
        // inbox's windows are fixed ones of the follow-up window's length (each person's own
        // claim above is the rolling one).
        let length = self.settings.follow_up_window.num_seconds().max(1);
        let window = now.timestamp().div_euclid(length);
        let window_end = chrono::DateTime::from_timestamp((window + 1) * length, 0).unwrap_or(now);
        let claimed = claimed
            && self
                .store
                .take_allowance(
                    &crate::ports::Allowance::FollowUpsToMailbox {
                        mailbox: r.email.mailbox_key(),
                        window,
                    },
                    1,
                    window_end,
                )
                .await?;
        let mut sent = false;
        if claimed {
            let name = self
                .store
                .get_user(&r.user_key)
                .await?
                .map(|u| u.name)
                .unwrap_or_default();
            let mail = notify::follow_up_email(
                &r.email,
                &name,
                r.language,
                &self.settings.company_name,
                why,
                notify::FollowUpLinks {
                    resume: &resume,
                    unsubscribe: &unsubscribe,
                    erase: &erase,
                },
            );
            match self.mailer.send(&mail).await {
                Ok(_) => sent = true,
                // The claim is spent: the user gets no second try within the window, which is
                // better than a duplicate marketing email.
                Err(e) => tracing::error!(redirection = %r.id, error = %e, "follow-up not sent"),
            }
        }
        let event = if sent {
            Event::FollowUpSent
        } else {
            Event::FollowUpSkipped
        };
        if matches!(self.step(&r, |_| event.clone()).await?, Step::Applied(_)) && sent {
            self.count(FunnelStep::FollowUps).await;
        }
        Ok(sent)
    }

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
        let country: Country = claims.country;
        Ok(self
            .start_valid_by(
                ValidStart {
                    follow_up_consent: user.follow_up_consent(),
                    email: user.email,
                    name: user.name,
                    language: claims.language,
                    country,
                    delivery: Delivery::Redirect,
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

    /// The funnel from `from` to `to` inclusive.
    pub async fn funnel_report(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<FunnelReport, FlowError> {
        let days = self.store.funnel(from, to).await?;
        let mut totals = std::collections::BTreeMap::new();
        for step in FunnelStep::ALL {
            totals.insert(step, days.iter().map(|d| d.get(step)).sum());
        }
        Ok(FunnelReport {
            from,
            to,
            days,
            totals,
        })
    }
}
