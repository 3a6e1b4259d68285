//! Benchmark: each function's init time — from process start to its first Runtime API `next`
//! request — measured the way the deploy rehearsal measures it (tests/src/rehearsal/: the
//! release binary, the template's environment, its own Runtime API, AWS on moto through the
//! function's IAM gate), with its secrets resolved from SSM as in AWS, and with them given as
//! plain variables (no SSM call). Side by side: the same measurement of a minimal Python
//! handler that imports boto3 and creates DynamoDB, SQS and SES clients before asking for work.
//! Each figure is the median of RUNS fresh processes. Needs moto (`MOTO_ENDPOINT` is not used:
//! the rehearsal starts its own) and python3 with boto3 (moto's dependency).
//!
//!   cargo run --release -p e2e-tests --example cold_start_bench [-- --readme]
//!
//! The zip sizes are those of `./infra/scripts/build-lambdas.sh` (arm64) when target/lambda
//! holds them.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use e2e_tests::rehearsal::{FunctionProcess, Options, Rehearsal, RuntimeApi};
use signin_runtime::SECRETS;

const RUNS: usize = 7;

const PYTHON_HANDLER: &str = r#"
import os, urllib.request
import boto3
dynamodb = boto3.client("dynamodb")
sqs = boto3.client("sqs")
ses = boto3.client("sesv2")
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next")
"#;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn python_cold_start(env: &BTreeMap<String, String>) -> Duration {
    let api = RuntimeApi::start(
        "arn:aws:lambda:eu-central-1:123456789012:function:python",
        Duration::from_secs(15),
    )
    .await;
    let spawned = Instant::now();
    let mut child = std::process::Command::new("python3")
        .args(["-c", PYTHON_HANDLER])
        .env_clear()
        .envs(env)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let first = loop {
        if let Some(t) = api.first_next() {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    first - spawned
}

#[tokio::main]
async fn main() {
    let readme = std::env::args().any(|a| a == "--readme");
    let r = Rehearsal::start(Options {
        stats_token: true,
        release: true,
        ..Options::default()
    })
    .await;
    let mut rows = vec![
        "| function | zip (arm64) | init, secrets from SSM | init, secrets as variables |"
            .to_owned(),
        "|---|---:|---:|---:|".to_owned(),
    ];
    for (name, f) in &r.functions {
        let env = &r.environments[name];
        let mut plain = env.clone();
        for secret in SECRETS {
            if plain.remove(&format!("{secret}_PARAMETER")).is_some() {
                plain.insert(
                    secret.to_owned(),
                    match secret {
                        "KONTOMATIK_API_KEY" => e2e_tests::API_KEY.to_owned(),
                        "LINK_SIGNING_KEY" => e2e_tests::rehearsal::LINK_SIGNING_KEY.to_owned(),
                        _ => e2e_tests::rehearsal::STATS_TOKEN.to_owned(),
                    },
                );
            }
        }
        let mut times = BTreeMap::new();
        for (how, environment) in [("ssm", env), ("plain", &plain)] {
            let mut runs = vec![];
            for i in 0..RUNS {
                let mut p = FunctionProcess::spawn(
                    &r.binaries[name],
                    &f.deployed,
                    environment,
                    &format!("cold-{how}-{i}"),
                )
                .await;
                runs.push(p.ready().await.unwrap_or_else(|e| panic!("{name}: {e}")));
            }
            times.insert(how, median(runs));
        }
        let zip = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../target/lambda/{name}/bootstrap.zip"));
        let zip = std::fs::metadata(&zip)
            .map(|m| format!("{:.1} MB", m.len() as f64 / 1e6))
            .unwrap_or_else(|_| "-".into());
        rows.push(format!(
            "| {name} | {zip} | {} | {} |",
            ms(times["ssm"]),
            ms(times["plain"])
        ));
    }
    // The Python handler, with the same AWS environment as the worker (credentials, region,
    // endpoint), asking nothing of AWS before its first `next` (as our plain-variable run).
    let env = &r.environments["import-worker"];
    let mut runs = vec![];
    for _ in 0..RUNS {
        runs.push(python_cold_start(env).await);
    }
    rows.push(format!(
        "| Python 3 + boto3 (3 clients, no SSM) | - | - | {} |",
        ms(median(runs))
    ));
    let table = rows.join("\n");
    println!("{table}");
    if readme {
        e2e_tests::write_bench_section(
            "cold-start",
            &format!(
                "`cargo run --release -p e2e-tests --example cold_start_bench -- --readme`. {} Moto and the gate are local, so the SSM column is a lower bound of what AWS adds.\n\n{table}",
                e2e_tests::machine_line()
            ),
        );
    }
}
