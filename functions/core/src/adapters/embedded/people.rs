//! The embedded store: people, their sign-in history, sessions and log-in requests.

use async_trait::async_trait;

use crate::domain::{OwnerExternalId, RedirectionId, Timestamp, UserKey};

use crate::ports::{
    ConsentChoice, LoginRequest, LoginStore, PersonStore, PersonalData, SignInOutcome,
    SignInRecord, StartedBy, StoreError, UserProfile,
};

use super::store::*;

#[async_trait]
impl PersonStore for EmbeddedStore {
    async fn record_start(
        &self,
        candidate: &UserProfile,
        record_consent: bool,
        by: StartedBy,
    ) -> Result<UserProfile, StoreError> {
        let now = self.clock.now();
        let mut d = lock(&self.data);
        let live = d.live_user(&candidate.key, now);
        let next = crate::ports::merge_start(live, candidate, record_consent, by)?;
        d.users.insert(candidate.key.clone(), next.clone());
        Ok(next)
    }

    async fn get_user(&self, key: &UserKey) -> Result<Option<UserProfile>, StoreError> {
        Ok(lock(&self.data).live_user(key, self.clock.now()))
    }

    async fn record_consent(
        &self,
        key: &UserKey,
        choice: ConsentChoice,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let mut d = lock(&self.data);
        Ok(match d.users.get_mut(key).filter(|u| u.expires_at > now) {
            Some(u) => {
                u.consent = choice;
                true
            }
            None => false,
        })
    }

    async fn verify_person(&self, candidate: &UserProfile) -> Result<UserProfile, StoreError> {
        let now = self.clock.now();
        let mut d = lock(&self.data);
        let live = d.live_user(&candidate.key, now);
        let stored = match live {
            Some(u) if u.is_verified() => u,
            Some(u) => {
                d.former_owners
                    .entry(u.key.clone())
                    .or_default()
                    .insert(u.owner.clone());
                crate::ports::verified_record(&u, candidate)
            }
            // None, or past its retention (gone, as DynamoDB's TTL would have it).
            None => candidate.clone(),
        };
        d.users.insert(candidate.key.clone(), stored.clone());
        Ok(stored)
    }

    async fn end_sessions(&self, key: &UserKey) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let mut d = lock(&self.data);
        Ok(match d.users.get_mut(key).filter(|u| u.expires_at > now) {
            Some(u) => {
                u.session_generation += 1;
                true
            }
            None => false,
        })
    }

    async fn record_success(&self, key: &UserKey, at: Timestamp) -> Result<(), StoreError> {
        let mut d = lock(&self.data);
        if let Some(u) = d.users.get_mut(key) {
            u.last_success_at = Some(u.last_success_at.map_or(at, |old| old.max(at)));
        }
        Ok(())
    }

    async fn sign_ins(&self, key: &UserKey) -> Result<Vec<SignInRecord>, StoreError> {
        let now = self.clock.now();
        let prefix = format!("{key}#");
        let mut found: Vec<SignInRecord> = lock(&self.data)
            .sign_ins
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(_, s)| s)
            .filter(|s| s.kept_until > now)
            .map(StoredSignIn::record)
            .collect();
        found.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        Ok(found)
    }

    async fn record_sign_in_outcome(
        &self,
        key: &UserKey,
        id: &RedirectionId,
        outcome: SignInOutcome,
    ) -> Result<(), StoreError> {
        if let Some(s) = lock(&self.data).sign_ins.get_mut(&sign_in_key(key, id)) {
            s.outcome = Some(outcome);
        }
        Ok(())
    }

    async fn personal_data(&self, key: &UserKey) -> Result<PersonalData, StoreError> {
        let now = self.clock.now();
        let d = lock(&self.data);
        let stored = d.users.get(key);
        let user = stored.filter(|u| u.expires_at > now).cloned();
        // An expired record's owner id still finds that owner's import records.
        let mut owners: std::collections::BTreeSet<OwnerExternalId> =
            stored.iter().map(|u| u.owner.clone()).collect();
        let mut redirections = vec![];
        for r in d.redirections.values().filter(|r| &r.user_key == key) {
            owners.insert(r.owner.clone());
            redirections.push(r.id.clone());
        }
        owners.extend(d.former_owners.get(key).into_iter().flatten().cloned());
        // Sign-ins past their window keep their owner ids (an anonymous start's own).
        let history = format!("{key}#");
        for (_, s) in d
            .sign_ins
            .range(history.clone()..)
            .take_while(|(k, _)| k.starts_with(&history))
        {
            owners.insert(s.owner.clone());
        }
        redirections.sort();
        let imports = d
            .imports
            .values()
            .filter(|i| owners.contains(&i.owner))
            .count();
        Ok(PersonalData {
            user,
            redirections,
            owners,
            imports,
        })
    }

    async fn erase_person(&self, key: &UserKey) -> Result<PersonalData, StoreError> {
        let found = self.personal_data(key).await?;
        let mut d = lock(&self.data);
        d.users.remove(key);
        d.former_owners.remove(key);
        d.erase_case(key);
        d.redirections.retain(|_, r| &r.user_key != key);
        let history = format!("{key}#");
        d.sign_ins.retain(|k, _| !k.starts_with(&history));
        d.imports.retain(|_, i| !found.owners.contains(&i.owner));
        let links = format!("links#{key}#");
        d.allowances.retain(|k, _| !k.starts_with(&links));
        Ok(found)
    }
}

#[async_trait]
impl LoginStore for EmbeddedStore {
    async fn put_login_request(&self, request: &LoginRequest) -> Result<(), StoreError> {
        lock(&self.data).logins.insert(
            request.nonce.clone(),
            StoredLogin {
                email: request.email.clone(),
                language: request.language,
                expires_at: request.expires_at,
            },
        );
        Ok(())
    }

    async fn login_request(&self, nonce: &str) -> Result<Option<LoginRequest>, StoreError> {
        let now = self.clock.now();
        Ok(lock(&self.data)
            .logins
            .get(nonce)
            .filter(|l| l.expires_at > now)
            .map(|l| l.request(nonce)))
    }

    async fn take_login_request(&self, nonce: &str) -> Result<Option<LoginRequest>, StoreError> {
        let now = self.clock.now();
        let mut d = lock(&self.data);
        // Expired ones go as DynamoDB's TTL would take them.
        d.logins.retain(|_, l| l.expires_at > now);
        Ok(d.logins.remove(nonce).map(|l| l.request(nonce)))
    }

    async fn staff_sessions_ended_at(
        &self,
        staff: &UserKey,
    ) -> Result<Option<Timestamp>, StoreError> {
        let now = self.clock.now();
        Ok(lock(&self.data)
            .staff_sessions_ended
            .get(&staff.to_string())
            .filter(|(_, forget_after)| *forget_after > now)
            .map(|(at, _)| *at))
    }

    async fn end_staff_sessions(
        &self,
        staff: &UserKey,
        at: Timestamp,
        forget_after: Timestamp,
    ) -> Result<(), StoreError> {
        let mut d = lock(&self.data);
        let entry = d
            .staff_sessions_ended
            .entry(staff.to_string())
            .or_insert((at, forget_after));
        // Never backwards (two sign-outs crossing).
        if entry.0 <= at {
            *entry = (at, forget_after);
        }
        Ok(())
    }
}
