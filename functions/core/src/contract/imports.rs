//! The import records' and the funnel counters' contract.

use std::sync::Arc;

use chrono::{Duration, NaiveDate};

use super::unique;
use crate::clock::{Clock, SimClock};
use crate::domain::import::ImportSummary;
use crate::domain::{OwnerExternalId, RedirectionId};
use crate::ports::{FunnelStep, ImportRecord, Store};

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
            // The newest carries a credit analysis; records made before it have none.
            credit: (i == 2).then(|| crate::domain::credit::CreditAnalysis {
                owner_mismatch: true,
                months: vec![crate::domain::credit::MonthFigures {
                    month: "2026-11".into(),
                    income: "5000.25".parse().unwrap(),
                    spending: "1234.5".parse().unwrap(),
                    closing_balance: Some("-12.30".parse().unwrap()),
                }],
                income_variation_percent: Some("3.3".parse().unwrap()),
                spending_by_label: vec![("groceries".into(), "300".parse().unwrap())],
                ..Default::default()
            }),
            // The newest was read from the owner's data (a case's refresh).
            source: if i == 2 {
                crate::ports::ImportSource::OwnerData
            } else {
                crate::ports::ImportSource::DefaultImport
            },
            expires_at: clock.now() + Duration::days(90),
        };
        store.put_import_record(&rec).await.unwrap();
    }
    let recs = store.import_records(&owner).await.unwrap();
    assert_eq!(recs.len(), 3);
    assert!(recs.windows(2).all(|w| w[0].imported_at < w[1].imported_at));
    assert_eq!(recs[2].summary.transactions_total, 20);
    assert_eq!(recs[0].credit, None);
    let credit = recs[2]
        .credit
        .as_ref()
        .expect("the credit analysis is kept");
    assert!(credit.owner_mismatch);
    assert_eq!(credit.months[0].income.to_string(), "5000.25");
    assert_eq!(
        credit.months[0]
            .closing_balance
            .map(|b| b.to_string())
            .as_deref(),
        Some("-12.30")
    );

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
