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
use signin_core::domain::links::{sign_form, Form};
use signin_core::domain::{Email, Secret};
use signin_core::ports::{ImportRecordStore, PersonStore};

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
    assert_eq!(r.state, signin_core::domain::machine::State::Imported);
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
    let other_link = import_for(&f, &other).await;
    // Logged in, the person's sign-ins share their one owner id.
    assert_eq!(f.log_in(&email, None).await.status, 303);
    import_for(&f, &email).await;
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

    let mail = f
        .mails()
        .await
        .into_iter()
        .find(|m| m.to == email && m.text.contains("/erase?t="))
        .unwrap();
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
    let others = f.redirection(&Flow::id_of(&other_link)).await.unwrap();
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
    impl signin_core::ports::EventBus for Down {
        async fn publish(
            &self,
            _: &[signin_core::domain::events::LifecycleEvent],
        ) -> Result<(), signin_core::ports::EventError> {
            Err(signin_core::ports::EventError::Unavailable("down".into()))
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

// ---------------------------------------------------------------------------------------------
// Identity: bank data only to its owner, owner ids only for verified people, the log-in that
// keeps the redirectionId, and the person's own page.
// ---------------------------------------------------------------------------------------------

/// The attack: start with your own address, send the Kontomatik link to someone else; they
/// sign in at their bank. The mail that reaches the attacker holds none of their bank data, and
/// neither does the attacker's page.
#[tokio::test]
async fn a_forwarded_link_gives_the_attacker_no_bank_data() {
    let f = Flow::start().await;
    let attacker = f.email("attacker");
    let link = f.start_sign_in(&attacker, false).await.location.unwrap();
    let id = Flow::id_of(&link);
    // The victim, in their own browser, at the genuine hosted page.
    let back = f.sign_in_at_bank(&link, "success", "VictimBank").await;
    let path = back.strip_prefix(PUBLIC_BASE).unwrap();
    let page = f.http_as_stranger("GET", path, None, &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    f.deliver_imports().await;
    let r = f.redirection(&id).await.unwrap();
    let records = f.store.import_records(&r.owner).await.unwrap();
    let summary = &records.first().expect("the import was stored").summary;
    let mut secrets: Vec<String> = vec![summary.bank.clone().expect("a bank name")];
    for account in &summary.accounts {
        secrets.push(account.number_masked.clone());
        if let Some(balance) = account.balance {
            secrets.push(format!("{:.2}", balance).replace('.', ","));
            secrets.push(format!("{:.2}", balance));
        }
    }
    assert!(secrets.len() > 1, "the fixture has accounts: {secrets:?}");
    let mails: Vec<Mail> = f
        .mails()
        .await
        .into_iter()
        .filter(|m| m.to == attacker)
        .collect();
    assert!(
        !mails.is_empty(),
        "the import email reached the address typed"
    );
    for m in &mails {
        for secret in &secrets {
            assert!(
                !m.text.contains(secret.as_str()) && !m.html.contains(secret.as_str()),
                "the victim's {secret:?} is in the mail to the attacker:\n{}",
                m.text
            );
        }
    }
    // The attacker logs in: their page says the data was received, and nothing of the bank.
    let landed = f.log_in(&attacker, None).await;
    assert_eq!(landed.status, 303, "{}", landed.body);
    let me = f.http("GET", "/me", None).await;
    assert_eq!(me.status, 200);
    assert!(me.body.contains("Data received"), "{}", me.body);
    for secret in &secrets {
        assert!(
            !me.body.contains(secret.as_str()),
            "{secret:?} on the attacker's page"
        );
    }
}

/// Anyone who knows an address starts under it: the verified person's owner id, name and
/// consent stay as they are, and the stranger's start gets an owner id of its own.
#[tokio::test]
async fn an_anonymous_start_leaves_a_verified_person_unchanged() {
    let f = Flow::start().await;
    let victim = f.email("victim");
    assert_eq!(f.log_in(&victim, None).await.status, 303);
    // The victim's own start: name and consent are theirs.
    let own = f.start_sign_in(&victim, true).await;
    assert_eq!(own.status, 303, "{}", own.body);
    let own_id = Flow::id_of(own.location.as_deref().unwrap());
    let key = Email::parse(&victim).unwrap().user_key();
    let before = f.store.get_user(&key).await.unwrap().unwrap();
    assert!(before.is_verified());
    assert_eq!(f.redirection(&own_id).await.unwrap().owner, before.owner);
    assert!(before.follow_up_consent());

    // A stranger (another browser, not logged in) starts twice with the victim's address.
    let mut strangers = vec![];
    for _ in 0..2 {
        f.fresh_browser();
        let token = f.form_token("/start").await;
        let body = format!(
            "email={}&name=Mallory+Stranger&language=pl&country=pl&delivery=redirect&formToken={token}",
            victim.replace('@', "%40")
        );
        let page = f.http("POST", "/start", Some(&body)).await;
        assert_eq!(page.status, 303, "{}", page.body);
        strangers.push(Flow::id_of(page.location.as_deref().unwrap()));
    }
    let after = f.store.get_user(&key).await.unwrap().unwrap();
    assert_eq!(
        after.owner, before.owner,
        "the owner id is the victim's still"
    );
    assert_eq!(after.name, before.name, "the stranger's name was taken");
    assert_eq!(after.language, before.language);
    assert_eq!(
        after.consent, before.consent,
        "the stranger changed the consent"
    );
    assert_eq!(
        after.expires_at, before.expires_at,
        "the stranger changed the retention"
    );
    let owners: BTreeSet<_> = {
        let mut o = BTreeSet::new();
        for id in &strangers {
            o.insert(f.redirection(id).await.unwrap().owner);
        }
        o
    };
    assert_eq!(
        owners.len(),
        2,
        "each anonymous start has an owner id of its own"
    );
    assert!(
        !owners.contains(&before.owner),
        "a stranger's data under the victim's owner"
    );
}

/// A person back after 25 hours (the redirection and its 24 h window are gone) sees the
/// outcome on their page, through the log-in the email's link leads to.
#[tokio::test]
async fn a_person_back_after_25_hours_sees_the_outcome_on_their_page() {
    let f = Flow::start().await;
    let ann = f.email("ann25");
    let link = f.start_sign_in(&ann, false).await.location.unwrap();
    let back = f.sign_in_at_bank(&link, "success", "DemoBank").await;
    f.come_back(&back).await;
    f.deliver_imports().await;
    let done = f
        .mails()
        .await
        .into_iter()
        .find(|m| m.to == ann)
        .expect("the import email");
    assert!(
        done.text.contains(&format!("{PUBLIC_BASE}/me")),
        "{}",
        done.text
    );

    f.advance(Duration::hours(25));
    // The callback URL no longer knows it (Kontomatik forgot the id too) …
    assert_eq!(f.come_back(&back).await.status, 404);
    // … the email's link leads to the log-in, then to the person's page with the outcome.
    f.fresh_browser();
    let me = f.http("GET", "/me", None).await;
    assert!(me.body.contains("id=\"login\""), "{}", me.body);
    assert_eq!(f.log_in(&ann, None).await.location.as_deref(), Some("/me"));
    let me = f.http("GET", "/me", None).await;
    assert_eq!(me.status, 200);
    assert!(me.body.contains("Data received"), "{}", me.body);
}

/// `APPLICANT_LOGIN=required`: the start form only for a logged-in person; the callback in a
/// fresh browser does its work at once (the import is queued) and shows the log-in form, whose
/// link brings the person to that sign-in.
#[tokio::test]
async fn with_login_required_the_callback_keeps_the_redirection_through_the_log_in() {
    let mut f = Flow::start().await;
    // A genuine start form's token, from before the switch (the page then shows no form).
    let start_token = f.form_token("/start").await;
    for name in ["create-redirection", "callback", "unsubscribe-and-stats"] {
        f.function_mut(name).app.settings.applicant_login =
            signin_core::config::ApplicantLogin::Required;
    }
    let ann = f.email("required");
    let page = f.http("GET", "/", None).await;
    assert!(
        page.body.contains("id=\"login\""),
        "the form before a log-in: {}",
        page.body
    );
    assert!(!page.body.contains("action=\"/start\""));
    // A start posted without a session is refused, nothing written.
    let refused = f
        .http(
            "POST",
            "/start",
            Some(&form(&ann, "Ann Smith", &start_token)),
        )
        .await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(f
        .store
        .get_user(&Email::parse(&ann).unwrap().user_key())
        .await
        .unwrap()
        .is_none());

    assert_eq!(f.log_in(&ann, None).await.status, 303);
    let started = f.start_sign_in(&ann, true).await;
    assert_eq!(started.status, 303, "{}", started.body);
    let link = started.location.unwrap();
    let id = Flow::id_of(&link);
    let back = f.sign_in_at_bank(&link, "success", "DemoBank").await;

    f.fresh_browser();
    let page = f.come_back(&back).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"login\""), "{}", page.body);
    assert!(
        page.body
            .contains(&format!("name=\"redirectionId\" value=\"{id}\"")),
        "the form remembers the sign-in: {}",
        page.body
    );
    assert!(
        !page.body.contains("importing"),
        "nothing of the sign-in shown"
    );
    // The backend work is done already: the session saved and the import queued.
    let r = f.redirection(&id).await.unwrap();
    assert!(
        matches!(r.state, signin_core::domain::machine::State::ImportQueued),
        "{:?}",
        r.state
    );
    assert_eq!(f.queue_depth().await, 1);

    let landed = f.log_in(&ann, Some(id.as_str())).await;
    assert_eq!(landed.status, 303, "{}", landed.body);
    let target = format!("/me?redirectionId={id}");
    assert_eq!(landed.location.as_deref(), Some(target.as_str()));
    let me = f.http("GET", &target, None).await;
    assert!(me.body.contains("Importing your data"), "{}", me.body);

    // Someone else who logs in with the same remembered id never lands on it.
    f.fresh_browser();
    let other = f.email("other");
    let landed = f.log_in(&other, Some(id.as_str())).await;
    assert_eq!(landed.location.as_deref(), Some("/me"));
    let me = f
        .http("GET", &format!("/me?redirectionId={id}"), None)
        .await;
    assert!(me.body.contains("id=\"no-sign-ins\""), "{}", me.body);
}

/// A log-in link works once; a session ends on every device with the log-out.
#[tokio::test]
async fn a_log_in_link_works_once_and_a_log_out_ends_every_session() {
    let f = Flow::start().await;
    let ann = f.email("once");
    let token = f.form_token("/login").await;
    let sent = f
        .http(
            "POST",
            "/login",
            Some(&format!(
                "email={}&language=en&formToken={token}",
                ann.replace('@', "%40")
            )),
        )
        .await;
    assert_eq!(sent.status, 200);
    let mail = f.mails().await.into_iter().find(|m| m.to == ann).unwrap();
    let link = link_in(&mail, "/login/link");
    // The link's signed payload holds a random request id and no address.
    let token = link.split_once("t=").unwrap().1;
    let payload = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        token.split_once('.').unwrap().0,
    )
    .unwrap();
    let payload = String::from_utf8(payload).unwrap();
    assert!(payload.starts_with("l1|"), "{payload}");
    assert!(
        !payload.contains(&ann) && !payload.contains('@'),
        "{payload}"
    );
    // Its page says whose account it opens before anyone presses the button.
    let page = f
        .http("GET", link.strip_prefix(PUBLIC_BASE).unwrap(), None)
        .await;
    assert!(
        page.body.contains("This link logs in as o"),
        "{}",
        page.body
    );
    assert_eq!(f.confirm_link(&link).await.status, 303);
    let again = f
        .http("GET", link.strip_prefix(PUBLIC_BASE).unwrap(), None)
        .await;
    assert_eq!(again.status, 409, "spent once: {}", again.body);
    let me = f.http("GET", "/me", None).await;
    assert!(me.body.contains("id=\"my-applications\""));
    let account_token = e2e_tests::form_token_in(&me.body);
    let out = f
        .http(
            "POST",
            "/logout",
            Some(&format!("formToken={account_token}")),
        )
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    let me = f.http("GET", "/me", None).await;
    assert!(me.body.contains("id=\"login\""), "logged out: {}", me.body);
}

/// Deleting your data ends every session for good: a cookie from before the erasure works
/// neither after it nor after a new log-in (the new record starts its session generation at 0
/// again, but was verified at another moment).
#[tokio::test]
async fn an_erasure_ends_the_persons_sessions_for_good() {
    let f = Flow::start().await;
    let ann = f.email("erased-session");
    assert_eq!(f.log_in(&ann, None).await.status, 303);
    let old = f.cookie("__Host-signin-session").expect("a session cookie");
    let me = f.http("GET", "/me", None).await;
    let marker = format!("href=\"{PUBLIC_BASE}/erase?t=");
    let at = me.body.find(&marker).expect("the erase link on the page") + "href=\"".len();
    let erase = me.body[at..at + me.body[at..].find('"').unwrap()].to_owned();
    let done = f.confirm_link(&erase).await;
    assert!(done.body.contains("Your data is deleted"), "{}", done.body);

    f.advance(Duration::minutes(1));
    f.fresh_browser();
    assert_eq!(f.log_in(&ann, None).await.status, 303);
    f.set_cookie("__Host-signin-session", &old);
    let me = f.http("GET", "/me", None).await;
    assert!(
        me.body.contains("id=\"login\""),
        "a cookie from before the erasure opened the page: {}",
        me.body
    );
}

#[tokio::test]
async fn an_old_erase_link_cannot_erase_the_record_made_after_the_erasure() {
    let f = Flow::start().await;
    let ann = f.email("erase-replayed");
    assert_eq!(f.log_in(&ann, None).await.status, 303);
    let me = f.http("GET", "/me", None).await;
    let marker = format!("href=\"{PUBLIC_BASE}/erase?t=");
    let at = me.body.find(&marker).expect("the erase link on the page") + "href=\"".len();
    let erase = me.body[at..at + me.body[at..].find('"').unwrap()].to_owned();
    let done = f.confirm_link(&erase).await;
    assert!(done.body.contains("Your data is deleted"), "{}", done.body);

    // Ann comes back: a new record, with an erase link of its own.
    f.advance(Duration::minutes(1));
    f.fresh_browser();
    assert_eq!(f.log_in(&ann, None).await.status, 303);
    let key = Email::parse(&ann).unwrap().user_key();
    let before = f
        .store
        .get_user(&key)
        .await
        .unwrap()
        .expect("Ann's new record");

    // Whoever kept the old link (a forwarded email) cannot erase the new record with it.
    let replay = f.confirm_link(&erase).await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert!(
        replay.body.contains("This link is not valid"),
        "{}",
        replay.body
    );
    let after = f.store.get_user(&key).await.unwrap();
    assert_eq!(
        after.map(|u| u.owner),
        Some(before.owner),
        "the new record stays"
    );
}

/// Behind CloudFront (the edge option, `require`) API Gateway sees CloudFront's address for
/// every user. A request without the edge's secret header went around WAF, to the HTTP API's
/// own URL: a page (the callback's included, with its query) is sent on to the domain, a form
/// post refused before anything is read. Through the edge, the per-client limit counts the
/// viewer's address that the edge's function passes on, so two users behind one edge server
/// are told apart.
#[tokio::test]
async fn behind_the_edge_a_request_around_it_is_refused_and_clients_are_told_apart() {
    let mut f = Flow::start().await;
    let secret = "edge-origin-secret-0123456789abcdef";
    for name in ["create-redirection", "callback", "unsubscribe-and-stats"] {
        let s = &mut f.function_mut(name).app.settings;
        s.edge_origin_secret = Some(Secret::new(secret));
        s.edge_origin_check = signin_core::config::EdgeOriginCheck::Require;
        s.limits.starts_per_client_per_hour = 2;
    }
    let cloudfront = "130.176.1.1";
    let around = f
        .http_from(
            "GET",
            "/kontomatik-signin?redirectionId=abc",
            None,
            &[],
            cloudfront,
        )
        .await;
    assert_eq!(around.status, 308, "{}", around.body);
    assert_eq!(
        around.header("location"),
        Some(format!("{PUBLIC_BASE}/kontomatik-signin?redirectionId=abc").as_str())
    );
    let forged = [("x-origin-verify", "a-guess")];
    let around = f
        .http_from(
            "POST",
            "/start",
            Some("email=a%40b.example"),
            &forged,
            cloudfront,
        )
        .await;
    assert_eq!(around.status, 403, "a wrong secret is no secret");
    assert_eq!(f.counters().calls.get("fetch_redirection"), None);

    let start = |viewer: &'static str, who: String| {
        let f = &f;
        async move {
            let headers = [("x-origin-verify", secret), ("x-viewer-address", viewer)];
            let page = f
                .http_from("GET", "/start", None, &headers, cloudfront)
                .await;
            assert_eq!(page.status, 200, "{}", page.body);
            let body = form(&who, "Ann", &e2e_tests::form_token_in(&page.body));
            f.http_from("POST", "/start", Some(&body), &headers, cloudfront)
                .await
                .status
        }
    };
    for i in 0..2 {
        assert_eq!(start("203.0.113.10", f.email(&format!("a{i}"))).await, 303);
    }
    assert_eq!(
        start("203.0.113.10", f.email("a-more")).await,
        429,
        "the first viewer's allowance is spent"
    );
    assert_eq!(
        start("198.51.100.99", f.email("b")).await,
        303,
        "another viewer behind the same edge server has its own"
    );
}

/// While DNS still points at the API (`trust`, the first deploy of the edge): a request without
/// the edge's header is served as before, by API Gateway's address.
#[tokio::test]
async fn behind_the_edge_in_trust_mode_the_way_around_is_still_served() {
    let mut f = Flow::start().await;
    for name in ["create-redirection", "callback", "unsubscribe-and-stats"] {
        let s = &mut f.function_mut(name).app.settings;
        s.edge_origin_secret = Some(Secret::new("edge-origin-secret-0123456789abcdef"));
    }
    let page = f.http_from("GET", "/start", None, &[], "192.0.2.80").await;
    assert_eq!(page.status, 200, "{}", page.body);
}
