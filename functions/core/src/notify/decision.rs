//! The lender's next step, told to the applicant.

use maud::html;

use super::{button, greeting, layout, polish, text_footer};
use crate::domain::case::{Case, Decision, DecisionKind};
use crate::domain::Language;
use crate::ports::{MailCategory, OutgoingEmail};

pub const TAG_DECISION: &str = "decision";

/// What the applicant reads about a decision of `kind`: the mail's subject line after the
/// company, and its first paragraph (also on their page).
pub fn decision_words(kind: DecisionKind, lang: Language) -> (&'static str, &'static str) {
    match (kind, polish(lang)) {
        (DecisionKind::Accepted, true) => (
            "Twój wniosek został przyjęty",
            "Dobra wiadomość: Twój wniosek został przyjęty. Skontaktujemy się z Tobą w sprawie kolejnych kroków.",
        ),
        (DecisionKind::Accepted, false) => (
            "your application is accepted",
            "Good news: your application is accepted. We will be in touch about the next steps.",
        ),
        (DecisionKind::MoreInformation, true) => (
            "potrzebujemy więcej informacji",
            "Aby rozpatrzyć Twój wniosek, potrzebujemy więcej informacji — na przykład połączenia z innym bankiem.",
        ),
        (DecisionKind::MoreInformation, false) => (
            "we need more information",
            "To decide on your application we need more information — for example, connecting another bank.",
        ),
        (DecisionKind::Declined, true) => (
            "decyzja w sprawie Twojego wniosku",
            "Przykro nam, ale tym razem nie możemy przyjąć Twojego wniosku.",
        ),
        (DecisionKind::Declined, false) => (
            "a decision on your application",
            "We are sorry, but we cannot accept your application this time.",
        ),
        (DecisionKind::Message, true) => (
            "wiadomość w sprawie Twojego wniosku",
            "Mamy wiadomość w sprawie Twojego wniosku.",
        ),
        (DecisionKind::Message, false) => (
            "a message about your application",
            "We have a message about your application.",
        ),
    }
}

/// The next step, with the officer's words (plain text; escaped in the HTML part) and a link to
/// the applicant's page.
pub fn decision_email(
    case: &Case,
    decision: &Decision,
    company: &str,
    my_page: &str,
    erase_url: &str,
) -> OutgoingEmail {
    let (to, name, lang) = (&case.email, case.name.as_str(), case.language);
    let (kind, message) = (decision.kind, decision.message.as_str());
    let (subject, said) = decision_words(kind, lang);
    let (from_us, open) = if polish(lang) {
        ("Wiadomość od nas:", "Otwórz swoją stronę")
    } else {
        ("Our message:", "Open your page")
    };
    let hello = greeting(lang, name);
    let message = message.trim();
    let mut text = format!("{hello}\n\n{said}\n\n");
    if !message.is_empty() {
        text.push_str(&format!("{from_us}\n{message}\n\n"));
    }
    text.push_str(&format!("{open}: {my_page}\n\n{company}\n"));
    text.push_str(&text_footer(lang, erase_url));
    OutgoingEmail {
        to: to.clone(),
        subject: format!("{company}: {subject}"),
        text,
        html: layout(
            lang,
            company,
            erase_url,
            html! {
                p { (hello) }
                p { (said) }
                @if !message.is_empty() {
                    p { strong { (from_us) } }
                    @for line in message.lines() {
                        p style="margin:4px 0" { (line) }
                    }
                }
                (button(my_page, open))
            },
        ),
        headers: vec![],
        category: MailCategory::Transactional,
        tag: TAG_DECISION.into(),
    }
}
