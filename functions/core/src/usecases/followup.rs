//! Users who dropped off (their link expired, or the sign-in failed at the bank) get **one**
//! follow-up email with a fresh way back in — decided by a conditional write on the user, so
//! repeated or parallel poller runs cannot send twice — and never without consent, after an
//! opt-out, or after they succeeded anyway.

use super::{App, FlowError, Transition};
use crate::domain::links::{self, LinkClaims, Purpose};
use crate::domain::machine::{Event, Redirection, State};
use crate::domain::Country;
use crate::notify::{self, DropOff};
use crate::ports::{FollowUpClaim, FunnelStep};

impl App {
    fn link(&self, purpose: Purpose, r: &Redirection) -> Result<String, FlowError> {
        self.link_for(purpose, &r.user_key, r.language, r.country, &r.owner)
    }

    /// A signed link of `purpose` for the person with `user`, whose record has (or had) the
    /// owner id `owner`: an erase link erases only that record, never one made after it.
    pub(crate) fn link_for(
        &self,
        purpose: Purpose,
        user: &crate::domain::UserKey,
        language: crate::domain::Language,
        country: Country,
        owner: &crate::domain::OwnerExternalId,
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
                record: (purpose == Purpose::Erase).then(|| links::record_pseudonym(key, owner)),
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
        if matches!(
            self.step(&r, |_| event.clone()).await?,
            Transition::Applied(_)
        ) && sent
        {
            self.count(FunnelStep::FollowUps).await;
        }
        Ok(sent)
    }
}
