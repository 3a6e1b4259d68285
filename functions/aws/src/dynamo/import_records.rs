//! The DynamoDB [`ImportRecordStore`]: the owner's import records, kept under the owner's
//! partition.

use std::collections::HashMap;

use async_trait::async_trait;
use signin_core::domain::OwnerExternalId;
use signin_core::ports::{ImportRecord, ImportRecordStore, StoreError};

use super::items::{get_n, get_s, n, s, unavailable, MAX_ITEM_BYTES};
use super::DynamoStore;
use crate::schema::*;

fn import_sk(record: &ImportRecord) -> String {
    format!(
        "{IMPORT_SK_PREFIX}{}#{}",
        record.imported_at.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        record.redirection_id
    )
}

#[async_trait]
impl ImportRecordStore for DynamoStore {
    async fn put_import_record(&self, record: &ImportRecord) -> Result<(), StoreError> {
        let mut record = record.clone();
        let mut data =
            serde_json::to_string(&record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        // The summary is bounded already; should one still be too big, keep fewer accounts.
        while data.len() > MAX_ITEM_BYTES && !record.summary.accounts.is_empty() {
            let keep = record.summary.accounts.len() / 2;
            record.summary.accounts.truncate(keep);
            data =
                serde_json::to_string(&record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(format!("{OWNER_PREFIX}{}", record.owner)))
            .item(SK, s(import_sk(&record)))
            .item(TTL, n(record.expires_at.timestamp()))
            .item("data", s(data))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn import_records(
        &self,
        owner: &OwnerExternalId,
    ) -> Result<Vec<ImportRecord>, StoreError> {
        let now = self.now_epoch();
        self.import_items(owner)
            .await?
            .iter()
            .filter(|item| get_n(item, TTL).is_none_or(|t| t > now))
            .map(|item| {
                serde_json::from_str(get_s(item, "data")?)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }

    async fn delete_import_record(&self, record: &ImportRecord) -> Result<(), StoreError> {
        self.delete(HashMap::from([
            (PK.into(), s(format!("{OWNER_PREFIX}{}", record.owner))),
            (SK.into(), s(import_sk(record))),
        ]))
        .await
    }
}
