//! The DynamoDB [`LoginStore`]: login requests, each taken at most once.

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use signin_core::domain::{Email, Language, Timestamp, UserKey};
use signin_core::ports::{LoginRequest, LoginStore, StoreError};

use super::items::{get_n, get_s, is_condition_failure, n, s, unavailable, Item};
use super::DynamoStore;
use crate::schema::*;

fn login_request_from(nonce: &str, item: &Item) -> Result<LoginRequest, StoreError> {
    let corrupt = |e: signin_core::domain::InvalidInput| StoreError::Corrupt(e.to_string());
    Ok(LoginRequest {
        nonce: nonce.to_owned(),
        email: Email::parse(get_s(item, "email")?).map_err(corrupt)?,
        language: Language::parse(get_s(item, "language")?).map_err(corrupt)?,
        expires_at: get_n(item, TTL)
            .and_then(|t| Utc.timestamp_opt(t, 0).single())
            .ok_or_else(|| StoreError::Corrupt("login ttl".into()))?,
    })
}

#[async_trait]
impl LoginStore for DynamoStore {
    async fn put_login_request(&self, request: &LoginRequest) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(format!("{LOGIN_PREFIX}{}", request.nonce)))
            .item(SK, s(LOGIN_SK))
            .item("email", s(request.email.as_str()))
            .item("language", s(request.language.as_str()))
            .item(TTL, n(request.expires_at.timestamp()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn login_request(&self, nonce: &str) -> Result<Option<LoginRequest>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(format!("{LOGIN_PREFIX}{nonce}")))
            .key(SK, s(LOGIN_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        match out.item {
            Some(item) if get_n(&item, TTL).is_some_and(|t| t > self.now_epoch()) => {
                login_request_from(nonce, &item).map(Some)
            }
            _ => Ok(None),
        }
    }

    async fn take_login_request(&self, nonce: &str) -> Result<Option<LoginRequest>, StoreError> {
        // One delete that returns what it deleted: the first caller gets the request; a second
        // (or one past the link's life) fails the condition.
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(format!("{LOGIN_PREFIX}{nonce}")))
            .key(SK, s(LOGIN_SK))
            .condition_expression("#ttl > :now")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":now", n(self.now_epoch()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await;
        let old = match result {
            Ok(out) => out.attributes,
            Err(e) if is_condition_failure(&e) => return Ok(None),
            Err(e) => return Err(unavailable(e)),
        };
        match old {
            Some(item) => login_request_from(nonce, &item).map(Some),
            None => Ok(None),
        }
    }

    async fn staff_sessions_ended_at(
        &self,
        staff: &UserKey,
    ) -> Result<Option<Timestamp>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(format!("{STAFF_PREFIX}{staff}")))
            .key(SK, s(STAFF_SESSIONS_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out
            .item
            .filter(|item| get_n(item, TTL).is_some_and(|t| t > self.now_epoch()))
            .and_then(|item| get_n(&item, "endedAt"))
            .and_then(|t| Utc.timestamp_opt(t, 0).single()))
    }

    async fn end_staff_sessions(
        &self,
        staff: &UserKey,
        at: Timestamp,
        forget_after: Timestamp,
    ) -> Result<(), StoreError> {
        // Never backwards: a later write with an earlier moment (two sign-outs crossing) must
        // not bring back the sessions between the two.
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(format!("{STAFF_PREFIX}{staff}")))
            .item(SK, s(STAFF_SESSIONS_SK))
            .item("endedAt", n(at.timestamp()))
            .item(TTL, n(forget_after.timestamp()))
            .condition_expression("attribute_not_exists(endedAt) OR endedAt <= :at")
            .expression_attribute_values(":at", n(at.timestamp()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}
