//! Kontomatik's JSON API: Fetch redirection (a link to the hosted page) and Redirection
//! status (with the poll limit).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use url::Url;

use super::{json_error, lock, unauthorized, Shr};
use crate::sim::{self, SimError, Status};
use crate::wire::{self, json};

/// The sandbox's own reading of a Fetch redirection request.
fn check_fetch(req: json::FetchRedirection) -> Result<sim::NewRedirection, (String, String)> {
    use wire::rules;
    let bad = |field: &str, why: &str| Err((field.to_owned(), why.to_owned()));
    let redirect_uri = match req.redirect_uri.as_deref().map(Url::parse) {
        Some(Ok(u)) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            u.to_string()
        }
        Some(_) => return bad("redirectUri", "must be an absolute http(s) URL"),
        None => return bad("redirectUri", "is required"),
    };
    let language = req.language.unwrap_or_default();
    if !rules::LANGUAGES.contains(&language.as_str()) {
        return bad("language", "is not a language the widget offers");
    }
    let country = req.country.unwrap_or_default();
    if !rules::COUNTRIES.contains(&country.as_str()) {
        return bad(
            "country",
            "is not a country with banks here (lower case, e.g. pl)",
        );
    }
    let access_mode = req.access_mode.unwrap_or_else(|| "single".into());
    if !rules::ACCESS_MODES.contains(&access_mode.as_str()) {
        return bad("accessMode", "must be single, multiple or mixed");
    }
    if let Some(owner) = req.owner_external_id.as_deref() {
        if !rules::owner_id_ok(owner) {
            return bad(
                "ownerExternalId",
                "must be 1-200 printable characters without spaces",
            );
        }
    }
    Ok(sim::NewRedirection {
        redirect_uri,
        owner_external_id: req.owner_external_id,
        language,
        country,
        access_mode,
    })
}

pub(super) async fn fetch_redirection(State(s): Shr, headers: HeaderMap, body: Bytes) -> Response {
    s.count(sim::ENDPOINT_FETCH);
    if !s.authorized(&headers) {
        return unauthorized(&s);
    }
    let req: json::FetchRedirection = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, "InvalidRequest", e.to_string()),
    };
    let new = match check_fetch(req) {
        Ok(n) => n,
        Err((field, why)) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                format!("{field}: {why}"),
            )
        }
    };
    let now = s.time.now();
    let r = lock(&s.sim).fetch_redirection(new, now);
    let url = format!("{}/signin/{}", s.link_base(), r.id);
    Json(json::Link {
        redirection_id: r.id,
        url,
    })
    .into_response()
}

pub(super) async fn redirection_status(
    State(s): Shr,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    s.count(sim::ENDPOINT_STATUS);
    if !s.authorized(&headers) {
        return unauthorized(&s);
    }
    let now = s.time.now();
    let result = lock(&s.sim).status(&id, now);
    match result {
        Err(SimError::RateLimited { retry_after_secs }) => {
            let mut r = json_error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Poll a redirection at most every 5-10 minutes",
            );
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Err(_) => json_error(
            StatusCode::NOT_FOUND,
            "RedirectionNotFound",
            "No such redirection (or it is older than 24 hours)",
        ),
        Ok((r, session)) => {
            let mut body = json::Status {
                redirection_id: r.id.clone(),
                status: "",
                session_id: None,
                session_id_signature: None,
                target: None,
                owner_external_id: r.owner_external_id.clone(),
                multiple_access_token: None,
                error: None,
            };
            body.status = match r.status {
                Status::Initialized => "initialized",
                Status::InProgress => "in_progress",
                Status::Expired => "expired",
                Status::Error { code, message } => {
                    body.error = Some(json::Error { code, message });
                    "error"
                }
                Status::Success { .. } => {
                    if let Some(ses) = session {
                        body.session_id = Some(ses.id);
                        body.session_id_signature = Some(ses.signature);
                        body.target = Some(ses.bank.id.into());
                        body.multiple_access_token = ses.multiple_access_token;
                    }
                    "success"
                }
            };
            Json(body).into_response()
        }
    }
}
