//! The admin endpoints tests use (`/_sandbox/…`, when enabled): counters, the request log,
//! the clock, faults, the data shape, the live redirections and the user's actions.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::{json_error, lock, FaultConfig, RedirectionView, RequestSeen, SandboxHandle, Shr};
use crate::data::DataShape;
use crate::sim::{Acted, Counters, UserAction};

pub(super) async fn admin_counters(State(s): Shr) -> Json<Counters> {
    Json(lock(&s.sim).counters.clone())
}

pub(super) async fn admin_requests(State(s): Shr) -> Json<Vec<RequestSeen>> {
    Json(SandboxHandle { shared: s }.requests())
}

#[derive(Serialize)]
pub(super) struct ClockView {
    now: chrono::DateTime<chrono::Utc>,
}

pub(super) async fn admin_clock(State(s): Shr) -> Json<ClockView> {
    Json(ClockView { now: s.time.now() })
}

#[derive(Deserialize)]
pub(super) struct Advance {
    seconds: i64,
}

pub(super) async fn admin_advance(State(s): Shr, Json(a): Json<Advance>) -> Response {
    if a.seconds < 0 {
        return json_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "time only moves forward",
        );
    }
    if !s.time.advance(Duration::seconds(a.seconds)) {
        return json_error(
            StatusCode::CONFLICT,
            "SystemClock",
            "this sandbox runs on the system clock; start it with a simulated or scaled clock",
        );
    }
    Json(ClockView { now: s.time.now() }).into_response()
}

pub(super) async fn admin_faults(State(s): Shr, Json(cfg): Json<FaultConfig>) -> StatusCode {
    SandboxHandle { shared: s }.set_faults(cfg);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ShapeBody {
    accounts: u32,
    transactions_per_account: u32,
}

pub(super) async fn admin_shape(State(s): Shr, Json(b): Json<ShapeBody>) -> Response {
    let shape = DataShape {
        accounts: b.accounts,
        transactions_per_account: b.transactions_per_account,
    };
    match (SandboxHandle { shared: s }).set_shape(shape) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => json_error(StatusCode::BAD_REQUEST, "InvalidRequest", e),
    }
}

pub(super) async fn admin_redirections(State(s): Shr) -> Json<Vec<RedirectionView>> {
    Json(SandboxHandle { shared: s }.redirections())
}

#[derive(Deserialize)]
pub(super) struct ActBody {
    action: UserAction,
    bank: Option<String>,
}

pub(super) async fn admin_act(
    State(s): Shr,
    Path(id): Path<String>,
    Json(b): Json<ActBody>,
) -> Response {
    match (SandboxHandle { shared: s }).act(&id, b.action, b.bank.as_deref()) {
        Ok(Acted::Done { redirect_to }) => {
            Json(serde_json::json!({"done": true, "redirectTo": redirect_to})).into_response()
        }
        Ok(Acted::LinkExpired { .. }) => {
            json_error(StatusCode::GONE, "Expired", "the link has expired")
        }
        Ok(Acted::AlreadyFinished { .. }) => json_error(
            StatusCode::CONFLICT,
            "AlreadyFinished",
            "the sign-in already ended",
        ),
        Err(_) => json_error(
            StatusCode::NOT_FOUND,
            "RedirectionNotFound",
            "no such redirection",
        ),
    }
}
