//! callback (API Gateway HTTP API): `GET /kontomatik-signin?redirectionId=ID` — check the status,
//! save the session and queue the import on success, show the user the next step.

use signin_runtime::functions::CALLBACK;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    signin_runtime::run(&CALLBACK, |app| {
        signin_runtime::http::serve(app, CALLBACK.routes())
    })
    .await
}
