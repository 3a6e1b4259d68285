//! The HTTP side of the flow, independent of any framework: a [`WebRequest`] in, a
//! [`WebResponse`] out. The Lambdas (through `lambda_http`), the local run (through axum) and the
//! tests all call [`handle`]. Every bad input gets a clear 4xx page and writes nothing.

mod errors;
mod guard;
pub mod pages;
mod request;
mod routes;

pub use request::{WebRequest, WebResponse, MAX_BODY};
pub use routes::stats::rows_of;
pub use routes::Route;

use guard::{form_binding, through_edge};
use routes::route_bound;
use signin_core::App;

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

async fn route(app: &App, mut req: WebRequest, served: &[Route]) -> WebResponse {
    // The lender's API: signed by IAM, called at the HTTP API's own URL (SigV4 signs the host),
    // with no cookies or forms.
    if let Some(route) =
        Route::of(&req.method, &req.path).filter(|r| r.needs_iam() && served.contains(r))
    {
        return routes::api::serve(app, &req, route).await;
    }
    match through_edge(app, &mut req) {
        guard::Edge::Served => {}
        guard::Edge::SendOn => {
            // The same page on the domain (through the edge); the query as it came, so that
            // a callback keeps its redirectionId.
            let query = req
                .query
                .as_deref()
                .map(|q| format!("?{q}"))
                .unwrap_or_default();
            let to = format!("{}{}{query}", app.settings.public_base_url, req.path);
            return WebResponse {
                status: 308,
                headers: vec![("location".into(), to)],
                body: String::new(),
            };
        }
        guard::Edge::Refused => {
            tracing::warn!(path = %req.path, "a request that went around the edge was refused");
            return errors::not_through_the_edge(app);
        }
    }
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
