//! Kontomatik, as the use cases need it: links, statuses, imports, owner data.

use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::NaiveDate;
use thiserror::Error;

use crate::domain::import::ImportSink;
use crate::domain::{
    AccessMode, CommandId, CommandState, Country, ErrorInfo, Language, OwnerExternalId,
    RedirectionId, RedirectionStatus, SessionData,
};

/// The inputs of *Fetch redirection*.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRedirection {
    pub redirect_uri: String,
    pub owner: OwnerExternalId,
    pub language: Language,
    pub country: Country,
    pub access_mode: AccessMode,
}

/// The answer of *Fetch redirection*.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectionLink {
    pub redirection_id: RedirectionId,
    pub url: String,
}

/// The answer of *Get import result* (the result itself goes to the sink).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandStatus {
    pub id: CommandId,
    pub state: CommandState,
    /// 0–100 when Kontomatik says.
    pub progress: Option<u8>,
    /// Present on `error` / `fatal`.
    pub exception: Option<ErrorInfo>,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum KontomatikError {
    #[error("Kontomatik asked us to slow down (429)")]
    RateLimited { retry_after: Option<StdDuration> },
    #[error("Kontomatik does not know this id (never existed, or older than 24 hours)")]
    NotFound,
    #[error("Kontomatik refused the API key")]
    Unauthorized,
    #[error("Default Import was already called for this session")]
    AlreadyImported,
    #[error("the session cannot be used any more: {}", .0.message)]
    SessionInvalid(ErrorInfo),
    #[error("Kontomatik refused the request: {}: {}", .0.code, .0.message)]
    Rejected(ErrorInfo),
    #[error("Kontomatik is unavailable: {0}")]
    Transient(String),
    /// Default Import refused because too many import jobs run at once: nothing was started,
    /// so the session can still be imported later.
    #[error("Kontomatik's import jobs quota is full; nothing was started")]
    JobsQuotaExceeded,
    #[error("Kontomatik's reply could not be read: {0}")]
    Malformed(String),
}

impl KontomatikError {
    /// Worth trying again later without changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Transient(_) | Self::RateLimited { .. } | Self::JobsQuotaExceeded
        )
    }
}

/// Kontomatik's API as the use cases need it.
#[async_trait]
pub trait Kontomatik: Send + Sync {
    async fn fetch_redirection(
        &self,
        req: &FetchRedirection,
    ) -> Result<RedirectionLink, KontomatikError>;

    async fn redirection_status(
        &self,
        id: &RedirectionId,
    ) -> Result<RedirectionStatus, KontomatikError>;

    /// Starts Default Import for the session, for the history since `since`. Call **once per
    /// session, ever**.
    async fn default_import(
        &self,
        session: &SessionData,
        since: NaiveDate,
    ) -> Result<CommandId, KontomatikError>;

    /// Starts an import of the owner's accounts without the applicant, with the
    /// `multipleAccessToken` a multiple-access sign-in gave (provisional wire, see
    /// docs/kontomatik-wire.md). A client that cannot refuses: the caller reads the owner's
    /// data instead.
    async fn import_with_access(
        &self,
        _owner: &OwnerExternalId,
        _access_token: &crate::domain::Secret,
        _since: NaiveDate,
    ) -> Result<CommandId, KontomatikError> {
        Err(KontomatikError::Rejected(crate::domain::ErrorInfo {
            code: "NotSupported".into(),
            message: "this client cannot import with a multiple access".into(),
        }))
    }

    /// The command's state; when `successful`, its result is streamed into `sink`.
    async fn command_status(
        &self,
        command: &CommandId,
        sink: &mut dyn ImportSink,
    ) -> Result<CommandStatus, KontomatikError>;

    /// [`Kontomatik::command_status`] that gives up (a transient timeout) after `limit` at the
    /// latest, however long the result would take to read: a caller with a deadline passes
    /// the time it has left.
    async fn command_status_within(
        &self,
        command: &CommandId,
        sink: &mut dyn ImportSink,
        limit: std::time::Duration,
    ) -> Result<CommandStatus, KontomatikError>;

    /// Ends the bank session once the import is final (sessions count against a limit).
    /// Targets that cannot sign out answer [`SignOut::NotAvailable`], which is fine.
    async fn sign_out(&self, session: &SessionData) -> Result<SignOut, KontomatikError>;

    /// The owner's aggregated data as Kontomatik keeps it, streamed into `sink`, without a new
    /// import. `false` when Kontomatik holds nothing for the owner.
    async fn owner_data(
        &self,
        owner: &OwnerExternalId,
        sink: &mut dyn ImportSink,
    ) -> Result<bool, KontomatikError>;

    /// Removes the owner's data at Kontomatik (the right to erasure). `false` when there was
    /// nothing to remove.
    async fn delete_owner_data(&self, owner: &OwnerExternalId) -> Result<bool, KontomatikError>;
}

/// The answer to a sign-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignOut {
    SignedOut,
    /// The target offers no sign-out (`CommandNotAvailable`).
    NotAvailable,
}
