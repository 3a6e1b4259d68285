//! The case store's contract: one case per person written conditionally on its version, found
//! by reference and by the lender's id, filed by status in time order with paging, the looks at
//! it, and gone with the person or their retention.

use chrono::Duration;

use super::unique;
use crate::clock::{Clock, SimClock};
use crate::domain::case::{case_sort_key, Case, CaseChange, CaseStatus};
use crate::domain::{Email, Language, RedirectionId};
use crate::ports::{CaseCursor, CaseOrder, CaseView, ConditionalWrite, Store};

/// A start now for `email` (kept 30 days).
fn started(email: &str, external: Option<&str>, clock: &SimClock) -> CaseChange {
    let email = Email::parse(email).unwrap();
    let now = clock.now();
    CaseChange::SignInStarted {
        key: email.user_key(),
        id: RedirectionId::parse(&unique("case")).unwrap(),
        window_ends: now + Duration::hours(24),
        email,
        name: "Anna Kowalska".into(),
        language: Language::parse("pl").unwrap(),
        external_application_id: external.map(str::to_owned),
        kept_until: now + Duration::days(30),
        speaks_for_person: true,
    }
}

/// The case a start now for `email` opens.
fn opened(email: &str, external: Option<&str>, clock: &SimClock) -> Case {
    let now = clock.now();
    Case::open_with(
        &started(email, external, clock),
        crate::domain::case::new_reference(),
        now,
    )
    .unwrap()
}

/// `case` after one of its sign-ins ended now.
fn ended(case: &Case, clock: &SimClock) -> Case {
    case.apply(
        &CaseChange::SignInEnded {
            id: RedirectionId::parse("ended").unwrap(),
        },
        clock.now(),
    )
}

/// Every case of `status` in `order`, page by page (`limit` each), keeping only `mine`.
async fn listed(
    store: &dyn Store,
    status: CaseStatus,
    order: CaseOrder,
    after: Option<CaseCursor>,
    mine: &[&Case],
) -> Vec<String> {
    let mut out = vec![];
    let mut cursor = after;
    for _ in 0..1000 {
        let page = store
            .list_cases(status, order, cursor.as_ref(), 2)
            .await
            .unwrap();
        assert!(page.cases.len() <= 2, "a page holds at most its limit");
        out.extend(
            page.cases
                .iter()
                .filter(|c| mine.iter().any(|m| m.reference == c.reference))
                .map(|c| c.reference.clone()),
        );
        match page.next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
    panic!("the case list never ended");
}

pub async fn store_cases(store: &dyn Store, clock: &SimClock) {
    let external = unique("APP");
    let a = opened(
        &format!("{}@example.com", unique("case-a")),
        Some(&external),
        clock,
    );
    assert_eq!(
        store
            .put_case(&a, CaseStatus::NeedsReview, None)
            .await
            .unwrap(),
        ConditionalWrite::Applied
    );
    assert_eq!(
        store
            .put_case(&a, CaseStatus::NeedsReview, None)
            .await
            .unwrap(),
        ConditionalWrite::Conflict,
        "a second first write loses"
    );
    assert_eq!(store.get_case(&a.key).await.unwrap().as_ref(), Some(&a));
    assert_eq!(
        store
            .case_by_reference(&a.reference)
            .await
            .unwrap()
            .as_ref(),
        Some(&a)
    );
    assert_eq!(
        store.case_by_external_id(&external).await.unwrap().as_ref(),
        Some(&a)
    );
    assert_eq!(
        store
            .case_by_reference(&crate::domain::case::new_reference())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.case_by_external_id(&unique("APP")).await.unwrap(),
        None
    );

    clock.advance(Duration::seconds(1));
    let b = opened(&format!("{}@example.com", unique("case-b")), None, clock);
    store
        .put_case(&b, CaseStatus::NeedsReview, None)
        .await
        .unwrap();
    clock.advance(Duration::seconds(1));
    let c = opened(&format!("{}@example.com", unique("case-c")), None, clock);
    store
        .put_case(&c, CaseStatus::NeedsReview, None)
        .await
        .unwrap();
    let mine = [&a, &b, &c];
    assert_eq!(
        listed(
            store,
            CaseStatus::NeedsReview,
            CaseOrder::NewestFirst,
            None,
            &mine
        )
        .await,
        vec![
            c.reference.clone(),
            b.reference.clone(),
            a.reference.clone()
        ],
        "newest change first, across pages"
    );
    let since = CaseCursor(case_sort_key(b.updated_at - Duration::milliseconds(1), ""));
    assert_eq!(
        listed(
            store,
            CaseStatus::NeedsReview,
            CaseOrder::OldestFirst,
            Some(since),
            &mine
        )
        .await,
        vec![b.reference.clone(), c.reference.clone()],
        "changed since: oldest first, strictly after the cursor"
    );

    // A change refiles the case, written only over the version it was made from.
    clock.advance(Duration::seconds(1));
    let a2 = ended(&a, clock);
    assert_eq!(
        store
            .put_case(&a2, CaseStatus::Decided, Some(&a))
            .await
            .unwrap(),
        ConditionalWrite::Applied
    );
    assert_eq!(
        store
            .put_case(&a2, CaseStatus::Decided, Some(&a))
            .await
            .unwrap(),
        ConditionalWrite::Conflict,
        "a write over a stale version loses"
    );
    assert_eq!(
        listed(
            store,
            CaseStatus::NeedsReview,
            CaseOrder::NewestFirst,
            None,
            &mine
        )
        .await,
        vec![c.reference.clone(), b.reference.clone()]
    );
    assert_eq!(
        listed(
            store,
            CaseStatus::Decided,
            CaseOrder::NewestFirst,
            None,
            &mine
        )
        .await,
        vec![a.reference.clone()]
    );

    // Looks at a case, newest first.
    for (by, at) in [("one@lender.example", 0), ("two@lender.example", 5)] {
        let view = CaseView {
            by: by.into(),
            at: clock.now() + Duration::seconds(at),
        };
        store
            .record_case_view(&a.key, &view, a.expires_at)
            .await
            .unwrap();
    }
    let views = store.case_views(&a.key).await.unwrap();
    assert_eq!(
        views.iter().map(|v| v.by.as_str()).collect::<Vec<_>>(),
        ["two@lender.example", "one@lender.example"]
    );

    // Gone with the person: the case, its lookups, its looks, its place in the list.
    store.erase_person(&a.key).await.unwrap();
    assert_eq!(store.get_case(&a.key).await.unwrap(), None);
    assert_eq!(store.case_by_reference(&a.reference).await.unwrap(), None);
    assert_eq!(store.case_by_external_id(&external).await.unwrap(), None);
    assert!(store.case_views(&a.key).await.unwrap().is_empty());
    assert!(listed(
        store,
        CaseStatus::Decided,
        CaseOrder::NewestFirst,
        None,
        &mine
    )
    .await
    .is_empty());
    assert_eq!(
        store.get_case(&b.key).await.unwrap().as_ref(),
        Some(&b),
        "others stay"
    );

    // Past its retention a case is absent, and a new one may take its place.
    clock.advance(Duration::days(31));
    assert_eq!(store.get_case(&b.key).await.unwrap(), None);
    assert_eq!(store.case_by_reference(&b.reference).await.unwrap(), None);
    assert!(listed(
        store,
        CaseStatus::NeedsReview,
        CaseOrder::NewestFirst,
        None,
        &mine
    )
    .await
    .is_empty());
    let fresh = opened(b.email.as_str(), None, clock);
    assert_eq!(
        store
            .put_case(&fresh, CaseStatus::Pending, None)
            .await
            .unwrap(),
        ConditionalWrite::Applied
    );
}

/// A case's lookups: kept as long as the case (a later start lengthens both), an external id
/// held by the case that took it last (another case's later writes do not take it back, and its
/// erasure leaves it), and a write made from a case erased since never lands on the new one.
pub async fn store_case_lookups(store: &dyn Store, clock: &SimClock) {
    let external = unique("APP");
    let a_email = format!("{}@example.com", unique("lookup-a"));
    let a = opened(&a_email, Some(&external), clock);
    store.put_case(&a, CaseStatus::Pending, None).await.unwrap();

    // A later start keeps the case (and its lookups) longer than the first start's retention.
    clock.advance(Duration::days(20));
    let a2 = a.apply(&started(&a_email, None, clock), clock.now());
    assert_eq!(
        store
            .put_case(&a2, CaseStatus::Pending, Some(&a))
            .await
            .unwrap(),
        ConditionalWrite::Applied
    );
    clock.advance(Duration::days(15));
    assert_eq!(
        store
            .case_by_reference(&a.reference)
            .await
            .unwrap()
            .map(|c| c.version),
        Some(a2.version),
        "the reference lookup lives as long as the case"
    );
    assert!(store
        .case_by_external_id(&external)
        .await
        .unwrap()
        .is_some());

    // B takes the external id; A's later writes do not take it back.
    let b = opened(
        &format!("{}@example.com", unique("lookup-b")),
        Some(&external),
        clock,
    );
    store.put_case(&b, CaseStatus::Pending, None).await.unwrap();
    assert_eq!(
        store
            .case_by_external_id(&external)
            .await
            .unwrap()
            .map(|c| c.key),
        Some(b.key.clone())
    );
    let a3 = ended(&a2, clock);
    store
        .put_case(&a3, CaseStatus::Failed, Some(&a2))
        .await
        .unwrap();
    assert_eq!(
        store
            .case_by_external_id(&external)
            .await
            .unwrap()
            .map(|c| c.key),
        Some(b.key.clone()),
        "the id stays with the case that took it last"
    );
    // A's erasure leaves B's lookup.
    store.erase_person(&a.key).await.unwrap();
    assert_eq!(
        store
            .case_by_external_id(&external)
            .await
            .unwrap()
            .map(|c| c.key),
        Some(b.key.clone()),
        "an erasure takes only the person's own lookups"
    );

    // A case made after the erasure starts at version 1 again: a write made from the erased
    // one (read before the erasure) must not land on it.
    let fresh = opened(&a_email, None, clock);
    store
        .put_case(&fresh, CaseStatus::Pending, None)
        .await
        .unwrap();
    assert_eq!(fresh.version, a.version);
    let stale = ended(&a, clock);
    assert_eq!(
        store
            .put_case(&stale, CaseStatus::Failed, Some(&a))
            .await
            .unwrap(),
        ConditionalWrite::Conflict
    );
    assert_eq!(
        store
            .get_case(&fresh.key)
            .await
            .unwrap()
            .map(|c| c.reference),
        Some(fresh.reference)
    );
}

/// Kept multiple accesses: one per owner id of the person (a new one in place of the old),
/// gone when the access lapses, and with the person.
pub async fn store_access_grants(store: &dyn Store, clock: &SimClock) {
    use crate::domain::access::AccessGrant;
    use crate::domain::OwnerExternalId;
    let key = Email::parse(&format!("{}@example.com", unique("access")))
        .unwrap()
        .user_key();
    let grant = |owner: &str, sealed: &str, days: i64| AccessGrant {
        owner: OwnerExternalId::parse(owner).unwrap(),
        sealed_token: sealed.into(),
        granted_at: clock.now(),
        expires_at: clock.now() + Duration::days(days),
    };
    assert!(store.access_grants(&key).await.unwrap().is_empty());
    store
        .put_access_grant(&key, &grant("own-a", "sealed-1", 90))
        .await
        .unwrap();
    store
        .put_access_grant(&key, &grant("own-a", "sealed-2", 90))
        .await
        .unwrap();
    store
        .put_access_grant(&key, &grant("own-b", "sealed-3", 10))
        .await
        .unwrap();
    let mut kept = store.access_grants(&key).await.unwrap();
    kept.sort_by(|a, b| a.owner.as_str().cmp(b.owner.as_str()));
    assert_eq!(
        kept.iter()
            .map(|g| g.sealed_token.as_str())
            .collect::<Vec<_>>(),
        ["sealed-2", "sealed-3"],
        "one per owner id, the latest"
    );
    clock.advance(Duration::days(11));
    assert_eq!(
        store.access_grants(&key).await.unwrap().len(),
        1,
        "a lapsed access is gone"
    );
    store.erase_person(&key).await.unwrap();
    assert!(
        store.access_grants(&key).await.unwrap().is_empty(),
        "erased with the person"
    );
}
