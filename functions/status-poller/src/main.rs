//! status-poller (EventBridge schedule): checks due redirections at the paced interval.

use signin_runtime::functions::STATUS_POLLER;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    signin_runtime::run(&STATUS_POLLER, signin_runtime::poller::serve).await
}
