//! The DynamoDB [`RedirectionStore`]: one table, conditional writes for every transition, a
//! sparse sharded GSI for the poller (Query per shard — never Scan), TTL honoured on every read.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use signin_core::adapters::embedded::poll_sort_key;
use signin_core::clock::Clock;
use signin_core::domain::machine::{Expected, Redirection};
use signin_core::domain::{Email, Language, OwnerExternalId, RedirectionId, Timestamp, UserKey};
use signin_core::ports::{
    poll_shard, Allowance, AllowanceStore, Cas, ConsentChoice, ConsentSource, Created, DueItem,
    DuePage, FollowUpClaim, FunnelDay, FunnelStep, FunnelStore, ImportRecord, ImportRecordStore,
    LoginRequest, LoginStore, PersonStore, PersonalData, PollCursor, RedirectionStore,
    SignInOutcome, SignInRecord, StartedBy, StoreError, UserProfile,
};

use crate::schema::*;

/// A DynamoDB item is at most 400 KB; we stay well below.
const MAX_ITEM_BYTES: usize = 350 * 1024;

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    clock: Arc<dyn Clock>,
}

fn unavailable<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::Unavailable(DisplayErrorContext(e).to_string())
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(StoreError::Corrupt(format!("attribute {name} missing"))),
    }
}

fn get_n(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

fn get_bool(item: &Item, name: &str) -> bool {
    matches!(item.get(name), Some(AttributeValue::Bool(true)))
}

fn millis(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

fn from_millis(ms: i64) -> Option<Timestamp> {
    Utc.timestamp_millis_opt(ms).single()
}

fn redirection_key(id: &RedirectionId) -> Item {
    HashMap::from([
        (PK.into(), s(format!("{REDIRECTION_PREFIX}{id}"))),
        (SK.into(), s(REDIRECTION_SK)),
    ])
}

fn user_key(key: &UserKey) -> Item {
    HashMap::from([
        (PK.into(), s(format!("{USER_PREFIX}{key}"))),
        (SK.into(), s(USER_SK)),
    ])
}

fn stats_key(day: NaiveDate) -> Item {
    HashMap::from([
        (
            PK.into(),
            s(format!("{STATS_PREFIX}{}", day.format("%Y-%m-%d"))),
        ),
        (SK.into(), s(STATS_SK)),
    ])
}

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

fn user_from(item: &Item) -> Result<UserProfile, StoreError> {
    let corrupt = |e: signin_core::domain::InvalidInput| StoreError::Corrupt(e.to_string());
    let pk = get_s(item, PK)?;
    let created_at = get_n(item, "createdAt")
        .and_then(from_millis)
        .ok_or_else(|| StoreError::Corrupt("user createdAt".into()))?;
    Ok(UserProfile {
        key: UserKey::from_stored(pk.trim_start_matches(USER_PREFIX).to_owned()),
        owner: OwnerExternalId::parse(get_s(item, "owner")?).map_err(corrupt)?,
        email: Email::parse(get_s(item, "email")?).map_err(corrupt)?,
        name: get_s(item, "name")?.to_owned(),
        language: Language::parse(get_s(item, "language")?).map_err(corrupt)?,
        consent: match get_n(item, "consentAt").and_then(from_millis) {
            // An opt-out kept from before consent had its time (removed by the next choice) is
            // an unsubscribe.
            Some(at) if get_bool(item, "optedOut") => ConsentChoice {
                given: false,
                at,
                source: ConsentSource::Unsubscribe,
            },
            Some(at) => ConsentChoice {
                given: get_bool(item, "followUpConsent"),
                at,
                source: ConsentSource::parse(get_s(item, "consentSource")?)
                    .ok_or_else(|| StoreError::Corrupt("user consentSource".into()))?,
            },
            // Written before consent was recorded with its time: the box as first ticked,
            // unless the person unsubscribed since.
            None => ConsentChoice {
                given: get_bool(item, "followUpConsent") && !get_bool(item, "optedOut"),
                at: created_at,
                source: if get_bool(item, "optedOut") {
                    ConsentSource::Unsubscribe
                } else {
                    ConsentSource::StartForm
                },
            },
        },
        created_at,
        last_follow_up_at: get_n(item, "lastFollowUpAt").and_then(from_millis),
        last_success_at: get_n(item, "lastSuccessAt").and_then(from_millis),
        verified_at: get_n(item, "verifiedAt").and_then(from_millis),
        session_generation: get_n(item, "sessionGeneration")
            .and_then(|g| u64::try_from(g).ok())
            .unwrap_or(0),
        // Written before retention: kept for the default retention from its creation.
        expires_at: match get_n(item, TTL) {
            Some(t) => Utc
                .timestamp_opt(t, 0)
                .single()
                .ok_or_else(|| StoreError::Corrupt("user ttl".into()))?,
            None => created_at + signin_core::config::default_user_retention(),
        },
    })
}

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

/// A person's record of one sign-in (the pointer from their partition to the redirection). A
/// pointer written before the history was kept holds only the owner and the window's end.
fn sign_in_from(item: &Item, id: &str) -> Result<SignInRecord, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(e);
    let id = RedirectionId::parse(id).map_err(|e| corrupt(e.to_string()))?;
    let owner =
        OwnerExternalId::parse(get_s(item, "owner")?).map_err(|e| corrupt(e.to_string()))?;
    let at = |secs: i64| Utc.timestamp_opt(secs, 0).single();
    let ttl = get_n(item, TTL)
        .and_then(at)
        .ok_or_else(|| corrupt("sign-in ttl".into()))?;
    let window_ends = get_n(item, "windowEnds").and_then(at).unwrap_or(ttl);
    Ok(SignInRecord {
        id,
        owner,
        created_at: get_n(item, "createdAt")
            .and_then(from_millis)
            .unwrap_or(window_ends - chrono::Duration::hours(24)),
        window_ends,
        outcome: match item.get("outcome") {
            Some(AttributeValue::S(o)) => Some(
                SignInOutcome::parse(o).ok_or_else(|| corrupt(format!("sign-in outcome {o}")))?,
            ),
            _ => None,
        },
        kept_until: ttl,
    })
}

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

fn is_condition_failure<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().and_then(|s| s.code()) == Some("ConditionalCheckFailedException")
}

/// The primary key of a read item.
fn key_of(item: &Item) -> Result<Item, StoreError> {
    Ok(HashMap::from([
        (PK.into(), s(get_s(item, PK)?)),
        (SK.into(), s(get_s(item, SK)?)),
    ]))
}

fn import_sk(record: &ImportRecord) -> String {
    format!(
        "{IMPORT_SK_PREFIX}{}#{}",
        record.imported_at.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        record.redirection_id
    )
}

/// Whether a conditional write happened: `Ok(false)` when its condition failed (a lost race or an
/// unmet precondition — an ordinary outcome), `Err` for every other failure.
fn applied<O, E, R>(result: Result<O, SdkError<E, R>>) -> Result<bool, StoreError>
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
    ) -> Result<Cas, StoreError> {
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
            Cas::Applied
        } else {
            Cas::Conflict
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

#[async_trait]
impl PersonStore for DynamoStore {
    async fn record_start(
        &self,
        candidate: &UserProfile,
        record_consent: bool,
        by: StartedBy,
    ) -> Result<UserProfile, StoreError> {
        // One write, no read first: what only a new user gets is `if_not_exists`; a record past
        // its retention that DynamoDB has not deleted yet is replaced whole. Only when a
        // condition fails is the record read, to decide the next attempt.
        let now = self.now_epoch();
        let fresh = [
            ("owner", s(candidate.owner.as_str())),
            ("email", s(candidate.email.as_str())),
            ("createdAt", n(millis(candidate.created_at))),
        ];
        let consent = [
            (
                "followUpConsent",
                AttributeValue::Bool(candidate.consent.given),
            ),
            ("consentAt", n(millis(candidate.consent.at))),
            ("consentSource", s(candidate.consent.source.as_str())),
        ];
        #[derive(Clone, Copy, PartialEq)]
        enum Attempt {
            /// Update the live record (or create one); `consent`: take the candidate's choice.
            Live { consent: bool },
            /// Replace a record past its retention (or gone since) whole.
            Lapsed,
        }
        let update = |attempt: Attempt| {
            let replace = attempt == Attempt::Lapsed;
            let set_consent = matches!(attempt, Attempt::Live { consent: true });
            let mut sets = vec![
                "#name = :name".to_owned(),
                "#language = :language".to_owned(),
                "#ttl = :ttl".to_owned(),
            ];
            let mut req = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(user_key(&candidate.key)))
                .expression_attribute_names("#name", "name")
                .expression_attribute_names("#language", "language")
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":name", s(candidate.name.clone()))
                .expression_attribute_values(":language", s(candidate.language.as_str()))
                .expression_attribute_values(":ttl", n(candidate.expires_at.timestamp()))
                .expression_attribute_values(":now", n(now))
                .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
            for (i, (attr, value)) in fresh.iter().enumerate() {
                req = req
                    .expression_attribute_names(format!("#f{i}"), *attr)
                    .expression_attribute_values(format!(":f{i}"), value.clone());
                sets.push(if replace {
                    format!("#f{i} = :f{i}")
                } else {
                    format!("#f{i} = if_not_exists(#f{i}, :f{i})")
                });
            }
            for (i, (attr, value)) in consent.iter().enumerate() {
                req = req
                    .expression_attribute_names(format!("#c{i}"), *attr)
                    .expression_attribute_values(format!(":c{i}"), value.clone());
                sets.push(if replace || set_consent {
                    format!("#c{i} = :c{i}")
                } else {
                    format!("#c{i} = if_not_exists(#c{i}, :c{i})")
                });
            }
            let mut expression = format!("SET {}", sets.join(", "));
            if replace {
                expression.push_str(
                    " REMOVE lastFollowUpAt, lastSuccessAt, optedOut, verifiedAt, sessionGeneration",
                );
                // Lapsed, or gone since (DynamoDB's TTL deleting it): a new record.
                req = req.condition_expression("attribute_not_exists(#ttl) OR #ttl <= :now");
            } else {
                if set_consent {
                    // A record from before consent had its time kept an opt-out apart; the
                    // choice made now replaces it.
                    expression.push_str(" REMOVE optedOut");
                }
                let mut condition = "(attribute_not_exists(#ttl) OR #ttl > :now)".to_owned();
                match by {
                    // Only the verified person changes their record.
                    StartedBy::Anonymous => {
                        condition.push_str(" AND attribute_not_exists(verifiedAt)")
                    }
                    StartedBy::Verified => condition.push_str(" AND attribute_exists(verifiedAt)"),
                }
                if set_consent && by == StartedBy::Anonymous {
                    // An anonymous start never replaces an unsubscribe (a tick would undo it,
                    // and a plain "no" would let the next tick undo it).
                    // (Records from before consent had its source kept an opt-out apart.)
                    condition.push_str(
                        " AND NOT (consentSource = :unsubscribed AND followUpConsent = :no) \
                         AND (attribute_not_exists(optedOut) OR optedOut = :no)",
                    );
                    req = req
                        .expression_attribute_values(
                            ":unsubscribed",
                            s(ConsentSource::Unsubscribe.as_str()),
                        )
                        .expression_attribute_values(":no", AttributeValue::Bool(false));
                }
                req = req.condition_expression(condition);
            }
            req.update_expression(expression)
        };
        let mut attempt = Attempt::Live {
            consent: record_consent,
        };
        for _ in 0..4 {
            match update(attempt).send().await {
                Ok(out) => {
                    return out
                        .attributes
                        .as_ref()
                        .ok_or_else(|| StoreError::Corrupt("no user after the write".into()))
                        .and_then(user_from)
                }
                Err(e) if is_condition_failure(&e) => {}
                Err(e) => return Err(unavailable(e)),
            }
            attempt = match (attempt, self.get_user(&candidate.key).await?) {
                // Lapsed or gone: a new record (an anonymous one; a logged-in person whose
                // record is gone must log in again).
                (_, None) if by == StartedBy::Verified => return Err(StoreError::NotVerified),
                (Attempt::Live { .. }, None) => Attempt::Lapsed,
                (_, Some(user)) if by == StartedBy::Anonymous && user.is_verified() => {
                    return Ok(user)
                }
                (_, Some(user)) if by == StartedBy::Verified && !user.is_verified() => {
                    return Err(StoreError::NotVerified)
                }
                (_, Some(user)) => Attempt::Live {
                    consent: record_consent && !(by == StartedBy::Anonymous && user.opted_out()),
                },
                // A concurrent start replaced the lapsed record first: that one is live now.
                (Attempt::Lapsed, None) => Attempt::Lapsed,
            };
        }
        Err(StoreError::Unavailable(
            "the user record kept changing".into(),
        ))
    }

    async fn get_user(&self, key: &UserKey) -> Result<Option<UserProfile>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(user_key(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        match out.item {
            // Past its retention: gone for us, whenever DynamoDB deletes it.
            Some(item) if get_n(&item, TTL).is_some_and(|t| t <= self.now_epoch()) => Ok(None),
            Some(item) => user_from(&item).map(Some),
            None => Ok(None),
        }
    }

    async fn record_consent(
        &self,
        key: &UserKey,
        choice: ConsentChoice,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(user_key(key)))
            // The choice made now replaces an opt-out kept apart by records from before consent
            // had its time.
            .update_expression(
                "SET followUpConsent = :given, consentAt = :at, consentSource = :source \
                 REMOVE optedOut",
            )
            // A record written before retention has no TTL: it is live.
            .condition_expression(
                "attribute_exists(#pk) AND (attribute_not_exists(#ttl) OR #ttl > :now)",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":given", AttributeValue::Bool(choice.given))
            .expression_attribute_values(":at", n(millis(choice.at)))
            .expression_attribute_values(":source", s(choice.source.as_str()))
            .expression_attribute_values(":now", n(self.now_epoch()))
            .send()
            .await;
        applied(result)
    }

    async fn verify_person(&self, candidate: &UserProfile) -> Result<UserProfile, StoreError> {
        let now = self.now_epoch();
        let verified_at = candidate.verified_at.unwrap_or(candidate.created_at);
        for _ in 0..4 {
            match self.get_user(&candidate.key).await? {
                Some(user) if user.is_verified() => return Ok(user),
                Some(user) => {
                    // The old owner id first, kept with the person: if the write below loses,
                    // a spare pointer is harmless; if it wins, erasure still finds the owner.
                    self.client
                        .put_item()
                        .table_name(&self.table)
                        .item(PK, s(format!("{USER_PREFIX}{}", candidate.key)))
                        .item(SK, s(format!("{FORMER_OWNER_PREFIX}{}", user.owner)))
                        .item("owner", s(user.owner.as_str()))
                        .item(TTL, n(user.expires_at.timestamp()))
                        .send()
                        .await
                        .map_err(unavailable)?;
                    let next = signin_core::ports::verified_record(&user, candidate);
                    let result = self
                        .client
                        .update_item()
                        .table_name(&self.table)
                        .set_key(Some(user_key(&candidate.key)))
                        .update_expression(
                            "SET verifiedAt = :verified, #owner = :owner, email = :email, \
                             #name = :name, followUpConsent = :consent, consentAt = :consentAt, \
                             consentSource = :consentSource REMOVE optedOut",
                        )
                        // Still the record read: unverified, with the owner id kept above.
                        .condition_expression(
                            "#owner = :old AND attribute_not_exists(verifiedAt) \
                             AND (attribute_not_exists(#ttl) OR #ttl > :now)",
                        )
                        .expression_attribute_names("#owner", "owner")
                        .expression_attribute_names("#name", "name")
                        .expression_attribute_names("#ttl", TTL)
                        .expression_attribute_values(":verified", n(millis(verified_at)))
                        .expression_attribute_values(":owner", s(next.owner.as_str()))
                        .expression_attribute_values(":old", s(user.owner.as_str()))
                        .expression_attribute_values(":email", s(next.email.as_str()))
                        .expression_attribute_values(":name", s(next.name.clone()))
                        .expression_attribute_values(
                            ":consent",
                            AttributeValue::Bool(next.consent.given),
                        )
                        .expression_attribute_values(":consentAt", n(millis(next.consent.at)))
                        .expression_attribute_values(
                            ":consentSource",
                            s(next.consent.source.as_str()),
                        )
                        .expression_attribute_values(":now", n(now))
                        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
                        .send()
                        .await;
                    match result {
                        Ok(out) => {
                            return out
                                .attributes
                                .as_ref()
                                .ok_or_else(|| {
                                    StoreError::Corrupt("no user after the write".into())
                                })
                                .and_then(user_from)
                        }
                        Err(e) if is_condition_failure(&e) => continue,
                        Err(e) => return Err(unavailable(e)),
                    }
                }
                None => {
                    // No live record (none, or past its retention): the candidate, whole.
                    let mut item = user_key(&candidate.key);
                    item.insert("owner".into(), s(candidate.owner.as_str()));
                    item.insert("email".into(), s(candidate.email.as_str()));
                    item.insert("name".into(), s(candidate.name.clone()));
                    item.insert("language".into(), s(candidate.language.as_str()));
                    item.insert("createdAt".into(), n(millis(candidate.created_at)));
                    item.insert(
                        "followUpConsent".into(),
                        AttributeValue::Bool(candidate.consent.given),
                    );
                    item.insert("consentAt".into(), n(millis(candidate.consent.at)));
                    item.insert("consentSource".into(), s(candidate.consent.source.as_str()));
                    item.insert("verifiedAt".into(), n(millis(verified_at)));
                    item.insert(TTL.into(), n(candidate.expires_at.timestamp()));
                    let replaced = self
                        .client
                        .put_item()
                        .table_name(&self.table)
                        .set_item(Some(item))
                        .condition_expression("attribute_not_exists(#ttl) OR #ttl <= :now")
                        .expression_attribute_names("#ttl", TTL)
                        .expression_attribute_values(":now", n(now))
                        .send()
                        .await;
                    if applied(replaced)? {
                        return Ok(UserProfile {
                            verified_at: Some(verified_at),
                            ..candidate.clone()
                        });
                    }
                }
            }
        }
        Err(StoreError::Unavailable(
            "the user record kept changing".into(),
        ))
    }

    async fn end_sessions(&self, key: &UserKey) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(user_key(key)))
            .update_expression("ADD sessionGeneration :one")
            .condition_expression(
                "attribute_exists(#pk) AND (attribute_not_exists(#ttl) OR #ttl > :now)",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(self.now_epoch()))
            .send()
            .await;
        applied(result)
    }

    async fn record_success(&self, key: &UserKey, at: Timestamp) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(user_key(key)))
            .update_expression("SET lastSuccessAt = :t")
            .condition_expression(
                "attribute_exists(#pk) AND (attribute_not_exists(lastSuccessAt) OR lastSuccessAt < :t)",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":t", n(millis(at)))
            .send()
            .await;
        // A failed condition: no such user, or a later success is recorded already.
        applied(result).map(|_| ())
    }

    async fn sign_ins(&self, key: &UserKey) -> Result<Vec<SignInRecord>, StoreError> {
        let now = self.now_epoch();
        let mut found = vec![];
        for item in self
            .query_all(&format!("{USER_PREFIX}{key}"), Some(REDIRECTION_PREFIX))
            .await?
        {
            let sk = get_s(&item, SK)?;
            let id = sk.trim_start_matches(REDIRECTION_PREFIX);
            let record = sign_in_from(&item, id)?;
            if record.kept_until.timestamp() > now {
                found.push(record);
            }
        }
        found.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        Ok(found)
    }

    async fn record_sign_in_outcome(
        &self,
        key: &UserKey,
        id: &RedirectionId,
        outcome: SignInOutcome,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(format!("{USER_PREFIX}{key}")))
            .key(SK, s(format!("{REDIRECTION_PREFIX}{id}")))
            .update_expression("SET outcome = :outcome")
            // Never recreates a record an erasure deleted.
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":outcome", s(outcome.as_str()))
            .send()
            .await;
        applied(result).map(|_| ())
    }

    async fn personal_data(&self, key: &UserKey) -> Result<PersonalData, StoreError> {
        let mut found = PersonalData::default();
        for item in self.partition(&format!("{USER_PREFIX}{key}")).await? {
            let sk = get_s(&item, SK)?;
            if sk == USER_SK {
                let user = user_from(&item)?;
                found.owners.insert(user.owner.clone());
                if user.expires_at.timestamp() > self.now_epoch() {
                    found.user = Some(user);
                }
            } else if sk.starts_with(FORMER_OWNER_PREFIX) {
                let owner = OwnerExternalId::parse(get_s(&item, "owner")?)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                found.owners.insert(owner);
            } else if let Some(id) = sk.strip_prefix(REDIRECTION_PREFIX) {
                let id =
                    RedirectionId::parse(id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let owner = OwnerExternalId::parse(get_s(&item, "owner")?)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                found.owners.insert(owner);
                found.redirections.push(id);
            }
        }
        for owner in &found.owners {
            found.imports += self.import_items(owner).await?.len();
        }
        Ok(found)
    }

    async fn erase_person(&self, key: &UserKey) -> Result<PersonalData, StoreError> {
        let found = self.personal_data(key).await?;
        // Redirections (and with them their poll index entries), then import records, then
        // the person's partition last: until it is gone, a repeated erasure still finds what
        // an interrupted one left.
        for id in &found.redirections {
            self.delete(redirection_key(id)).await?;
        }
        for owner in &found.owners {
            for item in self.import_items(owner).await? {
                self.delete(key_of(&item)?).await?;
            }
        }
        for item in self.partition(&format!("{USER_PREFIX}{key}")).await? {
            self.delete(key_of(&item)?).await?;
        }
        Ok(found)
    }
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
