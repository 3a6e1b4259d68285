//! The data a Default Import returns, and the ways to consume it.
//!
//! A successful import can hold 100 000 transactions, so the client does not hand over one big
//! document: it streams the reply and calls an [`ImportSink`] for each owner, transaction and
//! account as it reads them. [`SummaryBuilder`] keeps only running totals (what we store and what
//! the user is told), and [`CollectedImport`] keeps everything (for tests and small imports).
//!
//! The fields follow Kontomatik's recorded result shape (`docs/kontomatik-wire.md`): the bank is
//! named by the command's `target` / `institution`, an account by `name` / `friendlyName` /
//! `iban` with `currencyBalance`, `currencyFundsAvailable`, `currencyName` and
//! `activeSinceAtLeast`; a transaction carries a `status` and Kontomatik's `labels`.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The bank connection the data came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Target {
    /// Technical name of the connection (`target`), e.g. `PkoBp`.
    pub name: String,
    /// A name for people, when Kontomatik gives one (`officialName` in owner data).
    pub official_name: String,
    /// The institution (`institution`), e.g. `PKO BP`.
    pub institution: String,
}

impl Target {
    /// The best name to show a person: official name, else institution, else technical name.
    pub fn display_name(&self) -> Option<&str> {
        [&self.official_name, &self.institution, &self.name]
            .into_iter()
            .map(|s| s.trim())
            .find(|s| !s.is_empty())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Owner {
    pub name: String,
    pub address: String,
    pub kind: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Account {
    pub name: String,
    pub friendly_name: String,
    pub iban: String,
    /// `currencyName`, e.g. `PLN`.
    pub currency: String,
    /// `currencyBalance`.
    pub balance: Option<Decimal>,
    /// `currencyFundsAvailable`.
    pub available_funds: Option<Decimal>,
    /// `activeSinceAtLeast`: the account is at least this old.
    pub active_since_at_least: Option<NaiveDate>,
    /// `directDebit@available`.
    pub direct_debit_available: Option<bool>,
    /// The account's own owners (`account/owners`).
    pub owners: Vec<Owner>,
}

impl Account {
    /// The name to show: the friendly name, else the bank's name for the account.
    pub fn display_name(&self) -> &str {
        if self.friendly_name.trim().is_empty() {
            self.name.trim()
        } else {
            self.friendly_name.trim()
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MoneyTransaction {
    pub transaction_on: Option<NaiveDate>,
    pub booked_on: Option<NaiveDate>,
    pub currency_amount: Decimal,
    pub currency_balance: Option<Decimal>,
    pub title: String,
    pub party: String,
    pub party_iban: String,
    pub kind: String,
    /// e.g. `DONE`.
    pub status: String,
    /// Kontomatik's labels, e.g. `salary`, `utilities`.
    pub labels: Vec<String>,
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
    /// An owner of the whole connection (`result/owners`); an account's own owners come with
    /// the account.
    fn on_owner(&mut self, _owner: Owner) {}
    fn on_transaction(&mut self, _account_index: usize, _transaction: MoneyTransaction) {}
    fn on_account(&mut self, _account_index: usize, _account: Account) {}
    /// A credit card block was present (its contents are not analysed).
    fn on_credit_card(&mut self) {}
}

/// Two sinks fed the same stream (the summary and the credit analysis).
pub struct Tee<'a>(pub &'a mut dyn ImportSink, pub &'a mut dyn ImportSink);

impl ImportSink for Tee<'_> {
    fn on_target(&mut self, target: Target) {
        self.0.on_target(target.clone());
        self.1.on_target(target);
    }
    fn on_owner(&mut self, owner: Owner) {
        self.0.on_owner(owner.clone());
        self.1.on_owner(owner);
    }
    fn on_transaction(&mut self, account_index: usize, transaction: MoneyTransaction) {
        self.0.on_transaction(account_index, transaction.clone());
        self.1.on_transaction(account_index, transaction);
    }
    fn on_account(&mut self, account_index: usize, account: Account) {
        self.0.on_account(account_index, account.clone());
        self.1.on_account(account_index, account);
    }
    fn on_credit_card(&mut self) {
        self.0.on_credit_card();
        self.1.on_credit_card();
    }
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
    pub credit_cards: usize,
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
    fn on_credit_card(&mut self) {
        self.credit_cards += 1;
    }
}

/// Labels Kontomatik puts on earned income. When a currency has any, its monthly income counts
/// only those; otherwise every incoming amount counts.
pub const INCOME_LABELS: &[&str] = &["salary", "compensation"];

fn is_income_label(label: &str) -> bool {
    INCOME_LABELS
        .iter()
        .any(|l| l.eq_ignore_ascii_case(label.trim()))
}

/// What we keep of one account: no transaction detail, the IBAN masked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AccountSummary {
    pub name: String,
    /// The last four characters of the IBAN, e.g. `…1234`.
    pub number_masked: String,
    pub currency: String,
    pub balance: Option<Decimal>,
    pub available_funds: Option<Decimal>,
    /// The account exists at least since this day (`activeSinceAtLeast`).
    pub active_since: Option<NaiveDate>,
    pub transactions: u64,
    /// Sum of incoming amounts.
    pub income: Decimal,
    /// Sum of incoming amounts labelled as earned income (see [`INCOME_LABELS`]).
    pub labelled_income: Decimal,
    /// Sum of outgoing amounts, as a positive number.
    pub spending: Decimal,
    pub first_day: Option<NaiveDate>,
    pub last_day: Option<NaiveDate>,
}

/// How a currency's monthly income was found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncomeBasis {
    /// From transactions Kontomatik labelled as salary or compensation.
    Labels,
    /// No labelled income: every incoming amount.
    #[default]
    AllIncoming,
}

/// Totals over all accounts of one currency.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CurrencyTotals {
    pub currency: String,
    pub balance: Decimal,
    pub available_funds: Decimal,
    pub income: Decimal,
    pub spending: Decimal,
    /// Average income per 30 days over the imported period.
    pub monthly_income: Decimal,
    pub income_basis: IncomeBasis,
    /// Average spending per 30 days over the imported period.
    pub monthly_spending: Decimal,
}

/// Spending under one of Kontomatik's labels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LabelSpending {
    pub label: String,
    pub currency: String,
    pub amount: Decimal,
}

/// The analysed result of one import: small enough for one DynamoDB item whatever the import's
/// size (accounts are capped at [`ImportSummary::MAX_ACCOUNTS`]; the rest are only counted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ImportSummary {
    /// The bank's name for people (see [`Target::display_name`]).
    pub bank: Option<String>,
    pub owners: u32,
    pub accounts: Vec<AccountSummary>,
    pub accounts_total: u32,
    pub transactions_total: u64,
    pub period_from: Option<NaiveDate>,
    pub period_to: Option<NaiveDate>,
    pub totals: Vec<CurrencyTotals>,
    /// The largest spending labels, largest first (at most [`ImportSummary::TOP_LABELS`]).
    pub top_spending_labels: Vec<LabelSpending>,
    pub credit_cards: u32,
}

impl ImportSummary {
    pub const MAX_ACCOUNTS: usize = 50;
    pub const TOP_LABELS: usize = 3;
}

/// Builds an [`ImportSummary`] while the result streams past, keeping O(accounts + labels)
/// memory (distinct labels are capped at [`SummaryBuilder::MAX_LABELS`]).
#[derive(Debug, Default)]
pub struct SummaryBuilder {
    bank: Option<String>,
    owners: u32,
    credit_cards: u32,
    accounts: BTreeMap<usize, AccountSummary>,
    /// Per account: spending per label (the currency is known only when the account closes).
    pending_labels: BTreeMap<String, Decimal>,
    /// (currency, label) → spending.
    labels: BTreeMap<(String, String), Decimal>,
}

impl SummaryBuilder {
    /// Distinct labels kept per account and overall; more are not analysed.
    pub const MAX_LABELS: usize = 256;

    fn slot(&mut self, i: usize) -> &mut AccountSummary {
        self.accounts.entry(i).or_default()
    }

    pub fn build(self) -> ImportSummary {
        let mut totals: BTreeMap<String, CurrencyTotals> = BTreeMap::new();
        let mut labelled: BTreeMap<String, Decimal> = BTreeMap::new();
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
            t.available_funds += a.available_funds.or(a.balance).unwrap_or_default();
            t.income += a.income;
            t.spending += a.spending;
            *labelled.entry(a.currency.clone()).or_default() += a.labelled_income;
            transactions_total += a.transactions;
            from = min_opt(from, a.first_day);
            to = max_opt(to, a.last_day);
        }
        // Averages per 30 days over the whole imported period (at least one month).
        let days = match (from, to) {
            (Some(a), Some(b)) => (b - a).num_days() + 1,
            _ => 30,
        }
        .max(30);
        let per_month =
            |total: Decimal| (total * Decimal::from(30) / Decimal::from(days)).round_dp(2);
        for t in totals.values_mut() {
            let by_labels = labelled.get(&t.currency).copied().unwrap_or_default();
            let (income, basis) = if by_labels > Decimal::ZERO {
                (by_labels, IncomeBasis::Labels)
            } else {
                (t.income, IncomeBasis::AllIncoming)
            };
            t.monthly_income = per_month(income);
            t.income_basis = basis;
            t.monthly_spending = per_month(t.spending);
        }
        let mut top: Vec<LabelSpending> = self
            .labels
            .into_iter()
            .filter(|(_, amount)| *amount > Decimal::ZERO)
            .map(|((currency, label), amount)| LabelSpending {
                label,
                currency,
                amount,
            })
            .collect();
        // Ranked by amount across currencies (mixed-currency imports are rare; each entry keeps
        // its currency), and a payment with two labels counts under both: these are "where the
        // money goes" hints for the email, not totals.
        top.sort_by(|a, b| b.amount.cmp(&a.amount).then_with(|| a.label.cmp(&b.label)));
        top.truncate(ImportSummary::TOP_LABELS);
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
            top_spending_labels: top,
            credit_cards: self.credit_cards,
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

/// The last four characters of an account number, e.g. `…2874`; nothing for no number.
pub fn mask(number: &str) -> String {
    let chars: Vec<char> = number.chars().filter(|c| !c.is_whitespace()).collect();
    let start = chars.len().saturating_sub(4);
    let last: String = chars[start..].iter().collect();
    if last.is_empty() {
        String::new()
    } else {
        format!("…{last}")
    }
}

impl ImportSink for SummaryBuilder {
    fn on_target(&mut self, target: Target) {
        self.bank = target.display_name().map(str::to_owned);
    }
    fn on_owner(&mut self, _owner: Owner) {
        self.owners += 1;
    }
    fn on_transaction(&mut self, i: usize, t: MoneyTransaction) {
        let a = self.slot(i);
        a.transactions += 1;
        let amount = t.currency_amount;
        if amount.is_sign_negative() {
            a.spending -= amount;
        } else {
            a.income += amount;
            if t.labels.iter().any(|l| is_income_label(l)) {
                a.labelled_income += amount;
            }
        }
        a.first_day = min_opt(a.first_day, t.day());
        a.last_day = max_opt(a.last_day, t.day());
        if amount.is_sign_negative() {
            for label in &t.labels {
                let label = label.trim();
                if label.is_empty() {
                    continue;
                }
                if let Some(sum) = self.pending_labels.get_mut(label) {
                    *sum -= amount;
                } else if self.pending_labels.len() < Self::MAX_LABELS {
                    self.pending_labels.insert(label.to_owned(), -amount);
                }
            }
        }
    }
    fn on_account(&mut self, i: usize, account: Account) {
        let currency = account.currency.trim().to_owned();
        for (label, amount) in std::mem::take(&mut self.pending_labels) {
            let key = (currency.clone(), label);
            if let Some(sum) = self.labels.get_mut(&key) {
                *sum += amount;
            } else if self.labels.len() < Self::MAX_LABELS {
                self.labels.insert(key, amount);
            }
        }
        let a = self.slot(i);
        a.name = account.display_name().to_owned();
        a.number_masked = mask(&account.iban);
        a.currency = currency;
        a.balance = account.balance;
        a.available_funds = account.available_funds;
        a.active_since = account.active_since_at_least;
    }
    fn on_credit_card(&mut self) {
        self.credit_cards += 1;
    }
}

#[cfg(test)]
mod tests;
