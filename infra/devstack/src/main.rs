//! `cargo run -p devstack` — the whole flow on this machine. `cargo run -p devstack -- --help`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use devstack::{start, DevClock, DevOptions};

#[derive(Parser, Debug)]
#[command(about = "Run the Kontomatik SignIn Redirection backend locally")]
struct Args {
    /// Port of the pages (127.0.0.1).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Port of the Kontomatik sandbox (127.0.0.1).
    #[arg(long, default_value_t = 8090)]
    sandbox_port: u16,
    /// Run time this many times faster (60: the 1 h link life passes in a minute).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Keep redirections, queue and outbox here, so a restart loses nothing.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Use the AWS adapters (DynamoDB, SQS, SES) at AWS_ENDPOINT_URL, e.g. moto server.
    #[arg(long)]
    aws: bool,
    /// optional: anyone may start; required: applicants log in by emailed link first.
    #[arg(long, default_value = "optional", value_parser = signin_core::config::ApplicantLogin::parse)]
    applicant_login: signin_core::config::ApplicantLogin,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the conversion funnel as JSON (from --data-dir, or from AWS with --aws).
    Stats {
        /// First day, YYYY-MM-DD (default: 6 days ago).
        #[arg(long)]
        since: Option<String>,
        /// Last day, YYYY-MM-DD (default: today).
        #[arg(long)]
        until: Option<String>,
    },
    /// Erase everything held about one person (the right to erasure): their user record,
    /// redirections and import records (from --data-dir, or from AWS with --aws), and their
    /// owner data at Kontomatik. With --aws, KONTOMATIK_BASE_URL and KONTOMATIK_API_KEY must
    /// name the real Kontomatik, and EVENT_BUS_NAME (if the stack publishes events) tells
    /// subscribers with an `owner.erased` event.
    Erase {
        /// The person's email address.
        #[arg(long)]
        email: String,
    },
    /// With KONTOMATIK_BASE_URL and KONTOMATIK_API_KEY set: fetch one redirection, read its
    /// status, print each raw reply (key redacted) next to what our client made of it, and say
    /// which provisional wire names held. Exits 1 when one did not.
    Probe {
        /// The redirect URI to ask for (must be allowed for your API key).
        #[arg(long, default_value = "http://127.0.0.1:8080/kontomatik-signin")]
        redirect_uri: String,
        #[arg(long, default_value = "pl")]
        language: String,
        #[arg(long, default_value = "pl")]
        country: String,
    },
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    if !(args.speed.is_finite() && args.speed > 0.0) {
        return Err("--speed must be a positive number".into());
    }
    if let Some(Command::Probe {
        redirect_uri,
        language,
        country,
    }) = &args.command
    {
        let cfg = kontomatik::probe::ProbeConfig::from_env(
            redirect_uri.clone(),
            language.clone(),
            country.clone(),
        )?;
        let report = kontomatik::probe::run(&cfg).await?;
        print!("{report}");
        if !report.all_held() {
            std::process::exit(1);
        }
        return Ok(());
    }
    if let Some(Command::Erase { email }) = &args.command {
        let email = signin_core::domain::Email::parse(email)?;
        let erased = if args.aws {
            // A deployed table: nothing but the erasure runs (no poller, no worker, no pages).
            devstack::erase_in_aws(&email).await?
        } else {
            let Some(data_dir) = args.data_dir.clone() else {
                return Err("erase: say where the data is: --data-dir DIR, or --aws".into());
            };
            devstack::erase_in_data_dir(data_dir, &email).await?
        };
        println!(
            "erased: user record {}, {} redirection(s), {} import record(s), {} owner id(s) ({} deleted at Kontomatik), {} stored email(s)",
            if erased.found.user.is_some() { "yes" } else { "none" },
            erased.found.redirections.len(),
            erased.found.imports,
            erased.found.owners.len(),
            erased.deleted_at_kontomatik,
            erased.mails_forgotten,
        );
        return Ok(());
    }
    let options = DevOptions {
        port: if args.command.is_some() { 0 } else { args.port },
        sandbox_port: if args.command.is_some() {
            0
        } else {
            args.sandbox_port
        },
        clock: DevClock::scaled(args.speed),
        data_dir: args.data_dir,
        aws: args.aws,
        applicant_login: args.applicant_login,
    };
    let running = start(options).await?;
    if let Some(Command::Stats { since, until }) = args.command {
        let today = running.dev.app.now().date_naive();
        let day = |s: Option<String>, d| match s {
            None => Ok(d),
            Some(s) => chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .map_err(|_| format!("{s}: expected YYYY-MM-DD")),
        };
        let from = day(since, today - chrono::Days::new(6))?;
        let to = day(until, today)?;
        let report = running.dev.app.funnel_report(from, to).await?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        running.stop().await;
        return Ok(());
    }
    println!();
    println!("  Open {}/ to start a sign-in.", running.url);
    println!("  Operator view: {}/_dev", running.url);
    if let Some(s) = &running.dev.sandbox_url {
        println!("  Kontomatik sandbox: {s}");
    }
    println!("  Time runs {}x. Ctrl-C stops.", args.speed);
    println!();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = terminate.recv() => {}
    }
    // Saves the data directory one last time.
    running.stop().await;
    Ok(())
}
