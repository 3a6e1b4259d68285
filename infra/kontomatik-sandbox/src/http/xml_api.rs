//! Kontomatik's XML command API: Default Import, the command's status (and its data, streamed),
//! sign-out, and the owner data kept per owner (read and delete).

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;

use super::{lock, unauthorized, xml_reply, Shared, Shr};
use crate::data::{Envelope, Rendering, ResultChunks};
use crate::sim::{self, SimError};
use crate::wire;

fn sim_xml_error(s: &Shared, e: SimError) -> Response {
    use wire::xml::*;
    let (status, name) = match &e {
        SimError::InvalidSession => (StatusCode::NOT_FOUND, EXC_INVALID_SESSION_ID),
        SimError::SessionExpired => (StatusCode::BAD_REQUEST, EXC_SESSION_EXPIRED),
        SimError::AlreadyExecuted => (StatusCode::BAD_REQUEST, EXC_ALREADY_EXECUTED),
        SimError::CommandNotFound | SimError::NotFound => {
            (StatusCode::NOT_FOUND, EXC_INVALID_COMMAND_ID)
        }
        SimError::CommandNotAvailable => (StatusCode::BAD_REQUEST, EXC_COMMAND_NOT_AVAILABLE),
        SimError::OwnerNotFound => (StatusCode::NOT_FOUND, EXC_INVALID_OWNER),
        SimError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, EXC_SERVICE_UNAVAILABLE),
        // The status is not recorded; the name is the contract's (section 6).
        SimError::JobsQuotaExceeded => (StatusCode::BAD_REQUEST, EXC_JOBS_QUOTA),
        SimError::Invalid { code, .. } => (StatusCode::BAD_REQUEST, *code),
    };
    xml_reply(
        status,
        None,
        &s.timestamp(),
        &exception(name, &e.to_string(), None),
    )
}

fn xml_invalid(s: &Shared, name: &str, message: &str) -> Response {
    xml_reply(
        StatusCode::BAD_REQUEST,
        None,
        &s.timestamp(),
        &wire::xml::exception(name, message, None),
    )
}

/// A urlencoded form's fields (each name once).
fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn session_fields(f: &HashMap<String, String>) -> Option<(&str, &str)> {
    let id = f.get(wire::FORM_SESSION_ID).filter(|v| !v.is_empty())?;
    let sig = f
        .get(wire::FORM_SESSION_ID_SIGNATURE)
        .filter(|v| !v.is_empty())?;
    Some((id, sig))
}

pub(super) async fn default_import(State(s): Shr, headers: HeaderMap, body: Bytes) -> Response {
    s.count(sim::ENDPOINT_IMPORT);
    if !s.authorized(&headers) {
        return unauthorized(&s);
    }
    let f = form(&body);
    if let Some(token) = f
        .get(wire::FORM_MULTIPLE_ACCESS_TOKEN)
        .filter(|v| !v.is_empty())
    {
        return import_with_access(&s, &f, token);
    }
    let Some((session_id, signature)) = session_fields(&f) else {
        return xml_invalid(
            &s,
            wire::xml::EXC_INVALID_PARAMETER,
            "sessionId and sessionIdSignature are required.",
        );
    };
    let now = s.time.now();
    let since = match f
        .get(wire::FORM_SINCE)
        .map(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d"))
    {
        Some(Ok(d)) if d <= now.date_naive() => d,
        Some(_) => {
            return xml_invalid(
                &s,
                wire::xml::EXC_INVALID_SINCE,
                "since must be a past day, YYYY-MM-DD.",
            )
        }
        // Every known client sends it; the sandbox insists, so that forgetting it shows.
        None => return xml_invalid(&s, wire::xml::EXC_INVALID_SINCE, "since is required."),
    };
    let result = lock(&s.sim).default_import(session_id, signature, since, now);
    match result {
        Ok(id) => {
            let owner = lock(&s.sim)
                .sessions
                .get(session_id)
                .and_then(|x| x.owner_external_id.clone());
            let mut inner =
                wire::xml::command_open(id, "setup", wire::xml::COMMAND_DEFAULT_IMPORT, None);
            inner.push_str(&wire::xml::progress(0));
            inner.push_str("</command>");
            xml_reply(
                StatusCode::ACCEPTED,
                owner.as_deref(),
                &s.timestamp(),
                &inner,
            )
        }
        Err(e) => sim_xml_error(&s, e),
    }
}

/// Default Import without a session: a multiple-access token and its owner (provisional).
fn import_with_access(
    s: &Shared,
    f: &std::collections::HashMap<String, String>,
    token: &str,
) -> Response {
    let Some(owner) = f
        .get(wire::FORM_OWNER_EXTERNAL_ID)
        .filter(|v| wire::rules::owner_id_ok(v))
    else {
        return xml_invalid(
            s,
            wire::xml::EXC_INVALID_OWNER,
            "ownerExternalId is required with multipleAccessToken.",
        );
    };
    let now = s.time.now();
    let since = match f
        .get(wire::FORM_SINCE)
        .map(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d"))
    {
        Some(Ok(d)) if d <= now.date_naive() => d,
        _ => {
            return xml_invalid(
                s,
                wire::xml::EXC_INVALID_SINCE,
                "since must be a past day, YYYY-MM-DD.",
            )
        }
    };
    let result = lock(&s.sim).import_with_access(token, owner, since, now);
    match result {
        Ok(id) => {
            let mut inner =
                wire::xml::command_open(id, "setup", wire::xml::COMMAND_DEFAULT_IMPORT, None);
            inner.push_str(&wire::xml::progress(0));
            inner.push_str("</command>");
            xml_reply(StatusCode::ACCEPTED, Some(owner), &s.timestamp(), &inner)
        }
        Err(e) => sim_xml_error(s, e),
    }
}

pub(super) async fn command_status(
    State(s): Shr,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> Response {
    s.count(sim::ENDPOINT_COMMAND);
    if !s.authorized(&headers) {
        return unauthorized(&s);
    }
    let Some(id) = file
        .strip_suffix(wire::COMMAND_SUFFIX)
        .and_then(|n| n.parse::<u64>().ok())
    else {
        return sim_xml_error(&s, SimError::CommandNotFound);
    };
    let now = s.time.now();
    let view = lock(&s.sim).command_status(id, s.seed, now);
    let view = match view {
        Ok(v) => v,
        Err(e) => return sim_xml_error(&s, e),
    };
    match view.data_seed {
        Some(seed) => {
            let shape = *lock(&s.shape);
            let chunks = ResultChunks::new(Rendering {
                envelope: Envelope::Command {
                    id: view.id,
                    owner_external_id: view.owner_external_id.clone(),
                },
                seed,
                bank: view.bank,
                shape,
                as_of: view.as_of.date_naive(),
                since: view.since,
                timestamp: s.timestamp(),
            });
            stream_xml(chunks)
        }
        None => {
            let bank = view.state != "setup";
            let mut inner = wire::xml::command_open(
                view.id,
                view.state,
                wire::xml::COMMAND_DEFAULT_IMPORT,
                bank.then_some((view.bank.id, view.bank.name)),
            );
            inner.push_str(&wire::xml::progress(view.progress));
            if let Some((name, text)) = view.exception {
                inner.push_str(&wire::xml::exception(
                    name,
                    text,
                    Some("Nie udało się pobrać danych z banku. Spróbuj ponownie później."),
                ));
            }
            inner.push_str("</command>");
            xml_reply(
                StatusCode::OK,
                view.owner_external_id.as_deref(),
                &s.timestamp(),
                &inner,
            )
        }
    }
}

fn stream_xml(chunks: ResultChunks) -> Response {
    let stream = futures::stream::iter(chunks.map(Ok::<_, std::convert::Infallible>));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/xml; charset=utf-8")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

pub(super) async fn sign_out(State(s): Shr, headers: HeaderMap, body: Bytes) -> Response {
    s.count(sim::ENDPOINT_SIGN_OUT);
    if !s.authorized(&headers) {
        return unauthorized(&s);
    }
    let f = form(&body);
    let Some((session_id, signature)) = session_fields(&f) else {
        return xml_invalid(
            &s,
            wire::xml::EXC_INVALID_PARAMETER,
            "sessionId and sessionIdSignature are required.",
        );
    };
    let result = lock(&s.sim).sign_out(session_id, signature);
    match result {
        Ok(()) => {
            let id = lock(&s.sim).next_command_id();
            let mut inner =
                wire::xml::command_open(id, "successful", wire::xml::COMMAND_SIGN_OUT, None);
            inner.push_str(&wire::xml::progress(0));
            inner.push_str("</command>");
            xml_reply(StatusCode::OK, None, &s.timestamp(), &inner)
        }
        Err(e) => sim_xml_error(&s, e),
    }
}

fn owner_param(q: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .find(|(k, _)| k == wire::QUERY_OWNER_EXTERNAL_ID)
        .map(|(_, v)| v.into_owned())
        .filter(|v| wire::rules::owner_id_ok(v))
}

/// The owner an owner-data request is about, once it is counted and authorized.
fn owner_request(
    s: &Shared,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<String, Box<Response>> {
    s.count(sim::ENDPOINT_OWNER_DATA);
    if !s.authorized(headers) {
        return Err(Box::new(unauthorized(s)));
    }
    owner_param(query).ok_or_else(|| {
        Box::new(xml_invalid(
            s,
            wire::xml::EXC_INVALID_OWNER,
            "ownerExternalId is required.",
        ))
    })
}

pub(super) async fn owner_data(
    State(s): Shr,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let owner = match owner_request(&s, &headers, q.as_deref()) {
        Ok(o) => o,
        Err(refused) => return *refused,
    };
    let data = lock(&s.sim).owner_data(&owner);
    match data {
        Ok(d) => {
            let shape = *lock(&s.shape);
            let stamp = |t: sim::Time| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            stream_xml(ResultChunks::new(Rendering {
                envelope: Envelope::OwnerData {
                    owner_external_id: owner,
                    created_at: stamp(d.created_at),
                    updated_at: stamp(d.updated_at),
                },
                seed: d.data_seed,
                bank: d.bank,
                shape,
                as_of: d.updated_at.date_naive(),
                since: d.since,
                timestamp: s.timestamp(),
            }))
        }
        Err(e) => sim_xml_error(&s, e),
    }
}

pub(super) async fn delete_owner_data(
    State(s): Shr,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let owner = match owner_request(&s, &headers, q.as_deref()) {
        Ok(o) => o,
        Err(refused) => return *refused,
    };
    let result = lock(&s.sim).delete_owner_data(&owner);
    match result {
        Ok(()) => xml_reply(StatusCode::OK, Some(&owner), &s.timestamp(), ""),
        Err(e) => sim_xml_error(&s, e),
    }
}
