//! The abuse limits' contract: at most so many per window, windows apart.

use std::sync::Arc;

use chrono::Duration;

use super::unique;
use crate::clock::{Clock, SimClock};
use crate::domain::RedirectionId;
use crate::ports::{Allowance, Store};

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

/// The slots of Kontomatik's jobs quota: at most `quota` held at once; a holder taking again
/// changes nothing; a slot given back (twice is once) or past its holder's time is free again.
pub async fn store_import_slots(store: &dyn Store, clock: &SimClock) {
    let now = clock.now();
    let id = |name: &str| RedirectionId::parse(&unique(name)).unwrap();
    let (a, b, c, d, e) = (id("a"), id("b"), id("c"), id("d"), id("e"));
    let hour = now + Duration::hours(1);
    let later = now + Duration::hours(3);
    assert!(store.take_import_slot(&a, 2, hour, now).await.unwrap());
    assert!(store.take_import_slot(&b, 2, hour, now).await.unwrap());
    assert!(
        !store.take_import_slot(&c, 2, later, now).await.unwrap(),
        "a third import waits while two slots of two are held"
    );
    assert!(
        store.take_import_slot(&a, 2, hour, now).await.unwrap(),
        "the holder takes its own slot again"
    );
    assert!(
        !store.take_import_slot(&c, 2, later, now).await.unwrap(),
        "taking one's own slot again does not count twice"
    );
    store.give_back_import_slot(&a).await.unwrap();
    store.give_back_import_slot(&a).await.unwrap();
    assert!(store.take_import_slot(&c, 2, later, now).await.unwrap());
    assert!(
        !store.take_import_slot(&d, 2, later, now).await.unwrap(),
        "a slot given back twice frees one slot, not two"
    );
    // Two hours on, b's time is up (its worker died holding it): its slot is free.
    let two_hours_on = now + Duration::hours(2);
    assert!(store
        .take_import_slot(&d, 2, later, two_hours_on)
        .await
        .unwrap());
    assert!(
        !store
            .take_import_slot(&e, 2, later, two_hours_on)
            .await
            .unwrap(),
        "c and d still hold theirs"
    );
}
