//! Benchmark: parsing a Default Import result (the recorded reply shape, from the sandbox) of
//! 1 000, 10 000 and 100 000 transactions into what the worker stores — side by side, on the
//! same bytes, with what a Python Lambda would use: the standard library's
//! `xml.etree.ElementTree.iterparse` (streaming, clearing each transaction) and a full
//! `ElementTree.parse`. Each reading runs in its own process (so its peak RSS is its own), 5
//! times; the table gives the median time, the throughput and the median peak RSS.
//!
//!   cargo run --release -p e2e-tests --example parse_bench            # 1k, 10k, 100k
//!   cargo run --release -p e2e-tests --example parse_bench -- 100000  # one size
//!   cargo run --release -p e2e-tests --example parse_bench -- --readme # and write its table in docs/benchmarks.md
//!
//! The result files are kept in target/bench/ (import-N.xml).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use e2e_tests::SandboxFixture;
use kontomatik_sandbox::DataShape;
use signin_core::domain::import::{ImportSink, SummaryBuilder};

const RUNS: usize = 5;

/// The Python readings: both compute what the worker's summary needs (count, sums of
/// credits and debits per account), then print `seconds peak_rss_kib count`.
const PYTHON: &str = r#"
import sys, time, resource
import xml.etree.ElementTree as ET
mode, path = sys.argv[1], sys.argv[2]
t = time.perf_counter()
count = 0; credits = 0.0; debits = 0.0
if mode == "iterparse":
    # The frugal idiom: each transaction is dropped from its parent once read, so that the
    # tree never holds more than one.
    parent = None
    for event, el in ET.iterparse(path, events=("start", "end")):
        if event == "start":
            if el.tag == "moneyTransactions":
                parent = el
            continue
        if el.tag == "moneyTransaction":
            a = float(el.findtext("currencyAmount") or 0)
            count += 1
            if a >= 0: credits += a
            else: debits += a
            parent.remove(el)
        elif el.tag == "account":
            el.clear()
else:
    root = ET.parse(path).getroot()
    for el in root.iter("moneyTransaction"):
        a = float(el.findtext("currencyAmount") or 0)
        count += 1
        if a >= 0: credits += a
        else: debits += a
elapsed = time.perf_counter() - t
print(elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, count)
"#;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse().ok())
        .unwrap_or(0)
}

/// One reading in this process: the worker's streaming parse of the file into the summary.
async fn rust_once(path: &Path) {
    let file = tokio::fs::File::open(path).await.unwrap();
    let input = tokio::io::BufReader::with_capacity(64 * 1024, file);
    let started = Instant::now();
    let mut summary = SummaryBuilder::default();
    let sink: &mut dyn ImportSink = &mut summary;
    kontomatik::xml::parse_reply(input, sink).await.unwrap();
    let count = summary.build().transactions_total;
    println!(
        "{} {} {count}",
        started.elapsed().as_secs_f64(),
        peak_rss_kib()
    );
}

/// A Default Import result of `transactions`, as the sandbox serves it.
async fn result_file(transactions: u64) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("import-{transactions}.xml"));
    if path.exists() {
        return path;
    }
    let accounts = 4;
    let f = SandboxFixture::start_with(|o| {
        o.shape = DataShape {
            accounts,
            transactions_per_account: (transactions / u64::from(accounts)) as u32,
        }
    })
    .await;
    let cmd = f.default_import_of_a_sign_in("own-bench").await;
    let url = f
        .sandbox
        .base_url
        .join(&kontomatik::wire::command_path(cmd.as_str()))
        .unwrap();
    // Until the command is successful, then its bytes.
    for _ in 0..20 {
        let body = reqwest::Client::new()
            .get(url.clone())
            .header(kontomatik::wire::API_KEY_HEADER, e2e_tests::API_KEY)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        if std::str::from_utf8(&body).is_ok_and(|s| s.contains("state=\"successful\"")) {
            std::fs::write(&path, &body).unwrap();
            return path;
        }
        f.clock.advance(chrono::Duration::seconds(5));
    }
    panic!("the import never finished");
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs one reading `RUNS` times, each in a fresh process: (median s, median peak MiB, count).
fn measure(program: &str, args: &[&str]) -> (f64, f64, u64) {
    let mut times = vec![];
    let mut peaks = vec![];
    let mut count = 0;
    for _ in 0..RUNS {
        let out = Command::new(program).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<&str> = text.split_whitespace().collect();
        times.push(fields[0].parse::<f64>().unwrap());
        peaks.push(fields[1].parse::<f64>().unwrap() / 1024.0);
        count = fields[2].parse().unwrap();
    }
    (median(times), median(peaks), count)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--rust-once") {
        rust_once(Path::new(&args[2])).await;
        return;
    }
    let readme = args.iter().any(|a| a == "--readme");
    let sizes: Vec<u64> = match args.get(1).filter(|a| !a.starts_with("--")) {
        Some(n) => vec![n.parse().unwrap()],
        None => vec![1_000, 10_000, 100_000],
    };
    let mut table = String::new();
    let mut row = |line: String| {
        println!("{line}");
        table.push_str(&line);
        table.push('\n');
    };
    let me = std::env::current_exe().unwrap();
    let me = me.to_str().unwrap();
    row("| transactions | file MB | reading | median time | MB/s | peak RSS (MiB) | vs Rust time | vs Rust RSS |".into());
    row("|---:|---:|---|---:|---:|---:|---:|---:|".into());
    for n in sizes {
        let path = result_file(n).await;
        let p = path.to_str().unwrap();
        let mb = std::fs::metadata(&path).unwrap().len() as f64 / 1e6;
        let rust = measure(me, &["--rust-once", p]);
        let iter = measure("python3", &["-c", PYTHON, "iterparse", p]);
        let full = measure("python3", &["-c", PYTHON, "parse", p]);
        for (name, (t, rss, count)) in [
            ("Rust: the worker's streaming parse (quick-xml)", rust),
            ("Python: ElementTree.iterparse", iter),
            ("Python: ElementTree.parse", full),
        ] {
            assert_eq!(count, n, "{name} counted {count} transactions");
            row(format!(
                "| {n} | {mb:.1} | {name} | {:.1} ms | {:.0} | {rss:.1} | {:.1}× | {:.1}× |",
                t * 1000.0,
                mb / t,
                t / rust.0,
                rss / rust.1
            ));
        }
    }
    if readme {
        e2e_tests::write_bench_section(
            "parse",
            &format!(
                "`cargo run --release -p e2e-tests --example parse_bench -- --readme`. {}\n\n{table}",
                e2e_tests::machine_line()
            ),
        );
    }
}
