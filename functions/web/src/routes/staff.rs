//! Staff log-in to the funnel by emailed link.

use serde::Deserialize;
use signin_core::domain::links::Form;
use signin_core::App;

use super::links::link_post;
use crate::errors::*;
use crate::guard::*;
use crate::pages::{self};
use crate::request::*;

/// `POST /stats/login`: an address asks for a sign-in link; the same answer whoever asks.
pub(crate) async fn staff_login(app: &App, req: &WebRequest, binding: &str) -> Page {
    if app.settings.staff.is_empty() {
        return Err(not_found_en(app));
    }
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct LoginForm {
        email: Option<String>,
        form_token: Option<String>,
    }
    let form: LoginForm = serde_urlencoded::from_bytes(&req.body).unwrap_or_default();
    app.use_form_token(Form::StaffLogin, form.form_token.as_deref(), binding)
        .await
        .map_err(|e| form_refused(app, "en", e))?;
    let note =
        "If this address is on the staff list, a sign-in link is on its way (valid 15 minutes).";
    let email = signin_core::domain::Email::parse(form.email.as_deref().unwrap_or("")).ok();
    app.request_staff_login(email.as_ref(), &requester(req, binding, None))
        .await
        .map_err(|e| staff_login_error(app, e))?;
    let token = app
        .form_token(Form::StaffLogin, binding)
        .map_err(|e| internal_error(app, "en", &e))?;
    Ok(WebResponse::html(
        200,
        pages::staff_login(&app.settings.company_name, &token, Some(note)),
    ))
}

/// `GET /stats/login?t=`: the emailed link shows a button (mail scanners follow links).
pub(crate) fn staff_login_link(app: &App, binding: &str, token: Option<&str>) -> Page {
    app.check_link(
        token.unwrap_or(""),
        signin_core::domain::links::Purpose::StaffLogin,
    )
    .map_err(|e| link_error_page(app, "en", &e))?;
    let form_token = app
        .form_token(Form::StaffSession, binding)
        .map_err(|e| internal_error(app, "en", &e))?;
    Ok(WebResponse::html(
        200,
        pages::confirm(
            &app.settings.company_name,
            "en",
            "Staff sign-in",
            "Continue to sign in.",
            "/stats/session",
            token.unwrap_or(""),
            &form_token,
            "Sign in",
        ),
    ))
}

/// `POST /stats/session`: spends the one-time link and sets the session cookie.
pub(crate) async fn staff_session(app: &App, binding: &str, req: &WebRequest) -> Page {
    let purpose = signin_core::domain::links::Purpose::StaffLogin;
    let form = Some(Form::StaffSession);
    let (token, _) = link_post(app, binding, "en", req, None, purpose, form).await?;
    let session = app
        .staff_session_from_link(&token)
        .await
        .map_err(|e| staff_session_error(app, e))?;
    // Marketing lands on the funnel, a credit officer on the applications.
    let marketing = app
        .staff_member(&session)
        .await
        .is_none_or(|m| m.may(signin_core::config::StaffRole::Marketing));
    let (label, home) = if marketing {
        ("Open the funnel", "/stats")
    } else {
        ("Open the applications", "/cases")
    };
    Ok(WebResponse::html(
        303,
        pages::message(
            &app.settings.company_name,
            "en",
            "Signed in",
            &["Opening…"],
            Some((label, home)),
        ),
    )
    .with_header("location", home)
    .with_header(
        "set-cookie",
        &format!(
            "{}={session}; {}; Max-Age={}",
            staff_cookie(app),
            cookie_attributes(app, "Strict"),
            signin_core::usecases::STAFF_COOKIE_LIFE
        ),
    ))
}

/// `POST /stats/logout`: ends the staff member's sessions on every device and clears the
/// cookie here.
pub(crate) async fn staff_logout(app: &App, req: &WebRequest) -> Page {
    if app.settings.staff.is_empty() {
        return Err(not_found_en(app));
    }
    let ended = match cookie_value(req, staff_cookie(app)) {
        Some(session) => app
            .end_staff_sessions(session)
            .await
            .map_err(|e| internal_error(app, "en", &e))?,
        None => false,
    };
    let said = if ended {
        "You are signed out of the funnel on every device."
    } else {
        "This browser was not signed in (or its session had ended already); it is signed out."
    };
    Ok(WebResponse::html(
        200,
        pages::message(
            &app.settings.company_name,
            "en",
            "Signed out",
            &[said],
            Some(("Sign in again", "/stats")),
        ),
    )
    .with_header(
        "set-cookie",
        &format!(
            "{}=; {}; Max-Age=0",
            staff_cookie(app),
            cookie_attributes(app, "Strict")
        ),
    ))
}
