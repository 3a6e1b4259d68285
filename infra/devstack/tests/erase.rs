//! `devstack --data-dir DIR erase --email …` (the real binary) on a local run's saved state:
//! afterwards nothing with the person's address or owner id is left in the store or the outbox,
//! and another person's data is untouched.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use devstack::{start, DevClock, DevOptions};

/// Opens the start page and sends its form with `delivery=email` (no bank step needed).
async fn start_by_email(base: &str, email: &str) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(format!("{base}/start")).send().await.unwrap();
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let body = page.text().await.unwrap();
    let marker = r#"name="formToken" value=""#;
    let at = body.find(marker).unwrap() + marker.len();
    let token = &body[at..at + body[at..].find('"').unwrap()];
    let sent = http
        .post(format!("{base}/start"))
        .header("cookie", cookie)
        .form(&[
            ("email", email),
            ("name", "Ann Smith"),
            ("delivery", "email"),
            ("formToken", token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200, "{}", sent.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_erase_command_leaves_nothing_of_the_person_in_a_local_runs_data() {
    let dir = std::env::temp_dir().join(format!("devstack-erase-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let running = start(DevOptions {
        port: 0,
        sandbox_port: 0,
        // Real time: the command that erases runs on the system clock.
        clock: DevClock::scaled(1.0),
        data_dir: Some(dir.clone()),
        aws: false,
        ..DevOptions::default()
    })
    .await
    .unwrap();
    start_by_email(&running.url, "ann.erase@example.com").await;
    start_by_email(&running.url, "bob.keep@example.com").await;
    let owner = running
        .dev
        .embedded
        .as_ref()
        .unwrap()
        .store
        .redirections()
        .into_iter()
        .find(|r| r.email.as_str() == "ann.erase@example.com")
        .unwrap()
        .owner;
    running.stop().await;
    let saved = std::fs::read_to_string(dir.join("state.json")).unwrap();
    assert!(saved.contains("ann.erase@example.com") && saved.contains(owner.as_str()));

    let out = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || {
            Command::new(env!("CARGO_BIN_EXE_devstack"))
                .arg("--data-dir")
                .arg(&dir)
                .args(["erase", "--email", "Ann.Erase@EXAMPLE.com"])
                .env_remove("KONTOMATIK_BASE_URL")
                .env("RUST_LOG", "warn")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("user record yes, 1 redirection(s)"),
        "{stdout}"
    );
    assert!(stdout.contains("1 stored email(s)"), "{stdout}");

    let saved = std::fs::read_to_string(dir.join("state.json")).unwrap();
    assert!(
        !saved.to_lowercase().contains("ann.erase@example.com"),
        "{saved}"
    );
    assert!(!saved.contains(owner.as_str()), "the owner id is gone");
    assert!(
        saved.contains("bob.keep@example.com"),
        "another person's data stays"
    );

    // Without a place to erase from, it says so and changes nothing.
    let out = Command::new(env!("CARGO_BIN_EXE_devstack"))
        .args(["erase", "--email", "bob.keep@example.com"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--data-dir"));
    let _ = std::fs::remove_dir_all(&dir);
}
