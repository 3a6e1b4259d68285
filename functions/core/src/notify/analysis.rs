//! The analysis of an import in words, in the person's language: accounts, balances, income
//! and spending by label, with amounts and days written as people in that language write them.
//! (Shown to the lender's operator, never mailed: emails carry no bank data.)

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::polish;
use crate::domain::import::{ImportSummary, IncomeBasis};
use crate::domain::Language;

/// Polish plural: `1 rachunek`, `2 rachunki`, `5 rachunków` (12–14 take the "many" form).
pub(super) fn pl_plural<'a>(n: u64, one: &'a str, few: &'a str, many: &'a str) -> &'a str {
    let (last, last_two) = (n % 10, n % 100);
    if n == 1 {
        one
    } else if (2..=4).contains(&last) && !(12..=14).contains(&last_two) {
        few
    } else {
        many
    }
}

/// An amount as people in the language write it: `1,234.56 PLN` / `1 234,56 PLN`.
pub fn format_amount(lang: Language, value: Decimal, currency: &str) -> String {
    let v = value.round_dp(2);
    let negative = v.is_sign_negative() && !v.is_zero();
    let abs = v.abs();
    let whole = abs.trunc().to_string();
    let cents = ((abs - abs.trunc()) * Decimal::from(100))
        .round()
        .to_string();
    let (group, point) = if polish(lang) {
        ('\u{a0}', ',')
    } else {
        (',', '.')
    };
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(group);
        }
        grouped.push(c);
    }
    let sign = if negative { "-" } else { "" };
    let currency = currency.trim();
    if currency.is_empty() {
        format!("{sign}{grouped}{point}{cents:0>2}")
    } else {
        format!("{sign}{grouped}{point}{cents:0>2} {currency}")
    }
}

fn format_day(lang: Language, day: NaiveDate) -> String {
    if polish(lang) {
        day.format("%d.%m.%Y").to_string()
    } else {
        day.format("%-d %b %Y").to_string()
    }
}

/// Kontomatik's spending labels in Polish; others are shown as Kontomatik names them.
const POLISH_LABELS: &[(&str, &str)] = &[
    ("salary", "wynagrodzenie"),
    ("compensation", "wynagrodzenie"),
    ("utilities", "rachunki i media"),
    ("groceries", "zakupy spożywcze"),
    ("shopping", "zakupy"),
    ("restaurants", "restauracje"),
    ("fuel", "paliwo"),
    ("transport", "transport"),
    ("travel", "podróże"),
    ("entertainment", "rozrywka"),
    ("health", "zdrowie"),
    ("rent", "czynsz"),
    ("loan", "kredyty"),
    ("loans", "kredyty"),
    ("insurance", "ubezpieczenia"),
    ("taxes", "podatki"),
    ("cash", "gotówka"),
    ("transfer", "przelewy"),
    ("monthly", "płatności comiesięczne"),
    ("subscriptions", "subskrypcje"),
    ("education", "edukacja"),
];

fn label_name(lang: Language, label: &str) -> String {
    if polish(lang) {
        // A label we have no Polish name for is shown as "other", never in English.
        return POLISH_LABELS
            .iter()
            .find(|(en, _)| en.eq_ignore_ascii_case(label.trim()))
            .map_or("inne", |(_, pl)| pl)
            .to_owned();
    }
    label.trim().replace('_', " ")
}

/// The lines of the import email that describe the data (no greeting, no call to action).
pub fn import_analysis_lines(lang: Language, summary: &ImportSummary) -> Vec<String> {
    let pl = polish(lang);
    let mut lines = Vec::new();
    lines.push(match (&summary.bank, pl) {
        (Some(bank), true) => format!("Połączenie z Twoim bankiem ({bank}) się udało."),
        (None, true) => "Połączenie z Twoim bankiem się udało.".to_owned(),
        (Some(bank), false) => format!("Connecting {bank} worked."),
        (None, false) => "Connecting your bank worked.".to_owned(),
    });
    let period = match (summary.period_from, summary.period_to) {
        (Some(a), Some(b)) => Some(format!("{} – {}", format_day(lang, a), format_day(lang, b))),
        _ => None,
    };
    let (accounts, transactions) = (
        u64::from(summary.accounts_total),
        summary.transactions_total,
    );
    lines.push(if pl {
        let mut l = format!(
            "Otrzymaliśmy {accounts} {} i {transactions} {}",
            pl_plural(accounts, "rachunek", "rachunki", "rachunków"),
            pl_plural(transactions, "transakcję", "transakcje", "transakcji"),
        );
        if let Some(p) = &period {
            l.push_str(&format!(" (okres {p})"));
        }
        l.push('.');
        l
    } else {
        let mut l = format!(
            "We received {accounts} {} and {transactions} {}",
            if accounts == 1 { "account" } else { "accounts" },
            if transactions == 1 {
                "transaction"
            } else {
                "transactions"
            },
        );
        if let Some(p) = &period {
            l.push_str(&format!(" covering {p}"));
        }
        l.push('.');
        l
    });
    for a in &summary.accounts {
        let mut parts = Vec::new();
        let mut head = a.name.clone();
        if !a.number_masked.is_empty() {
            head.push_str(&format!(" ({})", a.number_masked));
        }
        if let Some(b) = a.balance {
            parts.push(format!(
                "{} {}",
                if pl { "saldo" } else { "balance" },
                format_amount(lang, b, &a.currency)
            ));
        }
        if let Some(f) = a.available_funds {
            parts.push(format!(
                "{} {}",
                if pl { "dostępne środki" } else { "available" },
                format_amount(lang, f, &a.currency)
            ));
        }
        if let Some(since) = a.active_since {
            parts.push(if pl {
                format!(
                    "rachunek aktywny od co najmniej {}",
                    format_day(lang, since)
                )
            } else {
                format!("open since at least {}", format_day(lang, since))
            });
        }
        if parts.is_empty() {
            lines.push(format!("• {head}"));
        } else {
            lines.push(format!("• {head}: {}", parts.join(", ")));
        }
    }
    if summary.accounts.len() < summary.accounts_total as usize {
        let more = summary.accounts_total as usize - summary.accounts.len();
        lines.push(if pl {
            format!(
                "• i jeszcze {more} {}",
                pl_plural(more as u64, "rachunek", "rachunki", "rachunków")
            )
        } else {
            format!("• and {more} more")
        });
    }
    for t in &summary.totals {
        let basis = match (t.income_basis, pl) {
            (IncomeBasis::Labels, true) => "na podstawie wynagrodzeń",
            (IncomeBasis::Labels, false) => "salary and compensation",
            (IncomeBasis::AllIncoming, true) => "na podstawie wszystkich wpływów",
            (IncomeBasis::AllIncoming, false) => "all incoming payments",
        };
        lines.push(if pl {
            format!(
                "Średni miesięczny dochód: {} ({basis}); średnie miesięczne wydatki: {}.",
                format_amount(lang, t.monthly_income, &t.currency),
                format_amount(lang, t.monthly_spending, &t.currency)
            )
        } else {
            format!(
                "Average monthly income: {} ({basis}); average monthly spending: {}.",
                format_amount(lang, t.monthly_income, &t.currency),
                format_amount(lang, t.monthly_spending, &t.currency)
            )
        });
    }
    if !summary.top_spending_labels.is_empty() {
        let top: Vec<String> = summary
            .top_spending_labels
            .iter()
            .map(|l| {
                format!(
                    "{} {}",
                    label_name(lang, &l.label),
                    format_amount(lang, l.amount, &l.currency)
                )
            })
            .collect();
        lines.push(if pl {
            format!("Największe wydatki: {}.", top.join(", "))
        } else {
            format!("Largest spending: {}.", top.join(", "))
        });
    }
    lines
}
