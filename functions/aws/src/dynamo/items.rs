//! The item helpers every part of the DynamoDB store shares: attribute values, keys, and how a
//! failed request becomes a [`StoreError`].

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{TimeZone, Utc};
use signin_core::domain::{RedirectionId, Timestamp, UserKey};
use signin_core::ports::StoreError;

use crate::schema::*;

/// A DynamoDB item is at most 400 KB; we stay well below.
pub(super) const MAX_ITEM_BYTES: usize = 350 * 1024;

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn unavailable<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::Unavailable(DisplayErrorContext(e).to_string())
}

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(StoreError::Corrupt(format!("attribute {name} missing"))),
    }
}

pub(super) fn get_n(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

pub(super) fn get_bool(item: &Item, name: &str) -> bool {
    matches!(item.get(name), Some(AttributeValue::Bool(true)))
}

pub(super) fn millis(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

pub(super) fn from_millis(ms: i64) -> Option<Timestamp> {
    Utc.timestamp_millis_opt(ms).single()
}

pub(super) fn redirection_key(id: &RedirectionId) -> Item {
    HashMap::from([
        (PK.into(), s(format!("{REDIRECTION_PREFIX}{id}"))),
        (SK.into(), s(REDIRECTION_SK)),
    ])
}

pub(super) fn user_key(key: &UserKey) -> Item {
    HashMap::from([
        (PK.into(), s(format!("{USER_PREFIX}{key}"))),
        (SK.into(), s(USER_SK)),
    ])
}

pub(super) fn is_condition_failure<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().and_then(|s| s.code()) == Some("ConditionalCheckFailedException")
}

/// The primary key of a read item.
pub(super) fn key_of(item: &Item) -> Result<Item, StoreError> {
    Ok(HashMap::from([
        (PK.into(), s(get_s(item, PK)?)),
        (SK.into(), s(get_s(item, SK)?)),
    ]))
}

/// Whether a conditional write happened: `Ok(false)` when its condition failed (a lost race or an
/// unmet precondition — an ordinary outcome), `Err` for every other failure.
pub(super) fn applied<O, E, R>(result: Result<O, SdkError<E, R>>) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error().and_then(|s| s.code())
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(e) => Err(unavailable(e)),
    }
}
