//! The DynamoDB [`CaseStore`]: each person's case in their partition (so that an erasure takes
//! it), filed by status in the sparse case index (`GSI2`), with its lookups by reference and by
//! the lender's application id, and the looks at it.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use signin_core::domain::case::{case_sort_key, Case, CaseStatus};
use signin_core::domain::{Timestamp, UserKey};
use signin_core::ports::{
    CaseCursor, CaseOrder, CasePage, CaseStore, CaseView, ConditionalWrite, StoreError,
};

use super::items::{applied, get_n, get_s, millis, n, s, unavailable, Item};
use super::DynamoStore;
use crate::schema::*;

pub(super) fn reference_alias(reference: &str) -> String {
    format!("{CASE_ALIAS_PREFIX}r:{reference}")
}

pub(super) fn external_alias(external: &str) -> String {
    format!("{CASE_ALIAS_PREFIX}x:{external}")
}

pub(super) fn case_from(item: &Item) -> Result<Case, StoreError> {
    serde_json::from_str(get_s(item, "data")?).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl DynamoStore {
    fn live(&self, item: &Item) -> bool {
        get_n(item, TTL).is_none_or(|t| t > self.now_epoch())
    }

    async fn case_by_alias(&self, alias: &str) -> Result<Option<Case>, StoreError> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(alias))
            .key(SK, s(CASE_SK))
            .send()
            .await
            .map_err(unavailable)?;
        match found.item {
            Some(item) if self.live(&item) => {
                self.get_case(&UserKey::from_stored(get_s(&item, "user")?.to_owned()))
                    .await
            }
            _ => Ok(None),
        }
    }

    /// Points `alias` at `case`, kept as long as the case. `only_if_ours`: only when it points
    /// at this case already (an external id another case took since stays theirs).
    async fn put_alias(
        &self,
        alias: &str,
        case: &Case,
        only_if_ours: bool,
    ) -> Result<(), StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(alias))
            .item(SK, s(CASE_SK))
            .item("user", s(case.key.as_str()))
            .item(TTL, n(case.expires_at.timestamp()));
        // Ours, or gone (a failed write left it missing): made again. Another case's stays.
        let put = if only_if_ours {
            put.condition_expression("attribute_not_exists(#pk) OR #user = :me")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#user", "user")
                .expression_attribute_values(":me", s(case.key.as_str()))
        } else {
            put
        };
        // A failed condition: another case holds the id now, which is as it should be.
        applied(put.send().await)?;
        Ok(())
    }
}

#[async_trait]
impl CaseStore for DynamoStore {
    async fn get_case(&self, key: &UserKey) -> Result<Option<Case>, StoreError> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(format!("{USER_PREFIX}{key}")))
            .key(SK, s(CASE_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        match found.item {
            Some(item) if self.live(&item) => Ok(Some(case_from(&item)?)),
            _ => Ok(None),
        }
    }

    async fn case_by_reference(&self, reference: &str) -> Result<Option<Case>, StoreError> {
        Ok(self
            .case_by_alias(&reference_alias(reference))
            .await?
            .filter(|c| c.reference == reference))
    }

    async fn case_by_external_id(&self, external: &str) -> Result<Option<Case>, StoreError> {
        Ok(self
            .case_by_alias(&external_alias(external))
            .await?
            .filter(|c| c.external_application_id.as_deref() == Some(external)))
    }

    async fn put_case(
        &self,
        next: &Case,
        status: CaseStatus,
        previous: Option<&Case>,
    ) -> Result<ConditionalWrite, StoreError> {
        let data = serde_json::to_string(next).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(format!("{USER_PREFIX}{}", next.key)))
            .item(SK, s(CASE_SK))
            .item(GSI2PK, s(format!("{CASES_PREFIX}{}", status.as_str())))
            .item(GSI2SK, s(case_sort_key(next.updated_at, &next.reference)))
            .item(TTL, n(next.expires_at.timestamp()))
            .item("version", n(next.version))
            .item("reference", s(&next.reference))
            .item("data", s(data))
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":now", n(self.now_epoch()));
        // A case past its retention that DynamoDB has not deleted yet counts as none.
        let put = match previous {
            None => put
                .condition_expression("attribute_not_exists(#pk) OR #ttl <= :now")
                .expression_attribute_names("#pk", PK),
            // The reference too: versions start again at 1 for a case made after an erasure.
            Some(p) => put
                // (Cases written before the reference was an attribute have none.)
                .condition_expression(
                    "version = :v AND (#ref = :ref OR attribute_not_exists(#ref)) AND #ttl > :now",
                )
                .expression_attribute_names("#ref", "reference")
                .expression_attribute_values(":v", n(p.version))
                .expression_attribute_values(":ref", s(&p.reference)),
        };
        if !applied(put.send().await)? {
            return Ok(ConditionalWrite::Conflict);
        }
        // The lookups on every write: kept as long as the case (each start may lengthen it),
        // and one a failed write left missing is made again by the next. The case is written
        // already: a lookup that fails now is said, not returned (the caller would act again).
        let mut lookups = vec![
            self.put_alias(&reference_alias(&next.reference), next, false)
                .await,
        ];
        if let Some(x) = &next.external_application_id {
            let taken = previous.is_none_or(|p| p.external_application_id.as_ref() != Some(x));
            lookups.push(self.put_alias(&external_alias(x), next, !taken).await);
        }
        for failed in lookups.into_iter().filter_map(Result::err) {
            tracing::warn!(case = %next.reference, error = %failed, "a case's lookup could not be written; the next write makes it");
        }
        Ok(ConditionalWrite::Applied)
    }

    async fn list_cases(
        &self,
        status: CaseStatus,
        order: CaseOrder,
        after: Option<&CaseCursor>,
        limit: usize,
    ) -> Result<CasePage, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(CASE_INDEX)
            .expression_attribute_names("#pk", GSI2PK)
            .expression_attribute_values(":pk", s(format!("{CASES_PREFIX}{}", status.as_str())))
            .scan_index_forward(order == CaseOrder::OldestFirst)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX));
        let query = match after {
            None => query.key_condition_expression("#pk = :pk"),
            Some(cursor) => query
                .key_condition_expression(match order {
                    CaseOrder::OldestFirst => "#pk = :pk AND #sk > :after",
                    CaseOrder::NewestFirst => "#pk = :pk AND #sk < :after",
                })
                .expression_attribute_names("#sk", GSI2SK)
                .expression_attribute_values(":after", s(cursor.0.clone())),
        };
        let page = query.send().await.map_err(unavailable)?;
        let mut cases = vec![];
        for item in page.items.unwrap_or_default() {
            if self.live(&item) {
                cases.push(case_from(&item)?);
            }
        }
        let next = page.last_evaluated_key.and_then(|k| match k.get(GSI2SK) {
            Some(AttributeValue::S(v)) => Some(CaseCursor(v.clone())),
            _ => None,
        });
        Ok(CasePage { cases, next })
    }

    async fn record_case_view(
        &self,
        key: &UserKey,
        view: &CaseView,
        kept_until: Timestamp,
    ) -> Result<(), StoreError> {
        let data = serde_json::to_string(view).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(format!("{USER_PREFIX}{key}")))
            .item(
                SK,
                s(format!(
                    "{CASE_VIEW_PREFIX}{:013}#{}",
                    millis(view.at),
                    signin_core::domain::case::new_reference()
                )),
            )
            .item(TTL, n(kept_until.timestamp()))
            .item("data", s(data))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn case_views(&self, key: &UserKey) -> Result<Vec<CaseView>, StoreError> {
        let mut views = vec![];
        for item in self
            .query_all(&format!("{USER_PREFIX}{key}"), Some(CASE_VIEW_PREFIX))
            .await?
        {
            if self.live(&item) {
                views.push(
                    serde_json::from_str::<CaseView>(get_s(&item, "data")?)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                );
            }
        }
        views.sort_by_key(|v| std::cmp::Reverse(v.at));
        Ok(views)
    }
}

#[async_trait]
impl signin_core::ports::AccessStore for DynamoStore {
    async fn put_access_grant(
        &self,
        key: &UserKey,
        grant: &signin_core::domain::access::AccessGrant,
    ) -> Result<(), StoreError> {
        let data = serde_json::to_string(grant).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(format!("{USER_PREFIX}{key}")))
            .item(SK, s(format!("{ACCESS_PREFIX}{}", grant.owner)))
            .item(TTL, n(grant.expires_at.timestamp()))
            .item("data", s(data))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn access_grants(
        &self,
        key: &UserKey,
    ) -> Result<Vec<signin_core::domain::access::AccessGrant>, StoreError> {
        let mut grants = vec![];
        for item in self
            .query_all(&format!("{USER_PREFIX}{key}"), Some(ACCESS_PREFIX))
            .await?
        {
            if self.live(&item) {
                grants.push(
                    serde_json::from_str(get_s(&item, "data")?)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                );
            }
        }
        Ok(grants)
    }
}
