//! The single table's names, in one place: key attributes, the poll index, the TTL attribute and
//! the item key prefixes. `template.yaml` must say the same (a test checks it).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

pub const PK: &str = "PK";
pub const SK: &str = "SK";
/// The sparse poll index: present only on redirections that still need a status check.
pub const POLL_INDEX: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
/// Epoch seconds after which DynamoDB may delete the item (created + 24 h for redirections).
pub const TTL: &str = "ttl";

pub const REDIRECTION_PREFIX: &str = "REDIR#";
pub const REDIRECTION_SK: &str = "META";
pub const USER_PREFIX: &str = "USER#";
pub const USER_SK: &str = "PROFILE";
pub const OWNER_PREFIX: &str = "OWNER#";
pub const IMPORT_SK_PREFIX: &str = "IMPORT#";
pub const STATS_PREFIX: &str = "STATS#";
pub const STATS_SK: &str = "FUNNEL";
pub const POLL_PREFIX: &str = "POLL#";
/// Abuse-limit counters (and, in a person's partition, their own counters' sort keys).
pub const LIMIT_PREFIX: &str = "LIMIT#";
pub const LIMIT_SK: &str = "COUNT";
/// Spent form tokens.
pub const FORM_PREFIX: &str = "FORM#";
/// Log-in requests not yet followed (the address a link was mailed to, until it expires).
pub const LOGIN_PREFIX: &str = "LOGIN#";
pub const LOGIN_SK: &str = "REQUEST";
/// A staff member's sessions ended (signed out on every device): when.
pub const STAFF_PREFIX: &str = "STAFF#";
pub const STAFF_SESSIONS_SK: &str = "SESSIONS";
/// The one item holding the slots of Kontomatik's jobs quota: an attribute per holder
/// ([`IMPORT_SLOT_HOLDER_PREFIX`] + redirection id = until when, epoch seconds) and their count.
pub const IMPORT_SLOTS_PK: &str = "SLOTS#kontomatik-jobs";
pub const IMPORT_SLOTS_SK: &str = "HOLDERS";
pub const IMPORT_SLOT_HOLDER_PREFIX: &str = "h#";
pub const IMPORT_SLOTS_HELD: &str = "held";
/// In a person's partition: their application (the case), filed in the case index by status.
pub const CASE_SK: &str = "CASE";
/// The sparse case index: present only on cases; partition `CASES#<status>`, sort
/// `<updatedAt>#<reference>`.
pub const CASE_INDEX: &str = "GSI2";
pub const GSI2PK: &str = "GSI2PK";
pub const GSI2SK: &str = "GSI2SK";
pub const CASES_PREFIX: &str = "CASES#";
/// A case's lookups: `CASEREF#r:<reference>` and `CASEREF#x:<external id>` to the person's key.
pub const CASE_ALIAS_PREFIX: &str = "CASEREF#";
/// In a person's partition: one look at their case by a staff member (`VIEW#<at>#<n>`).
pub const CASE_VIEW_PREFIX: &str = "VIEW#";
/// In a person's partition: a kept multiple access of one owner id (`ACCESS#<owner>`).
pub const ACCESS_PREFIX: &str = "ACCESS#";
/// In a person's partition: an owner id their record had before they were verified.
pub const FORMER_OWNER_PREFIX: &str = "FORMER#";

/// Creates the table as `template.yaml` declares it (for tests and the local run on moto), with
/// TTL on [`TTL`]. Waits until it is active.
pub async fn create_table(client: &Client, name: &str) -> Result<(), String> {
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| e.to_string())
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .map_err(|e| e.to_string())
    };
    let cases = GlobalSecondaryIndex::builder()
        .index_name(CASE_INDEX)
        .key_schema(key(GSI2PK, KeyType::Hash)?)
        .key_schema(key(GSI2SK, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::Include)
                .non_key_attributes(TTL)
                .non_key_attributes("data")
                .build(),
        )
        .build()
        .map_err(|e| e.to_string())?;
    let gsi = GlobalSecondaryIndex::builder()
        .index_name(POLL_INDEX)
        .key_schema(key(GSI1PK, KeyType::Hash)?)
        .key_schema(key(GSI1SK, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::Include)
                .non_key_attributes(TTL)
                .build(),
        )
        .build()
        .map_err(|e| e.to_string())?;
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(PK)?)
        .attribute_definitions(attr(SK)?)
        .attribute_definitions(attr(GSI1PK)?)
        .attribute_definitions(attr(GSI1SK)?)
        .attribute_definitions(attr(GSI2PK)?)
        .attribute_definitions(attr(GSI2SK)?)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .global_secondary_indexes(gsi)
        .global_secondary_indexes(cases)
        .send()
        .await
        .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(TTL)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .send()
        .await
        .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
    Ok(())
}
