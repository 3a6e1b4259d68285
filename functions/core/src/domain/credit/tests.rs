use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::*;
use crate::domain::import::{Account, ImportSink, MoneyTransaction, Owner};

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn tx(on: &str, amount: Decimal, balance: Option<Decimal>, title: &str) -> MoneyTransaction {
    MoneyTransaction {
        transaction_on: Some(day(on)),
        booked_on: Some(day(on)),
        currency_amount: amount,
        currency_balance: balance,
        title: title.into(),
        status: "DONE".into(),
        ..MoneyTransaction::default()
    }
}

fn labelled(mut t: MoneyTransaction, label: &str) -> MoneyTransaction {
    t.labels = vec![label.into()];
    t
}

fn to_party(mut t: MoneyTransaction, iban: &str) -> MoneyTransaction {
    t.party_iban = iban.into();
    t
}

fn account(iban: &str, currency: &str, owners: &[&str]) -> Account {
    Account {
        name: "Konto".into(),
        iban: iban.into(),
        currency: currency.into(),
        owners: owners
            .iter()
            .map(|n| Owner {
                name: (*n).into(),
                ..Owner::default()
            })
            .collect(),
        ..Account::default()
    }
}

const CURRENT: &str = "PL61 1090 1014 0000 0712 1981 2874";
const SAVINGS: &str = "PL27114020040000300201355387";

/// A Polish import: two accounts of Jan Nowak (not the applicant, Anna Kowalska), pay labelled
/// `salary`, a transfer between the two accounts each way, a loan instalment, a debt
/// collector, a returned payment, a day below zero and one pending card payment.
fn polish_import() -> CreditAnalysis {
    let mut b = CreditAnalysisBuilder::new(day("2025-12-01"));
    b.on_owner(Owner {
        name: "JAN NOWAK".into(),
        ..Owner::default()
    });
    for t in [
        labelled(
            tx(
                "2026-09-10",
                d("5000"),
                Some(d("5200")),
                "Wynagrodzenie 09/2026",
            ),
            "salary",
        ),
        // to the savings account, written as the bank writes it (no spaces)
        to_party(
            tx("2026-09-12", d("-1000"), Some(d("4200")), "Przelew własny"),
            SAVINGS,
        ),
        labelled(
            tx("2026-09-15", d("-300"), Some(d("3900")), "Biedronka"),
            "groceries",
        ),
        labelled(
            tx(
                "2026-10-10",
                d("5200"),
                Some(d("9100")),
                "Wynagrodzenie 10/2026",
            ),
            "salary",
        ),
        tx(
            "2026-10-20",
            d("-450.50"),
            Some(d("8649.50")),
            "Rata kredytu hipotecznego",
        ),
        tx(
            "2026-10-25",
            d("-200"),
            Some(d("8449.50")),
            "KRUK S.A. Windykacja",
        ),
        tx(
            "2026-10-28",
            d("120"),
            Some(d("8569.50")),
            "Zwrot płatności odrzuconej",
        ),
        labelled(
            tx("2026-11-03", d("-8719.50"), Some(d("-150")), "Ikea"),
            "home",
        ),
        labelled(
            tx(
                "2026-11-10",
                d("4800"),
                Some(d("4650")),
                "Wynagrodzenie 11/2026",
            ),
            "salary",
        ),
    ] {
        b.on_transaction(0, t);
    }
    let mut pending = labelled(tx("2026-11-20", d("-99"), None, "Kino"), "entertainment");
    pending.status = "PENDING".into();
    b.on_transaction(0, pending);
    b.on_account(0, account(CURRENT, "PLN", &[]));
    b.on_transaction(
        1,
        to_party(
            tx("2026-09-12", d("1000"), Some(d("1000")), "Przelew własny"),
            "pl61109010140000071219812874",
        ),
    );
    b.on_account(1, account(SAVINGS, "PLN", &[]));
    b.build("Anna Kowalska")
}

#[test]
fn names_match_across_diacritics_case_and_word_order() {
    assert!(same_person("Anna Kowalska", "KOWALSKA ANNA"));
    assert!(same_person("Łukasz Żółć", "LUKASZ ZOLC"));
    assert!(
        same_person("Anna Kowalska", "Anna Maria Kowalska"),
        "a middle name"
    );
    assert!(same_person("Anna Kowalska-Nowak", "ANNA KOWALSKA NOWAK"));
    assert!(!same_person("Anna Kowalska", "Anna Nowak"));
    assert!(
        !same_person("Anna", "Anna Kowalska"),
        "one word is not a person"
    );
    assert_eq!(name_words("Źdźbło  Łąka"), ["laka", "zdzblo"]);
}

#[test]
fn no_account_of_the_applicant_is_flagged() {
    let a = polish_import();
    assert_eq!(a.accounts_total, 2);
    assert_eq!(a.accounts_of_applicant, 0);
    assert!(a.owner_mismatch);
    // Without the applicant's name nothing can be told, and nothing is flagged.
    let mut b = CreditAnalysisBuilder::new(day("2025-12-01"));
    b.on_owner(Owner {
        name: "JAN NOWAK".into(),
        ..Owner::default()
    });
    b.on_account(0, account(CURRENT, "PLN", &[]));
    assert!(!b.build("").owner_mismatch);
    // The same data for Jan Nowak himself: both accounts are his (the connection's owner).
    let mut b = CreditAnalysisBuilder::new(day("2025-12-01"));
    b.on_owner(Owner {
        name: "JAN NOWAK".into(),
        ..Owner::default()
    });
    b.on_account(0, account(CURRENT, "PLN", &[]));
    // An account with owners of its own is judged by them.
    b.on_account(1, account(SAVINGS, "PLN", &["Ewa Nowak"]));
    let own = b.build("Nowak Jan");
    assert_eq!(own.accounts_of_applicant, 1);
    assert!(!own.owner_mismatch);
}

#[test]
fn transfers_between_own_accounts_are_neither_income_nor_spending() {
    let a = polish_import();
    assert_eq!(
        a.own_transfers, 2,
        "out of the current account, into savings"
    );
    let sep = &a.months[0];
    assert_eq!(sep.month, "2026-09");
    assert_eq!(sep.income, d("5000"), "not the 1000 arriving in savings");
    assert_eq!(sep.spending, d("300"), "not the 1000 leaving for savings");
}

#[test]
fn income_is_the_salary_by_month_with_its_stability() {
    let a = polish_import();
    assert_eq!(a.income_basis, "salary");
    let income: Vec<(&str, Decimal)> = a
        .months
        .iter()
        .map(|m| (m.month.as_str(), m.income))
        .collect();
    assert_eq!(
        income,
        [
            ("2026-09", d("5000")),
            ("2026-10", d("5200")),
            ("2026-11", d("4800"))
        ],
        "the returned 120 is not pay"
    );
    assert_eq!(a.months_with_income, 3);
    // mean 5000, deviations 0, +200, -200: sd 163.3, 3.3 %
    assert_eq!(a.income_variation_percent, Some(d("3.3")));
}

#[test]
fn without_salary_labels_income_is_every_other_incoming_payment() {
    let mut b = CreditAnalysisBuilder::new(day("2026-09-01"));
    b.on_transaction(0, tx("2026-09-05", d("3000"), None, "Faktura 1/09"));
    b.on_transaction(0, tx("2026-10-05", d("1000"), None, "Faktura 1/10"));
    b.on_transaction(0, tx("2026-10-06", d("-50"), None, "Opłata"));
    b.on_account(0, account(CURRENT, "PLN", &["Anna Kowalska"]));
    let a = b.build("Anna Kowalska");
    assert_eq!(a.income_basis, "incoming");
    assert_eq!(a.months[0].income, d("3000"));
    assert_eq!(a.months[1].income, d("1000"));
    // mean 2000, sd 1000: 50 %
    assert_eq!(a.income_variation_percent, Some(d("50.0")));
    assert!(!a.shorter_than_asked, "from the first week asked for");
}

#[test]
fn spending_by_month_and_label_balances_and_negative_days() {
    let a = polish_import();
    let spending: Vec<Decimal> = a.months.iter().map(|m| m.spending).collect();
    assert_eq!(spending, [d("300"), d("650.50"), d("8719.50")]);
    assert_eq!(
        a.spending_by_label,
        [
            ("home".to_owned(), d("8719.50")),
            ("other".to_owned(), d("650.50")),
            ("groceries".to_owned(), d("300")),
        ],
        "booked only: the pending cinema ticket is not here"
    );
    let closing: Vec<Option<Decimal>> = a.months.iter().map(|m| m.closing_balance).collect();
    assert_eq!(
        closing,
        [Some(d("4900")), Some(d("9569.50")), Some(d("5650"))],
        "each account's last balance, carried into the months it did not move in, summed"
    );
    assert_eq!(a.days_with_negative_balance, 1);
}

#[test]
fn returned_payments_loans_and_debt_collection_show_from_titles() {
    let a = polish_import();
    assert_eq!(a.returned_or_failed_payments, 1);
    assert_eq!((a.loan_repayments, a.loan_repaid), (1, d("450.50")));
    assert_eq!(
        (a.debt_collection_payments, a.debt_collection_paid),
        (1, d("200"))
    );
}

#[test]
fn pending_transactions_are_counted_apart() {
    let a = polish_import();
    assert_eq!((a.pending_transactions, a.pending_amount), (1, d("-99")));
}

#[test]
fn the_period_covered_and_a_warning_when_shorter_than_asked() {
    let a = polish_import();
    assert_eq!(a.period_from, Some(day("2026-09-10")));
    assert_eq!(a.period_to, Some(day("2026-11-10")));
    assert!(
        a.shorter_than_asked,
        "asked from December 2025, data from September 2026"
    );
    let empty = CreditAnalysisBuilder::new(day("2025-12-01")).build("Anna Kowalska");
    assert!(empty.shorter_than_asked, "no data covers nothing");
    assert_eq!(empty.income_variation_percent, None);
}

#[test]
fn the_figures_are_of_the_main_currency_others_counted() {
    let mut b = CreditAnalysisBuilder::new(day("2026-09-01"));
    for on in ["2026-09-02", "2026-09-03"] {
        b.on_transaction(0, tx(on, d("-10"), None, "PLN"));
    }
    b.on_account(0, account(CURRENT, "PLN", &[]));
    b.on_transaction(1, tx("2026-09-04", d("-999"), None, "EUR"));
    b.on_account(1, account(SAVINGS, "EUR", &[]));
    let a = b.build("Anna Kowalska");
    assert_eq!(a.currency.as_deref(), Some("PLN"));
    assert_eq!(a.other_currency_transactions, 1);
    assert_eq!(a.months[0].spending, d("20"));
}
