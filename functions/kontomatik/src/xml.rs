//! A streaming reader of Kontomatik's XML replies: command replies (Default Import, command
//! status, sign-out), owner data (`/v1/data.xml`), exceptions and the 401 `<comment>` reply.
//!
//! It reads the body as it arrives (any `AsyncBufRead`, e.g. the HTTP body stream) and hands each
//! owner, transaction and account to an [`ImportSink`] as soon as the element closes, so a result
//! with 100 000 transactions is never held as a document, a tree and a struct at once: only the
//! open elements' names and the current element's text are buffered. Elements are recognised by
//! their path below the data root (`reply/command/result` or `reply/owner/target`), so the
//! transaction's `currencyBalance` is never taken for the account's, an account's owners never
//! count as the connection's, and a `creditCards` block or an unknown element is skipped whole.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Mutex;

use chrono::NaiveDate;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use rust_decimal::Decimal;
use signin_core::domain::import::{Account, ImportSink, MoneyTransaction, Owner, Target};
use signin_core::domain::{CommandId, CommandState, ErrorInfo};
use signin_core::ports::CommandStatus;
use thiserror::Error;
use tokio::io::AsyncBufRead;

use crate::wire::xml as n;

/// The longest text one element may hold.
const MAX_TEXT: usize = 64 * 1024;
/// The deepest nesting accepted.
const MAX_DEPTH: usize = 64;
/// The most labels kept on one transaction.
const MAX_LABELS: usize = 32;

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

/// An `<exception name="…"><message>…</message><friendlyMessage>…</friendlyMessage></exception>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    pub name: String,
    pub message: String,
    pub friendly_message: Option<String>,
}

impl Exception {
    /// The error as the core keeps it: the technical message, else the friendly one.
    pub fn info(&self) -> ErrorInfo {
        let message = if self.message.is_empty() {
            self.friendly_message.clone().unwrap_or_default()
        } else {
            self.message.clone()
        };
        ErrorInfo {
            code: self.name.clone(),
            message,
        }
    }
}

/// What one XML reply held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A command's status (its result, if any, went to the sink).
    Command(CommandStatus),
    /// An exception in place of a command.
    Exception(Exception),
    /// The 401 reply: `<reply status="401 Unauthorized"><comment>…</comment></reply>`.
    Comment(String),
    /// An owner's aggregated data (streamed to the sink).
    OwnerData { external_id: String },
    /// A reply with none of the above (e.g. an empty `<reply/>` after a delete).
    Empty,
}

/// A parsed reply with the `status` attribute of its `<reply>` (e.g. `202 Accepted`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedReply {
    pub status: Option<String>,
    pub reply: Reply,
    /// The command's full `<exception>` (with its friendly message), when it failed.
    pub command_exception: Option<Exception>,
}

fn name_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The element's text with surrounding and repeated whitespace (line breaks too) folded.
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

fn decimal(element: &[u8], text: &str) -> Result<Decimal, XmlError> {
    Decimal::from_str(text).map_err(|_| XmlError::BadValue(name_of(element)))
}

/// An optional amount: an unreadable one is left out (logged by element name, never by value —
/// it is bank data) rather than failing a whole import.
fn opt_decimal(element: &[u8], text: &str) -> Option<Decimal> {
    if text.is_empty() {
        return None;
    }
    let v = Decimal::from_str(text).ok();
    if v.is_none() {
        tracing::warn!(element = %name_of(element), "unreadable optional amount; left out");
    }
    v
}

/// An optional day (`YYYY-MM-DD`; a timestamp's date part is taken): an unreadable one is left
/// out, logged by element name.
fn opt_date(element: &[u8], text: &str) -> Option<NaiveDate> {
    if text.is_empty() {
        return None;
    }
    let day = text.get(..10).unwrap_or(text);
    let v = NaiveDate::parse_from_str(day, "%Y-%m-%d").ok();
    if v.is_none() {
        tracing::warn!(element = %name_of(element), "unreadable optional date; left out");
    }
    v
}

fn opt_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// Command states not in the contract, logged once each per process.
static UNKNOWN_STATES: Mutex<Option<HashSet<String>>> = Mutex::new(None);

fn command_state(raw: &str) -> CommandState {
    if let Some(state) = CommandState::parse(raw) {
        return state;
    }
    let mut seen = UNKNOWN_STATES.lock().unwrap_or_else(|e| e.into_inner());
    let seen = seen.get_or_insert_with(HashSet::new);
    if seen.len() < 32 && seen.insert(raw.chars().take(64).collect()) {
        tracing::warn!(state = %raw, "unknown command state; treated as not final");
    }
    CommandState::InProgress
}

/// Stands for every element name the contract does not know: no path through it matches.
const UNKNOWN: &[u8] = b"?";

/// Every element name a path below can match, so that open elements are kept as `'static`
/// slices instead of one allocation per element.
const KNOWN: &[&[u8]] = &[
    n::REPLY,
    n::COMMENT,
    n::COMMAND,
    n::PROGRESS,
    n::VALUE,
    n::RESULT,
    n::EXCEPTION,
    n::MESSAGE,
    n::FRIENDLY_MESSAGE,
    n::DATA_OWNER,
    n::TARGET,
    n::OWNERS,
    n::OWNER_NAME,
    n::OWNER_ADDRESS,
    n::OWNER_KIND,
    n::ACCOUNTS,
    n::ACCOUNT,
    n::ACCOUNT_FRIENDLY_NAME,
    n::ACCOUNT_IBAN,
    n::ACCOUNT_BALANCE,
    n::ACCOUNT_FUNDS_AVAILABLE,
    n::ACCOUNT_CURRENCY,
    n::ACCOUNT_ACTIVE_SINCE,
    n::DIRECT_DEBIT,
    n::MONEY_TRANSACTIONS,
    n::MONEY_TRANSACTION,
    n::TX_TRANSACTION_ON,
    n::TX_BOOKED_ON,
    n::TX_CURRENCY_AMOUNT,
    n::TX_TITLE,
    n::TX_PARTY,
    n::TX_PARTY_IBAN,
    n::TX_STATUS,
    n::LABELS,
    n::LABEL,
    n::CREDIT_CARDS,
    n::CREDIT_CARD,
];

fn intern(name: &[u8]) -> &'static [u8] {
    KNOWN
        .iter()
        .copied()
        .find(|k| *k == name)
        .unwrap_or(UNKNOWN)
}

#[derive(Default)]
struct Parser {
    /// The open elements, each by its interned name ([`intern`]): a path is a slice of this,
    /// matched without allocating.
    stack: Vec<&'static [u8]>,
    text: String,
    reply_status: Option<String>,
    comment: Option<String>,
    command_id: Option<String>,
    command_state: Option<CommandState>,
    progress: Option<u8>,
    /// The exception being read, and where it sits (`true`: inside `<command>`).
    exception: Option<(Exception, bool)>,
    top_exception: Option<Exception>,
    command_exception: Option<Exception>,
    owner_external_id: Option<String>,
    /// Depth of the data root (`reply/command/result` of a successful command, or
    /// `reply/owner/target`): elements below it are streamed to the sink.
    data_depth: Option<usize>,
    owner: Option<Owner>,
    account_owner: Option<Owner>,
    account: Option<Account>,
    account_index: usize,
    transaction: Option<MoneyTransaction>,
}

impl Parser {
    fn attr(e: &BytesStart<'_>, key: &[u8]) -> Result<Option<String>, XmlError> {
        for a in e.attributes() {
            let a = a.map_err(|err| XmlError::Syntax(err.to_string()))?;
            if a.key.local_name().as_ref() == key {
                let v = a
                    .unescape_value()
                    .map_err(|err| XmlError::Syntax(err.to_string()))?;
                return Ok(Some(clean(&v)));
            }
        }
        Ok(None)
    }

    fn open(&mut self, e: &BytesStart<'_>, sink: &mut dyn ImportSink) -> Result<(), XmlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(XmlError::BadValue("nesting too deep".into()));
        }
        self.stack.push(intern(e.local_name().as_ref()));
        self.text.clear();
        // Moved out (not copied) while the handlers change the parser's other fields.
        let stack = std::mem::take(&mut self.stack);
        let path = stack.as_slice();
        let result = match self.data_depth {
            Some(d) if path.len() > d => self.open_data(&path[d..], e, sink),
            _ => self.open_outside_data(path, e, sink),
        };
        self.stack = stack;
        result
    }

    fn open_outside_data(
        &mut self,
        path: &[&[u8]],
        e: &BytesStart<'_>,
        sink: &mut dyn ImportSink,
    ) -> Result<(), XmlError> {
        let depth = path.len();
        match path {
            [n::REPLY] => self.reply_status = Self::attr(e, n::ATTR_STATUS)?,
            [n::REPLY, n::COMMAND] => {
                self.command_id = Self::attr(e, n::ATTR_ID)?;
                let state = Self::attr(e, n::ATTR_STATE)?.ok_or(XmlError::Missing("state"))?;
                self.command_state = Some(command_state(&state));
                if self.command_state == Some(CommandState::Successful) {
                    let target = Target {
                        name: Self::attr(e, n::ATTR_TARGET)?.unwrap_or_default(),
                        official_name: String::new(),
                        institution: Self::attr(e, n::ATTR_INSTITUTION)?.unwrap_or_default(),
                    };
                    if target.display_name().is_some() {
                        sink.on_target(target);
                    }
                }
            }
            [n::REPLY, n::COMMAND, n::RESULT]
                if self.command_state == Some(CommandState::Successful) =>
            {
                self.data_depth = Some(depth);
            }
            [n::REPLY, n::EXCEPTION] | [n::REPLY, n::COMMAND, n::EXCEPTION] => {
                let in_command = depth == 3;
                self.exception = Some((
                    Exception {
                        name: Self::attr(e, n::ATTR_NAME)?.unwrap_or_default(),
                        message: String::new(),
                        friendly_message: None,
                    },
                    in_command,
                ));
            }
            [n::REPLY, n::DATA_OWNER] => {
                self.owner_external_id =
                    Some(Self::attr(e, n::ATTR_EXTERNAL_ID)?.unwrap_or_default());
            }
            [n::REPLY, n::DATA_OWNER, n::TARGET] => {
                sink.on_target(Target {
                    name: Self::attr(e, n::ATTR_NAME)?.unwrap_or_default(),
                    official_name: Self::attr(e, n::ATTR_OFFICIAL_NAME)?.unwrap_or_default(),
                    institution: Self::attr(e, n::ATTR_INSTITUTION)?.unwrap_or_default(),
                });
                self.data_depth = Some(depth);
            }
            _ => {}
        }
        Ok(())
    }

    fn open_data(
        &mut self,
        rel: &[&[u8]],
        e: &BytesStart<'_>,
        sink: &mut dyn ImportSink,
    ) -> Result<(), XmlError> {
        match rel {
            [n::OWNERS, n::OWNER] => self.owner = Some(Owner::default()),
            [n::ACCOUNTS, n::ACCOUNT] => self.account = Some(Account::default()),
            [n::ACCOUNTS, n::ACCOUNT, n::OWNERS, n::OWNER] => {
                self.account_owner = Some(Owner::default())
            }
            [n::ACCOUNTS, n::ACCOUNT, n::DIRECT_DEBIT] => {
                let available = Self::attr(e, n::ATTR_AVAILABLE)?;
                if let Some(a) = self.account.as_mut() {
                    a.direct_debit_available = available.as_deref().and_then(opt_bool);
                }
            }
            [n::ACCOUNTS, n::ACCOUNT, n::MONEY_TRANSACTIONS, n::MONEY_TRANSACTION] => {
                self.transaction = Some(MoneyTransaction::default())
            }
            [n::CREDIT_CARDS, n::CREDIT_CARD] => sink.on_credit_card(),
            _ => {}
        }
        Ok(())
    }

    fn close(&mut self, sink: &mut dyn ImportSink) -> Result<(), XmlError> {
        let text = clean(&std::mem::take(&mut self.text));
        let stack = std::mem::take(&mut self.stack);
        let path = stack.as_slice();
        let result = match self.data_depth {
            Some(d) if path.len() > d => self.close_data(&path[d..], text, sink),
            _ => {
                self.close_outside_data(path, text);
                Ok(())
            }
        };
        self.stack = stack;
        if self.data_depth == Some(self.stack.len()) {
            self.data_depth = None;
        }
        self.stack.pop();
        result
    }

    fn close_outside_data(&mut self, path: &[&[u8]], text: String) {
        match path {
            [n::REPLY, n::COMMENT] => self.comment = Some(text),
            [n::REPLY, n::COMMAND, n::PROGRESS, n::VALUE] => {
                // Kontomatik's progress is unreliable (0 in a successful reply): never fatal.
                self.progress = text.parse::<f64>().ok().map(|v| v.clamp(0.0, 100.0) as u8);
            }
            [n::REPLY, n::EXCEPTION, n::MESSAGE]
            | [n::REPLY, n::COMMAND, n::EXCEPTION, n::MESSAGE] => {
                if let Some((e, _)) = self.exception.as_mut() {
                    e.message = text;
                }
            }
            [n::REPLY, n::EXCEPTION, n::FRIENDLY_MESSAGE]
            | [n::REPLY, n::COMMAND, n::EXCEPTION, n::FRIENDLY_MESSAGE] => {
                if let Some((e, _)) = self.exception.as_mut() {
                    e.friendly_message = Some(text);
                }
            }
            [n::REPLY, n::EXCEPTION] | [n::REPLY, n::COMMAND, n::EXCEPTION] => {
                if let Some((mut e, in_command)) = self.exception.take() {
                    // Older replies put the message straight in the element.
                    if e.message.is_empty() && !text.is_empty() {
                        e.message = text;
                    }
                    if in_command {
                        self.command_exception = Some(e);
                    } else {
                        self.top_exception = Some(e);
                    }
                }
            }
            _ => {}
        }
    }

    fn close_data(
        &mut self,
        rel: &[&[u8]],
        text: String,
        sink: &mut dyn ImportSink,
    ) -> Result<(), XmlError> {
        use n::*;
        match rel {
            [OWNERS, OWNER, field] => {
                if let Some(o) = self.owner.as_mut() {
                    set_owner_field(o, field, text);
                }
            }
            [OWNERS, OWNER] => {
                if let Some(o) = self.owner.take() {
                    sink.on_owner(o);
                }
            }
            [ACCOUNTS, ACCOUNT, OWNERS, OWNER, field] => {
                if let Some(o) = self.account_owner.as_mut() {
                    set_owner_field(o, field, text);
                }
            }
            [ACCOUNTS, ACCOUNT, OWNERS, OWNER] => {
                if let (Some(o), Some(a)) = (self.account_owner.take(), self.account.as_mut()) {
                    if a.owners.len() < 16 {
                        a.owners.push(o);
                    }
                }
            }
            [ACCOUNTS, ACCOUNT, MONEY_TRANSACTIONS, MONEY_TRANSACTION, LABELS, LABEL] => {
                if let Some(t) = self.transaction.as_mut() {
                    if !text.is_empty() && t.labels.len() < MAX_LABELS {
                        t.labels.push(text);
                    }
                }
            }
            [ACCOUNTS, ACCOUNT, MONEY_TRANSACTIONS, MONEY_TRANSACTION, field] => {
                if let Some(t) = self.transaction.as_mut() {
                    match *field {
                        TX_TRANSACTION_ON => t.transaction_on = opt_date(field, &text),
                        TX_BOOKED_ON => t.booked_on = opt_date(field, &text),
                        TX_CURRENCY_AMOUNT => t.currency_amount = decimal(field, &text)?,
                        TX_CURRENCY_BALANCE => t.currency_balance = opt_decimal(field, &text),
                        TX_TITLE => t.title = text,
                        TX_PARTY => t.party = text,
                        TX_PARTY_IBAN => t.party_iban = text,
                        TX_KIND => t.kind = text,
                        TX_STATUS => t.status = text,
                        _ => {}
                    }
                }
            }
            [ACCOUNTS, ACCOUNT, MONEY_TRANSACTIONS, MONEY_TRANSACTION] => {
                if let Some(t) = self.transaction.take() {
                    sink.on_transaction(self.account_index, t);
                }
            }
            [ACCOUNTS, ACCOUNT, field] => {
                if let Some(a) = self.account.as_mut() {
                    match *field {
                        ACCOUNT_NAME => a.name = text,
                        ACCOUNT_FRIENDLY_NAME => a.friendly_name = text,
                        ACCOUNT_IBAN => a.iban = text,
                        ACCOUNT_CURRENCY => a.currency = text,
                        ACCOUNT_BALANCE => a.balance = opt_decimal(field, &text),
                        ACCOUNT_FUNDS_AVAILABLE => a.available_funds = opt_decimal(field, &text),
                        ACCOUNT_ACTIVE_SINCE => a.active_since_at_least = opt_date(field, &text),
                        _ => {}
                    }
                }
            }
            [ACCOUNTS, ACCOUNT] => {
                if let Some(a) = self.account.take() {
                    sink.on_account(self.account_index, a);
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

    fn finish(self) -> Result<ParsedReply, XmlError> {
        let reply = match (self.command_state, self.command_id) {
            (Some(state), Some(id)) => Reply::Command(CommandStatus {
                id: CommandId::parse(&id).map_err(|_| XmlError::BadValue("command id".into()))?,
                state,
                progress: self.progress,
                exception: self.command_exception.as_ref().map(Exception::info),
            }),
            (Some(_), None) => return Err(XmlError::Missing("command id")),
            (None, _) => {
                if let Some(e) = self.top_exception {
                    Reply::Exception(e)
                } else if let Some(c) = self.comment {
                    Reply::Comment(c)
                } else if let Some(external_id) = self.owner_external_id {
                    Reply::OwnerData { external_id }
                } else if self.reply_status.is_some() {
                    Reply::Empty
                } else {
                    return Err(XmlError::Missing("command or exception"));
                }
            }
        };
        Ok(ParsedReply {
            status: self.reply_status,
            reply,
            command_exception: self.command_exception,
        })
    }
}

fn set_owner_field(o: &mut Owner, field: &[u8], text: String) {
    match field {
        n::OWNER_NAME => o.name = text,
        n::OWNER_ADDRESS => o.address = text,
        n::OWNER_KIND => o.kind = text,
        _ => {}
    }
}

fn quick_xml_error(e: quick_xml::Error) -> XmlError {
    match e {
        quick_xml::Error::Io(io) => XmlError::Io(io.to_string()),
        other => XmlError::Syntax(other.to_string()),
    }
}

/// Reads one XML reply from `input`, streaming a successful command's result (or an owner's
/// data) into `sink`.
pub async fn parse_reply<R>(input: R, sink: &mut dyn ImportSink) -> Result<ParsedReply, XmlError>
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
}
