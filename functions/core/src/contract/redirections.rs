//! The redirection store's contract: conditional writes, a race with one winner, the 24 h
//! window hiding items, and the due-for-poll query.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Duration;

use super::{new_redirection, unique};
use crate::clock::{Clock, SimClock};
use crate::domain::machine::{apply, Event, State};
use crate::ports::{poll_shard, ConditionalWrite, Created, Store, POLL_SHARDS};

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
        ConditionalWrite::Applied
    );
    // The same transition again, from the now stale expectation, loses.
    assert_eq!(
        store
            .save_redirection(&pending, r.expected())
            .await
            .unwrap(),
        ConditionalWrite::Conflict,
        "a write expecting a stale version must lose"
    );
    // Right version, wrong state: loses too.
    let mut wrong_state = pending.expected();
    wrong_state.state = State::Created;
    assert_eq!(
        store.save_redirection(&pending, wrong_state).await.unwrap(),
        ConditionalWrite::Conflict
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
        ConditionalWrite::Conflict
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
        if t.await.unwrap() == ConditionalWrite::Applied {
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
        ConditionalWrite::Conflict,
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
        ConditionalWrite::Applied
    );
    let page = store
        .due_for_poll(poll_shard(&id), base, 1000, None)
        .await
        .unwrap();
    assert!(page.items.iter().all(|i| i.id != id));
}
