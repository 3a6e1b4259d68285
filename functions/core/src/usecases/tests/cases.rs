//! Applications on the embedded adapters: the API's "changed since" over every status.

use chrono::Duration;

use super::world;
use crate::clock::Clock;
use crate::domain::case::{new_reference, Case, CaseChange, CaseStatus};
use crate::domain::{Email, Language, RedirectionId};
use crate::ports::CaseStore;
use crate::usecases::CHANGES_PER_PAGE;

fn opened(n: usize, now: crate::domain::Timestamp) -> Case {
    let email = Email::parse(&format!("applicant{n}@example.com")).unwrap();
    Case::open_with(
        &CaseChange::SignInStarted {
            key: email.user_key(),
            id: RedirectionId::parse(&format!("r{n}")).unwrap(),
            window_ends: now + Duration::hours(24),
            email,
            name: "Ann Smith".into(),
            language: Language::parse("en").unwrap(),
            external_application_id: Some(format!("APP-{n}")),
            kept_until: now + Duration::days(30),
            speaks_for_person: true,
        },
        new_reference(),
        now,
    )
    .unwrap()
}

#[tokio::test]
async fn changed_since_pages_through_every_status_in_time_order_once_each() {
    let w = world();
    let before = w.clock.now();
    let old = opened(0, before);
    w.store
        .put_case(&old, CaseStatus::Failed, None)
        .await
        .unwrap();
    w.clock.advance(Duration::minutes(1));
    let since = w.clock.now();
    // More than a page, spread over the statuses, several at the same millisecond.
    let total = CHANGES_PER_PAGE + 37;
    for n in 1..=total {
        if n % 3 == 0 {
            w.clock.advance(Duration::milliseconds(7));
        }
        let status = CaseStatus::ALL[n % CaseStatus::ALL.len()];
        let case = opened(n, w.clock.now());
        w.store.put_case(&case, status, None).await.unwrap();
    }
    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = w.app.api_changes(since, cursor.as_deref()).await.unwrap();
        pages += 1;
        assert!(page.applications.len() <= CHANGES_PER_PAGE);
        seen.extend(
            page.applications
                .into_iter()
                .map(|a| (a.updated_at, a.external_application_id.unwrap())),
        );
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
        assert!(pages < 10, "the pages never end");
    }
    assert_eq!(pages, 2);
    assert_eq!(seen.len(), total, "each once");
    let mut ids: Vec<&String> = seen.iter().map(|(_, id)| id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total, "no repeats");
    assert!(
        seen.windows(2).all(|w| w[0].0 <= w[1].0),
        "oldest change first"
    );
    assert!(
        !seen.iter().any(|(_, id)| id == "APP-0"),
        "changed before `since`: not listed"
    );

    // A case changed after it was listed comes again, at its new time (a client asks from
    // just after the latest change it saw).
    let next_since = seen.last().unwrap().0 + Duration::milliseconds(1);
    let again = w.app.api_changes(next_since, None).await.unwrap();
    assert!(
        again.applications.is_empty() && again.next.is_none(),
        "{again:?}"
    );
    w.clock.advance(Duration::minutes(1));
    let first_key = Email::parse("applicant1@example.com").unwrap().user_key();
    let first = w.store.get_case(&first_key).await.unwrap().unwrap();
    let changed = first.apply(
        &CaseChange::SignInEnded {
            id: RedirectionId::parse("r1").unwrap(),
        },
        w.clock.now(),
    );
    w.store
        .put_case(&changed, CaseStatus::Failed, Some(&first))
        .await
        .unwrap();
    let again = w.app.api_changes(next_since, None).await.unwrap();
    let ids: Vec<_> = again
        .applications
        .iter()
        .map(|a| a.external_application_id.clone().unwrap())
        .collect();
    assert_eq!(ids, vec!["APP-1".to_owned()]);

    // Pages cut short (DynamoDB's 1 MB) leave nothing out either.
    w.store.cap_case_pages(7);
    let mut short = vec![];
    let mut cursor: Option<String> = None;
    for _ in 0..200 {
        let page = w.app.api_changes(since, cursor.as_deref()).await.unwrap();
        short.extend(
            page.applications
                .into_iter()
                .map(|a| a.external_application_id.unwrap()),
        );
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    short.sort();
    short.dedup();
    assert_eq!(short.len(), total, "every case, with pages cut short");
    w.store.cap_case_pages(0);

    // A cursor that is not ours is refused.
    assert!(w
        .app
        .api_changes(since, Some(&"x".repeat(200)))
        .await
        .is_err());
}
