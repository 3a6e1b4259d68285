//! The embedded store: allowances, import records and the funnel's counters.

use async_trait::async_trait;
use chrono::NaiveDate;

use crate::domain::{OwnerExternalId, RedirectionId, Timestamp, UserKey};

use crate::ports::{
    Allowance, AllowanceStore, FollowUpClaim, FunnelDay, FunnelStep, FunnelStore, ImportRecord,
    ImportRecordStore, StoreError,
};

use super::store::*;

#[async_trait]
impl AllowanceStore for EmbeddedStore {
    async fn take_allowance(
        &self,
        what: &Allowance,
        limit: u64,
        window_end: Timestamp,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let mut d = lock(&self.data);
        if d.allowances.len() >= 2 * d.allowances_after_sweep.max(512) {
            d.allowances.retain(|_, (_, end)| *end > now);
            d.allowances_after_sweep = d.allowances.len();
        }
        let entry = d
            .allowances
            .entry(allowance_key(what))
            .or_insert((0, window_end));
        // An ended window counts as absent (as DynamoDB's TTL, which may delete it late).
        if entry.1 <= now {
            *entry = (0, window_end);
        }
        if entry.0 >= limit {
            return Ok(false);
        }
        entry.0 += 1;
        Ok(true)
    }

    async fn claim_follow_up(
        &self,
        key: &UserKey,
        claim: FollowUpClaim,
    ) -> Result<bool, StoreError> {
        let mut d = lock(&self.data);
        let Some(u) = d.users.get_mut(key) else {
            return Ok(false);
        };
        let cutoff = claim.now - claim.not_within;
        let allowed = u.expires_at > claim.now
            && u.consent.given
            && u.last_follow_up_at.is_none_or(|t| t < cutoff)
            && u.last_success_at.is_none_or(|t| t < claim.no_success_since);
        if allowed {
            u.last_follow_up_at = Some(claim.now);
        }
        Ok(allowed)
    }

    async fn take_import_slot(
        &self,
        holder: &RedirectionId,
        quota: u32,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut d = lock(&self.data);
        if d.import_slots.contains_key(holder.as_str()) {
            return Ok(true);
        }
        // A slot whose holder's time is up is free (its worker died holding it).
        d.import_slots.retain(|_, held_until| *held_until >= now);
        if d.import_slots.len() >= quota as usize {
            return Ok(false);
        }
        d.import_slots.insert(holder.as_str().to_owned(), until);
        Ok(true)
    }

    async fn give_back_import_slot(&self, holder: &RedirectionId) -> Result<(), StoreError> {
        lock(&self.data).import_slots.remove(holder.as_str());
        Ok(())
    }
}

#[async_trait]
impl ImportRecordStore for EmbeddedStore {
    async fn put_import_record(&self, record: &ImportRecord) -> Result<(), StoreError> {
        lock(&self.data)
            .imports
            .insert(import_key(record), record.clone());
        Ok(())
    }

    async fn import_records(
        &self,
        owner: &OwnerExternalId,
    ) -> Result<Vec<ImportRecord>, StoreError> {
        let now = self.clock.now();
        Ok(lock(&self.data)
            .imports
            .range(format!("{owner}#")..)
            .take_while(|(k, _)| k.starts_with(&format!("{owner}#")))
            .map(|(_, r)| r)
            .filter(|r| r.expires_at > now)
            .cloned()
            .collect())
    }

    async fn delete_import_record(&self, record: &ImportRecord) -> Result<(), StoreError> {
        lock(&self.data).imports.remove(&import_key(record));
        Ok(())
    }
}

#[async_trait]
impl FunnelStore for EmbeddedStore {
    async fn add_to_funnel(
        &self,
        day: NaiveDate,
        step: FunnelStep,
        n: u64,
    ) -> Result<(), StoreError> {
        *lock(&self.data)
            .funnel
            .entry(day)
            .or_default()
            .entry(step)
            .or_insert(0) += n;
        Ok(())
    }

    async fn funnel(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<FunnelDay>, StoreError> {
        let d = lock(&self.data);
        Ok(from
            .iter_days()
            .take_while(|day| *day <= to)
            .map(|day| FunnelDay {
                day: Some(day),
                counts: d.funnel.get(&day).cloned().unwrap_or_default(),
            })
            .collect())
    }
}
