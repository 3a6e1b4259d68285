//! Every path, header, field and element name of Kontomatik's API, in one place: aligning with
//! the live API is a change to this file only (see `shared/kontomatik-api.md`, the **[wire]**
//! parts).

use serde::{Deserialize, Serialize};

/// Header that carries the API key on JSON endpoints.
pub const API_KEY_HEADER: &str = "X-Api-Key";
/// Form / query parameter that carries the API key on XML command endpoints.
pub const API_KEY_PARAM: &str = "apiKey";

/// `POST` — Fetch redirection.
pub const FETCH_REDIRECTION_PATH: &str = "/v1/signin-redirection";

/// `GET` — Redirection status of one id.
pub fn redirection_status_path(id: &str) -> String {
    format!("/v1/signin-redirection/{id}")
}

/// `POST` (form) — Default Import.
pub const DEFAULT_IMPORT_PATH: &str = "/v1/command/default-import.xml";

/// `GET` — the status (and, when successful, the result) of one command.
pub fn command_path(id: &str) -> String {
    format!("/v1/command/{id}.xml")
}

pub const PARAM_SESSION_ID: &str = "sessionId";
pub const PARAM_SESSION_ID_SIGNATURE: &str = "sessionIdSignature";
pub const PARAM_OWNER_EXTERNAL_ID: &str = "ownerExternalId";
pub const PARAM_SINCE: &str = "since";
/// The query parameter Kontomatik adds to the redirect URI when it sends the user back.
pub const CALLBACK_PARAM_REDIRECTION_ID: &str = "redirectionId";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchRedirectionBody<'a> {
    pub redirect_uri: &'a str,
    pub owner_external_id: &'a str,
    pub language: &'a str,
    pub country: &'a str,
    pub access_mode: &'a str,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchRedirectionReply {
    pub redirection_id: String,
    pub url: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReply {
    pub redirection_id: Option<String>,
    pub status: String,
    pub session_id: Option<String>,
    pub session_id_signature: Option<String>,
    pub target: Option<String>,
    pub owner_external_id: Option<String>,
    pub multiple_access_token: Option<String>,
    pub error: Option<ErrorBody>,
}

pub const STATUS_INITIALIZED: &str = "initialized";
pub const STATUS_IN_PROGRESS: &str = "in_progress";
pub const STATUS_SUCCESS: &str = "success";
pub const STATUS_ERROR: &str = "error";
pub const STATUS_EXPIRED: &str = "expired";

#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Deserialize)]
pub struct ErrorReply {
    pub error: ErrorBody,
}

/// XML element and attribute names of command replies.
pub mod xml {
    pub const REPLY: &[u8] = b"reply";
    pub const COMMAND: &[u8] = b"command";
    pub const ATTR_ID: &[u8] = b"id";
    pub const ATTR_STATE: &[u8] = b"state";
    pub const PROGRESS: &[u8] = b"progress";
    pub const VALUE: &[u8] = b"value";
    pub const EXCEPTION: &[u8] = b"exception";
    pub const ATTR_NAME: &[u8] = b"name";
    pub const RESULT: &[u8] = b"result";
    pub const TARGET: &[u8] = b"target";
    pub const ATTR_OFFICIAL_NAME: &[u8] = b"officialName";
    pub const OWNER: &[u8] = b"owner";
    pub const OWNER_NAME: &[u8] = b"name";
    pub const OWNER_ADDRESS: &[u8] = b"address";
    pub const OWNER_KIND: &[u8] = b"kind";
    pub const ACCOUNT: &[u8] = b"account";
    pub const ACCOUNT_NAME: &[u8] = b"name";
    pub const ACCOUNT_NUMBER: &[u8] = b"number";
    pub const ACCOUNT_CURRENCY: &[u8] = b"currency";
    pub const ACCOUNT_BALANCE: &[u8] = b"balance";
    pub const ACCOUNT_AVAILABLE_FUNDS: &[u8] = b"availableFunds";
    pub const MONEY_TRANSACTION: &[u8] = b"moneyTransaction";
    pub const TX_TRANSACTION_ON: &[u8] = b"transactionOn";
    pub const TX_BOOKED_ON: &[u8] = b"bookedOn";
    pub const TX_CURRENCY_AMOUNT: &[u8] = b"currencyAmount";
    pub const TX_CURRENCY_BALANCE: &[u8] = b"currencyBalance";
    pub const TX_TITLE: &[u8] = b"title";
    pub const TX_PARTY: &[u8] = b"party";
    pub const TX_PARTY_IBAN: &[u8] = b"partyIban";
    pub const TX_KIND: &[u8] = b"kind";

    /// Exception names with a meaning of their own.
    pub const EXC_ALREADY_EXECUTED: &str = "CommandAlreadyExecuted";
    pub const EXC_SESSION_NOT_FOUND: &str = "SessionNotFound";
    pub const EXC_SESSION_EXPIRED: &str = "SessionExpired";
    pub const EXC_INVALID_API_KEY: &str = "InvalidApiKey";
}
