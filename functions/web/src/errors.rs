//! The pages for what went wrong: each use case's errors map to their page here, once.

use signin_core::copy::{self, Text};
use signin_core::domain::InvalidInput;
use signin_core::usecases::{
    CallbackError, EraseError, FormError, Limited, LinkUseError, LoginError, StaffError,
    StaffLoginError, StartError,
};
use signin_core::App;

use crate::pages::{self};
use crate::routes::account;
use crate::routes::start::start_form;

/// What a route gives: its page, or the page of what went wrong (both are answers).
pub(crate) type Page = Result<WebResponse, WebResponse>;
use crate::request::*;

/// A message page in both languages: (English, Polish) title, text and button label; the
/// button leads to the start page.
pub(crate) fn notice(
    app: &App,
    l: &str,
    status: u16,
    title: Text,
    text: Text,
    button: Text,
) -> WebResponse {
    WebResponse::html(
        status,
        pages::message(
            &app.settings.company_name,
            l,
            title.get(l),
            &[text.get(l)],
            Some((button.get(l), &app.start_url_in(l))),
        ),
    )
}

pub(crate) fn not_found(app: &App, l: &str) -> WebResponse {
    notice(
        app,
        l,
        404,
        copy::PAGE_NOT_FOUND,
        copy::THERE_IS_NO_PAGE_AT_THIS,
        copy::START,
    )
}

/// A cross-site post, or a form that did not come from our page.
/// A request to the HTTP API's own URL when the pages are served through CloudFront.
pub(crate) fn not_through_the_edge(app: &App) -> WebResponse {
    WebResponse::html(
        403,
        pages::message(
            &app.settings.company_name,
            "en",
            "Not here",
            &["These pages are served at their own address only."],
            Some((
                "Open the start page",
                &format!("{}/", app.settings.public_base_url),
            )),
        ),
    )
}

pub(crate) fn forbidden(app: &App, l: &str) -> WebResponse {
    notice(
        app,
        l,
        403,
        copy::THIS_FORM_DID_NOT_COME_FROM,
        copy::FOR_YOUR_SAFETY_WE_ONLY_ACCEPT,
        copy::OPEN_THE_START_PAGE,
    )
}

/// A form sent a second time (its token is spent).
/// The page for a form token that was refused: forged or from elsewhere (403), or the store
/// failing (500).
pub(crate) fn form_refused(app: &App, l: &str, e: FormError) -> WebResponse {
    match e {
        FormError::Internal(e) => internal_error(app, l, &e),
        _ => forbidden(app, l),
    }
}

pub(crate) fn replayed(app: &App, l: &str) -> WebResponse {
    notice(
        app,
        l,
        409,
        copy::THIS_FORM_WAS_ALREADY_SENT,
        copy::WE_RECEIVED_IT_THE_FIRST_TIME,
        copy::START_AGAIN,
    )
}

/// An abuse limit: a 429 with `Retry-After`, nothing sent, nothing asked of Kontomatik.
pub(crate) fn limited(
    app: &App,
    l: &str,
    limit: Limited,
    retry_after: chrono::Duration,
) -> WebResponse {
    let seconds = retry_after.num_seconds().max(1);
    let minutes = (seconds + 59) / 60;
    let text = match (limit, l == "pl") {
        (Limited::StartsFromClient, false) => format!(
            "Too many sign-ins were started from your network in the last hour. Please try again in {minutes} min."
        ),
        (Limited::StartsFromClient, true) => format!(
            "Z Twojej sieci rozpoczęto w ostatniej godzinie zbyt wiele logowań. Spróbuj ponownie za {minutes} min."
        ),
        (Limited::LinkEmails, false) => "We have already emailed this address as many links as we send in one day. Please use a link you received, or try again tomorrow.".to_owned(),
        (Limited::LinkEmails, true) => "Na ten adres wysłaliśmy już dziś tyle linków, ile wysyłamy w ciągu dnia. Użyj otrzymanego linku albo spróbuj jutro.".to_owned(),
    };
    WebResponse::html(
        429,
        pages::message(
            &app.settings.company_name,
            l,
            copy::PLEASE_WAIT_A_LITTLE.get(l),
            &[&text, copy::NOTHING_WAS_SENT.get(l)],
            None,
        ),
    )
    .with_header("retry-after", &seconds.to_string())
}

pub(crate) fn internal_error(app: &App, l: &str, e: &dyn std::fmt::Display) -> WebResponse {
    tracing::error!(error = %e, "a page failed");
    WebResponse::html(
        500,
        pages::message(
            &app.settings.company_name,
            l,
            copy::SOMETHING_WENT_WRONG_ON_OUR_SIDE.get(l),
            &[copy::PLEASE_TRY_AGAIN_IN_A_MOMENT.get(l)],
            None,
        ),
    )
}

/// What an invalid field means, for the person who typed it.
pub(crate) fn invalid_message(e: &InvalidInput, l: &str) -> String {
    if l != "pl" {
        return e.to_string();
    }
    match (e.field(), e) {
        ("email", InvalidInput::Missing { .. }) => "Podaj adres e-mail.".into(),
        ("email", _) => {
            "Ten adres e-mail jest nieprawidłowy: wpisz go jak imie@example.com.".into()
        }
        ("name", InvalidInput::Missing { .. }) => "Podaj imię i nazwisko.".into(),
        ("name", InvalidInput::TooLong { max, .. }) => {
            format!("Imię i nazwisko jest za długie (maks. {max} znaków).")
        }
        ("name", _) => {
            "Imię i nazwisko może zawierać tylko litery, spacje, apostrofy i łączniki.".into()
        }
        _ => "Wybierz jedną z wartości z listy.".into(),
    }
}

/// An erasure that could not finish yet: nothing was deleted here, the person tries again.
pub(crate) fn erase_later(company: &str, l: &str, why: &str) -> WebResponse {
    WebResponse::html(
        503,
        pages::message(
            company,
            l,
            copy::PLEASE_TRY_AGAIN_IN_A_FEW.get(l),
            &[why],
            None,
        ),
    )
    .with_header("retry-after", "300")
}

pub(crate) fn link_error_page(
    app: &App,
    l: &str,
    e: &signin_core::domain::links::LinkError,
) -> WebResponse {
    use signin_core::domain::links::LinkError;
    let company = &app.settings.company_name;
    let start = app.start_url_in(l);
    let button = Some((copy::START_AGAIN.get(l), start.as_str()));
    match e {
        LinkError::Expired => WebResponse::html(
            410,
            pages::message(
                company,
                l,
                copy::THIS_LINK_HAS_EXPIRED.get(l),
                &[copy::YOU_CAN_START_A_NEW_SIGN.get(l)],
                button,
            ),
        ),
        LinkError::Invalid => WebResponse::html(
            400,
            pages::message(
                company,
                l,
                copy::THIS_LINK_IS_NOT_VALID.get(l),
                &[copy::IT_MAY_HAVE_BEEN_CUT_OFF.get(l)],
                button,
            ),
        ),
    }
}

/// The page for a signed link that could not be used.
pub(crate) fn link_use_error(app: &App, l: &str, e: LinkUseError) -> WebResponse {
    let company = &app.settings.company_name;
    match e {
        LinkUseError::Link(e) => link_error_page(app, l, &e),
        LinkUseError::UnknownUser => {
            link_error_page(app, l, &signin_core::domain::links::LinkError::Invalid)
        }
        LinkUseError::Start(StartError::Limited { limit, retry_after }) => {
            limited(app, l, limit, retry_after)
        }
        LinkUseError::Start(StartError::Unavailable(_)) => WebResponse::html(
            503,
            pages::message(
                company,
                l,
                copy::PLEASE_TRY_AGAIN_IN_A_MINUTE.get(l),
                &[copy::THE_BANK_CONNECTION_SERVICE_IS_BUSY.get(l)],
                None,
            ),
        )
        .with_header("retry-after", "60"),
        e => internal_error(app, l, &e),
    }
}

pub(crate) fn not_found_en(app: &App) -> WebResponse {
    not_found(app, "en")
}

/// The page for a start that was refused: the form again (as typed, when it is safe to show
/// it back) with what to do, or the page of a limit, a replay or a forged post.
pub(crate) fn start_error(
    app: &App,
    req: &WebRequest,
    binding: &str,
    values: &pages::StartValues,
    e: StartError,
) -> WebResponse {
    let l = values.language.as_str();
    match e {
        StartError::Invalid(e) => {
            start_form(app, binding, 400, values, Some(&invalid_message(&e, l)))
        }
        // Our own page, by the browser's word, but its binding cookie is gone (a restarted
        // browser, a restored tab): the form again, as typed, with a fresh token and cookie.
        // From anywhere else nothing typed is shown back (a forged post must not come back as
        // a filled-in form to click).
        StartError::Form(FormError::Invalid)
            if req.header("sec-fetch-site") == Some("same-origin") =>
        {
            start_form(
                app,
                binding,
                400,
                values,
                Some(copy::FOR_YOUR_SAFETY_PLEASE_CHECK_THE.get(l)),
            )
        }
        StartError::Form(FormError::Invalid) => forbidden(app, l),
        StartError::Form(FormError::Expired) => start_form(
            app,
            binding,
            400,
            values,
            Some(copy::THIS_PAGE_WAS_OPEN_FOR_A.get(l)),
        ),
        StartError::Form(FormError::Replayed) => replayed(app, l),
        StartError::Form(FormError::Internal(e)) => internal_error(app, l, &e),
        StartError::Limited { limit, retry_after } => limited(app, l, limit, retry_after),
        StartError::LoginRequired => account::login_form(
            app,
            binding,
            l,
            401,
            None,
            &[copy::PLEASE_LOG_IN_FIRST_WE_START.get(l)],
            None,
        ),
        StartError::Unavailable(e) => {
            tracing::warn!(error = %e, "Kontomatik unavailable at start");
            start_form(
                app,
                binding,
                503,
                values,
                Some(copy::THE_BANK_CONNECTION_SERVICE_IS_BUSY_2.get(l)),
            )
            .with_header("retry-after", "60")
        }
        StartError::Internal(e) => {
            tracing::error!(error = %e, "start failed");
            start_form(
                app,
                binding,
                500,
                values,
                Some(copy::SOMETHING_WENT_WRONG_ON_OUR_SIDE_2.get(l)),
            )
        }
    }
}

/// The page for a callback whose sign-in cannot be looked at: a bad or unknown id, or our
/// failure (the sign-in is not lost: the poller carries on).
pub(crate) fn callback_error(app: &App, l: &str, e: CallbackError) -> WebResponse {
    let company = &app.settings.company_name;
    match e {
        CallbackError::Invalid(_) => WebResponse::html(
            400,
            pages::message(
                company,
                l,
                copy::THIS_LINK_IS_NOT_VALID.get(l),
                &[copy::THE_ADDRESS_IS_MISSING_A_VALID.get(l)],
                Some((copy::START_AGAIN.get(l), &app.start_url_in(l))),
            ),
        ),
        CallbackError::Unknown => WebResponse::html(
            404,
            pages::message(
                company,
                l,
                copy::WE_DON_T_KNOW_THIS_SIGN.get(l),
                &[copy::IT_MAY_BE_MORE_THAN_A.get(l)],
                Some((copy::START_AGAIN.get(l), &app.start_url_in(l))),
            ),
        ),
        CallbackError::Internal(e) => {
            tracing::error!(error = %e, "callback failed");
            WebResponse::html(
                500,
                pages::message(
                    company,
                    l,
                    copy::SOMETHING_WENT_WRONG_ON_OUR_SIDE.get(l),
                    &[copy::YOUR_SIGN_IN_IS_NOT_LOST.get(l)],
                    None,
                ),
            )
        }
    }
}

/// The page for a confirm page's button that was refused (its form token).
pub(crate) fn confirm_button_error(app: &App, l: &str, e: FormError) -> WebResponse {
    match e {
        FormError::Invalid => forbidden(app, l),
        FormError::Expired => WebResponse::html(
            400,
            pages::message(
                &app.settings.company_name,
                l,
                copy::THIS_PAGE_WAS_OPEN_TOO_LONG.get(l),
                &[copy::FOR_YOUR_SAFETY_THE_BUTTON_HAS.get(l)],
                None,
            ),
        ),
        FormError::Replayed => replayed(app, l),
        FormError::Internal(e) => internal_error(app, l, &e),
    }
}

/// The page for an erasure that did not happen: a bad link, or one of the parties that must
/// delete too could not be reached (nothing was deleted; the person tries again).
pub(crate) fn erase_error(app: &App, l: &str, e: EraseError) -> WebResponse {
    let company = &app.settings.company_name;
    match e {
        EraseError::Link(e) => link_error_page(app, l, &e),
        EraseError::Unavailable(e) => {
            tracing::warn!(error = %e, "erasure waits for Kontomatik");
            erase_later(company, l, copy::WE_COULD_NOT_REACH_THE_BANK.get(l))
        }
        EraseError::SubscribersUnavailable(e) => {
            tracing::warn!(error = %e, "erasure waits for the event bus");
            erase_later(company, l, copy::WE_COULD_NOT_FINISH_DELETING_YOUR.get(l))
        }
        EraseError::Internal(e) => internal_error(app, l, &e),
    }
}

/// The page for a staff log-in request that was not taken (a limit, or our failure).
pub(crate) fn staff_login_error(app: &App, e: StaffLoginError) -> WebResponse {
    match e {
        StaffLoginError::Limited { retry_after } => {
            limited(app, "en", Limited::StartsFromClient, retry_after)
        }
        StaffLoginError::Internal(e) => internal_error(app, "en", &e),
    }
}

/// The page for a staff log-in link that did not give a session.
pub(crate) fn staff_session_error(app: &App, e: StaffError) -> WebResponse {
    match e {
        StaffError::Used => replayed(app, "en"),
        StaffError::Link(e) => link_error_page(app, "en", &e),
        StaffError::Internal(e) => internal_error(app, "en", &e),
    }
}

/// The page for a log-in link that cannot be used: spent, expired or forged, or our failure.
pub(crate) fn login_link_error(app: &App, l: &str, e: LoginError) -> WebResponse {
    match e {
        LoginError::Link(e) => link_error_page(app, l, &e),
        LoginError::Used => replayed(app, l),
        e => internal_error(app, l, &e),
    }
}
