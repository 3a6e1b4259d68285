use super::*;
use std::str::FromStr;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

fn tx(day: &str, amount: &str, labels: &[&str]) -> MoneyTransaction {
    MoneyTransaction {
        transaction_on: NaiveDate::parse_from_str(day, "%Y-%m-%d").ok(),
        currency_amount: d(amount),
        labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        ..Default::default()
    }
}

fn feed(sink: &mut dyn ImportSink) {
    sink.on_target(Target {
        name: "DemoBank".into(),
        institution: "Demo Bank S.A.".into(),
        ..Default::default()
    });
    sink.on_owner(Owner::default());
    sink.on_transaction(0, tx("2026-09-01", "-120.50", &["utilities", "monthly"]));
    sink.on_transaction(0, tx("2026-09-10", "3000.00", &["salary"]));
    sink.on_transaction(0, tx("2026-09-12", "500.00", &[]));
    sink.on_transaction(0, tx("2026-10-05", "-300.00", &["groceries"]));
    sink.on_account(
        0,
        Account {
            name: "Konto 1".into(),
            friendly_name: "Main".into(),
            iban: "PL61 1090 1014 0000 0712 1981 2874".into(),
            currency: "PLN".into(),
            balance: Some(d("1234.56")),
            available_funds: Some(d("1200")),
            active_since_at_least: NaiveDate::from_ymd_opt(2025, 1, 10),
            ..Default::default()
        },
    );
    sink.on_transaction(1, tx("2026-09-20", "-10", &["utilities"]));
    sink.on_account(
        1,
        Account {
            name: "Savings".into(),
            iban: "PL27114020040000300201355387".into(),
            currency: "PLN".into(),
            balance: Some(d("100.44")),
            ..Default::default()
        },
    );
    sink.on_transaction(2, tx("2026-10-10", "-5.25", &["travel"]));
    sink.on_transaction(2, tx("2026-10-11", "40", &[]));
    sink.on_account(
        2,
        Account {
            name: "Euro".into(),
            iban: "DE89".into(),
            currency: "EUR".into(),
            balance: Some(d("50")),
            ..Default::default()
        },
    );
    sink.on_credit_card();
}

#[test]
fn summary_analyses_accounts_income_spending_and_labels() {
    let mut b = SummaryBuilder::default();
    feed(&mut b);
    let s = b.build();
    assert_eq!(
        s.bank.as_deref(),
        Some("Demo Bank S.A."),
        "institution over target"
    );
    assert_eq!(s.owners, 1);
    assert_eq!(s.credit_cards, 1);
    assert_eq!(s.accounts_total, 3);
    assert_eq!(s.transactions_total, 7);
    let main = &s.accounts[0];
    assert_eq!(main.name, "Main", "the friendly name is shown");
    assert_eq!(main.number_masked, "…2874");
    assert_eq!(main.income, d("3500.00"));
    assert_eq!(main.labelled_income, d("3000.00"));
    assert_eq!(main.spending, d("420.50"));
    assert_eq!(main.available_funds, Some(d("1200")));
    assert_eq!(main.active_since, NaiveDate::from_ymd_opt(2025, 1, 10));
    assert_eq!(s.accounts[1].name, "Savings", "no friendly name: the name");
    assert_eq!(s.period_from, NaiveDate::from_ymd_opt(2026, 9, 1));
    assert_eq!(s.period_to, NaiveDate::from_ymd_opt(2026, 10, 11));
    let pln = s.totals.iter().find(|t| t.currency == "PLN").expect("PLN");
    assert_eq!(pln.balance, d("1335.00"));
    assert_eq!(
        pln.available_funds,
        d("1300.44"),
        "no funds figure: the balance"
    );
    assert_eq!(pln.spending, d("430.50"));
    // 41 days: salary only (labels), not the unlabelled 500.
    assert_eq!(pln.income_basis, IncomeBasis::Labels);
    assert_eq!(pln.monthly_income, d("2195.12"));
    assert_eq!(pln.monthly_spending, d("315.00"));
    let eur = s.totals.iter().find(|t| t.currency == "EUR").expect("EUR");
    assert_eq!(
        eur.income_basis,
        IncomeBasis::AllIncoming,
        "no salary label"
    );
    assert_eq!(eur.monthly_income, d("29.27"));
    let top: Vec<(&str, &str, Decimal)> = s
        .top_spending_labels
        .iter()
        .map(|l| (l.label.as_str(), l.currency.as_str(), l.amount))
        .collect();
    assert_eq!(
        top,
        vec![
            ("groceries", "PLN", d("300.00")),
            ("utilities", "PLN", d("130.50")),
            ("monthly", "PLN", d("120.50")),
        ]
    );
}

#[test]
fn summary_of_many_accounts_and_labels_stays_bounded() {
    let mut b = SummaryBuilder::default();
    for i in 0..(ImportSummary::MAX_ACCOUNTS + 7) {
        let label = format!("label-{i}");
        for j in 0..10 {
            let own = format!("{label}-{j}");
            b.on_transaction(i, tx("2026-10-01", "-1", &[label.as_str(), own.as_str()]));
        }
        b.on_account(i, Account::default());
    }
    assert!(b.labels.len() <= SummaryBuilder::MAX_LABELS);
    let s = b.build();
    assert_eq!(s.accounts.len(), ImportSummary::MAX_ACCOUNTS);
    assert_eq!(s.accounts_total as usize, ImportSummary::MAX_ACCOUNTS + 7);
    assert_eq!(
        s.transactions_total as usize,
        (ImportSummary::MAX_ACCOUNTS + 7) * 10
    );
    assert_eq!(s.top_spending_labels.len(), ImportSummary::TOP_LABELS);
    assert_eq!(s.top_spending_labels[0].amount, d("10"));
}

#[test]
fn collector_keeps_everything_in_order() {
    let mut c = CollectedImport::default();
    feed(&mut c);
    assert_eq!(c.accounts.len(), 3);
    assert_eq!(c.transaction_count(), 7);
    assert_eq!(c.accounts[0].0.display_name(), "Main");
    assert_eq!(c.accounts[0].1[1].currency_amount, d("3000.00"));
    assert_eq!(c.credit_cards, 1);
    assert_eq!(mask(""), "");
    assert_eq!(mask("12"), "…12");
}

#[test]
fn summaries_stored_before_the_new_fields_still_read() {
    let old = r#"{"bank":"Demo","owners":1,"accounts":[{"name":"K","numberMasked":"…1","currency":"PLN","balance":"1","availableFunds":null,"transactions":2,"income":"3","spending":"1","firstDay":null,"lastDay":null}],"accountsTotal":1,"transactionsTotal":2,"periodFrom":null,"periodTo":null,"totals":[{"currency":"PLN","balance":"1","income":"3","spending":"1"}]}"#;
    let s: ImportSummary = serde_json::from_str(old).expect("old summary");
    assert_eq!(s.accounts[0].labelled_income, Decimal::ZERO);
    assert!(s.top_spending_labels.is_empty());
}
