//! `devstack probe` (the real binary) against the Kontomatik sandbox: it prints each raw reply
//! next to what our client made of it, says that every provisional name held, and never prints
//! the key or a session secret.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use kontomatik_sandbox::{start_local, SandboxOptions};

const KEY: &str = "probe-test-key-41c2";

async fn probe(base_url: String, key: &str) -> (i32, String, String) {
    let key = key.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_devstack"))
            .arg("probe")
            .env("KONTOMATIK_BASE_URL", base_url)
            .env("KONTOMATIK_API_KEY", key)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_probe_runs_against_the_sandbox_and_every_provisional_name_holds() {
    let sandbox = start_local(SandboxOptions {
        api_key: KEY.into(),
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let (code, out, err) = probe(sandbox.base_url.to_string(), KEY).await;
    println!("{out}");
    assert_eq!(code, 0, "{out}\n{err}");
    for part in [
        "=== Fetch redirection",
        "--> POST /v1/signin-redirection (X-Api-Key: [redacted])",
        "<-- HTTP 200",
        "\"redirectionId\"",
        "our client: redirectionId ",
        "=== Redirection status (new link)",
        "our client: Initialized",
        "=== Redirection status (an id that does not exist)",
        "<-- HTTP 404",
        "[held      ] 1. Fetch redirection   redirectionId ",
        "[held      ] 1. Fetch redirection   url ",
        "[held      ] 3. Redirection status  status ",
        "[held      ] 3. Redirection status  initialized (before the user acts)",
        "[held      ] 3. Redirection status  error {code, message}",
        "Every provisional name held.",
    ] {
        assert!(out.contains(part), "missing {part:?} in\n{out}");
    }
    assert!(!out.contains("DID NOT HOLD"), "{out}");
    assert!(
        !out.contains(KEY) && !err.contains(KEY),
        "the key is never printed"
    );
    let seen = sandbox.handle.requests();
    assert_eq!(seen.len(), 3, "three calls: fetch, status, unknown id");
    assert!(seen
        .iter()
        .all(|r| r.api_key_header && !r.uri.contains(KEY)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_key_shows_what_did_not_hold_and_fails() {
    let sandbox = start_local(SandboxOptions {
        api_key: KEY.into(),
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let (code, out, err) = probe(sandbox.base_url.to_string(), "not-the-key").await;
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("<-- HTTP 401"), "{out}");
    assert!(
        out.contains("<comment>"),
        "the raw 401 reply is shown: {out}"
    );
    assert!(out.contains("[DID NOT HOLD] 1. Fetch redirection"), "{out}");
    assert!(!out.contains("not-the-key"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_variables_the_probe_says_which_is_missing() {
    let out = tokio::task::spawn_blocking(|| {
        Command::new(env!("CARGO_BIN_EXE_devstack"))
            .arg("probe")
            .env_remove("KONTOMATIK_BASE_URL")
            .env_remove("KONTOMATIK_API_KEY")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("KONTOMATIK_BASE_URL is not set"), "{err}");
}
