//! The DynamoDB [`PersonStore`]: the person's record, consent, verification, their sign-ins, and
//! what erasure finds and deletes.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{TimeZone, Utc};
use signin_core::domain::{Email, Language, OwnerExternalId, RedirectionId, Timestamp, UserKey};
use signin_core::ports::{
    ConsentChoice, ConsentSource, PersonStore, PersonalData, SignInOutcome, SignInRecord,
    StartedBy, StoreError, UserProfile,
};

use super::items::{
    applied, from_millis, get_bool, get_n, get_s, is_condition_failure, key_of, millis, n,
    redirection_key, s, unavailable, user_key, Item,
};
use super::DynamoStore;
use crate::schema::*;

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
        // The profile last of all (it sorts before the `REDIR#` pointers): a repeated erasure
        // checks its link against the profile, so the profile must outlive everything else.
        let mut partition = self.partition(&format!("{USER_PREFIX}{key}")).await?;
        partition.sort_by_key(|item| get_s(item, SK).ok() == Some(USER_SK));
        for item in partition {
            // The case's lookups go before the case (which names them).
            if get_s(&item, SK).ok() == Some(CASE_SK) {
                if let Ok(case) = super::cases::case_from(&item) {
                    self.delete(alias_key(&super::cases::reference_alias(&case.reference)))
                        .await?;
                    if let Some(x) = &case.external_application_id {
                        // Only if it is still theirs: another case may have taken the id since.
                        let deleted = self
                            .client
                            .delete_item()
                            .table_name(&self.table)
                            .set_key(Some(alias_key(&super::cases::external_alias(x))))
                            .condition_expression("#user = :me")
                            .expression_attribute_names("#user", "user")
                            .expression_attribute_values(":me", s(key.as_str()))
                            .send()
                            .await;
                        applied(deleted)?;
                    }
                }
            }
            self.delete(key_of(&item)?).await?;
        }
        Ok(found)
    }
}

/// The key of one of a case's lookups.
fn alias_key(alias: &str) -> Item {
    std::collections::HashMap::from([(PK.into(), s(alias)), (SK.into(), s(CASE_SK))])
}
