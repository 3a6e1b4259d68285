//! Starting a local run: Kontomatik (the real one or the sandbox), the adapters (embedded or
//! AWS), the poller and worker on timers, and the HTTP server (`/_dev` and the Lambdas' routes);
//! and one round of the import worker.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use kontomatik::{ClientConfig, KontomatikClient};
use kontomatik_sandbox::{RunningSandbox, SandboxOptions};
use signin_core::adapters::embedded::{EmbeddedQueue, EmbeddedStore, Outbox};
use signin_core::adapters::events::{EventLog, NoEvents};
use signin_core::config::Settings;
use signin_core::domain::Secret;
use signin_core::ports::{ImportQueueConsumer, Kontomatik};
use signin_core::usecases::JobOutcome;
use signin_core::{App, Clock, Pause};
use signin_web::{handle, WebRequest};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::view;
use crate::{
    Dev, DevError, DevOptions, Embedded, RunningDev, LOCAL_LINK_SIGNING_KEY, LOCAL_STAFF,
    WORKER_CONCURRENCY,
};

impl Dev {
    /// One round of the import worker: what a Lambda invocation with one SQS batch does.
    pub async fn work_once(&self) -> usize {
        let deliveries = match self.consumer.receive(5, StdDuration::from_secs(720)).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "queue receive failed");
                return 0;
            }
        };
        let n = deliveries.len();
        // As the Lambda runs a batch: its jobs at once.
        futures::future::join_all(deliveries.into_iter().map(|d| async move {
            let deadline = self.app.now() + chrono::Duration::minutes(2);
            match self.app.run_import(&d.job, deadline).await {
                Ok(JobOutcome::Done(_) | JobOutcome::Continued) => {
                    if let Err(e) = self.consumer.ack(&d.receipt).await {
                        tracing::warn!(error = %e, "ack failed");
                    }
                }
                Ok(JobOutcome::RetryLater(why)) => {
                    tracing::info!(reason = %why, "import retried later")
                }
                Err(e) => tracing::warn!(error = %e, "import job failed; it will be redelivered"),
            }
        }))
        .await;
        n
    }
}

fn settings(public_base: &str) -> Settings {
    let mut s = Settings::with_defaults(public_base);
    // The local run serves every route from one process, so it holds the key; a fixed one
    // unless LINK_SIGNING_KEY gives another.
    let key = std::env::var("LINK_SIGNING_KEY")
        .ok()
        .filter(|k| k.len() >= 32)
        .unwrap_or_else(|| LOCAL_LINK_SIGNING_KEY.to_owned());
    s.link_signing_key = Some(Secret::new(key));
    s.stats_token = std::env::var("STATS_TOKEN")
        .ok()
        .filter(|t| t.len() >= 24)
        .map(Secret::new);
    let staff = std::env::var("STAFF_EMAILS").unwrap_or_else(|_| LOCAL_STAFF.into());
    s.staff = signin_core::config::StaffMember::parse_list(&staff).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "STAFF_EMAILS is not a staff list; nobody may sign in as staff");
        vec![]
    });
    s
}

/// Starts everything; returns when it is serving.
pub async fn start(options: DevOptions) -> Result<RunningDev, DevError> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], options.port))).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let clock = options.clock.clone();
    let clock_arc = clock.clock();

    // Kontomatik: the real one when configured, else the sandbox.
    let real = match (
        std::env::var("KONTOMATIK_BASE_URL"),
        std::env::var("KONTOMATIK_API_KEY"),
    ) {
        (Ok(base), Ok(key)) if !base.is_empty() && !key.is_empty() => Some((base, key)),
        _ => None,
    };
    let (kontomatik, sandbox): (Arc<dyn Kontomatik>, Option<RunningSandbox>) = match real {
        Some((base, key)) => {
            let base = url::Url::parse(&base)
                .map_err(|e| DevError::Setup(format!("KONTOMATIK_BASE_URL: {e}")))?;
            let client = KontomatikClient::new(ClientConfig::new(base, Secret::new(key)))
                .map_err(|e| DevError::Setup(e.to_string()))?;
            (Arc::new(client), None)
        }
        None => {
            let key = "devstack-sandbox-key";
            let sandbox_listener =
                TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], options.sandbox_port))).await?;
            let sandbox = kontomatik_sandbox::start(
                SandboxOptions {
                    api_key: key.into(),
                    admin: true,
                    time: clock.time_source(),
                    ..SandboxOptions::default()
                },
                sandbox_listener,
            )
            .await
            .map_err(|e| DevError::Sandbox(e.to_string()))?;
            let client = KontomatikClient::new(ClientConfig::new(
                sandbox.base_url.clone(),
                Secret::new(key),
            ))
            .map_err(|e| DevError::Setup(e.to_string()))?;
            (Arc::new(client), Some(sandbox))
        }
    };

    let mut settings = settings(&url);
    settings.applicant_login = options.applicant_login;
    if let Some(sandbox) = &sandbox {
        // The sandbox's hosted page is plain http on 127.0.0.1: allowed for this run only.
        settings
            .link_origins
            .allow_loopback_http(sandbox.base_url.as_str())
            .map_err(DevError::Setup)?;
    }
    let (app, embedded, consumer): (App, Option<Embedded>, Arc<dyn ImportQueueConsumer>) =
        if options.aws {
            let (app, consumer) = aws_app(settings, kontomatik, clock_arc, clock.pause()).await?;
            (app, None, consumer)
        } else {
            let store = Arc::new(EmbeddedStore::new(clock_arc.clone()));
            let queue = Arc::new(EmbeddedQueue::new(clock_arc.clone(), 5));
            let outbox = Arc::new(Outbox::new(clock_arc.clone()));
            let events = Arc::new(EventLog::default());
            let app = App {
                store: store.clone(),
                queue: queue.clone(),
                mailer: outbox.clone(),
                kontomatik,
                clock: clock_arc,
                pause: clock.pause(),
                events: events.clone(),
                settings,
            };
            (
                app,
                Some(Embedded {
                    store,
                    queue: queue.clone(),
                    outbox,
                    events,
                }),
                queue,
            )
        };
    if let Some(dir) = &options.data_dir {
        std::fs::create_dir_all(dir)?;
    }
    let dev = Arc::new(Dev {
        app,
        clock: clock.clone(),
        embedded,
        sandbox: sandbox.as_ref().map(|s| s.handle.clone()),
        sandbox_url: sandbox.as_ref().map(|s| s.base_url.to_string()),
        consumer,
        data_dir: options.data_dir.clone(),
    });
    dev.load()?;

    let (stop, stopped) = watch::channel(false);
    let mut tasks = vec![];
    // The poller, once a simulated minute (EventBridge's rate(1 minute)).
    tasks.push(spawn_every(stopped.clone(), clock.real_minute(), {
        let dev = dev.clone();
        move || {
            let dev = dev.clone();
            async move {
                // Like DynamoDB's TTL sweeper: items past their 24 h window go (reads already
                // treat them as gone).
                if let Some(e) = &dev.embedded {
                    e.store.sweep_expired();
                }
                let deadline = dev.app.now() + chrono::Duration::seconds(45);
                match dev
                    .app
                    .poll_due(deadline, signin_runtime::poller::CONCURRENCY)
                    .await
                {
                    Ok(r) if r.due > 0 => tracing::info!(?r, "poller run"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "poller run failed"),
                }
            }
        }
    }));
    // The import worker (Lambda's SQS event source).
    tasks.push(spawn_every(
        stopped.clone(),
        StdDuration::from_millis(200),
        {
            let dev = dev.clone();
            move || {
                let dev = dev.clone();
                // As Lambda's event source with MaximumConcurrency 5: five batches at once.
                async move {
                    futures::future::join_all(
                        (0..WORKER_CONCURRENCY)
                            .map(|_| async { while dev.work_once().await > 0 {} }),
                    )
                    .await;
                }
            }
        },
    ));
    // Persistence.
    if options.data_dir.is_some() {
        tasks.push(spawn_every(stopped.clone(), StdDuration::from_secs(2), {
            let dev = dev.clone();
            move || {
                let dev = dev.clone();
                async move { dev.save() }
            }
        }));
    }
    let router = Router::new()
        .route("/_dev", get(view::overview))
        .route("/_dev/mail/{index}", get(view::mail))
        .route("/_dev/owner/{owner}", get(view::owner_data))
        .route("/_dev/advance", post(view::advance))
        .route("/_dev/stats", get(view::stats_json))
        .fallback(web)
        .with_state(dev.clone());
    let mut serve_stop = stopped.clone();
    tasks.push(tokio::spawn(async move {
        let served = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = serve_stop.wait_for(|s| *s).await;
        })
        .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "server stopped");
        }
    }));
    Ok(RunningDev {
        url,
        dev,
        _sandbox: sandbox,
        stop,
        tasks,
    })
}

fn spawn_every<F, Fut>(
    mut stopped: watch::Receiver<bool>,
    every: StdDuration,
    f: F,
) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        loop {
            f().await;
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
        }
    })
}

async fn aws_app(
    settings: Settings,
    kontomatik: Arc<dyn Kontomatik>,
    clock: Arc<dyn Clock>,
    pause: Arc<dyn Pause>,
) -> Result<(App, Arc<dyn ImportQueueConsumer>), DevError> {
    use signin_aws::{schema, DynamoStore, SesMailer, SqsQueue};
    let aws = signin_aws::load_aws_config().await;
    let table = std::env::var("TABLE_NAME").unwrap_or_else(|_| "signin-local".into());
    let dynamo = aws_sdk_dynamodb::Client::new(&aws);
    if dynamo
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .is_err()
    {
        schema::create_table(&dynamo, &table)
            .await
            .map_err(DevError::Setup)?;
    }
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let queue_url = sqs
        .create_queue()
        .queue_name(std::env::var("QUEUE_NAME").unwrap_or_else(|_| "signin-local-imports".into()))
        .send()
        .await
        .map_err(|e| DevError::Setup(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?
        .queue_url
        .unwrap_or_default();
    let sender = std::env::var("SENDER_EMAIL").unwrap_or_else(|_| "no-reply@lender.example".into());
    let ses = aws_sdk_sesv2::Client::new(&aws);
    let _ = ses
        .create_email_identity()
        .email_identity(&sender)
        .send()
        .await;
    let queue = Arc::new(SqsQueue::new(sqs, queue_url));
    let app = App {
        store: Arc::new(DynamoStore::new(dynamo, table, clock.clone())),
        queue: queue.clone(),
        mailer: Arc::new(SesMailer::new(ses, sender, None, clock.clone())),
        kontomatik,
        clock,
        pause,
        events: Arc::new(NoEvents),
        settings,
    };
    Ok((app, queue))
}

/// Everything that is not `/_dev`: the same routes the Lambdas serve.
async fn web(
    State(dev): State<Arc<Dev>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = to_bytes(body, 64 * 1024).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let web = WebRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        body: body.to_vec(),
        headers: parts
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        client_ip: Some(peer.ip().to_string()),
        // No IAM here: the lender's API takes `Authorization: Bearer <LOCAL_API_TOKEN>`
        // instead, as the local stand-in for a SigV4-signed caller.
        iam_caller: parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .filter(|t| *t == crate::LOCAL_API_TOKEN)
            .map(|_| crate::LOCAL_API_CALLER.to_owned()),
    };
    let res = handle(&dev.app, web).await;
    let mut out = Response::new(Body::from(res.body));
    *out.status_mut() =
        StatusCode::from_u16(res.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in res.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            out.headers_mut().append(k, v);
        }
    }
    out
}
