//! The contracts run against the embedded adapters (the AWS ones run them against moto server
//! in signin-aws's tests).

use std::sync::Arc;
use std::time::Duration as StdDuration;

use super::*;
use crate::adapters::embedded::{EmbeddedQueue, EmbeddedStore, Outbox};
use crate::clock::SimClock;
use crate::ports::{
    FunnelStep, FunnelStore, ImportJob, ImportQueue, ImportQueueConsumer, ImportRecordStore,
    Mailer, PersonStore, RedirectionStore, StartedBy,
};

fn setup() -> (Arc<EmbeddedStore>, SimClock) {
    let clock = SimClock::at_default_start();
    (Arc::new(EmbeddedStore::new(Arc::new(clock.clone()))), clock)
}

#[tokio::test]
async fn embedded_store_conditional_writes() {
    let (s, c) = setup();
    store_conditional_writes(s.as_ref(), &c).await;
}

#[tokio::test]
async fn embedded_store_race() {
    let (s, c) = setup();
    store_race_has_one_winner(s, &c).await;
}

#[tokio::test]
async fn embedded_store_ttl() {
    let (s, c) = setup();
    store_ttl_hides_forgotten_items(s.as_ref(), &c).await;
    // The embedded store, like DynamoDB, may still hold the item physically.
    assert_eq!(s.physical_redirection_count(), 1);
}

#[tokio::test]
async fn embedded_sweep_deletes_only_forgotten_items() {
    let (s, c) = setup();
    let old = new_redirection("old", "o@example.com", &c);
    s.create_redirection(&old).await.unwrap();
    c.advance(Duration::hours(12));
    let young = new_redirection("young", "y@example.com", &c);
    s.create_redirection(&young).await.unwrap();
    c.advance(Duration::hours(12));
    assert_eq!(s.sweep_expired(), 1);
    assert_eq!(s.physical_redirection_count(), 1);
    assert!(s.get_redirection(&young.id).await.unwrap().is_some());
}

#[tokio::test]
async fn embedded_store_due() {
    let (s, c) = setup();
    store_due_for_poll(s.as_ref(), &c).await;
}

#[tokio::test]
async fn embedded_store_users() {
    let (s, c) = setup();
    store_users(s.as_ref(), &c).await;
}

#[tokio::test]
async fn embedded_store_retention() {
    let (s, c) = setup();
    store_retention(s.as_ref(), &c).await;
}

#[tokio::test]
async fn embedded_store_allowances() {
    let (s, c) = setup();
    store_allowances(s, &c, true).await;
}

#[tokio::test]
async fn embedded_store_staff_sessions() {
    let (s, c) = setup();
    store_staff_sessions(s.as_ref(), &c).await;
}

#[tokio::test]
async fn embedded_store_import_slots() {
    let (s, c) = setup();
    store_import_slots(s.as_ref(), &c).await;
}

#[tokio::test]
async fn embedded_store_identity() {
    let (s, c) = setup();
    store_identity(s.as_ref(), &c).await;
}

#[tokio::test]
async fn embedded_store_erasure() {
    let (s, c) = setup();
    store_erasure(s.as_ref(), &c).await;
}

#[tokio::test]
async fn embedded_store_imports_and_funnel() {
    let (s, c) = setup();
    store_imports_and_funnel(s, &c, true).await;
}

#[tokio::test]
async fn embedded_queue() {
    let clock = SimClock::at_default_start();
    let q = EmbeddedQueue::new(Arc::new(clock.clone()), 5);
    queue_semantics(&q, &clock).await;
}

#[tokio::test]
async fn embedded_queue_dead_letters_after_max_receives() {
    let clock = SimClock::at_default_start();
    let q = EmbeddedQueue::new(Arc::new(clock.clone()), 2);
    let job = ImportJob {
        redirection_id: RedirectionId::parse("poison").unwrap(),
        continuation: 0,
    };
    q.enqueue(&job, StdDuration::ZERO).await.unwrap();
    for _ in 0..2 {
        assert_eq!(
            q.receive(1, StdDuration::from_secs(1)).await.unwrap().len(),
            1
        );
        clock.advance(Duration::seconds(2));
    }
    assert!(q
        .receive(1, StdDuration::from_secs(1))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(q.dead_letters(), vec![job]);
    assert!(q.is_empty());
}

#[tokio::test]
async fn embedded_outbox() {
    let clock = SimClock::at_default_start();
    let outbox = Outbox::new(Arc::new(clock));
    let mail = sample_marketing_mail("ann@example.com");
    outbox.fail_next(1);
    assert!(outbox.send(&mail).await.is_err());
    outbox.send(&mail).await.unwrap();
    let recorded: Vec<RecordedMail> = outbox
        .sent()
        .into_iter()
        .map(|s| RecordedMail {
            to: s.mail.to.to_string(),
            subject: s.mail.subject,
            text: s.mail.text,
            html: s.mail.html,
            headers: s.mail.headers,
        })
        .collect();
    mail_was_recorded(&mail, &recorded);
}

#[tokio::test]
async fn embedded_store_survives_a_snapshot_round_trip() {
    let (s, c) = setup();
    let r = new_redirection("snap", "s@example.com", &c);
    s.create_redirection(&r).await.unwrap();
    let u = user("s@example.com", &c);
    s.record_start(&u, true, StartedBy::Anonymous)
        .await
        .unwrap();
    let rec = import_record(&r.owner, r.id.as_str(), &c);
    s.put_import_record(&rec).await.unwrap();
    let day = c.now().date_naive();
    s.add_to_funnel(day, FunnelStep::Imported, 2).await.unwrap();
    let json = s.snapshot().unwrap();
    let (other, _) = setup();
    other.restore(&json).unwrap();
    assert_eq!(other.get_redirection(&r.id).await.unwrap(), Some(r.clone()));
    assert_eq!(other.get_user(&u.key).await.unwrap(), Some(u));
    assert_eq!(other.import_records(&r.owner).await.unwrap(), vec![rec]);
    assert_eq!(
        other.funnel(day, day).await.unwrap()[0].get(FunnelStep::Imported),
        2
    );
    assert!(other.restore("not json").is_err());
}

#[tokio::test]
async fn embedded_store_cases() {
    let (s, c) = setup();
    store_cases(s.as_ref(), &c).await;
}

#[tokio::test]
async fn embedded_store_case_lookups() {
    let (s, c) = setup();
    store_case_lookups(s.as_ref(), &c).await;
}

#[tokio::test]
async fn embedded_store_access_grants() {
    let (s, c) = setup();
    store_access_grants(s.as_ref(), &c).await;
}
