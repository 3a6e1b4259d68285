//! The binaries: the functions built as they ship, and each one run as its own process
//! against its own Runtime API.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use super::runtime_api::{Outcome, RuntimeApi};
use crate::template::{DeployedFunction, ACCOUNT, REGION};

/// Where the rehearsal keeps its logs.
pub fn run_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/rehearsal");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Builds the functions' binaries as they ship (their own packages and `main`s; the dev
/// profile, or `release`) and returns each one's path by name. A no-op when `test-all.sh` built
/// them already.
pub fn binaries(names: &[String], release: bool) -> BTreeMap<String, PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .args([
            "build",
            "--message-format=json-render-diagnostics",
            "--bins",
        ]);
    if release {
        cmd.arg("--release");
    }
    // Not the variables cargo set for this test (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, …): build
    // scripts that watch them (ring's does) would see a change and rebuild everything.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CARGO_") && !matches!(key.as_str(), "CARGO_HOME" | "CARGO_TARGET_DIR") {
            cmd.env_remove(key);
        }
    }
    for n in names {
        cmd.args(["-p", n]);
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo build of the functions");
    assert!(out.status.success(), "the functions must build");
    let mut found = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<Json>(line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact" && msg["target"]["kind"][0] == "bin" {
            if let Some(exe) = msg["executable"].as_str() {
                found.insert(
                    msg["target"]["name"].as_str().unwrap_or("").to_owned(),
                    PathBuf::from(exe),
                );
            }
        }
    }
    for n in names {
        assert!(found.contains_key(n), "no binary {n}");
    }
    found
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// One function running as its own process.
pub struct FunctionProcess {
    pub deployed: DeployedFunction,
    pub api: RuntimeApi,
    pub log: PathBuf,
    pub spawned: Instant,
    child: Mutex<Child>,
    /// Each invocation's duration (event handed out → answer), in order.
    pub invocations: Mutex<Vec<Duration>>,
}

impl FunctionProcess {
    /// Starts `exe` with `environment` (nothing inherited) against a fresh Runtime API.
    pub async fn spawn(
        exe: &Path,
        deployed: &DeployedFunction,
        environment: &BTreeMap<String, String>,
        tag: &str,
    ) -> FunctionProcess {
        let name = format!("rehearsal-{}", deployed.binary);
        let arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}");
        let api = RuntimeApi::start(&arn, Duration::from_secs(deployed.timeout_seconds)).await;
        let log = run_dir().join(format!("{}-{tag}.log", deployed.binary));
        let file = std::fs::File::create(&log).unwrap();
        let spawned = Instant::now();
        let child = Command::new(exe)
            .env_clear()
            .envs(environment)
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                deployed.memory_mb.to_string(),
            )
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/11/26/[$LATEST]rehearsal",
            )
            .env("_HANDLER", "bootstrap")
            .env("TZ", ":UTC")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("the function's binary");
        FunctionProcess {
            deployed: deployed.clone(),
            api,
            log,
            spawned,
            child: Mutex::new(child),
            invocations: Mutex::new(vec![]),
        }
    }

    /// Waits until the process asks for its first invocation (Ok: the cold start) or reports
    /// an init error / exits (Err: what it reported).
    pub async fn ready(&mut self) -> Result<Duration, String> {
        let started = Instant::now();
        loop {
            if let Some(first) = self.api.first_next() {
                return Ok(first - self.spawned);
            }
            if let Some((kind, body)) = self.api.init_error() {
                return Err(format!("{kind}: {body}"));
            }
            if let Some(status) = self.exited() {
                // It may have reported just before exiting.
                if let Some((kind, body)) = self.api.init_error() {
                    return Err(format!("{kind}: {body}"));
                }
                return Err(format!("exited with {status} without init/error"));
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{} did not start: {}",
                self.deployed.binary,
                self.logs()
            );
            tokio::select! {
                _ = self.api.state.changed.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    }

    /// Waits for the process to exit (after a failed start-up).
    pub async fn exit_status(&mut self) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the process exits"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The exit status, once the process has ended.
    pub fn exited(&self) -> Option<std::process::ExitStatus> {
        self.child.lock().unwrap().try_wait().ok().flatten()
    }

    /// Hands `payload` to the function and waits for its answer; a process that dies meanwhile
    /// fails the invocation at once (as Lambda reports `Runtime.ExitError`).
    pub async fn invoke(&self, payload: &Json) -> Outcome {
        let died = async {
            loop {
                if let Some(status) = self.exited() {
                    return status;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        let answer = tokio::select! {
            answer = self.api.invoke(payload) => answer,
            status = died => Err(format!("Runtime.ExitError: the process exited ({status})")),
        };
        let (outcome, took) =
            answer.unwrap_or_else(|e| panic!("{}: {e}\n{}", self.deployed.binary, self.logs()));
        self.invocations.lock().unwrap().push(took);
        outcome
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
