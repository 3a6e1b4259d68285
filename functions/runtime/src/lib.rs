//! What the four Lambda functions share: JSON logs, configuration from the environment turned
//! into an [`App`] on the AWS adapters, and the mapping of each event type to its use case.
//! A function's `main` is one call.

pub mod http;
pub mod poller;
pub mod worker;

use std::sync::Arc;
use std::time::SystemTime;

use chrono::{DateTime, Duration, Utc};
use kontomatik::{ClientConfig, KontomatikClient};
use signin_aws::{load_aws_config, DynamoStore, SesMailer, SqsQueue};
use signin_core::config::{Config, ConfigError};
use signin_core::{App, Clock, SystemClock, TokioPause};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("KONTOMATIK_BASE_URL: {0}")]
    KontomatikUrl(String),
    #[error("could not build the Kontomatik client: {0}")]
    Client(String),
}

/// JSON logs to stdout (CloudWatch), level from `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_target(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
}

/// Builds the app from a validated configuration on the AWS adapters.
pub async fn app_from_config(config: Config) -> Result<App, StartupError> {
    let aws = load_aws_config().await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let base = url::Url::parse(&config.kontomatik_base_url)
        .map_err(|e| StartupError::KontomatikUrl(e.to_string()))?;
    let kontomatik = KontomatikClient::new(ClientConfig::new(base, config.kontomatik_api_key))
        .map_err(|e| StartupError::Client(e.to_string()))?;
    Ok(App {
        store: Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&aws),
            config.table_name,
            clock.clone(),
        )),
        queue: Arc::new(SqsQueue::new(
            aws_sdk_sqs::Client::new(&aws),
            config.import_queue_url,
        )),
        mailer: Arc::new(SesMailer::new(
            aws_sdk_sesv2::Client::new(&aws),
            config.sender_email,
            config.ses_configuration_set,
            clock.clone(),
        )),
        kontomatik: Arc::new(kontomatik),
        clock,
        pause: Arc::new(TokioPause),
        settings: config.settings,
    })
}

/// Reads the environment and builds the app; a bad environment stops the function with a
/// message naming the variable.
pub async fn app_from_env() -> Result<App, StartupError> {
    app_from_config(Config::from_env()?).await
}

/// The moment (on the app's clock) by which an invocation must be done, from Lambda's deadline.
/// Without a deadline (tests, local), one minute from now.
pub fn deadline_of(app: &App, ctx: &lambda_runtime::Context) -> DateTime<Utc> {
    let now = app.now();
    if ctx.deadline == 0 {
        return now + Duration::minutes(1);
    }
    let remaining = ctx
        .deadline()
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    now + Duration::from_std(remaining).unwrap_or_else(|_| Duration::zero())
}

/// Runs a function's handler loop, logging a failed start-up clearly.
pub async fn run<F, Fut>(serve: F) -> Result<(), lambda_runtime::Error>
where
    F: FnOnce(App) -> Fut,
    Fut: std::future::Future<Output = Result<(), lambda_runtime::Error>>,
{
    init_tracing();
    let app = match app_from_env().await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "start-up failed");
            return Err(e.into());
        }
    };
    serve(app).await
}
