//! The emails we send, as multipart text + HTML, in the user's language (English and Polish;
//! other languages fall back to English). HTML is escaped by the template engine.

use maud::{html, Markup, DOCTYPE};

use crate::domain::{Email, Language};
use crate::ports::{MailCategory, OutgoingEmail};

mod analysis;
mod decision;
pub use analysis::{format_amount, import_analysis_lines};
pub use decision::{decision_email, decision_words, TAG_DECISION};

/// What a message is about (used as the mail's tag).
pub const TAG_LINK: &str = "signin_link";
pub const TAG_IMPORT_DONE: &str = "import_done";
pub const TAG_IMPORT_FAILED: &str = "import_failed";
pub const TAG_FOLLOW_UP: &str = "follow_up";
pub const TAG_STAFF_LOGIN: &str = "staff_login";
pub const TAG_LOGIN: &str = "applicant_login";

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

/// The line every email ends with: the signed link to erase the person's data.
fn erase_line(lang: Language) -> &'static str {
    if polish(lang) {
        "Chcesz, abyśmy usunęli Twoje dane? Usuń moje dane"
    } else {
        "Want us to delete your data? Delete my data"
    }
}

/// The text part's footer, with the erase link.
fn text_footer(lang: Language, erase_url: &str) -> String {
    format!("\n--\n{}: {erase_url}\n", erase_line(lang))
}

fn layout(lang: Language, company: &str, erase_url: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang=(lang.as_str()) {
            head { meta charset="utf-8"; meta name="viewport" content="width=device-width, initial-scale=1"; }
            body style="margin:0;padding:24px;background:#f4f6f9;font-family:Arial,Helvetica,sans-serif;color:#1c2330" {
                div style="max-width:520px;margin:0 auto;background:#ffffff;border-radius:10px;padding:24px" {
                    p style="font-weight:bold;color:#20324f;margin-top:0" { (company) }
                    (body)
                    p style="color:#5b6576;font-size:12px;margin-top:24px" {
                        a href=(erase_url) style="color:#5b6576" { (erase_line(lang)) }
                    }
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
    erase_url: &str,
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
        text: format!(
            "{hello}\n\n{intro}\n\n{link}\n\n{validity}\n\n{company}\n{}",
            text_footer(lang, erase_url)
        ),
        html: layout(
            lang,
            company,
            erase_url,
            html! { p { (hello) } p { (intro) } (button(link, cta)) p { (validity) } },
        ),
        headers: vec![],
        category: MailCategory::Transactional,
        tag: TAG_LINK.into(),
    }
}

/// The import finished: that the data was received and what happens next (never the data).
pub fn import_done_email(
    to: &Email,
    name: &str,
    lang: Language,
    company: &str,
    my_page_url: &str,
    erase_url: &str,
) -> OutgoingEmail {
    // No bank data here, ever: an address typed into a form need not be the mailbox of the
    // person who signed in at the bank. What was received is seen on the person's page.
    let pl = polish(lang);
    let subject = if pl {
        format!("{company}: otrzymaliśmy dane z banku")
    } else {
        format!("{company}: we received your bank data")
    };
    let lines = if pl {
        [
            "Dane z Twojego banku dotarły do nas bezpiecznie.",
            "Co dalej: przeanalizujemy je i przekażemy Ci decyzję lub kolejny krok na Twojej stronie wniosków. Wyślemy też wiadomość, gdy będzie coś nowego.",
            "Nie przesyłamy danych bankowych e-mailem. Aby zobaczyć stan wniosku, zaloguj się linkiem wysłanym na ten adres.",
        ]
    } else {
        [
            "Your bank data reached us safely.",
            "What happens next: we will review it and show you our decision or the next step on your applications page. We will also email you when there is news.",
            "We never send bank data by email. To see your application, log in with a link we send to this address.",
        ]
    };
    let cta = if pl {
        "Moje wnioski"
    } else {
        "My applications"
    };
    let hello = greeting(lang, name);
    let mut text = format!("{hello}\n\n");
    for l in &lines {
        text.push_str(l);
        text.push_str("\n\n");
    }
    text.push_str(&format!("{cta}: {my_page_url}\n\n{company}\n"));
    text.push_str(&text_footer(lang, erase_url));
    OutgoingEmail {
        to: to.clone(),
        subject,
        text,
        html: layout(
            lang,
            company,
            erase_url,
            html! {
                p { (hello) }
                @for l in &lines { p { (l) } }
                (button(my_page_url, cta))
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
    erase_url: &str,
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
        text: format!(
            "{hello}\n\n{body}\n\n{cta}: {retry_url}\n\n{company}\n{}",
            text_footer(lang, erase_url)
        ),
        html: layout(
            lang,
            company,
            erase_url,
            html! { p { (hello) } p { (body) } (button(retry_url, cta)) },
        ),
        headers: vec![],
        category: MailCategory::Transactional,
        tag: TAG_IMPORT_FAILED.into(),
    }
}

/// The signed links of a follow-up.
#[derive(Debug, Clone, Copy)]
pub struct FollowUpLinks<'a> {
    pub resume: &'a str,
    pub unsubscribe: &'a str,
    pub erase: &'a str,
}

/// The one follow-up for a user who dropped off: a fresh way back in, and a way out.
pub fn follow_up_email(
    to: &Email,
    name: &str,
    lang: Language,
    company: &str,
    why: DropOff,
    links: FollowUpLinks<'_>,
) -> OutgoingEmail {
    let FollowUpLinks {
        resume: resume_url,
        unsubscribe: unsubscribe_url,
        erase: erase_url,
    } = links;
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
            "{hello}\n\n{body}\n\n{cta}: {resume_url}\n\n{company}\n\n{unsub}: {unsubscribe_url}\n{}",
            text_footer(lang, erase_url)
        ),
        html: layout(
            lang,
            company,
            erase_url,
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

/// An applicant's one-time log-in link (proves the mailbox; no erase link: it holds nothing of
/// the person yet, and may reach someone who never used our service).
pub fn login_email(to: &Email, lang: Language, company: &str, link: &str) -> OutgoingEmail {
    let pl = polish(lang);
    let (subject, hello, body, cta, ignore) = if pl {
        (
            format!("{company}: Twój link do logowania"),
            "Dzień dobry,",
            "oto Twój link do logowania. Działa raz, przez 15 minut:",
            "Zaloguj się",
            "Jeśli to nie Ty prosiłeś o link, zignoruj tę wiadomość.",
        )
    } else {
        (
            format!("{company}: your log-in link"),
            "Hello,",
            "here is your log-in link. It works once, for 15 minutes:",
            "Log in",
            "If you did not ask for it, ignore this email.",
        )
    };
    OutgoingEmail {
        to: to.clone(),
        subject,
        text: format!("{hello}\n\n{body}\n\n{link}\n\n{ignore}\n\n{company}\n"),
        html: html! {
            (DOCTYPE)
            html lang=(lang.as_str()) {
                body style="font-family:Arial,Helvetica,sans-serif" {
                    p { (hello) }
                    p { (body) }
                    (button(link, cta))
                    p { (ignore) }
                    p { (company) }
                }
            }
        }
        .into_string(),
        headers: vec![],
        category: MailCategory::Transactional,
        tag: TAG_LOGIN.into(),
    }
}

/// A staff member's one-time sign-in link to the funnel page (staff are not data subjects of
/// this system: no erase link).
pub fn staff_login_email(to: &Email, company: &str, link: &str) -> OutgoingEmail {
    let text = format!(
        "Hello,\n\nhere is your staff sign-in link to {company}. It works once, for 15 minutes:\n\n{link}\n\nIf you did not ask for it, ignore this email.\n"
    );
    OutgoingEmail {
        to: to.clone(),
        subject: format!("{company}: your staff sign-in link"),
        text,
        html: html! {
            (DOCTYPE)
            html lang="en" {
                body style="font-family:Arial,Helvetica,sans-serif" {
                    p { "Hello," }
                    p { "here is your staff sign-in link to " (company) ". It works once, for 15 minutes:" }
                    (button(link, "Sign in"))
                    p { "If you did not ask for it, ignore this email." }
                }
            }
        }
        .into_string(),
        headers: vec![],
        category: MailCategory::Transactional,
        tag: TAG_STAFF_LOGIN.into(),
    }
}

#[cfg(test)]
mod tests;
