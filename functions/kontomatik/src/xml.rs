//! A streaming reader of Kontomatik's XML command replies.
//!
//! It reads the body as it arrives (any `AsyncBufRead`, e.g. the HTTP body stream) and hands each
//! owner, transaction and account to an [`ImportSink`] as soon as the element closes, so a result
//! with 100 000 transactions is never held as a document, a tree and a struct at once: only the
//! current element's text is buffered.

use std::str::FromStr;

use chrono::NaiveDate;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use rust_decimal::Decimal;
use signin_core::domain::{CommandId, CommandState, ErrorInfo};
use signin_core::import::{Account, ImportSink, MoneyTransaction, Owner, Target};
use signin_core::ports::CommandStatus;
use thiserror::Error;
use tokio::io::AsyncBufRead;

use crate::wire::xml as n;

/// The longest text one element may hold.
const MAX_TEXT: usize = 64 * 1024;

#[derive(Debug, Error)]
pub enum XmlError {
    /// The body could not be read to the end (the connection dropped): worth retrying.
    #[error("reading the reply failed: {0}")]
    Io(String),
    #[error("the reply is not well-formed XML: {0}")]
    Syntax(String),
    #[error("the reply has no {0}")]
    Missing(&'static str),
    #[error("the reply has an invalid <{0}>")]
    BadValue(String),
}

/// A parsed command reply: a command's status, or an exception in place of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandReply {
    Command(CommandStatus),
    Exception(ErrorInfo),
}

fn name_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn decimal(element: &[u8], text: &str) -> Result<Decimal, XmlError> {
    Decimal::from_str(text.trim()).map_err(|_| XmlError::BadValue(name_of(element)))
}

fn opt_decimal(element: &[u8], text: &str) -> Result<Option<Decimal>, XmlError> {
    if text.trim().is_empty() {
        Ok(None)
    } else {
        decimal(element, text).map(Some)
    }
}

fn opt_date(element: &[u8], text: &str) -> Result<Option<NaiveDate>, XmlError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| XmlError::BadValue(name_of(element)))
}

#[derive(Default)]
struct Parser {
    /// Local names of the open elements.
    stack: Vec<Vec<u8>>,
    text: String,
    command_id: Option<String>,
    command_state: Option<CommandState>,
    progress: Option<u8>,
    exception_name: Option<String>,
    exception_message: Option<String>,
    owner: Option<Owner>,
    account: Option<Account>,
    account_index: usize,
    transaction: Option<MoneyTransaction>,
}

impl Parser {
    fn parent(&self) -> &[u8] {
        self.stack
            .len()
            .checked_sub(2)
            .and_then(|i| self.stack.get(i))
            .map(Vec::as_slice)
            .unwrap_or(b"")
    }

    fn successful(&self) -> bool {
        self.command_state == Some(CommandState::Successful)
    }

    fn attr(e: &BytesStart<'_>, key: &[u8]) -> Result<Option<String>, XmlError> {
        for a in e.attributes() {
            let a = a.map_err(|err| XmlError::Syntax(err.to_string()))?;
            if a.key.local_name().as_ref() == key {
                let v = a
                    .unescape_value()
                    .map_err(|err| XmlError::Syntax(err.to_string()))?;
                return Ok(Some(v.into_owned()));
            }
        }
        Ok(None)
    }

    fn open(&mut self, e: &BytesStart<'_>, sink: &mut dyn ImportSink) -> Result<(), XmlError> {
        let name = e.local_name().as_ref().to_vec();
        self.stack.push(name.clone());
        self.text.clear();
        let parent = self.parent().to_vec();
        match name.as_slice() {
            n::COMMAND if parent == n::REPLY => {
                self.command_id = Self::attr(e, n::ATTR_ID)?;
                let state = Self::attr(e, n::ATTR_STATE)?.ok_or(XmlError::Missing("state"))?;
                self.command_state = Some(
                    CommandState::parse(&state)
                        .ok_or_else(|| XmlError::BadValue("command state".into()))?,
                );
            }
            n::EXCEPTION => {
                self.exception_name = Self::attr(e, n::ATTR_NAME)?;
            }
            n::TARGET if parent == n::RESULT && self.successful() => {
                sink.on_target(Target {
                    name: Self::attr(e, n::ATTR_NAME)?.unwrap_or_default(),
                    official_name: Self::attr(e, n::ATTR_OFFICIAL_NAME)?.unwrap_or_default(),
                });
            }
            n::OWNER => self.owner = Some(Owner::default()),
            n::ACCOUNT => self.account = Some(Account::default()),
            n::MONEY_TRANSACTION => self.transaction = Some(MoneyTransaction::default()),
            _ => {}
        }
        Ok(())
    }

    fn close(&mut self, sink: &mut dyn ImportSink) -> Result<(), XmlError> {
        let parent = self.parent().to_vec();
        let name = self.stack.pop().unwrap_or_default();
        let text = std::mem::take(&mut self.text);
        let ok = self.successful();
        match (parent.as_slice(), name.as_slice()) {
            (n::PROGRESS, n::VALUE) => {
                let v: f64 = text
                    .trim()
                    .parse()
                    .map_err(|_| XmlError::BadValue("progress".into()))?;
                self.progress = Some(v.clamp(0.0, 100.0) as u8);
            }
            (_, n::EXCEPTION) => self.exception_message = Some(text.trim().to_owned()),
            (n::MONEY_TRANSACTION, field) => {
                if let Some(t) = self.transaction.as_mut() {
                    match field {
                        n::TX_TRANSACTION_ON => t.transaction_on = opt_date(field, &text)?,
                        n::TX_BOOKED_ON => t.booked_on = opt_date(field, &text)?,
                        n::TX_CURRENCY_AMOUNT => t.currency_amount = decimal(field, &text)?,
                        n::TX_CURRENCY_BALANCE => t.currency_balance = opt_decimal(field, &text)?,
                        n::TX_TITLE => t.title = text,
                        n::TX_PARTY => t.party = text,
                        n::TX_PARTY_IBAN => t.party_iban = text,
                        n::TX_KIND => t.kind = text,
                        _ => {}
                    }
                }
            }
            (_, n::MONEY_TRANSACTION) => {
                if let Some(t) = self.transaction.take() {
                    if ok {
                        sink.on_transaction(self.account_index, t);
                    }
                }
            }
            (n::OWNER, field) => {
                if let Some(o) = self.owner.as_mut() {
                    match field {
                        n::OWNER_NAME => o.name = text,
                        n::OWNER_ADDRESS => o.address = text,
                        n::OWNER_KIND => o.kind = text,
                        _ => {}
                    }
                }
            }
            (_, n::OWNER) => {
                if let Some(o) = self.owner.take() {
                    if ok {
                        sink.on_owner(o);
                    }
                }
            }
            (n::ACCOUNT, field) => {
                if let Some(a) = self.account.as_mut() {
                    match field {
                        n::ACCOUNT_NAME => a.name = text,
                        n::ACCOUNT_NUMBER => a.number = text,
                        n::ACCOUNT_CURRENCY => a.currency = text,
                        n::ACCOUNT_BALANCE => a.balance = opt_decimal(field, &text)?,
                        n::ACCOUNT_AVAILABLE_FUNDS => {
                            a.available_funds = opt_decimal(field, &text)?
                        }
                        _ => {}
                    }
                }
            }
            (_, n::ACCOUNT) => {
                if let Some(a) = self.account.take() {
                    if ok {
                        sink.on_account(self.account_index, a);
                    }
                    self.account_index += 1;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn push_text(&mut self, s: &str) -> Result<(), XmlError> {
        if self.text.len() + s.len() > MAX_TEXT {
            return Err(XmlError::BadValue(format!(
                "{} (text longer than {MAX_TEXT} bytes)",
                self.stack.last().map(|v| name_of(v)).unwrap_or_default()
            )));
        }
        self.text.push_str(s);
        Ok(())
    }

    fn finish(self) -> Result<CommandReply, XmlError> {
        let exception = self.exception_name.map(|code| ErrorInfo {
            code,
            message: self.exception_message.unwrap_or_default(),
        });
        match (self.command_state, self.command_id) {
            (Some(state), Some(id)) => Ok(CommandReply::Command(CommandStatus {
                id: CommandId::parse(&id).map_err(|_| XmlError::BadValue("command id".into()))?,
                state,
                progress: self.progress,
                exception,
            })),
            (Some(_), None) => Err(XmlError::Missing("command id")),
            (None, _) => exception
                .map(CommandReply::Exception)
                .ok_or(XmlError::Missing("command or exception")),
        }
    }
}

fn quick_xml_error(e: quick_xml::Error) -> XmlError {
    match e {
        quick_xml::Error::Io(io) => XmlError::Io(io.to_string()),
        other => XmlError::Syntax(other.to_string()),
    }
}

/// Reads one command reply from `input`, streaming the result (if the command succeeded) into
/// `sink`.
pub async fn parse_command_reply<R>(
    input: R,
    sink: &mut dyn ImportSink,
) -> Result<CommandReply, XmlError>
where
    R: AsyncBufRead + Unpin,
{
    let mut reader = Reader::from_reader(input);
    reader.config_mut().trim_text(true);
    let mut buf = Vec::with_capacity(4096);
    let mut p = Parser::default();
    loop {
        buf.clear();
        match reader
            .read_event_into_async(&mut buf)
            .await
            .map_err(quick_xml_error)?
        {
            Event::Start(e) => p.open(&e, sink)?,
            Event::Empty(e) => {
                p.open(&e, sink)?;
                p.close(sink)?;
            }
            Event::End(_) => p.close(sink)?,
            Event::Text(t) => {
                let s = t.unescape().map_err(|e| XmlError::Syntax(e.to_string()))?;
                p.push_text(&s)?;
            }
            Event::CData(c) => {
                let s = std::str::from_utf8(c.as_ref())
                    .map_err(|e| XmlError::Syntax(e.to_string()))?
                    .to_owned();
                p.push_text(&s)?;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !p.stack.is_empty() {
        return Err(XmlError::Io(
            "the reply ended before its last element closed".into(),
        ));
    }
    p.finish()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use signin_core::import::{CollectedImport, Discard};

    const SUCCESS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<reply>
  <command id="12345" state="successful">
    <progress><value>100</value></progress>
    <result>
      <target name="DemoBank" officialName="Demo Bank &amp; Co"/>
      <owners><owner><name>Jan Kowalski</name><address>ul. Prosta 1</address><kind>OWNER</kind></owner></owners>
      <accounts>
        <account>
          <name>Konto</name><number>PL61109010140000071219812874</number><currency>PLN</currency>
          <balance>1234.56</balance><availableFunds>1200.00</availableFunds>
          <moneyTransactions>
            <moneyTransaction>
              <transactionOn>2026-10-01</transactionOn><bookedOn>2026-10-02</bookedOn>
              <currencyAmount>-120.50</currencyAmount><currencyBalance>1234.56</currencyBalance>
              <title><![CDATA[Zakupy <Biedronka>]]></title><party>Jeronimo</party><partyIban></partyIban><kind>CARD</kind>
            </moneyTransaction>
            <moneyTransaction>
              <transactionOn>2026-10-03</transactionOn>
              <currencyAmount>3000</currencyAmount><title>Salary</title>
            </moneyTransaction>
          </moneyTransactions>
        </account>
        <account><name>Savings</name><number>PL27</number><currency>EUR</currency><balance>5</balance></account>
      </accounts>
    </result>
  </command>
</reply>"#;

    async fn parse(xml: &str, sink: &mut dyn ImportSink) -> Result<CommandReply, XmlError> {
        parse_command_reply(xml.as_bytes(), sink).await
    }

    #[tokio::test]
    async fn a_successful_result_streams_into_the_sink() {
        let mut c = CollectedImport::default();
        let reply = parse(SUCCESS, &mut c).await.unwrap();
        let CommandReply::Command(status) = reply else {
            panic!("command expected")
        };
        assert_eq!(status.id.as_str(), "12345");
        assert_eq!(status.state, CommandState::Successful);
        assert_eq!(status.progress, Some(100));
        assert_eq!(status.exception, None);
        let target = c.target.unwrap();
        assert_eq!(target.official_name, "Demo Bank & Co");
        assert_eq!(c.owners.len(), 1);
        assert_eq!(c.owners[0].name, "Jan Kowalski");
        assert_eq!(c.owners[0].kind, "OWNER");
        assert_eq!(c.accounts.len(), 2);
        let (acc, txs) = &c.accounts[0];
        assert_eq!(acc.name, "Konto");
        assert_eq!(acc.currency, "PLN");
        assert_eq!(acc.balance, Some(Decimal::from_str("1234.56").unwrap()));
        assert_eq!(txs.len(), 2);
        assert_eq!(txs[0].title, "Zakupy <Biedronka>");
        assert_eq!(
            txs[0].kind, "CARD",
            "transaction kind is not the owner kind"
        );
        assert_eq!(
            txs[0].currency_amount,
            Decimal::from_str("-120.50").unwrap()
        );
        assert_eq!(txs[0].booked_on, NaiveDate::from_ymd_opt(2026, 10, 2));
        assert_eq!(txs[1].booked_on, None);
        assert_eq!(c.accounts[1].0.name, "Savings");
        assert!(c.accounts[1].1.is_empty());
    }

    #[tokio::test]
    async fn an_in_progress_command_has_no_result() {
        let mut c = CollectedImport::default();
        let xml = r#"<reply><command id="9" state="in_progress"><progress><value>40</value></progress></command></reply>"#;
        let CommandReply::Command(s) = parse(xml, &mut c).await.unwrap() else {
            panic!()
        };
        assert_eq!(s.state, CommandState::InProgress);
        assert_eq!(s.progress, Some(40));
        assert_eq!(c, CollectedImport::default());
        let started = r#"<reply><command id="7" state="in_progress"/></reply>"#;
        let CommandReply::Command(s) = parse(started, &mut Discard).await.unwrap() else {
            panic!()
        };
        assert_eq!(s.id.as_str(), "7");
        assert_eq!(s.progress, None);
    }

    #[tokio::test]
    async fn a_failed_command_carries_its_exception_and_no_data() {
        let xml = r#"<reply><command id="5" state="error"><exception name="BankUnavailable">The bank did not answer</exception>
            <result><accounts><account><name>X</name></account></accounts></result></command></reply>"#;
        let mut c = CollectedImport::default();
        let CommandReply::Command(s) = parse(xml, &mut c).await.unwrap() else {
            panic!()
        };
        assert_eq!(s.state, CommandState::Error);
        let e = s.exception.unwrap();
        assert_eq!(e.code, "BankUnavailable");
        assert_eq!(e.message, "The bank did not answer");
        assert!(c.accounts.is_empty(), "a failed command's data is ignored");
    }

    #[tokio::test]
    async fn an_error_reply_is_an_exception() {
        let xml = r#"<reply><exception name="CommandAlreadyExecuted">Default import was already executed</exception></reply>"#;
        let r = parse(xml, &mut Discard).await.unwrap();
        assert_eq!(
            r,
            CommandReply::Exception(ErrorInfo {
                code: "CommandAlreadyExecuted".into(),
                message: "Default import was already executed".into()
            })
        );
    }

    #[tokio::test]
    async fn malformed_replies_are_refused_with_a_reason() {
        for (xml, what) in [
            ("", "command or exception"),
            ("<reply/>", "command or exception"),
            (r#"<reply><command id="1"/></reply>"#, "state"),
            (
                r#"<reply><command state="successful"/></reply>"#,
                "command id",
            ),
            (
                r#"<reply><command id="1" state="weird"/></reply>"#,
                "command state",
            ),
            (
                r#"<reply><command id="a b" state="setup"/></reply>"#,
                "command id",
            ),
        ] {
            let err = parse(xml, &mut Discard).await.unwrap_err();
            assert!(err.to_string().contains(what), "{xml}: {err}");
        }
        let bad_amount = SUCCESS.replace("-120.50", "lots");
        let err = parse(&bad_amount, &mut Discard).await.unwrap_err();
        assert!(
            matches!(err, XmlError::BadValue(ref e) if e == "currencyAmount"),
            "{err}"
        );
        let bad_date = SUCCESS.replace("2026-10-01", "01/10/2026");
        assert!(parse(&bad_date, &mut Discard).await.is_err());
        let mismatched = "<reply><command id=\"1\" state=\"setup\"></reply>";
        assert!(matches!(
            parse(mismatched, &mut Discard).await.unwrap_err(),
            XmlError::Syntax(_)
        ));
    }

    #[tokio::test]
    async fn a_reply_cut_off_midway_is_an_io_error_not_a_result() {
        let cut = &SUCCESS[..SUCCESS.len() / 2];
        let err = parse(cut, &mut Discard).await.unwrap_err();
        assert!(
            matches!(err, XmlError::Io(_) | XmlError::Syntax(_)),
            "{err}"
        );
    }

    #[tokio::test]
    async fn oversized_text_is_refused() {
        let huge = format!(
            r#"<reply><command id="1" state="successful"><result><accounts><account><name>{}</name></account></accounts></result></command></reply>"#,
            "x".repeat(MAX_TEXT + 1)
        );
        assert!(matches!(
            parse(&huge, &mut Discard).await.unwrap_err(),
            XmlError::BadValue(_)
        ));
    }
}
