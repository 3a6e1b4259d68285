//! Marketing's funnel page on the real handler, moto and the sandbox: a staff member on the
//! allow-list signs in with a one-time emailed link, sees the funnel as a chart and a table,
//! downloads it as CSV; nobody else gets in; the Bearer token still works for scripts.
#![allow(clippy::unwrap_used)]

use e2e_tests::flow::{Flow, Page, PUBLIC_BASE};
use signin_core::config::StaffMember;
use signin_core::domain::Secret;

const HTML: (&str, &str) = ("accept", "text/html,application/xhtml+xml");

async fn get_html(f: &Flow, path: &str) -> Page {
    f.get_html(path).await
}

/// Sends the sign-in page's form (`page`) for `email`.
async fn ask_for_link(f: &Flow, page: &Page, email: &str) -> Page {
    let token = e2e_tests::form_token_in(&page.body);
    let form = format!("email={}&formToken={token}", email.replace('@', "%40"));
    f.http("POST", "/stats/login", Some(&form)).await
}

#[tokio::test]
async fn staff_sign_in_by_emailed_link_and_see_the_funnel_as_a_chart_a_table_and_csv() {
    let mut f = Flow::start().await;
    let staff = f.email("anna");
    let stats = &mut f.function_mut("unsubscribe-and-stats").app.settings;
    stats.staff = StaffMember::parse_list(&staff).unwrap();
    stats.stats_token = Some(Secret::new("marketing-token-0123456789abcdef"));
    // Some funnel: two starts, one imported.
    let link = f.start_sign_in(&f.email("a"), true).await.location.unwrap();
    let back = f.sign_in_at_bank(&link, "success", "DemoBank").await;
    f.come_back(&back).await;
    f.deliver_imports().await;
    f.start_sign_in(&f.email("b"), true).await;

    // Not signed in: the sign-in page, and no data.
    let page = get_html(&f, "/stats").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Staff sign-in"), "{}", page.body);
    assert!(!page.body.contains("<table"));
    assert_eq!(get_html(&f, "/stats.csv").await.status, 404);
    let before = f.mails().await.len();

    // An address not on the list gets the same answer and no mail.
    let asked = ask_for_link(&f, &page, &f.email("eve")).await;
    assert_eq!(asked.status, 200);
    assert!(asked.body.contains("If this address is on the staff list"));
    assert_eq!(
        f.mails().await.len(),
        before,
        "no mail to an address not on the list"
    );

    // Anna asks (her address as she types it), and gets a one-time link.
    let asked = ask_for_link(&f, &asked, &staff.replacen('a', "A", 1)).await;
    assert_eq!(asked.status, 200);
    let mail = f
        .mails()
        .await
        .into_iter()
        .find(|m| m.to.eq_ignore_ascii_case(&staff))
        .expect("the sign-in link");
    let signin = mail
        .text
        .split_whitespace()
        .find(|w| w.starts_with(&format!("{PUBLIC_BASE}/stats/login?t=")))
        .unwrap()
        .to_owned();
    let done = f.confirm_link(&signin).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/stats"));
    let cookie = done
        .headers
        .iter()
        .find(|(k, v)| k == "set-cookie" && v.starts_with("__Host-signin-staff="))
        .map(|(_, v)| v.clone())
        .expect("the session cookie");
    for part in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }

    // The funnel page.
    let page = get_html(&f, "/stats?days=7").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(r#"<svg id="chart""#), "a chart");
    assert!(page.body.contains(r#"<table id="funnel""#), "a table");
    assert!(
        page.body
            .contains("Started → imported: <strong>50.0 %</strong>"),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"href="/stats.csv?days=7""#));
    assert!(page.body.contains(r#"href="/stats?days=90""#));
    let csv = get_html(&f, "/stats.csv?days=7").await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(
        lines[0],
        "day,started,returned,success,error,expired,imported,follow-ups,recovered,decided,conversion_percent"
    );
    assert_eq!(lines.len(), 1 + 7 + 1, "a header, 7 days and the total");
    assert_eq!(lines[8], "total,2,1,1,0,0,1,0,0,0,50.0");

    // The link works once; a stranger's browser is not signed in.
    let again = f.confirm_link(&signin).await;
    assert_eq!(again.status, 409, "{}", again.body);
    let stranger = f.http_as_stranger("GET", "/stats", None, &[HTML]).await;
    assert!(stranger.body.contains("Staff sign-in"));
    assert!(!stranger.body.contains("<table"));
    // Scripts keep their JSON.
    let json = f
        .http_with_auth("/stats", "Bearer marketing-token-0123456789abcdef")
        .await;
    assert_eq!(json.status, 200);
    let v: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(v["totals"]["imported"], 1);

    // Signing out ends the session on every device: a copy of the cookie kept elsewhere (or
    // stolen) is void too.
    let session = f.cookie("__Host-signin-staff").expect("the session cookie");
    // A second link, mailed before the sign-out and not yet followed (asked for from this
    // browser's sign-in form, the session cookie set aside meanwhile).
    f.set_cookie("__Host-signin-staff", "");
    let login_page = get_html(&f, "/stats").await;
    f.set_cookie("__Host-signin-staff", &session);
    let mails_before = f.mails().await.len();
    let asked = ask_for_link(&f, &login_page, &staff).await;
    assert_eq!(asked.status, 200);
    let mails = f.mails().await;
    assert_eq!(mails.len(), mails_before + 1, "a second link");
    let unspent = mails
        .last()
        .unwrap()
        .text
        .split_whitespace()
        .find(|w| w.starts_with(&format!("{PUBLIC_BASE}/stats/login?t=")))
        .unwrap()
        .to_owned();
    f.advance(chrono::Duration::seconds(1));
    let out = f.http("POST", "/stats/logout", Some("")).await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(out
        .body
        .contains("signed out of the funnel on every device"));
    let page = get_html(&f, "/stats").await;
    assert!(page.body.contains("Staff sign-in"), "{}", page.body);
    f.set_cookie("__Host-signin-staff", &session);
    let page = get_html(&f, "/stats").await;
    assert!(
        page.body.contains("Staff sign-in") && !page.body.contains("<table"),
        "a session from before the sign-out is void: {}",
        page.body
    );
    assert_eq!(get_html(&f, "/stats.csv").await.status, 404);
    // The link mailed before the sign-out ends with the sessions.
    let refused = f.confirm_link(&unspent).await;
    assert!(
        refused.status >= 400,
        "{}: {}",
        refused.status,
        refused.body
    );
    assert!(
        !refused.headers.iter().any(|(k, v)| k == "set-cookie"
            && v.starts_with("__Host-signin-staff=")
            && !v.contains("Max-Age=0")),
        "no session from a link mailed before the sign-out"
    );
}

/// `POST /stats/login` answers a staff address and anyone else alike: the same page, status
/// and time; a staff mailbox gets at most its day's log-in links however often it is asked for,
/// and one client at most its hour's allowance (429 before any address is looked at).
#[tokio::test]
async fn staff_log_in_links_are_limited_and_answer_alike() {
    let mut f = Flow::start().await;
    let staff = f.email("anna-limits");
    f.function_mut("unsubscribe-and-stats").app.settings.staff =
        StaffMember::parse_list(&staff).unwrap();
    let mut page = get_html(&f, "/stats").await;
    let without_token = |p: &Page| {
        let token = e2e_tests::form_token_in(&p.body);
        p.body.replace(&token, "TOKEN")
    };
    let mut answers = std::collections::BTreeSet::new();
    let mut times = std::collections::BTreeSet::new();
    for i in 0..12 {
        let who = if i % 2 == 0 {
            staff.clone()
        } else {
            f.email("eve")
        };
        let before = f.app.now();
        let asked = ask_for_link(&f, &page, &who).await;
        times.insert((f.app.now() - before).num_milliseconds());
        assert_eq!(asked.status, 200, "{}", asked.body);
        answers.insert(without_token(&asked));
        page = asked;
    }
    assert_eq!(answers.len(), 1, "the answers differ");
    assert_eq!(
        times,
        std::collections::BTreeSet::from([3_000]),
        "every answer takes STAFF_LOGIN_ANSWER_TIME"
    );
    let to_staff = f
        .mails()
        .await
        .into_iter()
        .filter(|m| m.to == staff)
        .count();
    assert_eq!(to_staff, 5, "6 asked, 5 a day sent");
    // The client's allowance (20 an hour, shared with starts) ends with a 429.
    let mut statuses = vec![];
    for _ in 0..9 {
        let asked = ask_for_link(&f, &page, &f.email("eve")).await;
        statuses.push(asked.status);
        if asked.status == 200 {
            page = asked;
        }
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 200, 200, 429]);
}
