//! The DynamoDB [`AllowanceStore`]: counters per window, and the claim of a follow-up.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use signin_core::domain::{Timestamp, UserKey};
use signin_core::ports::{Allowance, AllowanceStore, FollowUpClaim, StoreError};

use super::items::{applied, millis, n, s, user_key, Item};
use super::DynamoStore;
use crate::schema::*;

/// The key of an allowance counter: the person's own counters live in their partition (so
/// erasure finds them); the others under their own prefix.
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
}
