//! The HTTP side of the flow, independent of any framework: a [`WebRequest`] in, a
//! [`WebResponse`] out. The Lambdas (through `lambda_http`), the local run (through axum) and the
//! tests all call [`handle`]. Every bad input gets a clear 4xx page and writes nothing.

pub mod pages;

use serde::Deserialize;
use signin_core::flow::{CallbackError, CallbackView, Delivery, StartError, StartForm};
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
struct TokenForm {
    t: Option<String>,
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
}

fn page_lang(app: &App, raw: Option<&str>) -> String {
    raw.and_then(|l| signin_core::domain::Language::parse(l).ok())
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
    Stats,
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
        Route::Stats,
    ];

    pub fn method(self) -> &'static str {
        match self {
            Route::StartSubmit | Route::ResumeSubmit | Route::UnsubscribeSubmit => "POST",
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
            Route::Stats => "/stats",
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

/// Routes one request to any page (the local run serves every route from one process).
pub async fn handle(app: &App, req: WebRequest) -> WebResponse {
    handle_routes(app, req, Route::ALL).await
}

/// Routes one request among `served`; every other path is 404 (a Lambda function answers only
/// for its own routes, even if API Gateway were misconfigured to send it others).
pub async fn handle_routes(app: &App, req: WebRequest, served: &[Route]) -> WebResponse {
    let company = app.settings.company_name.clone();
    let query = Query::parse(req.query.as_deref().unwrap_or(""));
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
                    "en",
                    "Not allowed",
                    &["This page does not take that kind of request."],
                    None,
                ),
            )
            .with_header("allow", &allow.join(", "));
        }
        return WebResponse::html(
            404,
            pages::message(
                &company,
                "en",
                "Page not found",
                &["There is no page at this address."],
                Some(("Start", "/")),
            ),
        );
    };
    match route {
        Route::StartPage | Route::StartForm => {
            let values = pages::StartValues {
                language: page_lang(app, query.lang.as_deref()),
                country: app.settings.default_country.as_str().into(),
                ..Default::default()
            };
            WebResponse::html(200, pages::start(&company, &values, None))
        }
        Route::StartSubmit => start(app, &req.body).await,
        Route::Callback => callback(app, query.redirection_id.as_deref()).await,
        Route::ResumePage => resume_page(app, query.t.as_deref()),
        Route::ResumeSubmit => resume(app, &req.body, query.t.as_deref()).await,
        Route::UnsubscribePage => unsubscribe_page(app, query.t.as_deref()),
        Route::UnsubscribeSubmit => unsubscribe(app, &req.body, query.t.as_deref()).await,
        Route::Stats => stats(app, &req, &query).await,
        Route::Health => WebResponse {
            status: 200,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: "ok".into(),
        },
    }
}

async fn start(app: &App, body: &[u8]) -> WebResponse {
    let company = app.settings.company_name.clone();
    if body.len() > MAX_BODY {
        return WebResponse::html(
            413,
            pages::message(
                &company,
                "en",
                "Too much data",
                &["The form sent more data than it can hold."],
                Some(("Back", "/")),
            ),
        );
    }
    let form: FormBody = match serde_urlencoded::from_bytes(body) {
        Ok(f) => f,
        Err(_) => {
            return WebResponse::html(
                400,
                pages::start(
                    &company,
                    &Default::default(),
                    Some("The form could not be read. Please fill it in again."),
                ),
            )
        }
    };
    let values = pages::StartValues {
        email: form
            .email
            .clone()
            .unwrap_or_default()
            .chars()
            .take(254)
            .collect(),
        name: form
            .name
            .clone()
            .unwrap_or_default()
            .chars()
            .take(100)
            .collect(),
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
    let start_form = StartForm {
        email: form.email,
        name: form.name,
        follow_up_consent: form.follow_up_consent,
        language: form.language,
        country: form.country,
        delivery: form.delivery,
    };
    match app.start_sign_in(&start_form).await {
        Ok(started) => match started.delivery {
            Delivery::Redirect => WebResponse::html(
                303,
                pages::redirecting(
                    &company,
                    started.redirection.language.as_str(),
                    &started.link,
                ),
            )
            .with_header("location", &started.link),
            Delivery::Email => WebResponse::html(
                200,
                pages::link_emailed(
                    &company,
                    started.redirection.language.as_str(),
                    &pages::mask_email(started.redirection.email.as_str()),
                ),
            ),
        },
        Err(StartError::Invalid(e)) => {
            WebResponse::html(400, pages::start(&company, &values, Some(&e.to_string())))
        }
        Err(StartError::Unavailable(e)) => {
            tracing::warn!(error = %e, "Kontomatik unavailable at start");
            WebResponse::html(
                503,
                pages::start(
                    &company,
                    &values,
                    Some("The bank connection service is busy right now. Please try again in a minute."),
                ),
            )
            .with_header("retry-after", "60")
        }
        Err(StartError::Internal(e)) => {
            tracing::error!(error = %e, "start failed");
            WebResponse::html(
                500,
                pages::start(
                    &company,
                    &values,
                    Some("Something went wrong on our side. Please try again."),
                ),
            )
        }
    }
}

async fn callback(app: &App, raw_id: Option<&str>) -> WebResponse {
    let company = app.settings.company_name.clone();
    let outcome = match app.callback(raw_id).await {
        Ok(o) => o,
        Err(CallbackError::Invalid(e)) => {
            return WebResponse::html(
                400,
                pages::message(
                    &company,
                    "en",
                    "This link is not valid",
                    &[&format!(
                        "The address is missing a valid sign-in reference ({e})."
                    )],
                    Some(("Start again", "/")),
                ),
            )
        }
        Err(CallbackError::Unknown) => {
            return WebResponse::html(
                404,
                pages::message(
                    &company,
                    "en",
                    "We don't know this sign-in",
                    &["It may be more than a day old. You can start a new one."],
                    Some(("Start again", "/")),
                ),
            )
        }
        Err(CallbackError::Internal(e)) => {
            tracing::error!(error = %e, "callback failed");
            return WebResponse::html(
                500,
                pages::message(
                    &company,
                    "en",
                    "Something went wrong on our side",
                    &["Your sign-in is not lost. Please reload this page in a moment."],
                    None,
                ),
            );
        }
    };
    let r = &outcome.redirection;
    let lang = r.language.as_str();
    let email = pages::mask_email(r.email.as_str());
    let restart = app.start_url(r.language);
    let page = |status: u16, title: &str, paras: &[&str], button: Option<(&str, &str)>| {
        WebResponse::html(status, pages::message(&company, lang, title, paras, button))
    };
    match outcome.view {
        CallbackView::Importing => page(
            200,
            "Thank you – we are importing your data",
            &[
                "Your bank connection worked. We are fetching your account history now.",
                &format!("You can close this page: we will email {email} when it is done."),
            ],
            None,
        ),
        CallbackView::Imported => page(
            200,
            "All done – we have your data",
            &[&format!("We received your bank data and emailed the next steps to {email}.")],
            None,
        ),
        CallbackView::ImportFailed => page(
            200,
            "We could not fetch your data",
            &["The bank connection worked but fetching the data failed. Please sign in again to retry."],
            Some(("Try again", &restart)),
        ),
        CallbackView::SignInFailed(error) => {
            let reason = error.map(|e| e.message).unwrap_or_default();
            page(
                200,
                "The bank sign-in did not finish",
                &["Nothing was shared.", &reason],
                Some(("Try again", &restart)),
            )
        }
        CallbackView::Expired => page(
            200,
            "This sign-in link has expired",
            &["Links work for one hour. Start a fresh one – it only takes a minute."],
            Some(("Start a new sign-in", &restart)),
        ),
        CallbackView::StillOpen => page(
            200,
            "Your bank sign-in is still in progress",
            &[&format!("As soon as it finishes we will take it from here and email {email}.")],
            None,
        ),
        CallbackView::TryLater => page(
            503,
            "We are still waiting for the bank connection service",
            &["Nothing is lost: we will check again in a few minutes and email you. You can also reload this page shortly."],
            None,
        )
        .with_header("retry-after", "120"),
    }
}

fn link_error_page(app: &App, e: &signin_core::links::LinkError) -> WebResponse {
    use signin_core::links::LinkError;
    let company = &app.settings.company_name;
    let start = app.start_url(app.settings.default_language);
    match e {
        LinkError::Expired => WebResponse::html(
            410,
            pages::message(company, "en", "This link has expired", &["You can start a new sign-in from our start page."], Some(("Start again", &start))),
        ),
        LinkError::Invalid => WebResponse::html(
            400,
            pages::message(company, "en", "This link is not valid", &["It may have been cut off or changed. You can start a new sign-in from our start page."], Some(("Start again", &start))),
        ),
    }
}

fn token_of(body: &[u8], query: Option<&str>) -> Option<String> {
    if body.len() > MAX_BODY {
        return None;
    }
    serde_urlencoded::from_bytes::<TokenForm>(body)
        .ok()
        .and_then(|f| f.t)
        .or_else(|| query.map(str::to_owned))
}

/// GET of a signed link: a page with a button (a POST), so mail scanners that follow links
/// change nothing.
fn confirm_page(
    app: &App,
    token: Option<&str>,
    purpose: signin_core::links::Purpose,
    (title, text, action, button): (&str, &str, &str, &str),
) -> WebResponse {
    match app.check_link(token.unwrap_or(""), purpose) {
        Ok(claims) => WebResponse::html(
            200,
            pages::confirm(
                &app.settings.company_name,
                claims.language.as_str(),
                title,
                text,
                action,
                token.unwrap_or(""),
                button,
            ),
        ),
        Err(e) => link_error_page(app, &e),
    }
}

fn resume_page(app: &App, token: Option<&str>) -> WebResponse {
    confirm_page(
        app,
        token,
        signin_core::links::Purpose::Resume,
        (
            "Continue connecting your bank",
            "You will get a fresh, secure sign-in link and go straight to your bank.",
            "/resume",
            "Continue to my bank",
        ),
    )
}

fn unsubscribe_page(app: &App, token: Option<&str>) -> WebResponse {
    confirm_page(
        app,
        token,
        signin_core::links::Purpose::Unsubscribe,
        (
            "Unsubscribe from reminders",
            "We will not email you reminders about unfinished bank connections any more. Emails about data you shared are not affected.",
            "/unsubscribe",
            "Unsubscribe",
        ),
    )
}

/// The page for a signed link that could not be used.
fn link_use_error(app: &App, e: signin_core::flow::LinkUseError) -> WebResponse {
    use signin_core::flow::LinkUseError;
    let company = &app.settings.company_name;
    match e {
        LinkUseError::Link(e) => link_error_page(app, &e),
        LinkUseError::UnknownUser => link_error_page(app, &signin_core::links::LinkError::Invalid),
        LinkUseError::Start(StartError::Unavailable(_)) => WebResponse::html(
            503,
            pages::message(
                company,
                "en",
                "Please try again in a minute",
                &["The bank connection service is busy right now."],
                None,
            ),
        )
        .with_header("retry-after", "60"),
        e => {
            tracing::error!(error = %e, "a signed link failed");
            WebResponse::html(
                500,
                pages::message(
                    company,
                    "en",
                    "Something went wrong on our side",
                    &["Please try the link again in a moment."],
                    None,
                ),
            )
        }
    }
}

async fn resume(app: &App, body: &[u8], query_token: Option<&str>) -> WebResponse {
    let token = token_of(body, query_token).unwrap_or_default();
    match app.resume(&token).await {
        Ok(started) => WebResponse::html(
            303,
            pages::redirecting(
                &app.settings.company_name,
                started.redirection.language.as_str(),
                &started.link,
            ),
        )
        .with_header("location", &started.link),
        Err(e) => link_use_error(app, e),
    }
}

/// POST: from the page's button, or one-click from the mail client (RFC 8058: the token in the
/// URL, `List-Unsubscribe=One-Click` in the body).
async fn unsubscribe(app: &App, body: &[u8], query_token: Option<&str>) -> WebResponse {
    let token = token_of(body, query_token).unwrap_or_default();
    match app.unsubscribe(&token).await {
        Ok(claims) => WebResponse::html(
            200,
            pages::message(
                &app.settings.company_name,
                claims.language.as_str(),
                "You are unsubscribed",
                &["You will not get reminder emails from us any more."],
                None,
            ),
        ),
        Err(e) => link_use_error(app, e),
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

/// Funnel statistics as JSON, for marketing: `Authorization: Bearer <STATS_TOKEN>`.
async fn stats(app: &App, req: &WebRequest, query: &Query) -> WebResponse {
    let Some(expected) = app.settings.stats_token.as_ref() else {
        return WebResponse::html(
            404,
            pages::message(
                &app.settings.company_name,
                "en",
                "Page not found",
                &["There is no page at this address."],
                None,
            ),
        );
    };
    let given = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(given.as_bytes(), expected.expose().as_bytes()) {
        return json(
            401,
            r#"{"error":"a valid bearer token is required"}"#.into(),
        )
        .with_header("www-authenticate", "Bearer");
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
