//! The DynamoDB [`RedirectionStore`]: the redirection items, their conditional writes and the
//! sharded poll index.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use signin_core::adapters::embedded::poll_sort_key;
use signin_core::domain::machine::{Expected, Redirection};
use signin_core::domain::{RedirectionId, Timestamp};
use signin_core::ports::{
    poll_shard, ConditionalWrite, Created, DueItem, DuePage, PollCursor, RedirectionStore,
    SignInRecord, StoreError,
};

use super::items::{
    applied, get_n, get_s, millis, n, redirection_key, s, unavailable, Item, MAX_ITEM_BYTES,
};
use super::DynamoStore;
use crate::schema::*;

/// The redirection as an item: the record as JSON in `data`, plus the attributes conditions and
/// the poll index need at the top level.
fn redirection_item(r: &Redirection) -> Result<Item, StoreError> {
    let data = serde_json::to_string(r).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if data.len() > MAX_ITEM_BYTES {
        return Err(StoreError::Corrupt(format!(
            "redirection {} would be {} bytes",
            r.id,
            data.len()
        )));
    }
    let mut item = redirection_key(&r.id);
    item.insert("state".into(), s(r.state.as_str()));
    item.insert("version".into(), n(r.version));
    item.insert(TTL.into(), n(r.ttl_epoch_seconds()));
    item.insert("createdAt".into(), s(r.created_at.to_rfc3339()));
    item.insert("data".into(), s(data));
    if let Some(at) = r.next_poll_at {
        item.insert(
            GSI1PK.into(),
            s(format!("{POLL_PREFIX}{}", poll_shard(&r.id))),
        );
        item.insert(GSI1SK.into(), s(poll_sort_key(at, &r.id)));
    }
    Ok(item)
}

fn redirection_from(item: &Item) -> Result<Redirection, StoreError> {
    serde_json::from_str(get_s(item, "data")?).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait]
impl RedirectionStore for DynamoStore {
    async fn create_sign_in(
        &self,
        r: &Redirection,
        record: &SignInRecord,
    ) -> Result<Created, StoreError> {
        // The pointer from the person's partition first, so that erasure finds every
        // redirection that exists (a pointer to one that was never written is harmless). It is
        // the person's record of the sign-in too, kept for their retention.
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(format!("{USER_PREFIX}{}", r.user_key)))
            .item(SK, s(format!("{REDIRECTION_PREFIX}{}", r.id)))
            .item("owner", s(record.owner.as_str()))
            .item("createdAt", n(millis(record.created_at)))
            .item("windowEnds", n(record.window_ends.timestamp()))
            .item(TTL, n(record.kept_until.timestamp()))
            .send()
            .await
            .map_err(unavailable)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(redirection_item(r)?))
            .condition_expression("attribute_not_exists(#pk) OR #ttl <= :now")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":now", n(self.now_epoch()))
            .send()
            .await;
        Ok(if applied(result)? {
            Created::Created
        } else {
            Created::AlreadyExists
        })
    }

    async fn get_redirection(&self, id: &RedirectionId) -> Result<Option<Redirection>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(redirection_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        // DynamoDB deletes expired items late: an item past its TTL is gone for us.
        if get_n(&item, TTL).is_some_and(|t| t <= self.now_epoch()) {
            return Ok(None);
        }
        redirection_from(&item).map(Some)
    }

    async fn save_redirection(
        &self,
        next: &Redirection,
        expected: Expected,
    ) -> Result<ConditionalWrite, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(redirection_item(next)?))
            .condition_expression("#state = :state AND #version = :version AND #ttl > :now")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":state", s(expected.state.as_str()))
            .expression_attribute_values(":version", n(expected.version))
            .expression_attribute_values(":now", n(self.now_epoch()))
            .send()
            .await;
        Ok(if applied(result)? {
            ConditionalWrite::Applied
        } else {
            ConditionalWrite::Conflict
        })
    }

    async fn due_for_poll(
        &self,
        shard: u8,
        now: Timestamp,
        limit: usize,
        after: Option<PollCursor>,
    ) -> Result<DuePage, StoreError> {
        let shard_key = format!("{POLL_PREFIX}{shard}");
        // `~` sorts after every character an id may hold, so this bound includes every item
        // due at `now`.
        let upper = format!("{}#~", now.format("%Y-%m-%dT%H:%M:%S%.3fZ"));
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(POLL_INDEX)
            .key_condition_expression("#gpk = :shard AND #gsk <= :upper")
            .filter_expression("#ttl > :now")
            .expression_attribute_names("#gpk", GSI1PK)
            .expression_attribute_names("#gsk", GSI1SK)
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":shard", s(&shard_key))
            .expression_attribute_values(":upper", s(upper))
            .expression_attribute_values(":now", n(self.now_epoch()))
            .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000));
        if let Some(cursor) = after {
            let id = cursor
                .0
                .rsplit_once('#')
                .map(|(_, id)| id.to_owned())
                .ok_or_else(|| StoreError::Corrupt("bad poll cursor".into()))?;
            let id = RedirectionId::parse(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let mut start = redirection_key(&id);
            start.insert(GSI1PK.into(), s(&shard_key));
            start.insert(GSI1SK.into(), s(cursor.0));
            query = query.set_exclusive_start_key(Some(start));
        }
        let out = query.send().await.map_err(unavailable)?;
        let mut items = vec![];
        for item in out.items.unwrap_or_default() {
            let sk = get_s(&item, GSI1SK)?;
            let (at, id) = sk
                .split_once('#')
                .ok_or_else(|| StoreError::Corrupt(format!("bad {GSI1SK}")))?;
            let next_poll_at = DateTime::parse_from_rfc3339(at)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?
                .with_timezone(&Utc);
            let id = RedirectionId::parse(id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            items.push(DueItem { id, next_poll_at });
        }
        let next = match out.last_evaluated_key {
            Some(k) => Some(PollCursor(get_s(&k, GSI1SK)?.to_owned())),
            None => None,
        };
        Ok(DuePage { items, next })
    }
}
