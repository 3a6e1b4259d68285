//! The applicant's own side: log-in by emailed link (`/login`, `/login/link`,
//! `/login/session`), their page of applications (`/me`), their follow-up choice and log-out.
//! No page here shows bank data; a sign-in is shown only to its logged-in owner.

use maud::html;
use serde::Deserialize;
use signin_core::domain::links::Form;
use signin_core::domain::{Language, RedirectionId};
use signin_core::ports::UserProfile;
use signin_core::usecases::{LoginError, SignInStage, SignInView, APPLICANT_SESSION_LIFE};
use signin_core::App;

use crate::errors::{forbidden, form_refused, internal_error, limited, login_link_error};
use crate::guard::{cookie_attributes, requester};
use crate::pages::{self, tr};
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
    let t = |en, pl| tr(l, en, pl);
    WebResponse::html(
        status,
        pages::layout(
            t("Log in", "Zaloguj się"),
            &app.settings.company_name,
            l,
            html! {
                h1 id="login" { (t("Log in to see your applications", "Zaloguj się, aby zobaczyć swoje wnioski")) }
                @for p in intro { p { (p) } }
                @if let Some(e) = error { div.error role="alert" { (e) } }
                form method="post" action="/login" {
                    input type="hidden" name="formToken" value=(token);
                    input type="hidden" name="language" value=(l);
                    @if let Some(id) = redirection {
                        input type="hidden" name="redirectionId" value=(id.as_str());
                    }
                    label for="login-email" { (t("Your email", "Twój e-mail")) }
                    input type="email" id="login-email" name="email" required autocomplete="email" maxlength="254";
                    button.primary type="submit" id="send-login" { (t("Email me a log-in link", "Wyślij mi link do logowania")) }
                }
                p.muted { (t(
                    "No password: we email you a link that works once, for 15 minutes. Following it proves the address is yours.",
                    "Bez hasła: wyślemy Ci link, który działa raz, przez 15 minut. Otwarcie go potwierdza, że adres należy do Ciebie.",
                )) }
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
            let t = |en, pl| tr(l, en, pl);
            WebResponse::html(
                200,
                pages::message(
                    &app.settings.company_name,
                    l,
                    t("Check your inbox", "Sprawdź skrzynkę"),
                    &[t(
                        "If the address is right, a log-in link is on its way. It works once, for 15 minutes, in any browser.",
                        "Jeśli adres jest poprawny, link do logowania jest już w drodze. Działa raz, przez 15 minut, w dowolnej przeglądarce.",
                    )],
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
            Some(tr(
                l,
                "Please enter a valid email address.",
                "Podaj prawidłowy adres e-mail.",
            )),
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
                    tr(
                        l,
                        "We could not send the email",
                        "Nie udało się wysłać wiadomości",
                    ),
                    &[tr(
                        l,
                        "Please try again in a few minutes.",
                        "Spróbuj ponownie za kilka minut.",
                    )],
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
                tr(l, "Log in", "Zaloguj się"),
                &text,
                "/login/session",
                token.unwrap_or(""),
                &form_token,
                tr(l, "Log in", "Zaloguj się"),
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
            tr(l, "Logged in", "Zalogowano"),
            &[],
            Some((tr(l, "My applications", "Moje wnioski"), &target)),
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
    let t = |en: &'static str, pl: &'static str| if l == "pl" { pl } else { en };
    match stage {
        SignInStage::WaitingForBank => (
            t("Waiting for your bank sign-in", "Czekamy na logowanie w banku"),
            t("If you did not finish at your bank, the link works for one hour; after that, start a new one.", "Jeśli nie dokończyłeś logowania w banku, link działa przez godzinę; potem rozpocznij nowe."),
            None,
        ),
        SignInStage::Importing => (
            t("Importing your data", "Pobieramy Twoje dane"),
            t("Your bank connection worked; we are fetching the data. We will email you when it is done.", "Połączenie z bankiem się udało; pobieramy dane. Napiszemy, gdy skończymy."),
            None,
        ),
        SignInStage::Received => (
            t("Data received", "Dane otrzymane"),
            t("We have your bank data and are reviewing it. Our decision or the next step will appear here, and we will email you.", "Mamy dane z Twojego banku i je analizujemy. Decyzja lub kolejny krok pojawi się tutaj; wyślemy też e-mail."),
            None,
        ),
        SignInStage::Failed => (
            t("The bank sign-in did not finish", "Logowanie w banku nie zostało dokończone"),
            t("Nothing was shared. You can try again.", "Nic nie zostało udostępnione. Możesz spróbować ponownie."),
            Some((t("Try again", "Spróbuj ponownie"), "/")),
        ),
        SignInStage::ImportFailed => (
            t("We could not fetch your data", "Nie udało się pobrać danych"),
            t("The bank connection worked but fetching the data failed. Please connect again.", "Połączenie z bankiem się udało, ale pobranie danych nie. Połącz się ponownie."),
            Some((t("Try again", "Spróbuj ponownie"), "/")),
        ),
        SignInStage::Expired => (
            t("The sign-in link expired", "Link do logowania wygasł"),
            t("The bank sign-in was not finished in time. Start a fresh one – it only takes a minute.", "Logowanie w banku nie zostało dokończone na czas. Rozpocznij nowe – to zajmie minutę."),
            Some((t("Start a new sign-in", "Rozpocznij nowe logowanie"), "/")),
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
    let t = |en, pl| tr(l, en, pl);
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
            t("My applications", "Moje wnioski"),
            &app.settings.company_name,
            l,
            html! {
                h1 id="my-applications" { (t("My applications", "Moje wnioski")) }
                p.muted { (t("Logged in as ", "Zalogowano jako ")) strong { (pages::mask_email(person.email.as_str())) } }
                @if views.is_empty() {
                    p id="no-sign-ins" { (t("You have no bank connections yet.", "Nie masz jeszcze połączeń z bankiem.")) }
                }
                @for v in &views {
                    @let (title, text, action) = stage_text(l, v.stage);
                    @let focused = focus.as_ref() == Some(&v.id);
                    section.sign-in data-stage=(format!("{:?}", v.stage)) style=(if focused { "border:2px solid #2b6cb0;border-radius:8px;padding:10px;margin:12px 0" } else { "border-top:1px solid #e3e8ef;padding:10px 0;margin:12px 0" }) {
                        p.muted { (t("Bank connection started ", "Połączenie z bankiem rozpoczęte ")) (day(v)) }
                        h2 style="font-size:1.1rem;margin:.2em 0" { (title) }
                        p { (text) }
                        @if let Some((label, href)) = action {
                            a.button.secondary href=(href) { (label) }
                        }
                    }
                }
                a.button.primary href="/" id="connect-another" { (t("Connect another bank", "Połącz kolejny bank")) }
                form method="post" action="/me/consent" {
                    input type="hidden" name="formToken" value=(account_token);
                    @if person.follow_up_consent() {
                        input type="hidden" name="followUps" value="no";
                        p.muted { (t("We may email you once if a sign-in is not finished.", "Możemy raz napisać, jeśli logowanie nie zostanie dokończone.")) }
                        button.secondary type="submit" id="follow-ups-off" { (t("No follow-up emails", "Bez przypomnień e-mail")) }
                    } @else {
                        input type="hidden" name="followUps" value="yes";
                        p.muted { (t("We send you no follow-up emails.", "Nie wysyłamy Ci przypomnień e-mail.")) }
                        button.secondary type="submit" id="follow-ups-on" { (t("Email me once if I don't finish", "Przypomnij mi raz, jeśli nie dokończę")) }
                    }
                }
                form method="post" action="/logout" {
                    input type="hidden" name="formToken" value=(account_token);
                    button.secondary type="submit" id="logout" { (t("Log out on every device", "Wyloguj na wszystkich urządzeniach")) }
                }
                p { a href=(erase) id="erase" { (t("Delete my data", "Usuń moje dane")) } }
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
            tr(l, "Logged out", "Wylogowano"),
            &[tr(
                l,
                "You are logged out on every device.",
                "Wylogowano Cię na wszystkich urządzeniach.",
            )],
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
