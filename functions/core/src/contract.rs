//! Contract tests shared by every adapter of a port: the embedded ones run them in this crate's
//! unit tests; the AWS ones run the very same functions against moto server. An adapter that
//! passes these behaves like the others wherever the use cases can tell.
//!
//! Each check panics with a message naming what broke, like any test assertion.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{Duration, NaiveDate};

use crate::clock::{Clock, SimClock};
use crate::domain::import::ImportSummary;
use crate::domain::machine::{apply, Event, NewRedirection, Redirection, State};
use crate::domain::{AccessMode, Country, Email, Language, OwnerExternalId, RedirectionId};
use crate::ports::{
    poll_shard, Allowance, Cas, ConsentChoice, ConsentSource, Created, FollowUpClaim, FunnelStep,
    ImportJob, ImportQueue, ImportQueueConsumer, ImportRecord, LoginRequest, MailCategory,
    OutgoingEmail, SignInOutcome, SignInRecord, StartedBy, Store, StoreError, UserProfile,
    POLL_SHARDS,
};

/// A redirection created now on `clock`, first poll 5 minutes later.
pub fn new_redirection(id: &str, email: &str, clock: &dyn Clock) -> Redirection {
    let now = clock.now();
    Redirection::new(
        NewRedirection {
            id: RedirectionId::parse(id).unwrap(),
            owner: OwnerExternalId::parse("own-contract").unwrap(),
            email: Email::parse(email).unwrap(),
            language: Language::parse("pl").unwrap(),
            country: Country::parse("pl").unwrap(),
            access_mode: AccessMode::Single,
            link: format!("https://example.test/signin/{id}"),
            first_poll_at: now + Duration::minutes(5),
        },
        now,
    )
}

/// A user record for `email`, created now, kept a year.
pub fn user(email: &str, clock: &dyn Clock) -> UserProfile {
    let email = Email::parse(email).unwrap();
    UserProfile {
        key: email.user_key(),
        owner: OwnerExternalId::generate(),
        email,
        name: "Ann".into(),
        language: Language::parse("en").unwrap(),
        consent: ConsentChoice {
            given: true,
            at: clock.now(),
            source: ConsentSource::StartForm,
        },
        created_at: clock.now(),
        last_follow_up_at: None,
        last_success_at: None,
        expires_at: clock.now() + Duration::days(365),
        verified_at: None,
        session_generation: 0,
    }
}

fn import_record(owner: &OwnerExternalId, id: &str, clock: &dyn Clock) -> ImportRecord {
    ImportRecord {
        owner: owner.clone(),
        redirection_id: RedirectionId::parse(id).unwrap(),
        imported_at: clock.now(),
        summary: ImportSummary::default(),
        expires_at: clock.now() + Duration::days(90),
    }
}

/// A prefix that keeps one run's ids apart from another's in a shared table.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Create-if-absent, read back, and conditional writes on state *and* version.
pub async fn store_conditional_writes(store: &dyn Store, clock: &SimClock) {
    let r = new_redirection(&unique("cw"), "cw@example.com", clock);
    assert_eq!(
        store.create_redirection(&r).await.unwrap(),
        Created::Created
    );
    assert_eq!(
        store.create_redirection(&r).await.unwrap(),
        Created::AlreadyExists,
        "a second create of the same id must not overwrite"
    );
    assert_eq!(store.get_redirection(&r.id).await.unwrap(), Some(r.clone()));

    let pending = apply(
        &r,
        Event::StillOpen {
            status: crate::domain::KontomatikStatus::InProgress,
            next_poll_at: Some(clock.now() + Duration::minutes(7)),
        },
        clock.now(),
    )
    .unwrap();
    assert_eq!(
        store
            .save_redirection(&pending, r.expected())
            .await
            .unwrap(),
        Cas::Applied
    );
    // The same transition again, from the now stale expectation, loses.
    assert_eq!(
        store
            .save_redirection(&pending, r.expected())
            .await
            .unwrap(),
        Cas::Conflict,
        "a write expecting a stale version must lose"
    );
    // Right version, wrong state: loses too.
    let mut wrong_state = pending.expected();
    wrong_state.state = State::Created;
    assert_eq!(
        store.save_redirection(&pending, wrong_state).await.unwrap(),
        Cas::Conflict
    );
    assert_eq!(
        store.get_redirection(&r.id).await.unwrap(),
        Some(pending.clone())
    );
    // Saving an id that does not exist is a conflict, never an upsert.
    let ghost = new_redirection(&unique("ghost"), "g@example.com", clock);
    assert_eq!(
        store
            .save_redirection(&ghost, ghost.expected())
            .await
            .unwrap(),
        Cas::Conflict
    );
    assert_eq!(store.get_redirection(&ghost.id).await.unwrap(), None);
}

/// Many writers race for the same transition: exactly one wins.
pub async fn store_race_has_one_winner(store: Arc<dyn Store>, clock: &SimClock) {
    let r = new_redirection(&unique("race"), "race@example.com", clock);
    store.create_redirection(&r).await.unwrap();
    let mut tasks = vec![];
    for i in 0..8 {
        let store = store.clone();
        let r = r.clone();
        let now = clock.now();
        tasks.push(tokio::spawn(async move {
            let next = apply(
                &r,
                Event::SignInFailed {
                    error: crate::domain::ErrorInfo {
                        code: format!("E{i}"),
                        message: "racing".into(),
                    },
                    follow_up_at: None,
                },
                now,
            )
            .unwrap();
            store.save_redirection(&next, r.expected()).await.unwrap()
        }));
    }
    let mut applied = 0;
    for t in tasks {
        if t.await.unwrap() == Cas::Applied {
            applied += 1;
        }
    }
    assert_eq!(applied, 1, "exactly one racing writer wins");
    let stored = store.get_redirection(&r.id).await.unwrap().unwrap();
    assert_eq!(stored.state, State::Failed);
    assert_eq!(stored.version, r.version + 1);
}

/// An item past its 24 h window is gone for every read, even before the store deletes it.
pub async fn store_ttl_hides_forgotten_items(store: &dyn Store, clock: &SimClock) {
    let r = new_redirection(&unique("ttl"), "ttl@example.com", clock);
    store.create_redirection(&r).await.unwrap();
    assert_eq!(
        r.ttl_epoch_seconds(),
        (r.created_at + Duration::hours(24)).timestamp()
    );
    clock.advance(Duration::hours(23) + Duration::minutes(59));
    assert!(store.get_redirection(&r.id).await.unwrap().is_some());
    clock.advance(Duration::minutes(1));
    assert_eq!(
        store.get_redirection(&r.id).await.unwrap(),
        None,
        "24 h after creation the item must read as absent"
    );
    let shard = poll_shard(&r.id);
    let due = store
        .due_for_poll(shard, clock.now(), 1000, None)
        .await
        .unwrap();
    assert!(
        due.items.iter().all(|i| i.id != r.id),
        "a forgotten item is never due"
    );
    let later = apply(&r, Event::WindowClosed { follow_up_at: None }, clock.now()).unwrap();
    assert_eq!(
        store.save_redirection(&later, r.expected()).await.unwrap(),
        Cas::Conflict,
        "a forgotten item cannot be written"
    );
    // Its id may be used again (Kontomatik forgot it too).
    let fresh = new_redirection(r.id.as_str(), "ttl@example.com", clock);
    assert_eq!(
        store.create_redirection(&fresh).await.unwrap(),
        Created::Created
    );
}

/// The due query: per shard, only due items, oldest first, paginated, and items that stop
/// needing polls leave the index.
pub async fn store_due_for_poll(store: &dyn Store, clock: &SimClock) {
    // Start from a clean slate of time so older items of a shared table are far in the past.
    clock.advance(Duration::days(30));
    let base = clock.now();
    let tag = unique("due");
    let mut expected_due = BTreeSet::new();
    let mut not_due = BTreeSet::new();
    for i in 0..24 {
        let mut r = new_redirection(&format!("{tag}-{i:02}"), "due@example.com", clock);
        // Spread next polls: some in the past (due), some in the future.
        let at = base + Duration::seconds(i64::from(i) * 37 - 500);
        r.next_poll_at = Some(at);
        store.create_redirection(&r).await.unwrap();
        if at <= base {
            expected_due.insert(r.id.clone());
        } else {
            not_due.insert(r.id.clone());
        }
    }
    assert!(expected_due.len() > 8 && !not_due.is_empty());

    let mut found = BTreeSet::new();
    for shard in 0..POLL_SHARDS {
        let mut cursor = None;
        let mut last = None;
        let mut pages = 0;
        loop {
            let page = store
                .due_for_poll(shard, base, 3, cursor.clone())
                .await
                .unwrap();
            pages += 1;
            assert!(page.items.len() <= 3, "a page respects the limit");
            for item in &page.items {
                assert!(item.next_poll_at <= base, "only due items");
                assert_eq!(poll_shard(&item.id), shard, "only this shard");
                if let Some(prev) = last {
                    assert!(item.next_poll_at >= prev, "oldest first");
                }
                last = Some(item.next_poll_at);
                if item.id.as_str().starts_with(&tag) {
                    assert!(found.insert(item.id.clone()), "no item twice");
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
            assert!(pages < 100, "pagination ends");
        }
    }
    assert_eq!(found, expected_due, "every due item of every shard, once");

    // A redirection that reaches a final state leaves the poll index.
    let id = expected_due.iter().next().cloned().unwrap();
    let r = store.get_redirection(&id).await.unwrap().unwrap();
    let done = apply(&r, Event::LinkExpired { follow_up_at: None }, base).unwrap();
    assert_eq!(
        store.save_redirection(&done, r.expected()).await.unwrap(),
        Cas::Applied
    );
    let page = store
        .due_for_poll(poll_shard(&id), base, 1000, None)
        .await
        .unwrap();
    assert!(page.items.iter().all(|i| i.id != id));
}

/// Users: a stable owner id, the latest consent choice, and one follow-up per window, decided
/// conditionally.
pub async fn store_users(store: &dyn Store, clock: &SimClock) {
    let email = format!("{}@example.com", unique("user"));
    let first = store
        .record_start(&user(&email, clock), true, StartedBy::Anonymous)
        .await
        .unwrap();
    let mut later = user(&email.to_uppercase(), clock);
    later.name = "Ann Later".into();
    let again = store
        .record_start(&later, true, StartedBy::Anonymous)
        .await
        .unwrap();
    assert_eq!(
        first.owner, again.owner,
        "the same email keeps its owner id"
    );
    assert_eq!(again.name, "Ann Later", "the latest name is kept");
    assert_eq!(again.created_at, first.created_at);
    assert_eq!(
        store.get_user(&first.key).await.unwrap().map(|u| u.owner),
        Some(first.owner.clone())
    );

    let claim = |now| FollowUpClaim {
        now,
        not_within: Duration::days(7),
        no_success_since: now - Duration::hours(2),
    };
    assert!(store
        .claim_follow_up(&first.key, claim(clock.now()))
        .await
        .unwrap());
    assert!(
        !store
            .claim_follow_up(&first.key, claim(clock.now()))
            .await
            .unwrap(),
        "a second follow-up within the window is refused"
    );
    clock.advance(Duration::days(8));
    let unsubscribe = ConsentChoice {
        given: false,
        at: clock.now(),
        source: ConsentSource::Unsubscribe,
    };
    assert!(store.record_consent(&first.key, unsubscribe).await.unwrap());
    let stored = store.get_user(&first.key).await.unwrap().unwrap();
    assert!(stored.opted_out() && !stored.follow_up_consent());
    assert_eq!(stored.consent, unsubscribe, "time and source are kept");
    assert!(
        !store
            .claim_follow_up(&first.key, claim(clock.now()))
            .await
            .unwrap(),
        "never to an opted-out user"
    );
    // A resume (no explicit choice) leaves the unsubscribe as it is, and so does the box
    // ticked by someone not logged in; the box ticked by the verified person is the new
    // latest choice.
    let mut resumed = user(&email, clock);
    resumed.consent.at = clock.now();
    assert!(store
        .record_start(&resumed, false, StartedBy::Anonymous)
        .await
        .unwrap()
        .opted_out());
    assert!(store
        .record_start(&resumed, true, StartedBy::Anonymous)
        .await
        .unwrap()
        .opted_out());
    let mut proven = user(&email, clock);
    proven.verified_at = Some(clock.now());
    store.verify_person(&proven).await.unwrap();
    let ticked = store
        .record_start(&resumed, true, StartedBy::Verified)
        .await
        .unwrap();
    assert!(ticked.follow_up_consent() && !ticked.opted_out());
    assert_eq!(
        ticked.last_follow_up_at,
        Some(clock.now() - Duration::days(8)),
        "history kept"
    );
    store
        .record_success(&first.key, clock.now() - Duration::minutes(30))
        .await
        .unwrap();
    assert!(
        !store
            .claim_follow_up(&first.key, claim(clock.now()))
            .await
            .unwrap(),
        "never to a user who succeeded since the drop-off"
    );
    clock.advance(Duration::hours(3));
    assert!(store
        .claim_follow_up(&first.key, claim(clock.now()))
        .await
        .unwrap());
    // Unticked on a later start: that is the latest choice too.
    let mut unticked = user(&email, clock);
    unticked.consent.given = false;
    assert!(!store
        .record_start(&unticked, true, StartedBy::Verified)
        .await
        .unwrap()
        .follow_up_consent());

    let unknown = Email::parse("nobody-at-all@example.com")
        .unwrap()
        .user_key();
    assert!(!store.record_consent(&unknown, unsubscribe).await.unwrap());
    assert!(!store
        .claim_follow_up(&unknown, claim(clock.now()))
        .await
        .unwrap());

    let mut no_consent = user(&format!("{}@example.com", unique("nc")), clock);
    no_consent.consent.given = false;
    store
        .record_start(&no_consent, true, StartedBy::Anonymous)
        .await
        .unwrap();
    assert!(!store
        .claim_follow_up(&no_consent.key, claim(clock.now()))
        .await
        .unwrap());
}

/// Retention: a user record and an import record are gone for every read after their time;
/// a start after the user's retention makes a fresh record.
pub async fn store_retention(store: &dyn Store, clock: &SimClock) {
    let email = format!("{}@example.com", unique("ret"));
    let mut u = user(&email, clock);
    u.expires_at = clock.now() + Duration::days(2);
    let stored = store
        .record_start(&u, true, StartedBy::Anonymous)
        .await
        .unwrap();
    let rec = ImportRecord {
        expires_at: clock.now() + Duration::days(1),
        ..import_record(&stored.owner, &unique("ret"), clock)
    };
    store.put_import_record(&rec).await.unwrap();
    assert_eq!(
        store.import_records(&stored.owner).await.unwrap(),
        vec![rec]
    );
    clock.advance(Duration::days(1));
    assert!(
        store
            .import_records(&stored.owner)
            .await
            .unwrap()
            .is_empty(),
        "an import record past its retention is gone"
    );
    assert!(store.get_user(&u.key).await.unwrap().is_some());
    clock.advance(Duration::days(1));
    assert_eq!(
        store.get_user(&u.key).await.unwrap(),
        None,
        "a user past its retention is gone"
    );
    assert!(!store
        .claim_follow_up(
            &u.key,
            FollowUpClaim {
                now: clock.now(),
                not_within: Duration::days(7),
                no_success_since: clock.now(),
            }
        )
        .await
        .unwrap());
    let mut fresh = user(&email, clock);
    fresh.owner = OwnerExternalId::generate();
    let renewed = store
        .record_start(&fresh, true, StartedBy::Anonymous)
        .await
        .unwrap();
    assert_eq!(
        renewed.owner, fresh.owner,
        "a new record, not the expired one"
    );
    assert_eq!(renewed.created_at, clock.now());
}

/// Abuse limits: at most `limit` per window; windows are apart. With `racing`, the calls race
/// (the embedded store's own atomicity); DynamoDB's conditional update is atomic by contract,
/// which moto server does not reproduce under concurrent requests, so its run is sequential.
pub async fn store_allowances(store: Arc<dyn Store>, clock: &SimClock, racing: bool) {
    let what = Allowance::StartsFromClient {
        client: unique("client"),
        hour: 7,
    };
    let end = clock.now() + Duration::hours(1);
    let mut granted = 0;
    if racing {
        let mut tasks = vec![];
        for _ in 0..8 {
            let (store, what) = (store.clone(), what.clone());
            tasks.push(tokio::spawn(async move {
                store.take_allowance(&what, 5, end).await.unwrap()
            }));
        }
        for t in tasks {
            granted += u32::from(t.await.unwrap());
        }
    } else {
        for _ in 0..8 {
            granted += u32::from(store.take_allowance(&what, 5, end).await.unwrap());
        }
    }
    assert_eq!(
        granted, 5,
        "exactly the limit is granted, however the calls race"
    );
    let next_hour = Allowance::StartsFromClient {
        client: match &what {
            Allowance::StartsFromClient { client, .. } => client.clone(),
            _ => unreachable!(),
        },
        hour: 8,
    };
    assert!(store.take_allowance(&next_hour, 5, end).await.unwrap());
    let token = Allowance::FormToken {
        nonce: unique("nonce"),
    };
    assert!(store.take_allowance(&token, 1, end).await.unwrap());
    assert!(
        !store.take_allowance(&token, 1, end).await.unwrap(),
        "a form token is spent once"
    );
}

/// Erasure: everything of one person goes (user record, redirections and their poll index
/// entries, import records, their own counters); another person's data and the funnel stay.
/// Verified people: only they change their record; an anonymous start never turns their
/// unsubscribe back to yes; sessions end by generation; log-in requests are taken once; a
/// person's sign-ins outlive the 24 h window with their outcome.
pub async fn store_identity(store: &dyn Store, clock: &SimClock) {
    let email = format!("{}@example.com", unique("verified"));
    let typed = store
        .record_start(&user(&email, clock), true, StartedBy::Anonymous)
        .await
        .unwrap();
    assert!(!typed.is_verified());
    // A logged-in start before the mailbox is proven is refused.
    let refused = store
        .record_start(&user(&email, clock), true, StartedBy::Verified)
        .await;
    assert!(
        matches!(refused, Err(StoreError::NotVerified)),
        "{refused:?}"
    );

    let mut proven = user(&email, clock);
    proven.verified_at = Some(clock.now());
    proven.name = String::new();
    proven.consent = ConsentChoice {
        given: false,
        at: clock.now(),
        source: ConsentSource::Verified,
    };
    proven.expires_at = clock.now() + Duration::days(3);
    let verified = store.verify_person(&proven).await.unwrap();
    assert!(verified.is_verified());
    assert_eq!(
        verified.owner, proven.owner,
        "the owner id anonymous starts used is never the verified person's"
    );
    assert_ne!(verified.owner, typed.owner);
    // What anyone typed is not the person's word: the name and the ticked box are dropped.
    assert_eq!(verified.name, "");
    assert!(!verified.follow_up_consent());
    assert_eq!(
        verified.expires_at.timestamp(),
        typed.expires_at.timestamp(),
        "the retention stays"
    );
    // The old owner id may hold data at Kontomatik: erasure still finds it.
    let owners = store.personal_data(&typed.key).await.unwrap().owners;
    assert!(owners.contains(&typed.owner), "{owners:?}");
    assert!(owners.contains(&verified.owner), "{owners:?}");
    let again = store.verify_person(&user(&email, clock)).await.unwrap();
    assert_eq!(
        again.owner, verified.owner,
        "a second log-in keeps the owner"
    );

    // An anonymous start changes nothing of a verified person's record.
    clock.advance(Duration::minutes(1));
    let mut stranger = user(&email, clock);
    stranger.name = "Mallory".into();
    stranger.consent.given = false;
    stranger.expires_at = clock.now() + Duration::days(1);
    let kept = store
        .record_start(&stranger, true, StartedBy::Anonymous)
        .await
        .unwrap();
    assert_eq!(kept, verified);
    assert_eq!(
        store.get_user(&verified.key).await.unwrap().as_ref(),
        Some(&verified)
    );

    // The person's own start does.
    let mut own = user(&email, clock);
    own.name = "Ann Verified".into();
    own.consent = ConsentChoice {
        given: false,
        at: clock.now(),
        source: ConsentSource::Verified,
    };
    let updated = store
        .record_start(&own, true, StartedBy::Verified)
        .await
        .unwrap();
    assert_eq!(updated.name, "Ann Verified");
    assert_eq!(updated.owner, verified.owner);
    assert!(!updated.consent.given);

    // An unsubscribe on an unverified record is not undone by an anonymous tick.
    let other = format!("{}@example.com", unique("unsub"));
    let o = store
        .record_start(&user(&other, clock), true, StartedBy::Anonymous)
        .await
        .unwrap();
    let unsubscribe = ConsentChoice {
        given: false,
        at: clock.now(),
        source: ConsentSource::Unsubscribe,
    };
    assert!(store.record_consent(&o.key, unsubscribe).await.unwrap());
    clock.advance(Duration::minutes(1));
    let mut ticked = user(&other, clock);
    ticked.name = "Olga".into();
    let after = store
        .record_start(&ticked, true, StartedBy::Anonymous)
        .await
        .unwrap();
    assert_eq!(
        after.consent, unsubscribe,
        "an anonymous tick reopened an unsubscribe"
    );
    assert_eq!(
        after.name, "Olga",
        "the rest of the start is still recorded"
    );

    // Sessions end by generation.
    assert_eq!(updated.session_generation, 0);
    assert!(store.end_sessions(&verified.key).await.unwrap());
    assert_eq!(
        store
            .get_user(&verified.key)
            .await
            .unwrap()
            .unwrap()
            .session_generation,
        1
    );
    let nobody = Email::parse(&format!("{}@example.com", unique("nobody")))
        .unwrap()
        .user_key();
    assert!(!store.end_sessions(&nobody).await.unwrap());

    // A log-in request is taken once, and not after it expired.
    let nonce = unique("nonce").replace('-', "");
    let request = LoginRequest {
        nonce: nonce.clone(),
        email: Email::parse(&email).unwrap(),
        language: Language::parse("pl").unwrap(),
        expires_at: clock.now() + Duration::minutes(15),
    };
    store.put_login_request(&request).await.unwrap();
    assert_eq!(
        store.take_login_request(&nonce).await.unwrap(),
        Some(request.clone())
    );
    assert_eq!(store.take_login_request(&nonce).await.unwrap(), None);
    let late = LoginRequest {
        nonce: format!("{nonce}late"),
        ..request
    };
    store.put_login_request(&late).await.unwrap();
    clock.advance(Duration::minutes(16));
    assert_eq!(store.take_login_request(&late.nonce).await.unwrap(), None);

    // A sign-in's record outlives its window, with its outcome.
    let r = new_redirection(&unique("hist"), &email, clock);
    let record = SignInRecord::of(&r, clock.now() + Duration::days(30));
    assert_eq!(
        store.create_sign_in(&r, &record).await.unwrap(),
        Created::Created
    );
    store
        .record_sign_in_outcome(&r.user_key, &r.id, SignInOutcome::Imported)
        .await
        .unwrap();
    clock.advance(Duration::hours(25));
    assert_eq!(store.get_redirection(&r.id).await.unwrap(), None);
    let history = store.sign_ins(&r.user_key).await.unwrap();
    let kept = history
        .iter()
        .find(|s| s.id == r.id)
        .expect("kept after the window");
    assert_eq!(kept.outcome, Some(SignInOutcome::Imported));
    assert_eq!(kept.owner, r.owner);
    assert_eq!(kept.created_at.timestamp(), r.created_at.timestamp());
    // An outcome for a sign-in the history does not hold creates nothing.
    let unknown = RedirectionId::parse(&unique("none")).unwrap();
    store
        .record_sign_in_outcome(&r.user_key, &unknown, SignInOutcome::Failed)
        .await
        .unwrap();
    assert!(store
        .sign_ins(&r.user_key)
        .await
        .unwrap()
        .iter()
        .all(|s| s.id != unknown));
    // Erased with the person.
    store.erase_person(&r.user_key).await.unwrap();
    assert!(store.sign_ins(&r.user_key).await.unwrap().is_empty());
}

pub async fn store_erasure(store: &dyn Store, clock: &SimClock) {
    let email = format!("{}@example.com", unique("erase"));
    let other_email = format!("{}@example.com", unique("keep"));
    let u = store
        .record_start(&user(&email, clock), true, StartedBy::Anonymous)
        .await
        .unwrap();
    let other = store
        .record_start(&user(&other_email, clock), true, StartedBy::Anonymous)
        .await
        .unwrap();
    let mut mine = vec![];
    for _ in 0..2 {
        let mut r = new_redirection(&unique("er"), &email, clock);
        r.owner = u.owner.clone();
        store.create_redirection(&r).await.unwrap();
        mine.push(r);
    }
    let mut theirs = new_redirection(&unique("keep"), &other_email, clock);
    theirs.owner = other.owner.clone();
    store.create_redirection(&theirs).await.unwrap();
    for r in mine.iter().chain([&theirs]) {
        store
            .put_import_record(&import_record(&r.owner, r.id.as_str(), clock))
            .await
            .unwrap();
    }
    let day = clock.now().date_naive();
    assert!(store
        .take_allowance(
            &Allowance::LinkEmails {
                user: u.key.clone(),
                day
            },
            3,
            clock.now() + Duration::days(1)
        )
        .await
        .unwrap());
    let found = store.personal_data(&u.key).await.unwrap();
    assert_eq!(found.user.as_ref().map(|x| &x.owner), Some(&u.owner));
    let mut ids: Vec<_> = mine.iter().map(|r| r.id.clone()).collect();
    ids.sort();
    let mut held = found.redirections.clone();
    held.sort();
    assert_eq!(held, ids);
    assert_eq!(found.owners.iter().collect::<Vec<_>>(), vec![&u.owner]);
    assert_eq!(found.imports, 2);

    let erased = store.erase_person(&u.key).await.unwrap();
    assert_eq!(erased, found, "erasure reports what it found");
    assert!(store.personal_data(&u.key).await.unwrap().is_empty());
    assert_eq!(store.get_user(&u.key).await.unwrap(), None);
    for r in &mine {
        assert_eq!(store.get_redirection(&r.id).await.unwrap(), None);
        let due = store
            .due_for_poll(
                poll_shard(&r.id),
                clock.now() + Duration::hours(1),
                1000,
                None,
            )
            .await
            .unwrap();
        assert!(
            due.items.iter().all(|i| i.id != r.id),
            "out of the poll index"
        );
    }
    assert!(store.import_records(&u.owner).await.unwrap().is_empty());
    assert!(
        store
            .take_allowance(
                &Allowance::LinkEmails {
                    user: u.key.clone(),
                    day
                },
                1,
                clock.now() + Duration::days(1)
            )
            .await
            .unwrap(),
        "their counters went with them"
    );
    assert!(store.get_user(&other.key).await.unwrap().is_some());
    assert!(store.get_redirection(&theirs.id).await.unwrap().is_some());
    assert_eq!(store.import_records(&other.owner).await.unwrap().len(), 1);
    let again = store.erase_person(&u.key).await.unwrap();
    assert!(
        again.is_empty() || again.user.is_none(),
        "erasing twice is harmless"
    );

    // An import that finished after the erasure removes its own record.
    let late = import_record(&u.owner, &unique("late"), clock);
    store.put_import_record(&late).await.unwrap();
    store.delete_import_record(&late).await.unwrap();
    assert!(store.import_records(&u.owner).await.unwrap().is_empty());
}

/// Import records read back per owner in time order; funnel counters add up atomically.
/// `adds_are_atomic`: whether the store under test applies concurrent counter adds atomically,
/// as DynamoDB does. Moto does not (its UpdateItem reads, changes and writes the item with no
/// lock, so two adds at the same instant can lose one): on moto the concurrent adds must count,
/// but one may be lost to moto.
pub async fn store_imports_and_funnel(
    store: Arc<dyn Store>,
    clock: &SimClock,
    adds_are_atomic: bool,
) {
    let owner = OwnerExternalId::parse(&unique("own")).unwrap();
    for i in 0u32..3 {
        let rec = ImportRecord {
            owner: owner.clone(),
            redirection_id: RedirectionId::parse(&format!("imp-{i}")).unwrap(),
            imported_at: clock.now() + Duration::minutes(i64::from(i)),
            summary: ImportSummary {
                transactions_total: u64::from(i) * 10,
                ..Default::default()
            },
            expires_at: clock.now() + Duration::days(90),
        };
        store.put_import_record(&rec).await.unwrap();
    }
    let recs = store.import_records(&owner).await.unwrap();
    assert_eq!(recs.len(), 3);
    assert!(recs.windows(2).all(|w| w[0].imported_at < w[1].imported_at));
    assert_eq!(recs[2].summary.transactions_total, 20);

    // A day no other test uses.
    let day = NaiveDate::from_ymd_opt(2001, 1, 1).unwrap()
        + chrono::Days::new(u64::from(uuid::Uuid::new_v4().as_bytes()[0]) * 400);
    let mut tasks = vec![];
    for _ in 0..10 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .add_to_funnel(day, FunnelStep::Started, 1)
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    store
        .add_to_funnel(day, FunnelStep::Success, 3)
        .await
        .unwrap();
    let next_day = day.succ_opt().unwrap();
    let f = store.funnel(day, next_day).await.unwrap();
    assert_eq!(f.len(), 2, "one entry per day, empty days included");
    assert_eq!(f[0].day, Some(day));
    let started = f[0].get(FunnelStep::Started);
    if adds_are_atomic {
        assert_eq!(started, 10, "concurrent adds all count");
    } else {
        assert!(
            (8..=10).contains(&started),
            "concurrent adds count (moto may lose one to a race of its own): {started}"
        );
    }
    assert_eq!(f[0].get(FunnelStep::Success), 3);
    assert_eq!(f[0].get(FunnelStep::Expired), 0);
    assert_eq!(f[1].get(FunnelStep::Started), 0);
}

/// Moves a queue's notion of time: the simulated clock for the embedded queue, a real (short)
/// wait for SQS.
#[async_trait]
pub trait TimePasses: Send + Sync {
    async fn pass(&self, d: StdDuration);
}

#[async_trait]
impl TimePasses for SimClock {
    async fn pass(&self, d: StdDuration) {
        self.advance(Duration::from_std(d).unwrap());
    }
}

/// Delays, visibility timeout, redelivery and acknowledgement.
pub async fn queue_semantics<Q>(queue: &Q, time: &dyn TimePasses)
where
    Q: ImportQueue + ImportQueueConsumer,
{
    let job = |id: &str| ImportJob {
        redirection_id: RedirectionId::parse(id).unwrap(),
        continuation: 0,
    };
    let vis = StdDuration::from_secs(2);
    queue
        .enqueue(&job("q-now"), StdDuration::ZERO)
        .await
        .unwrap();
    queue
        .enqueue(&job("q-later"), StdDuration::from_secs(3))
        .await
        .unwrap();

    let first = queue.receive(10, vis).await.unwrap();
    assert_eq!(
        first.iter().map(|d| d.job.clone()).collect::<Vec<_>>(),
        vec![job("q-now")],
        "a delayed message is not visible yet"
    );
    assert_eq!(first[0].receive_count, 1);
    assert!(
        queue.receive(10, vis).await.unwrap().is_empty(),
        "a received message is invisible during its visibility timeout"
    );

    time.pass(StdDuration::from_millis(3500)).await;
    let mut second = queue.receive(10, vis).await.unwrap();
    second.sort_by(|a, b| a.job.redirection_id.cmp(&b.job.redirection_id));
    let ids: Vec<_> = second
        .iter()
        .map(|d| d.job.redirection_id.to_string())
        .collect();
    assert_eq!(
        ids,
        vec!["q-later", "q-now"],
        "unacknowledged message is redelivered and the delayed one is now visible"
    );
    let redelivered = second
        .iter()
        .find(|d| d.job == job("q-now"))
        .unwrap()
        .clone();
    assert_eq!(redelivered.receive_count, 2);
    for d in &second {
        queue.ack(&d.receipt).await.unwrap();
    }
    time.pass(StdDuration::from_millis(2500)).await;
    assert!(
        queue.receive(10, vis).await.unwrap().is_empty(),
        "acknowledged messages are gone for good"
    );
}

/// What a mailer's recorded message looks like once read back from wherever it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub headers: Vec<(String, String)>,
}

/// The sample follow-up email the mailer contract sends.
pub fn sample_marketing_mail(to: &str) -> OutgoingEmail {
    OutgoingEmail {
        to: Email::parse(to).unwrap(),
        subject: "Finish connecting your bank – Zakończ".into(),
        text: "Hello Ann,\nyou can finish here: https://example.test/resume?t=abc\n".into(),
        html: "<p>Hello Ann,</p><p><a href=\"https://example.test/resume?t=abc\">Finish</a></p>"
            .into(),
        headers: vec![
            (
                "List-Unsubscribe".into(),
                "<https://example.test/unsubscribe?t=abc>".into(),
            ),
            (
                "List-Unsubscribe-Post".into(),
                "List-Unsubscribe=One-Click".into(),
            ),
        ],
        category: MailCategory::Marketing,
        tag: "follow_up".into(),
    }
}

/// The mailer delivered `expected` with both parts and its custom headers, as read back from
/// wherever the adapter's messages are recorded.
pub fn mail_was_recorded(expected: &OutgoingEmail, recorded: &[RecordedMail]) {
    let got = recorded
        .iter()
        .find(|m| m.subject == expected.subject)
        .expect("the sent message was recorded");
    assert_eq!(got.to, expected.to.as_str());
    assert_eq!(got.text.replace("\r\n", "\n").trim(), expected.text.trim());
    assert!(got
        .html
        .contains("href=\"https://example.test/resume?t=abc\""));
    for (name, value) in &expected.headers {
        assert!(
            got.headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case(name) && v == value),
            "header {name} kept"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::embedded::{EmbeddedQueue, EmbeddedStore, Outbox};
    use crate::ports::{FunnelStore, ImportRecordStore, Mailer, PersonStore, RedirectionStore};

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
}
