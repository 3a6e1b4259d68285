//! Every path, header, field and element name of Kontomatik's API, in one place: aligning with
//! the live API is a change to this file only. `docs/kontomatik-wire.md` says which names are
//! **recorded** (seen in replies of Kontomatik's real test API) and which are **provisional**
//! (SignIn Redirection's JSON endpoints, for which no public sample exists).

use serde::{Deserialize, Serialize};

/// **Recorded.** The header that carries the API key, on every endpoint. The key never goes into
/// a query string or a form.
pub const API_KEY_HEADER: &str = "X-Api-Key";

/// **Provisional.** `POST` — Fetch redirection.
pub const FETCH_REDIRECTION_PATH: &str = "/v1/signin-redirection";

/// **Provisional.** `GET` — Redirection status of one id.
pub fn redirection_status_path(id: &str) -> String {
    format!("/v1/signin-redirection/{id}")
}

/// **Recorded.** `POST` (form) — Default Import.
pub const DEFAULT_IMPORT_PATH: &str = "/v1/command/default-import.xml";

/// **Recorded.** `GET` — the status (and, when successful, the result) of one command.
pub fn command_path(id: &str) -> String {
    format!("/v1/command/{id}.xml")
}

/// **Recorded.** `POST` (form) — end the bank session.
pub const SIGN_OUT_PATH: &str = "/v1/command/sign-out.xml";

/// **Recorded.** `GET` / `DELETE` with `?ownerExternalId=` — an owner's aggregated data.
pub const OWNER_DATA_PATH: &str = "/v1/data.xml";

pub const PARAM_SESSION_ID: &str = "sessionId";
pub const PARAM_SESSION_ID_SIGNATURE: &str = "sessionIdSignature";
/// Default Import's history start, `YYYY-MM-DD`.
pub const PARAM_SINCE: &str = "since";
/// Provisional: Default Import without a session, with a multiple-access sign-in's token.
pub const PARAM_MULTIPLE_ACCESS_TOKEN: &str = "multipleAccessToken";
pub const SINCE_FORMAT: &str = "%Y-%m-%d";
/// The query parameter of the owner-data endpoint.
pub const PARAM_OWNER_EXTERNAL_ID: &str = "ownerExternalId";
/// The query parameter Kontomatik adds to the redirect URI when it sends the user back.
pub const CALLBACK_PARAM_REDIRECTION_ID: &str = "redirectionId";

/// **Provisional.** The body of Fetch redirection.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchRedirectionBody<'a> {
    pub redirect_uri: &'a str,
    pub owner_external_id: &'a str,
    pub language: &'a str,
    pub country: &'a str,
    pub access_mode: &'a str,
}

/// **Provisional.** JSON field names, as the probe checks them in raw replies.
pub const JSON_REDIRECTION_ID: &str = "redirectionId";
pub const JSON_URL: &str = "url";
pub const JSON_STATUS: &str = "status";
pub const JSON_SESSION_ID: &str = "sessionId";
pub const JSON_SESSION_ID_SIGNATURE: &str = "sessionIdSignature";
pub const JSON_TARGET: &str = "target";
pub const JSON_OWNER_EXTERNAL_ID: &str = "ownerExternalId";
pub const JSON_ERROR: &str = "error";

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
/// Every status value the client knows.
pub const STATUSES: &[&str] = &[
    STATUS_INITIALIZED,
    STATUS_IN_PROGRESS,
    STATUS_SUCCESS,
    STATUS_ERROR,
    STATUS_EXPIRED,
];

#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Deserialize)]
pub struct ErrorReply {
    pub error: ErrorBody,
}

/// **Recorded.** XML element and attribute names of the command and data replies.
pub mod xml {
    pub const REPLY: &[u8] = b"reply";
    pub const ATTR_STATUS: &[u8] = b"status";
    pub const COMMENT: &[u8] = b"comment";

    pub const COMMAND: &[u8] = b"command";
    pub const ATTR_ID: &[u8] = b"id";
    pub const ATTR_STATE: &[u8] = b"state";
    pub const ATTR_TARGET: &[u8] = b"target";
    pub const ATTR_INSTITUTION: &[u8] = b"institution";
    pub const PROGRESS: &[u8] = b"progress";
    pub const VALUE: &[u8] = b"value";
    pub const RESULT: &[u8] = b"result";

    pub const EXCEPTION: &[u8] = b"exception";
    pub const ATTR_NAME: &[u8] = b"name";
    pub const MESSAGE: &[u8] = b"message";
    pub const FRIENDLY_MESSAGE: &[u8] = b"friendlyMessage";

    /// Owner data (`/v1/data.xml`): `reply/owner/target/{owners,accounts}`.
    pub const DATA_OWNER: &[u8] = b"owner";
    pub const ATTR_EXTERNAL_ID: &[u8] = b"externalId";
    pub const TARGET: &[u8] = b"target";
    pub const ATTR_OFFICIAL_NAME: &[u8] = b"officialName";

    pub const OWNERS: &[u8] = b"owners";
    pub const OWNER: &[u8] = b"owner";
    pub const OWNER_NAME: &[u8] = b"name";
    pub const OWNER_ADDRESS: &[u8] = b"address";
    pub const OWNER_KIND: &[u8] = b"kind";

    pub const ACCOUNTS: &[u8] = b"accounts";
    pub const ACCOUNT: &[u8] = b"account";
    pub const ACCOUNT_NAME: &[u8] = b"name";
    pub const ACCOUNT_FRIENDLY_NAME: &[u8] = b"friendlyName";
    pub const ACCOUNT_IBAN: &[u8] = b"iban";
    pub const ACCOUNT_BALANCE: &[u8] = b"currencyBalance";
    pub const ACCOUNT_FUNDS_AVAILABLE: &[u8] = b"currencyFundsAvailable";
    pub const ACCOUNT_CURRENCY: &[u8] = b"currencyName";
    pub const ACCOUNT_ACTIVE_SINCE: &[u8] = b"activeSinceAtLeast";
    pub const DIRECT_DEBIT: &[u8] = b"directDebit";
    pub const ATTR_AVAILABLE: &[u8] = b"available";

    pub const MONEY_TRANSACTIONS: &[u8] = b"moneyTransactions";
    pub const MONEY_TRANSACTION: &[u8] = b"moneyTransaction";
    pub const TX_TRANSACTION_ON: &[u8] = b"transactionOn";
    pub const TX_BOOKED_ON: &[u8] = b"bookedOn";
    pub const TX_CURRENCY_AMOUNT: &[u8] = b"currencyAmount";
    pub const TX_CURRENCY_BALANCE: &[u8] = b"currencyBalance";
    pub const TX_TITLE: &[u8] = b"title";
    pub const TX_PARTY: &[u8] = b"party";
    pub const TX_PARTY_IBAN: &[u8] = b"partyIban";
    pub const TX_KIND: &[u8] = b"kind";
    pub const TX_STATUS: &[u8] = b"status";
    pub const LABELS: &[u8] = b"labels";
    pub const LABEL: &[u8] = b"label";

    pub const CREDIT_CARDS: &[u8] = b"creditCards";
    pub const CREDIT_CARD: &[u8] = b"creditCard";

    /// Exception names with a meaning of their own (recorded, or known from a client
    /// library's exception classes).
    pub const EXC_ALREADY_EXECUTED: &str = "DefaultImportAlreadyExecuted";
    pub const EXC_INVALID_SESSION_ID: &str = "InvalidSessionId";
    pub const EXC_SESSION_EXPIRED: &str = "SessionExpired";
    pub const EXC_INVALID_SESSION_SIGNATURE: &str = "InvalidSessionIdSignature";
    pub const EXC_NOT_SIGNED_IN: &str = "NotSignedIn";
    pub const EXC_COMMAND_NOT_AVAILABLE: &str = "CommandNotAvailable";
    pub const EXC_INVALID_COMMAND_ID: &str = "InvalidCommandId";
    pub const EXC_INVALID_OWNER_EXTERNAL_ID: &str = "InvalidOwnerExternalId";
    /// Transient, and of Default Import: nothing was started (too many jobs running).
    pub const EXC_JOBS_QUOTA_EXCEEDED: &str = "JobsQuotaExceeded";
    /// Transient: try again later.
    pub const TRANSIENT_EXCEPTIONS: &[&str] =
        &["ServiceMaintenance", "ServiceTemporarilyUnavailable"];
}
