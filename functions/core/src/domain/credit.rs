//! The credit officer's analysis of one import (issue 28), built while the result streams past
//! (an [`ImportSink`]), from what Kontomatik returns (`docs/kontomatik-wire.md`):
//!
//! - **owner match**: the account owners' names against the applicant's, Polish diacritics,
//!   letter case and word order folded; flagged when no account belongs to the applicant;
//! - **booked** transactions only (`status` `DONE`, or no status with a booking date); pending
//!   ones counted apart;
//! - **transfers between the applicant's own accounts** (the party's IBAN is one of the
//!   import's accounts) left out of income and spending;
//! - **income by month**: the payments labelled `salary` or `compensation`, else every other
//!   incoming payment; its stability (months with income, coefficient of variation);
//! - **spending** by month and by label; the month-end **balance**; **days with a negative
//!   balance**; **returned or failed payments**, **loan repayments** and **debt collection**
//!   where the labels or titles show them (the words are in [`RETURNED`], [`LOAN`], [`DEBT`]);
//! - the **period** the data covers, and a warning when it is shorter than asked.
//!
//! The figures are of the main currency (the one with the most booked transactions); others
//! are counted, not summed. Nothing here keeps an IBAN, a title or a party's name: the
//! analysis holds sums, counts and the owners' match only.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::import::{Account, ImportSink, MoneyTransaction, Owner};

/// Labels Kontomatik gives regular pay.
pub const INCOME_LABELS: &[&str] = &["salary", "compensation"];
/// Words (folded) of a returned or failed payment.
pub const RETURNED: &[&str] = &[
    "zwrot",
    "odrzuc",
    "niewykonan",
    "returned",
    "failed payment",
];
/// Words (folded) of a loan repayment.
pub const LOAN: &[&str] = &[
    "loan",
    "rata kredytu",
    "splata kredytu",
    "pozyczk",
    "kredyt",
];
/// Words (folded) of debt collection.
pub const DEBT: &[&str] = &["windykac", "komornik", "debt collection", "kruk"];

/// A name as comparable words: lower case, Polish letters folded to ASCII, split on anything
/// that is not a letter or digit, sorted (word order does not matter), without repeats.
pub fn name_words(name: &str) -> Vec<String> {
    let folded = fold(name);
    let mut words: Vec<String> = folded
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    words.sort();
    words.dedup();
    words
}

/// Lower case, Polish diacritics folded (`Łódź` → `lodz`).
pub fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'ą' => 'a',
            'ć' => 'c',
            'ę' => 'e',
            'ł' => 'l',
            'ń' => 'n',
            'ó' => 'o',
            'ś' => 's',
            'ź' | 'ż' => 'z',
            other => other,
        })
        .collect()
}

/// Whether an owner's name is the applicant's: every word of the shorter one is in the other
/// (a middle name or a second surname on one side only), with at least two words in common.
pub fn same_person(applicant: &str, owner: &str) -> bool {
    let a: BTreeSet<String> = name_words(applicant).into_iter().collect();
    let o: BTreeSet<String> = name_words(owner).into_iter().collect();
    let common = a.intersection(&o).count();
    common >= 2 && (common == a.len() || common == o.len())
}

/// The analysis of one import.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditAnalysis {
    /// Accounts with at least one owner whose name is the applicant's.
    pub accounts_of_applicant: u32,
    pub accounts_total: u32,
    /// No account belongs to the applicant (an owner name was given and none matched).
    pub owner_mismatch: bool,
    /// The main currency, whose figures these are.
    pub currency: Option<String>,
    /// Booked transactions in other currencies (counted, not summed).
    pub other_currency_transactions: u64,
    pub pending_transactions: u64,
    pub pending_amount: Decimal,
    /// Transfers between the applicant's own accounts, left out of income and spending.
    pub own_transfers: u64,
    pub months: Vec<MonthFigures>,
    /// `salary` (the labelled pay) or `incoming` (every other incoming payment).
    pub income_basis: String,
    pub months_with_income: u32,
    /// Standard deviation of the monthly income over its mean, in percent (months in the
    /// period, those without income as 0); `None` without income.
    pub income_variation_percent: Option<Decimal>,
    /// Spending by label, largest first (unlabelled as `other`).
    pub spending_by_label: Vec<(String, Decimal)>,
    pub days_with_negative_balance: u32,
    pub returned_or_failed_payments: u32,
    pub loan_repayments: u32,
    pub loan_repaid: Decimal,
    pub debt_collection_payments: u32,
    pub debt_collection_paid: Decimal,
    pub period_from: Option<NaiveDate>,
    pub period_to: Option<NaiveDate>,
    /// The data covers less than the months asked for (by more than two weeks).
    pub shorter_than_asked: bool,
}

impl CreditAnalysis {
    /// Spending labels kept, the largest (the record stays small).
    pub const LABELS_KEPT: usize = 20;
}

/// One calendar month of the main currency.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MonthFigures {
    /// `2026-11`.
    pub month: String,
    pub income: Decimal,
    pub spending: Decimal,
    /// The sum of the accounts' balances at the month's end (each account's last known one).
    pub closing_balance: Option<Decimal>,
}

/// What is kept of a transaction until its account's currency and every IBAN are known.
#[derive(Debug, Clone)]
struct Kept {
    day: NaiveDate,
    amount: Decimal,
    balance: Option<Decimal>,
    party_iban: String,
    income_label: bool,
    label: Option<String>,
    returned: bool,
    loan: bool,
    debt: bool,
}

/// Builds a [`CreditAnalysis`] from the streamed result.
#[derive(Debug)]
pub struct CreditAnalysisBuilder {
    asked_from: NaiveDate,
    kept: BTreeMap<usize, Vec<Kept>>,
    accounts: BTreeMap<usize, Account>,
    connection_owners: Vec<Owner>,
    pending: u64,
    pending_amount: Decimal,
}

fn iban_key(iban: &str) -> String {
    iban.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase()
}

fn has_word(text: &str, words: &[&str]) -> bool {
    words.iter().any(|w| text.contains(w))
}

impl CreditAnalysisBuilder {
    /// For an import that asked for data since `asked_from`.
    pub fn new(asked_from: NaiveDate) -> Self {
        CreditAnalysisBuilder {
            asked_from,
            kept: BTreeMap::new(),
            accounts: BTreeMap::new(),
            connection_owners: vec![],
            pending: 0,
            pending_amount: Decimal::ZERO,
        }
    }

    /// The analysis, the owners matched against `applicant` (the applicant's name; with fewer
    /// than two words nothing is flagged, as nothing can be told).
    pub fn build(self, applicant: &str) -> CreditAnalysis {
        let mut a = CreditAnalysis {
            pending_transactions: self.pending,
            pending_amount: self.pending_amount,
            accounts_total: self.accounts.len() as u32,
            ..CreditAnalysis::default()
        };
        // Owners: an account's own, else the connection's.
        let mut any_owner = false;
        for account in self.accounts.values() {
            let owners = if account.owners.is_empty() {
                &self.connection_owners
            } else {
                &account.owners
            };
            any_owner |= !owners.is_empty();
            if owners.iter().any(|o| same_person(applicant, &o.name)) {
                a.accounts_of_applicant += 1;
            }
        }
        a.owner_mismatch =
            any_owner && a.accounts_of_applicant == 0 && name_words(applicant).len() >= 2;
        let own: HashSet<String> = self
            .accounts
            .values()
            .map(|acc| iban_key(&acc.iban))
            .filter(|k| !k.is_empty())
            .collect();
        // The main currency: the most booked transactions.
        let mut per_currency: BTreeMap<String, usize> = BTreeMap::new();
        for (i, kept) in &self.kept {
            let currency = self.accounts.get(i).map(|acc| acc.currency.clone());
            *per_currency
                .entry(currency.unwrap_or_default())
                .or_default() += kept.len();
        }
        let main = per_currency
            .iter()
            .max_by_key(|(c, n)| (**n, std::cmp::Reverse((*c).clone())))
            .map(|(c, _)| c.clone());
        a.currency = main.clone().filter(|c| !c.is_empty());
        let mut months: BTreeMap<(i32, u32), MonthFigures> = BTreeMap::new();
        let mut salary: BTreeMap<(i32, u32), Decimal> = BTreeMap::new();
        let mut incoming: BTreeMap<(i32, u32), Decimal> = BTreeMap::new();
        let mut labels: BTreeMap<String, Decimal> = BTreeMap::new();
        let mut negative_days: BTreeSet<NaiveDate> = BTreeSet::new();
        // (month, account) → the last balance seen, by day.
        let mut closing: BTreeMap<((i32, u32), usize), (NaiveDate, Decimal)> = BTreeMap::new();
        let (mut from, mut to): (Option<NaiveDate>, Option<NaiveDate>) = (None, None);
        for (i, kept) in &self.kept {
            let currency = self
                .accounts
                .get(i)
                .map(|acc| acc.currency.clone())
                .unwrap_or_default();
            if Some(&currency) != main.as_ref() {
                a.other_currency_transactions += kept.len() as u64;
                continue;
            }
            for t in kept {
                let month = (t.day.year(), t.day.month());
                from = Some(from.map_or(t.day, |f| f.min(t.day)));
                to = Some(to.map_or(t.day, |x| x.max(t.day)));
                months.entry(month).or_insert_with(|| MonthFigures {
                    month: format!("{:04}-{:02}", month.0, month.1),
                    ..MonthFigures::default()
                });
                if let Some(b) = t.balance {
                    if b < Decimal::ZERO {
                        negative_days.insert(t.day);
                    }
                    let slot = closing.entry((month, *i)).or_insert((t.day, b));
                    if t.day >= slot.0 {
                        *slot = (t.day, b);
                    }
                }
                if t.returned {
                    a.returned_or_failed_payments += 1;
                }
                if !t.party_iban.is_empty() && own.contains(&t.party_iban) {
                    a.own_transfers += 1;
                    continue;
                }
                if t.amount > Decimal::ZERO {
                    *incoming.entry(month).or_default() += t.amount;
                    if t.income_label {
                        *salary.entry(month).or_default() += t.amount;
                    }
                } else if t.amount < Decimal::ZERO {
                    let spent = -t.amount;
                    if let Some(m) = months.get_mut(&month) {
                        m.spending += spent;
                    }
                    *labels
                        .entry(t.label.clone().unwrap_or_else(|| "other".into()))
                        .or_default() += spent;
                    if t.loan {
                        a.loan_repayments += 1;
                        a.loan_repaid += spent;
                    }
                    if t.debt {
                        a.debt_collection_payments += 1;
                        a.debt_collection_paid += spent;
                    }
                }
            }
        }
        let (basis, income) = if salary.values().any(|v| *v > Decimal::ZERO) {
            ("salary", salary)
        } else {
            ("incoming", incoming)
        };
        a.income_basis = basis.into();
        // Each account's last known balance, carried into the months it did not move in.
        let month_keys: Vec<(i32, u32)> = months.keys().copied().collect();
        let account_ids: BTreeSet<usize> = closing.keys().map(|(_, i)| *i).collect();
        for i in account_ids {
            let mut last = None;
            for month in &month_keys {
                if let Some((_, b)) = closing.get(&(*month, i)) {
                    last = Some(*b);
                }
                if let (Some(b), Some(m)) = (last, months.get_mut(month)) {
                    *m.closing_balance.get_or_insert(Decimal::ZERO) += b;
                }
            }
        }
        for (month, m) in months.iter_mut() {
            m.income = income.get(month).copied().unwrap_or_default();
        }
        a.months_with_income = months.values().filter(|m| m.income > Decimal::ZERO).count() as u32;
        a.income_variation_percent = variation_percent(months.values().map(|m| m.income));
        a.months = months.into_values().collect();
        let mut by_label: Vec<(String, Decimal)> = labels.into_iter().collect();
        by_label.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        by_label.truncate(CreditAnalysis::LABELS_KEPT);
        a.spending_by_label = by_label;
        a.days_with_negative_balance = negative_days.len() as u32;
        a.period_from = from;
        a.period_to = to;
        a.shorter_than_asked = from.is_none_or(|f| (f - self.asked_from).num_days() > 14);
        a
    }
}

/// The standard deviation over the mean, in percent, rounded to one place.
fn variation_percent(values: impl Iterator<Item = Decimal>) -> Option<Decimal> {
    let v: Vec<Decimal> = values.collect();
    if v.is_empty() {
        return None;
    }
    let n = Decimal::from(v.len() as u64);
    let mean = v.iter().copied().sum::<Decimal>() / n;
    if mean <= Decimal::ZERO {
        return None;
    }
    let var = v.iter().map(|x| (*x - mean) * (*x - mean)).sum::<Decimal>() / n;
    let sd = decimal_sqrt(var);
    Some((sd / mean * Decimal::from(100)).round_dp(1))
}

/// √x by Newton's method (x ≥ 0), to well below a cent.
fn decimal_sqrt(x: Decimal) -> Decimal {
    if x <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    let mut g = if x > Decimal::ONE {
        x / Decimal::TWO
    } else {
        Decimal::ONE
    };
    for _ in 0..60 {
        let next = (g + x / g) / Decimal::TWO;
        if (next - g).abs() < Decimal::new(1, 9) {
            return next;
        }
        g = next;
    }
    g
}

impl ImportSink for CreditAnalysisBuilder {
    fn on_owner(&mut self, owner: Owner) {
        self.connection_owners.push(owner);
    }

    fn on_transaction(&mut self, account_index: usize, t: MoneyTransaction) {
        let booked = t.status.eq_ignore_ascii_case("DONE")
            || (t.status.trim().is_empty() && t.booked_on.is_some());
        if !booked {
            self.pending += 1;
            self.pending_amount += t.currency_amount;
            return;
        }
        let Some(day) = t.day() else {
            return;
        };
        let labels: Vec<String> = t.labels.iter().map(|l| fold(l)).collect();
        let text = fold(&format!("{} {} {}", t.title, t.party, labels.join(" ")));
        self.kept.entry(account_index).or_default().push(Kept {
            day,
            amount: t.currency_amount,
            balance: t.currency_balance,
            party_iban: iban_key(&t.party_iban),
            income_label: labels.iter().any(|l| INCOME_LABELS.contains(&l.as_str())),
            label: labels.first().cloned(),
            returned: has_word(&text, RETURNED),
            loan: has_word(&text, LOAN),
            debt: has_word(&text, DEBT),
        });
    }

    fn on_account(&mut self, account_index: usize, account: Account) {
        self.accounts.insert(account_index, account);
    }
}

#[cfg(test)]
mod tests;
