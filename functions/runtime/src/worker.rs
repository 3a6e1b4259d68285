//! SQS batches → import jobs, with partial batch failures: a message that must be retried (or
//! cannot be read) is reported failed, so SQS redelivers it and, after the redrive policy's
//! count, moves it to the dead-letter queue.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use signin_aws::SqsQueue;
use signin_core::usecases::JobOutcome;
use signin_core::App;

use crate::deadline_of;

pub async fn handle_event(
    app: &App,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let deadline = deadline_of(app, &event.context);
    // The batch's jobs run at once: each spends most of its time waiting on Kontomatik, and
    // they are independent (two deliveries of one job meet at the import's claim).
    let outcomes = futures::future::join_all(
        event
            .payload
            .records
            .into_iter()
            .map(|record| run_one(app, record, deadline)),
    )
    .await;
    let mut response = SqsBatchResponse::default();
    for failed in outcomes.into_iter().flatten() {
        response.add_failure(failed);
    }
    Ok(response)
}

/// One message of the batch: `Some(message id)` when it must be delivered again.
async fn run_one(
    app: &App,
    record: aws_lambda_events::event::sqs::SqsMessage,
    deadline: chrono::DateTime<chrono::Utc>,
) -> Option<String> {
    let message_id = record.message_id.clone().unwrap_or_default();
    let job = match SqsQueue::decode(record.body.as_deref().unwrap_or("")) {
        Ok(job) => job,
        Err(e) => {
            tracing::error!(message_id = %message_id, error = %e, "unreadable import job");
            return Some(message_id);
        }
    };
    match app.run_import(&job, deadline).await {
        Ok(JobOutcome::Done(state)) => {
            tracing::info!(redirection = %job.redirection_id, state = state.as_str(), "import job done");
            None
        }
        Ok(JobOutcome::Continued) => None,
        Ok(JobOutcome::RetryLater(why)) => {
            tracing::info!(redirection = %job.redirection_id, reason = %why, "import job retried later");
            Some(message_id)
        }
        Err(e) => {
            tracing::error!(redirection = %job.redirection_id, error = %e, "import job failed");
            Some(message_id)
        }
    }
}

pub async fn serve(app: App) -> Result<(), lambda_runtime::Error> {
    let app = &app;
    lambda_runtime::run(lambda_runtime::service_fn(move |e| handle_event(app, e))).await
}
