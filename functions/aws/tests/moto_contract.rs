//! The AWS adapters on the real AWS wire protocol: the AWS SDK for Rust against moto server.
//! They run the very same contract checks as the embedded adapters (signin_core::contract).
//!
//! moto comes from `MOTO_ENDPOINT` (set by `infra/scripts/test-all.sh`); without it the tests
//! start their own moto server, and fail — never skip — when it cannot be started.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Duration;
use signin_aws::schema::{self, create_table};
use signin_aws::testing::{recorded_raw_mail, sdk_config};
use signin_aws::{DynamoStore, SesMailer, SqsQueue};
use signin_core::clock::{Clock, SimClock};
use signin_core::contract::{self, RecordedMail, TimePasses};
use signin_core::domain::import::{AccountSummary, ImportSummary};
use signin_core::domain::machine::{apply, Event};
use signin_core::ports::{
    ImportRecord, ImportRecordStore, Mailer, PersonStore, RedirectionStore, StartedBy,
};

async fn sdk() -> SdkConfig {
    sdk_config().await
}

async fn dynamo() -> (aws_sdk_dynamodb::Client, String) {
    let client = aws_sdk_dynamodb::Client::new(&sdk().await);
    let table = contract::unique("signin");
    create_table(&client, &table).await.unwrap();
    (client, table)
}

async fn store() -> (Arc<DynamoStore>, SimClock) {
    let clock = SimClock::at_default_start();
    let (client, table) = dynamo().await;
    (
        Arc::new(DynamoStore::new(client, table, Arc::new(clock.clone()))),
        clock,
    )
}

#[tokio::test]
async fn dynamo_conditional_writes() {
    let (s, c) = store().await;
    contract::store_conditional_writes(s.as_ref(), &c).await;
}

#[tokio::test]
async fn dynamo_race_has_one_winner() {
    let (s, c) = store().await;
    contract::store_race_has_one_winner(s, &c).await;
}

#[tokio::test]
async fn dynamo_ttl_hides_forgotten_items() {
    let (s, c) = store().await;
    contract::store_ttl_hides_forgotten_items(s.as_ref(), &c).await;
}

#[tokio::test]
async fn dynamo_due_for_poll() {
    let (s, c) = store().await;
    contract::store_due_for_poll(s.as_ref(), &c).await;
}

#[tokio::test]
async fn dynamo_users() {
    let (s, c) = store().await;
    contract::store_users(s.as_ref(), &c).await;
}

#[tokio::test]
async fn dynamo_retention() {
    let (s, c) = store().await;
    contract::store_retention(s.as_ref(), &c).await;
}

#[tokio::test]
async fn dynamo_allowances() {
    let (s, c) = store().await;
    // Sequential: moto does not make a conditional update atomic under concurrent requests.
    contract::store_allowances(s, &c, false).await;
}

#[tokio::test]
async fn dynamo_staff_sessions() {
    let (s, c) = store().await;
    contract::store_staff_sessions(s.as_ref(), &c).await;
}

#[tokio::test]
async fn dynamo_case_lookups() {
    let (s, c) = store().await;
    contract::store_case_lookups(s.as_ref(), &c).await;
}

#[tokio::test]
async fn dynamo_access_grants() {
    let (s, c) = store().await;
    contract::store_access_grants(s.as_ref(), &c).await;
}

#[tokio::test]
async fn dynamo_cases() {
    let (s, c) = store().await;
    contract::store_cases(s.as_ref(), &c).await;
}

#[tokio::test]
async fn dynamo_import_slots() {
    let (s, c) = store().await;
    contract::store_import_slots(s.as_ref(), &c).await;
}

#[tokio::test]
async fn dynamo_identity() {
    let (s, c) = store().await;
    contract::store_identity(s.as_ref(), &c).await;
}

#[tokio::test]
async fn dynamo_erasure() {
    let (s, c) = store().await;
    contract::store_erasure(s.as_ref(), &c).await;
}

#[tokio::test]
async fn dynamo_imports_and_funnel() {
    let (s, c) = store().await;
    // Moto's UpdateItem is not atomic under concurrent requests (DynamoDB's ADD is).
    contract::store_imports_and_funnel(s, &c, false).await;
}

#[tokio::test]
async fn dynamo_items_carry_ttl_and_leave_the_sparse_index() {
    let clock = SimClock::at_default_start();
    let (client, table) = dynamo().await;
    let store = DynamoStore::new(client.clone(), &table, Arc::new(clock.clone()));

    let ttl = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let spec = ttl.time_to_live_description().unwrap();
    assert_eq!(spec.attribute_name(), Some(schema::TTL));

    let r = contract::new_redirection(&contract::unique("raw"), "raw@example.com", &clock);
    store.create_redirection(&r).await.unwrap();
    let raw = |client: aws_sdk_dynamodb::Client, table: String, id: String| async move {
        client
            .get_item()
            .table_name(table)
            .key(schema::PK, AttributeValue::S(format!("REDIR#{id}")))
            .key(schema::SK, AttributeValue::S("META".into()))
            .send()
            .await
            .unwrap()
            .item
            .unwrap()
    };
    let item = raw(client.clone(), table.clone(), r.id.to_string()).await;
    assert_eq!(
        item[schema::TTL],
        AttributeValue::N((clock.now().timestamp() + 24 * 3600).to_string()),
        "ttl = created + 24 h, in epoch seconds"
    );
    assert!(
        item.contains_key(schema::GSI1PK),
        "a new redirection is due for polling"
    );

    let done = apply(&r, Event::LinkExpired { follow_up_at: None }, clock.now()).unwrap();
    store.save_redirection(&done, r.expected()).await.unwrap();
    let item = raw(client, table, r.id.to_string()).await;
    assert!(
        !item.contains_key(schema::GSI1PK),
        "final: out of the poll index"
    );
    assert!(!item.contains_key(schema::GSI1SK));
}

#[tokio::test]
async fn dynamo_import_records_stay_under_the_item_limit() {
    let (s, c) = store().await;
    let owner = signin_core::domain::OwnerExternalId::parse("own-big").unwrap();
    let huge = AccountSummary {
        name: "x".repeat(10_000),
        ..Default::default()
    };
    let rec = ImportRecord {
        owner: owner.clone(),
        redirection_id: signin_core::domain::RedirectionId::parse("big").unwrap(),
        imported_at: c.now(),
        summary: ImportSummary {
            accounts: vec![huge; 80],
            accounts_total: 80,
            ..Default::default()
        },
        credit: None,
        source: Default::default(),
        expires_at: c.now() + chrono::Duration::days(90),
    };
    s.put_import_record(&rec).await.unwrap();
    let back = s.import_records(&owner).await.unwrap();
    assert_eq!(back.len(), 1);
    assert!(
        back[0].summary.accounts.len() < 80,
        "trimmed to fit one item"
    );
    assert_eq!(back[0].summary.accounts_total, 80, "the count stays true");
}

#[test]
fn the_dynamodb_adapter_never_scans() {
    // Every file of the adapter, and a check that the list names every file there is.
    const SOURCES: [(&str, &str); 9] = [
        ("allowances.rs", include_str!("../src/dynamo/allowances.rs")),
        ("cases.rs", include_str!("../src/dynamo/cases.rs")),
        ("funnel.rs", include_str!("../src/dynamo/funnel.rs")),
        (
            "import_records.rs",
            include_str!("../src/dynamo/import_records.rs"),
        ),
        ("items.rs", include_str!("../src/dynamo/items.rs")),
        ("logins.rs", include_str!("../src/dynamo/logins.rs")),
        ("mod.rs", include_str!("../src/dynamo/mod.rs")),
        ("people.rs", include_str!("../src/dynamo/people.rs")),
        (
            "redirections.rs",
            include_str!("../src/dynamo/redirections.rs"),
        ),
    ];
    let mut on_disk: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/dynamo"))
            .expect("the adapter's folder")
            .map(|entry| {
                entry
                    .expect("a file of the adapter")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
    on_disk.sort();
    let listed: Vec<&str> = SOURCES.iter().map(|(name, _)| *name).collect();
    assert_eq!(on_disk, listed, "every file of src/dynamo/ is checked");
    for (name, source) in SOURCES {
        assert!(
            !source.contains(".scan()"),
            "DynamoStore must not Scan ({name})"
        );
    }
}

struct RealTime;

#[async_trait]
impl TimePasses for RealTime {
    async fn pass(&self, d: StdDuration) {
        tokio::time::sleep(d).await;
    }
}

#[tokio::test]
async fn sqs_queue_semantics() {
    let client = aws_sdk_sqs::Client::new(&sdk().await);
    let url = client
        .create_queue()
        .queue_name(contract::unique("imports"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue = SqsQueue::new(client, url);
    contract::queue_semantics(&queue, &RealTime).await;
}

#[tokio::test]
async fn ses_raw_mail_keeps_parts_and_headers() {
    let conf = sdk().await;
    let client = aws_sdk_sesv2::Client::new(&conf);
    let sender = "no-reply@lender.example";
    client
        .create_email_identity()
        .email_identity(sender)
        .send()
        .await
        .unwrap();
    let config_set = contract::unique("signin");
    client
        .create_configuration_set()
        .configuration_set_name(&config_set)
        .send()
        .await
        .unwrap();
    let clock = SimClock::at_default_start();
    let mailer = SesMailer::new(
        client,
        format!("Lender <{sender}>"),
        Some(config_set),
        Arc::new(clock),
    );
    let mut mail = contract::sample_marketing_mail("ann@example.com");
    let marker = contract::unique("subject");
    mail.subject = format!("{} {marker}", mail.subject);
    let id = mailer.send(&mail).await.unwrap();
    assert!(!id.is_empty());

    let recorded: Vec<RecordedMail> = recorded_raw_mail()
        .await
        .into_iter()
        .filter(|(mid, _)| *mid == id)
        .map(|(_, raw)| {
            let parsed = mail_parser::MessageParser::default()
                .parse(raw.as_bytes())
                .unwrap();
            let headers = parsed
                .headers_raw()
                .map(|(n, v)| (n.to_owned(), v.trim().to_owned()))
                .collect();
            RecordedMail {
                to: parsed
                    .to()
                    .and_then(|a| a.first())
                    .and_then(|a| a.address())
                    .unwrap_or_default()
                    .to_owned(),
                subject: parsed.subject().unwrap_or_default().to_owned(),
                text: parsed.body_text(0).unwrap_or_default().into_owned(),
                html: parsed.body_html(0).unwrap_or_default().into_owned(),
                headers,
            }
        })
        .collect();
    assert_eq!(recorded.len(), 1, "moto recorded the raw message");
    contract::mail_was_recorded(&mail, &recorded);
}

#[tokio::test]
async fn a_second_redirection_store_on_the_same_table_sees_the_same_items() {
    let clock = SimClock::at_default_start();
    let (client, table) = dynamo().await;
    let a = DynamoStore::new(client.clone(), &table, Arc::new(clock.clone()));
    let b = DynamoStore::new(client, &table, Arc::new(clock.clone()));
    let r = contract::new_redirection(&contract::unique("two"), "two@example.com", &clock);
    a.create_redirection(&r).await.unwrap();
    assert_eq!(b.get_redirection(&r.id).await.unwrap(), Some(r.clone()));
    clock.advance(Duration::hours(25));
    assert_eq!(b.get_redirection(&r.id).await.unwrap(), None);
}

/// DynamoDB's TTL deletes a lapsed user record between a start's attempts (the update of a live
/// record refused, the record gone before the replace of a lapsed one): the start still
/// records the user, as a new record, instead of failing the start page.
#[tokio::test]
async fn dynamo_a_start_survives_its_lapsed_record_deleted_between_attempts() {
    use aws_smithy_runtime_api::client::http::HttpConnector as _;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let clock = SimClock::at_default_start();
    let (plain, table) = dynamo().await;
    let setup = DynamoStore::new(plain.clone(), table.clone(), Arc::new(clock.clone()));
    let email = format!("{}@example.com", contract::unique("lapsed"));
    let mut lapsing = contract::user(&email, &clock);
    lapsing.expires_at = clock.now() + Duration::days(1);
    setup
        .record_start(&lapsing, true, StartedBy::Anonymous)
        .await
        .unwrap();
    clock.advance(Duration::days(2));

    // Before the start's second update, the table's TTL takes the lapsed record.
    let updates = Arc::new(AtomicUsize::new(0));
    let around: signin_aws::testing::Around = {
        let (plain, table) = (plain.clone(), table.clone());
        Arc::new(move |request, connection| {
            let nth = if signin_aws::testing::dynamodb_operation(&request) == Some("UpdateItem") {
                updates.fetch_add(1, Ordering::SeqCst) + 1
            } else {
                0
            };
            let (plain, table) = (plain.clone(), table.clone());
            aws_smithy_runtime_api::client::http::HttpConnectorFuture::new(async move {
                if nth == 2 {
                    let items = plain.scan().table_name(&table).send().await.unwrap();
                    for item in items.items() {
                        plain
                            .delete_item()
                            .table_name(&table)
                            .key(schema::PK, item[schema::PK].clone())
                            .key(schema::SK, item[schema::SK].clone())
                            .send()
                            .await
                            .unwrap();
                    }
                }
                connection.call(request).await
            })
        })
    };
    let aws = sdk()
        .await
        .into_builder()
        .http_client(signin_aws::testing::http_client_around(around))
        .build();
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&aws),
        table,
        Arc::new(clock.clone()),
    );
    let mut fresh = contract::user(&email, &clock);
    fresh.owner = signin_core::domain::OwnerExternalId::generate();
    let started = store
        .record_start(&fresh, true, StartedBy::Anonymous)
        .await
        .expect("the start failed on a record that went between its attempts");
    assert_eq!(
        started.owner, fresh.owner,
        "a new record, not the lapsed one"
    );
    assert_eq!(
        store.get_user(&fresh.key).await.unwrap().map(|u| u.owner),
        Some(fresh.owner)
    );
}

/// A record from before consent had its source kept an opt-out apart (`optedOut`): it reads
/// as an unsubscribe, an anonymous tick does not undo it, and the verified person's own choice
/// does (the old mark goes with it).
#[tokio::test]
async fn dynamo_an_old_opt_out_is_an_unsubscribe_only_the_verified_person_undoes() {
    let clock = SimClock::at_default_start();
    let (client, table) = dynamo().await;
    let store = DynamoStore::new(client.clone(), table.clone(), Arc::new(clock.clone()));
    let email = format!("{}@example.com", contract::unique("old-opt-out"));
    let typed = contract::user(&email, &clock);
    let ms = |t: chrono::DateTime<chrono::Utc>| AttributeValue::N(t.timestamp_millis().to_string());
    client
        .put_item()
        .table_name(&table)
        .item(
            schema::PK,
            AttributeValue::S(format!("{}{}", schema::USER_PREFIX, typed.key)),
        )
        .item(schema::SK, AttributeValue::S(schema::USER_SK.into()))
        .item("owner", AttributeValue::S(typed.owner.as_str().into()))
        .item("email", AttributeValue::S(email.clone()))
        .item("name", AttributeValue::S("Ann".into()))
        .item("language", AttributeValue::S("en".into()))
        .item("createdAt", ms(clock.now()))
        .item("followUpConsent", AttributeValue::Bool(true))
        .item("consentAt", ms(clock.now()))
        .item("consentSource", AttributeValue::S("start_form".into()))
        .item("optedOut", AttributeValue::Bool(true))
        .item(
            schema::TTL,
            AttributeValue::N((clock.now() + Duration::days(30)).timestamp().to_string()),
        )
        .send()
        .await
        .unwrap();
    let read = store.get_user(&typed.key).await.unwrap().unwrap();
    assert!(read.opted_out(), "{:?}", read.consent);
    clock.advance(Duration::minutes(1));
    let ticked = store
        .record_start(&contract::user(&email, &clock), true, StartedBy::Anonymous)
        .await
        .expect("the start is recorded, without the tick");
    assert!(
        ticked.opted_out(),
        "an anonymous tick undid an old opt-out: {:?}",
        ticked.consent
    );
    let mut proven = contract::user(&email, &clock);
    proven.verified_at = Some(clock.now());
    store.verify_person(&proven).await.unwrap();
    let own = signin_core::ports::ConsentChoice {
        given: true,
        at: clock.now(),
        source: signin_core::ports::ConsentSource::Verified,
    };
    assert!(store.record_consent(&typed.key, own).await.unwrap());
    let after = store.get_user(&typed.key).await.unwrap().unwrap();
    assert!(after.follow_up_consent(), "{:?}", after.consent);
}
