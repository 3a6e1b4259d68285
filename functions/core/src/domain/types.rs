//! Domain value types. Every type that comes from outside (a form, a URL, Kontomatik) is parsed
//! into one of these once, at the edge; the rest of the code never sees an unchecked string.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Why a value from outside was refused. The message is written for the person who typed it.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum InvalidInput {
    #[error("{field} is missing")]
    Missing { field: &'static str },
    #[error("{field} is too long (at most {max} characters)")]
    TooLong { field: &'static str, max: usize },
    #[error("{field} is not valid: {reason}")]
    Format {
        field: &'static str,
        reason: &'static str,
    },
    #[error("{field} '{value}' is not supported; choose one of: {allowed}")]
    Unsupported {
        field: &'static str,
        value: String,
        allowed: String,
    },
}

impl InvalidInput {
    /// The name of the field at fault, for forms that highlight it.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Missing { field }
            | Self::TooLong { field, .. }
            | Self::Format { field, .. }
            | Self::Unsupported { field, .. } => field,
        }
    }
}

/// Characters that change how text is shown without being seen: controls, bidirectional
/// overrides and isolates, zero-width characters, the byte-order mark. Never part of an address
/// or a name, and never shown back.
pub fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// A value shown back to a user in an error message is cut short, so a 10 KB input does not come
/// back as a 10 KB page.
pub(crate) fn shorten(value: &str) -> String {
    const MAX: usize = 24;
    let value: String = value.chars().filter(|c| !is_invisible(*c)).collect();
    let value = value.as_str();
    if value.chars().count() <= MAX {
        value.to_owned()
    } else {
        let mut s: String = value.chars().take(MAX).collect();
        s.push('…');
        s
    }
}

/// Checks the shape shared by Kontomatik's opaque identifiers: 1..=max characters of
/// `A-Z a-z 0-9 - _ .`.
fn check_token(field: &'static str, raw: &str, max: usize) -> Result<(), InvalidInput> {
    if raw.is_empty() {
        return Err(InvalidInput::Missing { field });
    }
    if raw.len() > max {
        return Err(InvalidInput::TooLong { field, max });
    }
    if !raw
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(InvalidInput::Format {
            field,
            reason: "only letters, digits, '-', '_' and '.' are allowed",
        });
    }
    Ok(())
}

macro_rules! token_type {
    ($(#[$meta:meta])* $name:ident, $field:literal, $max:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const MAX_LEN: usize = $max;

            pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
                check_token($field, raw, $max)?;
                Ok(Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidInput;
            fn try_from(raw: String) -> Result<Self, Self::Error> {
                check_token($field, &raw, $max)?;
                Ok(Self(raw))
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

token_type!(
    /// Kontomatik's id of one redirection (one sign-in attempt).
    RedirectionId,
    "redirectionId",
    128
);
token_type!(
    /// Our stable id for a user, sent to Kontomatik as `ownerExternalId`.
    OwnerExternalId,
    "ownerExternalId",
    128
);
token_type!(
    /// Kontomatik's id of an import command.
    CommandId,
    "commandId",
    128
);

impl OwnerExternalId {
    /// A new random owner id. Assigned once per user and then kept in the user record.
    pub fn generate() -> Self {
        Self(format!("own-{}", uuid::Uuid::new_v4().simple()))
    }
}

/// An email address, trimmed, with the domain lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        const FIELD: &str = "email";
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(InvalidInput::Missing { field: FIELD });
        }
        if raw.len() > Self::MAX_LEN {
            return Err(InvalidInput::TooLong {
                field: FIELD,
                max: Self::MAX_LEN,
            });
        }
        let bad = |reason| InvalidInput::Format {
            field: FIELD,
            reason,
        };
        if raw.chars().any(|c| c.is_whitespace() || is_invisible(c)) {
            return Err(bad("it must not contain spaces"));
        }
        if raw
            .chars()
            .any(|c| matches!(c, '<' | '>' | '"' | ',' | ';'))
        {
            return Err(bad("it contains a character an address cannot have"));
        }
        let Some((local, domain)) = raw.rsplit_once('@') else {
            return Err(bad("it needs an '@', like name@example.com"));
        };
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(bad("the part before '@' is not valid"));
        }
        if domain.len() < 3
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
        {
            return Err(bad("the part after '@' must be a domain like example.com"));
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key of this person's user record: a hash of the case-folded address, so the table
    /// never holds the address in a key and `Ann@X.com` and `ann@x.com` are one user.
    pub fn user_key(&self) -> UserKey {
        let digest = Sha256::digest(self.0.to_lowercase().as_bytes());
        UserKey(hex::encode(&digest[..16]))
    }

    /// The mailbox this address delivers to, as far as providers document it: a `+tag` is
    /// dropped (subaddressing, RFC 5233, honoured by the large providers); Gmail ignores dots in
    /// the local part and `googlemail.com` is `gmail.com`. For limits on what reaches one inbox;
    /// mail still goes to the address as typed.
    pub fn mailbox(&self) -> String {
        let lower = self.0.to_lowercase();
        let Some((local, domain)) = lower.rsplit_once('@') else {
            return lower;
        };
        let local = local.split('+').next().unwrap_or(local);
        match domain {
            "gmail.com" | "googlemail.com" => format!("{}@gmail.com", local.replace('.', "")),
            _ => format!("{local}@{domain}"),
        }
    }

    /// The key of [`Email::mailbox`]: the same for every address of one inbox.
    pub fn mailbox_key(&self) -> UserKey {
        let digest = Sha256::digest(self.mailbox().as_bytes());
        UserKey(hex::encode(&digest[..16]))
    }
}

impl TryFrom<String> for Email {
    type Error = InvalidInput;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<Email> for String {
    fn from(v: Email) -> String {
        v.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The key of a user record (hex of a hash of the normalised email).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserKey(String);

impl UserKey {
    pub fn from_stored(raw: String) -> Self {
        Self(raw)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! code_list_type {
    ($(#[$meta:meta])* $name:ident, $field:literal, [$first:literal $(, $code:literal)* $(,)?]) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(&'static str);

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }

        impl $name {
            pub const SUPPORTED: &'static [&'static str] = &[$first $(, $code)*];
            /// The first supported code.
            pub const FIRST: Self = Self($first);

            /// Accepts a supported code in any letter case.
            pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
                let raw = raw.trim();
                if raw.is_empty() {
                    return Err(InvalidInput::Missing { field: $field });
                }
                let lower = raw.to_ascii_lowercase();
                Self::SUPPORTED
                    .iter()
                    .find(|c| **c == lower)
                    .map(|c| Self(c))
                    .ok_or_else(|| InvalidInput::Unsupported {
                        field: $field,
                        value: shorten(raw),
                        allowed: Self::SUPPORTED.join(", "),
                    })
            }

            pub fn as_str(&self) -> &'static str {
                self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidInput;
            fn try_from(raw: String) -> Result<Self, Self::Error> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0.to_owned()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0)
            }
        }
    };
}

code_list_type!(
    /// The language of Kontomatik's widget (ISO 639-1), and of our pages and emails.
    Language,
    "language",
    ["en", "pl", "cs", "sk", "es", "de", "lt", "lv", "et", "ro", "fr", "it", "pt"]
);
code_list_type!(
    /// The country whose banks the widget lists (ISO 3166-1 alpha-2, lower case as Kontomatik uses).
    Country,
    "country",
    ["pl", "cz", "sk", "es", "de", "lt", "lv", "ee", "ro", "fr", "it", "pt", "gb", "at", "be", "nl"]
);

/// Whether the user grants one-off access (`single`, Kontomatik's default), lasting access
/// (`multiple`), or lets the user choose (`mixed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessMode {
    #[default]
    Single,
    Multiple,
    Mixed,
}

impl AccessMode {
    pub const ALL: [AccessMode; 3] = [Self::Single, Self::Multiple, Self::Mixed];

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "" => Err(InvalidInput::Missing {
                field: "accessMode",
            }),
            "single" => Ok(Self::Single),
            "multiple" => Ok(Self::Multiple),
            "mixed" => Ok(Self::Mixed),
            _ => Err(InvalidInput::Unsupported {
                field: "accessMode",
                value: shorten(raw),
                allowed: "single, multiple, mixed".into(),
            }),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Single => "single",
            Self::Multiple => "multiple",
            Self::Mixed => "mixed",
        }
    }
}

/// A secret string (session signature, access token, API key): stored and sent as is, but its
/// `Debug` and `Display` never show it, so it cannot leak through a log line.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A Kontomatik session obtained by a successful sign-in: what Default Import needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionData {
    pub session_id: String,
    pub session_id_signature: Secret,
    /// The bank connection's technical name.
    pub target: String,
    pub owner_external_id: Option<OwnerExternalId>,
    pub multiple_access_token: Option<Secret>,
}

/// An error reported by Kontomatik (a failed sign-in, a failed command).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    pub code: String,
    pub message: String,
}

/// The statuses of a redirection as Kontomatik names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KontomatikStatus {
    /// Link created, not opened yet.
    Initialized,
    /// The user is choosing a bank, consenting or signing in at the bank.
    InProgress,
    Success,
    Error,
    Expired,
}

impl KontomatikStatus {
    pub fn is_final(self) -> bool {
        matches!(self, Self::Success | Self::Error | Self::Expired)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initialized => "initialized",
            Self::InProgress => "in_progress",
            Self::Success => "success",
            Self::Error => "error",
            Self::Expired => "expired",
        }
    }
}

/// One answer of the *Redirection status* endpoint, with what each status carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectionStatus {
    Initialized,
    InProgress,
    Success(SessionData),
    Error(ErrorInfo),
    Expired,
}

impl RedirectionStatus {
    pub fn kind(&self) -> KontomatikStatus {
        match self {
            Self::Initialized => KontomatikStatus::Initialized,
            Self::InProgress => KontomatikStatus::InProgress,
            Self::Success(_) => KontomatikStatus::Success,
            Self::Error(_) => KontomatikStatus::Error,
            Self::Expired => KontomatikStatus::Expired,
        }
    }
}

/// The states of an import command (*Get import result*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandState {
    Setup,
    InProgress,
    Successful,
    Error,
    Fatal,
}

impl CommandState {
    pub fn is_final(self) -> bool {
        matches!(self, Self::Successful | Self::Error | Self::Fatal)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Setup => "setup",
            Self::InProgress => "in_progress",
            Self::Successful => "successful",
            Self::Error => "error",
            Self::Fatal => "fatal",
        }
    }
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "setup" => Self::Setup,
            "in_progress" => Self::InProgress,
            "successful" => Self::Successful,
            "error" => Self::Error,
            "fatal" => Self::Fatal,
            _ => return None,
        })
    }
}

/// A moment, as used everywhere in the domain.
pub type Timestamp = DateTime<Utc>;

#[cfg(test)]
mod tests;
