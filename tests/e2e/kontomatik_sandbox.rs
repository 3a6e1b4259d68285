//! Our Kontomatik client against the Kontomatik sandbox, over real HTTP, on a simulated clock:
//! every status, link expiry, the 24 h disappearance, 429 pacing, once-only Default Import, the
//! command's states and its (large) result, authentication and injected faults.
#![allow(clippy::unwrap_used)]

use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use e2e_tests::{
    assert_no_secret_in_any_url, browser, fetch_request, since, SandboxFixture, API_KEY,
};
use kontomatik_sandbox::{DataShape, Fault, FaultConfig, UserAction};
use signin_core::domain::import::{CollectedImport, Discard, SummaryBuilder};
use signin_core::domain::{CommandState, RedirectionStatus, SessionData};
use signin_core::ports::{Kontomatik, KontomatikError, RedirectionLink, SignOut};
use signin_core::Clock;

async fn link(f: &SandboxFixture) -> RedirectionLink {
    f.client
        .fetch_redirection(&fetch_request("own-e2e"))
        .await
        .unwrap()
}

/// Signs in through the hosted page with a plain HTTP client, as a browser would.
async fn sign_in_via_page(link: &RedirectionLink, outcome: &str, bank: &str) -> reqwest::Response {
    let http = browser();
    let page = http.get(&link.url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Choose your bank"), "{html}");
    http.post(&link.url)
        .form(&[("bank", bank), ("outcome", outcome)])
        .send()
        .await
        .unwrap()
}

async fn session_of(f: &SandboxFixture, link: &RedirectionLink) -> SessionData {
    match f
        .client
        .redirection_status(&link.redirection_id)
        .await
        .unwrap()
    {
        RedirectionStatus::Success(s) => s,
        other => panic!("expected success, got {other:?}"),
    }
}

async fn successful_session(f: &SandboxFixture, bank: &str) -> SessionData {
    let l = link(f).await;
    f.sandbox
        .handle
        .act(l.redirection_id.as_str(), UserAction::Succeed, Some(bank))
        .unwrap();
    session_of(f, &l).await
}

#[tokio::test]
async fn the_whole_redirection_and_import_happy_path() {
    let f = SandboxFixture::start_with(|o| {
        o.shape = DataShape {
            accounts: 3,
            transactions_per_account: 25,
        }
    })
    .await;
    let l = link(&f).await;
    assert!(
        l.url.starts_with(&format!("{}signin/", f.sandbox.base_url)),
        "the link leads to the sandbox's hosted page: {}",
        l.url
    );
    assert_eq!(
        f.client
            .redirection_status(&l.redirection_id)
            .await
            .unwrap(),
        RedirectionStatus::Initialized
    );

    let back = sign_in_via_page(&l, "success", "DemoBank").await;
    assert_eq!(back.status(), 303);
    assert_eq!(
        back.headers()["location"].to_str().unwrap(),
        format!(
            "https://lender.example/kontomatik-signin?redirectionId={}",
            l.redirection_id
        ),
        "the user is sent back with only the redirectionId"
    );

    let session = session_of(&f, &l).await;
    assert_eq!(session.target, "DemoBank");
    assert_eq!(
        session.owner_external_id.as_ref().map(|o| o.as_str()),
        Some("own-e2e")
    );

    let cmd = f.client.default_import(&session, since()).await.unwrap();
    let mut states = vec![];
    let mut data = CollectedImport::default();
    for _ in 0..10 {
        let st = f.client.command_status(&cmd, &mut data).await.unwrap();
        states.push(st.state);
        if st.state.is_final() {
            break;
        }
    }
    assert_eq!(
        states,
        vec![
            CommandState::Setup,
            CommandState::InProgress,
            CommandState::Successful
        ]
    );
    assert_eq!(data.accounts.len(), 3);
    assert_eq!(data.transaction_count(), 75);
    assert_eq!(data.owners.len(), 1);
    let target = data.target.clone().unwrap();
    assert_eq!(target.name, "DemoBank");
    assert_eq!(target.institution, "Demo Bank");
    assert!(data
        .accounts
        .iter()
        .all(|(a, _)| a.iban.starts_with("PL") && !a.currency.is_empty()));
    assert!(data.accounts[0].1.iter().any(|t| t.labels == ["salary"]));
    assert_eq!(data.credit_cards, 1);

    // Once per session, ever.
    assert_eq!(
        f.client
            .default_import(&session, since())
            .await
            .unwrap_err(),
        KontomatikError::AlreadyImported
    );
    // The session ends; Kontomatik keeps the owner's data, readable without a new import.
    assert_eq!(
        f.client.sign_out(&session).await.unwrap(),
        SignOut::SignedOut
    );
    let owner = session.owner_external_id.clone().unwrap();
    let mut kept = CollectedImport::default();
    assert!(f.client.owner_data(&owner, &mut kept).await.unwrap());
    assert_eq!(
        kept.accounts, data.accounts,
        "the same data as the import's"
    );
    assert!(f.client.delete_owner_data(&owner).await.unwrap());
    assert!(
        !f.client.owner_data(&owner, &mut Discard).await.unwrap(),
        "gone after the delete"
    );
    assert!(!f.client.delete_owner_data(&owner).await.unwrap());

    let c = f.sandbox.handle.counters();
    assert_eq!(c.imports_started, 1);
    assert_eq!(c.duplicate_imports, 1);
    assert_eq!(c.rate_limited, 0);
    assert_eq!(c.calls["fetch_redirection"], 1);
    assert_eq!(c.calls["default_import"], 2);
    assert_eq!(
        (c.sign_outs, c.owner_data_reads, c.owner_data_deletes),
        (1, 2, 2)
    );
    let checked = assert_no_secret_in_any_url(&f.sandbox, &[session.session_id_signature.expose()]);
    assert_eq!(checked, 13, "every call of this test was checked");
}

#[tokio::test]
async fn the_same_seed_gives_the_same_data() {
    let f = SandboxFixture::start().await;
    let mut first = CollectedImport::default();
    let mut second = CollectedImport::default();
    for out in [&mut first, &mut second] {
        let s = successful_session(&f, "DemoBank").await;
        let cmd = f.client.default_import(&s, since()).await.unwrap();
        // Commands differ, so data differs; the same command polled again repeats itself.
        for _ in 0..3 {
            f.client.command_status(&cmd, &mut Discard).await.unwrap();
        }
        f.client.command_status(&cmd, out).await.unwrap();
        let mut again = CollectedImport::default();
        f.client.command_status(&cmd, &mut again).await.unwrap();
        assert_eq!(*out, again, "a command's result is stable");
    }
    assert_ne!(
        first.accounts, second.accounts,
        "each command gets its own data"
    );
}

#[tokio::test]
async fn error_statuses_carry_the_reason() {
    let f = SandboxFixture::start().await;
    for (outcome, code) in [
        ("fail_login", "InvalidCredentials"),
        ("cancel", "UserCancelled"),
    ] {
        let l = link(&f).await;
        let back = sign_in_via_page(&l, outcome, "DemoBank").await;
        assert_eq!(back.status(), 303, "the user is sent back on error too");
        match f
            .client
            .redirection_status(&l.redirection_id)
            .await
            .unwrap()
        {
            RedirectionStatus::Error(e) => assert_eq!(e.code, code),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn opening_the_link_makes_the_status_in_progress() {
    let f = SandboxFixture::start().await;
    let l = link(&f).await;
    let page = browser().get(&l.url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(
        f.client
            .redirection_status(&l.redirection_id)
            .await
            .unwrap(),
        RedirectionStatus::InProgress
    );
    // Walking away leaves it open.
    let left = browser()
        .get(format!("{}/left", l.url))
        .send()
        .await
        .unwrap();
    assert_eq!(left.status(), 200);
}

#[tokio::test]
async fn an_unused_link_expires_after_one_hour_and_the_id_is_gone_after_24() {
    let f = SandboxFixture::start().await;
    let l = link(&f).await;
    f.advance(Duration::minutes(59));
    assert_eq!(
        f.client
            .redirection_status(&l.redirection_id)
            .await
            .unwrap(),
        RedirectionStatus::Initialized
    );
    f.advance(Duration::minutes(1));
    assert_eq!(
        f.client
            .redirection_status(&l.redirection_id)
            .await
            .unwrap(),
        RedirectionStatus::Expired,
        "the status change lets this read through without waiting 5 minutes"
    );
    // The hosted page now refuses, and offers the way back.
    let page = browser().get(&l.url).send().await.unwrap();
    assert_eq!(page.status(), 410);
    assert!(page.text().await.unwrap().contains("expired"));

    f.advance(Duration::hours(22) + Duration::minutes(59));
    assert_eq!(
        f.client
            .redirection_status(&l.redirection_id)
            .await
            .unwrap(),
        RedirectionStatus::Expired
    );
    f.advance(Duration::minutes(1));
    assert_eq!(
        f.client
            .redirection_status(&l.redirection_id)
            .await
            .unwrap_err(),
        KontomatikError::NotFound,
        "after 24 hours Kontomatik forgets the id"
    );
    let page = browser().get(&l.url).send().await.unwrap();
    assert_eq!(page.status(), 404);
}

#[tokio::test]
async fn polling_one_id_too_often_earns_429_with_retry_after() {
    let f = SandboxFixture::start().await;
    let l = link(&f).await;
    f.client
        .redirection_status(&l.redirection_id)
        .await
        .unwrap();
    f.advance(Duration::minutes(2));
    match f
        .client
        .redirection_status(&l.redirection_id)
        .await
        .unwrap_err()
    {
        KontomatikError::RateLimited { retry_after } => {
            assert_eq!(retry_after, Some(StdDuration::from_secs(180)))
        }
        other => panic!("{other:?}"),
    }
    f.advance(Duration::minutes(3));
    assert!(f.client.redirection_status(&l.redirection_id).await.is_ok());
    // Other ids are paced on their own.
    let other = link(&f).await;
    assert!(f
        .client
        .redirection_status(&other.redirection_id)
        .await
        .is_ok());
    let c = f.sandbox.handle.counters();
    assert_eq!(c.rate_limited, 1);
    assert_eq!(c.status_calls[l.redirection_id.as_str()], 3);
}

#[tokio::test]
async fn a_wrong_api_key_is_refused_everywhere() {
    let f = SandboxFixture::start().await;
    let session = successful_session(&f, "DemoBank").await;
    let cmd = f.client.default_import(&session, since()).await.unwrap();
    let bad = f.client_with_key("not-the-key");
    assert_eq!(
        bad.fetch_redirection(&fetch_request("own-x"))
            .await
            .unwrap_err(),
        KontomatikError::Unauthorized
    );
    assert_eq!(
        bad.redirection_status(&signin_core::domain::RedirectionId::parse("x").unwrap())
            .await
            .unwrap_err(),
        KontomatikError::Unauthorized
    );
    assert_eq!(
        bad.default_import(&session, since()).await.unwrap_err(),
        KontomatikError::Unauthorized
    );
    assert_eq!(
        bad.command_status(&cmd, &mut Discard).await.unwrap_err(),
        KontomatikError::Unauthorized
    );
    assert_eq!(f.sandbox.handle.counters().unauthorized, 4);
    assert_eq!(
        f.sandbox.handle.counters().imports_started,
        1,
        "a refused call starts nothing"
    );
}

#[tokio::test]
async fn invalid_fetch_input_is_rejected_with_the_reason() {
    let f = SandboxFixture::start().await;
    let mut req = fetch_request("own-1");
    req.redirect_uri = "not a url".into();
    match f.client.fetch_redirection(&req).await.unwrap_err() {
        KontomatikError::Rejected(e) => {
            assert_eq!(e.code, "InvalidRequest");
            assert!(e.message.contains("redirectUri"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_forged_or_late_session_cannot_be_imported() {
    let f = SandboxFixture::start().await;
    let mut forged = successful_session(&f, "DemoBank").await;
    forged.session_id_signature = signin_core::domain::Secret::new("forged");
    assert!(matches!(
        f.client.default_import(&forged, since()).await.unwrap_err(),
        KontomatikError::SessionInvalid(_)
    ));
    let late = successful_session(&f, "DemoBank").await;
    f.advance(Duration::hours(2));
    match f.client.default_import(&late, since()).await.unwrap_err() {
        KontomatikError::SessionInvalid(e) => assert_eq!(e.code, "SessionExpired"),
        other => panic!("{other:?}"),
    }
    assert_eq!(f.sandbox.handle.counters().imports_started, 0);
}

#[tokio::test]
async fn failed_imports_end_in_error_or_fatal_with_an_exception() {
    let f = SandboxFixture::start().await;
    for (bank, state) in [
        ("FlakyBank", CommandState::Error),
        ("BrokenBank", CommandState::Fatal),
    ] {
        let s = successful_session(&f, bank).await;
        let cmd = f.client.default_import(&s, since()).await.unwrap();
        let mut last = None;
        let mut data = CollectedImport::default();
        for _ in 0..3 {
            last = Some(f.client.command_status(&cmd, &mut data).await.unwrap());
        }
        let last = last.unwrap();
        assert_eq!(last.state, state);
        assert!(last.exception.is_some());
        assert_eq!(
            data,
            CollectedImport::default(),
            "no data from a failed import"
        );
    }
}

#[tokio::test]
async fn injected_faults_become_typed_transient_errors() {
    let f = SandboxFixture::start().await;
    let session = successful_session(&f, "DemoBank").await;
    let cmd = f.client.default_import(&session, since()).await.unwrap();
    let id = link(&f).await.redirection_id;

    f.sandbox.handle.set_faults(FaultConfig {
        next: vec![
            Fault::ServerError,
            Fault::RateLimit,
            Fault::Drop,
            Fault::Drop,
        ],
        ..Default::default()
    });
    assert!(matches!(
        f.client.redirection_status(&id).await.unwrap_err(),
        KontomatikError::Transient(_)
    ));
    assert_eq!(
        f.client.redirection_status(&id).await.unwrap_err(),
        KontomatikError::RateLimited {
            retry_after: Some(StdDuration::from_secs(30))
        }
    );
    assert!(matches!(
        f.client.redirection_status(&id).await.unwrap_err(),
        KontomatikError::Transient(_)
    ));
    // A connection dropped while the command reply streams: transient, and the key carried in
    // the URL's query never shows in the error.
    let err = f
        .client
        .command_status(&cmd, &mut Discard)
        .await
        .unwrap_err();
    assert!(matches!(err, KontomatikError::Transient(_)), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(API_KEY), "{shown}");
    assert!(!shown.contains(session.session_id_signature.expose()));
    // Faults used up: calls work again.
    assert!(f.client.redirection_status(&id).await.is_ok());
    assert_eq!(f.sandbox.handle.counters().faults_injected, 4);
}

#[tokio::test]
async fn a_lost_reply_is_a_call_that_happened_though_the_caller_saw_an_error() {
    let f = SandboxFixture::start().await;
    let session = successful_session(&f, "DemoBank").await;
    f.sandbox.handle.set_faults(FaultConfig {
        next: vec![Fault::LostReply],
        ..Default::default()
    });
    let err = f
        .client
        .default_import(&session, since())
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    let c = f.sandbox.handle.counters();
    assert_eq!(c.imports_started, 1, "Kontomatik started the import");
    assert_eq!(c.lost_replies, 1);
    // Calling again is what the worker must never do: the session is spent.
    assert_eq!(
        f.client
            .default_import(&session, since())
            .await
            .unwrap_err(),
        KontomatikError::AlreadyImported
    );
}

#[tokio::test]
async fn a_slow_reply_times_out_on_the_client() {
    let f = SandboxFixture::start().await;
    f.sandbox.handle.set_faults(FaultConfig {
        slow_ms: 400,
        next: vec![Fault::Slow],
        ..Default::default()
    });
    let impatient = f.client_with_timeout(StdDuration::from_millis(100));
    let err = impatient
        .fetch_redirection(&fetch_request("own-slow"))
        .await
        .unwrap_err();
    match err {
        KontomatikError::Transient(m) => assert!(m.contains("timed out"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn fault_shares_hit_about_their_share_of_calls() {
    let f = SandboxFixture::start_with(|o| {
        o.faults = FaultConfig {
            server_error_rate: 0.3,
            ..Default::default()
        };
        o.seed = 11;
    })
    .await;
    let mut failed = 0;
    for _ in 0..200 {
        if f.client
            .fetch_redirection(&fetch_request("own-r"))
            .await
            .is_err()
        {
            failed += 1;
        }
    }
    assert!(
        (35..=85).contains(&failed),
        "{failed} of 200 failed at a 30% share"
    );
}

#[tokio::test]
async fn a_100k_transaction_result_streams_through_the_summary() {
    let f = SandboxFixture::start_with(|o| {
        o.shape = DataShape {
            accounts: 4,
            transactions_per_account: 25_000,
        }
    })
    .await;
    let s = successful_session(&f, "DemoBank").await;
    let cmd = f.client.default_import(&s, since()).await.unwrap();
    for _ in 0..2 {
        f.client.command_status(&cmd, &mut Discard).await.unwrap();
    }
    let started = Instant::now();
    let mut summary = SummaryBuilder::default();
    let st = f.client.command_status(&cmd, &mut summary).await.unwrap();
    assert_eq!(st.state, CommandState::Successful);
    let summary = summary.build();
    assert_eq!(summary.transactions_total, 100_000);
    assert_eq!(summary.accounts_total, 4);
    assert!(summary.period_from < summary.period_to);
    assert!(summary.totals.iter().all(
        |t| t.income > rust_decimal::Decimal::ZERO && t.spending > rust_decimal::Decimal::ZERO
    ));
    eprintln!(
        "100k transactions streamed and summarised in {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn admin_endpoints_control_time_and_show_counters() {
    let f = SandboxFixture::start().await;
    let http = reqwest::Client::new();
    let base = &f.sandbox.base_url;
    let before = f.clock.now();
    let r: serde_json::Value = http
        .post(base.join("_sandbox/clock/advance").unwrap())
        .json(&serde_json::json!({"seconds": 3600}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r["now"].is_string());
    assert_eq!(
        f.clock.now() - before,
        Duration::hours(1),
        "the shared clock moved"
    );

    let l = link(&f).await;
    let acted = http
        .post(
            base.join(&format!("_sandbox/redirections/{}/act", l.redirection_id))
                .unwrap(),
        )
        .json(&serde_json::json!({"action": "succeed", "bank": "DemoBank"}))
        .send()
        .await
        .unwrap();
    assert_eq!(acted.status(), 200);
    assert!(matches!(
        f.client
            .redirection_status(&l.redirection_id)
            .await
            .unwrap(),
        RedirectionStatus::Success(_)
    ));
    let counters: serde_json::Value = http
        .get(base.join("_sandbox/counters").unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counters["calls"]["redirection_status"], 1);
    assert_eq!(counters["statusCalls"][l.redirection_id.as_str()], 1);

    let list: serde_json::Value = http
        .get(base.join("_sandbox/redirections").unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["id"], l.redirection_id.as_str());
    assert_eq!(list[0]["status"]["status"], "success");
}

#[tokio::test]
async fn admin_endpoints_are_off_unless_enabled() {
    let f = SandboxFixture::start_with(|o| o.admin = false).await;
    let r = reqwest::Client::new()
        .post(f.sandbox.base_url.join("_sandbox/clock/advance").unwrap())
        .json(&serde_json::json!({"seconds": 3600}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
