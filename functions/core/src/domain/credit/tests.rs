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

fn tx(on: &str, amount: &str, balance: Option<&str>, title: &str) -> MoneyTransaction {
    MoneyTransaction {
        transaction_on: Some(day(on)),
        booked_on: Some(day(on)),
        currency_amount: d(amount),
        currency_balance: balance.map(d),
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

fn owner(name: &str) -> Owner {
    Owner {
        name: name.into(),
        ..Owner::default()
    }
}

fn account(iban: &str, currency: &str, owners: &[&str]) -> Account {
    Account {
        name: "Konto".into(),
        iban: iban.into(),
        currency: currency.into(),
        owners: owners.iter().map(|n| owner(n)).collect(),
        ..Account::default()
    }
}

const CURRENT: &str = "PL61 1090 1014 0000 0712 1981 2874";
const SAVINGS: &str = "PL27114020040000300201355387";

fn builder() -> CreditAnalysisBuilder {
    CreditAnalysisBuilder::new(day("2026-09-01"), day("2026-12-01"))
}

/// A Polish import (asked from 1 September, made on 1 December): two accounts of Jan Nowak
/// (not the applicant, Anna Kowalska), pay labelled `salary`, a transfer between the two
/// accounts each way (the savings side written without its country prefix), a loan
/// instalment, a debt collector, a returned payment, a week below zero and a pending card
/// payment; transactions oldest first.
fn polish() -> CreditAnalysisBuilder {
    let mut b = builder();
    b.on_owner(owner("JAN NOWAK"));
    for t in [
        labelled(
            tx("2026-09-10", "5000", Some("5200"), "Wynagrodzenie 09/2026"),
            "salary",
        ),
        to_party(
            tx("2026-09-12", "-1000", Some("4200"), "Przelew własny"),
            SAVINGS,
        ),
        labelled(
            tx("2026-09-15", "-300", Some("3900"), "Biedronka"),
            "groceries",
        ),
        labelled(
            tx("2026-10-10", "5200", Some("9100"), "Wynagrodzenie 10/2026"),
            "salary",
        ),
        tx(
            "2026-10-20",
            "-450.50",
            Some("8649.50"),
            "Rata kredytu hipotecznego",
        ),
        tx(
            "2026-10-25",
            "-200",
            Some("8449.50"),
            "KRUK S.A. Windykacja",
        ),
        tx(
            "2026-10-28",
            "120",
            Some("8569.50"),
            "Zwrot przelewu - rachunek zamknięty",
        ),
        labelled(tx("2026-11-03", "-8719.50", Some("-150"), "Ikea"), "home"),
        labelled(
            tx("2026-11-10", "4800", Some("4650"), "Wynagrodzenie 11/2026"),
            "salary",
        ),
    ] {
        b.on_transaction(0, t);
    }
    let mut pending = labelled(tx("2026-11-20", "-99", None, "Kino"), "entertainment");
    pending.status = "PENDING".into();
    b.on_transaction(0, pending);
    let mut rejected = tx("2026-11-21", "-5000", None, "Odrzucona");
    rejected.status = "REJECTED".into();
    b.on_transaction(0, rejected);
    b.on_account(0, account(CURRENT, "PLN", &[]));
    b.on_transaction(
        1,
        to_party(
            tx("2026-09-12", "1000", Some("1000"), "Przelew własny"),
            "61109010140000071219812874",
        ),
    );
    b.on_account(1, account(SAVINGS, "PLN", &[]));
    b
}

fn polish_import() -> CreditAnalysis {
    polish().build("Anna Kowalska")
}

#[test]
fn names_match_across_diacritics_case_and_word_order() {
    assert!(same_person("Anna Kowalska", "KOWALSKA ANNA"));
    assert!(same_person("Łukasz Żółć", "LUKASZ ZOLC"));
    assert!(
        same_person("Jan Dvořák", "JAN DVORAK"),
        "Czech letters fold too"
    );
    assert!(
        !same_person("Jürgen Groß", "JUERGEN GROSS"),
        "ü is u, not ue"
    );
    assert!(same_person("Jürgen Groß", "JURGEN GROSS"));
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
    assert!(a.owner_checked);
    assert_eq!(a.accounts_total, 2);
    assert_eq!(a.accounts_of_applicant, 0);
    assert!(a.owner_mismatch);
    // Without the applicant's name nothing can be told, and nothing is flagged.
    let unknown = polish().build("");
    assert!(!unknown.owner_checked && !unknown.owner_mismatch);
    // Jan Nowak's own: the current account is his (the connection's owner); an account with
    // owners of its own is judged by them.
    let mut b = builder();
    b.on_owner(owner("JAN NOWAK"));
    b.on_account(0, account(CURRENT, "PLN", &[]));
    b.on_account(1, account(SAVINGS, "PLN", &["Ewa Nowak"]));
    let own = b.build("Nowak Jan");
    assert_eq!(own.accounts_of_applicant, 1);
    assert!(!own.owner_mismatch);
}

#[test]
fn transfers_between_the_imports_accounts_are_neither_income_nor_spending() {
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
fn income_is_the_salary_by_month_with_its_stability_over_the_full_months() {
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
        ]
    );
    assert_eq!((a.full_months, a.months_with_income), (3, 3));
    // mean 5000, deviations 0, +200, -200: sd 163.3, 3.3 %
    assert_eq!(a.income_variation_percent, Some(d("3.3")));
}

#[test]
fn a_steady_salary_is_steady_whatever_day_the_period_starts_and_ends() {
    // Asked from 26 November for a year, imported on 26 November: the first and the last
    // calendar months are partial and do not count; every full month has the same pay.
    let mut b = CreditAnalysisBuilder::new(day("2025-11-26"), day("2026-11-26"));
    let mut on = day("2025-12-10");
    while on < day("2026-11-26") {
        b.on_transaction(
            0,
            labelled(tx(&on.to_string(), "5000", None, "Pensja"), "salary"),
        );
        on = on + chrono::Months::new(1);
    }
    b.on_account(0, account(CURRENT, "PLN", &["Anna Kowalska"]));
    let a = b.build("Anna Kowalska");
    assert_eq!(a.full_months, 11, "December to October");
    assert_eq!(a.months_with_income, 11);
    assert_eq!(a.income_variation_percent, Some(d("0.0")));
    // A month without pay inside the period counts, as 0.
    let mut b = CreditAnalysisBuilder::new(day("2026-09-01"), day("2026-12-01"));
    for on in ["2026-09-10", "2026-11-10"] {
        b.on_transaction(0, labelled(tx(on, "5000", None, "Pensja"), "salary"));
    }
    b.on_account(0, account(CURRENT, "PLN", &[]));
    let gap = b.build("Anna Kowalska");
    assert_eq!((gap.full_months, gap.months_with_income), (3, 2));
    assert!(gap.income_variation_percent > Some(d("50")), "{gap:?}");
}

#[test]
fn without_salary_labels_income_is_other_incoming_but_refunds_and_loans() {
    let mut b = CreditAnalysisBuilder::new(day("2026-09-01"), day("2026-11-01"));
    b.on_transaction(0, tx("2026-09-05", "3000", None, "Faktura 1/09"));
    b.on_transaction(0, tx("2026-09-20", "250", None, "Zwrot podatku PIT"));
    b.on_transaction(
        0,
        tx("2026-10-02", "20000", None, "Wypłata pożyczki 123/2026"),
    );
    b.on_transaction(0, tx("2026-10-05", "1000", None, "Faktura 1/10"));
    b.on_transaction(0, tx("2026-10-06", "-50", None, "Opłata"));
    b.on_account(0, account(CURRENT, "PLN", &["Anna Kowalska"]));
    let a = b.build("Anna Kowalska");
    assert_eq!(a.income_basis, "incoming");
    assert_eq!(a.months[0].income, d("3000"), "a tax refund is no income");
    assert_eq!(
        a.months[1].income,
        d("1000"),
        "a loan paid out is no income"
    );
    // mean 2000, sd 1000: 50 %
    assert_eq!(a.income_variation_percent, Some(d("50.0")));
    assert!(!a.shorter_than_asked, "from the first week asked for");
    assert_eq!(
        a.returned_or_failed_payments, 0,
        "a refund is no returned payment"
    );
}

#[test]
fn spending_by_month_and_label_and_month_end_balances() {
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
        "booked only: the pending cinema ticket and the rejected payment are not here"
    );
    let closing: Vec<Option<Decimal>> = a.months.iter().map(|m| m.closing_balance).collect();
    assert_eq!(
        closing,
        [Some(d("4900")), Some(d("9569.50")), Some(d("5650"))],
        "each account's last balance, carried into the months it did not move in, summed"
    );
}

#[test]
fn a_months_end_is_the_days_newest_transaction_in_kontomatiks_order() {
    // Kontomatik lists newest first: on 30 September the 2000 came in after the 100 went out.
    let mut b = builder();
    for t in [
        tx("2026-09-30", "2000", Some("2900"), "Przelew"),
        tx("2026-09-30", "-100", Some("900"), "Sklep"),
        tx("2026-09-01", "1000", Some("1000"), "Wpłata"),
    ] {
        b.on_transaction(0, t);
    }
    b.on_account(0, account(CURRENT, "PLN", &[]));
    let a = b.build("Anna Kowalska");
    assert_eq!(a.months[0].closing_balance, Some(d("2900")));
}

#[test]
fn days_below_zero_last_until_the_accounts_next_transaction() {
    let a = polish_import();
    assert_eq!(
        a.days_with_negative_balance, 7,
        "3 to 9 November: below zero from the Ikea payment to the next salary"
    );
    // A dip within a day that ends above zero is no day below zero (newest first).
    let mut b = builder();
    b.on_transaction(0, tx("2026-09-05", "500", Some("300"), "Wpłata"));
    b.on_transaction(0, tx("2026-09-05", "-400", Some("-200"), "Sklep"));
    b.on_account(0, account(CURRENT, "PLN", &[]));
    assert_eq!(b.build("Anna Kowalska").days_with_negative_balance, 0);
}

#[test]
fn returned_payments_loans_and_debt_collection_by_whole_words() {
    let a = polish_import();
    assert_eq!(a.returned_or_failed_payments, 1);
    assert_eq!((a.loan_repayments, a.loan_repaid), (1, d("450.50")));
    assert_eq!(
        (a.debt_collection_payments, a.debt_collection_paid),
        (1, d("200"))
    );
    // What only looks like them.
    let mut b = builder();
    b.on_transaction(0, tx("2026-09-03", "-700", None, "Spłata karty kredytowej"));
    b.on_transaction(0, tx("2026-09-04", "-80", None, "Płatność kartą kredytową"));
    let mut shop = tx("2026-09-05", "-60", None, "Zakupy");
    shop.party = "Jan Krukowski, ul. Krukowska 5".into();
    b.on_transaction(0, shop);
    b.on_account(0, account(CURRENT, "PLN", &[]));
    let lookalikes = b.build("Anna Kowalska");
    assert_eq!(lookalikes.loan_repayments, 0, "a credit card is no loan");
    assert_eq!(
        lookalikes.debt_collection_payments, 0,
        "Krukowski is not KRUK S.A."
    );
}

#[test]
fn pending_transactions_of_the_main_currency_are_counted_apart() {
    let a = polish_import();
    assert_eq!((a.pending_transactions, a.pending_amount), (1, d("-99")));
}

#[test]
fn the_period_covered_and_a_warning_when_it_starts_late() {
    let a = polish_import();
    assert_eq!(a.period_from, Some(day("2026-09-10")));
    assert_eq!(a.period_to, Some(day("2026-11-10")));
    assert!(!a.shorter_than_asked, "nine days after the day asked for");
    let mut late = CreditAnalysisBuilder::new(day("2025-12-01"), day("2026-12-01"));
    late.on_transaction(0, tx("2026-09-10", "10", None, "x"));
    late.on_account(0, account(CURRENT, "PLN", &[]));
    assert!(late.build("Anna Kowalska").shorter_than_asked);
    let empty = builder().build("Anna Kowalska");
    assert!(empty.shorter_than_asked, "no data covers nothing");
    assert_eq!(empty.income_variation_percent, None);
}

#[test]
fn the_figures_are_of_the_main_currency_others_counted() {
    let mut b = builder();
    for on in ["2026-09-02", "2026-09-03"] {
        b.on_transaction(0, tx(on, "-10", None, "PLN"));
    }
    b.on_account(0, account(CURRENT, "PLN", &[]));
    b.on_transaction(1, tx("2026-09-04", "-999", None, "EUR"));
    let mut pending = tx("2026-09-05", "-5", None, "EUR");
    pending.status = "PENDING".into();
    b.on_transaction(1, pending);
    b.on_account(1, account(SAVINGS, "EUR", &[]));
    // An account whose currency is not known never wins a tie.
    b.on_transaction(2, tx("2026-09-06", "-1", None, "?"));
    b.on_transaction(2, tx("2026-09-07", "-1", None, "?"));
    b.on_account(2, account("", "", &[]));
    let a = b.build("Anna Kowalska");
    assert_eq!(a.currency.as_deref(), Some("PLN"));
    assert_eq!(a.other_currency_transactions, 3);
    assert_eq!(a.months[0].spending, d("20"));
    assert_eq!(
        a.pending_transactions, 0,
        "the EUR pending one is not summed"
    );
}

#[test]
fn the_stored_analysis_reads_back_with_fields_it_did_not_have() {
    let old = r#"{"accountsTotal":2,"months":[{"month":"2026-09","income":"5000"}]}"#;
    let a: CreditAnalysis = serde_json::from_str(old).unwrap();
    assert_eq!(a.accounts_total, 2);
    assert_eq!(a.months[0].income, d("5000"));
    assert_eq!(a.months[0].closing_balance, None);
}
