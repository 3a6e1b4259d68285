//! The long fault run (docs/reliability.md): many seeds of a simulated population through the
//! whole system with faults on both sides; prints the totals and the command replaying each
//! failing seed.
//!
//! `cargo run -p e2e-tests --release --example faultrun -- [--seeds 1000] [--first 1] [--users 200] [--seed N] [--store embedded|moto] [--jobs-quota N]`
//! (`--first`: run seeds `first..first+seeds`, e.g. to split a long run over two processes;
//! `--store moto`: the records on DynamoDB, on `MOTO_ENDPOINT` or a moto server started for it)
#![allow(clippy::unwrap_used)]

use e2e_tests::faultrun::{run, RunConfig, RunTotals, StoreKind};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "faultrun [--seeds 1000] [--first 1] [--users 200] [--seed N] [--store embedded|moto] [--jobs-quota N]"
        );
        println!("  runs seeds first..first+seeds (or the one --seed) and checks every promise after each");
        return;
    }
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .map(|v| {
                v.parse::<u64>()
                    .unwrap_or_else(|_| panic!("{flag} takes a number"))
            })
    };
    let users = value("--users").unwrap_or(200) as usize;
    let store = match args.iter().position(|a| a == "--store") {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| StoreKind::parse(v))
            .unwrap_or_else(|| panic!("--store takes embedded or moto")),
        None => StoreKind::Embedded,
    };
    let seeds: Vec<u64> = match value("--seed") {
        Some(one) => vec![one],
        None => {
            let first = value("--first").unwrap_or(1);
            (first..first + value("--seeds").unwrap_or(1000)).collect()
        }
    };
    let started = std::time::Instant::now();
    let mut totals = RunTotals::default();
    let mut failing = vec![];
    for seed in seeds {
        let cfg = RunConfig {
            store,
            jobs_quota: value("--jobs-quota").map(|q| q as u32),
            ..RunConfig::new(seed, users)
        };
        let t = run(cfg).await;
        if !t.violations.is_empty() {
            eprintln!(
                "seed {seed}: {} broken promise(s); replay: {}",
                t.violations.len(),
                cfg.replay_command()
            );
            for v in &t.violations {
                eprintln!("  {v}");
            }
            failing.push(seed);
        }
        totals.add(&t);
        if totals.runs % 50 == 0 {
            eprintln!(
                "after {} runs ({:.0} s): bank successes {}, imported {}, import failed {}, duplicates {}, lost {}, violations {}",
                totals.runs,
                started.elapsed().as_secs_f64(),
                totals.bank_successes,
                totals.imports,
                totals.import_failures,
                totals.duplicates,
                totals.lost,
                totals.violations.len()
            );
        }
    }
    println!(
        "runs {}  users {}  ({:.0} s)",
        totals.runs,
        totals.users,
        started.elapsed().as_secs_f64()
    );
    println!("personas {:?}", totals.personas);
    println!("faults injected {:?}", totals.faults);
    println!("pages shown on coming back {:?}", totals.pages);
    println!(
        "bank successes {}  imported {}  import failed (retry email sent) {}  duplicates {}  lost {}  poison messages {}  dead letters {}",
        totals.bank_successes, totals.imports, totals.import_failures, totals.duplicates, totals.lost, totals.poison_messages, totals.dead_letters
    );
    println!(
        "violations {}  failing seeds {:?}",
        totals.violations.len(),
        failing
    );
    if !failing.is_empty() {
        std::process::exit(1);
    }
}
