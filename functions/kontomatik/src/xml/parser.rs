//! The element-by-element state of the XML reader: the open elements (interned names), which
//! path an element is on, and what its text becomes (an owner, an account, a transaction, …).

use quick_xml::events::BytesStart;
use signin_core::domain::import::{Account, ImportSink, MoneyTransaction, Owner, Target};
use signin_core::domain::{CommandId, CommandState};
use signin_core::ports::CommandStatus;

use super::{
    clean, command_state, decimal, name_of, opt_bool, opt_date, opt_decimal, Exception,
    ParsedReply, Reply, XmlError, MAX_DEPTH, MAX_LABELS, MAX_TEXT,
};
use crate::wire::xml as n;

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
pub(super) struct Parser {
    /// The open elements, each by its interned name ([`intern`]): a path is a slice of this,
    /// matched without allocating.
    pub(super) stack: Vec<&'static [u8]>,
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

    pub(super) fn open(
        &mut self,
        e: &BytesStart<'_>,
        sink: &mut dyn ImportSink,
    ) -> Result<(), XmlError> {
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

    pub(super) fn close(&mut self, sink: &mut dyn ImportSink) -> Result<(), XmlError> {
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

    pub(super) fn push_text(&mut self, s: &str) -> Result<(), XmlError> {
        if self.text.len() + s.len() > MAX_TEXT {
            return Err(XmlError::BadValue(format!(
                "{} (text longer than {MAX_TEXT} bytes)",
                self.stack.last().map(|v| name_of(v)).unwrap_or_default()
            )));
        }
        self.text.push_str(s);
        Ok(())
    }

    pub(super) fn finish(self) -> Result<ParsedReply, XmlError> {
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
