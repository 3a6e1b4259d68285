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

mod parser;

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Mutex;

use chrono::NaiveDate;
use quick_xml::events::Event;
use quick_xml::Reader;
use rust_decimal::Decimal;
use signin_core::domain::import::ImportSink;
use signin_core::domain::{CommandState, ErrorInfo};
use signin_core::ports::CommandStatus;
use thiserror::Error;
use tokio::io::AsyncBufRead;

use parser::Parser;

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
mod tests;
