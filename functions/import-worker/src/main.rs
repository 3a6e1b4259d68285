//! import-worker (SQS, partial batch failures): Default Import once per session, then the
//! command's result, summary and email.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    signin_runtime::run(signin_runtime::worker::serve).await
}
