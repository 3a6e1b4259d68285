//! The sandbox's side of Kontomatik's wire format, in one place (it deliberately does not share
//! the client's module: the two are written from the contract independently, so a test of one
//! against the other can catch a mismatch).

pub const API_KEY_HEADER: &str = "x-api-key";
pub const API_KEY_PARAM: &str = "apiKey";

pub const FETCH_REDIRECTION: &str = "/v1/signin-redirection";
pub const REDIRECTION_STATUS: &str = "/v1/signin-redirection/{id}";
pub const DEFAULT_IMPORT: &str = "/v1/command/default-import.xml";
/// Axum cannot match `{id}.xml`, so the command route takes the whole last segment.
pub const COMMAND_STATUS: &str = "/v1/command/{file}";
pub const COMMAND_SUFFIX: &str = ".xml";

/// The hosted sign-in page of one redirection.
pub const SIGNIN_PAGE: &str = "/signin/{id}";

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

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct DefaultImportForm {
        pub api_key: Option<String>,
        pub session_id: Option<String>,
        pub session_id_signature: Option<String>,
        pub owner_external_id: Option<String>,
        pub since: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct CommandQuery {
        pub api_key: Option<String>,
        pub session_id: Option<String>,
        pub session_id_signature: Option<String>,
    }
}

pub mod xml {
    pub const OWNER_NAME: &[u8] = b"name";
    pub const OWNER_ADDRESS: &[u8] = b"address";
    pub const OWNER_KIND: &[u8] = b"kind";
    pub const ACCOUNT_NAME: &[u8] = b"name";
    pub const ACCOUNT_NUMBER: &[u8] = b"number";
    pub const ACCOUNT_CURRENCY: &[u8] = b"currency";
    pub const ACCOUNT_BALANCE: &[u8] = b"balance";
    pub const ACCOUNT_AVAILABLE_FUNDS: &[u8] = b"availableFunds";
    pub const TX_TRANSACTION_ON: &[u8] = b"transactionOn";
    pub const TX_BOOKED_ON: &[u8] = b"bookedOn";
    pub const TX_CURRENCY_AMOUNT: &[u8] = b"currencyAmount";
    pub const TX_CURRENCY_BALANCE: &[u8] = b"currencyBalance";
    pub const TX_TITLE: &[u8] = b"title";
    pub const TX_PARTY: &[u8] = b"party";
    pub const TX_PARTY_IBAN: &[u8] = b"partyIban";
    pub const TX_KIND: &[u8] = b"kind";

    /// `<reply><command id=".." state=".."/></reply>` with optional progress and exception.
    pub fn command(
        id: u64,
        state: &str,
        progress: Option<u8>,
        exception: Option<(&str, &str)>,
    ) -> String {
        let mut s = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><reply><command id="{id}" state="{state}">"#
        );
        if let Some(p) = progress {
            s.push_str(&format!("<progress><value>{p}</value></progress>"));
        }
        if let Some((name, text)) = exception {
            s.push_str(&format!(
                r#"<exception name="{}">{}</exception>"#,
                quick_xml::escape::escape(name),
                quick_xml::escape::escape(text)
            ));
        }
        s.push_str("</command></reply>");
        s
    }

    /// `<reply><exception name="..">text</exception></reply>`
    pub fn exception(name: &str, text: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><reply><exception name="{}">{}</exception></reply>"#,
            quick_xml::escape::escape(name),
            quick_xml::escape::escape(text)
        )
    }

    pub const EXC_ALREADY_EXECUTED: &str = "CommandAlreadyExecuted";
    pub const EXC_SESSION_NOT_FOUND: &str = "SessionNotFound";
    pub const EXC_SESSION_EXPIRED: &str = "SessionExpired";
    pub const EXC_INVALID_API_KEY: &str = "InvalidApiKey";
    pub const EXC_COMMAND_NOT_FOUND: &str = "CommandNotFound";
    pub const EXC_INVALID_REQUEST: &str = "InvalidRequest";
    pub const EXC_TOO_MANY_REQUESTS: &str = "TooManyRequests";
}
