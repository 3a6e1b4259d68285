//! The applicant's own side: log-in by emailed link (`/login`, `/login/link`,
//! `/login/session`), their page of applications (`/me`), their follow-up choice and log-out.
//! No page here shows bank data; a sign-in is shown only to its logged-in owner.

use maud::html;
use serde::Deserialize;
use signin_core::copy::{self, Text};
use signin_core::domain::links::Form;
use signin_core::domain::{Language, RedirectionId};
use signin_core::ports::UserProfile;
use signin_core::usecases::{LoginError, SignInStage, SignInView, APPLICANT_SESSION_LIFE};
use signin_core::App;

use crate::errors::{forbidden, form_refused, internal_error, limited, login_link_error};
use crate::guard::{cookie_attributes, requester};
use crate::pages::{self};
use crate::request::{cookie_value, WebRequest, WebResponse};

/// The applicant's session cookie (over https `__Host-`: Secure, this host only). `Lax`: it
/// comes along when the person follows a link from our email or from Kontomatik's page.
pub(crate) fn session_cookie(app: &App) -> &'static str {
    if app.settings.public_base_url.starts_with("https://") {
        "__Host-signin-session"
    } else {
        "signin-session"
    }
}

/// The logged-in applicant of this request, if its session is live.
pub(crate) async fn current_applicant(app: &App, req: &WebRequest) -> Option<UserProfile> {
    let cookie = cookie_value(req, session_cookie(app))?;
    match app.applicant_session(cookie).await {
        Ok(person) => person,
        Err(e) => {
            tracing::warn!(error = %e, "a session could not be checked; treated as logged out");
            None
        }
    }
}

fn lang_of(raw: Option<&str>, fallback: &str) -> String {
    raw.and_then(|l| Language::parse(l).ok())
        .map(|l| l.as_str().to_owned())
        .unwrap_or_else(|| fallback.to_owned())
}

/// The log-in form, remembering the sign-in the person came back from.
pub(crate) fn login_form(
    app: &App,
    binding: &str,
    l: &str,
    status: u16,
    redirection: Option<&RedirectionId>,
    intro: &[&str],
    error: Option<&str>,
) -> WebResponse {
    let token = match app.form_token(Form::Login, binding) {
        Ok(t) => t,
        Err(e) => return internal_error(app, l, &e),
    };
    let t = |text: Text| text.get(l);
    WebResponse::html(
        status,
        pages::layout(
            t(copy::LOG_IN),
            &app.settings.company_name,
            l,
            html! {
                h1 id="login" { (t(copy::LOG_IN_TO_SEE_YOUR_APPLICATIONS)) }
                @for p in intro { p { (p) } }
                @if let Some(e) = error { div.error role="alert" { (e) } }
                form method="post" action="/login" {
                    input type="hidden" name="formToken" value=(token);
                    input type="hidden" name="language" value=(l);
                    @if let Some(id) = redirection {
                        input type="hidden" name="redirectionId" value=(id.as_str());
                    }
                    label for="login-email" { (t(copy::YOUR_EMAIL)) }
                    input type="email" id="login-email" name="email" required autocomplete="email" maxlength="254";
                    button.primary type="submit" id="send-login" { (t(copy::EMAIL_ME_A_LOG_IN_LINK)) }
                }
                p.muted { (t(copy::NO_PASSWORD_WE_EMAIL_YOU_A)) }
            },
        ),
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginBody {
    email: Option<String>,
    language: Option<String>,
    redirection_id: Option<String>,
    form_token: Option<String>,
}

/// `GET /login`: the form (a `redirectionId` in the query is remembered through it).
pub(crate) fn login_page(app: &App, binding: &str, l: &str, raw_id: Option<&str>) -> WebResponse {
    let id = raw_id.and_then(|r| RedirectionId::parse(r).ok());
    login_form(app, binding, l, 200, id.as_ref(), &[], None)
}

/// `POST /login`: mails a one-time link; the same answer whether the address is known or not.
pub(crate) async fn login_submit(
    app: &App,
    req: &WebRequest,
    binding: &str,
    fallback: &str,
) -> WebResponse {
    let form: LoginBody = serde_urlencoded::from_bytes(&req.body).unwrap_or_default();
    let l = lang_of(form.language.as_deref(), fallback);
    let l = l.as_str();
    let redirection = form
        .redirection_id
        .as_deref()
        .and_then(|r| RedirectionId::parse(r).ok());
    if let Err(e) = app
        .use_form_token(Form::Login, form.form_token.as_deref(), binding)
        .await
    {
        return form_refused(app, l, e);
    }
    let language = Language::parse(l).unwrap_or(app.settings.default_language);
    let from = requester(req, binding, None);
    match app
        .request_applicant_login(
            form.email.as_deref().unwrap_or(""),
            language,
            redirection.clone(),
            &from,
        )
        .await
    {
        Ok(()) => {
            let t = |text: Text| text.get(l);
            WebResponse::html(
                200,
                pages::message(
                    &app.settings.company_name,
                    l,
                    t(copy::CHECK_YOUR_INBOX),
                    &[t(copy::IF_THE_ADDRESS_IS_RIGHT_A)],
                    None,
                ),
            )
        }
        Err(LoginError::Invalid(_)) => login_form(
            app,
            binding,
            l,
            400,
            redirection.as_ref(),
            &[],
            Some(copy::PLEASE_ENTER_A_VALID_EMAIL_ADDRESS.get(l)),
        ),
        Err(LoginError::Limited { limit, retry_after }) => limited(app, l, limit, retry_after),
        Err(LoginError::Internal(signin_core::usecases::FlowError::Mail(_))) => {
            // Not the provider's message: it may name the address.
            tracing::warn!("a log-in link could not be mailed");
            WebResponse::html(
                503,
                pages::message(
                    &app.settings.company_name,
                    l,
                    copy::WE_COULD_NOT_SEND_THE_EMAIL.get(l),
                    &[copy::PLEASE_TRY_AGAIN_IN_A_FEW_2.get(l)],
                    None,
                ),
            )
            .with_header("retry-after", "120")
        }
        Err(e) => internal_error(app, l, &e),
    }
}

/// `GET /login/link?t=`: the emailed link shows a button (mail scanners follow links) and
/// whose account it opens.
pub(crate) async fn login_link(
    app: &App,
    binding: &str,
    l: &str,
    token: Option<&str>,
) -> WebResponse {
    let address = match app.login_link_address(token.unwrap_or("")).await {
        Ok(a) => a,
        Err(e) => return login_link_error(app, l, e),
    };
    let text = if l == "pl" {
        format!(
            "Ten link loguje na konto {}. Jeśli to nie Twój adres, nie klikaj.",
            pages::mask_email(address.as_str())
        )
    } else {
        format!(
            "This link logs in as {}. If that is not your address, do not continue.",
            pages::mask_email(address.as_str())
        )
    };
    match app.form_token(Form::LoginSession, binding) {
        Ok(form_token) => WebResponse::html(
            200,
            pages::confirm(
                &app.settings.company_name,
                l,
                copy::LOG_IN.get(l),
                &text,
                "/login/session",
                token.unwrap_or(""),
                &form_token,
                copy::LOG_IN.get(l),
            ),
        ),
        Err(e) => internal_error(app, l, &e),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenBody {
    t: Option<String>,
    form_token: Option<String>,
}

/// `POST /login/session`: spends the link, sets the session cookie, and opens the sign-in the
/// link remembered when it is the person's (else their page).
pub(crate) async fn login_session(
    app: &App,
    req: &WebRequest,
    binding: &str,
    l: &str,
) -> WebResponse {
    let form: TokenBody = serde_urlencoded::from_bytes(&req.body).unwrap_or_default();
    if let Err(e) = app
        .use_form_token(Form::LoginSession, form.form_token.as_deref(), binding)
        .await
    {
        return form_refused(app, l, e);
    }
    let (session, person, remembered) = match app
        .applicant_session_from_link(form.t.as_deref().unwrap_or(""))
        .await
    {
        Ok(ok) => ok,
        Err(e) => return login_link_error(app, l, e),
    };
    let mut target = "/me".to_owned();
    if let Some(id) = remembered {
        match app.owns_sign_in(&person, &id).await {
            Ok(true) => target = format!("/me?redirectionId={id}"),
            Ok(false) => {}
            Err(e) => return internal_error(app, l, &e),
        }
    }
    let l = person.language.as_str();
    WebResponse::html(
        303,
        pages::message(
            &app.settings.company_name,
            l,
            copy::LOGGED_IN.get(l),
            &[],
            Some((copy::MY_APPLICATIONS.get(l), &target)),
        ),
    )
    .with_header("location", &target)
    .with_header(
        "set-cookie",
        &format!(
            "{}={session}; {}; Max-Age={}",
            session_cookie(app),
            cookie_attributes(app, "Lax"),
            APPLICANT_SESSION_LIFE.num_seconds()
        ),
    )
}

/// What a stage means for the person, and what they can do next.
fn stage_text(
    l: &str,
    stage: SignInStage,
) -> (
    &'static str,
    &'static str,
    Option<(&'static str, &'static str)>,
) {
    let t = |text: Text| text.get(l);
    match stage {
        SignInStage::WaitingForBank => (
            t(copy::WAITING_FOR_YOUR_BANK_SIGN_IN),
            t(copy::IF_YOU_DID_NOT_FINISH_AT),
            None,
        ),
        SignInStage::Importing => (
            t(copy::IMPORTING_YOUR_DATA),
            t(copy::YOUR_BANK_CONNECTION_WORKED_WE_ARE),
            None,
        ),
        SignInStage::Received => (
            t(copy::DATA_RECEIVED),
            t(copy::WE_HAVE_YOUR_BANK_DATA_AND),
            None,
        ),
        SignInStage::Failed => (
            t(copy::THE_BANK_SIGN_IN_DID_NOT),
            t(copy::NOTHING_WAS_SHARED_YOU_CAN_TRY),
            Some((t(copy::TRY_AGAIN), "/")),
        ),
        SignInStage::ImportFailed => (
            t(copy::WE_COULD_NOT_FETCH_YOUR_DATA),
            t(copy::THE_BANK_CONNECTION_WORKED_BUT_FETCHING),
            Some((t(copy::TRY_AGAIN), "/")),
        ),
        SignInStage::Expired => (
            t(copy::THE_SIGN_IN_LINK_EXPIRED),
            t(copy::THE_BANK_SIGN_IN_WAS_NOT),
            Some((t(copy::START_A_NEW_SIGN_IN), "/")),
        ),
    }
}

/// `GET /me`: the logged-in person's applications; the log-in form for everyone else.
pub(crate) async fn my_page(
    app: &App,
    req: &WebRequest,
    binding: &str,
    fallback: &str,
    raw_id: Option<&str>,
) -> WebResponse {
    let focus = raw_id.and_then(|r| RedirectionId::parse(r).ok());
    let Some(person) = current_applicant(app, req).await else {
        return login_form(app, binding, fallback, 200, focus.as_ref(), &[], None);
    };
    let l = person.language.as_str();
    let views = match app.my_sign_ins(&person).await {
        Ok(v) => v,
        Err(e) => return internal_error(app, l, &e),
    };
    // The lender's latest word on the application, if any (the rest of the page stands
    // without it).
    let decision = match app.own_case(&person).await {
        Ok(case) => case.and_then(|c| c.latest_decision().cloned()),
        Err(e) => {
            tracing::warn!(error = %e, "the applicant's case could not be read for their page");
            None
        }
    };
    let (erase, account_token) = match (
        app.own_erase_url(&person),
        app.form_token(Form::Account, binding),
    ) {
        (Ok(e), Ok(t)) => (e, t),
        (Err(e), _) | (_, Err(e)) => return internal_error(app, l, &e),
    };
    // The focused sign-in first (only if it is the person's: it is among their own).
    let mut views: Vec<SignInView> = views;
    if let Some(id) = &focus {
        views.sort_by_key(|v| &v.id != id);
    }
    let t = |text: Text| text.get(l);
    let day = |v: &SignInView| {
        if l == "pl" {
            v.started_at.format("%d.%m.%Y %H:%M UTC").to_string()
        } else {
            v.started_at.format("%-d %b %Y %H:%M UTC").to_string()
        }
    };
    WebResponse::html(
        200,
        pages::layout(
            t(copy::MY_APPLICATIONS),
            &app.settings.company_name,
            l,
            html! {
                h1 id="my-applications" { (t(copy::MY_APPLICATIONS)) }
                p.muted { (t(copy::LOGGED_IN_AS)) strong { (pages::mask_email(person.email.as_str())) } }
                @if let Some(d) = &decision {
                    @let (_, said) = signin_core::notify::decision_words(d.kind, person.language);
                    section id="decision" data-kind=(d.kind.as_str()) style="border:2px solid #2b6cb0;border-radius:8px;padding:10px;margin:12px 0" {
                        h2 style="font-size:1.1rem;margin:.2em 0" { (t(copy::OUR_NEXT_STEP)) }
                        p { (said) }
                        div id="decision-message" {
                            @for line in d.message.lines() {
                                p style="margin:4px 0" { (line) }
                            }
                        }
                        p.muted { (if l == "pl" { d.at.format("%d.%m.%Y %H:%M UTC").to_string() } else { d.at.format("%-d %b %Y %H:%M UTC").to_string() }) }
                    }
                }
                @if views.is_empty() {
                    p id="no-sign-ins" { (t(copy::YOU_HAVE_NO_BANK_CONNECTIONS_YET)) }
                }
                @for v in &views {
                    @let (title, text, action) = stage_text(l, v.stage);
                    @let focused = focus.as_ref() == Some(&v.id);
                    section.sign-in data-stage=(format!("{:?}", v.stage)) style=(if focused { "border:2px solid #2b6cb0;border-radius:8px;padding:10px;margin:12px 0" } else { "border-top:1px solid #e3e8ef;padding:10px 0;margin:12px 0" }) {
                        p.muted { (t(copy::BANK_CONNECTION_STARTED)) (day(v)) }
                        h2 style="font-size:1.1rem;margin:.2em 0" { (title) }
                        p { (text) }
                        @if let Some((label, href)) = action {
                            a.button.secondary href=(href) { (label) }
                        }
                    }
                }
                a.button.primary href="/" id="connect-another" { (t(copy::CONNECT_ANOTHER_BANK)) }
                form method="post" action="/me/consent" {
                    input type="hidden" name="formToken" value=(account_token);
                    @if person.follow_up_consent() {
                        input type="hidden" name="followUps" value="no";
                        p.muted { (t(copy::WE_MAY_EMAIL_YOU_ONCE_IF)) }
                        button.secondary type="submit" id="follow-ups-off" { (t(copy::NO_FOLLOW_UP_EMAILS)) }
                    } @else {
                        input type="hidden" name="followUps" value="yes";
                        p.muted { (t(copy::WE_SEND_YOU_NO_FOLLOW_UP)) }
                        button.secondary type="submit" id="follow-ups-on" { (t(copy::EMAIL_ME_ONCE_IF_I_DON)) }
                    }
                }
                form method="post" action="/logout" {
                    input type="hidden" name="formToken" value=(account_token);
                    button.secondary type="submit" id="logout" { (t(copy::LOG_OUT_ON_EVERY_DEVICE)) }
                }
                p { a href=(erase) id="erase" { (t(copy::DELETE_MY_DATA)) } }
            },
        ),
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountBody {
    form_token: Option<String>,
    follow_ups: Option<String>,
}

/// The logged-in person of a form on their page (its token checked, not spent: the page has
/// two forms).
async fn account_form(
    app: &App,
    req: &WebRequest,
    binding: &str,
    l: &str,
) -> Result<(UserProfile, AccountBody), WebResponse> {
    let form: AccountBody = serde_urlencoded::from_bytes(&req.body).unwrap_or_default();
    if app
        .check_form_token(Form::Account, form.form_token.as_deref(), binding)
        .is_err()
    {
        return Err(forbidden(app, l));
    }
    match current_applicant(app, req).await {
        Some(person) => Ok((person, form)),
        None => Err(login_form(app, binding, l, 401, None, &[], None)),
    }
}

/// `POST /me/consent`: the person's own follow-up choice (may undo an unsubscribe).
pub(crate) async fn my_consent(app: &App, req: &WebRequest, binding: &str, l: &str) -> WebResponse {
    let (person, form) = match account_form(app, req, binding, l).await {
        Ok(ok) => ok,
        Err(page) => return page,
    };
    let given = form.follow_ups.as_deref() == Some("yes");
    if let Err(e) = app.record_own_consent(&person, given).await {
        return internal_error(app, l, &e);
    }
    WebResponse::html(303, String::new()).with_header("location", "/me")
}

/// `POST /logout`: ends every session of the person and clears this browser's cookie.
pub(crate) async fn logout(app: &App, req: &WebRequest, binding: &str, l: &str) -> WebResponse {
    let (person, _) = match account_form(app, req, binding, l).await {
        Ok(ok) => ok,
        Err(page) => return page,
    };
    if let Err(e) = app.end_applicant_sessions(&person).await {
        return internal_error(app, l, &e);
    }
    let l = person.language.as_str();
    WebResponse::html(
        200,
        pages::message(
            &app.settings.company_name,
            l,
            copy::LOGGED_OUT.get(l),
            &[copy::YOU_ARE_LOGGED_OUT_ON_EVERY.get(l)],
            None,
        ),
    )
    .with_header(
        "set-cookie",
        &format!(
            "{}=; {}; Max-Age=0",
            session_cookie(app),
            cookie_attributes(app, "Lax")
        ),
    )
}
