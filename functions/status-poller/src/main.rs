//! status-poller (EventBridge schedule): checks due redirections at the paced interval.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    signin_runtime::run(signin_runtime::poller::serve).await
}
