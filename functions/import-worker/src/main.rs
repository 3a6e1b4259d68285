//! import-worker (SQS, partial batch failures): Default Import once per session, then the
//! command's result, summary and email.

use signin_runtime::functions::IMPORT_WORKER;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    signin_runtime::run(&IMPORT_WORKER, signin_runtime::worker::serve).await
}
