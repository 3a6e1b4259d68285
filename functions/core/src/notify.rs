//! The emails we send, as multipart text + HTML, in the user's language (English and Polish;
//! other languages fall back to English). HTML is escaped by the template engine.

use maud::{html, Markup, DOCTYPE};

use crate::domain::{Email, Language};
use crate::import::ImportSummary;
use crate::ports::{MailCategory, OutgoingEmail};

/// What a message is about (used as the mail's tag).
pub const TAG_LINK: &str = "signin_link";
pub const TAG_IMPORT_DONE: &str = "import_done";
pub const TAG_IMPORT_FAILED: &str = "import_failed";
pub const TAG_FOLLOW_UP: &str = "follow_up";

/// Why a user gets a follow-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropOff {
    /// The link expired before the sign-in finished.
    Expired,
    /// The sign-in ended with an error at the bank.
    Failed,
}

fn polish(lang: Language) -> bool {
    lang.as_str() == "pl"
}

fn layout(lang: Language, company: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang=(lang.as_str()) {
            head { meta charset="utf-8"; meta name="viewport" content="width=device-width, initial-scale=1"; }
            body style="margin:0;padding:24px;background:#f4f6f9;font-family:Arial,Helvetica,sans-serif;color:#1c2330" {
                div style="max-width:520px;margin:0 auto;background:#ffffff;border-radius:10px;padding:24px" {
                    p style="font-weight:bold;color:#20324f;margin-top:0" { (company) }
                    (body)
                }
            }
        }
    }
    .into_string()
}

fn button(href: &str, label: &str) -> Markup {
    html! {
        p style="margin:24px 0" {
            a href=(href) style="display:inline-block;background:#2b6cb0;color:#ffffff;padding:12px 20px;border-radius:8px;text-decoration:none;font-weight:bold" { (label) }
        }
    }
}

fn greeting(lang: Language, name: &str) -> String {
    match (polish(lang), name.trim().is_empty()) {
        (true, true) => "Dzień dobry,".into(),
        (true, false) => format!("Dzień dobry {},", name.trim()),
        (false, true) => "Hello,".into(),
        (false, false) => format!("Hello {},", name.trim()),
    }
}

/// The sign-in link, for users who asked for it by email.
pub fn link_email(
    to: &Email,
    name: &str,
    lang: Language,
    company: &str,
    link: &str,
) -> OutgoingEmail {
    let pl = polish(lang);
    let subject = if pl {
        format!("{company}: połącz swoje konto bankowe")
    } else {
        format!("{company}: connect your bank account")
    };
    let (intro, cta, validity) = if pl {
        (
            "Oto link do bezpiecznego połączenia konta bankowego przez Kontomatik.",
            "Połącz konto",
            "Link jest ważny przez godzinę.",
        )
    } else {
        (
            "Here is your link to connect your bank account securely through Kontomatik.",
            "Connect my bank",
            "The link works for one hour.",
        )
    };
    let hello = greeting(lang, name);
    OutgoingEmail {
        to: to.clone(),
        subject,
        text: format!("{hello}\n\n{intro}\n\n{link}\n\n{validity}\n\n{company}\n"),
        html: layout(
            lang,
            company,
            html! { p { (hello) } p { (intro) } (button(link, cta)) p { (validity) } },
        ),
        headers: vec![],
        category: MailCategory::Transactional,
        tag: TAG_LINK.into(),
    }
}

/// The import finished: what we received and what happens next.
pub fn import_done_email(
    to: &Email,
    name: &str,
    lang: Language,
    company: &str,
    summary: &ImportSummary,
    next_steps_url: &str,
) -> OutgoingEmail {
    let pl = polish(lang);
    let bank = summary.bank.clone().unwrap_or_else(|| "your bank".into());
    let period = match (summary.period_from, summary.period_to) {
        (Some(a), Some(b)) => format!("{a} – {b}"),
        _ => "-".into(),
    };
    let subject = if pl {
        format!("{company}: otrzymaliśmy dane z banku")
    } else {
        format!("{company}: we received your bank data")
    };
    let lines = if pl {
        vec![
            format!("Połączenie z {bank} się udało."),
            format!(
                "Otrzymaliśmy {} rachunki i {} transakcji (okres {period}).",
                summary.accounts_total, summary.transactions_total
            ),
            "Co dalej: przeanalizujemy dane i odezwiemy się w ciągu jednego dnia roboczego. Nie musisz nic robić.".into(),
        ]
    } else {
        vec![
            format!("Connecting {bank} worked."),
            format!(
                "We received {} account(s) and {} transaction(s) covering {period}.",
                summary.accounts_total, summary.transactions_total
            ),
            "Next steps: we will review your data and get back to you within one business day. There is nothing else you need to do.".into(),
        ]
    };
    let cta = if pl {
        "Zobacz status"
    } else {
        "See your status"
    };
    let hello = greeting(lang, name);
    OutgoingEmail {
        to: to.clone(),
        subject,
        text: format!(
            "{hello}\n\n{}\n\n{cta}: {next_steps_url}\n\n{company}\n",
            lines.join("\n\n")
        ),
        html: layout(
            lang,
            company,
            html! {
                p { (hello) }
                @for l in &lines { p { (l) } }
                (button(next_steps_url, cta))
            },
        ),
        headers: vec![],
        category: MailCategory::Transactional,
        tag: TAG_IMPORT_DONE.into(),
    }
}

/// The import failed: a way to try again (a new sign-in; the old session cannot be reused).
pub fn import_failed_email(
    to: &Email,
    name: &str,
    lang: Language,
    company: &str,
    retry_url: &str,
) -> OutgoingEmail {
    let pl = polish(lang);
    let subject = if pl {
        format!("{company}: nie udało się pobrać danych z banku")
    } else {
        format!("{company}: we could not fetch your bank data")
    };
    let (body, cta) = if pl {
        (
            "Połączenie z bankiem się udało, ale pobranie danych nie. To zwykle chwilowy problem po stronie banku. Zaloguj się ponownie, aby spróbować jeszcze raz.",
            "Spróbuj ponownie",
        )
    } else {
        (
            "Signing in to your bank worked, but fetching the data did not. This is usually a temporary problem at the bank. Please sign in again to retry.",
            "Try again",
        )
    };
    let hello = greeting(lang, name);
    OutgoingEmail {
        to: to.clone(),
        subject,
        text: format!("{hello}\n\n{body}\n\n{cta}: {retry_url}\n\n{company}\n"),
        html: layout(
            lang,
            company,
            html! { p { (hello) } p { (body) } (button(retry_url, cta)) },
        ),
        headers: vec![],
        category: MailCategory::Transactional,
        tag: TAG_IMPORT_FAILED.into(),
    }
}

/// The one follow-up for a user who dropped off: a fresh way back in, and a way out.
pub fn follow_up_email(
    to: &Email,
    name: &str,
    lang: Language,
    company: &str,
    why: DropOff,
    resume_url: &str,
    unsubscribe_url: &str,
) -> OutgoingEmail {
    let pl = polish(lang);
    let (subject, body, cta, unsub) = match (why, pl) {
        (DropOff::Expired, false) => (
            format!("{company}: finish connecting your bank"),
            "You started connecting your bank account but did not finish, and that link has expired. It takes about a minute: use the button for a fresh, secure link.",
            "Continue",
            "Don't want these reminders? Unsubscribe",
        ),
        (DropOff::Expired, true) => (
            format!("{company}: dokończ łączenie z bankiem"),
            "Rozpocząłeś łączenie konta bankowego, ale go nie dokończyłeś, a tamten link wygasł. To zajmie około minuty: użyj przycisku, aby otrzymać nowy, bezpieczny link.",
            "Kontynuuj",
            "Nie chcesz tych przypomnień? Wypisz się",
        ),
        (DropOff::Failed, false) => (
            format!("{company}: connecting your bank did not work – try again"),
            "Your last attempt to connect your bank account ended with an error at the bank (for example a mistyped password or a busy bank). Nothing was shared. You can try again with a fresh link.",
            "Try again",
            "Don't want these reminders? Unsubscribe",
        ),
        (DropOff::Failed, true) => (
            format!("{company}: połączenie z bankiem się nie udało – spróbuj ponownie"),
            "Ostatnia próba połączenia konta bankowego zakończyła się błędem po stronie banku (np. błędne hasło lub chwilowy problem banku). Nic nie zostało udostępnione. Możesz spróbować ponownie z nowym linkiem.",
            "Spróbuj ponownie",
            "Nie chcesz tych przypomnień? Wypisz się",
        ),
    };
    let hello = greeting(lang, name);
    OutgoingEmail {
        to: to.clone(),
        subject,
        text: format!(
            "{hello}\n\n{body}\n\n{cta}: {resume_url}\n\n{company}\n\n{unsub}: {unsubscribe_url}\n"
        ),
        html: layout(
            lang,
            company,
            html! {
                p { (hello) }
                p { (body) }
                (button(resume_url, cta))
                p style="font-size:12px;color:#5b6576" { a href=(unsubscribe_url) style="color:#5b6576" { (unsub) } }
            },
        ),
        headers: vec![
            ("List-Unsubscribe".into(), format!("<{unsubscribe_url}>")),
            (
                "List-Unsubscribe-Post".into(),
                "List-Unsubscribe=One-Click".into(),
            ),
        ],
        category: MailCategory::Marketing,
        tag: TAG_FOLLOW_UP.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        );
        assert!(pl.subject.contains("połącz"));
        assert!(pl.text.starts_with("Dzień dobry Anna,"));
        let de = link_email(
            &ann(),
            "",
            Language::parse("de").expect("de"),
            "L",
            "https://k",
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
            "https://l/resume?t=a",
            "https://l/unsubscribe?t=b",
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
            "r",
            "u",
        );
        assert_ne!(e.subject, f.subject);
        assert!(f.text.contains("Try again: r"));
        let pl = follow_up_email(
            &ann(),
            "Anna",
            Language::parse("pl").expect("pl"),
            "L",
            DropOff::Expired,
            "r",
            "u",
        );
        assert!(pl.text.contains("Wypisz się: u"));
    }

    #[test]
    fn the_done_email_summarises_the_import() {
        let s = ImportSummary {
            bank: Some("Demo Bank".into()),
            accounts_total: 2,
            transactions_total: 80,
            ..Default::default()
        };
        let m = import_done_email(&ann(), "Ann", Language::FIRST, "Lender", &s, "https://l/s");
        assert!(m.text.contains("2 account(s) and 80 transaction(s)"));
        assert!(m.text.contains("Demo Bank"));
        assert_eq!(m.category, MailCategory::Transactional);
        let f = import_failed_email(&ann(), "Ann", Language::FIRST, "Lender", "https://l/");
        assert!(f.text.contains("Try again: https://l/"));
    }
}
