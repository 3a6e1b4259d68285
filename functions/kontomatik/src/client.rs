//! The HTTP client for Kontomatik's API, implementing the core's [`Kontomatik`] port.

use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use futures::TryStreamExt;
use reqwest::{header, Response, StatusCode};
use signin_core::domain::{
    CommandId, ErrorInfo, OwnerExternalId, RedirectionId, RedirectionStatus, Secret, SessionData,
};
use signin_core::import::{Discard, ImportSink};
use signin_core::ports::{
    CommandStatus, FetchRedirection, Kontomatik, KontomatikError, RedirectionLink,
};
use tokio_util::io::StreamReader;
use url::Url;

use crate::wire;
use crate::xml::{parse_command_reply, CommandReply, XmlError};

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

/// A transport failure, described without the URL (it may carry the API key in its query).
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

fn exception_error(status: StatusCode, e: ErrorInfo) -> KontomatikError {
    use wire::xml::*;
    match e.code.as_str() {
        EXC_ALREADY_EXECUTED => KontomatikError::AlreadyImported,
        EXC_SESSION_NOT_FOUND | EXC_SESSION_EXPIRED => KontomatikError::SessionInvalid(e),
        EXC_INVALID_API_KEY => KontomatikError::Unauthorized,
        _ if status == StatusCode::NOT_FOUND => KontomatikError::NotFound,
        _ => KontomatikError::Rejected(e),
    }
}

impl KontomatikClient {
    pub fn new(config: ClientConfig) -> Result<Self, BuildError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
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

    /// Reads an XML reply, streaming it through the parser.
    async fn xml_reply(
        resp: Response,
        sink: &mut dyn ImportSink,
    ) -> Result<(StatusCode, CommandReply), KontomatikError> {
        let status = resp.status();
        let stream = resp.bytes_stream().map_err(std::io::Error::other);
        let reader = tokio::io::BufReader::new(StreamReader::new(stream));
        let reply = parse_command_reply(reader, sink).await.map_err(xml_error)?;
        Ok((status, reply))
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
        let resp = self
            .http
            .post(self.url(wire::FETCH_REDIRECTION_PATH)?)
            .header(wire::API_KEY_HEADER, self.config.api_key.expose())
            .timeout(self.config.timeout)
            .json(&body)
            .send()
            .await
            .map_err(transport)?;
        if let Some(e) = common_status(&resp) {
            return Err(e);
        }
        if !resp.status().is_success() {
            return Err(Self::json_error(resp).await);
        }
        let reply: wire::FetchRedirectionReply = resp
            .json()
            .await
            .map_err(|e| KontomatikError::Malformed(e.without_url().to_string()))?;
        let redirection_id = RedirectionId::parse(&reply.redirection_id)
            .map_err(|e| KontomatikError::Malformed(e.to_string()))?;
        let url = Url::parse(&reply.url)
            .map_err(|e| KontomatikError::Malformed(format!("link is not a URL: {e}")))?;
        Ok(RedirectionLink {
            redirection_id,
            url: url.into(),
        })
    }

    async fn redirection_status(
        &self,
        id: &RedirectionId,
    ) -> Result<RedirectionStatus, KontomatikError> {
        let resp = self
            .http
            .get(self.url(&wire::redirection_status_path(id.as_str()))?)
            .header(wire::API_KEY_HEADER, self.config.api_key.expose())
            .timeout(self.config.timeout)
            .send()
            .await
            .map_err(transport)?;
        if let Some(e) = common_status(&resp) {
            return Err(e);
        }
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(KontomatikError::NotFound);
        }
        if !resp.status().is_success() {
            return Err(Self::json_error(resp).await);
        }
        let body: wire::StatusReply = resp
            .json()
            .await
            .map_err(|e| KontomatikError::Malformed(e.without_url().to_string()))?;
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

    async fn default_import(
        &self,
        session: &SessionData,
        owner: Option<&OwnerExternalId>,
        since: Option<NaiveDate>,
    ) -> Result<CommandId, KontomatikError> {
        let mut form: Vec<(&str, String)> = vec![
            (wire::API_KEY_PARAM, self.config.api_key.expose().to_owned()),
            (wire::PARAM_SESSION_ID, session.session_id.clone()),
            (
                wire::PARAM_SESSION_ID_SIGNATURE,
                session.session_id_signature.expose().to_owned(),
            ),
        ];
        if let Some(owner) = owner {
            form.push((wire::PARAM_OWNER_EXTERNAL_ID, owner.to_string()));
        }
        if let Some(since) = since {
            form.push((wire::PARAM_SINCE, since.format("%Y-%m-%d").to_string()));
        }
        let resp = self
            .http
            .post(self.url(wire::DEFAULT_IMPORT_PATH)?)
            .timeout(self.config.timeout)
            .form(&form)
            .send()
            .await
            .map_err(transport)?;
        if let Some(e) = common_status(&resp) {
            return Err(e);
        }
        match Self::xml_reply(resp, &mut Discard).await? {
            (s, CommandReply::Command(c)) if s.is_success() => Ok(c.id),
            (s, CommandReply::Exception(e)) => Err(exception_error(s, e)),
            (s, CommandReply::Command(_)) => Err(KontomatikError::Malformed(format!(
                "a command with HTTP {}",
                s.as_u16()
            ))),
        }
    }

    async fn command_status(
        &self,
        command: &CommandId,
        session: &SessionData,
        sink: &mut dyn ImportSink,
    ) -> Result<CommandStatus, KontomatikError> {
        let resp = self
            .http
            .get(self.url(&wire::command_path(command.as_str()))?)
            .query(&[
                (wire::API_KEY_PARAM, self.config.api_key.expose()),
                (wire::PARAM_SESSION_ID, session.session_id.as_str()),
                (
                    wire::PARAM_SESSION_ID_SIGNATURE,
                    session.session_id_signature.expose(),
                ),
            ])
            .timeout(self.config.result_timeout)
            .send()
            .await
            .map_err(transport)?;
        if let Some(e) = common_status(&resp) {
            return Err(e);
        }
        match Self::xml_reply(resp, sink).await? {
            (s, CommandReply::Command(c)) if s.is_success() => {
                if c.id != *command {
                    return Err(KontomatikError::Malformed(
                        "status reply is for another command".into(),
                    ));
                }
                Ok(c)
            }
            (s, CommandReply::Exception(e)) => Err(exception_error(s, e)),
            (s, CommandReply::Command(_)) => Err(KontomatikError::Malformed(format!(
                "a command with HTTP {}",
                s.as_u16()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_api_key_never_shows_in_debug_output() {
        let cfg = ClientConfig::new(
            Url::parse("https://test.api.kontomatik.com").unwrap(),
            Secret::new("super-secret-key"),
        );
        let client = KontomatikClient::new(cfg.clone()).unwrap();
        let shown = format!("{cfg:?} {client:?}");
        assert!(!shown.contains("super-secret-key"), "{shown}");
        assert!(shown.contains("test.api.kontomatik.com"));
    }

    #[test]
    fn exceptions_map_to_typed_errors() {
        let e = |code: &str| ErrorInfo {
            code: code.into(),
            message: "m".into(),
        };
        assert_eq!(
            exception_error(StatusCode::BAD_REQUEST, e("CommandAlreadyExecuted")),
            KontomatikError::AlreadyImported
        );
        assert!(matches!(
            exception_error(StatusCode::BAD_REQUEST, e("SessionExpired")),
            KontomatikError::SessionInvalid(_)
        ));
        assert_eq!(
            exception_error(StatusCode::UNAUTHORIZED, e("InvalidApiKey")),
            KontomatikError::Unauthorized
        );
        assert_eq!(
            exception_error(StatusCode::NOT_FOUND, e("CommandNotFound")),
            KontomatikError::NotFound
        );
        assert!(matches!(
            exception_error(StatusCode::BAD_REQUEST, e("Whatever")),
            KontomatikError::Rejected(_)
        ));
    }

    #[test]
    fn status_replies_parse_into_typed_statuses() {
        let reply = |json: &str| parse_status(serde_json::from_str(json).unwrap());
        assert_eq!(
            reply(r#"{"status":"in_progress"}"#).unwrap(),
            RedirectionStatus::InProgress
        );
        let ok = reply(
            r#"{"redirectionId":"r","status":"success","sessionId":"s","sessionIdSignature":"sig","target":"Bank","ownerExternalId":"own-1"}"#,
        )
        .unwrap();
        let RedirectionStatus::Success(s) = ok else {
            panic!()
        };
        assert_eq!(s.session_id_signature.expose(), "sig");
        assert_eq!(s.owner_external_id.unwrap().as_str(), "own-1");
        assert!(reply(r#"{"status":"success","sessionId":"s"}"#).is_err());
        assert!(reply(r#"{"status":"error"}"#).is_err());
        assert!(reply(r#"{"status":"weird"}"#).is_err());
    }
}
