//! API Gateway HTTP API (v2) events ↔ the framework-neutral web layer.

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use signin_core::App;
use signin_web::{handle_routes, Route, WebRequest, WebResponse};

use crate::Started;

/// Turns an API Gateway request into a [`WebRequest`].
pub fn to_web(req: &Request) -> WebRequest {
    let raw = req.raw_http_path();
    let path = if raw.is_empty() {
        req.uri().path()
    } else {
        raw
    };
    WebRequest {
        method: req.method().as_str().to_owned(),
        path: path.to_owned(),
        query: req.uri().query().map(str::to_owned),
        body: req.body().as_ref().to_vec(),
        headers: req
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        // The address API Gateway saw the request come from (not a header a client can set).
        client_ip: match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
            _ => None,
        },
        // Set by API Gateway only when it verified the request's SigV4 signature (a route
        // with the AWS_IAM authorizer); a client cannot put it there.
        iam_caller: match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx
                .authorizer
                .as_ref()
                .and_then(|a| a.iam.as_ref())
                .and_then(|iam| iam.user_arn.clone().or(iam.caller_id.clone())),
            _ => None,
        },
    }
}

pub fn from_web(res: WebResponse) -> Result<Response<Body>, lambda_http::http::Error> {
    let mut builder = Response::builder().status(res.status);
    for (k, v) in &res.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    builder.body(Body::Text(res.body))
}

/// Handles one HTTP request among the function's `routes` (any other path: 404).
pub async fn handle_request(
    app: &App,
    routes: &[Route],
    req: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let web = to_web(&req);
    Ok(from_web(handle_routes(app, web, routes).await)?)
}

/// Serves HTTP events for `routes` until the runtime stops.
pub async fn serve(app: App, routes: &'static [Route]) -> Result<(), lambda_http::Error> {
    let app = &app;
    lambda_http::run(lambda_http::service_fn(move |req| {
        handle_request(app, routes, req)
    }))
    .await
}

/// Serves HTTP events for `routes`, and the operator's commands ([`crate::operator`]) sent by
/// a direct invocation. An HTTP event goes through `lambda_http`'s own adapter, exactly as
/// [`serve`] does.
pub async fn serve_with_operator(
    started: Started,
    routes: &'static [Route],
) -> Result<(), lambda_runtime::Error> {
    let started = &started;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<Box<serde_json::value::RawValue>>| async move {
            handle_event(started, routes, event).await
        },
    ))
    .await
}

/// One event of [`serve_with_operator`]: an operator command, else an HTTP request.
pub async fn handle_event(
    started: &Started,
    routes: &'static [Route],
    event: lambda_runtime::LambdaEvent<Box<serde_json::value::RawValue>>,
) -> Result<serde_json::Value, lambda_runtime::Error> {
    use lambda_http::Service;
    let (raw, context) = event.into_parts();
    let value: serde_json::Value = serde_json::from_str(raw.get())?;
    if let Some(command) = crate::operator::command_of(&value) {
        return Ok(crate::operator::run(started, command?).await?);
    }
    let app = &started.app;
    drop(value);
    let request: lambda_http::request::LambdaRequest = serde_json::from_str(raw.get())?;
    let mut adapter = lambda_http::Adapter::from(lambda_http::service_fn(move |req| {
        handle_request(app, routes, req)
    }));
    let response = adapter
        .call(lambda_runtime::LambdaEvent::new(request, context))
        .await?;
    Ok(serde_json::to_value(response)?)
}
