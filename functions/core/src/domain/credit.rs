//! The credit officer's analysis of one import (issue 28), built while the result streams past
//! (an [`ImportSink`]), from what Kontomatik returns (`docs/kontomatik-wire.md`):
//!
//! - **owner match**: the account owners' names against the applicant's, diacritics (Polish
//!   and the other countries' Latin letters), letter case and word order folded; flagged when
//!   no account belongs to the applicant;
//! - **booked** transactions only (`status` `DONE`, or no status with a booking date); pending
//!   ones (`PENDING`) counted apart, rejected or cancelled ones left out;
//! - **transfers between the import's accounts** (the party's account number, with or without
//!   its country prefix, is one of them) left out of income and spending;
//! - **income by month**: the payments labelled `salary` or `compensation`, else every other
//!   incoming payment but refunds, returned payments and loan payouts; its stability over the
//!   full calendar months asked for (months with income, coefficient of variation, a month
//!   without income counting as 0);
//! - **spending** by month and by label; the month-end **balance** (each account's last one by
//!   booking, carried into months it did not move in); **days with a negative balance** (a day
//!   an account ended below zero, carried until its next transaction); **returned or failed
//!   payments**, **loan repayments** and **debt collection** where the labels or titles say so
//!   in whole words ([`RETURNED`], [`LOAN`], [`DEBT`]; "karta kredytowa" is no loan, "zwrot
//!   podatku" no returned payment);
//! - the **period** the data covers, and a warning when it starts over two weeks after the
//!   day asked for.
//!
//! The figures are of the main currency (the one with the most booked transactions); others
//! are counted, not summed. Nothing here keeps an IBAN, a title or a party's name: the
//! analysis holds sums, counts and the owners' match only. Memory: a few dozen bytes per
//! booked transaction until the result ends (accounts come after their transactions).

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};

use chrono::{Datelike, Months, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::import::{Account, ImportSink, MoneyTransaction, Owner};

/// Labels Kontomatik gives regular pay.
pub const INCOME_LABELS: &[&str] = &["salary", "compensation"];
/// Phrases (folded, whole words) of a returned or failed payment.
pub const RETURNED: &[&str] = &[
    "zwrot przelewu",
    "przelew zwrocony",
    "zwrot platnosci",
    "platnosc odrzucona",
    "przelew odrzucony",
    "niewykonany",
    "returned payment",
    "payment returned",
    "failed payment",
];
/// Phrases (folded, whole words) of a refund coming in (not income).
pub const REFUND: &[&str] = &["zwrot", "refund"];
/// Phrases (folded, whole words) of a loan instalment or payout.
pub const LOAN: &[&str] = &[
    "rata kredytu",
    "splata kredytu",
    "rata pozyczki",
    "splata pozyczki",
    "wyplata kredytu",
    "wyplata pozyczki",
    "loan",
    "loan repayment",
];
/// Phrases (folded, whole words) of debt collection.
pub const DEBT: &[&str] = &[
    "windykacja",
    "windykacyjna",
    "komornik",
    "komornicza",
    "egzekucja komornicza",
    "kruk s a",
    "debt collection",
];

/// A name as comparable words: lower case, diacritics folded, split on anything that is not a
/// letter or digit, sorted (word order does not matter), without repeats.
pub fn name_words(name: &str) -> Vec<String> {
    let mut words = words_of(name);
    words.sort();
    words.dedup();
    words
}

fn words_of(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Lower case, the Latin letters of the countries served folded to ASCII (`Łódź` → `lodz`,
/// `Dvořák` → `dvorak`, `Straße` → `strasse`).
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        let folded = match c {
            'ą' | 'á' | 'à' | 'â' | 'ä' | 'ă' | 'ā' | 'ã' | 'å' => "a",
            'ć' | 'č' | 'ç' => "c",
            'ď' => "d",
            'ę' | 'é' | 'è' | 'ê' | 'ë' | 'ě' | 'ė' | 'ē' => "e",
            'ģ' => "g",
            'í' | 'ì' | 'î' | 'ï' | 'į' | 'ī' => "i",
            'ķ' => "k",
            'ł' | 'ľ' | 'ĺ' | 'ļ' => "l",
            'ń' | 'ň' | 'ñ' | 'ņ' => "n",
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ő' | 'ø' => "o",
            'ř' | 'ŕ' => "r",
            'ś' | 'š' | 'ș' | 'ş' => "s",
            'ß' => "ss",
            'ť' | 'ț' | 'ţ' => "t",
            'ú' | 'ù' | 'û' | 'ü' | 'ů' | 'ű' | 'ų' | 'ū' => "u",
            'ý' | 'ÿ' => "y",
            'ź' | 'ż' | 'ž' => "z",
            _ => {
                out.push(c);
                continue;
            }
        };
        out.push_str(folded);
    }
    out
}

/// Whether `words` holds one of `phrases` as whole consecutive words.
fn says(words: &[String], phrases: &[&str]) -> bool {
    phrases.iter().any(|p| {
        let p: Vec<&str> = p.split(' ').collect();
        words
            .windows(p.len())
            .any(|w| w.iter().zip(&p).all(|(a, b)| a == b))
    })
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
#[serde(rename_all = "camelCase", default)]
pub struct CreditAnalysis {
    /// The applicant's name was known (two words or more), so the owners could be matched.
    pub owner_checked: bool,
    /// Accounts with at least one owner whose name is the applicant's.
    pub accounts_of_applicant: u32,
    pub accounts_total: u32,
    /// No account belongs to the applicant (owners were named, the name known, none matched).
    pub owner_mismatch: bool,
    /// The main currency, whose figures these are.
    pub currency: Option<String>,
    /// Booked transactions in other currencies (counted, not summed).
    pub other_currency_transactions: u64,
    /// Pending transactions of the main currency, and their signed sum.
    pub pending_transactions: u64,
    pub pending_amount: Decimal,
    /// Transfers between the import's accounts, left out of income and spending.
    pub own_transfers: u64,
    /// Every calendar month with a booked transaction.
    pub months: Vec<MonthFigures>,
    /// `salary` (the labelled pay) or `incoming` (every other incoming payment but refunds,
    /// returned payments and loan payouts).
    pub income_basis: String,
    /// Of the full calendar months asked for (between the day asked for and the import).
    pub full_months: u32,
    pub months_with_income: u32,
    /// Standard deviation of the monthly income over its mean, in percent, over the full
    /// months (a month without income as 0); `None` without income.
    pub income_variation_percent: Option<Decimal>,
    /// Spending by label, largest first (unlabelled as `other`; at most
    /// [`CreditAnalysis::LABELS_KEPT`]).
    pub spending_by_label: Vec<(String, Decimal)>,
    pub days_with_negative_balance: u32,
    pub returned_or_failed_payments: u32,
    pub loan_repayments: u32,
    pub loan_repaid: Decimal,
    pub debt_collection_payments: u32,
    pub debt_collection_paid: Decimal,
    pub period_from: Option<NaiveDate>,
    pub period_to: Option<NaiveDate>,
    /// The data starts over two weeks after the day asked for.
    pub shorter_than_asked: bool,
}

impl CreditAnalysis {
    /// Spending labels kept, the largest (the record stays small).
    pub const LABELS_KEPT: usize = 20;
}

/// One calendar month of the main currency.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MonthFigures {
    /// `2026-11`.
    pub month: String,
    pub income: Decimal,
    pub spending: Decimal,
    /// The accounts' balances at the month's end, summed (each account's last one by booking,
    /// carried into months it did not move in; accounts without a balance yet left out).
    pub closing_balance: Option<Decimal>,
}

/// What is kept of a booked transaction until its account's currency and every account number
/// are known (a few dozen bytes: no title, no party, the label as an index).
#[derive(Debug, Clone)]
struct Kept {
    day: NaiveDate,
    booked: NaiveDate,
    /// Its place in the document (Kontomatik lists newest first).
    seq: u32,
    amount: Decimal,
    balance: Option<Decimal>,
    /// A hash of the party's account number (0: none).
    party: u64,
    label: Option<u16>,
    income_label: bool,
    returned: bool,
    refund: bool,
    loan: bool,
    debt: bool,
}

/// Builds a [`CreditAnalysis`] from the streamed result.
#[derive(Debug)]
pub struct CreditAnalysisBuilder {
    asked_from: NaiveDate,
    imported_on: NaiveDate,
    kept: BTreeMap<usize, Vec<Kept>>,
    labels: Vec<String>,
    label_index: HashMap<String, u16>,
    accounts: BTreeMap<usize, Account>,
    connection_owners: Vec<Owner>,
    /// Per account: pending transactions and their sum.
    pending: BTreeMap<usize, (u64, Decimal)>,
}

/// An account number without spaces, letter case or country prefix (`PL61 1090…` and
/// `611090…` are one account), hashed.
fn account_key(iban: &str) -> u64 {
    let clean: String = iban
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_uppercase();
    if clean.is_empty() {
        return 0;
    }
    let bytes = clean.as_bytes();
    let number =
        if bytes.len() > 2 && bytes[0].is_ascii_alphabetic() && bytes[1].is_ascii_alphabetic() {
            &clean[2..]
        } else {
            &clean[..]
        };
    let mut h = DefaultHasher::new();
    number.hash(&mut h);
    h.finish().max(1)
}

fn month_of(d: NaiveDate) -> (i32, u32) {
    (d.year(), d.month())
}

/// The calendar months wholly between `from` (inclusive) and `until` (exclusive).
fn full_months(from: NaiveDate, until: NaiveDate) -> Vec<(i32, u32)> {
    let mut out = vec![];
    let Some(mut first) = NaiveDate::from_ymd_opt(from.year(), from.month(), 1) else {
        return out;
    };
    if first < from {
        first = first + Months::new(1);
    }
    loop {
        let next = first + Months::new(1);
        if next > until {
            return out;
        }
        out.push(month_of(first));
        first = next;
    }
}

impl CreditAnalysisBuilder {
    /// For an import made on `imported_on` that asked for data since `asked_from`.
    pub fn new(asked_from: NaiveDate, imported_on: NaiveDate) -> Self {
        CreditAnalysisBuilder {
            asked_from,
            imported_on,
            kept: BTreeMap::new(),
            labels: vec![],
            label_index: HashMap::new(),
            accounts: BTreeMap::new(),
            connection_owners: vec![],
            pending: BTreeMap::new(),
        }
    }

    fn label(&mut self, label: &str) -> Option<u16> {
        if let Some(i) = self.label_index.get(label) {
            return Some(*i);
        }
        let i = u16::try_from(self.labels.len()).ok()?;
        self.labels.push(label.to_owned());
        self.label_index.insert(label.to_owned(), i);
        Some(i)
    }

    /// The analysis, the owners matched against `applicant` (the applicant's name; with fewer
    /// than two words nothing can be told, and nothing is flagged).
    pub fn build(self, applicant: &str) -> CreditAnalysis {
        let mut a = CreditAnalysis {
            accounts_total: self.accounts.len() as u32,
            owner_checked: name_words(applicant).len() >= 2,
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
        a.owner_mismatch = a.owner_checked && any_owner && a.accounts_of_applicant == 0;
        let own: HashSet<u64> = self
            .accounts
            .values()
            .map(|acc| account_key(&acc.iban))
            .filter(|k| *k != 0)
            .collect();
        let currency_of = |i: &usize| {
            self.accounts
                .get(i)
                .map(|acc| acc.currency.trim().to_owned())
                .unwrap_or_default()
        };
        // The main currency: the most booked transactions; a known one before an unknown.
        let mut per_currency: BTreeMap<String, usize> = BTreeMap::new();
        for (i, kept) in &self.kept {
            *per_currency.entry(currency_of(i)).or_default() += kept.len();
        }
        let main = per_currency
            .iter()
            .max_by_key(|(c, n)| (**n, !c.is_empty(), std::cmp::Reverse((*c).clone())))
            .map(|(c, _)| c.clone());
        a.currency = main.clone().filter(|c| !c.is_empty());
        for (i, (n, sum)) in &self.pending {
            if Some(currency_of(i)) == main {
                a.pending_transactions += n;
                a.pending_amount += sum;
            }
        }
        let mut months: BTreeMap<(i32, u32), MonthFigures> = BTreeMap::new();
        let mut salary: BTreeMap<(i32, u32), Decimal> = BTreeMap::new();
        let mut incoming: BTreeMap<(i32, u32), Decimal> = BTreeMap::new();
        let mut labels: BTreeMap<String, Decimal> = BTreeMap::new();
        // Per account: each day's end balance (the newest transaction of the day by booking).
        let mut day_ends: BTreeMap<usize, BTreeMap<NaiveDate, (u32, Decimal)>> = BTreeMap::new();
        let (mut from, mut to): (Option<NaiveDate>, Option<NaiveDate>) = (None, None);
        for (i, kept) in &self.kept {
            if Some(currency_of(i)) != main {
                a.other_currency_transactions += kept.len() as u64;
                continue;
            }
            for t in kept {
                let month = month_of(t.day);
                from = Some(from.map_or(t.day, |f| f.min(t.day)));
                to = Some(to.map_or(t.day, |x| x.max(t.day)));
                // The month it happened in, and the one it was booked in (its balance's).
                for m in [month, month_of(t.booked)] {
                    months.entry(m).or_insert_with(|| MonthFigures {
                        month: format!("{:04}-{:02}", m.0, m.1),
                        ..MonthFigures::default()
                    });
                }
                if let Some(b) = t.balance {
                    // Newest first in the document: the lowest place is the day's last.
                    let end = day_ends
                        .entry(*i)
                        .or_default()
                        .entry(t.booked)
                        .or_insert((t.seq, b));
                    if t.seq < end.0 {
                        *end = (t.seq, b);
                    }
                }
                if t.party != 0 && own.contains(&t.party) {
                    a.own_transfers += 1;
                    continue;
                }
                if t.returned {
                    a.returned_or_failed_payments += 1;
                }
                if t.amount > Decimal::ZERO {
                    if t.income_label {
                        *salary.entry(month).or_default() += t.amount;
                    }
                    if !(t.returned || t.refund || t.loan) {
                        *incoming.entry(month).or_default() += t.amount;
                    }
                } else if t.amount < Decimal::ZERO {
                    let spent = -t.amount;
                    if let Some(m) = months.get_mut(&month) {
                        m.spending += spent;
                    }
                    let label = t
                        .label
                        .and_then(|l| self.labels.get(usize::from(l)).cloned())
                        .unwrap_or_else(|| "other".into());
                    *labels.entry(label).or_default() += spent;
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
        for (month, m) in months.iter_mut() {
            m.income = income.get(month).copied().unwrap_or_default();
        }
        // Month ends: each account's last day-end balance in the month, carried forward.
        let month_keys: Vec<(i32, u32)> = months.keys().copied().collect();
        for ends in day_ends.values() {
            let mut last = None;
            for month in &month_keys {
                if let Some((_, (_, b))) = ends.iter().rev().find(|(d, _)| month_of(**d) == *month)
                {
                    last = Some(*b);
                }
                if let (Some(b), Some(m)) = (last, months.get_mut(month)) {
                    *m.closing_balance.get_or_insert(Decimal::ZERO) += b;
                }
            }
        }
        // Days below zero: an account's day-end balance, carried until its next transaction
        // (the last one until the last day of the data).
        let mut negative: BTreeSet<NaiveDate> = BTreeSet::new();
        let last_day = to.unwrap_or(self.imported_on);
        for ends in day_ends.values() {
            let days: Vec<(&NaiveDate, &(u32, Decimal))> = ends.iter().collect();
            for (k, (day, (_, balance))) in days.iter().enumerate() {
                if *balance >= Decimal::ZERO {
                    continue;
                }
                let until = days
                    .get(k + 1)
                    .map_or(last_day + chrono::Duration::days(1), |n| *n.0);
                let mut d = **day;
                while d < until {
                    negative.insert(d);
                    d += chrono::Duration::days(1);
                }
            }
        }
        a.days_with_negative_balance = negative.len() as u32;
        // Stability over the full months asked for (those without income as 0).
        let full = full_months(self.asked_from, self.imported_on);
        a.full_months = full.len() as u32;
        let per_month: Vec<Decimal> = full
            .iter()
            .map(|m| income.get(m).copied().unwrap_or_default())
            .collect();
        a.months_with_income = per_month.iter().filter(|v| **v > Decimal::ZERO).count() as u32;
        a.income_variation_percent = variation_percent(per_month.into_iter());
        a.months = months.into_values().collect();
        let mut by_label: Vec<(String, Decimal)> = labels.into_iter().collect();
        by_label.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        by_label.truncate(CreditAnalysis::LABELS_KEPT);
        a.spending_by_label = by_label;
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
        let status = t.status.trim();
        if status.eq_ignore_ascii_case("PENDING") {
            let p = self.pending.entry(account_index).or_default();
            p.0 += 1;
            p.1 += t.currency_amount;
            return;
        }
        let booked =
            status.eq_ignore_ascii_case("DONE") || (status.is_empty() && t.booked_on.is_some());
        let (true, Some(day)) = (booked, t.day()) else {
            return;
        };
        let labels: Vec<String> = t.labels.iter().map(|l| fold(l.trim())).collect();
        let mut words = words_of(&t.title);
        words.extend(words_of(&t.party));
        for l in &labels {
            words.extend(words_of(l));
        }
        let label = labels.first().and_then(|l| self.label(l));
        let seq = self.kept.get(&account_index).map_or(0, |k| k.len() as u32);
        self.kept.entry(account_index).or_default().push(Kept {
            day,
            booked: t.booked_on.unwrap_or(day),
            seq,
            amount: t.currency_amount,
            balance: t.currency_balance,
            party: account_key(&t.party_iban),
            label,
            income_label: labels.iter().any(|l| INCOME_LABELS.contains(&l.as_str())),
            returned: says(&words, RETURNED),
            refund: t.currency_amount > Decimal::ZERO && says(&words, REFUND),
            loan: says(&words, LOAN),
            debt: says(&words, DEBT),
        });
    }

    fn on_account(&mut self, account_index: usize, account: Account) {
        self.accounts.insert(account_index, account);
    }
}

#[cfg(test)]
mod tests;
