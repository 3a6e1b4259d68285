use super::analysis::pl_plural;
use super::*;
use crate::domain::import::{ImportSummary, IncomeBasis};
use chrono::NaiveDate;
use rust_decimal::Decimal;

fn ann() -> Email {
    Email::parse("ann@example.com").expect("email")
}

#[test]
fn emails_have_both_parts_in_the_users_language_and_escape_names() {
    let en = link_email(
        &ann(),
        "<Ann>",
        Language::FIRST,
        "Lender",
        "https://k/x?a=1&b=2",
        "https://l/erase?t=e",
    );
    assert!(en.text.contains("Hello <Ann>,"), "plain text is plain");
    assert!(en.html.contains("Hello &lt;Ann&gt;,"), "HTML is escaped");
    assert!(en.html.contains("href=\"https://k/x?a=1&amp;b=2\""));
    assert!(en.text.contains("one hour"));
    let pl = link_email(
        &ann(),
        "Anna",
        Language::parse("pl").expect("pl"),
        "Lender",
        "https://k/x",
        "https://l/erase?t=e",
    );
    assert!(pl.subject.contains("połącz"));
    assert!(pl.text.starts_with("Dzień dobry Anna,"));
    let de = link_email(
        &ann(),
        "",
        Language::parse("de").expect("de"),
        "L",
        "https://k",
        "https://l/erase?t=e",
    );
    assert!(de.text.starts_with("Hello,"), "fallback to English");
}

#[test]
fn follow_ups_carry_unsubscribe_headers_and_differ_by_reason() {
    let e = follow_up_email(
        &ann(),
        "Ann",
        Language::FIRST,
        "Lender",
        DropOff::Expired,
        FollowUpLinks {
            resume: "https://l/resume?t=a",
            unsubscribe: "https://l/unsubscribe?t=b",
            erase: "https://l/erase?t=e",
        },
    );
    assert_eq!(e.category, MailCategory::Marketing);
    assert!(e.headers.contains(&(
        "List-Unsubscribe".into(),
        "<https://l/unsubscribe?t=b>".into()
    )));
    assert!(e.headers.contains(&(
        "List-Unsubscribe-Post".into(),
        "List-Unsubscribe=One-Click".into()
    )));
    assert!(e.text.contains("Continue: https://l/resume?t=a"));
    assert!(
        e.html.contains("href=\"https://l/unsubscribe?t=b\""),
        "a visible unsubscribe link"
    );
    let f = follow_up_email(
        &ann(),
        "Ann",
        Language::FIRST,
        "Lender",
        DropOff::Failed,
        FollowUpLinks {
            resume: "r",
            unsubscribe: "u",
            erase: "https://l/erase?t=e",
        },
    );
    assert_ne!(e.subject, f.subject);
    assert!(f.text.contains("Try again: r"));
    let pl = follow_up_email(
        &ann(),
        "Anna",
        Language::parse("pl").expect("pl"),
        "L",
        DropOff::Expired,
        FollowUpLinks {
            resume: "r",
            unsubscribe: "u",
            erase: "https://l/erase?t=e",
        },
    );
    assert!(pl.text.contains("Wypisz się: u"));
}

#[test]
fn the_done_email_points_to_the_persons_page_in_their_language() {
    // It takes no summary at all: the HTTP test of a forwarded link checks the sent mail.
    let en = import_done_email(
        &ann(),
        "Ann",
        Language::FIRST,
        "Lender",
        "https://l/me",
        "https://l/erase?t=e",
    );
    assert!(
        en.text.contains("My applications: https://l/me"),
        "{}",
        en.text
    );
    assert!(en.html.contains("href=\"https://l/me\""));
    assert_eq!(en.category, MailCategory::Transactional);
    let pl = import_done_email(
        &ann(),
        "Anna",
        Language::parse("pl").expect("pl"),
        "Lender",
        "https://l/me",
        "https://l/erase?t=e",
    );
    assert!(
        pl.text.contains("Moje wnioski: https://l/me"),
        "{}",
        pl.text
    );
    assert!(!pl.text.contains("bank data"), "{}", pl.text);
    let f = import_failed_email(
        &ann(),
        "Ann",
        Language::FIRST,
        "Lender",
        "https://l/",
        "https://l/erase?t=e",
    );
    assert!(f.text.contains("Try again: https://l/"));
}

fn analysed() -> ImportSummary {
    use crate::domain::import::{AccountSummary, CurrencyTotals, LabelSpending};
    use std::str::FromStr;
    let d = |s: &str| Decimal::from_str(s).expect("decimal");
    ImportSummary {
        bank: Some("PKO BP".into()),
        owners: 1,
        accounts: vec![AccountSummary {
            name: "Konto".into(),
            number_masked: "…2874".into(),
            currency: "PLN".into(),
            balance: Some(d("1234.56")),
            available_funds: Some(d("1200")),
            active_since: NaiveDate::from_ymd_opt(2025, 1, 10),
            ..Default::default()
        }],
        accounts_total: 1,
        transactions_total: 22,
        period_from: NaiveDate::from_ymd_opt(2026, 5, 1),
        period_to: NaiveDate::from_ymd_opt(2026, 10, 31),
        totals: vec![CurrencyTotals {
            currency: "PLN".into(),
            monthly_income: d("5300.5"),
            income_basis: IncomeBasis::Labels,
            monthly_spending: d("2100"),
            ..Default::default()
        }],
        top_spending_labels: vec![
            LabelSpending {
                label: "groceries".into(),
                currency: "PLN".into(),
                amount: d("1500"),
            },
            LabelSpending {
                label: "pet_food".into(),
                currency: "PLN".into(),
                amount: d("20"),
            },
        ],
        credit_cards: 0,
    }
}

#[test]
fn the_analysis_reads_in_english() {
    let text = import_analysis_lines(Language::FIRST, &analysed()).join("\n");
    for part in [
        "Connecting PKO BP worked.",
        "1 account and 22 transactions covering 1 May 2026 – 31 Oct 2026.",
        "• Konto (…2874): balance 1,234.56 PLN, available 1,200.00 PLN, open since at least 10 Jan 2025",
        "Average monthly income: 5,300.50 PLN (salary and compensation); average monthly spending: 2,100.00 PLN.",
        "Largest spending: groceries 1,500.00 PLN, pet food 20.00 PLN.",
    ] {
        assert!(text.contains(part), "missing {part:?} in\n{text}");
    }
}

#[test]
fn the_analysis_is_wholly_polish_for_polish_users() {
    let pl = Language::parse("pl").expect("pl");
    let text = import_analysis_lines(pl, &analysed()).join("\n");
    for part in [
        "Połączenie z Twoim bankiem (PKO BP) się udało.",
        "Otrzymaliśmy 1 rachunek i 22 transakcje (okres 01.05.2026 – 31.10.2026).",
        "• Konto (…2874): saldo 1\u{a0}234,56 PLN, dostępne środki 1\u{a0}200,00 PLN, rachunek aktywny od co najmniej 10.01.2025",
        "Średni miesięczny dochód: 5\u{a0}300,50 PLN (na podstawie wynagrodzeń); średnie miesięczne wydatki: 2\u{a0}100,00 PLN.",
        "Największe wydatki: zakupy spożywcze 1\u{a0}500,00 PLN, inne 20,00 PLN.",
    ] {
        assert!(text.contains(part), "missing {part:?} in\n{text}");
    }
    for english in [
        "your bank",
        "account",
        "balance",
        "income",
        "Next steps",
        "groceries",
        "pet",
    ] {
        assert!(!text.contains(english), "English {english:?} in\n{text}");
    }
    let unknown_bank = import_analysis_lines(pl, &ImportSummary::default()).join("\n");
    assert!(
        unknown_bank.contains("Połączenie z Twoim bankiem się udało."),
        "{unknown_bank}"
    );
    assert!(!unknown_bank.contains("your bank"));
}

#[test]
fn amounts_and_plurals_follow_the_language() {
    let pl = Language::parse("pl").expect("pl");
    let d = |s: &str| <Decimal as std::str::FromStr>::from_str(s).expect("decimal");
    assert_eq!(
        format_amount(Language::FIRST, d("-1234567.5"), "EUR"),
        "-1,234,567.50 EUR"
    );
    assert_eq!(format_amount(pl, d("999.999"), "PLN"), "1\u{a0}000,00 PLN");
    assert_eq!(format_amount(pl, d("0.05"), ""), "0,05");
    assert_eq!(
        [1, 2, 5, 12, 22, 25, 112].map(|n| pl_plural(n, "a", "b", "c")),
        ["a", "b", "c", "c", "b", "c", "c"]
    );
}
