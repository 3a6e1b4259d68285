//! What the four Lambda functions share: JSON logs, configuration from the environment turned
//! into an [`App`] on the AWS adapters, and the mapping of each event type to its use case.
//! A function's `main` is one call.

pub mod http;
pub mod iam;
pub mod poller;
pub mod worker;

use std::collections::HashMap;
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
    #[error("{name}: could not read SSM parameter {parameter}: {reason}")]
    Secret {
        name: &'static str,
        parameter: String,
        reason: String,
    },
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

/// Secrets that may come from SSM Parameter Store: when `NAME` is unset and `NAME_PARAMETER`
/// names a (SecureString) parameter, its decrypted value is used.
pub const SECRETS: [&str; 3] = ["KONTOMATIK_API_KEY", "LINK_SIGNING_KEY", "STATS_TOKEN"];

/// The environment with secrets resolved from SSM.
pub async fn resolve_secrets(
    aws: &aws_config::SdkConfig,
    get: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<HashMap<String, String>, StartupError> {
    let mut resolved = HashMap::new();
    let mut ssm = None;
    for name in SECRETS {
        if get(name).is_some_and(|v| !v.trim().is_empty()) {
            continue;
        }
        let Some(parameter) = get(&format!("{name}_PARAMETER")).filter(|p| !p.trim().is_empty())
        else {
            continue;
        };
        let client = ssm.get_or_insert_with(|| aws_sdk_ssm::Client::new(aws));
        let out = client
            .get_parameter()
            .name(&parameter)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| StartupError::Secret {
                name,
                parameter: parameter.clone(),
                reason: aws_sdk_ssm::error::DisplayErrorContext(e).to_string(),
            })?;
        let value = out
            .parameter
            .and_then(|p| p.value)
            .ok_or_else(|| StartupError::Secret {
                name,
                parameter: parameter.clone(),
                reason: "the parameter has no value".into(),
            })?;
        resolved.insert(name.to_owned(), value);
    }
    Ok(resolved)
}

/// Builds the app from a validated configuration on the AWS adapters.
fn app_on(aws: &aws_config::SdkConfig, config: Config) -> Result<App, StartupError> {
    let aws = aws.clone();
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
    let aws = load_aws_config().await;
    let env = |name: &str| std::env::var(name).ok();
    let secrets = resolve_secrets(&aws, &env).await?;
    let config = Config::from_lookup(&|name| secrets.get(name).cloned().or_else(|| env(name)))?;
    app_on(&aws, config)
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
