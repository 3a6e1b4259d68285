//! unsubscribe-and-stats (API Gateway HTTP API): the signed links of a person's own data
//! (unsubscribe, erase), the applicant's log-in and own page, and the funnel statistics for
//! marketing. A direct invocation (`aws lambda invoke`, IAM-authorized) runs the operator's
//! commands instead: `{"operator":"erase","email":"…"}`, `{"operator":"probe"}`
//! (signin_runtime::operator).

use signin_runtime::functions::UNSUBSCRIBE_AND_STATS;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    signin_runtime::run_started(&UNSUBSCRIBE_AND_STATS, |started| {
        signin_runtime::http::serve_with_operator(started, UNSUBSCRIBE_AND_STATS.routes())
    })
    .await
}
