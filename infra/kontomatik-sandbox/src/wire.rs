//! The sandbox's side of Kontomatik's wire format, in one place. It deliberately shares nothing
//! with our client (no types, no validation): both are written from the contract
//! (`docs/kontomatik-wire.md`) independently, so a test of one against the other can catch a
//! mismatch. The XML shapes follow the replies recorded from Kontomatik's real test API.

/// **Recorded.** The only place the API key is accepted.
pub const API_KEY_HEADER: &str = "x-api-key";
/// Where old clients put the key. A request that carries it in a query string or a form is
/// refused with the 401 reply, so that a regression fails loudly.
pub const LEGACY_API_KEY_PARAM: &str = "apiKey";

pub const FETCH_REDIRECTION: &str = "/v1/signin-redirection";
pub const REDIRECTION_STATUS: &str = "/v1/signin-redirection/{id}";
pub const DEFAULT_IMPORT: &str = "/v1/command/default-import.xml";
pub const SIGN_OUT: &str = "/v1/command/sign-out.xml";
/// Axum cannot match `{id}.xml`, so the command route takes the whole last segment.
pub const COMMAND_STATUS: &str = "/v1/command/{file}";
pub const COMMAND_SUFFIX: &str = ".xml";
pub const OWNER_DATA: &str = "/v1/data.xml";

pub const FORM_SESSION_ID: &str = "sessionId";
pub const FORM_SESSION_ID_SIGNATURE: &str = "sessionIdSignature";
pub const FORM_SINCE: &str = "since";
/// Provisional: Default Import without a session, with a multiple-access token and the owner.
pub const FORM_MULTIPLE_ACCESS_TOKEN: &str = "multipleAccessToken";
pub const FORM_OWNER_EXTERNAL_ID: &str = "ownerExternalId";
pub const QUERY_OWNER_EXTERNAL_ID: &str = "ownerExternalId";

/// The hosted sign-in page of one redirection.
pub const SIGNIN_PAGE: &str = "/signin/{id}";

/// The sandbox's own rules for what Fetch redirection accepts (not our client's rules).
pub mod rules {
    /// Widget languages the sandbox's hosted page offers.
    pub const LANGUAGES: &[&str] = &["pl", "en", "cs", "sk", "lt", "lv", "et", "es", "pt", "ro"];
    /// Countries with banks in the sandbox.
    pub const COUNTRIES: &[&str] = &["pl", "cz", "sk", "lt", "lv", "ee", "es", "pt", "ro"];
    pub const ACCESS_MODES: &[&str] = &["single", "multiple", "mixed"];
    pub const OWNER_ID_MAX: usize = 200;

    /// An owner id: 1–200 printable ASCII characters, no spaces.
    pub fn owner_id_ok(id: &str) -> bool {
        !id.is_empty() && id.len() <= OWNER_ID_MAX && id.bytes().all(|b| b.is_ascii_graphic())
    }
}

pub mod json {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct FetchRedirection {
        pub redirect_uri: Option<String>,
        pub owner_external_id: Option<String>,
        pub language: Option<String>,
        pub country: Option<String>,
        pub access_mode: Option<String>,
    }

    #[derive(Debug, Serialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Link {
        pub redirection_id: String,
        pub url: String,
    }

    #[derive(Debug, Serialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Status {
        pub redirection_id: String,
        pub status: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub session_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub session_id_signature: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub target: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub owner_external_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub multiple_access_token: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub error: Option<Error>,
    }

    #[derive(Debug, Serialize)]
    pub struct Error {
        pub code: String,
        pub message: String,
    }

    #[derive(Debug, Serialize)]
    pub struct ErrorReply {
        pub error: Error,
    }
}

/// **Recorded.** The XML replies.
pub mod xml {
    use quick_xml::escape::escape;

    pub const OWNER_NAME: &str = "name";
    pub const OWNER_ADDRESS: &str = "address";
    pub const OWNER_KIND: &str = "kind";
    pub const ACCOUNT_NAME: &str = "name";
    pub const ACCOUNT_FRIENDLY_NAME: &str = "friendlyName";
    pub const ACCOUNT_IBAN: &str = "iban";
    pub const ACCOUNT_BALANCE: &str = "currencyBalance";
    pub const ACCOUNT_FUNDS_AVAILABLE: &str = "currencyFundsAvailable";
    pub const ACCOUNT_CURRENCY: &str = "currencyName";
    pub const ACCOUNT_ACTIVE_SINCE: &str = "activeSinceAtLeast";
    pub const TX_TRANSACTION_ON: &str = "transactionOn";
    pub const TX_BOOKED_ON: &str = "bookedOn";
    pub const TX_CURRENCY_AMOUNT: &str = "currencyAmount";
    pub const TX_CURRENCY_BALANCE: &str = "currencyBalance";
    pub const TX_TITLE: &str = "title";
    pub const TX_PARTY: &str = "party";
    pub const TX_PARTY_IBAN: &str = "partyIban";
    pub const TX_KIND: &str = "kind";
    pub const TX_STATUS: &str = "status";

    pub const COMMAND_DEFAULT_IMPORT: &str = "DefaultImportCommand";
    pub const COMMAND_SIGN_OUT: &str = "SignOutCommand";

    pub const EXC_ALREADY_EXECUTED: &str = "DefaultImportAlreadyExecuted";
    pub const EXC_INVALID_SESSION_ID: &str = "InvalidSessionId";
    pub const EXC_SESSION_EXPIRED: &str = "SessionExpired";
    pub const EXC_INVALID_COMMAND_ID: &str = "InvalidCommandId";
    pub const EXC_INVALID_PARAMETER: &str = "InvalidParameter";
    pub const EXC_INVALID_SINCE: &str = "InvalidSince";
    pub const EXC_INVALID_OWNER: &str = "InvalidOwnerExternalId";
    pub const EXC_COMMAND_NOT_AVAILABLE: &str = "CommandNotAvailable";
    pub const EXC_SERVICE_UNAVAILABLE: &str = "ServiceTemporarilyUnavailable";
    pub const EXC_JOBS_QUOTA: &str = "JobsQuotaExceeded";

    /// `<reply status="…" user="…" [ownerExternalId="…"] responseTimestamp="…">` — the opening
    /// tag every XML reply starts with.
    pub fn reply_open(status: &str, owner: Option<&str>, timestamp: &str) -> String {
        let owner = owner
            .map(|o| format!(r#" ownerExternalId="{}""#, escape(o)))
            .unwrap_or_default();
        // Recorded: the 401 reply names no user (the key was not accepted).
        let user = if status.starts_with("401") {
            ""
        } else {
            r#" user="sandbox""#
        };
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<reply status="{}"{user}{owner} responseTimestamp="{}">"#,
            escape(status),
            escape(timestamp)
        )
    }

    pub const REPLY_CLOSE: &str = "</reply>";

    /// The `<command …>` opening tag; `target` / `institution` once the bank is known.
    pub fn command_open(id: u64, state: &str, name: &str, bank: Option<(&str, &str)>) -> String {
        let bank = bank
            .map(|(t, i)| format!(r#" target="{}" institution="{}""#, escape(t), escape(i)))
            .unwrap_or_default();
        format!(
            r#"<command id="{id}" state="{}" name="{}"{bank}>"#,
            escape(state),
            escape(name)
        )
    }

    pub fn progress(value: u8) -> String {
        format!("<progress><value>{value}</value></progress>")
    }

    /// `<exception name="…"><message>…</message>[<friendlyMessage>…</friendlyMessage>]</exception>`
    pub fn exception(name: &str, message: &str, friendly: Option<&str>) -> String {
        let friendly = friendly
            .map(|f| format!("<friendlyMessage>{}</friendlyMessage>", escape(f)))
            .unwrap_or_default();
        format!(
            r#"<exception name="{}"><message>{}</message>{friendly}</exception>"#,
            escape(name),
            escape(message)
        )
    }

    /// The 401 reply: a `<comment>` and no `<exception>`.
    pub fn comment(text: &str) -> String {
        format!("<comment>{}</comment>", escape(text))
    }

    /// Writes `<name>text</name>`, escaped.
    pub fn el(out: &mut String, name: &str, text: &str) {
        out.push('<');
        out.push_str(name);
        out.push('>');
        out.push_str(&escape(text));
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }
}
