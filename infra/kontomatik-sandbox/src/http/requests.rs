//! Every API request: the log tests read ([`RequestSeen`]), and the refusal of an API key or
//! a session signature where it does not belong (the URL, a form field).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;

use super::{lock, unauthorized, xml_reply, Shr};
use crate::wire;

/// One API request as the sandbox received it (for tests that check what our client sends).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestSeen {
    pub method: String,
    /// Path and query, exactly as received.
    pub uri: String,
    /// The `X-Api-Key` header was present.
    pub api_key_header: bool,
    /// Names of the form fields of a urlencoded body.
    pub form_fields: Vec<String>,
}

/// At most this many requests are kept (oldest dropped first).
const MAX_REQUESTS_SEEN: usize = 20_000;
/// The largest API request body read.
const MAX_BODY: usize = 64 * 1024;

fn query_names(query: &str) -> Vec<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, _)| k.into_owned())
        .collect()
}

pub(super) async fn record_requests(State(s): Shr, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return xml_reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                &s.timestamp(),
                &wire::xml::exception(wire::xml::EXC_INVALID_PARAMETER, "Request too large.", None),
            )
        }
    };
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form_fields = if is_form {
        url::form_urlencoded::parse(&bytes)
            .map(|(k, _)| k.into_owned())
            .collect()
    } else {
        Vec::new()
    };
    let query = parts.uri.query().unwrap_or("");
    let in_query = query_names(query);
    let seen = RequestSeen {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        api_key_header: parts.headers.contains_key(wire::API_KEY_HEADER),
        form_fields: form_fields.clone(),
    };
    let key_in_url = in_query.iter().any(|k| k == wire::LEGACY_API_KEY_PARAM)
        || (!s.api_key.is_empty() && query.contains(s.api_key.as_str()));
    let key_in_form = form_fields.iter().any(|k| k == wire::LEGACY_API_KEY_PARAM);
    let signature_in_url = in_query
        .iter()
        .any(|k| k == wire::FORM_SESSION_ID_SIGNATURE);
    {
        let mut log = lock(&s.requests);
        if log.len() >= MAX_REQUESTS_SEEN {
            log.pop_front();
        }
        log.push_back(seen);
    }
    if key_in_url || key_in_form || signature_in_url {
        let mut sim = lock(&s.sim);
        sim.counters.secrets_in_url += u64::from(key_in_url || signature_in_url);
        sim.counters.unauthorized += u64::from(key_in_url || key_in_form);
    }
    if key_in_url || key_in_form {
        return unauthorized(&s);
    }
    if signature_in_url {
        return xml_reply(
            StatusCode::BAD_REQUEST,
            None,
            &s.timestamp(),
            &wire::xml::exception(
                wire::xml::EXC_INVALID_PARAMETER,
                "The session signature must not be sent in the URL.",
                None,
            ),
        );
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
