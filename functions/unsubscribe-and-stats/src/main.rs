//! unsubscribe-and-stats (API Gateway HTTP API): the unsubscribe link of our emails
//! (`GET`/`POST /unsubscribe`) and the funnel statistics for marketing (`GET /stats`). It holds
//! no Kontomatik key and sends no email.

use signin_runtime::functions::UNSUBSCRIBE_AND_STATS;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    signin_runtime::run(&UNSUBSCRIBE_AND_STATS, |app| {
        signin_runtime::http::serve(app, UNSUBSCRIBE_AND_STATS.routes())
    })
    .await
}
