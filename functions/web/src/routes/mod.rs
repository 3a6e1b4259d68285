//! Every page and endpoint ([`Route`]), and the dispatch of a request to its room.

pub(crate) mod account;
pub(crate) mod api;
pub(crate) mod callback;
pub(crate) mod cases;
pub(crate) mod links;
pub(crate) mod staff;
pub(crate) mod start;
pub(crate) mod stats;

use signin_core::copy::{self};
use signin_core::App;

use crate::errors::*;
use crate::guard::*;
use crate::pages::{self};
use crate::request::*;
use callback::*;
use cases::*;
use links::*;
use staff::*;
use start::*;
use stats::*;

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
    /// Staff sign out (on every device).
    StatsLogout,
    /// The applicant's log-in form, the link request, the emailed link and its confirmation.
    LoginPage,
    LoginSubmit,
    LoginLink,
    LoginSession,
    Logout,
    /// The applicant's own page and their follow-up choice on it.
    MyPage,
    MyConsent,
    /// Credit staff: the case list, one case, and the next step sent to its applicant.
    Cases,
    CaseView,
    CaseDecide,
    /// Credit staff read a case's latest data from Kontomatik, without the applicant.
    CaseRefresh,
    /// The lender's API (IAM-authorized, `docs/api.md`): start a sign-in, read an application,
    /// list applications changed since a time.
    ApiStartSignIn,
    ApiApplication,
    ApiApplications,
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
        Route::StatsLogout,
        Route::LoginPage,
        Route::LoginSubmit,
        Route::LoginLink,
        Route::LoginSession,
        Route::Logout,
        Route::MyPage,
        Route::MyConsent,
        Route::Cases,
        Route::CaseView,
        Route::CaseDecide,
        Route::CaseRefresh,
        Route::ApiStartSignIn,
        Route::ApiApplication,
        Route::ApiApplications,
    ];

    /// Routes for the lender's systems, authorized by IAM (SigV4) at API Gateway: the template
    /// deploys them with the `AWS_IAM` authorizer (and every other route without), and the
    /// handler refuses a request to one that carries no IAM caller.
    pub fn needs_iam(self) -> bool {
        matches!(
            self,
            Route::ApiStartSignIn | Route::ApiApplication | Route::ApiApplications
        )
    }

    pub fn method(self) -> &'static str {
        match self {
            Route::StartSubmit
            | Route::ResumeSubmit
            | Route::UnsubscribeSubmit
            | Route::EraseSubmit
            | Route::StatsLogin
            | Route::StatsSession
            | Route::StatsLogout
            | Route::LoginSubmit
            | Route::LoginSession
            | Route::Logout
            | Route::MyConsent
            | Route::CaseDecide
            | Route::CaseRefresh
            | Route::ApiStartSignIn => "POST",
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
            Route::StatsLogout => "/stats/logout",
            Route::LoginPage | Route::LoginSubmit => "/login",
            Route::LoginLink => "/login/link",
            Route::LoginSession => "/login/session",
            Route::Logout => "/logout",
            Route::MyPage => "/me",
            Route::MyConsent => "/me/consent",
            Route::Cases => "/cases",
            Route::CaseView => "/cases/view",
            Route::CaseDecide => "/cases/decide",
            Route::CaseRefresh => "/cases/refresh",
            Route::ApiStartSignIn => "/api/sign-ins",
            Route::ApiApplication => "/api/application",
            Route::ApiApplications => "/api/applications",
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

pub(crate) async fn route_bound(
    app: &App,
    req: WebRequest,
    served: &[Route],
    binding: &str,
) -> WebResponse {
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
                    copy::NOT_ALLOWED.get(l),
                    &[copy::THIS_PAGE_DOES_NOT_TAKE_THAT.get(l)],
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
    let page: Page = match route {
        Route::StartPage | Route::StartForm => start_page(app, &req, binding, l).await,
        Route::StartSubmit => start(app, &req, binding).await,
        Route::Callback => callback(app, &req, binding, l, query.redirection_id.as_deref()).await,
        Route::LoginPage => Ok(account::login_page(
            app,
            binding,
            l,
            query.redirection_id.as_deref(),
        )),
        Route::LoginSubmit => Ok(account::login_submit(app, &req, binding, l).await),
        Route::LoginLink => Ok(account::login_link(app, binding, l, query.t.as_deref()).await),
        Route::LoginSession => Ok(account::login_session(app, &req, binding, l).await),
        Route::Logout => Ok(account::logout(app, &req, binding, l).await),
        Route::MyPage => {
            Ok(account::my_page(app, &req, binding, l, query.redirection_id.as_deref()).await)
        }
        Route::MyConsent => Ok(account::my_consent(app, &req, binding, l).await),
        Route::ResumePage => confirm_page(app, binding, l, query.t.as_deref(), &RESUME),
        Route::ResumeSubmit => resume(app, binding, l, &req, query.t.as_deref()).await,
        Route::UnsubscribePage => confirm_page(app, binding, l, query.t.as_deref(), &UNSUBSCRIBE),
        Route::UnsubscribeSubmit => unsubscribe(app, binding, l, &req, query.t.as_deref()).await,
        Route::ErasePage => confirm_page(app, binding, l, query.t.as_deref(), &ERASE),
        Route::EraseSubmit => erase(app, binding, l, &req, query.t.as_deref()).await,
        Route::Stats => Ok(stats(app, &req, &query, binding).await),
        Route::StatsCsv => Ok(stats_csv(app, &req, &query).await),
        Route::StatsLogin => staff_login(app, &req, binding).await,
        Route::StatsLoginLink => staff_login_link(app, binding, query.t.as_deref()),
        Route::StatsSession => staff_session(app, binding, &req).await,
        Route::StatsLogout => staff_logout(app, &req).await,
        Route::Cases => cases(app, &req, &query, binding).await,
        Route::CaseView => case_view(app, &req, &query, binding).await,
        Route::CaseDecide => case_decide(app, &req, binding).await,
        Route::CaseRefresh => case_refresh(app, &req, binding).await,
        // Served before the edge and the forms (lib.rs): never here.
        Route::ApiStartSignIn | Route::ApiApplication | Route::ApiApplications => {
            Ok(api::serve(app, &req, route).await)
        }
        Route::Health => Ok(WebResponse {
            status: 200,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: "ok".into(),
        }),
    };
    page.unwrap_or_else(|failure| failure)
}
