#![allow(clippy::unwrap_used)]

use chrono::{Duration, TimeZone, Utc};

use super::*;

fn t(minutes: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap() + Duration::minutes(minutes)
}

fn started(id: &str, at: i64) -> CaseChange {
    let email = Email::parse("ann@example.com").unwrap();
    CaseChange::SignInStarted {
        key: email.user_key(),
        id: RedirectionId::parse(id).unwrap(),
        window_ends: t(at) + Duration::hours(24),
        email,
        name: "Anna Kowalska".into(),
        language: Language::parse("pl").unwrap(),
        external_application_id: None,
        kept_until: t(at) + Duration::days(90),
        speaks_for_person: true,
    }
}

fn decided(kind: DecisionKind, at: i64) -> CaseChange {
    CaseChange::Decided(Decision {
        kind,
        message: String::new(),
        at: t(at),
        by: "officer@lender.test".into(),
    })
}

fn id(raw: &str) -> RedirectionId {
    RedirectionId::parse(raw).unwrap()
}

#[test]
fn only_a_start_opens_a_case_and_it_is_pending_until_its_sign_in_ends() {
    assert!(Case::open_with(
        &CaseChange::SignInEnded { id: id("r1") },
        new_reference(),
        t(0)
    )
    .is_none());
    let case = Case::open_with(&started("r1", 0), new_reference(), t(0)).unwrap();
    assert_eq!(case.status(t(1)), CaseStatus::Pending);
    assert_eq!(case.version, 1);
    let ended = case.apply(&CaseChange::SignInEnded { id: id("r1") }, t(5));
    assert_eq!(ended.status(t(5)), CaseStatus::Failed);
    assert_eq!(ended.version, 2);
    assert_eq!(ended.updated_at, t(5));
}

#[test]
fn a_sign_in_whose_window_passed_no_longer_holds_the_case_pending() {
    let case = Case::open_with(&started("r1", 0), new_reference(), t(0)).unwrap();
    assert_eq!(case.status(t(24 * 60 - 1)), CaseStatus::Pending);
    assert_eq!(case.status(t(24 * 60 + 1)), CaseStatus::Failed);
}

#[test]
fn an_import_files_the_case_by_its_flags_and_a_later_decision_decides_it() {
    let case = Case::open_with(&started("r1", 0), new_reference(), t(0)).unwrap();
    let clean = case.apply(
        &CaseChange::Imported {
            id: id("r1"),
            flags: vec![],
        },
        t(3),
    );
    assert_eq!(clean.status(t(3)), CaseStatus::Imported);
    let flagged = case.apply(
        &CaseChange::Imported {
            id: id("r1"),
            flags: vec![CaseFlag::OwnerMismatch],
        },
        t(3),
    );
    assert_eq!(flagged.status(t(3)), CaseStatus::NeedsReview);
    let decided = flagged.apply(&decided(DecisionKind::MoreInformation, 10), t(10));
    assert_eq!(decided.status(t(10)), CaseStatus::Decided);
    // The applicant connects another bank: pending again, then back to review with new data.
    let again = decided.apply(&started("r2", 20), t(20));
    assert_eq!(again.status(t(20)), CaseStatus::Pending);
    let reimported = again.apply(
        &CaseChange::Imported {
            id: id("r2"),
            flags: vec![],
        },
        t(25),
    );
    assert_eq!(reimported.status(t(25)), CaseStatus::Imported);
    assert_eq!(
        reimported.decisions.len(),
        1,
        "the decision stays in the history"
    );
}

#[test]
fn a_failed_second_sign_in_leaves_the_first_import_under_review() {
    let case = Case::open_with(&started("r1", 0), new_reference(), t(0))
        .unwrap()
        .apply(
            &CaseChange::Imported {
                id: id("r1"),
                flags: vec![CaseFlag::NoIncome],
            },
            t(2),
        )
        .apply(&started("r2", 5), t(5))
        .apply(&CaseChange::SignInEnded { id: id("r2") }, t(6));
    assert_eq!(case.status(t(6)), CaseStatus::NeedsReview);
}

#[test]
fn a_start_keeps_the_external_id_and_name_it_does_not_replace() {
    let mut first = started("r1", 0);
    if let CaseChange::SignInStarted {
        external_application_id,
        ..
    } = &mut first
    {
        *external_application_id = Some("APP-1".into());
    }
    let case = Case::open_with(&first, new_reference(), t(0)).unwrap();
    let mut second = started("r2", 1);
    if let CaseChange::SignInStarted { name, .. } = &mut second {
        *name = " ".into();
    }
    let after = case.apply(&second, t(1));
    assert_eq!(after.external_application_id.as_deref(), Some("APP-1"));
    assert_eq!(after.name, "Anna Kowalska");
    assert_eq!(after.open.len(), 2);
}

#[test]
fn decisions_kept_are_the_latest() {
    let mut case = Case::open_with(&started("r1", 0), new_reference(), t(0)).unwrap();
    for i in 0..(DECISIONS_KEPT as i64 + 5) {
        case = case.apply(&decided(DecisionKind::Message, i), t(i));
    }
    assert_eq!(case.decisions.len(), DECISIONS_KEPT);
    assert_eq!(case.decisions[0].at, t(5));
    assert_eq!(
        case.latest_decision().unwrap().at,
        t(DECISIONS_KEPT as i64 + 4)
    );
}

#[test]
fn flags_come_from_the_analysis() {
    let mut a = CreditAnalysis::default();
    assert!(CaseFlag::of(&a).is_empty());
    a.owner_mismatch = true;
    a.full_months = 3;
    a.debt_collection_payments = 1;
    assert_eq!(
        CaseFlag::of(&a),
        vec![
            CaseFlag::OwnerMismatch,
            CaseFlag::DebtCollectionPayments,
            CaseFlag::NoIncome
        ]
    );
}

#[test]
fn references_and_external_ids_are_checked() {
    assert!(is_reference(&new_reference()));
    assert!(!is_reference("ABCDEF0123456789ABCDEF0123456789"));
    assert!(!is_reference("../etc"));
    assert_eq!(parse_external_application_id("LOAN-2026/1"), None);
    assert_eq!(
        parse_external_application_id("LOAN-2026.1:a_b").as_deref(),
        Some("LOAN-2026.1:a_b")
    );
    assert_eq!(parse_external_application_id(&"x".repeat(65)), None);
    assert_eq!(parse_external_application_id(""), None);
    for s in CaseStatus::ALL {
        assert_eq!(CaseStatus::parse(s.as_str()), Some(s));
    }
    for k in DecisionKind::ALL {
        assert_eq!(DecisionKind::parse(k.as_str()), Some(k));
    }
}

#[test]
fn the_sort_key_orders_by_time() {
    assert!(case_sort_key(t(1), "ffff") > case_sort_key(t(0), "ffff"));
    assert!(case_sort_key(t(0), "0000") < case_sort_key(t(0), "ffff"));
}

#[test]
fn a_message_alone_decides_nothing() {
    let case = Case::open_with(&started("r1", 0), new_reference(), t(0))
        .unwrap()
        .apply(
            &CaseChange::Imported {
                id: id("r1"),
                flags: vec![CaseFlag::NoIncome],
            },
            t(2),
        )
        .apply(&decided(DecisionKind::Message, 5), t(5));
    assert_eq!(
        case.status(t(5)),
        CaseStatus::NeedsReview,
        "still awaiting a decision"
    );
    let decided = case.apply(&decided(DecisionKind::Declined, 6), t(6));
    assert_eq!(decided.status(t(6)), CaseStatus::Decided);
}

#[test]
fn a_retry_that_fails_after_the_lender_asked_for_more_is_failed_not_decided() {
    let case = Case::open_with(&started("r1", 0), new_reference(), t(0))
        .unwrap()
        .apply(
            &CaseChange::Imported {
                id: id("r1"),
                flags: vec![],
            },
            t(2),
        )
        .apply(&decided(DecisionKind::MoreInformation, 5), t(5))
        .apply(&started("r2", 10), t(10))
        .apply(&CaseChange::SignInEnded { id: id("r2") }, t(12));
    assert_eq!(case.status(t(12)), CaseStatus::Failed);
}

#[test]
fn flags_add_up_until_the_lender_decides() {
    let case = Case::open_with(&started("r1", 0), new_reference(), t(0))
        .unwrap()
        .apply(
            &CaseChange::Imported {
                id: id("r1"),
                flags: vec![CaseFlag::DebtCollectionPayments],
            },
            t(2),
        )
        .apply(&started("r2", 3), t(3))
        .apply(
            &CaseChange::Imported {
                id: id("r2"),
                flags: vec![],
            },
            t(4),
        );
    assert_eq!(
        case.flags,
        vec![CaseFlag::DebtCollectionPayments],
        "a clean second bank clears nothing"
    );
    assert_eq!(case.status(t(4)), CaseStatus::NeedsReview);
    let after = case
        .apply(&decided(DecisionKind::MoreInformation, 5), t(5))
        .apply(&started("r3", 6), t(6))
        .apply(
            &CaseChange::Imported {
                id: id("r3"),
                flags: vec![],
            },
            t(7),
        );
    assert!(
        after.flags.is_empty(),
        "the decision took the earlier flags into account"
    );
    assert_eq!(after.status(t(7)), CaseStatus::Imported);
}

#[test]
fn a_start_by_someone_not_logged_in_does_not_rename_a_verified_person() {
    let case = Case::open_with(&started("r1", 0), new_reference(), t(0)).unwrap();
    let mut stranger = started("r2", 1);
    if let CaseChange::SignInStarted {
        name,
        speaks_for_person,
        language,
        ..
    } = &mut stranger
    {
        *name = "Eve Mallory".into();
        *language = Language::parse("en").unwrap();
        *speaks_for_person = false;
    }
    let after = case.apply(&stranger, t(1));
    assert_eq!(after.name, "Anna Kowalska");
    assert_eq!(after.language.as_str(), "pl");
    assert_eq!(after.open.len(), 2, "the sign-in is still the case's");
}

#[test]
fn a_refresh_keeps_sign_ins_under_way_and_a_refiling_drops_lapsed_ones() {
    let case = Case::open_with(&started("r1", 0), new_reference(), t(0))
        .unwrap()
        .apply(
            &CaseChange::Refreshed {
                flags: vec![CaseFlag::OwnerMismatch],
            },
            t(10),
        );
    assert_eq!(
        case.status(t(10)),
        CaseStatus::Pending,
        "r1 is still under way"
    );
    assert_eq!(case.open.len(), 1);
    let later = t(25 * 60);
    assert_eq!(case.status(later), CaseStatus::NeedsReview);
    let refiled = case.apply(&CaseChange::Refiled, later);
    assert!(refiled.open.is_empty());
    assert_eq!(refiled.updated_at, later);
}
