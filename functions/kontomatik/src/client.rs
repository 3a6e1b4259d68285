//! The HTTP client for Kontomatik's API, implementing the core's [`Kontomatik`] port.

use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use futures::TryStreamExt;
use reqwest::{header, Response, StatusCode};
use signin_core::domain::import::{Discard, ImportSink};
use signin_core::domain::{
    CommandId, CommandState, ErrorInfo, OwnerExternalId, RedirectionId, RedirectionStatus, Secret,
    SessionData,
};
use signin_core::ports::{
    CommandStatus, FetchRedirection, Kontomatik, KontomatikError, RedirectionLink, SignOut,
};
use tokio_util::io::StreamReader;
use url::Url;

use crate::wire;
use crate::xml::{parse_reply, Exception, ParsedReply, Reply, XmlError};

/// How to reach Kontomatik.
#[derive(Clone)]
pub struct ClientConfig {
    /// `https://api.kontomatik.com`, `https://test.api.kontomatik.com` or a sandbox.
    pub base_url: Url,
    pub api_key: Secret,
    /// Limit for one whole call (connect, send, read the reply).
    pub timeout: Duration,
    /// Limit for reading a large import result.
    pub result_timeout: Duration,
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url.as_str())
            .field("api_key", &self.api_key)
            .field("timeout", &self.timeout)
            .field("result_timeout", &self.result_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

impl ClientConfig {
    pub fn new(base_url: Url, api_key: Secret) -> Self {
        ClientConfig {
            base_url,
            api_key,
            timeout: Duration::from_secs(15),
            result_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// The Kontomatik API client. Cheap to clone; share one per process.
#[derive(Debug, Clone)]
pub struct KontomatikClient {
    http: reqwest::Client,
    config: ClientConfig,
}

#[derive(Debug, thiserror::Error)]
#[error("could not build the HTTP client: {0}")]
pub struct BuildError(String);

/// A transport failure, described without the URL (no secret is ever in one, but an owner id
/// may be, and it has no place in logs).
fn transport(e: reqwest::Error) -> KontomatikError {
    let e = e.without_url();
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the connection broke while reading the reply"
    } else {
        "the request failed"
    };
    KontomatikError::Transient(format!("{what}: {e}"))
}

fn retry_after(resp: &Response) -> Option<Duration> {
    resp.headers()
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Maps the statuses every endpoint shares; `None` for the ones the caller must read.
fn common_status(resp: &Response) -> Option<KontomatikError> {
    let status = resp.status();
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Some(KontomatikError::Unauthorized),
        StatusCode::TOO_MANY_REQUESTS => Some(KontomatikError::RateLimited {
            retry_after: retry_after(resp),
        }),
        s if s.is_server_error() => Some(KontomatikError::Transient(format!(
            "Kontomatik answered {}",
            s.as_u16()
        ))),
        _ => None,
    }
}

fn xml_error(e: XmlError) -> KontomatikError {
    match e {
        XmlError::Io(m) => KontomatikError::Transient(m),
        other => KontomatikError::Malformed(other.to_string()),
    }
}

/// Maps an `<exception>` to a typed error by its name (the HTTP status only breaks ties).
pub fn exception_error(status: StatusCode, e: &Exception) -> KontomatikError {
    use wire::xml::*;
    let name = e.name.as_str();
    match name {
        EXC_ALREADY_EXECUTED => KontomatikError::AlreadyImported,
        EXC_INVALID_SESSION_ID
        | EXC_SESSION_EXPIRED
        | EXC_INVALID_SESSION_SIGNATURE
        | EXC_NOT_SIGNED_IN => KontomatikError::SessionInvalid(e.info()),
        EXC_JOBS_QUOTA_EXCEEDED => KontomatikError::JobsQuotaExceeded,
        _ if TRANSIENT_EXCEPTIONS.contains(&name) => {
            KontomatikError::Transient(format!("{name}: {}", e.info().message))
        }
        EXC_INVALID_COMMAND_ID => KontomatikError::NotFound,
        _ if status == StatusCode::NOT_FOUND => KontomatikError::NotFound,
        _ => KontomatikError::Rejected(e.info()),
    }
}

/// The error an XML reply without a command stands for.
fn non_command_error(status: StatusCode, reply: &Reply) -> KontomatikError {
    match reply {
        Reply::Exception(e) => exception_error(status, e),
        Reply::Comment(_) => KontomatikError::Unauthorized,
        _ => KontomatikError::Malformed(format!(
            "HTTP {} without a command or an exception",
            status.as_u16()
        )),
    }
}

/// Kontomatik holds nothing for the owner: 404 with `InvalidOwnerExternalId` (any other 404 —
/// a wrong path, a session error — is an error, so an erasure is never silently skipped).
fn owner_unknown(status: StatusCode, reply: &Reply) -> bool {
    status == StatusCode::NOT_FOUND
        && matches!(reply, Reply::Exception(e) if e.name == wire::xml::EXC_INVALID_OWNER_EXTERNAL_ID)
}

/// Reads *Fetch redirection*'s reply body.
pub fn parse_fetch_reply(body: &[u8]) -> Result<RedirectionLink, KontomatikError> {
    let reply: wire::FetchRedirectionReply = serde_json::from_slice(body)
        .map_err(|e| KontomatikError::Malformed(format!("fetch redirection reply: {e}")))?;
    let redirection_id = RedirectionId::parse(&reply.redirection_id)
        .map_err(|e| KontomatikError::Malformed(e.to_string()))?;
    let url = Url::parse(&reply.url)
        .map_err(|e| KontomatikError::Malformed(format!("link is not a URL: {e}")))?;
    Ok(RedirectionLink {
        redirection_id,
        url: url.into(),
    })
}

/// Reads *Redirection status*'s reply body for redirection `id`.
pub fn parse_status_reply(
    body: &[u8],
    id: &RedirectionId,
) -> Result<RedirectionStatus, KontomatikError> {
    let body: wire::StatusReply = serde_json::from_slice(body)
        .map_err(|e| KontomatikError::Malformed(format!("status reply: {e}")))?;
    if body
        .redirection_id
        .as_deref()
        .is_some_and(|r| r != id.as_str())
    {
        return Err(KontomatikError::Malformed(
            "status reply is for another redirection".into(),
        ));
    }
    parse_status(body)
}

impl KontomatikClient {
    pub fn new(config: ClientConfig) -> Result<Self, BuildError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            // A redirect would carry X-Api-Key (and a form's session signature) to wherever it
            // points: never follow one.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("signin-redirection/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BuildError(e.to_string()))?;
        Ok(KontomatikClient { http, config })
    }

    fn url(&self, path: &str) -> Result<Url, KontomatikError> {
        self.config
            .base_url
            .join(path)
            .map_err(|e| KontomatikError::Malformed(format!("bad URL for {path}: {e}")))
    }

    async fn json_error(resp: Response) -> KontomatikError {
        let status = resp.status();
        match resp.json::<wire::ErrorReply>().await {
            Ok(body) => KontomatikError::Rejected(ErrorInfo {
                code: body.error.code,
                message: body.error.message,
            }),
            Err(_) => KontomatikError::Malformed(format!(
                "unexpected HTTP {} without an error body",
                status.as_u16()
            )),
        }
    }

    /// Sends a request; the statuses every endpoint shares (401, 429, 5xx) become errors.
    async fn send(req: reqwest::RequestBuilder) -> Result<Response, KontomatikError> {
        let resp = req.send().await.map_err(transport)?;
        match common_status(&resp) {
            Some(e) => Err(e),
            None => Ok(resp),
        }
    }

    /// Sends a request to an XML endpoint and reads the reply, streaming it through the parser
    /// into `sink`.
    async fn send_xml(
        req: reqwest::RequestBuilder,
        sink: &mut dyn ImportSink,
    ) -> Result<(StatusCode, ParsedReply), KontomatikError> {
        let resp = Self::send(req).await?;
        let status = resp.status();
        let stream = resp.bytes_stream().map_err(std::io::Error::other);
        let reader = tokio::io::BufReader::new(StreamReader::new(stream));
        let reply = parse_reply(reader, sink).await.map_err(xml_error)?;
        Ok((status, reply))
    }

    /// A request with the API key in its header (the only place it ever goes).
    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, KontomatikError> {
        Ok(self
            .http
            .request(method, self.url(path)?)
            .header(wire::API_KEY_HEADER, self.config.api_key.expose())
            .timeout(self.config.timeout))
    }

    /// The owner-data endpoint for one owner (the owner id is the only query parameter).
    fn owner_data_request(
        &self,
        method: reqwest::Method,
        owner: &OwnerExternalId,
    ) -> Result<reqwest::RequestBuilder, KontomatikError> {
        Ok(self
            .request(method, wire::OWNER_DATA_PATH)?
            .query(&[(wire::PARAM_OWNER_EXTERNAL_ID, owner.as_str())]))
    }

    /// Posts a Default Import form; the command's id from its `202` (first state `setup`, or
    /// `in_progress` in older samples).
    async fn start_import(&self, form: &[(&str, String)]) -> Result<CommandId, KontomatikError> {
        let req = self
            .request(reqwest::Method::POST, wire::DEFAULT_IMPORT_PATH)?
            .form(form);
        match Self::send_xml(req, &mut Discard).await? {
            (
                s,
                ParsedReply {
                    reply: Reply::Command(c),
                    ..
                },
            ) if s.is_success() => Ok(c.id),
            (
                s,
                ParsedReply {
                    reply: Reply::Command(_),
                    ..
                },
            ) => Err(KontomatikError::Malformed(format!(
                "a command with HTTP {}",
                s.as_u16()
            ))),
            (s, p) => Err(non_command_error(s, &p.reply)),
        }
    }

    fn session_form(session: &SessionData) -> Vec<(&'static str, String)> {
        vec![
            (wire::PARAM_SESSION_ID, session.session_id.clone()),
            (
                wire::PARAM_SESSION_ID_SIGNATURE,
                session.session_id_signature.expose().to_owned(),
            ),
        ]
    }
}

fn parse_status(body: wire::StatusReply) -> Result<RedirectionStatus, KontomatikError> {
    let malformed = |what: &str| KontomatikError::Malformed(format!("status reply: {what}"));
    Ok(match body.status.as_str() {
        wire::STATUS_INITIALIZED => RedirectionStatus::Initialized,
        wire::STATUS_IN_PROGRESS => RedirectionStatus::InProgress,
        wire::STATUS_EXPIRED => RedirectionStatus::Expired,
        wire::STATUS_ERROR => {
            let e = body
                .error
                .ok_or_else(|| malformed("error without details"))?;
            RedirectionStatus::Error(ErrorInfo {
                code: e.code,
                message: e.message,
            })
        }
        wire::STATUS_SUCCESS => {
            let session_id = body
                .session_id
                .filter(|s| !s.is_empty())
                .ok_or_else(|| malformed("success without sessionId"))?;
            let signature = body
                .session_id_signature
                .filter(|s| !s.is_empty())
                .ok_or_else(|| malformed("success without sessionIdSignature"))?;
            let owner = body
                .owner_external_id
                .map(|o| OwnerExternalId::parse(&o))
                .transpose()
                .map_err(|_| malformed("invalid ownerExternalId"))?;
            RedirectionStatus::Success(SessionData {
                session_id,
                session_id_signature: Secret::new(signature),
                target: body.target.unwrap_or_default(),
                owner_external_id: owner,
                multiple_access_token: body.multiple_access_token.map(Secret::new),
            })
        }
        _ => return Err(malformed("unknown status")),
    })
}

#[async_trait]
impl Kontomatik for KontomatikClient {
    async fn fetch_redirection(
        &self,
        req: &FetchRedirection,
    ) -> Result<RedirectionLink, KontomatikError> {
        let body = wire::FetchRedirectionBody {
            redirect_uri: &req.redirect_uri,
            owner_external_id: req.owner.as_str(),
            language: req.language.as_str(),
            country: req.country.as_str(),
            access_mode: req.access_mode.as_str(),
        };
        let resp = Self::send(
            self.request(reqwest::Method::POST, wire::FETCH_REDIRECTION_PATH)?
                .json(&body),
        )
        .await?;
        if !resp.status().is_success() {
            return Err(Self::json_error(resp).await);
        }
        let bytes = resp.bytes().await.map_err(transport)?;
        parse_fetch_reply(&bytes)
    }

    async fn redirection_status(
        &self,
        id: &RedirectionId,
    ) -> Result<RedirectionStatus, KontomatikError> {
        let resp = Self::send(self.request(
            reqwest::Method::GET,
            &wire::redirection_status_path(id.as_str()),
        )?)
        .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(KontomatikError::NotFound);
        }
        if !resp.status().is_success() {
            return Err(Self::json_error(resp).await);
        }
        let bytes = resp.bytes().await.map_err(transport)?;
        parse_status_reply(&bytes, id)
    }

    async fn default_import(
        &self,
        session: &SessionData,
        since: NaiveDate,
    ) -> Result<CommandId, KontomatikError> {
        let mut form = Self::session_form(session);
        form.push((
            wire::PARAM_SINCE,
            since.format(wire::SINCE_FORMAT).to_string(),
        ));
        self.start_import(&form).await
    }

    async fn import_with_access(
        &self,
        owner: &OwnerExternalId,
        access_token: &Secret,
        since: NaiveDate,
    ) -> Result<CommandId, KontomatikError> {
        // The token only ever in the form body, like a session's signature.
        let form = vec![
            (
                wire::PARAM_MULTIPLE_ACCESS_TOKEN,
                access_token.expose().to_owned(),
            ),
            (wire::PARAM_OWNER_EXTERNAL_ID, owner.as_str().to_owned()),
            (
                wire::PARAM_SINCE,
                since.format(wire::SINCE_FORMAT).to_string(),
            ),
        ];
        self.start_import(&form).await
    }

    async fn command_status(
        &self,
        command: &CommandId,
        sink: &mut dyn ImportSink,
    ) -> Result<CommandStatus, KontomatikError> {
        self.command_status_within(command, sink, self.config.result_timeout)
            .await
    }

    async fn command_status_within(
        &self,
        command: &CommandId,
        sink: &mut dyn ImportSink,
        limit: Duration,
    ) -> Result<CommandStatus, KontomatikError> {
        let req = self
            .request(reqwest::Method::GET, &wire::command_path(command.as_str()))?
            .timeout(self.config.result_timeout.min(limit));
        match Self::send_xml(req, sink).await? {
            (
                s,
                ParsedReply {
                    reply: Reply::Command(c),
                    ..
                },
            ) if s.is_success() => {
                if c.id != *command {
                    return Err(KontomatikError::Malformed(
                        "status reply is for another command".into(),
                    ));
                }
                Ok(c)
            }
            (
                s,
                ParsedReply {
                    reply: Reply::Command(_),
                    ..
                },
            ) => Err(KontomatikError::Malformed(format!(
                "a command with HTTP {}",
                s.as_u16()
            ))),
            (s, p) => Err(non_command_error(s, &p.reply)),
        }
    }

    async fn sign_out(&self, session: &SessionData) -> Result<SignOut, KontomatikError> {
        let req = self
            .request(reqwest::Method::POST, wire::SIGN_OUT_PATH)?
            .form(&Self::session_form(session));
        match Self::send_xml(req, &mut Discard).await? {
            (
                _,
                ParsedReply {
                    reply: Reply::Exception(e),
                    ..
                },
            ) if e.name == wire::xml::EXC_COMMAND_NOT_AVAILABLE => Ok(SignOut::NotAvailable),
            (
                s,
                ParsedReply {
                    reply: Reply::Command(c),
                    ..
                },
            ) if s.is_success() && matches!(c.state, CommandState::Error | CommandState::Fatal) => {
                Err(KontomatikError::Rejected(c.exception.unwrap_or(
                    ErrorInfo {
                        code: c.state.as_str().into(),
                        message: "sign-out failed".into(),
                    },
                )))
            }
            (
                s,
                ParsedReply {
                    reply: Reply::Command(_) | Reply::Empty,
                    ..
                },
            ) if s.is_success() => Ok(SignOut::SignedOut),
            (s, p) => Err(non_command_error(s, &p.reply)),
        }
    }

    async fn owner_data(
        &self,
        owner: &OwnerExternalId,
        sink: &mut dyn ImportSink,
    ) -> Result<bool, KontomatikError> {
        let req = self
            .owner_data_request(reqwest::Method::GET, owner)?
            .timeout(self.config.result_timeout);
        match Self::send_xml(req, sink).await? {
            (
                s,
                ParsedReply {
                    reply: Reply::OwnerData { external_id },
                    ..
                },
            ) if s.is_success() => {
                if external_id != owner.as_str() {
                    return Err(KontomatikError::Malformed(
                        "owner data is for another owner".into(),
                    ));
                }
                Ok(true)
            }
            (
                s,
                ParsedReply {
                    reply: Reply::Empty,
                    ..
                },
            ) if s.is_success() => Ok(false),
            (s, p) if owner_unknown(s, &p.reply) => Ok(false),
            (s, p) => Err(non_command_error(s, &p.reply)),
        }
    }

    async fn delete_owner_data(&self, owner: &OwnerExternalId) -> Result<bool, KontomatikError> {
        let req = self.owner_data_request(reqwest::Method::DELETE, owner)?;
        match Self::send_xml(req, &mut Discard).await? {
            (s, p) if owner_unknown(s, &p.reply) => Ok(false),
            (
                s,
                ParsedReply {
                    reply: Reply::Exception(_) | Reply::Comment(_),
                    ..
                },
            ) if s.is_success() => Err(KontomatikError::Malformed(
                "an error reply with a success status".into(),
            )),
            (s, _) if s.is_success() => Ok(true),
            (s, p) => Err(non_command_error(s, &p.reply)),
        }
    }
}

#[cfg(test)]
mod tests;
