//! The DynamoDB [`AllowanceStore`]: counters per window, the claim of a follow-up, and the
//! slots of Kontomatik's jobs quota.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use signin_core::domain::{RedirectionId, Timestamp, UserKey};
use signin_core::ports::{Allowance, AllowanceStore, FollowUpClaim, StoreError};

use super::items::{applied, get_n, millis, n, s, unavailable, user_key, Item};
use super::DynamoStore;
use crate::schema::*;

/// The key of an allowance counter: the person's own counters live in their partition (so
/// erasure finds them); the others under their own prefix.
fn import_slots_key() -> Item {
    HashMap::from([
        (PK.into(), s(IMPORT_SLOTS_PK)),
        (SK.into(), s(IMPORT_SLOTS_SK)),
    ])
}

/// At most this many expired slots are freed in one write (a condition per slot).
const FREED_AT_ONCE: usize = 25;

fn allowance_key(what: &Allowance) -> Item {
    let (pk, sk) = match what {
        Allowance::StartsFromClient { client, hour } => (
            format!("{LIMIT_PREFIX}starts#{client}#{hour}"),
            LIMIT_SK.to_owned(),
        ),
        Allowance::LinkEmails { user, day } => (
            format!("{USER_PREFIX}{user}"),
            format!("{LIMIT_PREFIX}links#{}", day.format("%Y-%m-%d")),
        ),
        Allowance::FormToken { nonce } => (format!("{FORM_PREFIX}{nonce}"), LIMIT_SK.to_owned()),
        Allowance::LoginEmails { user, day } => (
            format!("{USER_PREFIX}{user}"),
            format!("{LIMIT_PREFIX}logins#{}", day.format("%Y-%m-%d")),
        ),
        Allowance::FollowUpsToMailbox { mailbox, window } => (
            format!("{USER_PREFIX}{mailbox}"),
            format!("{LIMIT_PREFIX}followups#{window}"),
        ),
    };
    HashMap::from([(PK.into(), s(pk)), (SK.into(), s(sk))])
}

impl DynamoStore {
    /// One conditional write: the holder's attribute and the count, together.
    async fn try_take_slot(
        &self,
        attribute: &str,
        quota: u32,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(import_slots_key()))
            .update_expression("SET #holder = :until ADD #held :one")
            .condition_expression(
                "attribute_not_exists(#holder) AND (attribute_not_exists(#held) OR #held < :quota)",
            )
            .expression_attribute_names("#holder", attribute)
            .expression_attribute_names("#held", IMPORT_SLOTS_HELD)
            .expression_attribute_values(":until", n(until.timestamp()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":quota", n(quota))
            .send()
            .await;
        applied(result)
    }

    /// Frees (up to [`FREED_AT_ONCE`]) the slots of `item` whose holder's time was up before
    /// `now`, each only if it is still the one read (its holder did not give it back
    /// meanwhile), so that the count stays the number of holders. `false`: none was up.
    async fn free_expired_slots(&self, item: &Item, now: Timestamp) -> Result<bool, StoreError> {
        let expired: Vec<(&String, &AttributeValue)> = item
            .iter()
            .filter(|(name, _)| name.starts_with(IMPORT_SLOT_HOLDER_PREFIX))
            .filter(|(name, _)| get_n(item, name).is_some_and(|t| t < now.timestamp()))
            .take(FREED_AT_ONCE)
            .collect();
        if expired.is_empty() {
            return Ok(false);
        }
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(import_slots_key()))
            .expression_attribute_names("#held", IMPORT_SLOTS_HELD)
            .expression_attribute_values(":freed", n(-(expired.len() as i64)));
        let mut removed = vec![];
        let mut unchanged = vec![];
        for (i, (name, value)) in expired.into_iter().enumerate() {
            update = update
                .expression_attribute_names(format!("#e{i}"), name.clone())
                .expression_attribute_values(format!(":e{i}"), value.clone());
            removed.push(format!("#e{i}"));
            unchanged.push(format!("#e{i} = :e{i}"));
        }
        let freed = update
            .update_expression(format!("REMOVE {} ADD #held :freed", removed.join(", ")))
            .condition_expression(unchanged.join(" AND "))
            .send()
            .await;
        // Lost to another freeing: the take that follows finds what it left.
        applied(freed)?;
        Ok(true)
    }
}

#[async_trait]
impl AllowanceStore for DynamoStore {
    async fn take_allowance(
        &self,
        what: &Allowance,
        limit: u64,
        window_end: Timestamp,
    ) -> Result<bool, StoreError> {
        // `ADD` on a condition: atomic, no read-modify-write. Each window has a key of its own,
        // so a counter is never counted again after its window, whenever DynamoDB deletes it.
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(allowance_key(what)))
            .update_expression("SET #ttl = if_not_exists(#ttl, :ttl) ADD #count :one")
            .condition_expression("attribute_not_exists(#count) OR #count < :limit")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            .expression_attribute_values(":ttl", n(window_end.timestamp()))
            .send()
            .await;
        applied(result)
    }

    async fn claim_follow_up(
        &self,
        key: &UserKey,
        claim: FollowUpClaim,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(user_key(key)))
            .update_expression("SET lastFollowUpAt = :now")
            .condition_expression(
                "attribute_exists(#pk) AND followUpConsent = :yes \
                 AND (attribute_not_exists(#ttl) OR #ttl > :epoch) \
                 AND (attribute_not_exists(optedOut) OR optedOut = :no) \
                 AND (attribute_not_exists(lastFollowUpAt) OR lastFollowUpAt < :cutoff) \
                 AND (attribute_not_exists(lastSuccessAt) OR lastSuccessAt < :since)",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":now", n(millis(claim.now)))
            .expression_attribute_values(":epoch", n(claim.now.timestamp()))
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .expression_attribute_values(":cutoff", n(millis(claim.now - claim.not_within)))
            .expression_attribute_values(":since", n(millis(claim.no_success_since)))
            .send()
            .await;
        applied(result)
    }

    async fn take_import_slot(
        &self,
        holder: &RedirectionId,
        quota: u32,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let attribute = format!("{IMPORT_SLOT_HOLDER_PREFIX}{holder}");
        if self.try_take_slot(&attribute, quota, until).await? {
            return Ok(true);
        }
        // Refused: this holder has its slot already, or every slot is held. Slots whose
        // holder's time is up are freed, then the take is tried once more.
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(import_slots_key()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?
            .item
            .unwrap_or_default();
        if item.contains_key(&attribute) {
            return Ok(true);
        }
        if !self.free_expired_slots(&item, now).await? {
            return Ok(false);
        }
        self.try_take_slot(&attribute, quota, until).await
    }

    async fn give_back_import_slot(&self, holder: &RedirectionId) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(import_slots_key()))
            .update_expression("REMOVE #holder ADD #held :minus_one")
            .condition_expression("attribute_exists(#holder)")
            .expression_attribute_names("#holder", format!("{IMPORT_SLOT_HOLDER_PREFIX}{holder}"))
            .expression_attribute_names("#held", IMPORT_SLOTS_HELD)
            .expression_attribute_values(":minus_one", n(-1))
            .send()
            .await;
        // Not held (given back before, or freed as expired): nothing to do.
        applied(result).map(|_| ())
    }
}
