//! The right to erasure: a person's signed "delete my data" link (in every email) or the
//! operator's command erases their user record, redirections and import records, and asks
//! Kontomatik to delete the owner's data. Funnel counts stay: they hold no personal data.
//!
//! Kontomatik is asked first: if it cannot be reached nothing is deleted here either, and the
//! person (or the operator) tries again; every step is idempotent.

use thiserror::Error;

use super::{App, FlowError};
use crate::domain::links::{self, LinkClaims, LinkError, Purpose};
use crate::domain::{Email, UserKey};
use crate::ports::{KontomatikError, PersonalData};

/// What an erasure removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erased {
    /// What the store held before.
    pub found: PersonalData,
    /// Owner ids whose data Kontomatik deleted (the others held nothing there).
    pub deleted_at_kontomatik: usize,
    /// Copies of sent mail dropped by the mailer (the local outbox).
    pub mails_forgotten: usize,
}

#[derive(Debug, Error)]
pub enum EraseError {
    #[error(transparent)]
    Link(#[from] LinkError),
    /// Kontomatik could not be reached: nothing was deleted; try again shortly.
    #[error("the bank connection service is unavailable: {0}")]
    Unavailable(KontomatikError),
    /// The event bus could not be told (`owner.erased`, events on): our copy is not deleted
    /// yet, so that a retry tells the subscribers too; try again shortly.
    #[error("the event bus is unavailable: {0}")]
    SubscribersUnavailable(crate::ports::EventError),
    #[error(transparent)]
    Internal(#[from] FlowError),
}

impl App {
    /// Erases the person of a signed erase link.
    pub async fn erase_by_link(&self, token: &str) -> Result<(LinkClaims, Erased), EraseError> {
        let claims = self.check_link(token, Purpose::Erase)?;
        let erased = self
            .erase_key(&claims.user, None, claims.record.as_deref())
            .await?;
        Ok((claims, erased))
    }

    /// Erases the person with this address (the operator's command).
    pub async fn erase_email(&self, email: &Email) -> Result<Erased, EraseError> {
        self.erase_key(&email.user_key(), Some(email), None).await
    }

    /// Erases everything of the person with `key`; by a link made for `record` (its
    /// [`links::record_pseudonym`]), only if what is held is that record: a link kept from before
    /// an erasure (or a lapse) cannot erase the person's record made after it.
    async fn erase_key(
        &self,
        key: &UserKey,
        email: Option<&Email>,
        record: Option<&str>,
    ) -> Result<Erased, EraseError> {
        let found = self
            .store
            .personal_data(key)
            .await
            .map_err(FlowError::from)?;
        if let Some(record) = record {
            let signing = self.signing_key()?;
            let made_for_this_record = found
                .owners
                .iter()
                .any(|owner| links::names_record(signing, owner, record));
            if !found.is_empty() && !made_for_this_record {
                tracing::warn!("an erase link made for an earlier record was refused");
                return Err(EraseError::Link(LinkError::Invalid));
            }
        }
        // The address, to drop the mailer's copies: given, or from what we hold.
        let mut address = email
            .cloned()
            .or_else(|| found.user.as_ref().map(|u| u.email.clone()));
        if address.is_none() {
            if let Some(id) = found.redirections.first() {
                address = self
                    .store
                    .get_redirection(id)
                    .await
                    .map_err(FlowError::from)?
                    .map(|r| r.email);
            }
        }
        // All owners at once: the page waits for one call's timeout at most, not one per owner.
        let answers = futures::future::join_all(
            found
                .owners
                .iter()
                .map(|owner| self.kontomatik.delete_owner_data(owner)),
        )
        .await;
        let mut deleted_at_kontomatik = 0;
        for answer in answers {
            match answer {
                Ok(true) => deleted_at_kontomatik += 1,
                Ok(false) | Err(KontomatikError::NotFound) => {}
                Err(e) if e.is_transient() => return Err(EraseError::Unavailable(e)),
                Err(e) => return Err(EraseError::Internal(FlowError::Kontomatik(e))),
            }
        }
        // Subscribers are told before our copy goes: if the bus cannot be reached, the
        // person's retry still finds their owner ids and tells them then. (A second
        // `owner.erased` for the same owner is harmless; a lost one would leave their copies.)
        let told: Vec<_> = found
            .owners
            .iter()
            .map(|owner| crate::domain::events::LifecycleEvent::erased(owner, self.now()))
            .collect();
        if !told.is_empty() {
            self.events
                .publish(&told)
                .await
                .map_err(EraseError::SubscribersUnavailable)?;
        }
        self.store
            .erase_person(key)
            .await
            .map_err(FlowError::from)?;
        let mails_forgotten = match &address {
            Some(a) => self
                .mailer
                .forget_recipient(a)
                .await
                .map_err(FlowError::from)?,
            None => 0,
        };
        // Nothing that identifies the person (not even the hash of their address).
        tracing::info!(
            owners = found.owners.len(),
            redirections = found.redirections.len(),
            imports = found.imports,
            deleted_at_kontomatik,
            "erased a person's data"
        );
        Ok(Erased {
            found,
            deleted_at_kontomatik,
            mails_forgotten,
        })
    }
}
