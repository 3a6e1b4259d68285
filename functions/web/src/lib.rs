//! The HTTP side of the flow, independent of any framework: a [`WebRequest`] in, a
//! [`WebResponse`] out. The Lambdas (through `lambda_http`), the local run (through axum) and the
//! tests all call [`handle`]. Every bad input gets a clear 4xx page and writes nothing.

mod account;
pub mod pages;

use pages::tr;
use serde::Deserialize;
use signin_core::config::ApplicantLogin;
use signin_core::domain::links::Form;
use signin_core::domain::{InvalidInput, Language};
use signin_core::usecases::{
    CallbackError, CallbackView, Delivery, EraseError, FormError, Limited, LinkUseError, Requester,
    StartError, StartForm,
};
use signin_core::App;

/// The largest form body we read.
pub const MAX_BODY: usize = 16 * 1024;

#[derive(Debug, Clone, Default)]
pub struct WebRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    pub body: Vec<u8>,
    /// Request headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The client's address as the edge saw it (API Gateway's `requestContext.http.sourceIp`),
    /// for the abuse limits.
    pub client_ip: Option<String>,
}

impl WebRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl WebResponse {
    fn html(status: u16, body: String) -> Self {
        let mut headers = vec![(
            "content-type".to_owned(),
            "text/html; charset=utf-8".to_owned(),
        )];
        headers.extend(
            pages::SECURITY_HEADERS
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        WebResponse {
            status,
            headers,
            body,
        }
    }

    fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Query {
    redirection_id: Option<String>,
    lang: Option<String>,
    /// A signed link's token.
    t: Option<String>,
    since: Option<String>,
    until: Option<String>,
    /// The funnel page's range: 7, 30 or 90 days.
    days: Option<String>,
}

impl Query {
    /// The query string's known keys. A key given twice counts once, with its first value
    /// (links get forwarded with parameters added: `?lang=pl&lang=en` is Polish, not an
    /// unreadable query that loses every key).
    fn parse(raw: &str) -> Query {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw).unwrap_or_default();
        let mut seen = std::collections::HashSet::new();
        let first: Vec<&(String, String)> = pairs
            .iter()
            .filter(|(k, _)| seen.insert(k.as_str()))
            .collect();
        serde_urlencoded::to_string(first)
            .ok()
            .and_then(|once| serde_urlencoded::from_str(&once).ok())
            .unwrap_or_default()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenForm {
    t: Option<String>,
    form_token: Option<String>,
    /// RFC 8058 one-click: `List-Unsubscribe=One-Click`.
    #[serde(rename = "List-Unsubscribe")]
    list_unsubscribe: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FormBody {
    email: Option<String>,
    name: Option<String>,
    follow_up_consent: Option<String>,
    language: Option<String>,
    country: Option<String>,
    delivery: Option<String>,
    form_token: Option<String>,
}

/// The language of a page that has no record to follow: the `lang` query parameter, else the
/// browser's first supported `Accept-Language`, else the default.
fn request_lang(app: &App, req: &WebRequest, query: &Query) -> Language {
    if let Some(l) = query.lang.as_deref().and_then(|l| Language::parse(l).ok()) {
        return l;
    }
    req.header("accept-language")
        .into_iter()
        .flat_map(|h| h.split(','))
        .filter_map(|part| {
            let tag = part.split(';').next()?.trim();
            let primary = tag.split('-').next()?;
            Language::parse(primary).ok()
        })
        .next()
        .unwrap_or(app.settings.default_language)
}

fn page_lang(app: &App, raw: Option<&str>) -> String {
    raw.and_then(|l| Language::parse(l).ok())
        .unwrap_or(app.settings.default_language)
        .as_str()
        .to_owned()
}

/// Every page and endpoint, by method and path. Each Lambda function serves its own share of
/// them (`signin_runtime::functions`); the local run serves all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    StartPage,
    StartForm,
    StartSubmit,
    Health,
    Callback,
    ResumePage,
    ResumeSubmit,
    UnsubscribePage,
    UnsubscribeSubmit,
    ErasePage,
    EraseSubmit,
    Stats,
    StatsCsv,
    StatsLogin,
    StatsLoginLink,
    StatsSession,
    /// The applicant's log-in form, the link request, the emailed link and its confirmation.
    LoginPage,
    LoginSubmit,
    LoginLink,
    LoginSession,
    Logout,
    /// The applicant's own page and their follow-up choice on it.
    MyPage,
    MyConsent,
}

impl Route {
    pub const ALL: &'static [Route] = &[
        Route::StartPage,
        Route::StartForm,
        Route::StartSubmit,
        Route::Health,
        Route::Callback,
        Route::ResumePage,
        Route::ResumeSubmit,
        Route::UnsubscribePage,
        Route::UnsubscribeSubmit,
        Route::ErasePage,
        Route::EraseSubmit,
        Route::Stats,
        Route::StatsCsv,
        Route::StatsLogin,
        Route::StatsLoginLink,
        Route::StatsSession,
        Route::LoginPage,
        Route::LoginSubmit,
        Route::LoginLink,
        Route::LoginSession,
        Route::Logout,
        Route::MyPage,
        Route::MyConsent,
    ];

    pub fn method(self) -> &'static str {
        match self {
            Route::StartSubmit
            | Route::ResumeSubmit
            | Route::UnsubscribeSubmit
            | Route::EraseSubmit
            | Route::StatsLogin
            | Route::StatsSession
            | Route::LoginSubmit
            | Route::LoginSession
            | Route::Logout
            | Route::MyConsent => "POST",
            _ => "GET",
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Route::StartPage => "/",
            Route::StartForm | Route::StartSubmit => "/start",
            Route::Health => "/healthz",
            Route::Callback => signin_core::CALLBACK_PATH,
            Route::ResumePage | Route::ResumeSubmit => "/resume",
            Route::UnsubscribePage | Route::UnsubscribeSubmit => "/unsubscribe",
            Route::ErasePage | Route::EraseSubmit => "/erase",
            Route::Stats => "/stats",
            Route::StatsCsv => "/stats.csv",
            Route::StatsLogin | Route::StatsLoginLink => "/stats/login",
            Route::StatsSession => "/stats/session",
            Route::LoginPage | Route::LoginSubmit => "/login",
            Route::LoginLink => "/login/link",
            Route::LoginSession => "/login/session",
            Route::Logout => "/logout",
            Route::MyPage => "/me",
            Route::MyConsent => "/me/consent",
        }
    }

    /// The route a request asks for, if any.
    pub fn of(method: &str, path: &str) -> Option<Route> {
        Route::ALL
            .iter()
            .copied()
            .find(|r| r.method() == method && r.path() == path)
    }
}

/// A browser says this request comes from another site: `Sec-Fetch-Site` (set by the browser,
/// never by a page) is `cross-site` or `same-site` (a sibling subdomain is not us), or `Origin`
/// is not ours. `Origin: null` is what browsers send under our `Referrer-Policy: no-referrer`,
/// so it decides nothing; neither does a missing header (an older browser): there the form
/// token, bound to this browser's cookie, does.
fn cross_site(app: &App, req: &WebRequest) -> bool {
    let fetch_site = req.header("sec-fetch-site").map(str::to_ascii_lowercase);
    let foreign_site = fetch_site
        .as_deref()
        .is_some_and(|site| !matches!(site, "same-origin" | "none"));
    let foreign_origin = match req.header("origin") {
        None | Some("null") => false,
        Some(origin) => !same_origin(origin, &app.settings.public_base_url),
    };
    foreign_site || foreign_origin
}

/// Whether two URLs have the same origin (scheme, host and port, default ports included).
fn same_origin(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin() && a.origin().is_tuple(),
        _ => false,
    }
}

/// The cookie a browser's form tokens are bound to (double submit, no server state): HttpOnly,
/// SameSite=Lax (never sent with a cross-site POST, but kept on a link from an email, so that
/// arriving from one does not replace it under the user's other open tabs), and over https
/// `__Host-` (Secure, this host only, so a sibling subdomain cannot plant one).
fn binding_cookie(app: &App) -> &'static str {
    if app.settings.public_base_url.starts_with("https://") {
        "__Host-signin-form"
    } else {
        "signin-form"
    }
}

/// Who is asking, for the abuse limits and the form token's binding.
fn requester(
    req: &WebRequest,
    binding: &str,
    applicant: Option<signin_core::ports::UserProfile>,
) -> Requester {
    Requester {
        client: req.client_ip.clone(),
        form_binding: binding.to_owned(),
        applicant,
    }
}

/// The attributes of our cookies: never readable by scripts, sent only to this path, and over
/// https `Secure` (which the `__Host-` names require).
fn cookie_attributes(app: &App, same_site: &str) -> String {
    let secure = if app.settings.public_base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!("Path=/; HttpOnly; SameSite={same_site}{secure}")
}

/// The browser's form binding: its cookie's value, or a fresh one to set.
fn form_binding(app: &App, req: &WebRequest) -> (String, Option<String>) {
    let name = binding_cookie(app);
    let existing = cookie_value(req, name)
        .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()));
    match existing {
        Some(v) => (v.to_owned(), None),
        None => {
            let v = uuid::Uuid::new_v4().simple().to_string();
            let cookie = format!("{name}={v}; {}", cookie_attributes(app, "Lax"));
            (v, Some(cookie))
        }
    }
}

/// Routes one request to any page (the local run serves every route from one process).
pub async fn handle(app: &App, req: WebRequest) -> WebResponse {
    handle_routes(app, req, Route::ALL).await
}

/// Routes one request among `served`; every other path is 404 (a Lambda function answers only
/// for its own routes, even if API Gateway were misconfigured to send it others).
pub async fn handle_routes(app: &App, req: WebRequest, served: &[Route]) -> WebResponse {
    let mut res = route(app, req, served).await;
    // Browsers remember to use https only from an https answer.
    if app.settings.public_base_url.starts_with("https://") {
        res.headers.push((
            "strict-transport-security".into(),
            "max-age=31536000".into(),
        ));
    }
    res
}

async fn route(app: &App, req: WebRequest, served: &[Route]) -> WebResponse {
    let (binding, set_binding) = form_binding(app, &req);
    let mut res = route_bound(app, req, served, &binding).await;
    // A page served to a browser without a binding may hold a form token bound to the fresh
    // one: the browser gets it with every HTML page (a random value, nothing about anyone).
    if let Some(cookie) = set_binding {
        if res
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html"))
        {
            res.headers.push(("set-cookie".into(), cookie));
        }
    }
    res
}

async fn route_bound(app: &App, req: WebRequest, served: &[Route], binding: &str) -> WebResponse {
    let company = app.settings.company_name.clone();
    let query = Query::parse(req.query.as_deref().unwrap_or(""));
    let lang = request_lang(app, &req, &query);
    let l = lang.as_str();
    let Some(route) = Route::of(&req.method, &req.path).filter(|r| served.contains(r)) else {
        let path_served = served.iter().any(|r| r.path() == req.path);
        if path_served {
            let allow: Vec<&str> = served
                .iter()
                .filter(|r| r.path() == req.path)
                .map(|r| r.method())
                .collect();
            return WebResponse::html(
                405,
                pages::message(
                    &company,
                    l,
                    tr(l, "Not allowed", "Niedozwolone"),
                    &[tr(
                        l,
                        "This page does not take that kind of request.",
                        "Ta strona nie przyjmuje takiego żądania.",
                    )],
                    None,
                ),
            )
            .with_header("allow", &allow.join(", "));
        }
        return not_found(app, l);
    };
    if route.method() == "POST" && cross_site(app, &req) && !is_one_click(route, &req) {
        tracing::warn!(path = %req.path, "a cross-site form post was refused");
        return forbidden(app, l);
    }
    match route {
        Route::StartPage | Route::StartForm => {
            let applicant = account::current_applicant(app, &req).await;
            if applicant.is_none() && app.settings.applicant_login == ApplicantLogin::Required {
                return account::login_form(app, binding, l, 200, None, &[], None);
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
            };
            start_form(app, binding, 200, &values, None)
        }
        Route::StartSubmit => start(app, &req, binding).await,
        Route::Callback => callback(app, &req, binding, l, query.redirection_id.as_deref()).await,
        Route::LoginPage => account::login_page(app, binding, l, query.redirection_id.as_deref()),
        Route::LoginSubmit => account::login_submit(app, &req, binding, l).await,
        Route::LoginLink => account::login_link(app, binding, l, query.t.as_deref()).await,
        Route::LoginSession => account::login_session(app, &req, binding, l).await,
        Route::Logout => account::logout(app, &req, binding, l).await,
        Route::MyPage => {
            account::my_page(app, &req, binding, l, query.redirection_id.as_deref()).await
        }
        Route::MyConsent => account::my_consent(app, &req, binding, l).await,
        Route::ResumePage => confirm_page(app, binding, l, query.t.as_deref(), &RESUME),
        Route::ResumeSubmit => resume(app, binding, l, &req, query.t.as_deref()).await,
        Route::UnsubscribePage => confirm_page(app, binding, l, query.t.as_deref(), &UNSUBSCRIBE),
        Route::UnsubscribeSubmit => unsubscribe(app, binding, l, &req, query.t.as_deref()).await,
        Route::ErasePage => confirm_page(app, binding, l, query.t.as_deref(), &ERASE),
        Route::EraseSubmit => erase(app, binding, l, &req, query.t.as_deref()).await,
        Route::Stats => stats(app, &req, &query, binding).await,
        Route::StatsCsv => stats_csv(app, &req, &query).await,
        Route::StatsLogin => staff_login(app, &req, binding).await,
        Route::StatsLoginLink => staff_login_link(app, binding, query.t.as_deref()),
        Route::StatsSession => staff_session(app, binding, &req).await,
        Route::Health => WebResponse {
            status: 200,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: "ok".into(),
        },
    }
}

/// A message page in both languages: (English, Polish) title, text and button label; the
/// button leads to the start page.
fn notice(
    app: &App,
    l: &str,
    status: u16,
    title: (&str, &str),
    text: (&str, &str),
    button: (&str, &str),
) -> WebResponse {
    WebResponse::html(
        status,
        pages::message(
            &app.settings.company_name,
            l,
            tr(l, title.0, title.1),
            &[tr(l, text.0, text.1)],
            Some((tr(l, button.0, button.1), &app.start_url_in(l))),
        ),
    )
}

fn not_found(app: &App, l: &str) -> WebResponse {
    notice(
        app,
        l,
        404,
        ("Page not found", "Nie ma takiej strony"),
        (
            "There is no page at this address.",
            "Pod tym adresem nie ma strony.",
        ),
        ("Start", "Start"),
    )
}

/// A cross-site post, or a form that did not come from our page.
fn forbidden(app: &App, l: &str) -> WebResponse {
    notice(
        app,
        l,
        403,
        ("This form did not come from our page", "Ten formularz nie pochodzi z naszej strony"),
        (
            "For your safety we only accept forms filled in on our own pages. Nothing was sent or saved. Please open the page and fill it in there.",
            "Dla Twojego bezpieczeństwa przyjmujemy tylko formularze wypełnione na naszych stronach. Nic nie zostało wysłane ani zapisane. Otwórz stronę i wypełnij formularz na niej.",
        ),
        ("Open the start page", "Otwórz stronę startową"),
    )
}

/// A form sent a second time (its token is spent).
/// The page for a form token that was refused: forged or from elsewhere (403), or the store
/// failing (500).
fn form_refused(app: &App, l: &str, e: FormError) -> WebResponse {
    match e {
        FormError::Internal(e) => internal_error(app, l, &e),
        _ => forbidden(app, l),
    }
}

fn replayed(app: &App, l: &str) -> WebResponse {
    notice(
        app,
        l,
        409,
        ("This form was already sent", "Ten formularz został już wysłany"),
        (
            "We received it the first time. If you were not taken to your bank, start again from the start page.",
            "Otrzymaliśmy go za pierwszym razem. Jeśli nie nastąpiło przejście do banku, zacznij od nowa na stronie startowej.",
        ),
        ("Start again", "Zacznij od nowa"),
    )
}

/// An abuse limit: a 429 with `Retry-After`, nothing sent, nothing asked of Kontomatik.
fn limited(app: &App, l: &str, limit: Limited, retry_after: chrono::Duration) -> WebResponse {
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
            tr(l, "Please wait a little", "Prosimy chwilę poczekać"),
            &[
                &text,
                tr(l, "Nothing was sent.", "Nic nie zostało wysłane."),
            ],
            None,
        ),
    )
    .with_header("retry-after", &seconds.to_string())
}

/// RFC 8058: a mail client's one-click unsubscribe (a POST from the mail provider, with the
/// token in the URL): neither from our page nor from a browser, so it carries no form token.
fn is_one_click(route: Route, req: &WebRequest) -> bool {
    route == Route::UnsubscribeSubmit
        && req.query.as_deref().is_some_and(|q| q.contains("t="))
        && serde_urlencoded::from_bytes::<TokenForm>(&req.body)
            .ok()
            .and_then(|f| f.list_unsubscribe)
            .as_deref()
            == Some("One-Click")
}

/// The start form with a fresh form token.
fn start_form(
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

fn internal_error(app: &App, l: &str, e: &dyn std::fmt::Display) -> WebResponse {
    tracing::error!(error = %e, "a page failed");
    WebResponse::html(
        500,
        pages::message(
            &app.settings.company_name,
            l,
            tr(
                l,
                "Something went wrong on our side",
                "Coś poszło nie tak po naszej stronie",
            ),
            &[tr(
                l,
                "Please try again in a moment.",
                "Spróbuj ponownie za chwilę.",
            )],
            None,
        ),
    )
}

/// What an invalid field means, for the person who typed it.
fn invalid_message(e: &InvalidInput, l: &str) -> String {
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

async fn start(app: &App, req: &WebRequest, binding: &str) -> WebResponse {
    let body = &req.body;
    if body.len() > MAX_BODY {
        let l = page_lang(app, None);
        return WebResponse::html(
            413,
            pages::message(
                &app.settings.company_name,
                &l,
                tr(&l, "Too much data", "Za dużo danych"),
                &[tr(
                    &l,
                    "The form sent more data than it can hold.",
                    "Formularz wysłał więcej danych, niż może pomieścić.",
                )],
                Some((tr(&l, "Back", "Wróć"), "/")),
            ),
        );
    }
    let form: FormBody = match serde_urlencoded::from_bytes(body) {
        Ok(f) => f,
        Err(_) => {
            let values = pages::StartValues {
                language: page_lang(app, None),
                country: app.settings.default_country.as_str().into(),
                ..Default::default()
            };
            let l = values.language.clone();
            return start_form(
                app,
                binding,
                400,
                &values,
                Some(tr(
                    &l,
                    "The form could not be read. Please fill it in again.",
                    "Nie udało się odczytać formularza. Wypełnij go ponownie.",
                )),
            );
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
    };
    let l = values.language.clone();
    let l = l.as_str();
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
    match app.start_sign_in(&start_form_values, &from).await {
        Ok(started) => match started.delivery {
            Delivery::Redirect => WebResponse::html(
                303,
                pages::redirecting(company, started.redirection.language.as_str(), &started.link),
            )
            .with_header("location", &started.link),
            Delivery::Email => WebResponse::html(
                200,
                pages::link_emailed(
                    company,
                    started.redirection.language.as_str(),
                    &pages::mask_email(started.redirection.email.as_str()),
                ),
            ),
        },
        Err(StartError::Invalid(e)) => start_form(app, binding, 400, &values, Some(&invalid_message(&e, l))),
        // Our own page, by the browser's word, but its binding cookie is gone (a restarted
        // browser, a restored tab): the form again, as typed, with a fresh token and cookie.
        // From anywhere else nothing typed is shown back (a forged post must not come back as
        // a filled-in form to click).
        Err(StartError::Form(FormError::Invalid))
            if req.header("sec-fetch-site") == Some("same-origin") =>
        {
            start_form(
                app,
                binding,
                400,
                &values,
                Some(tr(l, "For your safety, please check the form and send it again.", "Dla bezpieczeństwa sprawdź formularz i wyślij go ponownie.")),
            )
        }
        Err(StartError::Form(FormError::Invalid)) => forbidden(app, l),
        Err(StartError::Form(FormError::Expired)) => start_form(
            app,
            binding,
            400,
            &values,
            Some(tr(l, "This page was open for a long time, so for your safety the form has expired. Check it and send it again.", "Strona była długo otwarta, więc dla bezpieczeństwa formularz wygasł. Sprawdź go i wyślij ponownie.")),
        ),
        Err(StartError::Form(FormError::Replayed)) => replayed(app, l),
        Err(StartError::Form(FormError::Internal(e))) => internal_error(app, l, &e),
        Err(StartError::Limited { limit, retry_after }) => limited(app, l, limit, retry_after),
        Err(StartError::LoginRequired) => account::login_form(
            app,
            binding,
            l,
            401,
            None,
            &[tr(l, "Please log in first: we start a bank connection only for a proven address.", "Najpierw się zaloguj: połączenie z bankiem rozpoczynamy tylko dla potwierdzonego adresu.")],
            None,
        ),
        Err(StartError::Unavailable(e)) => {
            tracing::warn!(error = %e, "Kontomatik unavailable at start");
            start_form(
                app,
                binding,
                503,
                &values,
                Some(tr(l, "The bank connection service is busy right now. Please try again in a minute.", "Usługa łączenia z bankiem jest teraz zajęta. Spróbuj ponownie za minutę.")),
            )
            .with_header("retry-after", "60")
        }
        Err(StartError::Internal(e)) => {
            tracing::error!(error = %e, "start failed");
            start_form(
                app,
                binding,
                500,
                &values,
                Some(tr(l, "Something went wrong on our side. Please try again.", "Coś poszło nie tak po naszej stronie. Spróbuj ponownie.")),
            )
        }
    }
}

async fn callback(
    app: &App,
    req: &WebRequest,
    binding: &str,
    l: &str,
    raw_id: Option<&str>,
) -> WebResponse {
    let company = app.settings.company_name.clone();
    // The backend work (status, session, import) is done first, whoever is looking.
    let outcome = match app.callback(raw_id).await {
        Ok(o) => o,
        Err(CallbackError::Invalid(_)) => {
            return WebResponse::html(
                400,
                pages::message(
                    &company,
                    l,
                    tr(l, "This link is not valid", "Ten link jest nieprawidłowy"),
                    &[tr(l, "The address is missing a valid sign-in reference. You can start a new sign-in.", "W adresie brakuje prawidłowego identyfikatora logowania. Możesz rozpocząć nowe logowanie.")],
                    Some((tr(l, "Start again", "Zacznij od nowa"), &app.start_url_in(l))),
                ),
            )
        }
        Err(CallbackError::Unknown) => {
            return WebResponse::html(
                404,
                pages::message(
                    &company,
                    l,
                    tr(l, "We don't know this sign-in", "Nie znamy tego logowania"),
                    &[tr(l, "It may be more than a day old. You can start a new one.", "Mogło minąć ponad 24 godziny. Możesz rozpocząć nowe.")],
                    Some((tr(l, "Start again", "Zacznij od nowa"), &app.start_url_in(l))),
                ),
            )
        }
        Err(CallbackError::Internal(e)) => {
            tracing::error!(error = %e, "callback failed");
            return WebResponse::html(
                500,
                pages::message(
                    &company,
                    l,
                    tr(l, "Something went wrong on our side", "Coś poszło nie tak po naszej stronie"),
                    &[tr(l, "Your sign-in is not lost. Please reload this page in a moment.", "Twoje logowanie nie przepadło. Odśwież tę stronę za chwilę.")],
                    None,
                ),
            );
        }
    };
    let r = &outcome.redirection;
    let lang = r.language.as_str();
    // What the page shows depends on who is looking: the logged-in owner, or anyone else.
    let owner = account::current_applicant(app, req)
        .await
        .is_some_and(|viewer| viewer.key == r.user_key);
    if !owner && app.settings.applicant_login == ApplicantLogin::Required {
        return account::login_form(
            app,
            binding,
            lang,
            200,
            Some(&r.id),
            &[tr(
                lang,
                "You are back from your bank. Log in with the address you applied with to see this application; we remember it through the log-in.",
                "Wróciłeś z banku. Zaloguj się adresem, którym składałeś wniosek, aby zobaczyć ten wniosek; zapamiętamy go podczas logowania.",
            )],
            None,
        );
    }
    let follow_href = if owner {
        format!("/me?redirectionId={}", r.id)
    } else {
        format!("/login?redirectionId={}&lang={lang}", r.id)
    };
    let follow = Some((
        if owner {
            tr(lang, "My applications", "Moje wnioski")
        } else {
            tr(
                lang,
                "Log in to follow your application",
                "Zaloguj się, aby śledzić wniosek",
            )
        },
        follow_href.as_str(),
    ));
    let pl = lang == "pl";
    let t = |en, pl_text| tr(lang, en, pl_text);
    let email = pages::mask_email(r.email.as_str());
    let restart = app.start_url(r.language);
    let page = |status: u16, title: &str, paras: &[&str], button: Option<(&str, &str)>| {
        WebResponse::html(status, pages::message(&company, lang, title, paras, button))
    };
    match outcome.view {
        CallbackView::Importing => page(
            200,
            t("Thank you – we are importing your data", "Dziękujemy – pobieramy Twoje dane"),
            &[
                t("Your bank connection worked. We are fetching your account history now.", "Połączenie z bankiem się udało. Właśnie pobieramy historię rachunku."),
                &if pl {
                    format!("Możesz zamknąć tę stronę: gdy skończymy, napiszemy na {email}.")
                } else {
                    format!("You can close this page: we will email {email} when it is done.")
                },
            ],
            follow,
        ),
        CallbackView::Imported => page(
            200,
            t("All done – we have your data", "Gotowe – mamy Twoje dane"),
            &[&if pl {
                format!("Otrzymaliśmy dane z banku i wysłaliśmy dalsze kroki na {email}.")
            } else {
                format!("We received your bank data and emailed the next steps to {email}.")
            }],
            follow,
        ),
        CallbackView::ImportFailed => page(
            200,
            t("We could not fetch your data", "Nie udało się pobrać danych"),
            &[t("The bank connection worked but fetching the data failed. Please sign in again to retry.", "Połączenie z bankiem się udało, ale pobranie danych nie. Zaloguj się ponownie, aby spróbować jeszcze raz.")],
            Some((t("Try again", "Spróbuj ponownie"), &restart)),
        ),
        CallbackView::SignInFailed(error) => {
            let reason = error.map(|e| e.message).unwrap_or_default();
            page(
                200,
                t("The bank sign-in did not finish", "Logowanie w banku nie zostało dokończone"),
                &[t("Nothing was shared.", "Nic nie zostało udostępnione."), &reason],
                Some((t("Try again", "Spróbuj ponownie"), &restart)),
            )
        }
        CallbackView::Expired => page(
            200,
            t("This sign-in link has expired", "Ten link do logowania wygasł"),
            &[t("Links work for one hour. Start a fresh one – it only takes a minute.", "Linki działają przez godzinę. Rozpocznij od nowa – to zajmie tylko minutę.")],
            Some((t("Start a new sign-in", "Rozpocznij nowe logowanie"), &restart)),
        ),
        CallbackView::StillOpen => page(
            200,
            t("Your bank sign-in is still in progress", "Logowanie w banku wciąż trwa"),
            &[&if pl {
                format!("Gdy tylko się zakończy, zajmiemy się resztą i napiszemy na {email}.")
            } else {
                format!("As soon as it finishes we will take it from here and email {email}.")
            }],
            follow,
        ),
        CallbackView::TryLater => page(
            503,
            t("We are still waiting for the bank connection service", "Wciąż czekamy na usługę łączenia z bankiem"),
            &[t("Nothing is lost: we will check again in a few minutes and email you. You can also reload this page shortly.", "Nic nie przepadło: sprawdzimy ponownie za kilka minut i napiszemy do Ciebie. Możesz też za chwilę odświeżyć tę stronę.")],
            None,
        )
        .with_header("retry-after", "120"),
    }
}

/// An erasure that could not finish yet: nothing was deleted here, the person tries again.
fn erase_later(company: &str, l: &str, why: &str) -> WebResponse {
    WebResponse::html(
        503,
        pages::message(
            company,
            l,
            tr(
                l,
                "Please try again in a few minutes",
                "Spróbuj ponownie za kilka minut",
            ),
            &[why],
            None,
        ),
    )
    .with_header("retry-after", "300")
}

fn link_error_page(app: &App, l: &str, e: &signin_core::domain::links::LinkError) -> WebResponse {
    use signin_core::domain::links::LinkError;
    let company = &app.settings.company_name;
    let start = app.start_url_in(l);
    let button = Some((tr(l, "Start again", "Zacznij od nowa"), start.as_str()));
    match e {
        LinkError::Expired => WebResponse::html(
            410,
            pages::message(company, l, tr(l, "This link has expired", "Ten link wygasł"), &[tr(l, "You can start a new sign-in from our start page.", "Nowe logowanie możesz rozpocząć na naszej stronie startowej.")], button),
        ),
        LinkError::Invalid => WebResponse::html(
            400,
            pages::message(company, l, tr(l, "This link is not valid", "Ten link jest nieprawidłowy"), &[tr(l, "It may have been cut off or changed. You can start a new sign-in from our start page.", "Mógł zostać ucięty lub zmieniony. Nowe logowanie możesz rozpocząć na naszej stronie startowej.")], button),
        ),
    }
}

/// The link token and the form token of a confirm page's POST (the link token may also be in
/// the URL, as in a one-click unsubscribe).
fn tokens_of(body: &[u8], query: Option<&str>) -> (Option<String>, Option<String>) {
    if body.len() > MAX_BODY {
        return (None, None);
    }
    let form = serde_urlencoded::from_bytes::<TokenForm>(body).unwrap_or_default();
    (form.t.or_else(|| query.map(str::to_owned)), form.form_token)
}

/// What a confirm page says, in both languages: (title, text, action, button).
struct Confirm {
    form: Form,
    purpose: signin_core::domain::links::Purpose,
    en: (&'static str, &'static str, &'static str),
    pl: (&'static str, &'static str, &'static str),
}

const RESUME: Confirm = Confirm {
    form: Form::Resume,
    purpose: signin_core::domain::links::Purpose::Resume,
    en: (
        "Continue connecting your bank",
        "You will get a fresh, secure sign-in link and go straight to your bank.",
        "Continue to my bank",
    ),
    pl: (
        "Kontynuuj łączenie z bankiem",
        "Otrzymasz nowy, bezpieczny link i przejdziesz prosto do banku.",
        "Przejdź do banku",
    ),
};

const UNSUBSCRIBE: Confirm = Confirm {
    form: Form::Unsubscribe,
    purpose: signin_core::domain::links::Purpose::Unsubscribe,
    en: ("Unsubscribe from reminders", "We will not email you reminders about unfinished bank connections any more. Emails about data you shared are not affected.", "Unsubscribe"),
    pl: ("Wypisz się z przypomnień", "Nie będziemy już wysyłać przypomnień o niedokończonym łączeniu z bankiem. Nie dotyczy to wiadomości o udostępnionych danych.", "Wypisz mnie"),
};

const ERASE: Confirm = Confirm {
    form: Form::Erase,
    purpose: signin_core::domain::links::Purpose::Erase,
    en: ("Delete your data", "We will delete everything we hold about you: your details, your sign-ins and the bank data you shared, and ask Kontomatik to delete it too. This cannot be undone.", "Delete my data"),
    pl: ("Usuń swoje dane", "Usuniemy wszystko, co o Tobie przechowujemy: Twoje dane, logowania i udostępnione dane z banku, oraz poprosimy Kontomatik o ich usunięcie. Tego nie można cofnąć.", "Usuń moje dane"),
};

/// GET of a signed link: a page with a button (a POST), so mail scanners that follow links
/// change nothing.
fn confirm_page(
    app: &App,
    binding: &str,
    l: &str,
    token: Option<&str>,
    c: &Confirm,
) -> WebResponse {
    let claims = match app.check_link(token.unwrap_or(""), c.purpose) {
        Ok(claims) => claims,
        Err(e) => return link_error_page(app, l, &e),
    };
    let lang = claims.language.as_str();
    let (title, text, button) = if lang == "pl" { c.pl } else { c.en };
    let action = match c.form {
        Form::Resume => "/resume",
        Form::Unsubscribe => "/unsubscribe",
        _ => "/erase",
    };
    match app.form_token(c.form, binding) {
        Ok(form_token) => WebResponse::html(
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
        ),
        Err(e) => internal_error(app, lang, &e),
    }
}

/// Checks a signed link before anything else (no write): its language for the pages that
/// follow, or the page that says why it cannot be used.
fn checked_link(
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
async fn confirmed(
    app: &App,
    binding: &str,
    l: &str,
    req: &WebRequest,
    form: Form,
) -> Result<(), WebResponse> {
    let (_, form_token) = tokens_of(&req.body, None);
    match app
        .use_form_token(form, form_token.as_deref(), binding)
        .await
    {
        Ok(()) => Ok(()),
        Err(FormError::Invalid) => Err(forbidden(app, l)),
        Err(FormError::Expired) => Err(WebResponse::html(
            400,
            pages::message(
                &app.settings.company_name,
                l,
                tr(
                    l,
                    "This page was open too long",
                    "Strona była zbyt długo otwarta",
                ),
                &[tr(
                    l,
                    "For your safety the button has expired. Open the link from your email again.",
                    "Dla bezpieczeństwa przycisk wygasł. Otwórz ponownie link z wiadomości e-mail.",
                )],
                None,
            ),
        )),
        Err(FormError::Replayed) => Err(replayed(app, l)),
        Err(FormError::Internal(e)) => Err(internal_error(app, l, &e)),
    }
}

/// The page for a signed link that could not be used.
fn link_use_error(app: &App, l: &str, e: LinkUseError) -> WebResponse {
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
                tr(
                    l,
                    "Please try again in a minute",
                    "Spróbuj ponownie za minutę",
                ),
                &[tr(
                    l,
                    "The bank connection service is busy right now.",
                    "Usługa łączenia z bankiem jest teraz zajęta.",
                )],
                None,
            ),
        )
        .with_header("retry-after", "60"),
        e => internal_error(app, l, &e),
    }
}

/// The start of a signed link's POST: the link token (from the body, or the URL) checked
/// first, then the page's form token spent (`form`; none for a one-click unsubscribe). Gives
/// the token and the page language, or the page that says why not.
async fn link_post(
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

async fn resume(
    app: &App,
    binding: &str,
    l: &str,
    req: &WebRequest,
    query_token: Option<&str>,
) -> WebResponse {
    let purpose = signin_core::domain::links::Purpose::Resume;
    let (token, l) = match link_post(
        app,
        binding,
        l,
        req,
        query_token,
        purpose,
        Some(Form::Resume),
    )
    .await
    {
        Ok(ok) => ok,
        Err(page) => return page,
    };
    let applicant = account::current_applicant(app, req).await;
    match app
        .resume(&token, &requester(req, binding, applicant))
        .await
    {
        Ok(started) => WebResponse::html(
            303,
            pages::redirecting(
                &app.settings.company_name,
                started.redirection.language.as_str(),
                &started.link,
            ),
        )
        .with_header("location", &started.link),
        Err(e) => link_use_error(app, &l, e),
    }
}

/// POST: from the page's button, or one-click from the mail client (RFC 8058: the token in the
/// URL, `List-Unsubscribe=One-Click` in the body).
async fn unsubscribe(
    app: &App,
    binding: &str,
    l: &str,
    req: &WebRequest,
    query_token: Option<&str>,
) -> WebResponse {
    let purpose = signin_core::domain::links::Purpose::Unsubscribe;
    let form = (!is_one_click(Route::UnsubscribeSubmit, req)).then_some(Form::Unsubscribe);
    let (token, l) = match link_post(app, binding, l, req, query_token, purpose, form).await {
        Ok(ok) => ok,
        Err(page) => return page,
    };
    match app.unsubscribe(&token).await {
        Ok(claims) => {
            let l = claims.language.as_str();
            WebResponse::html(
                200,
                pages::message(
                    &app.settings.company_name,
                    l,
                    tr(l, "You are unsubscribed", "Wypisano Cię"),
                    &[tr(l, "You will not get reminder emails from us any more. To change your mind, log in and turn reminders on in My applications.", "Nie będziesz już dostawać od nas przypomnień. Aby zmienić zdanie, zaloguj się i włącz przypomnienia w Moich wnioskach.")],
                    None,
                ),
            )
        }
        Err(e) => link_use_error(app, &l, e),
    }
}

/// POST from the erase page's button: everything of the person goes.
async fn erase(
    app: &App,
    binding: &str,
    l: &str,
    req: &WebRequest,
    query_token: Option<&str>,
) -> WebResponse {
    let purpose = signin_core::domain::links::Purpose::Erase;
    let (token, l) = match link_post(
        app,
        binding,
        l,
        req,
        query_token,
        purpose,
        Some(Form::Erase),
    )
    .await
    {
        Ok(ok) => ok,
        Err(page) => return page,
    };
    let l = l.as_str();
    let company = &app.settings.company_name;
    match app.erase_by_link(&token).await {
        Ok((claims, erased)) => {
            let l = claims.language.as_str();
            let text = if erased.found.is_empty() {
                tr(
                    l,
                    "We hold no data about you (it may have been deleted already).",
                    "Nie przechowujemy żadnych Twoich danych (mogły już zostać usunięte).",
                )
            } else {
                tr(l, "We deleted your details, your sign-ins and the bank data you shared, and Kontomatik was asked to delete theirs.", "Usunęliśmy Twoje dane, logowania i udostępnione dane z banku, a Kontomatik otrzymał prośbę o usunięcie swoich.")
            };
            WebResponse::html(
                200,
                pages::message(
                    company,
                    l,
                    tr(l, "Your data is deleted", "Twoje dane zostały usunięte"),
                    &[text],
                    None,
                ),
            )
        }
        Err(EraseError::Link(e)) => link_error_page(app, l, &e),
        Err(EraseError::Unavailable(e)) => {
            tracing::warn!(error = %e, "erasure waits for Kontomatik");
            erase_later(company, l, tr(l, "We could not reach the bank connection service to delete your data there too, so nothing was deleted yet. Please open the link from your email again shortly.", "Nie udało się połączyć z usługą łączenia z bankiem, by usunąć dane także tam, więc niczego jeszcze nie usunięto. Otwórz ponownie link z wiadomości za chwilę."))
        }
        Err(EraseError::SubscribersUnavailable(e)) => {
            tracing::warn!(error = %e, "erasure waits for the event bus");
            erase_later(company, l, tr(l, "We could not finish deleting your data just now. Please open the link from your email again shortly.", "Nie udało się teraz dokończyć usuwania Twoich danych. Otwórz ponownie link z wiadomości za chwilę."))
        }
        Err(EraseError::Internal(e)) => internal_error(app, l, &e),
    }
}

fn json(status: u16, body: String) -> WebResponse {
    WebResponse {
        status,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("cache-control".into(), "no-store".into()),
        ],
        body,
    }
}

/// The staff session cookie (over https `__Host-`: Secure, this host only).
fn staff_cookie(app: &App) -> &'static str {
    if app.settings.public_base_url.starts_with("https://") {
        "__Host-signin-staff"
    } else {
        "signin-staff"
    }
}

fn cookie_value<'a>(req: &'a WebRequest, name: &str) -> Option<&'a str> {
    req.header("cookie")?
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A signed-in staff member (the session cookie).
fn is_staff_session(app: &App, req: &WebRequest) -> bool {
    cookie_value(req, staff_cookie(app)).is_some_and(|v| app.staff_session_valid(v))
}

/// A script with the stats token.
fn has_bearer(app: &App, req: &WebRequest) -> Option<bool> {
    let expected = app.settings.stats_token.as_ref()?;
    let given = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))?;
    Some(constant_time_eq(
        given.as_bytes(),
        expected.expose().as_bytes(),
    ))
}

fn not_found_en(app: &App) -> WebResponse {
    not_found(app, "en")
}

/// The funnel page's range.
fn page_days(query: &Query) -> u32 {
    match query.days.as_deref() {
        Some("7") => 7,
        Some("90") => 90,
        _ => 30,
    }
}

async fn page_report(
    app: &App,
    days: u32,
) -> Result<signin_core::usecases::FunnelReport, signin_core::usecases::FlowError> {
    let today = app.now().date_naive();
    app.funnel_report(today - chrono_days(u64::from(days) - 1), today)
        .await
}

/// A funnel report as the funnel page's rows (one per day) and totals.
pub fn rows_of(report: &signin_core::usecases::FunnelReport) -> (Vec<pages::FunnelRow>, Vec<u64>) {
    use signin_core::ports::FunnelStep;
    let rows = report
        .days
        .iter()
        .map(|d| pages::FunnelRow {
            day: d.day.map(|x| x.to_string()).unwrap_or_default(),
            counts: FunnelStep::ALL.iter().map(|s| d.get(*s)).collect(),
        })
        .collect();
    let totals = FunnelStep::ALL
        .iter()
        .map(|s| report.totals.get(s).copied().unwrap_or(0))
        .collect();
    (rows, totals)
}

/// `GET /stats`: JSON for a script with `Authorization: Bearer <STATS_TOKEN>`; for a browser,
/// the funnel page once a staff member signed in, else the sign-in page.
async fn stats(app: &App, req: &WebRequest, query: &Query, binding: &str) -> WebResponse {
    let browser = req.header("authorization").is_none()
        && req
            .header("accept")
            .is_some_and(|a| a.contains("text/html"));
    if browser && !app.settings.staff_emails.is_empty() {
        if !is_staff_session(app, req) {
            return match app.form_token(Form::StaffLogin, binding) {
                Ok(token) => WebResponse::html(
                    200,
                    pages::staff_login(&app.settings.company_name, &token, None),
                ),
                Err(e) => internal_error(app, "en", &e),
            };
        }
        let days = page_days(query);
        return match page_report(app, days).await {
            Ok(report) => {
                let (rows, totals) = rows_of(&report);
                WebResponse::html(
                    200,
                    pages::funnel(&app.settings.company_name, days, &rows, &totals),
                )
            }
            Err(e) => internal_error(app, "en", &e),
        };
    }
    match has_bearer(app, req) {
        None if app.settings.stats_token.is_none() => return not_found_en(app),
        Some(true) => {}
        _ => {
            return json(
                401,
                r#"{"error":"a valid bearer token is required"}"#.into(),
            )
            .with_header("www-authenticate", "Bearer")
        }
    }
    let today = app.now().date_naive();
    let day = |raw: Option<&str>, default| match raw {
        None | Some("") => Ok(default),
        Some(d) => chrono_day(d),
    };
    let (from, to) = match (day(query.since.as_deref(), today - chrono_days(6)), day(query.until.as_deref(), today)) {
        (Ok(f), Ok(t)) if f <= t && (t - f).num_days() <= 366 => (f, t),
        _ => return json(400, r#"{"error":"since and until must be YYYY-MM-DD, since <= until, at most 366 days apart"}"#.into()),
    };
    match app.funnel_report(from, to).await {
        Ok(report) => match serde_json::to_string(&report) {
            Ok(body) => json(200, body),
            Err(_) => json(500, r#"{"error":"could not encode the report"}"#.into()),
        },
        Err(e) => {
            tracing::error!(error = %e, "stats failed");
            json(
                503,
                r#"{"error":"statistics are unavailable right now"}"#.into(),
            )
        }
    }
}

/// `GET /stats.csv`: the funnel page's table, for a signed-in staff member or a script.
async fn stats_csv(app: &App, req: &WebRequest, query: &Query) -> WebResponse {
    if !(is_staff_session(app, req) || has_bearer(app, req) == Some(true)) {
        return not_found_en(app);
    }
    let days = page_days(query);
    let report = match page_report(app, days).await {
        Ok(r) => r,
        Err(e) => return internal_error(app, "en", &e),
    };
    let (rows, totals) = rows_of(&report);
    let mut csv = format!(
        "day,{},conversion_percent\n",
        pages::FUNNEL_COLUMNS.join(",")
    );
    let percent = |c: &[u64]| {
        pages::conversion_percent(c[0], c[5]).map_or(String::new(), |p| format!("{p:.1}"))
    };
    for r in &rows {
        let counts: Vec<String> = r.counts.iter().map(u64::to_string).collect();
        csv.push_str(&format!(
            "{},{},{}\n",
            r.day,
            counts.join(","),
            percent(&r.counts)
        ));
    }
    let counts: Vec<String> = totals.iter().map(u64::to_string).collect();
    csv.push_str(&format!(
        "total,{},{}\n",
        counts.join(","),
        percent(&totals)
    ));
    WebResponse {
        status: 200,
        headers: vec![
            ("content-type".into(), "text/csv; charset=utf-8".into()),
            (
                "content-disposition".into(),
                format!("attachment; filename=\"funnel-{days}-days.csv\""),
            ),
            ("cache-control".into(), "no-store".into()),
            ("x-content-type-options".into(), "nosniff".into()),
        ],
        body: csv,
    }
}

/// `POST /stats/login`: an address asks for a sign-in link; the same answer whoever asks.
async fn staff_login(app: &App, req: &WebRequest, binding: &str) -> WebResponse {
    if app.settings.staff_emails.is_empty() {
        return not_found_en(app);
    }
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct LoginForm {
        email: Option<String>,
        form_token: Option<String>,
    }
    let form: LoginForm = serde_urlencoded::from_bytes(&req.body).unwrap_or_default();
    if let Err(e) = app
        .use_form_token(Form::StaffLogin, form.form_token.as_deref(), binding)
        .await
    {
        return form_refused(app, "en", e);
    }
    let note =
        "If this address may see the funnel, a sign-in link is on its way (valid 15 minutes).";
    let email = signin_core::domain::Email::parse(form.email.as_deref().unwrap_or("")).ok();
    match app
        .request_staff_login(email.as_ref(), &requester(req, binding, None))
        .await
    {
        Ok(()) => {}
        Err(signin_core::usecases::StaffLoginError::Limited { retry_after }) => {
            return limited(app, "en", Limited::StartsFromClient, retry_after)
        }
        Err(signin_core::usecases::StaffLoginError::Internal(e)) => {
            return internal_error(app, "en", &e)
        }
    }
    match app.form_token(Form::StaffLogin, binding) {
        Ok(token) => WebResponse::html(
            200,
            pages::staff_login(&app.settings.company_name, &token, Some(note)),
        ),
        Err(e) => internal_error(app, "en", &e),
    }
}

/// `GET /stats/login?t=`: the emailed link shows a button (mail scanners follow links).
fn staff_login_link(app: &App, binding: &str, token: Option<&str>) -> WebResponse {
    if let Err(e) = app.check_link(
        token.unwrap_or(""),
        signin_core::domain::links::Purpose::StaffLogin,
    ) {
        return link_error_page(app, "en", &e);
    }
    match app.form_token(Form::StaffSession, binding) {
        Ok(form_token) => WebResponse::html(
            200,
            pages::confirm(
                &app.settings.company_name,
                "en",
                "Sign in to the funnel",
                "Continue to the sign-in funnel.",
                "/stats/session",
                token.unwrap_or(""),
                &form_token,
                "Sign in",
            ),
        ),
        Err(e) => internal_error(app, "en", &e),
    }
}

/// `POST /stats/session`: spends the one-time link and sets the session cookie.
async fn staff_session(app: &App, binding: &str, req: &WebRequest) -> WebResponse {
    let purpose = signin_core::domain::links::Purpose::StaffLogin;
    let form = Some(Form::StaffSession);
    let (token, _) = match link_post(app, binding, "en", req, None, purpose, form).await {
        Ok(ok) => ok,
        Err(page) => return page,
    };
    match app.staff_session_from_link(&token).await {
        Ok(session) => WebResponse::html(
            303,
            pages::message(
                &app.settings.company_name,
                "en",
                "Signed in",
                &["Opening the funnel…"],
                Some(("Open the funnel", "/stats")),
            ),
        )
        .with_header("location", "/stats")
        .with_header(
            "set-cookie",
            &format!(
                "{}={session}; {}; Max-Age={}",
                staff_cookie(app),
                cookie_attributes(app, "Strict"),
                signin_core::usecases::STAFF_COOKIE_LIFE
            ),
        ),
        Err(signin_core::usecases::StaffError::Used) => replayed(app, "en"),
        Err(signin_core::usecases::StaffError::Link(e)) => link_error_page(app, "en", &e),
        Err(signin_core::usecases::StaffError::Internal(e)) => internal_error(app, "en", &e),
    }
}

fn chrono_day(raw: &str) -> Result<chrono::NaiveDate, ()> {
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| ())
}

fn chrono_days(n: u64) -> chrono::Days {
    chrono::Days::new(n)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::Query;

    #[test]
    fn a_repeated_query_key_keeps_its_first_value_and_the_other_keys() {
        let q = Query::parse("lang=pl&redirectionId=abc&lang=en&redirectionId=def&utm=x&utm=y");
        assert_eq!(q.lang.as_deref(), Some("pl"));
        assert_eq!(q.redirection_id.as_deref(), Some("abc"));
        let q = Query::parse("t=tok%2Bx&t=other");
        assert_eq!(q.t.as_deref(), Some("tok+x"));
        let q = Query::parse("%zz=1&lang=en");
        assert_eq!(q.lang.as_deref(), Some("en"));
    }
}
