//! Unit tests of the streaming reader of Kontomatik's XML replies.

#![allow(clippy::unwrap_used)]
use super::*;
use signin_core::domain::import::{CollectedImport, Discard};

async fn parse(xml: &str, sink: &mut dyn ImportSink) -> Result<Reply, XmlError> {
    parse_reply(xml.as_bytes(), sink).await.map(|p| p.reply)
}

#[tokio::test]
async fn an_in_progress_command_has_no_result() {
    let mut c = CollectedImport::default();
    let xml = r#"<reply status="200 OK"><command id="9" state="in_progress" name="DefaultImportCommand"><progress><value>40</value></progress></command></reply>"#;
    let Reply::Command(s) = parse(xml, &mut c).await.unwrap() else {
        panic!()
    };
    assert_eq!(s.state, CommandState::InProgress);
    assert_eq!(s.progress, Some(40));
    assert_eq!(c, CollectedImport::default());
}

#[tokio::test]
async fn an_unknown_state_is_not_final() {
    let xml = r#"<reply><command id="9" state="queued_somewhere"/></reply>"#;
    let Reply::Command(s) = parse(xml, &mut Discard).await.unwrap() else {
        panic!()
    };
    assert!(!s.state.is_final());
}

#[tokio::test]
async fn a_failed_commands_data_is_ignored() {
    let xml = r#"<reply><command id="5" state="error"><exception name="BankUnavailable"><message>The bank did not answer</message></exception>
            <result><accounts><account><name>X</name></account></accounts></result></command></reply>"#;
    let mut c = CollectedImport::default();
    let Reply::Command(s) = parse(xml, &mut c).await.unwrap() else {
        panic!()
    };
    assert_eq!(s.state, CommandState::Error);
    assert_eq!(s.exception.unwrap().message, "The bank did not answer");
    assert!(c.accounts.is_empty(), "a failed command's data is ignored");
}

#[tokio::test]
async fn malformed_replies_are_refused_with_a_reason() {
    for (xml, what) in [
        ("", "command or exception"),
        ("<other/>", "command or exception"),
        (r#"<reply><command id="1"/></reply>"#, "state"),
        (
            r#"<reply><command state="successful"/></reply>"#,
            "command id",
        ),
        (
            r#"<reply><command id="a b" state="setup"/></reply>"#,
            "command id",
        ),
    ] {
        let err = parse(xml, &mut Discard).await.unwrap_err();
        assert!(err.to_string().contains(what), "{xml}: {err}");
    }
    let bad_amount = r#"<reply><command id="1" state="successful"><result><accounts><account><moneyTransactions><moneyTransaction><currencyAmount>lots</currencyAmount></moneyTransaction></moneyTransactions></account></accounts></result></command></reply>"#;
    let err = parse(bad_amount, &mut Discard).await.unwrap_err();
    assert!(
        matches!(err, XmlError::BadValue(ref e) if e == "currencyAmount"),
        "{err}"
    );
    let mismatched = "<reply><command id=\"1\" state=\"setup\"></reply>";
    assert!(matches!(
        parse(mismatched, &mut Discard).await.unwrap_err(),
        XmlError::Syntax(_)
    ));
}

#[tokio::test]
async fn a_reply_cut_off_midway_is_an_error_not_a_result() {
    let xml = r#"<reply><command id="1" state="successful"><result><accounts><account><name>K</name></account><account><name>L</name>"#;
    let err = parse(xml, &mut Discard).await.unwrap_err();
    assert!(
        matches!(err, XmlError::Io(_) | XmlError::Syntax(_)),
        "{err}"
    );
}

#[tokio::test]
async fn oversized_text_and_deep_nesting_are_refused() {
    let huge = format!(
        r#"<reply><command id="1" state="successful"><result><accounts><account><name>{}</name></account></accounts></result></command></reply>"#,
        "x".repeat(MAX_TEXT + 1)
    );
    assert!(matches!(
        parse(&huge, &mut Discard).await.unwrap_err(),
        XmlError::BadValue(_)
    ));
    let deep = format!("<reply>{}", "<x>".repeat(MAX_DEPTH + 1));
    assert!(matches!(
        parse(&deep, &mut Discard).await.unwrap_err(),
        XmlError::BadValue(_)
    ));
}

#[tokio::test]
async fn an_unreadable_optional_field_is_left_out_not_fatal() {
    let xml = r#"<reply><command id="1" state="successful"><result><accounts><account><name>K</name>
            <currencyBalance>n/a</currencyBalance><activeSinceAtLeast>soon</activeSinceAtLeast>
            <moneyTransactions><moneyTransaction><bookedOn>31/12</bookedOn><currencyAmount>-1.5</currencyAmount></moneyTransaction></moneyTransactions>
            </account></accounts></result></command></reply>"#;
    let mut c = CollectedImport::default();
    parse(xml, &mut c).await.unwrap();
    let (a, txs) = &c.accounts[0];
    assert_eq!((a.balance, a.active_since_at_least), (None, None));
    assert_eq!(txs[0].booked_on, None);
    assert_eq!(txs[0].currency_amount, Decimal::from_str("-1.5").unwrap());
}

#[test]
fn text_is_trimmed_and_folded() {
    assert_eq!(clean("\n   Example\n   Sp. z o.o.\n"), "Example Sp. z o.o.");
    assert_eq!(clean("  "), "");
}
