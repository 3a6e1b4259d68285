//! callback (API Gateway HTTP API): `GET /kontomatik-signin?redirectionId=ID` — check the status,
//! save the session and queue the import on success, show the user the next step.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    signin_runtime::run(|app| async move { signin_runtime::http::serve(app).await }).await
}
