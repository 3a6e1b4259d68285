//! The DynamoDB [`RedirectionStore`](signin_core::ports::RedirectionStore): one table, conditional
//! writes for every transition, a sparse sharded GSI for the poller (Query per shard — never Scan),
//! TTL honoured on every read. This file holds the store and its queries; one file per port concern.

mod allowances;
mod cases;
mod funnel;
mod import_records;
mod items;
mod logins;
mod people;
mod redirections;

use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use signin_core::clock::Clock;
use signin_core::domain::OwnerExternalId;
#[cfg(feature = "testing")]
use signin_core::domain::RedirectionId;
use signin_core::ports::StoreError;

use crate::schema::*;
#[cfg(feature = "testing")]
use items::redirection_key;
use items::{s, unavailable, Item};

#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    clock: Arc<dyn Clock>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>, clock: Arc<dyn Clock>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            clock,
        }
    }

    /// Writes an item under `id`'s key that no version of this code can read (for tests of
    /// what a poison job does: its every delivery fails until the dead-letter queue).
    #[cfg(feature = "testing")]
    pub async fn put_unreadable_redirection(&self, id: &RedirectionId) -> Result<(), StoreError> {
        let mut item = redirection_key(id);
        item.insert(
            "data".into(),
            s("{\"written by\": \"no version of this code\"}"),
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn now_epoch(&self) -> i64 {
        self.clock.now().timestamp()
    }

    /// Every item of one partition (every page), keys and attributes.
    async fn query_all(&self, pk: &str, sk_prefix: Option<&str>) -> Result<Vec<Item>, StoreError> {
        let mut out = vec![];
        let mut start = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":pk", s(pk))
                .set_exclusive_start_key(start);
            query = match sk_prefix {
                Some(prefix) => query
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                    .expression_attribute_names("#sk", SK)
                    .expression_attribute_values(":prefix", s(prefix)),
                None => query.key_condition_expression("#pk = :pk"),
            };
            let page = query.send().await.map_err(unavailable)?;
            out.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    async fn partition(&self, pk: &str) -> Result<Vec<Item>, StoreError> {
        self.query_all(pk, None).await
    }

    /// The owner's import record items, whatever their TTL.
    async fn import_items(&self, owner: &OwnerExternalId) -> Result<Vec<Item>, StoreError> {
        self.query_all(&format!("{OWNER_PREFIX}{owner}"), Some(IMPORT_SK_PREFIX))
            .await
    }

    async fn delete(&self, key: Item) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
