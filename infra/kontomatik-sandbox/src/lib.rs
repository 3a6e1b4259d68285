//! A Kontomatik look-alike HTTP server for the local run and the tests.
//!
//! It implements the contract in `docs/kontomatik-wire.md`: Fetch redirection hands out links to
//! its own hosted sign-in page; statuses move as the (simulated) user acts; unused links expire
//! after an hour and ids are forgotten after 24 hours; one id polled too often earns 429; Default
//! Import is accepted once per session and its command finishes after a few polls with a seeded
//! data set. Faults (5xx, slow replies, dropped connections, 429s) can be injected; time can be
//! simulated and advanced; counters tell tests what was called.

pub mod data;
pub mod http;
pub mod pages;
pub mod sim;
pub mod wire;

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

pub use data::DataShape;
pub use http::{Fault, FaultConfig, RequestSeen, SandboxHandle, SandboxOptions, TimeSource};
pub use sim::{Counters, SimConfig, UserAction};

/// A sandbox serving on a local port until dropped or stopped.
pub struct RunningSandbox {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT` — the base URL to give the Kontomatik client.
    pub base_url: Url,
    pub handle: SandboxHandle,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid sandbox options: {0}")]
    Options(String),
    #[error("could not listen: {0}")]
    Io(#[from] std::io::Error),
}

/// Starts the sandbox on `listener` (bind `127.0.0.1:0` for a free port).
pub async fn start(
    options: SandboxOptions,
    listener: TcpListener,
) -> Result<RunningSandbox, StartError> {
    let addr = listener.local_addr()?;
    let base_url =
        Url::parse(&format!("http://{addr}")).map_err(|e| StartError::Options(e.to_string()))?;
    let (app, handle) = http::router(options).map_err(StartError::Options)?;
    handle.set_public_base(base_url.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "sandbox server stopped");
        }
    });
    Ok(RunningSandbox {
        addr,
        base_url,
        handle,
        shutdown: Some(tx),
        task: Some(task),
    })
}

/// Starts the sandbox on a free loopback port.
pub async fn start_local(options: SandboxOptions) -> Result<RunningSandbox, StartError> {
    start(options, TcpListener::bind("127.0.0.1:0").await?).await
}

impl RunningSandbox {
    /// Stops serving and waits for the server task to end.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
