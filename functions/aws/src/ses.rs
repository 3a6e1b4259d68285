//! The SESv2 mailer: every email is built as a MIME message (multipart/alternative text + HTML,
//! custom headers such as `List-Unsubscribe`) and sent as Raw content, so nothing is lost on the
//! way (SES's Simple content has no place for custom headers).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_sesv2::error::DisplayErrorContext;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
use aws_sdk_sesv2::Client;
use mail_builder::headers::date::Date;
use mail_builder::headers::raw::Raw;
use mail_builder::MessageBuilder;
use signin_core::clock::Clock;
use signin_core::ports::{MailError, Mailer, OutgoingEmail};

#[derive(Debug, Clone)]
pub struct SesMailer {
    client: Client,
    /// `Company <no-reply@company.example>` or a bare address.
    sender: String,
    configuration_set: Option<String>,
    clock: Arc<dyn Clock>,
}

impl SesMailer {
    pub fn new(
        client: Client,
        sender: impl Into<String>,
        configuration_set: Option<String>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        SesMailer {
            client,
            sender: sender.into(),
            configuration_set,
            clock,
        }
    }

    /// The mailer on `aws`, as the functions send: a send is on a page's path (an emailed
    /// link), so it takes at most [`SEND_BUDGET`], retries included, and is then given up as
    /// unavailable instead of holding the page. No attempt is cut off on its own: SendEmail has
    /// no idempotency token, so an attempt that SES accepted but answered late, sent again,
    /// would mail the person twice. Errors SES answered (throttling, 5xx) are retried within
    /// the budget, as the SDK does.
    pub fn on(
        aws: &aws_config::SdkConfig,
        sender: impl Into<String>,
        configuration_set: Option<String>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let config = aws_sdk_sesv2::config::Builder::from(aws)
            .timeout_config(
                aws_sdk_sesv2::config::timeout::TimeoutConfig::builder()
                    .operation_timeout(SEND_BUDGET)
                    .build(),
            )
            .build();
        Self::new(Client::from_conf(config), sender, configuration_set, clock)
    }
}

/// The longest a send from a function waits for SES, retries included ([`SesMailer::on`]).
pub const SEND_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// The MIME bytes of `mail` from `sender`.
pub fn build_mime(sender: &str, mail: &OutgoingEmail, date: i64) -> Result<Vec<u8>, MailError> {
    for (name, value) in &mail.headers {
        let bad = |s: &str| s.contains(['\r', '\n']);
        if bad(name) || bad(value) || name.contains(':') || name.is_empty() {
            return Err(MailError::Rejected(format!("header {name:?} is not valid")));
        }
    }
    if mail.subject.contains(['\r', '\n']) {
        return Err(MailError::Rejected("the subject has a line break".into()));
    }
    let mut builder = MessageBuilder::new()
        .from(sender)
        .to(mail.to.as_str())
        .subject(mail.subject.as_str())
        .date(Date::new(date))
        .text_body(mail.text.as_str())
        .html_body(mail.html.as_str());
    for (name, value) in &mail.headers {
        builder = builder.header(name.as_str(), Raw::new(value.as_str()));
    }
    builder
        .write_to_vec()
        .map_err(|e| MailError::Rejected(e.to_string()))
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &OutgoingEmail) -> Result<String, MailError> {
        let mime = build_mime(&self.sender, mail, self.clock.now().timestamp())?;
        let raw = RawMessage::builder()
            .data(Blob::new(mime))
            .build()
            .map_err(|e| MailError::Rejected(e.to_string()))?;
        let out = self
            .client
            .send_email()
            .from_email_address(&self.sender)
            .destination(
                Destination::builder()
                    .to_addresses(mail.to.as_str())
                    .build(),
            )
            .content(EmailContent::builder().raw(raw).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .email_tags(
                aws_sdk_sesv2::types::MessageTag::builder()
                    .name("kind")
                    .value(mail.tag.as_str())
                    .build()
                    .map_err(|e| MailError::Rejected(e.to_string()))?,
            )
            .send()
            .await
            .map_err(|e| {
                let rejected = e.as_service_error().is_some_and(|s| {
                    s.is_message_rejected() || s.is_mail_from_domain_not_verified_exception()
                });
                let text = DisplayErrorContext(e).to_string();
                if rejected {
                    MailError::Rejected(text)
                } else {
                    MailError::Unavailable(text)
                }
            })?;
        Ok(out.message_id.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use signin_core::contract::sample_marketing_mail;

    #[test]
    fn mime_has_both_parts_and_the_headers() {
        let mail = sample_marketing_mail("ann@example.com");
        let mime = build_mime("Lender <no-reply@lender.example>", &mail, 1_700_000_000).unwrap();
        let parsed = mail_parser::MessageParser::default().parse(&mime).unwrap();
        assert_eq!(parsed.subject(), Some(mail.subject.as_str()));
        assert_eq!(
            parsed.body_text(0).unwrap().replace("\r\n", "\n").trim(),
            mail.text.trim()
        );
        assert!(parsed.body_html(0).unwrap().contains("resume?t=abc"));
        let raw = String::from_utf8_lossy(&mime);
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("List-Unsubscribe: <https://example.test/unsubscribe?t=abc>"));
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    }

    #[test]
    fn header_injection_is_refused() {
        let mut mail = sample_marketing_mail("ann@example.com");
        mail.headers
            .push(("X-Bad".into(), "a\r\nBcc: evil@example.com".into()));
        assert!(matches!(
            build_mime("a@b.example", &mail, 0),
            Err(MailError::Rejected(_))
        ));
        let mut mail = sample_marketing_mail("ann@example.com");
        mail.subject = "Hi\nBcc: x@y.z".into();
        assert!(build_mime("a@b.example", &mail, 0).is_err());
    }
}
