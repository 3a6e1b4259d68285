//! What becomes of personal data: gone after its retention, and erased whole on request.

use chrono::Duration;

use super::{import_record, new_redirection, unique, user};
use crate::clock::{Clock, SimClock};
use crate::domain::OwnerExternalId;
use crate::ports::{poll_shard, Allowance, FollowUpClaim, ImportRecord, StartedBy, Store};

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

/// Erasure: everything of one person goes (user record, redirections and their poll index
/// entries, import records, their own counters); another person's data and the funnel stay.
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
