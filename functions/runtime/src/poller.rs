//! The EventBridge schedule → one poller run.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;
use signin_core::ports::POLL_SHARDS;
use signin_core::App;

use crate::deadline_of;

/// Status checks made at once. Kontomatik limits how often one id is asked, not how many ids
/// at once; 32 checks of ~50-300 ms each keep a run near its floor `due × latency / 32`
/// (poller_bench), where 8 took four times as long.
pub const CONCURRENCY: usize = 32;

/// What a run reports.
pub type RunReport = signin_core::usecases::PollReport;

/// What starts a run: the schedule's own event (every shard), or, with the template's
/// `PollerFanOut=per-shard`, a schedule target's constant input naming the shards of this run.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum PollerEvent {
    Shards { shards: Vec<u8> },
    Scheduled(EventBridgeEvent<serde_json::Value>),
}

pub async fn handle_event(
    app: &App,
    event: LambdaEvent<PollerEvent>,
) -> Result<RunReport, lambda_runtime::Error> {
    // Lambda's own deadline: the run starts no status check with less than the call budget
    // (the client's timeout and the writes after it) left.
    let deadline = deadline_of(app, &event.context);
    let shards = match event.payload {
        PollerEvent::Shards { mut shards } => {
            shards.sort_unstable();
            shards.dedup();
            if shards.is_empty() || shards.iter().any(|s| *s >= POLL_SHARDS) {
                return Err(format!(
                    "the schedule's input names shards {shards:?}; there are {POLL_SHARDS} (0-{})",
                    POLL_SHARDS - 1
                )
                .into());
            }
            shards
        }
        PollerEvent::Scheduled(_) => signin_core::usecases::all_shards(),
    };
    let report = app.poll_shards(deadline, CONCURRENCY, &shards).await?;
    tracing::info!(
        shards = ?shards,
        due = report.due,
        checked = report.checked,
        deferred = report.deferred,
        finished = report.finished,
        imports_queued = report.imports_queued,
        imports_ended = report.imports_ended,
        closed = report.closed,
        follow_ups_sent = report.follow_ups_sent,
        follow_ups_skipped = report.follow_ups_skipped,
        errors = report.errors,
        out_of_time = report.out_of_time,
        oldest_due_seconds = report.oldest_due_seconds,
        "poller run"
    );
    use signin_core::metrics::put;
    put("PollerDue", None, report.due as f64);
    put("PollerChecked", None, report.checked as f64);
    put("PollerOldestDueAge", None, report.oldest_due_seconds as f64);
    Ok(report)
}

pub async fn serve(app: App) -> Result<(), lambda_runtime::Error> {
    let app = &app;
    lambda_runtime::run(lambda_runtime::service_fn(move |e| handle_event(app, e))).await
}
