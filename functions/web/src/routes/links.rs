//! The signed links in emails: resume, unsubscribe (also one-click) and erase, each a page
//! with a button and its POST.

use signin_core::copy::{self, Text};
use signin_core::domain::links::Form;
use signin_core::App;

use crate::errors::*;
use crate::guard::*;
use crate::pages::{self};
use crate::request::*;
use crate::routes::{account, Route};

/// What a confirm page says, in both languages: (title, text, action, button).
pub(crate) struct Confirm {
    pub(crate) form: Form,
    pub(crate) purpose: signin_core::domain::links::Purpose,
    pub(crate) title: Text,
    pub(crate) text: Text,
    pub(crate) button: Text,
}

pub(crate) const RESUME: Confirm = Confirm {
    form: Form::Resume,
    purpose: signin_core::domain::links::Purpose::Resume,
    title: copy::CONTINUE_CONNECTING_YOUR_BANK,
    text: copy::RESUME_CONFIRM_TEXT,
    button: copy::CONTINUE_TO_MY_BANK,
};

pub(crate) const UNSUBSCRIBE: Confirm = Confirm {
    form: Form::Unsubscribe,
    purpose: signin_core::domain::links::Purpose::Unsubscribe,
    title: copy::UNSUBSCRIBE_FROM_REMINDERS,
    text: copy::UNSUBSCRIBE_CONFIRM_TEXT,
    button: copy::UNSUBSCRIBE,
};

pub(crate) const ERASE: Confirm = Confirm {
    form: Form::Erase,
    purpose: signin_core::domain::links::Purpose::Erase,
    title: copy::DELETE_YOUR_DATA,
    text: copy::ERASE_CONFIRM_TEXT,
    button: copy::DELETE_MY_DATA,
};

/// GET of a signed link: a page with a button (a POST), so mail scanners that follow links
/// change nothing.
pub(crate) fn confirm_page(
    app: &App,
    binding: &str,
    l: &str,
    token: Option<&str>,
    c: &Confirm,
) -> Page {
    let claims = app
        .check_link(token.unwrap_or(""), c.purpose)
        .map_err(|e| link_error_page(app, l, &e))?;
    let lang = claims.language.as_str();
    let (title, text, button) = (c.title.get(lang), c.text.get(lang), c.button.get(lang));
    let action = match c.form {
        Form::Resume => "/resume",
        Form::Unsubscribe => "/unsubscribe",
        _ => "/erase",
    };
    let form_token = app
        .form_token(c.form, binding)
        .map_err(|e| internal_error(app, lang, &e))?;
    Ok(WebResponse::html(
        200,
        pages::confirm(
            &app.settings.company_name,
            lang,
            title,
            text,
            action,
            token.unwrap_or(""),
            &form_token,
            button,
        ),
    ))
}

/// Checks a signed link before anything else (no write): its language for the pages that
/// follow, or the page that says why it cannot be used.
pub(crate) fn checked_link(
    app: &App,
    l: &str,
    token: &str,
    purpose: signin_core::domain::links::Purpose,
) -> Result<String, WebResponse> {
    app.check_link(token, purpose)
        .map(|c| c.language.as_str().to_owned())
        .map_err(|e| link_error_page(app, l, &e))
}

/// A confirm page's POST: its form token is checked and spent before anything else, unless
/// this is a one-click unsubscribe.
pub(crate) async fn confirmed(
    app: &App,
    binding: &str,
    l: &str,
    req: &WebRequest,
    form: Form,
) -> Result<(), WebResponse> {
    let (_, form_token) = tokens_of(&req.body, None);
    app.use_form_token(form, form_token.as_deref(), binding)
        .await
        .map_err(|e| confirm_button_error(app, l, e))
}

/// The start of a signed link's POST: the link token (from the body, or the URL) checked
/// first, then the page's form token spent (`form`; none for a one-click unsubscribe). Gives
/// the token and the page language, or the page that says why not.
pub(crate) async fn link_post(
    app: &App,
    binding: &str,
    l: &str,
    req: &WebRequest,
    query_token: Option<&str>,
    purpose: signin_core::domain::links::Purpose,
    form: Option<Form>,
) -> Result<(String, String), WebResponse> {
    let (token, _) = tokens_of(&req.body, query_token);
    let token = token.unwrap_or_default();
    let l = checked_link(app, l, &token, purpose)?;
    if let Some(form) = form {
        confirmed(app, binding, &l, req, form).await?;
    }
    Ok((token, l))
}

/// POST from the resume page's button: a fresh sign-in, straight to the bank.
pub(crate) async fn resume(
    app: &App,
    binding: &str,
    l: &str,
    req: &WebRequest,
    query_token: Option<&str>,
) -> Page {
    let purpose = signin_core::domain::links::Purpose::Resume;
    let form = Some(Form::Resume);
    let (token, l) = link_post(app, binding, l, req, query_token, purpose, form).await?;
    let applicant = account::current_applicant(app, req).await;
    let started = app
        .resume(&token, &requester(req, binding, applicant))
        .await
        .map_err(|e| link_use_error(app, &l, e))?;
    Ok(WebResponse::html(
        303,
        pages::redirecting(
            &app.settings.company_name,
            started.redirection.language.as_str(),
            &started.link,
        ),
    )
    .with_header("location", &started.link))
}

/// POST: from the page's button, or one-click from the mail client (RFC 8058: the token in the
/// URL, `List-Unsubscribe=One-Click` in the body).
pub(crate) async fn unsubscribe(
    app: &App,
    binding: &str,
    l: &str,
    req: &WebRequest,
    query_token: Option<&str>,
) -> Page {
    let purpose = signin_core::domain::links::Purpose::Unsubscribe;
    let form = (!is_one_click(Route::UnsubscribeSubmit, req)).then_some(Form::Unsubscribe);
    let (token, l) = link_post(app, binding, l, req, query_token, purpose, form).await?;
    let claims = app
        .unsubscribe(&token)
        .await
        .map_err(|e| link_use_error(app, &l, e))?;
    let l = claims.language.as_str();
    Ok(WebResponse::html(
        200,
        pages::message(
            &app.settings.company_name,
            l,
            copy::YOU_ARE_UNSUBSCRIBED.get(l),
            &[copy::YOU_WILL_NOT_GET_REMINDER_EMAILS.get(l)],
            None,
        ),
    ))
}

/// POST from the erase page's button: everything of the person goes.
pub(crate) async fn erase(
    app: &App,
    binding: &str,
    l: &str,
    req: &WebRequest,
    query_token: Option<&str>,
) -> Page {
    let purpose = signin_core::domain::links::Purpose::Erase;
    let form = Some(Form::Erase);
    let (token, l) = link_post(app, binding, l, req, query_token, purpose, form).await?;
    let (claims, erased) = app
        .erase_by_link(&token)
        .await
        .map_err(|e| erase_error(app, &l, e))?;
    let l = claims.language.as_str();
    let text = if erased.found.is_empty() {
        copy::WE_HOLD_NO_DATA_ABOUT_YOU.get(l)
    } else {
        copy::WE_DELETED_YOUR_DETAILS_YOUR_SIGN.get(l)
    };
    Ok(WebResponse::html(
        200,
        pages::message(
            &app.settings.company_name,
            l,
            copy::YOUR_DATA_IS_DELETED.get(l),
            &[text],
            None,
        ),
    ))
}
