//! The `erase` commands: one person erased from a deployed table (and the real Kontomatik),
//! or from a local run's saved state, with nothing else running.

use std::path::PathBuf;
use std::sync::Arc;

use kontomatik::{ClientConfig, KontomatikClient};
use kontomatik_sandbox::SandboxOptions;
use signin_core::adapters::embedded::{EmbeddedQueue, EmbeddedStore, Outbox};
use signin_core::adapters::events::{EventLog, NoEvents};
use signin_core::config::Settings;
use signin_core::domain::Secret;
use signin_core::ports::Kontomatik;
use signin_core::{App, Clock};

use crate::persist::STATE_FILE;
use crate::{DevError, Embedded};

/// `devstack --aws erase`: erases one person from a deployed table (`TABLE_NAME`, which must
/// exist) and asks the real Kontomatik (`KONTOMATIK_BASE_URL`, `KONTOMATIK_API_KEY`) to delete
/// their owner data. Nothing else runs: no poller, no worker, no pages, nothing created.
pub async fn erase_in_aws(
    email: &signin_core::domain::Email,
) -> Result<signin_core::usecases::Erased, DevError> {
    let var = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| DevError::Setup(format!("erase --aws needs {name}")))
    };
    let table = var("TABLE_NAME")?;
    let base = url::Url::parse(&var("KONTOMATIK_BASE_URL")?)
        .map_err(|e| DevError::Setup(format!("KONTOMATIK_BASE_URL: {e}")))?;
    let kontomatik = KontomatikClient::new(ClientConfig::new(
        base,
        Secret::new(var("KONTOMATIK_API_KEY")?),
    ))
    .map_err(|e| DevError::Setup(e.to_string()))?;
    let aws = signin_aws::load_aws_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&aws);
    dynamo
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .map_err(|e| {
            DevError::Setup(format!(
                "table {table}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e)
            ))
        })?;
    let clock: Arc<dyn Clock> = Arc::new(signin_core::SystemClock);
    let unused_port = Arc::new(signin_runtime::unused_port::UnusedPort {
        function: "devstack erase",
    });
    let app = App {
        store: Arc::new(signin_aws::DynamoStore::new(dynamo, table, clock.clone())),
        queue: unused_port.clone(),
        mailer: unused_port,
        kontomatik: Arc::new(kontomatik),
        clock,
        pause: Arc::new(signin_core::TokioPause),
        // With EVENT_BUS_NAME (the stack's EventBusName), subscribers hear of the erasure too.
        events: match std::env::var("EVENT_BUS_NAME") {
            Ok(bus) if !bus.trim().is_empty() => {
                Arc::new(signin_aws::EventBridgeBus::on(&aws, bus.trim()))
            }
            _ => Arc::new(NoEvents),
        },
        settings: Settings::with_defaults(""),
    };
    app.erase_email(email)
        .await
        .map_err(|e| DevError::Setup(e.to_string()))
}

/// `devstack --data-dir DIR erase`: erases one person from a local run's saved state (store and
/// outbox). Kontomatik is the real one when `KONTOMATIK_BASE_URL` and `KONTOMATIK_API_KEY` are
/// set; else a fresh sandbox, which holds nothing (a local sandbox's data ends with its run).
/// Nothing else runs.
pub async fn erase_in_data_dir(
    dir: PathBuf,
    email: &signin_core::domain::Email,
) -> Result<signin_core::usecases::Erased, DevError> {
    if !dir.join(STATE_FILE).exists() {
        return Err(DevError::Setup(format!(
            "{}: no saved state here",
            dir.display()
        )));
    }
    let clock: Arc<dyn Clock> = Arc::new(signin_core::SystemClock);
    let embedded = Embedded {
        store: Arc::new(EmbeddedStore::new(clock.clone())),
        queue: Arc::new(EmbeddedQueue::new(clock.clone(), 5)),
        outbox: Arc::new(Outbox::new(clock.clone())),
        events: Arc::new(EventLog::default()),
    };
    embedded.load_from(&dir)?;
    let mut _sandbox = None;
    let kontomatik: Arc<dyn Kontomatik> = match (
        std::env::var("KONTOMATIK_BASE_URL"),
        std::env::var("KONTOMATIK_API_KEY"),
    ) {
        (Ok(base), Ok(key)) if !base.is_empty() && !key.is_empty() => {
            let base = url::Url::parse(&base)
                .map_err(|e| DevError::Setup(format!("KONTOMATIK_BASE_URL: {e}")))?;
            Arc::new(
                KontomatikClient::new(ClientConfig::new(base, Secret::new(key)))
                    .map_err(|e| DevError::Setup(e.to_string()))?,
            )
        }
        _ => {
            let key = "devstack-erase-key";
            let sandbox = kontomatik_sandbox::start_local(SandboxOptions {
                api_key: key.into(),
                ..SandboxOptions::default()
            })
            .await
            .map_err(|e| DevError::Sandbox(e.to_string()))?;
            let client = KontomatikClient::new(ClientConfig::new(
                sandbox.base_url.clone(),
                Secret::new(key),
            ))
            .map_err(|e| DevError::Setup(e.to_string()))?;
            _sandbox = Some(sandbox);
            Arc::new(client)
        }
    };
    let app = App {
        store: embedded.store.clone(),
        queue: embedded.queue.clone(),
        mailer: embedded.outbox.clone(),
        kontomatik,
        clock,
        pause: Arc::new(signin_core::TokioPause),
        events: Arc::new(NoEvents),
        settings: Settings::with_defaults(""),
    };
    let erased = app
        .erase_email(email)
        .await
        .map_err(|e| DevError::Setup(e.to_string()))?;
    embedded.save_to(&dir);
    Ok(erased)
}
