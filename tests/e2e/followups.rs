//! Follow-ups and marketing on the real handlers, moto and the sandbox, on a simulated clock:
//! exactly one follow-up per dropped user, none without consent, after an opt-out or after a
//! later success; signed links that resist tampering and expire; the funnel of a scripted
//! population matches the script exactly.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use chrono::Duration;
use e2e_tests::flow::{Flow, Mail, PUBLIC_BASE};
use kontomatik_sandbox::UserAction;
use signin_core::domain::machine::State;
use signin_core::domain::{Email, Secret};
use signin_core::ports::FunnelStep;
use signin_core::ports::{FunnelStore, PersonStore};

/// The URL in a mail's text that starts with `prefix`.
fn url_in(mail: &Mail, prefix: &str) -> String {
    mail.text
        .split_whitespace()
        .find(|w| w.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} link in {}", mail.text))
        .to_owned()
}

fn path_of(url: &str) -> &str {
    url.strip_prefix(PUBLIC_BASE).unwrap()
}

fn token_of(url: &str) -> &str {
    url.split_once("t=").unwrap().1
}

/// Starts a sign-in that the user abandons (never opens the link).
async fn drop_off(f: &Flow, email: &str, consent: bool) -> signin_core::domain::RedirectionId {
    let page = f.start_sign_in(email, consent).await;
    assert_eq!(page.status, 303, "{}", page.body);
    Flow::id_of(&page.location.unwrap())
}

/// Runs the poller once a simulated minute for `minutes`.
async fn poll_for(f: &Flow, minutes: i64) -> (usize, usize) {
    let (mut sent, mut skipped) = (0, 0);
    for _ in 0..minutes {
        f.advance(Duration::minutes(1));
        let r = f.run_poller().await;
        sent += r.follow_ups_sent;
        skipped += r.follow_ups_skipped;
    }
    (sent, skipped)
}

#[tokio::test]
async fn one_follow_up_per_dropped_user_however_often_the_poller_runs() {
    let f = Flow::start().await;
    let email = f.email("twice");
    let a = drop_off(&f, &email, true).await;
    f.advance(Duration::minutes(10));
    let b = drop_off(&f, &email, true).await;
    // Both expire; both come up for a follow-up. Two poller runs overlap every minute, so the
    // minute each follow-up is decided is decided by two runs at once.
    let (mut sent, mut skipped) = (0, 0);
    let mut decided_in_a_race = 0;
    for _ in 0..150 {
        f.advance(Duration::minutes(1));
        let (x, y) = tokio::join!(f.run_poller(), f.run_poller());
        let decided =
            x.follow_ups_sent + x.follow_ups_skipped + y.follow_ups_sent + y.follow_ups_skipped;
        if decided > 0 {
            // Both runs found the drop-off due: the decision was raced, not made by one alone.
            assert!(x.due >= 1 && y.due >= 1, "{x:?} {y:?}");
            decided_in_a_race += 1;
        }
        sent += x.follow_ups_sent + y.follow_ups_sent;
        skipped += x.follow_ups_skipped + y.follow_ups_skipped;
    }
    assert!(
        decided_in_a_race >= 1,
        "the decisions were made under overlapping runs"
    );
    assert_eq!(sent, 1, "one email for the user");
    // The other drop-off is decided without one; a run that loses a race to decide counts a
    // skip too, so the states below say what was decided.
    assert!(skipped >= 1, "{skipped}");
    let mails = f.mails().await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, email);
    eprintln!("follow-up text part:\n{}", mails[0].text);
    assert!(mails[0].headers.iter().any(|(k, v)| k == "List-Unsubscribe"
        && v.starts_with(&format!("<{PUBLIC_BASE}/unsubscribe?t="))));
    assert!(mails[0]
        .headers
        .iter()
        .any(|(k, v)| k == "List-Unsubscribe-Post" && v == "List-Unsubscribe=One-Click"));
    let states = [
        f.redirection(&a).await.unwrap().state,
        f.redirection(&b).await.unwrap().state,
    ];
    assert!(states.contains(&State::FollowUpSent) && states.contains(&State::Expired));
    assert!(f.redirection(&a).await.unwrap().next_poll_at.is_none());
    assert!(f.redirection(&b).await.unwrap().next_poll_at.is_none());
    // Each moment published once although two runs raced to decide it.
    for (id, state) in [(&a, states[0]), (&b, states[1])] {
        let mut expected = vec!["signin.started", "signin.expired"];
        if state == State::FollowUpSent {
            expected.push("signin.follow_up_sent");
        }
        assert_eq!(f.event_types_of(id).await, expected, "{id}");
    }
}

#[tokio::test]
async fn no_follow_up_without_consent() {
    let f = Flow::start().await;
    drop_off(&f, &f.email("quiet"), false).await;
    let (sent, skipped) = poll_for(&f, 150).await;
    assert_eq!((sent, skipped), (0, 1));
    assert!(f.mails().await.is_empty());
}

#[tokio::test]
async fn no_follow_up_to_a_user_who_succeeded_since() {
    let f = Flow::start().await;
    let email = f.email("later");
    drop_off(&f, &email, true).await;
    poll_for(&f, 70).await; // expired, follow-up not decided yet
    let link = f.start_sign_in(&email, true).await.location.unwrap();
    let back = f.sign_in_at_bank(&link, "success", "DemoBank").await;
    f.come_back(&back).await;
    f.deliver_imports().await;
    let (sent, _) = poll_for(&f, 90).await;
    assert_eq!(sent, 0, "the user finished on their own");
    let mails = f.mails().await;
    assert_eq!(mails.len(), 1, "only the import email");
    assert!(mails[0].subject.contains("we received your bank data"));
}

#[tokio::test]
async fn one_click_unsubscribe_stops_later_follow_ups() {
    let f = Flow::start().await;
    let email = f.email("stop");
    drop_off(&f, &email, true).await;
    poll_for(&f, 130).await;
    let mails = f.mails().await;
    assert_eq!(mails.len(), 1);
    let unsubscribe = url_in(&mails[0], &format!("{PUBLIC_BASE}/unsubscribe?t="));
    // The visible link opens a confirmation page; nothing changes on GET.
    let page = f.http("GET", path_of(&unsubscribe), None).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Unsubscribe"));
    let user = f
        .store
        .get_user(&Email::parse(&email).unwrap().user_key())
        .await
        .unwrap()
        .unwrap();
    assert!(!user.opted_out());
    // The mail client's one-click POST (RFC 8058).
    let done = f
        .http(
            "POST",
            path_of(&unsubscribe),
            Some("List-Unsubscribe=One-Click"),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("You are unsubscribed"));
    let user = f.store.get_user(&user.key).await.unwrap().unwrap();
    assert!(user.opted_out());
    // A week later the user drops off again, the box left unticked: no follow-up.
    f.advance(Duration::days(8));
    drop_off(&f, &email, false).await;
    let (sent, skipped) = poll_for(&f, 150).await;
    assert_eq!((sent, skipped), (0, 1));
    assert_eq!(f.mails().await.len(), 1);
    // Unsubscribe wins over a tick by anyone not logged in (anyone may type the address) …
    f.advance(Duration::days(8));
    drop_off(&f, &email, true).await;
    let (sent, _) = poll_for(&f, 150).await;
    assert_eq!(sent, 0, "an anonymous tick reopened an unsubscribe");
    // … until the person, logged in, ticks the box again: then that is their choice.
    f.advance(Duration::days(8));
    assert_eq!(f.log_in(&email, None).await.status, 303);
    drop_off(&f, &email, true).await;
    let (sent, _) = poll_for(&f, 150).await;
    assert_eq!(
        sent, 1,
        "ticked again by the person: follow-ups are welcome again"
    );
}

#[tokio::test]
async fn consent_is_the_latest_choice_not_the_first() {
    let f = Flow::start().await;
    let email = f.email("changed-mind");
    // Someone (the person, or anyone who typed their address) ticks the box first …
    let first = f.start_sign_in(&email, true).await;
    assert_eq!(first.status, 303);
    // … then the person starts again and leaves it unticked, and drops off.
    f.advance(Duration::minutes(5));
    drop_off(&f, &email, false).await;
    let user = f
        .store
        .get_user(&Email::parse(&email).unwrap().user_key())
        .await
        .unwrap()
        .unwrap();
    assert!(
        !user.follow_up_consent(),
        "the later, unticked choice counts"
    );
    assert_eq!(
        user.consent.source,
        signin_core::ports::ConsentSource::StartForm
    );
    assert_eq!(user.consent.at, f.app.now(), "with the time it was made");
    let (sent, _) = poll_for(&f, 150).await;
    assert_eq!(sent, 0, "no follow-up after the box was unticked");
    assert!(f.mails().await.is_empty());
}

#[tokio::test]
async fn a_failed_sign_in_gets_its_own_follow_up_and_the_link_starts_afresh() {
    let f = Flow::start().await;
    let email = f.email("retry");
    let link = f.start_sign_in(&email, true).await.location.unwrap();
    let first = Flow::id_of(&link);
    let back = f.sign_in_at_bank(&link, "fail_login", "DemoBank").await;
    f.come_back(&back).await;
    let (sent, _) = poll_for(&f, 70).await;
    assert_eq!(sent, 1);
    let mail = f.mails().await.remove(0);
    assert!(mail.subject.contains("did not work"), "{}", mail.subject);
    assert_eq!(
        f.redirection(&first).await.unwrap().state,
        State::FollowUpSent
    );

    let resume = url_in(&mail, &format!("{PUBLIC_BASE}/resume?t="));
    let page = f.http("GET", path_of(&resume), None).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Continue to my bank"),
        "a button, not an action on GET"
    );
    let started = f.confirm_link(&resume).await;
    assert_eq!(started.status, 303, "{}", started.body);
    let fresh = started.location.unwrap();
    let second = Flow::id_of(&fresh);
    assert_ne!(first, second, "a fresh redirection: the old link is dead");
    let (a, b) = (
        f.redirection(&first).await.unwrap(),
        f.redirection(&second).await.unwrap(),
    );
    assert_eq!(a.user_key, b.user_key, "the same person");
    // Not logged in: the fresh start has an owner id of its own.
    assert_ne!(a.owner, b.owner);
    // The user finishes this time: counted as recovered by the follow-up.
    let back = f.sign_in_at_bank(&fresh, "success", "DemoBank").await;
    f.come_back(&back).await;
    let day = f.app.now().date_naive();
    let funnel = f.store.funnel(day, day).await.unwrap().remove(0);
    assert_eq!(funnel.get(FunnelStep::FollowUps), 1);
    assert_eq!(funnel.get(FunnelStep::Recovered), 1);
    assert_eq!(funnel.get(FunnelStep::Error), 1);
    assert_eq!(funnel.get(FunnelStep::Success), 1);
}

#[tokio::test]
async fn signed_links_refuse_tampering_and_expire() {
    let f = Flow::start().await;
    drop_off(&f, &f.email("tamper"), true).await;
    poll_for(&f, 130).await;
    let mail = f.mails().await.remove(0);
    let resume = url_in(&mail, &format!("{PUBLIC_BASE}/resume?t="));
    let unsubscribe = url_in(&mail, &format!("{PUBLIC_BASE}/unsubscribe?t="));
    let token = token_of(&resume).to_owned();

    // Flip one character of the payload, then of the signature.
    let flip = |s: &str, i: usize| {
        let mut b = s.as_bytes().to_vec();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    };
    for bad in [
        flip(&token, 3),
        flip(&token, token.len() - 3),
        "nonsense".into(),
        String::new(),
    ] {
        let page = f.http("GET", &format!("/resume?t={bad}"), None).await;
        assert_eq!(page.status, 400, "{bad}");
        assert!(page.body.contains("not valid"));
        let post = f.http("POST", "/resume", Some(&format!("t={bad}"))).await;
        assert_eq!(post.status, 400);
    }
    // A resume token is no unsubscribe token.
    let crossed = f
        .http("POST", &format!("/unsubscribe?t={token}"), None)
        .await;
    assert_eq!(crossed.status, 400);
    let before = f.table_items().await.len();
    assert_eq!(
        f.table_items().await.len(),
        before,
        "nothing written by refused links"
    );

    // After a week the resume link is dead; the unsubscribe link still works.
    f.advance(Duration::days(7));
    let page = f.http("POST", "/resume", Some(&format!("t={token}"))).await;
    assert_eq!(page.status, 410);
    assert!(page.body.contains("expired"));
    assert_eq!(f.http("GET", path_of(&unsubscribe), None).await.status, 200);
    // Forged with another key: refused.
    let forged = signin_core::domain::links::sign(
        &Secret::new("not-our-key-not-our-key-not-our-key"),
        &signin_core::domain::links::LinkClaims {
            purpose: signin_core::domain::links::Purpose::Resume,
            user: Email::parse(&f.email("tamper")).unwrap().user_key(),
            language: signin_core::domain::Language::FIRST,
            country: signin_core::domain::Country::FIRST,
            expires: f.app.now().timestamp() + 3600,
            record: None,
        },
    );
    assert_eq!(
        f.http("POST", "/resume", Some(&format!("t={forged}")))
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn stats_need_the_bearer_token() {
    let mut f = Flow::start().await;
    assert_eq!(
        f.http("GET", "/stats", None).await.status,
        404,
        "off without a token"
    );
    f.function_mut("unsubscribe-and-stats")
        .app
        .settings
        .stats_token = Some(Secret::new("marketing-token-0123456789abcdef"));
    drop_off(&f, &f.email("s1"), false).await;
    assert_eq!(f.http("GET", "/stats", None).await.status, 401);
    let ok = f
        .http_with_auth("/stats", "Bearer marketing-token-0123456789abcdef")
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let json: serde_json::Value = serde_json::from_str(&ok.body).unwrap();
    assert_eq!(json["totals"]["started"], 1);
    assert_eq!(
        json["days"].as_array().unwrap().len(),
        7,
        "the last 7 days by default"
    );
    assert_eq!(
        f.http_with_auth(
            "/stats?since=2026-13-01",
            "Bearer marketing-token-0123456789abcdef"
        )
        .await
        .status,
        400
    );
    assert_eq!(f.http_with_auth("/stats", "Bearer wrong").await.status, 401);
}

/// 100 users, each following a scripted path; the funnel must match the script exactly.
#[tokio::test]
async fn the_funnel_of_a_scripted_population_matches_the_script() {
    let f = Flow::start().await;
    let mut expected: BTreeMap<FunnelStep, u64> = BTreeMap::new();
    let mut add = |step, n| *expected.entry(step).or_insert(0) += n;
    let mut recovering = vec![];
    for i in 0..100 {
        let email = f.email(&format!("u{i:03}"));
        let consent = i % 2 == 0;
        let link = f.start_sign_in(&email, consent).await.location.unwrap();
        add(FunnelStep::Started, 1);
        let id = Flow::id_of(&link);
        match i % 10 {
            // 40: succeed and come back; imported.
            0..=3 => {
                let back = f.sign_in_at_bank(&link, "success", "DemoBank").await;
                f.come_back(&back).await;
                add(FunnelStep::Returned, 1);
                add(FunnelStep::Success, 1);
                add(FunnelStep::Imported, 1);
            }
            // 20: succeed, never come back (the poller finds them); imported.
            4 | 5 => {
                f.sandbox
                    .handle
                    .act(id.as_str(), UserAction::Succeed, Some("DemoBank"))
                    .unwrap();
                add(FunnelStep::Success, 1);
                add(FunnelStep::Imported, 1);
            }
            // 10: wrong password, come back; follow-up if they consented.
            6 => {
                let back = f.sign_in_at_bank(&link, "fail_login", "DemoBank").await;
                f.come_back(&back).await;
                add(FunnelStep::Returned, 1);
                add(FunnelStep::Error, 1);
                add(FunnelStep::FollowUps, u64::from(consent));
            }
            // 20: open the link and walk away; expired; follow-up if they consented; half of
            // those who get one come back through it and succeed.
            7 | 8 => {
                e2e_tests::browser().get(&link).send().await.unwrap();
                add(FunnelStep::Expired, 1);
                if consent {
                    add(FunnelStep::FollowUps, 1);
                    if i % 20 < 10 {
                        recovering.push(email.clone());
                    }
                }
            }
            // 10: never open the link; expired.
            _ => {
                add(FunnelStep::Expired, 1);
                add(FunnelStep::FollowUps, u64::from(consent));
            }
        }
    }
    // Everything settles: polls, imports, expiries, follow-ups.
    for _ in 0..150 {
        f.advance(Duration::minutes(1));
        f.run_poller().await;
        while f.deliver_imports().await.0 > 0 {}
    }
    // Some come back through their follow-up and succeed.
    let mails = f.mails().await;
    for email in &recovering {
        let mail = mails
            .iter()
            .find(|m| &m.to == email && m.subject.contains("finish connecting"))
            .unwrap_or_else(|| panic!("{email} got no follow-up"));
        let resume = url_in(mail, &format!("{PUBLIC_BASE}/resume?t="));
        let started = f.confirm_link(&resume).await;
        let fresh = started.location.unwrap();
        let back = f.sign_in_at_bank(&fresh, "success", "DemoBank").await;
        f.come_back(&back).await;
        add(FunnelStep::Started, 1);
        add(FunnelStep::Returned, 1);
        add(FunnelStep::Success, 1);
        add(FunnelStep::Recovered, 1);
        add(FunnelStep::Imported, 1);
    }
    f.settle_imports(50).await;

    let day = f.app.now().date_naive();
    let from = day - chrono::Days::new(1);
    let report = f.app.funnel_report(from, day).await.unwrap();
    for step in FunnelStep::ALL {
        assert_eq!(
            report.totals[&step],
            expected.get(&step).copied().unwrap_or(0),
            "{step:?}: {:?}",
            report.totals
        );
    }
    assert_eq!(
        f.counters().imports_started,
        expected[&FunnelStep::Imported]
    );
    assert_eq!(f.counters().rate_limited, 0);
    eprintln!("funnel of the scripted population: {:?}", report.totals);
}

/// Two addresses of one inbox (`+tag`) are two user records but one mailbox: the inbox gets
/// one follow-up, not one per address typed.
#[tokio::test]
async fn one_follow_up_per_inbox_whatever_tag_was_typed() {
    let f = Flow::start().await;
    let first = f.email("victim+2");
    let second = f.email("victim+3");
    drop_off(&f, &first, true).await;
    drop_off(&f, &second, true).await;
    let (sent, skipped) = poll_for(&f, 150).await;
    assert_eq!((sent, skipped), (1, 1), "one inbox, one follow-up");
    let to_the_inbox = f
        .mails()
        .await
        .into_iter()
        .filter(|m| m.to == first || m.to == second)
        .count();
    assert_eq!(to_the_inbox, 1);
}
