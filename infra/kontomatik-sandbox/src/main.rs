//! `cargo run -p kontomatik-sandbox -- --port 8090 --admin` starts the sandbox on its own.

use std::net::SocketAddr;

use chrono::Duration;
use clap::Parser;
use kontomatik_sandbox::{start, DataShape, SandboxOptions, SimConfig, TimeSource};
use signin_core::ScaledClock;
use tokio::net::TcpListener;

#[derive(Parser, Debug)]
#[command(about = "A Kontomatik look-alike HTTP server for local runs and tests")]
struct Args {
    /// Port to listen on (127.0.0.1).
    #[arg(long, default_value_t = 8090, env = "SANDBOX_PORT")]
    port: u16,
    /// The API key clients must send.
    #[arg(long, default_value = "sandbox-api-key", env = "SANDBOX_API_KEY")]
    api_key: String,
    /// Serve the admin endpoints under /_sandbox (time control, counters, faults).
    #[arg(long)]
    admin: bool,
    /// Run time this many times faster than real time (1 = real time).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Minimum seconds between two status reads of one id before 429.
    #[arg(long, default_value_t = 300)]
    min_poll_interval_secs: i64,
    /// Polls an import command takes to finish.
    #[arg(long, default_value_t = 3)]
    import_polls: u32,
    #[arg(long, default_value_t = 2)]
    accounts: u32,
    #[arg(long, default_value_t = 40)]
    transactions_per_account: u32,
    /// Seed of the generated bank data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let time = if (args.speed - 1.0).abs() < f64::EPSILON {
        TimeSource::System
    } else {
        TimeSource::Scaled(ScaledClock::new(args.speed))
    };
    let options = SandboxOptions {
        sim: SimConfig {
            min_poll_interval: Duration::seconds(args.min_poll_interval_secs),
            import_polls: args.import_polls,
            ..SimConfig::default()
        },
        api_key: args.api_key,
        shape: DataShape {
            accounts: args.accounts,
            transactions_per_account: args.transactions_per_account,
        },
        seed: args.seed,
        admin: args.admin,
        time,
        ..SandboxOptions::default()
    };
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], args.port))).await?;
    let sandbox = start(options, listener).await?;
    tracing::info!(url = %sandbox.base_url, admin = args.admin, "Kontomatik sandbox listening");
    println!("Kontomatik sandbox on {}", sandbox.base_url);
    tokio::signal::ctrl_c().await?;
    sandbox.stop().await;
    Ok(())
}
