//! The hosted sign-in page (`/signin/…`): where the simulated user opens the link, picks a
//! bank and an outcome, or leaves.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{lock, Shr};
use crate::pages;
use crate::sim::{Acted, UserAction};

fn page(status: StatusCode, markup: maud::Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

fn not_found_page() -> Response {
    page(
        StatusCode::NOT_FOUND,
        pages::message(
            "Link not found",
            "This sign-in link does not exist or is more than a day old.",
            None,
        ),
    )
}

fn acted_page(acted: Acted) -> Response {
    match acted {
        Acted::Done {
            redirect_to: Some(to),
        } => Redirect::to(&to).into_response(),
        Acted::Done { redirect_to: None } => page(
            StatusCode::OK,
            pages::message("Nothing to do", "The sign-in is still open.", None),
        ),
        Acted::LinkExpired { redirect_to } => page(
            StatusCode::GONE,
            pages::message(
                "This link has expired",
                "Sign-in links can be used for one hour. Go back to the service to get a new one.",
                Some(("Back to the service", &redirect_to)),
            ),
        ),
        Acted::AlreadyFinished { redirect_to } => page(
            StatusCode::OK,
            pages::message(
                "This sign-in has already ended",
                "There is nothing more to do here.",
                Some(("Back to the service", &redirect_to)),
            ),
        ),
    }
}

pub(super) async fn signin_page(State(s): Shr, Path(id): Path<String>) -> Response {
    let now = s.time.now();
    let mut sim = lock(&s.sim);
    match sim.act(&id, UserAction::Open, None, now) {
        Ok(Acted::Done { .. }) => match sim.peek(&id, now) {
            Ok(r) => page(StatusCode::OK, pages::signin(&r)),
            Err(_) => not_found_page(),
        },
        Ok(other) => acted_page(other),
        Err(_) => not_found_page(),
    }
}

#[derive(Debug, Deserialize)]
struct SigninForm {
    bank: Option<String>,
    outcome: Option<String>,
}

pub(super) async fn signin_submit(State(s): Shr, Path(id): Path<String>, body: Bytes) -> Response {
    let form: SigninForm = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(_) => {
            return page(
                StatusCode::BAD_REQUEST,
                pages::message(
                    "Something is missing",
                    "Choose a bank and an outcome.",
                    None,
                ),
            )
        }
    };
    let action = match form.outcome.as_deref() {
        Some("success") => UserAction::Succeed,
        Some("fail_login") => UserAction::FailLogin,
        Some("cancel") => UserAction::Cancel,
        _ => {
            return page(
                StatusCode::BAD_REQUEST,
                pages::message(
                    "Something is missing",
                    "Choose what happens at the bank.",
                    None,
                ),
            )
        }
    };
    let now = s.time.now();
    let result = lock(&s.sim).act(&id, action, form.bank.as_deref(), now);
    match result {
        Ok(acted) => acted_page(acted),
        Err(_) => not_found_page(),
    }
}

pub(super) async fn signin_left(State(s): Shr, Path(id): Path<String>) -> Response {
    let now = s.time.now();
    if lock(&s.sim).peek(&id, now).is_err() {
        return not_found_page();
    }
    page(
        StatusCode::OK,
        pages::message(
            "You left the sign-in",
            "Nothing was shared. You can close this window.",
            None,
        ),
    )
}
