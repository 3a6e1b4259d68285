//! The person store's contract: users, their consent and follow-ups, verified people,
//! sessions, log-in requests and a person's sign-ins.

use chrono::Duration;

use super::{new_redirection, unique, user};
use crate::clock::{Clock, SimClock};
use crate::domain::{Email, Language, RedirectionId};
use crate::ports::{
    ConsentChoice, ConsentSource, Created, FollowUpClaim, LoginRequest, SignInOutcome,
    SignInRecord, StartedBy, Store, StoreError,
};

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

async fn ended_at(store: &dyn Store, staff: &crate::domain::UserKey) -> Option<i64> {
    store
        .staff_sessions_ended_at(staff)
        .await
        .unwrap()
        .map(|t| t.timestamp())
}

/// A staff member's sign-out: remembered (to the second) until every session it ended has
/// expired, then forgotten.
pub async fn store_staff_sessions(store: &dyn Store, clock: &SimClock) {
    let staff = Email::parse(&format!("{}@lender.example", unique("staff")))
        .unwrap()
        .user_key();
    assert_eq!(store.staff_sessions_ended_at(&staff).await.unwrap(), None);
    let at = clock.now();
    store
        .end_staff_sessions(&staff, at, at + Duration::hours(12))
        .await
        .unwrap();
    assert_eq!(ended_at(store, &staff).await, Some(at.timestamp()));
    // Two sign-outs crossing: the earlier moment written last does not move the mark back.
    store
        .end_staff_sessions(&staff, at - Duration::minutes(5), at + Duration::hours(12))
        .await
        .unwrap();
    assert_eq!(
        ended_at(store, &staff).await,
        Some(at.timestamp()),
        "never backwards"
    );
    clock.advance(Duration::hours(13));
    assert_eq!(
        store.staff_sessions_ended_at(&staff).await.unwrap(),
        None,
        "forgotten once every session it ended has expired"
    );
}
