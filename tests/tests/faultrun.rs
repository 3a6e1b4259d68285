//! The CI-sized fault run: 20 seeds × 200 simulated users, 26 simulated hours each, faults on
//! both sides (tests/src/faultrun.rs); every promise checked after every run. The long run is
//! `cargo run -p e2e-tests --release --example faultrun -- --seeds 1000 --users 200`.
#![allow(clippy::unwrap_used)]

use e2e_tests::faultrun::{run, RunConfig, RunTotals};

#[tokio::test]
async fn twenty_seeds_of_two_hundred_users_keep_every_promise() {
    let mut totals = RunTotals::default();
    let mut failing = vec![];
    for seed in 1..=20 {
        let cfg = RunConfig::new(seed, 200);
        let t = run(cfg).await;
        if !t.violations.is_empty() {
            failing.push(cfg.replay_command());
        }
        totals.add(&t);
    }
    println!("{totals:#?}");
    assert!(
        totals.bank_successes > 0 && totals.imports > 0,
        "the runs did something"
    );
    for point in [
        "BeforeClaim",
        "AfterClaim",
        "AfterDefaultImport",
        "MidPolling",
    ] {
        assert!(
            totals
                .faults
                .contains_key(&format!("worker killed Some({point})")),
            "a worker was killed {point}: {:?}",
            totals.faults
        );
    }
    for fault in [
        "sandbox: handled, answer lost",
        "duplicate delivery",
        "overlapping poller run",
        "mail send failed",
    ] {
        assert!(
            totals.faults.contains_key(fault),
            "{fault}: {:?}",
            totals.faults
        );
    }
    assert!(
        totals.import_failures > 0,
        "some imports ended with the retry email"
    );
    assert!(
        totals.violations.is_empty(),
        "broken promises:\n{}\nreplay with:\n{}",
        totals.violations.join("\n"),
        failing.join("\n")
    );
    assert_eq!(totals.duplicates, 0);
    assert_eq!(totals.lost, 0);
}
