//! The start form and `POST /start`.

use signin_core::config::ApplicantLogin;
use signin_core::copy::{self};
use signin_core::domain::links::Form;
use signin_core::usecases::{LinkDelivery, StartForm};
use signin_core::App;

use crate::errors::*;
use crate::guard::*;
use crate::pages::{self};
use crate::request::*;
use crate::routes::account;

/// The countries the form offers: the countries of operation (`ALLOWED_COUNTRIES`).
fn offered_countries(app: &App) -> Vec<&'static str> {
    app.settings
        .allowed_countries
        .iter()
        .map(|c| c.as_str())
        .collect()
}

/// `GET /` and `GET /start`: the start form, filled in for a logged-in person (their address
/// locked); with `APPLICANT_LOGIN=required`, the log-in form for anyone else.
pub(crate) async fn start_page(app: &App, req: &WebRequest, binding: &str, l: &str) -> Page {
    let applicant = account::current_applicant(app, req).await;
    if applicant.is_none() && app.settings.applicant_login == ApplicantLogin::Required {
        return Ok(account::login_form(app, binding, l, 200, None, &[], None));
    }
    let values = pages::StartValues {
        language: l.to_owned(),
        country: app.settings.default_country.as_str().into(),
        email: applicant
            .as_ref()
            .map(|a| a.email.as_str().to_owned())
            .unwrap_or_default(),
        name: applicant
            .as_ref()
            .map(|a| a.name.clone())
            .unwrap_or_default(),
        consent: applicant.as_ref().is_some_and(|a| a.follow_up_consent()),
        email_locked: applicant.is_some(),
        countries: offered_countries(app),
    };
    Ok(start_form(app, binding, 200, &values, None))
}

/// The start form with a fresh form token.
pub(crate) fn start_form(
    app: &App,
    binding: &str,
    status: u16,
    values: &pages::StartValues,
    error: Option<&str>,
) -> WebResponse {
    match app.form_token(Form::Start, binding) {
        Ok(token) => WebResponse::html(
            status,
            pages::start(&app.settings.company_name, values, error, &token),
        ),
        Err(e) => internal_error(app, &values.language, &e),
    }
}

pub(crate) async fn start(app: &App, req: &WebRequest, binding: &str) -> Page {
    let body = &req.body;
    if body.len() > MAX_BODY {
        let l = page_lang(app, None);
        return Err(WebResponse::html(
            413,
            pages::message(
                &app.settings.company_name,
                &l,
                copy::TOO_MUCH_DATA.get(&l),
                &[copy::THE_FORM_SENT_MORE_DATA_THAN.get(&l)],
                Some((copy::BACK.get(&l), "/")),
            ),
        ));
    }
    let form: FormBody = match serde_urlencoded::from_bytes(body) {
        Ok(f) => f,
        Err(_) => {
            let values = pages::StartValues {
                language: page_lang(app, None),
                country: app.settings.default_country.as_str().into(),
                countries: offered_countries(app),
                ..Default::default()
            };
            let l = values.language.clone();
            return Err(start_form(
                app,
                binding,
                400,
                &values,
                Some(copy::THE_FORM_COULD_NOT_BE_READ.get(&l)),
            ));
        }
    };
    // What was typed is shown again (escaped by the template), without invisible characters.
    let shown = |v: &Option<String>, max: usize| -> String {
        v.as_deref()
            .unwrap_or_default()
            .chars()
            .filter(|c| !signin_core::domain::is_invisible(*c))
            .take(max)
            .collect()
    };
    let applicant = account::current_applicant(app, req).await;
    let values = pages::StartValues {
        email: match &applicant {
            Some(person) => person.email.as_str().to_owned(),
            None => shown(&form.email, 254),
        },
        email_locked: applicant.is_some(),
        name: shown(&form.name, 100),
        consent: matches!(
            form.follow_up_consent.as_deref(),
            Some("yes" | "true" | "on")
        ),
        language: page_lang(app, form.language.as_deref()),
        country: form
            .country
            .as_deref()
            .and_then(|c| signin_core::domain::Country::parse(c).ok())
            .unwrap_or(app.settings.default_country)
            .as_str()
            .into(),
        countries: offered_countries(app),
    };
    let start_form_values = StartForm {
        email: form.email,
        name: form.name,
        follow_up_consent: form.follow_up_consent,
        language: form.language,
        country: form.country,
        delivery: form.delivery,
        form_token: form.form_token,
    };
    let from = requester(req, binding, applicant);
    let company = &app.settings.company_name;
    let started = app
        .start_sign_in(&start_form_values, &from)
        .await
        .map_err(|e| start_error(app, req, binding, &values, e))?;
    Ok(match started.delivery {
        LinkDelivery::Redirect => WebResponse::html(
            303,
            pages::redirecting(
                company,
                started.redirection.language.as_str(),
                &started.link,
            ),
        )
        .with_header("location", &started.link),
        LinkDelivery::Email => WebResponse::html(
            200,
            pages::link_emailed(
                company,
                started.redirection.language.as_str(),
                &pages::mask_email(started.redirection.email.as_str()),
            ),
        ),
    })
}
