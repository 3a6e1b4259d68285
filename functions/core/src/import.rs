//! The data a Default Import returns, and the ways to consume it.
//!
//! A successful import can hold 100 000 transactions, so the client does not hand over one big
//! document: it streams the reply and calls an [`ImportSink`] for each owner, transaction and
//! account as it reads them. [`SummaryBuilder`] keeps only running totals (what we store), and
//! [`CollectedImport`] keeps everything (for tests and small imports).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub name: String,
    pub official_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub name: String,
    pub address: String,
    pub kind: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub name: String,
    pub number: String,
    pub currency: String,
    pub balance: Option<Decimal>,
    pub available_funds: Option<Decimal>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MoneyTransaction {
    pub transaction_on: Option<NaiveDate>,
    pub booked_on: Option<NaiveDate>,
    pub currency_amount: Decimal,
    pub currency_balance: Option<Decimal>,
    pub title: String,
    pub party: String,
    pub party_iban: String,
    pub kind: String,
}

impl MoneyTransaction {
    /// The day the money moved: the transaction date, else the booking date.
    pub fn day(&self) -> Option<NaiveDate> {
        self.transaction_on.or(self.booked_on)
    }
}

/// Receives an import result piece by piece, in document order. Account `i`'s transactions come
/// before `on_account(i, …)`, which carries the account's own fields once they are all read.
pub trait ImportSink: Send {
    fn on_target(&mut self, _target: Target) {}
    fn on_owner(&mut self, _owner: Owner) {}
    fn on_transaction(&mut self, _account_index: usize, _transaction: MoneyTransaction) {}
    fn on_account(&mut self, _account_index: usize, _account: Account) {}
}

/// A sink that ignores everything (for a command that is still running).
#[derive(Debug, Default)]
pub struct Discard;
impl ImportSink for Discard {}

/// Keeps the whole result in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectedImport {
    pub target: Option<Target>,
    pub owners: Vec<Owner>,
    pub accounts: Vec<(Account, Vec<MoneyTransaction>)>,
}

impl CollectedImport {
    pub fn transaction_count(&self) -> usize {
        self.accounts.iter().map(|(_, t)| t.len()).sum()
    }

    fn slot(&mut self, i: usize) -> &mut (Account, Vec<MoneyTransaction>) {
        while self.accounts.len() <= i {
            self.accounts.push(Default::default());
        }
        &mut self.accounts[i]
    }
}

impl ImportSink for CollectedImport {
    fn on_target(&mut self, target: Target) {
        self.target = Some(target);
    }
    fn on_owner(&mut self, owner: Owner) {
        self.owners.push(owner);
    }
    fn on_transaction(&mut self, i: usize, t: MoneyTransaction) {
        self.slot(i).1.push(t);
    }
    fn on_account(&mut self, i: usize, a: Account) {
        self.slot(i).0 = a;
    }
}

/// What we keep of one account: no transaction detail, the number masked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountSummary {
    pub name: String,
    /// The last four characters of the account number, e.g. `…1234`.
    pub number_masked: String,
    pub currency: String,
    pub balance: Option<Decimal>,
    pub available_funds: Option<Decimal>,
    pub transactions: u64,
    /// Sum of incoming amounts.
    pub income: Decimal,
    /// Sum of outgoing amounts, as a positive number.
    pub spending: Decimal,
    pub first_day: Option<NaiveDate>,
    pub last_day: Option<NaiveDate>,
}

/// Totals over all accounts of one currency.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrencyTotals {
    pub currency: String,
    pub balance: Decimal,
    pub income: Decimal,
    pub spending: Decimal,
}

/// The analysed result of one import: small enough for one DynamoDB item whatever the import's
/// size (accounts are capped at [`ImportSummary::MAX_ACCOUNTS`]; the rest are only counted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportSummary {
    pub bank: Option<String>,
    pub owners: u32,
    pub accounts: Vec<AccountSummary>,
    pub accounts_total: u32,
    pub transactions_total: u64,
    pub period_from: Option<NaiveDate>,
    pub period_to: Option<NaiveDate>,
    pub totals: Vec<CurrencyTotals>,
}

impl ImportSummary {
    pub const MAX_ACCOUNTS: usize = 50;
}

/// Builds an [`ImportSummary`] while the result streams past, keeping O(accounts) memory.
#[derive(Debug, Default)]
pub struct SummaryBuilder {
    bank: Option<String>,
    owners: u32,
    accounts: BTreeMap<usize, AccountSummary>,
}

impl SummaryBuilder {
    fn slot(&mut self, i: usize) -> &mut AccountSummary {
        self.accounts.entry(i).or_default()
    }

    pub fn build(self) -> ImportSummary {
        let mut totals: BTreeMap<String, CurrencyTotals> = BTreeMap::new();
        let (mut from, mut to) = (None::<NaiveDate>, None::<NaiveDate>);
        let mut transactions_total = 0;
        for a in self.accounts.values() {
            let t = totals
                .entry(a.currency.clone())
                .or_insert_with(|| CurrencyTotals {
                    currency: a.currency.clone(),
                    ..Default::default()
                });
            t.balance += a.balance.unwrap_or_default();
            t.income += a.income;
            t.spending += a.spending;
            transactions_total += a.transactions;
            from = min_opt(from, a.first_day);
            to = max_opt(to, a.last_day);
        }
        let accounts_total = self.accounts.len() as u32;
        ImportSummary {
            bank: self.bank,
            owners: self.owners,
            accounts: self
                .accounts
                .into_values()
                .take(ImportSummary::MAX_ACCOUNTS)
                .collect(),
            accounts_total,
            transactions_total,
            period_from: from,
            period_to: to,
            totals: totals.into_values().collect(),
        }
    }
}

fn min_opt(a: Option<NaiveDate>, b: Option<NaiveDate>) -> Option<NaiveDate> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_opt(a: Option<NaiveDate>, b: Option<NaiveDate>) -> Option<NaiveDate> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn mask(number: &str) -> String {
    let tail: Vec<char> = number
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<Vec<_>>();
    let start = tail.len().saturating_sub(4);
    let last: String = tail[start..].iter().collect();
    if last.is_empty() {
        String::new()
    } else {
        format!("…{last}")
    }
}

impl ImportSink for SummaryBuilder {
    fn on_target(&mut self, target: Target) {
        let name = if target.official_name.is_empty() {
            target.name
        } else {
            target.official_name
        };
        self.bank = Some(name);
    }
    fn on_owner(&mut self, _owner: Owner) {
        self.owners += 1;
    }
    fn on_transaction(&mut self, i: usize, t: MoneyTransaction) {
        let a = self.slot(i);
        a.transactions += 1;
        if t.currency_amount.is_sign_negative() {
            a.spending -= t.currency_amount;
        } else {
            a.income += t.currency_amount;
        }
        a.first_day = min_opt(a.first_day, t.day());
        a.last_day = max_opt(a.last_day, t.day());
    }
    fn on_account(&mut self, i: usize, account: Account) {
        let a = self.slot(i);
        a.name = account.name;
        a.number_masked = mask(&account.number);
        a.currency = account.currency;
        a.balance = account.balance;
        a.available_funds = account.available_funds;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    fn tx(day: &str, amount: &str) -> MoneyTransaction {
        MoneyTransaction {
            transaction_on: NaiveDate::parse_from_str(day, "%Y-%m-%d").ok(),
            currency_amount: d(amount),
            ..Default::default()
        }
    }

    fn feed(sink: &mut dyn ImportSink) {
        sink.on_target(Target {
            name: "DemoBank".into(),
            official_name: "Demo Bank S.A.".into(),
        });
        sink.on_owner(Owner::default());
        sink.on_transaction(0, tx("2026-10-01", "-120.50"));
        sink.on_transaction(0, tx("2026-10-05", "3000.00"));
        sink.on_account(
            0,
            Account {
                name: "Main".into(),
                number: "PL61 1090 1014 0000 0712 1981 2874".into(),
                currency: "PLN".into(),
                balance: Some(d("1234.56")),
                available_funds: Some(d("1200")),
            },
        );
        sink.on_transaction(1, tx("2026-09-20", "-10"));
        sink.on_account(
            1,
            Account {
                name: "Savings".into(),
                number: "PL27114020040000300201355387".into(),
                currency: "PLN".into(),
                balance: Some(d("100.44")),
                available_funds: None,
            },
        );
        sink.on_transaction(2, tx("2026-10-10", "-5.25"));
        sink.on_account(
            2,
            Account {
                name: "Euro".into(),
                number: "DE89".into(),
                currency: "EUR".into(),
                balance: Some(d("50")),
                available_funds: None,
            },
        );
    }

    #[test]
    fn summary_adds_income_and_spending_per_account_and_currency() {
        let mut b = SummaryBuilder::default();
        feed(&mut b);
        let s = b.build();
        assert_eq!(s.bank.as_deref(), Some("Demo Bank S.A."));
        assert_eq!(s.owners, 1);
        assert_eq!(s.accounts_total, 3);
        assert_eq!(s.transactions_total, 4);
        let main = &s.accounts[0];
        assert_eq!(main.number_masked, "…2874");
        assert_eq!(main.income, d("3000.00"));
        assert_eq!(main.spending, d("120.50"));
        assert_eq!(main.transactions, 2);
        assert_eq!(
            s.period_from,
            NaiveDate::from_ymd_opt(2026, 9, 20),
            "earliest day over all accounts"
        );
        assert_eq!(s.period_to, NaiveDate::from_ymd_opt(2026, 10, 10));
        let pln = s.totals.iter().find(|t| t.currency == "PLN").expect("PLN");
        assert_eq!(pln.balance, d("1335.00"));
        assert_eq!(pln.spending, d("130.50"));
        let eur = s.totals.iter().find(|t| t.currency == "EUR").expect("EUR");
        assert_eq!(eur.spending, d("5.25"));
        assert_eq!(eur.income, d("0"));
    }

    #[test]
    fn summary_of_many_accounts_stays_bounded() {
        let mut b = SummaryBuilder::default();
        for i in 0..(ImportSummary::MAX_ACCOUNTS + 7) {
            b.on_transaction(i, tx("2026-10-01", "1"));
            b.on_account(i, Account::default());
        }
        let s = b.build();
        assert_eq!(s.accounts.len(), ImportSummary::MAX_ACCOUNTS);
        assert_eq!(s.accounts_total as usize, ImportSummary::MAX_ACCOUNTS + 7);
        assert_eq!(
            s.transactions_total as usize,
            ImportSummary::MAX_ACCOUNTS + 7
        );
    }

    #[test]
    fn collector_keeps_everything_in_order() {
        let mut c = CollectedImport::default();
        feed(&mut c);
        assert_eq!(c.accounts.len(), 3);
        assert_eq!(c.transaction_count(), 4);
        assert_eq!(c.accounts[0].0.name, "Main");
        assert_eq!(c.accounts[0].1[1].currency_amount, d("3000.00"));
        assert_eq!(mask(""), "");
        assert_eq!(mask("12"), "…12");
    }
}
