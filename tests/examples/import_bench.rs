//! Benchmark: one 100 000-transaction Default Import result, served by the sandbox over loopback
//! HTTP, parsed by the client as a stream into the summary (what the worker stores) — and, for
//! comparison, into a full in-memory collection. Reports the median of 5 runs and the process's
//! peak resident memory after each mode (run each mode in its own process for a clean peak):
//!
//!   cargo run --release -p e2e-tests --example import_bench -- summary
//!   cargo run --release -p e2e-tests --example import_bench -- collect
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use e2e_tests::SandboxFixture;
use kontomatik_sandbox::DataShape;
use signin_core::domain::import::{CollectedImport, Discard, ImportSink, SummaryBuilder};
use signin_core::ports::Kontomatik;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "summary".into());
    let f = SandboxFixture::start_with(|o| {
        o.shape = DataShape {
            accounts: 4,
            transactions_per_account: 25_000,
        }
    })
    .await;
    let baseline = peak_rss_mib();
    let mut times = vec![];
    let mut count = 0;
    for _ in 0..5 {
        let cmd = f.default_import_of_a_sign_in("own-bench").await;
        for _ in 0..2 {
            f.client.command_status(&cmd, &mut Discard).await.unwrap();
        }
        let started = Instant::now();
        count = match mode.as_str() {
            "collect" => {
                let mut c = CollectedImport::default();
                f.client.command_status(&cmd, &mut c).await.unwrap();
                c.transaction_count() as u64
            }
            _ => {
                let mut s = SummaryBuilder::default();
                let sink: &mut dyn ImportSink = &mut s;
                f.client.command_status(&cmd, sink).await.unwrap();
                s.build().transactions_total
            }
        };
        times.push(started.elapsed());
    }
    times.sort();
    let median: Duration = times[times.len() / 2];
    println!(
        "mode={mode} transactions={count} median={:.0} ms (min {:.0}, max {:.0}) peak_rss={:.1} MiB (baseline {:.1} MiB)",
        median.as_secs_f64() * 1000.0,
        times[0].as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0,
        peak_rss_mib(),
        baseline
    );
}
