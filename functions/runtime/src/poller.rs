//! The EventBridge schedule → one poller run.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use signin_core::App;

use crate::deadline_of;

/// Status checks made at once.
pub const CONCURRENCY: usize = 8;

/// What a run reports (also the function's return value, visible in the console).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub due: usize,
    pub checked: usize,
    pub deferred: usize,
    pub finished: usize,
    pub imports_queued: usize,
    pub closed: usize,
    pub errors: usize,
    pub out_of_time: bool,
}

pub async fn handle_event(
    app: &App,
    event: LambdaEvent<EventBridgeEvent<serde_json::Value>>,
) -> Result<RunReport, lambda_runtime::Error> {
    // Leave a margin before Lambda's deadline for the last writes.
    let deadline = deadline_of(app, &event.context) - chrono::Duration::seconds(10);
    let r = app.poll_due(deadline, CONCURRENCY).await?;
    let report = RunReport {
        due: r.due,
        checked: r.checked,
        deferred: r.deferred,
        finished: r.finished,
        imports_queued: r.imports_queued,
        closed: r.closed,
        errors: r.errors,
        out_of_time: r.out_of_time,
    };
    tracing::info!(
        due = report.due,
        checked = report.checked,
        deferred = report.deferred,
        finished = report.finished,
        imports_queued = report.imports_queued,
        closed = report.closed,
        errors = report.errors,
        out_of_time = report.out_of_time,
        "poller run"
    );
    Ok(report)
}

pub async fn serve(app: App) -> Result<(), lambda_runtime::Error> {
    let app = &app;
    lambda_runtime::run(lambda_runtime::service_fn(move |e| handle_event(app, e))).await
}
