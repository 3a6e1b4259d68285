//! Privacy and abuse, on the real handlers, moto and the sandbox: forms that cannot be forged
//! or replayed, cross-site posts refused, abuse limits, names without markup, consent, retention,
//! erasure that leaves nothing of the person, the Kontomatik link allow-list, HSTS, pages in the
//! user's language, and a sweep of bad and hostile input over every route.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Duration;
use e2e_tests::flow::{Flow, Mail, Page, DEFAULT_CLIENT_IP, PUBLIC_BASE};
use signin_core::config::LinkOrigins;
use signin_core::domain::{Email, Secret};
use signin_core::links::{sign_form, Form};
use signin_core::ports::RedirectionStore;

fn form(email: &str, name: &str, token: &str) -> String {
    format!(
        "email={}&name={}&language=en&country=pl&delivery=redirect&formToken={token}",
        email.replace('@', "%40"),
        name.replace(' ', "+")
    )
}

/// Every attribute value of every item, as text (the `data` JSON included).
fn texts(items: &[std::collections::HashMap<String, AttributeValue>]) -> Vec<String> {
    items
        .iter()
        .map(|item| {
            let mut all: Vec<String> = item
                .iter()
                .map(|(k, v)| format!("{k}={}", value_text(v)))
                .collect();
            all.sort();
            all.join(" ")
        })
        .collect()
}

fn value_text(v: &AttributeValue) -> String {
    match v {
        AttributeValue::S(s) | AttributeValue::N(s) => s.clone(),
        AttributeValue::Bool(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

fn pks(items: &[std::collections::HashMap<String, AttributeValue>]) -> BTreeSet<String> {
    items
        .iter()
        .map(|i| value_text(&i["PK"]))
        .collect::<BTreeSet<_>>()
}

fn link_in(mail: &Mail, path: &str) -> String {
    mail.text
        .split_whitespace()
        .find(|w| w.starts_with(&format!("{PUBLIC_BASE}{path}")))
        .unwrap_or_else(|| panic!("no {path} link in {}", mail.text))
        .to_owned()
}

/// Starts a sign-in, succeeds at the bank, comes back, and runs the import.
async fn import_for(f: &Flow, email: &str) -> String {
    let link = f.start_sign_in(email, true).await.location.unwrap();
    let back = f.sign_in_at_bank(&link, "success", "DemoBank").await;
    f.come_back(&back).await;
    f.deliver_imports().await;
    link
}

#[tokio::test]
async fn cross_site_posts_are_refused_with_a_403_and_write_nothing() {
    let f = Flow::start().await;
    let token = f.form_token("/start").await;
    let body = form(&f.email("victim"), "Ann Smith", &token);
    for headers in [
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site")],
        vec![("origin", "https://evil.example")],
        vec![("origin", "https://signin.lender.example.evil.example")],
        vec![("origin", "http://signin.lender.example")],
        vec![
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "same-origin"),
        ],
    ] {
        for path in ["/start", "/resume", "/unsubscribe", "/erase"] {
            let page = f
                .http_from("POST", path, Some(&body), &headers, DEFAULT_CLIENT_IP)
                .await;
            assert_eq!(page.status, 403, "{path} {headers:?}");
            assert!(
                page.body.contains("did not come from our page"),
                "{}",
                page.body
            );
        }
    }
    // The attacker's own page: a token the attacker fetched for their own browser, posted from
    // the victim's, with an `Origin: null` (what no-referrer pages send) and no
    // `Sec-Fetch-Site` (an older browser): the token is bound to the attacker's cookie.
    let page = f
        .http_as_stranger("POST", "/start", Some(&body), &[("origin", "null")])
        .await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(f.table_items().await.is_empty(), "nothing written");
    assert_eq!(f.counters().calls.get("fetch_redirection"), None);
    assert!(f.mails().await.is_empty());

    // Our own page in a browser that lost its cookie (restarted): the form again, as typed.
    let page = f
        .http_as_stranger(
            "POST",
            "/start",
            Some(&body),
            &[("origin", "null"), ("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains(&f.email("victim")), "kept as typed");
    assert!(page.body.contains("send it again"));
    assert!(f.table_items().await.is_empty(), "still nothing written");

    // What browsers send from our page under `Referrer-Policy: no-referrer`: `Origin: null`.
    let token = f.form_token("/start").await;
    let own = form(&f.email("own-page"), "Ann Smith", &token);
    let page = f
        .http_from(
            "POST",
            "/start",
            Some(&own),
            &[("origin", "null"), ("sec-fetch-site", "same-origin")],
            DEFAULT_CLIENT_IP,
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);

    // The same form from our own page (same origin) goes through, once.
    let page = f
        .http_from(
            "POST",
            "/start",
            Some(&body),
            &[("origin", PUBLIC_BASE), ("sec-fetch-site", "same-origin")],
            DEFAULT_CLIENT_IP,
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
}

#[tokio::test]
async fn the_start_form_needs_a_genuine_unexpired_unspent_token_of_its_own_form() {
    let f = Flow::start().await;
    let email = f.email("ann");
    f.form_token("/start").await;
    let binding = f.form_binding().expect("the page set the binding cookie");
    let forged = sign_form(
        &Secret::new("not-our-key-not-our-key-not-our-key"),
        Form::Start,
        f.app.now().timestamp() + 3600,
        &binding,
    );
    let key = f.app.settings.link_signing_key.clone().unwrap();
    let other_form = sign_form(&key, Form::Erase, f.app.now().timestamp() + 3600, &binding);
    let other_browser = sign_form(
        &key,
        Form::Start,
        f.app.now().timestamp() + 3600,
        "0123456789abcdef0123456789abcdef",
    );
    for (token, why) in [
        ("", "missing"),
        ("garbage.token", "cut or invented"),
        (forged.as_str(), "signed with another key"),
        (other_form.as_str(), "issued for the erase form"),
        (other_browser.as_str(), "issued to another browser"),
    ] {
        let page = f
            .http("POST", "/start", Some(&form(&email, "Ann", token)))
            .await;
        assert_eq!(page.status, 403, "{why}");
    }
    // Left open past its life: the form comes back filled in, with a fresh token.
    let old = f.form_token("/start").await;
    f.advance(Duration::hours(2) + Duration::seconds(1));
    let page = f
        .http("POST", "/start", Some(&form(&email, "Ann", &old)))
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("expired"), "{}", page.body);
    assert!(page.body.contains(&email), "what was typed is kept");
    let fresh = e2e_tests::form_token_in(&page.body);
    assert_ne!(fresh, old);
    assert!(f.table_items().await.is_empty(), "nothing written so far");
    assert_eq!(f.counters().calls.get("fetch_redirection"), None);

    // The fresh one works once; sent again it is refused and starts nothing.
    let page = f
        .http("POST", "/start", Some(&form(&email, "Ann", &fresh)))
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let again = f
        .http("POST", "/start", Some(&form(&email, "Ann", &fresh)))
        .await;
    assert_eq!(again.status, 409);
    assert!(again.body.contains("already sent"));
    assert_eq!(f.counters().calls["fetch_redirection"], 1);
}

#[tokio::test]
async fn starts_per_client_and_link_emails_per_recipient_are_limited() {
    let f = Flow::start().await;
    let limit = f.app.settings.limits.starts_per_client_per_hour;
    let ip = "192.0.2.44";
    for i in 0..limit {
        let token = f.form_token("/start").await;
        let body = form(&f.email(&format!("u{i}")), "Ann", &token);
        let page = f.http_from("POST", "/start", Some(&body), &[], ip).await;
        assert_eq!(page.status, 303, "start {i}: {}", page.body);
    }
    let token = f.form_token("/start").await;
    let body = form(&f.email("one-too-many"), "Ann", &token);
    let page = f.http_from("POST", "/start", Some(&body), &[], ip).await;
    assert_eq!(page.status, 429, "{}", page.body);
    let retry: i64 = page.header("retry-after").unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 3600, "{retry}");
    assert!(page.body.contains("Too many sign-ins"));
    assert_eq!(
        f.counters().calls["fetch_redirection"],
        limit,
        "nothing asked of Kontomatik over the limit"
    );
    // The client's address is kept only as a keyed hash.
    assert!(texts(&f.table_items().await)
        .iter()
        .all(|t| !t.contains(ip)));
    // Another client is not affected; the same one may start again in the next hour.
    let token = f.form_token("/start").await;
    let body = form(&f.email("elsewhere"), "Ann", &token);
    assert_eq!(
        f.http_from("POST", "/start", Some(&body), &[], "192.0.2.45")
            .await
            .status,
        303
    );
    f.advance(Duration::seconds(retry));
    let token = f.form_token("/start").await;
    let body = form(&f.email("next-hour"), "Ann", &token);
    assert_eq!(
        f.http_from("POST", "/start", Some(&body), &[], ip)
            .await
            .status,
        303
    );

    // Links by email: a few a day per recipient, from any number of addresses.
    let victim = f.email("spammed");
    let per_day = f.app.settings.limits.link_emails_per_recipient_per_day;
    for i in 0..=per_day {
        let token = f.form_token("/start").await;
        let body = format!(
            "email={}&name=Ann&delivery=email&formToken={token}",
            victim.replace('@', "%40")
        );
        let page = f
            .http_from("POST", "/start", Some(&body), &[], &format!("198.18.0.{i}"))
            .await;
        if i < per_day {
            assert_eq!(page.status, 200, "{}", page.body);
        } else {
            assert_eq!(page.status, 429, "{}", page.body);
            assert!(page.header("retry-after").is_some());
        }
    }
    let to_victim = f
        .mails()
        .await
        .into_iter()
        .filter(|m| m.to == victim)
        .count();
    assert_eq!(to_victim as u64, per_day, "nothing sent over the limit");
}

#[tokio::test]
async fn names_are_letters_spaces_apostrophes_and_hyphens_only() {
    let f = Flow::start().await;
    for (i, name) in [
        "Anne-Marie O'Brien",
        "Łukasz Żółć",
        "José María",
        "Zoë D’Arcy",
    ]
    .into_iter()
    .enumerate()
    {
        let token = f.form_token("/start").await;
        let body = format!(
            "email={}&name={}&formToken={token}",
            f.email(&format!("ok{i}")).replace('@', "%40"),
            url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>()
        );
        let page = f
            .http_from("POST", "/start", Some(&body), &[], &format!("198.19.0.{i}"))
            .await;
        assert_eq!(page.status, 303, "{name}: {}", page.body);
    }
    let before = f.table_items().await.len();
    for name in [
        "<b>Ann</b>",
        "Visit https://evil.example",
        "Ann2",
        "Ann.Smith",
        "Ann  Smith",
        "- '",
        "Ann\u{202e}Smith",
    ] {
        let token = f.form_token("/start").await;
        let body = format!(
            "email={}&name={}&formToken={token}",
            f.email("bad").replace('@', "%40"),
            url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>()
        );
        let page = f.http("POST", "/start", Some(&body)).await;
        assert_eq!(page.status, 400, "{name}");
        assert!(
            page.body
                .contains("letters, spaces, apostrophes and hyphens"),
            "{name}"
        );
        assert!(!page.body.contains("<b>Ann"), "never echoed unescaped");
    }
    assert_eq!(f.table_items().await.len(), before, "nothing written");
}

#[tokio::test]
async fn retention_ttls_and_no_session_data_after_the_import() {
    let f = Flow::start().await;
    let email = f.email("kept");
    let started = f.app.now().timestamp();
    let link = import_for(&f, &email).await;
    let now = f.app.now().timestamp();
    let items = f.table_items().await;
    let ttl_of = |prefix: &str| -> i64 {
        let item = items
            .iter()
            .find(|i| value_text(&i["PK"]).starts_with(prefix) && value_text(&i["SK"]) != "COUNT")
            .unwrap_or_else(|| panic!("no {prefix} item"));
        value_text(&item["ttl"]).parse().unwrap()
    };
    assert_eq!(
        ttl_of("USER#"),
        started + 365 * 86_400,
        "user record: a year after the start"
    );
    let import_ttl = ttl_of("OWNER#");
    assert!(
        (started + 90 * 86_400..=now + 90 * 86_400).contains(&import_ttl),
        "import record: 90 days after the import"
    );
    // The redirection keeps its state and counts, not the session's secrets.
    let r = f.redirection(&Flow::id_of(&link)).await.unwrap();
    assert_eq!(r.state, signin_core::machine::State::Imported);
    assert!(
        r.session.is_none(),
        "the session is removed once the import is final"
    );
    let all = texts(&items).join("\n");
    assert!(!all.contains("sessionIdSignature"), "{all}");
    // Every email carries the erase link, in both parts.
    for mail in f.mails().await {
        assert!(
            mail.text.contains(&format!("{PUBLIC_BASE}/erase?t=")),
            "{}",
            mail.text
        );
        assert!(mail.html.contains(&format!("{PUBLIC_BASE}/erase?t=")));
    }
}

#[tokio::test]
async fn erasure_leaves_nothing_of_the_person_and_asks_kontomatik_to_delete() {
    let f = Flow::start().await;
    let email = f.email("erase-me");
    let other = f.email("stays");
    import_for(&f, &email).await;
    import_for(&f, &other).await;
    // A second, pending redirection of the same person (in the poll index).
    let pending = f.start_sign_in(&email, true).await.location.unwrap();
    let user = f
        .store
        .get_user(&Email::parse(&email).unwrap().user_key())
        .await
        .unwrap()
        .unwrap();
    assert!(f
        .app
        .owner_data_summary(&user.owner)
        .await
        .unwrap()
        .is_some());

    let mail = f.mails().await.into_iter().find(|m| m.to == email).unwrap();
    let erase = link_in(&mail, "/erase?t=");
    // GET only shows the button (mail scanners follow links).
    let page = f
        .http("GET", erase.strip_prefix(PUBLIC_BASE).unwrap(), None)
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Delete my data"));
    assert!(f.redirection(&Flow::id_of(&pending)).await.is_some());
    let done = f.confirm_link(&erase).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Your data is deleted"));

    let items = f.table_items().await;
    let key = user.key.as_str().to_owned();
    for text in texts(&items) {
        assert!(!text.contains(&email), "the address is gone: {text}");
        assert!(
            !text.contains(user.owner.as_str()),
            "the owner id is gone: {text}"
        );
        assert!(!text.contains(&key), "the user key is gone: {text}");
    }
    assert!(f.redirection(&Flow::id_of(&pending)).await.is_none());
    let others = f
        .store
        .get_user(&Email::parse(&other).unwrap().user_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        f.store.import_records(&others.owner).await.unwrap().len(),
        1
    );
    assert!(
        pks(&items).iter().any(|pk| pk.starts_with("STATS#")),
        "the funnel stays"
    );
    assert_eq!(f.counters().owner_data_deletes, 1, "Kontomatik was asked");
    // Subscribers of the event bus were told to erase theirs.
    let erased: Vec<_> = f
        .events()
        .await
        .into_iter()
        .filter(|e| e.detail_type == "owner.erased")
        .collect();
    assert_eq!(erased.len(), 1, "{erased:?}");
    assert_eq!(erased[0].detail["ownerExternalId"], user.owner.as_str());
    assert_eq!(
        erased[0].detail["eventId"],
        format!("{}.owner.erased", user.owner.as_str())
    );
    assert!(f
        .app
        .owner_data_summary(&user.owner)
        .await
        .unwrap()
        .is_none());
    // Nothing more is sent to the person.
    let sent = f.mails().await.len();
    f.advance(Duration::hours(3));
    for _ in 0..10 {
        f.run_poller().await;
    }
    assert_eq!(f.mails().await.len(), sent);
    // The link again: nothing left to delete, said plainly.
    let again = f.confirm_link(&erase).await;
    assert_eq!(again.status, 200);
    assert!(again.body.contains("hold no data"), "{}", again.body);
}

/// With events on, subscribers hold copies keyed by the owner id: an erasure that cannot tell
/// them (the bus is down) deletes nothing of ours yet — a 503 asking to retry — so that the
/// retry still finds the owner ids and tells them. Before, our copy went first and the
/// `owner.erased` event was lost with the bus: nobody would ever tell the subscribers.
#[tokio::test]
async fn an_erasure_that_cannot_tell_the_subscribers_waits_for_them() {
    struct Down;
    #[async_trait::async_trait]
    impl signin_core::events::EventBus for Down {
        async fn publish(
            &self,
            _: &[signin_core::events::LifecycleEvent],
        ) -> Result<(), signin_core::events::EventError> {
            Err(signin_core::events::EventError::Unavailable("down".into()))
        }
    }
    let mut f = Flow::start().await;
    let email = f.email("erase-later");
    let link = import_for(&f, &email).await;
    let key = Email::parse(&email).unwrap().user_key();
    let mail = f.mails().await.into_iter().find(|m| m.to == email).unwrap();
    let erase = link_in(&mail, "/erase?t=");
    let bus = std::mem::replace(
        &mut f.function_mut("unsubscribe-and-stats").app.events,
        std::sync::Arc::new(Down),
    );
    let refused = f.confirm_link(&erase).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.header("retry-after"), Some("300"));
    assert!(refused.body.contains("try again"), "{}", refused.body);
    assert!(f.store.get_user(&key).await.unwrap().is_some(), "kept");
    assert!(f.redirection(&Flow::id_of(&link)).await.is_some(), "kept");
    // The bus is back: the same link erases, and the subscribers hear of it.
    f.function_mut("unsubscribe-and-stats").app.events = bus;
    let done = f.confirm_link(&erase).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(f.store.get_user(&key).await.unwrap().is_none());
    assert!(f
        .events()
        .await
        .iter()
        .any(|e| e.detail_type == "owner.erased"));
}

#[tokio::test]
async fn a_link_off_kontomatiks_hosts_is_never_followed() {
    let mut f = Flow::start().await;
    f.function_mut("create-redirection")
        .app
        .settings
        .link_origins = LinkOrigins::default();
    let page = f.start_sign_in(&f.email("redirected"), true).await;
    assert_eq!(page.status, 500, "{}", page.body);
    assert_eq!(page.location, None, "no redirect");
    assert!(!page.body.contains(f.sandbox.base_url.as_str()));
    assert!(pks(&f.table_items().await)
        .iter()
        .all(|pk| !pk.starts_with("REDIR#")));
}

#[tokio::test]
async fn pages_carry_hsts_and_follow_the_users_language() {
    let f = Flow::start().await;
    let start = f.http("GET", "/start?lang=pl", None).await;
    assert_eq!(
        start.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    assert_eq!(start.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(start.header("x-content-type-options"), Some("nosniff"));
    assert!(start
        .header("content-security-policy")
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert!(start.body.contains("Przejdź do banku"), "{}", start.body);
    // Polish from the form through the callback.
    let email = f.email("pl");
    let link = f
        .start_sign_in_in(&email, true, "pl")
        .await
        .location
        .unwrap();
    let back = f.sign_in_at_bank(&link, "success", "DemoBank").await;
    let page = f.come_back(&back).await;
    assert!(page.body.contains("Dziękujemy"), "{}", page.body);
    assert!(page.body.contains(r#"lang="pl""#));
    f.deliver_imports().await;
    let mail = f.mails().await.into_iter().find(|m| m.to == email).unwrap();
    let erase = link_in(&mail, "/erase?t=");
    let confirm = f
        .http("GET", erase.strip_prefix(PUBLIC_BASE).unwrap(), None)
        .await;
    assert!(confirm.body.contains("Usuń moje dane"), "{}", confirm.body);
    // Without a record to follow: the browser's language.
    let missing = f
        .http_from(
            "GET",
            "/nope",
            None,
            &[("accept-language", "pl-PL,pl;q=0.9,en;q=0.5")],
            DEFAULT_CLIENT_IP,
        )
        .await;
    assert_eq!(missing.status, 404);
    assert!(
        missing.body.contains("Nie ma takiej strony"),
        "{}",
        missing.body
    );
    let unknown = f
        .http(
            "GET",
            "/kontomatik-signin?redirectionId=unknown-id&lang=pl",
            None,
        )
        .await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("Nie znamy tego logowania"));
}

/// Every route, every bad input: a clear 4xx, nothing written, nothing sent, nothing asked of
/// Kontomatik, nothing echoed unescaped.
#[tokio::test]
async fn a_sweep_of_bad_and_hostile_input_over_every_route() {
    let f = Flow::start().await;
    let markup = "<script>alert(1)</script>";
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let token = f.form_token("/start").await;
    let mut cases: Vec<(String, String, Option<String>)> = vec![];
    let mut add = |m: &str, p: &str, b: Option<String>| cases.push((m.into(), p.into(), b));
    // Wrong methods on every path.
    for (m, p) in [
        ("PUT", "/start"),
        ("DELETE", "/start"),
        ("POST", "/"),
        ("POST", "/kontomatik-signin"),
        ("PATCH", "/resume"),
        ("PUT", "/unsubscribe"),
        ("DELETE", "/erase"),
        ("POST", "/stats"),
        ("POST", "/healthz"),
        ("GET", "/../etc/passwd"),
    ] {
        add(m, p, None);
    }
    // Malformed and oversized bodies.
    add("POST", "/start", Some("%zz%%&&==".into()));
    add(
        "POST",
        "/start",
        Some("email=a%40b.example&name=A&".repeat(2_000)),
    );
    add(
        "POST",
        "/start",
        Some(format!("formToken={token}&email[]=x&name=Ann")),
    );
    // Markup and unicode in every field (with a genuine token: validation must refuse).
    for field in [
        "email",
        "name",
        "language",
        "country",
        "delivery",
        "followUpConsent",
    ] {
        for value in [markup, "\u{0000}", "\u{202e}evil", "ﬀ😀", &"x".repeat(300)] {
            let mut fields = [
                ("email", "ann@users.example".to_owned()),
                ("name", "Ann".to_owned()),
                ("language", "en".to_owned()),
                ("country", "pl".to_owned()),
                ("delivery", "redirect".to_owned()),
                ("followUpConsent", "yes".to_owned()),
            ];
            for (k, v) in fields.iter_mut() {
                if *k == field {
                    *v = value.to_owned();
                }
            }
            let body = fields
                .iter()
                .map(|(k, v)| format!("{k}={}", enc(v)))
                .collect::<Vec<_>>()
                .join("&");
            add("POST", "/start", Some(format!("{body}&formToken={token}")));
        }
    }
    // Signed links: missing, forged, markup, of another purpose.
    for path in ["/resume", "/unsubscribe", "/erase"] {
        for t in ["", "x.y", &enc(markup), "a".repeat(5000).as_str()] {
            add("GET", &format!("{path}?t={t}"), None);
            add("POST", path, Some(format!("t={t}&formToken={token}")));
        }
    }
    // The callback's id.
    for id in [enc(markup), "a".repeat(500), "%00".into(), String::new()] {
        add(
            "GET",
            &format!("/kontomatik-signin?redirectionId={id}"),
            None,
        );
    }
    add("GET", "/stats?since=%3Cx%3E", None);
    let before = f.table_items().await;
    for (method, path, body) in &cases {
        let page: Page = f.http(method, path, body.as_deref()).await;
        assert!(
            (400..500).contains(&page.status),
            "{method} {path} {:?}: {}",
            body.as_deref().map(|b| &b[..b.len().min(80)]),
            page.status
        );
        assert!(
            !page.body.contains(markup),
            "{method} {path}: echoed unescaped"
        );
        assert!(
            !page.body.contains("\u{202e}"),
            "{method} {path}: control character echoed"
        );
    }
    assert_eq!(
        texts(&f.table_items().await),
        texts(&before),
        "nothing written"
    );
    assert!(f.mails().await.is_empty(), "nothing sent");
    assert_eq!(
        f.counters().calls.get("fetch_redirection"),
        None,
        "nothing asked"
    );
}
