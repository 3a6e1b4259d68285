//! create-redirection (API Gateway HTTP API): the start page and `POST /start` — validate the
//! form, assign the stable ownerExternalId, fetch a redirection, save it, 303 to the link.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    signin_runtime::run(|app| async move { signin_runtime::http::serve(app).await }).await
}
