//! The abuse limits' contract: at most so many per window, windows apart.

use std::sync::Arc;

use chrono::Duration;

use super::unique;
use crate::clock::{Clock, SimClock};
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
