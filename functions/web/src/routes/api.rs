//! The lender's API (`docs/api.md`): JSON routes for the lender's systems, authorized by IAM
//! (SigV4) at API Gateway. No cookies, forms or edge here: the caller is the IAM principal API
//! Gateway verified, and a request without one is refused (a route deployed without IAM auth
//! must not open the data to anyone).

use signin_core::usecases::ApiError;
use signin_core::App;

use super::Route;
use crate::request::*;

fn error(status: u16, message: &str) -> WebResponse {
    json(status, serde_json::json!({ "error": message }).to_string())
}

fn api_error(e: ApiError) -> WebResponse {
    match e {
        ApiError::Invalid(why) => error(400, &why),
        ApiError::NotFound => error(404, &e.to_string()),
        ApiError::Unavailable => error(503, &e.to_string()).with_header("retry-after", "30"),
        ApiError::Internal(e) => {
            tracing::error!(error = %e, "an API request failed");
            error(500, "something went wrong on our side; retry later")
        }
    }
}

fn ok<T: serde::Serialize>(status: u16, body: &T) -> WebResponse {
    match serde_json::to_string(body) {
        Ok(body) => json(status, body),
        Err(_) => error(500, "could not encode the answer"),
    }
}

/// One request to an API route.
pub(crate) async fn serve(app: &App, req: &WebRequest, route: Route) -> WebResponse {
    let Some(caller) = req.iam_caller.as_deref() else {
        tracing::warn!(path = %req.path, "an API request came without an IAM caller; refused");
        return error(401, "this route needs an IAM-signed request (SigV4)");
    };
    if !app.settings.lender_api_caller_allowed(caller) {
        tracing::warn!(path = %req.path, "an API request from an IAM caller that is not the lender's role; refused");
        return error(403, "this IAM caller may not use the lender's API");
    }
    let query = Query::parse(req.query.as_deref().unwrap_or(""));
    match route {
        Route::ApiStartSignIn => match app.api_start(caller, &req.body).await {
            Ok(started) => ok(201, &started),
            Err(e) => api_error(e),
        },
        Route::ApiApplication => {
            let Some(external) = query.external_application_id.as_deref() else {
                return error(400, "externalApplicationId is missing");
            };
            match app.api_application(caller, external).await {
                Ok(state) => ok(200, &state),
                Err(e) => api_error(e),
            }
        }
        Route::ApiApplications => {
            let since = query
                .changed_since
                .as_deref()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&chrono::Utc));
            let Some(since) = since else {
                return error(
                    400,
                    "changedSince must be an RFC 3339 time, e.g. 2026-12-07T09:00:00Z",
                );
            };
            match app.api_changes(since, query.cursor.as_deref()).await {
                Ok(page) => ok(200, &page),
                Err(e) => api_error(e),
            }
        }
        _ => error(404, "no such API route"),
    }
}
