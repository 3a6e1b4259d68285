//! The CI-sized fault run: 20 seeds × 200 simulated users on the embedded adapters, and one seed
//! × 40 users with the records on DynamoDB (moto; more with the example's `--store moto`); 26
//! simulated hours each, faults on both sides
//! (tests/src/faultrun/); every promise checked after every run. The long run is
//! `cargo run -p e2e-tests --release --example faultrun -- --seeds 1000 --users 200`.
#![allow(clippy::unwrap_used)]

use e2e_tests::faultrun::{run, RunConfig, RunTotals};

/// Runs the seeds; fails with every broken promise and the command replaying each failing seed.
async fn run_seeds(configs: impl IntoIterator<Item = RunConfig>) -> RunTotals {
    let mut totals = RunTotals::default();
    let mut failing = vec![];
    for cfg in configs {
        let t = run(cfg).await;
        if !t.violations.is_empty() {
            failing.push(cfg.replay_command());
        }
        totals.add(&t);
    }
    println!("{totals:#?}");
    assert!(
        totals.violations.is_empty(),
        "broken promises:\n{}\nreplay with:\n{}",
        totals.violations.join("\n"),
        failing.join("\n")
    );
    assert_eq!(totals.duplicates, 0);
    assert_eq!(totals.lost, 0);
    assert!(
        totals.bank_successes > 0 && totals.imports > 0,
        "the runs did something"
    );
    assert!(
        totals.poison_messages > 0 && totals.dead_letters == totals.poison_messages,
        "the poison messages, and only they, reached the dead-letter queue"
    );
    totals
}

#[tokio::test]
async fn twenty_seeds_of_two_hundred_users_keep_every_promise() {
    let totals = run_seeds((1..=20).map(|seed| RunConfig::new(seed, 200))).await;
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
        "poison message",
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
}

/// Under a small jobs quota (5 at once for 200 users), imports admitted at it: the same
/// promises under the same faults (killed workers, duplicate deliveries, lost answers), and once
/// every import ended no slot is left held.
#[tokio::test]
async fn seeds_under_a_jobs_quota_keep_every_promise_and_give_every_slot_back() {
    let totals =
        run_seeds((101..=105).map(|seed| RunConfig::new(seed, 200).with_jobs_quota(5))).await;
    assert!(totals.imports > 0);
}

/// The same harness with the records on DynamoDB's wire protocol: the conditional writes, the
/// poll index's queries and the TTL filtering of the real adapter under the same faults.
#[tokio::test]
async fn seeds_with_the_records_on_dynamodb_keep_every_promise() {
    let totals = run_seeds([RunConfig::new(101, 40).on_moto()]).await;
    assert!(
        totals.faults.keys().any(|k| k.starts_with("worker killed")),
        "{:?}",
        totals.faults
    );
}
