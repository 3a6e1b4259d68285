//! The mailer's contract: the sample email it sends and what its recorded copy must hold.

use crate::domain::Email;
use crate::ports::{MailCategory, OutgoingEmail};

/// What a mailer's recorded message looks like once read back from wherever it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub headers: Vec<(String, String)>,
}

/// The sample follow-up email the mailer contract sends.
pub fn sample_marketing_mail(to: &str) -> OutgoingEmail {
    OutgoingEmail {
        to: Email::parse(to).unwrap(),
        subject: "Finish connecting your bank – Zakończ".into(),
        text: "Hello Ann,\nyou can finish here: https://example.test/resume?t=abc\n".into(),
        html: "<p>Hello Ann,</p><p><a href=\"https://example.test/resume?t=abc\">Finish</a></p>"
            .into(),
        headers: vec![
            (
                "List-Unsubscribe".into(),
                "<https://example.test/unsubscribe?t=abc>".into(),
            ),
            (
                "List-Unsubscribe-Post".into(),
                "List-Unsubscribe=One-Click".into(),
            ),
        ],
        category: MailCategory::Marketing,
        tag: "follow_up".into(),
    }
}

/// The mailer delivered `expected` with both parts and its custom headers, as read back from
/// wherever the adapter's messages are recorded.
pub fn mail_was_recorded(expected: &OutgoingEmail, recorded: &[RecordedMail]) {
    let got = recorded
        .iter()
        .find(|m| m.subject == expected.subject)
        .expect("the sent message was recorded");
    assert_eq!(got.to, expected.to.as_str());
    assert_eq!(got.text.replace("\r\n", "\n").trim(), expected.text.trim());
    assert!(got
        .html
        .contains("href=\"https://example.test/resume?t=abc\""));
    for (name, value) in &expected.headers {
        assert!(
            got.headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case(name) && v == value),
            "header {name} kept"
        );
    }
}
