//! What the Lambda functions share: JSON logs, the table of what each function is
//! ([`functions`]), its configuration read from the environment into an [`App`] on the AWS
//! adapters (only the parts it uses), and the mapping of each event type to its use case.
//! A function's `main` is one call.

pub mod functions;
pub mod http;
pub mod operator;
pub mod poller;
pub mod unused_port;
pub mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use chrono::{DateTime, Duration, Utc};
use kontomatik::{ClientConfig, KontomatikClient};
use signin_aws::{load_aws_config, DynamoStore, EventBridgeBus, SesMailer, SqsQueue};
use signin_core::adapters::events::NoEvents;
use signin_core::config::{Config, ConfigError, KontomatikConfig};
use signin_core::ports::EventBus;
use signin_core::ports::{ImportQueue, Kontomatik, Mailer};
use signin_core::{App, Clock, SystemClock, TokioPause};
use thiserror::Error;

pub use functions::{Function, SECRETS};
use unused_port::UnusedPort;

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
    #[error(
        "environment variable {name}_PARAMETER is not set (the SSM parameter that holds {name}; \
         or set {name} itself)"
    )]
    MissingSecret { name: &'static str },
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

/// Variables that are no secrets but may come from an SSM parameter named by `<NAME>_PARAMETER`
/// when not set themselves: the pages' URL, which a stack without a domain publishes there (its
/// HTTP API's own URL, which the functions' environment cannot name; see template.yaml).
pub const FROM_PARAMETER: [&str; 1] = [signin_core::config::vars::PUBLIC_BASE_URL];

/// The secrets among `secrets` that are not set as plain variables, resolved from SSM. Only
/// these parameters are read: a function asks for no secret it does not use.
pub async fn resolve_secrets(
    aws: &aws_config::SdkConfig,
    secrets: impl IntoIterator<Item = &'static str>,
    get: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<HashMap<String, String>, StartupError> {
    let mut resolved = HashMap::new();
    let mut ssm = None;
    for name in secrets {
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

/// Builds the app from a validated configuration on the AWS adapters; a part the function does
/// not read (no Kontomatik, queue or mail configuration) is [`UnusedPort`].
fn app_on(
    function: &'static Function,
    aws: &aws_config::SdkConfig,
    config: Config,
) -> Result<App, StartupError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let unused_port = Arc::new(UnusedPort {
        function: function.name,
    });
    let kontomatik: Arc<dyn Kontomatik> = match config.kontomatik {
        Some(k) => {
            let base = url::Url::parse(&k.base_url)
                .map_err(|e| StartupError::KontomatikUrl(e.to_string()))?;
            Arc::new(signin_core::metrics::MeasuredKontomatik(
                KontomatikClient::new(ClientConfig::new(base, k.api_key))
                    .map_err(|e| StartupError::Client(e.to_string()))?,
            ))
        }
        None => unused_port.clone(),
    };
    let queue: Arc<dyn ImportQueue> = match config.import_queue_url {
        Some(url) => Arc::new(SqsQueue::on(aws, url)),
        None => unused_port.clone(),
    };
    let mailer: Arc<dyn Mailer> = match config.mail {
        Some(mail) => Arc::new(signin_core::metrics::MeasuredMailer(SesMailer::on(
            aws,
            mail.sender_email,
            mail.configuration_set,
            clock.clone(),
        ))),
        None => unused_port,
    };
    let events: Arc<dyn EventBus> = match config.event_bus {
        Some(bus) => Arc::new(EventBridgeBus::on(aws, bus)),
        None => Arc::new(NoEvents),
    };
    Ok(App {
        store: Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(aws),
            config.table_name,
            clock.clone(),
        )),
        queue,
        mailer,
        kontomatik,
        clock,
        pause: Arc::new(TokioPause),
        events,
        settings: config.settings,
    })
}

/// What start-up made of the environment: the app, and the Kontomatik address and key it was
/// built with (`None` for a function that does not call Kontomatik). The operator's probe
/// ([`operator`]) sends its own requests with them; nothing else reads them outside the app.
pub struct Started {
    pub app: App,
    pub kontomatik: Option<KontomatikConfig>,
}

/// Reads the function's variables (and only those, secrets from SSM) and builds its app; a bad
/// environment stops the function with a message naming the variable.
pub async fn app_from_env(function: &'static Function) -> Result<App, StartupError> {
    Ok(started_from_env(function).await?.app)
}

/// As [`app_from_env`], keeping the Kontomatik configuration next to the app.
pub async fn started_from_env(function: &'static Function) -> Result<Started, StartupError> {
    let aws = load_aws_config().await;
    let env = |name: &str| std::env::var(name).ok();
    let from_parameters = function.secrets().chain(
        function
            .reads
            .iter()
            .copied()
            .filter(|v| FROM_PARAMETER.contains(v)),
    );
    let secrets = resolve_secrets(&aws, from_parameters, &env).await?;
    let config = Config::from_lookup(
        &|name| secrets.get(name).cloned().or_else(|| env(name)),
        function.reads,
    )
    .map_err(|e| match e {
        ConfigError::Missing(name) if SECRETS.contains(&name) => {
            StartupError::MissingSecret { name }
        }
        other => other.into(),
    })?;
    let kontomatik = config.kontomatik.clone();
    Ok(Started {
        app: app_on(function, &aws, config)?,
        kontomatik,
    })
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

/// Runs a function's handler loop, logging a failed start-up clearly. A failed start-up
/// returns the error before the first invocation is asked for, so `lambda_runtime` is never
/// started and the error must reach Lambda's `init/error` endpoint: [`report_init_error`].
pub async fn run<F, Fut>(function: &'static Function, serve: F) -> Result<(), lambda_runtime::Error>
where
    F: FnOnce(App) -> Fut,
    Fut: std::future::Future<Output = Result<(), lambda_runtime::Error>>,
{
    run_started(function, |started| serve(started.app)).await
}

/// As [`run`], handing the handler loop what start-up made ([`Started`]): the app and the
/// Kontomatik configuration (the operator's commands need both).
pub async fn run_started<F, Fut>(
    function: &'static Function,
    serve: F,
) -> Result<(), lambda_runtime::Error>
where
    F: FnOnce(Started) -> Fut,
    Fut: std::future::Future<Output = Result<(), lambda_runtime::Error>>,
{
    init_tracing();
    // Metrics as EMF lines on standard output, dimensioned by the deployed function's name
    // (unique per stack, and what the template's dashboard refers to).
    let deployed_name =
        std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| function.name.to_owned());
    signin_core::metrics::install_stdout(&deployed_name);
    let started = match started_from_env(function).await {
        Ok(started) => started,
        Err(e) => {
            tracing::error!(error = %e, "start-up failed");
            report_init_error(&e).await;
            return Err(e.into());
        }
    };
    serve(started).await
}

/// Tells Lambda why the function could not start (`POST /runtime/init/error`), so the failed
/// invocation and the console show the message (it names the variable or parameter), not only
/// "Runtime exited". The message never holds a secret's value: configuration errors name the
/// variable and the reason only.
pub async fn report_init_error(e: &StartupError) {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let body = serde_json::json!({
        "errorMessage": e.to_string(),
        "errorType": "StartupError",
        "stackTrace": [],
    });
    let sent = reqwest::Client::new()
        .post(format!("http://{api}/2018-06-01/runtime/init/error"))
        .header("Lambda-Runtime-Function-Error-Type", "Runtime.StartupError")
        .json(&body)
        .timeout(std::time::Duration::from_secs(2))
        .send()
        .await;
    if let Err(err) = sent {
        tracing::warn!(error = %err, "could not report the start-up failure to the Runtime API");
    }
}
