//! The DynamoDB [`FunnelStore`]: one counter item per day, read back in batches.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::KeysAndAttributes;
use chrono::NaiveDate;
use signin_core::ports::{FunnelDay, FunnelStep, FunnelStore, StoreError};

use super::items::{get_n, get_s, n, s, unavailable, Item};
use super::DynamoStore;
use crate::schema::*;

fn stats_key(day: NaiveDate) -> Item {
    HashMap::from([
        (
            PK.into(),
            s(format!("{STATS_PREFIX}{}", day.format("%Y-%m-%d"))),
        ),
        (SK.into(), s(STATS_SK)),
    ])
}

#[async_trait]
impl FunnelStore for DynamoStore {
    async fn add_to_funnel(
        &self,
        day: NaiveDate,
        step: FunnelStep,
        count: u64,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(stats_key(day)))
            .update_expression("ADD #step :n")
            .expression_attribute_names("#step", step.as_str())
            .expression_attribute_values(":n", n(count))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn funnel(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<FunnelDay>, StoreError> {
        let days: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= to).collect();
        let mut found: HashMap<String, Item> = HashMap::new();
        for chunk in days.chunks(100) {
            let mut keys = KeysAndAttributes::builder();
            for d in chunk {
                keys = keys.keys(stats_key(*d));
            }
            let mut request = Some(HashMap::from([(
                self.table.clone(),
                keys.consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            )]));
            // BatchGetItem may leave keys unprocessed under load; ask again for those.
            for _ in 0..10 {
                let Some(req) = request.take() else { break };
                let out = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(req))
                    .send()
                    .await
                    .map_err(unavailable)?;
                for item in out
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
                {
                    found.insert(get_s(&item, PK)?.to_owned(), item);
                }
                request = out.unprocessed_keys.filter(|u| !u.is_empty());
            }
            if request.is_some() {
                return Err(StoreError::Unavailable(
                    "funnel read left keys unprocessed".into(),
                ));
            }
        }
        Ok(days
            .into_iter()
            .map(|day| {
                let item = found.get(&format!("{STATS_PREFIX}{}", day.format("%Y-%m-%d")));
                let counts = FunnelStep::ALL
                    .into_iter()
                    .filter_map(|step| {
                        let v = item.and_then(|i| get_n(i, step.as_str()))?;
                        Some((step, u64::try_from(v).unwrap_or(0)))
                    })
                    .collect();
                FunnelDay {
                    day: Some(day),
                    counts,
                }
            })
            .collect())
    }
}
