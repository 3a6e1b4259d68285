//! The whole SignIn Redirection flow through the real Lambda handlers, with real event payloads,
//! on moto (DynamoDB, SQS, SES) and the Kontomatik sandbox, on one simulated clock.
#![allow(clippy::unwrap_used)]

use chrono::Duration;
use e2e_tests::flow::{Flow, PUBLIC_BASE};
use kontomatik_sandbox::{Fault, FaultConfig, UserAction};
use signin_core::domain::machine::{apply, Event, State};
use signin_core::ports::{FunnelStep, RedirectionStore};
use signin_core::ports::{FunnelStore, ImportRecordStore, PersonStore};

/// Steps 1–2: start, land on Kontomatik's page. Returns the link.
async fn started(f: &Flow, email: &str) -> String {
    let page = f.start_sign_in(email, true).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let link = page.location.clone().unwrap();
    assert!(link.starts_with(f.sandbox.base_url.as_str()), "{link}");
    assert!(
        page.body.contains(&format!("href=\"{link}\"")),
        "fallback button"
    );
    link
}

async fn funnel(f: &Flow, step: FunnelStep) -> u64 {
    let day = f.app.now().date_naive();
    f.store.funnel(day, day).await.unwrap()[0].get(step)
}

#[tokio::test]
async fn happy_path_from_form_to_imported_data_and_email() {
    let f = Flow::start().await;
    let email = f.email("ann");
    let link = started(&f, &email).await;
    let id = Flow::id_of(&link);

    // Saved before the user left, with an owner id of its own (nobody is logged in: the
    // address is not proven) and the 24 h TTL.
    let r = f.redirection(&id).await.unwrap();
    assert_eq!(r.state, State::Created);
    assert_eq!(r.email.as_str(), email);
    let user = f.store.get_user(&r.user_key).await.unwrap().unwrap();
    assert_ne!(
        user.owner, r.owner,
        "an anonymous start under the person's owner id"
    );
    assert!(user.follow_up_consent());

    let back = f.sign_in_at_bank(&link, "success", "DemoBank").await;
    assert_eq!(
        back,
        format!("{PUBLIC_BASE}/kontomatik-signin?redirectionId={id}")
    );
    let page = f.come_back(&back).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("we are importing your data"),
        "{}",
        page.body
    );
    let r = f.redirection(&id).await.unwrap();
    assert_eq!(r.state, State::ImportQueued);
    let signature = r
        .session
        .as_ref()
        .unwrap()
        .session_id_signature
        .expose()
        .to_owned();
    assert_eq!(f.queue_depth().await, 1);

    let (handled, response) = f.deliver_imports().await;
    assert_eq!(handled, 1);
    assert!(response.batch_item_failures.is_empty());
    let r = f.redirection(&id).await.unwrap();
    assert_eq!(r.state, State::Imported);
    let records = f.store.import_records(&r.owner).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].summary.accounts_total, 2);
    assert_eq!(records[0].summary.transactions_total, 80);
    // The credit officer's analysis, kept with it: the sandbox's owner is somebody else (a
    // generated name), so no account is the applicant's.
    let credit = records[0].credit.as_ref().expect("a credit analysis");
    assert_eq!(credit.accounts_total, 2);
    assert!(credit.owner_mismatch, "{credit:?}");
    assert!(
        !credit.months.is_empty() && credit.currency.is_some(),
        "{credit:?}"
    );

    let mails = f.mails().await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].to, email);
    assert!(mails[0].subject.contains("we received your bank data"));
    let text = &mails[0].text;
    eprintln!("--- the import email as sent ---\n{text}\n---");
    assert!(text.contains("Your bank data reached us safely."), "{text}");
    assert!(
        text.contains(&format!("My applications: {PUBLIC_BASE}/me")),
        "{text}"
    );
    // The analysis is stored for the lender, never mailed.
    for data in ["Demo Bank", "Konto", "balance", "income", "spending:"] {
        assert!(!text.contains(data), "bank data {data:?} in\n{text}");
    }

    let c = f.counters();
    assert_eq!(c.imports_started, 1, "Default Import exactly once");
    assert_eq!(c.sign_outs, 1, "the bank session is ended after the import");
    let checked = e2e_tests::assert_no_secret_in_any_url(&f.sandbox, &[&signature]);
    assert!(checked >= 6, "{checked} requests checked");
    assert_eq!(c.duplicate_imports, 0);
    assert_eq!(c.rate_limited, 0);
    for step in [
        FunnelStep::Started,
        FunnelStep::Returned,
        FunnelStep::Success,
        FunnelStep::Imported,
    ] {
        assert_eq!(funnel(&f, step).await, 1, "{step:?}");
    }
    // The user's page now says done.
    let again = f.come_back(&back).await;
    assert!(again.body.contains("All done"), "{}", again.body);
}

#[tokio::test]
async fn a_polish_user_gets_the_whole_import_email_in_polish() {
    let f = Flow::start().await;
    let email = f.email("ola");
    let start = f.start_sign_in_in(&email, true, "pl").await;
    let link = start.location.unwrap();
    let id = Flow::id_of(&link);
    let back = f.sign_in_at_bank(&link, "success", "SlowBank").await;
    assert_eq!(f.come_back(&back).await.status, 200);
    f.deliver_imports().await;
    assert_eq!(f.redirection(&id).await.unwrap().state, State::Imported);
    let mails = f.mails().await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    let text = &mails[0].text;
    eprintln!("--- the Polish import email as sent ---\n{text}\n---");
    assert!(mails[0].subject.contains("otrzymaliśmy dane z banku"));
    for part in [
        "Dane z Twojego banku dotarły do nas bezpiecznie.",
        "Co dalej: ",
        "Moje wnioski: https://",
    ] {
        assert!(text.contains(part), "missing {part:?} in\n{text}");
    }
    // No bank data in the mail, in any language.
    for data in [
        "Slow Savings Bank",
        "saldo",
        "rachunki",
        "transakcji",
        "dochód",
        "wydatki",
    ] {
        assert!(!text.contains(data), "bank data {data:?} in\n{text}");
    }
    for english in [
        "your bank",
        "account",
        "balance",
        "income",
        "Next steps",
        "groceries",
        "shopping",
        "fuel",
    ] {
        assert!(!text.contains(english), "English {english:?} in\n{text}");
    }
    let c = f.counters();
    assert_eq!(
        (c.sign_outs, c.sign_outs_unavailable),
        (0, 1),
        "SlowBank cannot sign out: logged, and the email went anyway"
    );
    e2e_tests::assert_no_secret_in_any_url(&f.sandbox, &[]);
}

#[tokio::test]
async fn the_callback_needs_nothing_but_the_url() {
    let f = Flow::start().await;
    let start = f.start_sign_in(&f.email("bob"), false).await;
    assert!(
        start.headers.iter().all(|(k, _)| k != "set-cookie"),
        "no session cookie is relied upon"
    );
    let link = start.location.unwrap();
    let back = f.sign_in_at_bank(&link, "success", "DemoBank").await;
    // Another browser, no state at all: only the URL.
    let page = f.come_back(&back).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("importing"));
    assert_eq!(
        page.headers
            .iter()
            .find(|(k, _)| k == "referrer-policy")
            .unwrap()
            .1,
        "no-referrer"
    );
}

#[tokio::test]
async fn duplicate_callbacks_show_the_same_outcome_and_start_nothing_twice() {
    let f = Flow::start().await;
    let link = started(&f, &f.email("dup")).await;
    let id = Flow::id_of(&link);
    let back = f.sign_in_at_bank(&link, "success", "DemoBank").await;
    let pages = futures_join3(f.come_back(&back), f.come_back(&back), f.come_back(&back)).await;
    for p in &pages {
        assert_eq!(p.status, 200);
        assert!(p.body.contains("importing"), "{}", p.body);
    }
    let refresh = f.come_back(&back).await;
    assert!(refresh.body.contains("importing"));
    f.deliver_imports().await;
    f.deliver_imports().await;
    assert_eq!(f.redirection(&id).await.unwrap().state, State::Imported);
    let c = f.counters();
    assert_eq!(c.imports_started, 1);
    assert_eq!(c.duplicate_imports, 0);
    assert_eq!(
        funnel(&f, FunnelStep::Returned).await,
        1,
        "returned counted once"
    );
    assert_eq!(funnel(&f, FunnelStep::Success).await, 1);
    assert_eq!(f.mails().await.len(), 1, "one email");
}

async fn futures_join3<A, B, C>(a: A, b: B, c: C) -> Vec<A::Output>
where
    A: std::future::Future,
    B: std::future::Future<Output = A::Output>,
    C: std::future::Future<Output = A::Output>,
{
    let (x, y, z) = tokio::join!(a, b, c);
    vec![x, y, z]
}

#[tokio::test]
async fn callback_and_poller_race_and_exactly_one_import_runs() {
    let f = Flow::start().await;
    let link = started(&f, &f.email("race")).await;
    let id = Flow::id_of(&link);
    let back = f.sign_in_at_bank(&link, "success", "DemoBank").await;
    f.advance(Duration::minutes(6));
    let (page, report) = tokio::join!(f.come_back(&back), f.run_poller());
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(report.errors == 0, "{report:?}");
    for _ in 0..3 {
        f.deliver_imports().await;
    }
    assert_eq!(f.redirection(&id).await.unwrap().state, State::Imported);
    let c = f.counters();
    assert_eq!(c.imports_started, 1);
    assert_eq!(c.duplicate_imports, 0);
    assert_eq!(funnel(&f, FunnelStep::Success).await, 1);
    assert_eq!(f.mails().await.len(), 1);
}

#[tokio::test]
async fn a_failed_sign_in_shows_the_reason_and_a_way_to_retry() {
    let f = Flow::start().await;
    let link = started(&f, &f.email("err")).await;
    let id = Flow::id_of(&link);
    let back = f.sign_in_at_bank(&link, "fail_login", "DemoBank").await;
    let page = f.come_back(&back).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("did not finish"));
    assert!(
        page.body.contains("did not accept the login"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(&format!("href=\"{PUBLIC_BASE}/?lang=en\"")),
        "retry path"
    );
    let r = f.redirection(&id).await.unwrap();
    assert_eq!(r.state, State::Failed);
    assert_eq!(r.error.unwrap().code, "InvalidCredentials");
    assert_eq!(funnel(&f, FunnelStep::Error).await, 1);
    assert_eq!(f.queue_depth().await, 0);
    assert_eq!(f.counters().imports_started, 0);
}

#[tokio::test]
async fn an_expired_link_offers_a_fresh_start() {
    let f = Flow::start().await;
    let link = started(&f, &f.email("late")).await;
    let id = Flow::id_of(&link);
    f.advance(Duration::minutes(61));
    // The user opens the old link: the sandbox says expired and offers the way back.
    let page = e2e_tests::browser().get(&link).send().await.unwrap();
    assert_eq!(page.status(), 410);
    let back = format!("{PUBLIC_BASE}/kontomatik-signin?redirectionId={id}");
    let ours = f.come_back(&back).await;
    assert_eq!(ours.status, 200);
    assert!(ours.body.contains("expired"), "{}", ours.body);
    assert!(ours.body.contains("Start a new sign-in"));
    assert_eq!(f.redirection(&id).await.unwrap().state, State::Expired);
    assert_eq!(funnel(&f, FunnelStep::Expired).await, 1);
}

#[tokio::test]
async fn a_user_who_never_comes_back_but_succeeded_is_imported_by_the_poller() {
    let f = Flow::start().await;
    let email = f.email("quiet");
    let link = started(&f, &email).await;
    let id = Flow::id_of(&link);
    f.sandbox
        .handle
        .act(id.as_str(), UserAction::Succeed, Some("DemoBank"))
        .unwrap();
    // Not before 5 minutes.
    f.advance(Duration::minutes(4));
    assert_eq!(f.run_poller().await.checked, 0);
    f.advance(Duration::minutes(2));
    let report = f.run_poller().await;
    assert_eq!(report.checked, 1, "{report:?}");
    assert_eq!(report.finished, 1);
    assert_eq!(f.redirection(&id).await.unwrap().state, State::ImportQueued);
    f.deliver_imports().await;
    assert_eq!(f.redirection(&id).await.unwrap().state, State::Imported);
    let mails = f.mails().await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, email);
    assert_eq!(f.counters().imports_started, 1);
    assert_eq!(funnel(&f, FunnelStep::Returned).await, 0, "never came back");
}

#[tokio::test]
async fn a_user_who_walks_away_ends_expired_and_polling_stops() {
    let f = Flow::start().await;
    let link = started(&f, &f.email("walker")).await;
    let id = Flow::id_of(&link);
    let opened = e2e_tests::browser().get(&link).send().await.unwrap();
    assert_eq!(opened.status(), 200);
    let mut checks = 0;
    for _ in 0..90 {
        f.advance(Duration::minutes(1));
        checks += f.run_poller().await.checked;
    }
    let r = f.redirection(&id).await.unwrap();
    assert_eq!(r.state, State::Expired);
    let follow_up_at = r.next_poll_at.expect("waits for its follow-up decision");
    assert!(
        (7..=12).contains(&checks),
        "one check every 5–10 minutes over the first hour: {checks}"
    );
    let calls_then = f.counters().status_calls[id.as_str()];
    let mut sent = 0;
    for _ in 0..40 {
        f.advance(Duration::minutes(1));
        sent += f.run_poller().await.follow_ups_sent;
    }
    assert_eq!(
        f.counters().status_calls[id.as_str()],
        calls_then,
        "no status polls after final"
    );
    assert_eq!(f.counters().rate_limited, 0);
    assert_eq!(sent, 1, "one follow-up");
    let r = f.redirection(&id).await.unwrap();
    assert_eq!(r.state, State::FollowUpSent);
    assert_eq!(r.next_poll_at, None, "out of the poll index");
    assert!(r.updated_at >= follow_up_at);
    let mails = f.mails().await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].text.contains(&format!("{PUBLIC_BASE}/resume?t=")));
    assert_eq!(funnel(&f, FunnelStep::Expired).await, 1);
    assert_eq!(funnel(&f, FunnelStep::FollowUps).await, 1);
}

#[tokio::test]
async fn after_24_hours_the_redirection_is_closed_then_forgotten() {
    // Kontomatik unreachable for the whole day: every check fails, then the window closes.
    let f = Flow::start_with(|o| {
        o.faults = FaultConfig {
            server_error_rate: 1.0,
            ..Default::default()
        }
    })
    .await;
    // The start call itself must succeed: no faults for it.
    f.sandbox.handle.set_faults(FaultConfig::default());
    let link = started(&f, &f.email("day")).await;
    let id = Flow::id_of(&link);
    f.sandbox.handle.set_faults(FaultConfig {
        server_error_rate: 1.0,
        ..Default::default()
    });
    let mut deferred = 0;
    for _ in 0..(24 * 6) {
        f.advance(Duration::minutes(10));
        let r = f.run_poller().await;
        deferred += r.deferred;
        if f.redirection(&id)
            .await
            .is_none_or(|r| r.state == State::Expired)
        {
            break;
        }
    }
    // Every 5–10 minutes for the link's hour and half an hour more, then hourly, then the
    // window's last hour at the normal pace again: about 28 tries over the day.
    assert!(
        deferred >= 20,
        "kept trying while the window was open: {deferred}"
    );
    let r = f.redirection(&id).await.unwrap();
    assert_eq!(
        r.state,
        State::Expired,
        "closed before the 24 h window ended"
    );
    let follow_up_at = r.next_poll_at.expect("a follow-up is still decided");
    assert!(follow_up_at < r.forgotten_at(), "while the item exists");
    f.advance(Duration::hours(1));
    assert!(f.redirection(&id).await.is_none(), "gone after 24 h (TTL)");
    let page = f
        .http(
            "GET",
            &format!("/kontomatik-signin?redirectionId={id}"),
            None,
        )
        .await;
    assert_eq!(page.status, 404);
}

#[tokio::test]
async fn polling_many_redirections_every_minute_never_earns_429() {
    let f = Flow::start().await;
    let mut ids = vec![];
    for i in 0..6 {
        let link = started(&f, &f.email(&format!("p{i}"))).await;
        if i % 2 == 0 {
            e2e_tests::browser().get(&link).send().await.unwrap();
        }
        ids.push(Flow::id_of(&link));
    }
    for _ in 0..120 {
        f.advance(Duration::minutes(1));
        f.run_poller().await;
    }
    let c = f.counters();
    assert_eq!(c.rate_limited, 0, "{c:?}");
    for id in &ids {
        let n = c.status_calls[id.as_str()];
        assert!((6..=12).contains(&n), "{id}: {n} checks in the link's hour");
        let state = f.redirection(id).await.unwrap().state;
        assert!(
            matches!(state, State::Expired | State::FollowUpSent),
            "{state:?}"
        );
    }
}

#[tokio::test]
async fn a_rate_limited_check_is_rescheduled_not_retried_in_a_loop() {
    let f = Flow::start().await;
    let link = started(&f, &f.email("slow")).await;
    let id = Flow::id_of(&link);
    // Kontomatik asks for 15 minutes, longer than our 5–10 min pace.
    f.sandbox.handle.set_faults(FaultConfig {
        next: vec![Fault::RateLimit],
        retry_after_secs: 900,
        ..Default::default()
    });
    f.advance(Duration::minutes(5));
    let report = f.run_poller().await;
    assert_eq!(report.deferred, 1);
    let r = f.redirection(&id).await.unwrap();
    let wait = r.next_poll_at.unwrap() - f.app.now();
    // Retry-After honoured: the next check waits the 15 minutes asked, not our pace.
    assert_eq!(wait, Duration::minutes(15), "{wait}");
    let paced_only =
        f.app
            .settings
            .pacing
            .after_deferral(&id, r.created_at, r.status_checks, f.app.now(), None);
    assert_ne!(r.next_poll_at, paced_only);
    // Polling again at once does nothing.
    assert_eq!(f.run_poller().await.checked, 0);
    assert_eq!(
        f.counters().calls.get("redirection_status"),
        None,
        "the injected 429 answered before the handler"
    );
    assert_eq!(f.counters().rate_limited, 1);
}

#[tokio::test]
async fn kontomatik_down_at_callback_shows_try_later_and_the_poller_recovers() {
    let f = Flow::start().await;
    let link = started(&f, &f.email("down")).await;
    let id = Flow::id_of(&link);
    let back = f.sign_in_at_bank(&link, "success", "DemoBank").await;
    f.sandbox.handle.set_faults(FaultConfig {
        next: vec![Fault::ServerError],
        ..Default::default()
    });
    let page = f.come_back(&back).await;
    assert_eq!(page.status, 503);
    assert!(page.body.contains("Nothing is lost"));
    assert_eq!(f.redirection(&id).await.unwrap().state, State::Created);
    f.advance(Duration::minutes(11));
    f.run_poller().await;
    assert_eq!(f.redirection(&id).await.unwrap().state, State::ImportQueued);
    f.deliver_imports().await;
    assert_eq!(f.redirection(&id).await.unwrap().state, State::Imported);
}

#[tokio::test]
async fn failed_imports_are_recorded_and_the_user_gets_a_retry_email() {
    let f = Flow::start().await;
    let link = started(&f, &f.email("flaky")).await;
    let id = Flow::id_of(&link);
    let back = f.sign_in_at_bank(&link, "success", "FlakyBank").await;
    f.come_back(&back).await;
    f.deliver_imports().await;
    let r = f.redirection(&id).await.unwrap();
    assert_eq!(r.state, State::ImportFailed);
    assert_eq!(
        r.import.unwrap().error.unwrap().code,
        "BankTemporarilyUnavailable"
    );
    let mails = f.mails().await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].subject.contains("could not fetch"));
    assert!(mails[0]
        .text
        .contains(&format!("Try again: {PUBLIC_BASE}/?lang=en")));
    let page = f.come_back(&back).await;
    assert!(page.body.contains("could not fetch your data"));
}

#[tokio::test]
async fn a_worker_that_died_after_claiming_never_leads_to_a_second_default_import() {
    let f = Flow::start().await;
    let link = started(&f, &f.email("crash")).await;
    let id = Flow::id_of(&link);
    let back = f.sign_in_at_bank(&link, "success", "DemoBank").await;
    f.come_back(&back).await;
    // A worker takes the claim and "dies" before storing the command id.
    let r = f.redirection(&id).await.unwrap();
    let claimed = apply(&r, Event::ImportClaimed, f.app.now()).unwrap();
    f.store
        .save_redirection(&claimed, r.expected())
        .await
        .unwrap();
    // The queued job is delivered while the claim is fresh: retried later, nothing called.
    let (_, response) = f.deliver_imports().await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(f.counters().calls.get("default_import"), None);
    // After the lease the job gives up for good: no second call, ever.
    f.advance(Duration::minutes(3));
    f.sqs
        .purge_queue()
        .queue_url(&f.queue_url)
        .send()
        .await
        .unwrap();
    f.app
        .run_import(
            &signin_core::ports::ImportJob {
                redirection_id: id.clone(),
                continuation: 0,
            },
            f.app.now() + Duration::minutes(1),
        )
        .await
        .unwrap();
    let r = f.redirection(&id).await.unwrap();
    assert_eq!(r.state, State::ImportFailed);
    assert_eq!(r.import.unwrap().error.unwrap().code, "Interrupted");
    assert_eq!(f.counters().calls.get("default_import"), None);
    assert_eq!(f.counters().imports_started, 0);
    assert_eq!(
        f.counters().calls.get("sign_out"),
        None,
        "the worker taken for dead may still follow its command: its session is not signed out"
    );
}

#[tokio::test]
async fn an_unreadable_job_is_reported_failed_for_the_dead_letter_queue() {
    let f = Flow::start().await;
    f.sqs
        .send_message()
        .queue_url(&f.queue_url)
        .message_body("{not json")
        .send()
        .await
        .unwrap();
    let (handled, response) = f.deliver_imports().await;
    assert_eq!(handled, 1);
    assert_eq!(response.batch_item_failures.len(), 1);
}

#[tokio::test]
async fn bad_callback_ids_get_4xx_and_write_nothing() {
    let f = Flow::start().await;
    let before = f.table_items().await.len();
    let long = "a".repeat(10 * 1024);
    for (query, status) in [
        ("", 400),
        ("?redirectionId=", 400),
        (&format!("?redirectionId={long}")[..], 400),
        ("?redirectionId=%3Cscript%3E", 400),
        ("?redirectionId=a%20b", 400),
        ("?redirectionId=unknown-id-123", 404),
    ] {
        let page = f
            .http("GET", &format!("/kontomatik-signin{query}"), None)
            .await;
        assert_eq!(page.status, status, "{query}: {}", page.body);
        assert!(page.body.len() < 10_000, "the page does not echo a huge id");
        assert!(!page.body.contains("<script>"));
    }
    assert_eq!(f.table_items().await.len(), before, "nothing written");
    assert_eq!(
        f.counters().calls.get("redirection_status"),
        None,
        "Kontomatik not asked"
    );
}

#[tokio::test]
async fn bad_start_forms_get_400_with_the_reason_and_write_nothing() {
    let f = Flow::start().await;
    let long_name = "n".repeat(500);
    for (form, reason) in [
        ("name=Ann", "email is missing"),
        ("email=not-an-email&name=Ann", "email is not valid"),
        ("email=a%40b.example&name=", "name is missing"),
        (
            &format!("email=a%40b.example&name={long_name}")[..],
            "name is too long",
        ),
        ("email=a%40b.example&name=Ann&language=xx", "language"),
        ("email=a%40b.example&name=Ann&country=atlantis", "country"),
        // a country Kontomatik serves, but not one of operation (ALLOWED_COUNTRIES, pl)
        (
            "email=a%40b.example&name=Ann&country=cz",
            "country 'cz' is not supported",
        ),
        (
            "email=a%40b.example&name=Ann&delivery=pigeon",
            "delivery 'pigeon' is not supported",
        ),
        (
            "email=a%40b.example&name=Ann&followUpConsent=maybe",
            "followUpConsent",
        ),
    ] {
        let form = format!("{form}&formToken={}", f.form_token("/start").await);
        let page = f.http("POST", "/start", Some(&form)).await;
        assert_eq!(page.status, 400, "{form}");
        assert!(
            page.body.contains(reason),
            "{form}: expected '{reason}' in the page"
        );
    }
    let huge = format!("email=a%40b.example&name={}", "x".repeat(20_000));
    assert_eq!(f.http("POST", "/start", Some(&huge)).await.status, 413);
    assert_eq!(f.http("DELETE", "/start", None).await.status, 405);
    assert_eq!(f.http("GET", "/nope", None).await.status, 404);
    assert!(f.table_items().await.is_empty(), "nothing written");
    assert_eq!(f.counters().calls.get("fetch_redirection"), None);
}

#[tokio::test]
async fn a_logged_in_person_keeps_one_owner_id_and_the_link_can_be_emailed() {
    let f = Flow::start().await;
    let email = f.email("same");
    assert_eq!(f.log_in(&email, None).await.status, 303);
    let first = Flow::id_of(&started(&f, &email).await);
    let form = format!(
        "email={}&name=Ann&delivery=email&formToken={}",
        email.to_uppercase().replace('@', "%40"),
        f.form_token("/start").await
    );
    let page = f.http("POST", "/start", Some(&form)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Check your inbox"));
    let mails: Vec<_> = f
        .mails()
        .await
        .into_iter()
        .filter(|m| m.text.contains(f.sandbox.base_url.as_str()))
        .collect();
    assert_eq!(mails.len(), 1);
    let link_line = mails[0]
        .text
        .lines()
        .find(|l| l.starts_with(f.sandbox.base_url.as_str()))
        .unwrap()
        .to_owned();
    let second = Flow::id_of(&link_line);
    assert_ne!(first, second);
    let a = f.redirection(&first).await.unwrap();
    let b = f.redirection(&second).await.unwrap();
    assert_eq!(a.owner, b.owner, "stable ownerExternalId");
    let sandbox_view = f.sandbox.handle.redirections();
    assert!(sandbox_view
        .iter()
        .all(|r| r.owner_external_id.as_deref() == Some(a.owner.as_str())));
}

#[tokio::test]
async fn a_started_sign_in_survives_kontomatik_refusing_the_start() {
    let f = Flow::start().await;
    f.sandbox.handle.set_faults(FaultConfig {
        next: vec![Fault::ServerError],
        ..Default::default()
    });
    let page = f.start_sign_in(&f.email("busy"), false).await;
    assert_eq!(page.status, 503);
    assert!(page.body.contains("try again in a minute"));
    assert!(
        page.body.contains(&f.email("busy")),
        "the form keeps what was typed"
    );
    let items = f.table_items().await;
    let keys: Vec<String> = items
        .iter()
        .map(|i| match &i["PK"] {
            aws_sdk_dynamodb::types::AttributeValue::S(pk) => pk.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    // The user record, the spent form token and the client's start counter; no redirection.
    assert_eq!(
        keys.iter().filter(|k| k.starts_with("USER#")).count(),
        1,
        "{keys:?}"
    );
    assert_eq!(
        keys.iter().filter(|k| k.starts_with("FORM#")).count(),
        1,
        "{keys:?}"
    );
    assert_eq!(
        keys.iter().filter(|k| k.starts_with("LIMIT#")).count(),
        1,
        "{keys:?}"
    );
    assert_eq!(keys.len(), 3, "no redirection: {keys:?}");
}
