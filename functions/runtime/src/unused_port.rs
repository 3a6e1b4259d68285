//! The adapter a function gets for a port it does not use (its table in [`crate::functions`]
//! reads no configuration for it). Every call fails loudly and says which function and port:
//! a wiring mistake shows up in the first test that takes that path, never as a silent no-op.

use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::NaiveDate;
use signin_core::domain::import::ImportSink;
use signin_core::domain::{
    CommandId, OwnerExternalId, RedirectionId, RedirectionStatus, SessionData,
};
use signin_core::ports::{
    CommandStatus, FetchRedirection, ImportJob, ImportQueue, Kontomatik, KontomatikError,
    MailError, Mailer, OutgoingEmail, QueueError, RedirectionLink, SignOut,
};

/// A port this function is not wired to.
#[derive(Debug, Clone, Copy)]
pub struct UnusedPort {
    pub function: &'static str,
}

impl UnusedPort {
    fn why(&self, port: &str) -> String {
        format!(
            "{} has no {port} (it reads none of its configuration; see signin_runtime::functions)",
            self.function
        )
    }

    fn kontomatik(&self) -> KontomatikError {
        tracing::error!(
            function = self.function,
            "Kontomatik called from a function without it"
        );
        KontomatikError::Transient(self.why("Kontomatik client"))
    }
}

#[async_trait]
impl ImportQueue for UnusedPort {
    async fn enqueue(&self, _job: &ImportJob, _delay: StdDuration) -> Result<(), QueueError> {
        tracing::error!(
            function = self.function,
            "enqueue from a function without the queue"
        );
        Err(QueueError::Unavailable(self.why("import queue")))
    }
}

#[async_trait]
impl Mailer for UnusedPort {
    async fn send(&self, _mail: &OutgoingEmail) -> Result<String, MailError> {
        tracing::error!(
            function = self.function,
            "mail from a function without a mailer"
        );
        Err(MailError::Unavailable(self.why("mailer")))
    }
}

#[async_trait]
impl Kontomatik for UnusedPort {
    async fn fetch_redirection(
        &self,
        _request: &FetchRedirection,
    ) -> Result<RedirectionLink, KontomatikError> {
        Err(self.kontomatik())
    }

    async fn redirection_status(
        &self,
        _id: &RedirectionId,
    ) -> Result<RedirectionStatus, KontomatikError> {
        Err(self.kontomatik())
    }

    async fn default_import(
        &self,
        _session: &SessionData,
        _since: NaiveDate,
    ) -> Result<CommandId, KontomatikError> {
        Err(self.kontomatik())
    }

    async fn command_status(
        &self,
        _command: &CommandId,
        _sink: &mut dyn ImportSink,
    ) -> Result<CommandStatus, KontomatikError> {
        Err(self.kontomatik())
    }

    async fn command_status_within(
        &self,
        _command: &CommandId,
        _sink: &mut dyn ImportSink,
        _limit: std::time::Duration,
    ) -> Result<CommandStatus, KontomatikError> {
        Err(self.kontomatik())
    }

    async fn sign_out(&self, _session: &SessionData) -> Result<SignOut, KontomatikError> {
        Err(self.kontomatik())
    }

    async fn owner_data(
        &self,
        _owner: &OwnerExternalId,
        _sink: &mut dyn ImportSink,
    ) -> Result<bool, KontomatikError> {
        Err(self.kontomatik())
    }

    async fn delete_owner_data(&self, _owner: &OwnerExternalId) -> Result<bool, KontomatikError> {
        Err(self.kontomatik())
    }
}
