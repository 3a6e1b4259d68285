//! create-redirection (API Gateway HTTP API): the start page and `POST /start` — validate the
//! form, assign the stable ownerExternalId, fetch a redirection, save it, 303 to the link — and
//! a follow-up's `/resume` link, which starts a fresh redirection the same way.

use signin_runtime::functions::CREATE_REDIRECTION;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    signin_runtime::run(&CREATE_REDIRECTION, |app| {
        signin_runtime::http::serve(app, CREATE_REDIRECTION.routes())
    })
    .await
}
