//! The local run clicked through in a real browser (Debian's headless Chromium, driven over
//! WebDriver by chromedriver): the happy path from the form to the import email, and the
//! walk-away path ending in a follow-up whose link starts a fresh sign-in. Screenshots of each
//! page land in target/screenshots/.
#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use devstack::{start, DevClock, DevOptions, RunningDev};
use fantoccini::{Client, ClientBuilder, Locator};
use signin_core::domain::machine::State;
use signin_core::SimClock;

struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is needed (Debian: apt-get install chromium chromium-driver; infra/scripts/test-all.sh installs it)");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < StdDuration::from_secs(20),
            "chromedriver did not start"
        );
        std::thread::sleep(StdDuration::from_millis(100));
    }
    Driver { child, port }
}

async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    browser_sized(driver, profile, "412,915").await
}

/// A browser whose window is `size` (`width,height`): a phone by default, a desk for staff.
async fn browser_sized(driver: &Driver, profile: &std::path::Path, size: &str) -> Client {
    // Both of rustls' crypto providers are linked in this test binary: pick one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                format!("--window-size={size}"),
                format!("--user-data-dir={}", profile.display())
            ]
        }
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a headless Chromium session")
}

fn shots_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(shots_dir().join(format!("{name}.png")), png).unwrap();
}

/// Waits (real time) until `cond` holds.
async fn wait_for<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !cond().await {
        assert!(
            started.elapsed() < StdDuration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
}

async fn click(c: &Client, id: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Waits until the browser is on a page whose URL satisfies `on`.
async fn wait_until_on(c: &Client, what: &str, on: impl Fn(&url::Url) -> bool) {
    let started = Instant::now();
    loop {
        let url = c.current_url().await.unwrap();
        if on(&url) {
            return;
        }
        if started.elapsed() > StdDuration::from_secs(20) {
            let page = c.source().await.unwrap_or_default();
            panic!("timed out waiting for {what}; on {url}: {page}");
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
}

async fn fill_start_form(c: &Client, dev: &RunningDev, email: &str) {
    c.goto(&format!("{}/", dev.url)).await.unwrap();
    c.find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys(email)
        .await
        .unwrap();
    c.find(Locator::Id("name"))
        .await
        .unwrap()
        .send_keys("Ann Smith")
        .await
        .unwrap();
    c.find(Locator::Css("input[name=followUpConsent]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

fn outbox_tags(dev: &RunningDev) -> Vec<(String, String)> {
    dev.dev
        .embedded
        .as_ref()
        .unwrap()
        .outbox
        .sent()
        .into_iter()
        .map(|m| (m.mail.to.to_string(), m.mail.tag))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_paths_clicked_through_in_a_real_browser() {
    let clock = SimClock::at_default_start();
    let dev = start(DevOptions {
        port: 0,
        sandbox_port: 0,
        clock: DevClock::Sim(clock.clone()),
        data_dir: None,
        aws: false,
        ..DevOptions::default()
    })
    .await
    .unwrap();
    let sandbox = dev.dev.sandbox_url.clone().unwrap();
    let driver = chromedriver();
    let profile = std::env::temp_dir().join(format!("chromium-{}", std::process::id()));
    let c = browser(&driver, &profile).await;

    // --- The happy path.
    let started = Instant::now();
    fill_start_form(&c, &dev, "ann@example.com").await;
    shot(&c, "01-start-form").await;
    click(&c, "start").await;
    wait_until_on(&c, "the sandbox's page", |u| {
        u.as_str().starts_with(&sandbox)
    })
    .await;
    assert!(c.source().await.unwrap().contains("Choose your bank"));
    shot(&c, "02-sandbox-sign-in").await;
    click(&c, "sign-in-success").await;
    wait_until_on(&c, "our callback page", |u| {
        u.path() == signin_core::CALLBACK_PATH
    })
    .await;
    let outcome = c
        .find(Locator::Id("outcome"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(outcome.contains("importing your data"), "{outcome}");
    shot(&c, "03-callback-importing").await;
    // The import's command polls wait on the queue as delayed messages (3 s apart on the
    // simulated clock): time moves a second at each look.
    wait_for("the import email", || async {
        clock.advance(Duration::seconds(1));
        outbox_tags(&dev)
            .iter()
            .any(|(to, tag)| to == "ann@example.com" && tag == "import_done")
    })
    .await;
    let happy_path = started.elapsed();
    c.refresh().await.unwrap();
    let outcome = c
        .find(Locator::Id("outcome"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(outcome.contains("All done"), "{outcome}");
    c.goto(&format!("{}/_dev", dev.url)).await.unwrap();
    assert!(c.source().await.unwrap().contains("imported"));
    shot(&c, "04-operator-view").await;
    // The events other systems would receive from EventBridge, as the local run published them.
    let events = c
        .find(Locator::Id("events"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let order: Vec<usize> = ["signin.imported", "signin.succeeded", "signin.started"]
        .iter()
        .map(|t| {
            events
                .find(t)
                .unwrap_or_else(|| panic!("no {t} in {events}"))
        })
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "newest first: {events}"
    );
    c.find(Locator::Id("events"))
        .await
        .unwrap()
        .find(Locator::Css("summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.execute(
        "window.scrollTo(0, document.getElementById('events').offsetTop)",
        vec![],
    )
    .await
    .unwrap();
    shot(&c, "04c-operator-events").await;
    // The owner's latest data, read from Kontomatik's owner data (no second import).
    c.find(Locator::Css("a.owner-data"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until_on(&c, "the owner data page", |u| {
        u.path().starts_with("/_dev/owner/")
    })
    .await;
    let owner_page = c.source().await.unwrap();
    assert!(
        owner_page.contains("Connecting Demo Bank worked."),
        "{owner_page}"
    );
    assert!(
        owner_page.contains("Average monthly income"),
        "{owner_page}"
    );
    shot(&c, "04b-owner-data").await;
    let counters = dev.dev.sandbox.as_ref().unwrap().counters();
    assert_eq!(
        counters.imports_started, 1,
        "reading owner data starts no import"
    );
    assert_eq!(counters.owner_data_reads, 1);

    // --- The walk-away path.
    fill_start_form(&c, &dev, "bob@example.com").await;
    click(&c, "start").await;
    wait_until_on(&c, "the sandbox's page", |u| {
        u.as_str().starts_with(&sandbox)
    })
    .await;
    let first_link = c.current_url().await.unwrap().to_string();
    click(&c, "walk-away").await;
    shot(&c, "05-walked-away").await;
    let store = dev.dev.embedded.as_ref().unwrap().store.clone();
    let bob = || {
        store
            .redirections()
            .into_iter()
            .find(|r| r.email.as_str() == "bob@example.com")
            .unwrap()
    };
    // The link's hour passes; the poller finds it expired.
    clock.advance(Duration::minutes(65));
    wait_for("expiry", || async { bob().state == State::Expired }).await;
    // The follow-up delay passes; the poller sends the one follow-up.
    clock.advance(Duration::minutes(61));
    wait_for("the follow-up email", || async {
        outbox_tags(&dev)
            .iter()
            .any(|(to, tag)| to == "bob@example.com" && tag == "follow_up")
    })
    .await;
    assert_eq!(bob().state, State::FollowUpSent);
    let index = outbox_tags(&dev)
        .iter()
        .position(|(to, tag)| to == "bob@example.com" && tag == "follow_up")
        .unwrap();
    c.goto(&format!("{}/_dev/mail/{index}?part=html", dev.url))
        .await
        .unwrap();
    shot(&c, "06-follow-up-email").await;
    c.find(Locator::LinkText("Continue"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until_on(&c, "the resume page", |u| u.path() == "/resume").await;
    shot(&c, "07-resume").await;
    click(&c, "confirm").await;
    wait_until_on(&c, "a fresh sandbox page", |u| {
        u.as_str().starts_with(&sandbox)
    })
    .await;
    let fresh_link = c.current_url().await.unwrap().to_string();
    assert_ne!(
        fresh_link, first_link,
        "a fresh redirection, not the dead link"
    );
    assert!(c.source().await.unwrap().contains("Choose your bank"));
    shot(&c, "08-fresh-sign-in").await;

    // --- Marketing: the funnel page, signed in with an emailed one-time link.
    c.goto(&format!("{}/stats", dev.url)).await.unwrap();
    shot(&c, "09-staff-sign-in").await;
    c.find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys(devstack::LOCAL_MARKETING_EMAIL)
        .await
        .unwrap();
    click(&c, "send-link").await;
    wait_for("the staff sign-in link", || async {
        outbox_tags(&dev)
            .iter()
            .any(|(_, tag)| tag == "staff_login")
    })
    .await;
    let staff_mail = dev
        .dev
        .embedded
        .as_ref()
        .unwrap()
        .outbox
        .sent()
        .into_iter()
        .find(|m| m.mail.tag == "staff_login")
        .unwrap();
    let signin = staff_mail
        .mail
        .text
        .split_whitespace()
        .find(|w| w.contains("/stats/login?t="))
        .unwrap()
        .to_owned();
    c.goto(&signin).await.unwrap();
    click(&c, "confirm").await;
    wait_until_on(&c, "the funnel page", |u| u.path() == "/stats").await;
    let page = c.source().await.unwrap();
    assert!(
        page.contains(r#"id="chart""#) && page.contains(r#"id="funnel""#),
        "{page}"
    );
    assert!(page.contains("Started → imported"), "{page}");
    shot(&c, "10-marketing-funnel").await;
    c.find(Locator::LinkText("90 days"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until_on(&c, "the 90-day funnel", |u| u.query() == Some("days=90")).await;
    assert!(c.source().await.unwrap().contains("Last 90 days"));
    // The operator view shows the same chart and table, on the local data.
    c.goto(&format!("{}/_dev", dev.url)).await.unwrap();
    let view = c.source().await.unwrap();
    assert!(
        view.contains(r#"id="funnel-local""#) && view.contains(r#"id="chart""#),
        "{view}"
    );
    assert!(view.contains("Started → imported"));
    shot(&c, "11-operator-funnel").await;

    eprintln!("happy path, form to import email, in a real browser: {happy_path:?}");
    c.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&profile);
    dev.stop().await;
}

/// The newest log-in link mailed to `to` in the local outbox.
fn login_link(dev: &RunningDev, to: &str) -> String {
    let sent = dev.dev.embedded.as_ref().unwrap().outbox.sent();
    let mail = sent
        .iter()
        .rev()
        .find(|m| m.mail.to.as_str() == to && m.mail.tag == "applicant_login")
        .unwrap_or_else(|| panic!("no log-in mail to {to}"));
    mail.mail
        .text
        .split_whitespace()
        .find(|w| w.contains("/login/link?t="))
        .unwrap()
        .to_owned()
}

async fn ask_for_login_link(c: &Client, email: &str) {
    c.find(Locator::Id("login-email"))
        .await
        .unwrap()
        .send_keys(email)
        .await
        .unwrap();
    click(c, "send-login").await;
    wait_for("the check-your-inbox page", || async {
        c.source()
            .await
            .unwrap_or_default()
            .contains("Check your inbox")
    })
    .await;
}

/// `APPLICANT_LOGIN=required`: log in → start → the bank in another browser → our callback
/// there asks for the log-in (the import already queued) → the emailed link lands that browser
/// on the sign-in's page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_in_start_and_come_back_in_another_browser() {
    let clock = SimClock::at_default_start();
    let dev = start(DevOptions {
        port: 0,
        sandbox_port: 0,
        clock: DevClock::Sim(clock.clone()),
        applicant_login: signin_core::config::ApplicantLogin::Required,
        ..DevOptions::default()
    })
    .await
    .unwrap();
    let sandbox = dev.dev.sandbox_url.clone().unwrap();
    let driver = chromedriver();
    let laptop_profile = std::env::temp_dir().join(format!("chromium-a-{}", std::process::id()));
    let phone_profile = std::env::temp_dir().join(format!("chromium-b-{}", std::process::id()));
    let laptop = browser(&driver, &laptop_profile).await;
    let ann = "ann.login@example.com";

    // The start page asks for the log-in first.
    laptop.goto(&format!("{}/", dev.url)).await.unwrap();
    assert!(laptop.source().await.unwrap().contains(r#"id="login""#));
    shot(&laptop, "21-login-first").await;
    ask_for_login_link(&laptop, ann).await;
    laptop.goto(&login_link(&dev, ann)).await.unwrap();
    click(&laptop, "confirm").await;
    wait_until_on(&laptop, "my applications", |u| u.path() == "/me").await;
    assert!(laptop
        .source()
        .await
        .unwrap()
        .contains(r#"id="no-sign-ins""#));
    shot(&laptop, "22-my-applications-empty").await;

    // The form with the verified address, then the bank's page.
    click(&laptop, "connect-another").await;
    wait_until_on(&laptop, "the start form", |u| u.path() == "/").await;
    let email = laptop.find(Locator::Id("email")).await.unwrap();
    assert_eq!(email.prop("value").await.unwrap().as_deref(), Some(ann));
    assert!(email.attr("readonly").await.unwrap().is_some());
    laptop
        .find(Locator::Id("name"))
        .await
        .unwrap()
        .send_keys("Ann Smith")
        .await
        .unwrap();
    shot(&laptop, "23-start-logged-in").await;
    click(&laptop, "start").await;
    wait_until_on(&laptop, "the sandbox's page", |u| {
        u.as_str().starts_with(&sandbox)
    })
    .await;
    let kontomatik_link = laptop.current_url().await.unwrap().to_string();

    // The bank sign-in happens on the phone: our callback opens there, with no session.
    let phone = browser(&driver, &phone_profile).await;
    phone.goto(&kontomatik_link).await.unwrap();
    click(&phone, "sign-in-success").await;
    wait_until_on(&phone, "our callback page", |u| {
        u.path() == signin_core::CALLBACK_PATH
    })
    .await;
    let page = phone.source().await.unwrap();
    assert!(page.contains(r#"id="login""#), "{page}");
    assert!(page.contains(r#"name="redirectionId""#), "{page}");
    shot(&phone, "24-callback-other-browser-asks-to-log-in").await;
    let store = &dev.dev.embedded.as_ref().unwrap().store;
    let r = store.redirections().into_iter().next().unwrap();
    assert!(
        !matches!(r.state, State::Created | State::Pending),
        "the session is saved and the import queued before any log-in: {:?}",
        r.state
    );

    // The log-in from the phone lands on that sign-in.
    ask_for_login_link(&phone, ann).await;
    phone.goto(&login_link(&dev, ann)).await.unwrap();
    click(&phone, "confirm").await;
    wait_until_on(&phone, "the sign-in's page", |u| {
        u.path() == "/me" && u.query() == Some(&format!("redirectionId={}", r.id))
    })
    .await;
    wait_for("the import", || async {
        clock.advance(Duration::seconds(1));
        store
            .redirections()
            .first()
            .is_some_and(|r| r.state == State::Imported)
    })
    .await;
    phone.refresh().await.unwrap();
    let me = phone.source().await.unwrap();
    assert!(me.contains("Data received"), "{me}");
    shot(&phone, "25-landed-on-the-sign-in").await;

    laptop.close().await.unwrap();
    phone.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&laptop_profile);
    let _ = std::fs::remove_dir_all(&phone_profile);
    dev.stop().await;
}

/// The newest staff sign-in link mailed to `to` in the local outbox.
fn staff_link(dev: &RunningDev, to: &str) -> String {
    let sent = dev.dev.embedded.as_ref().unwrap().outbox.sent();
    let mail = sent
        .iter()
        .rev()
        .find(|m| m.mail.to.as_str() == to && m.mail.tag == "staff_login")
        .unwrap_or_else(|| panic!("no staff sign-in mail to {to}"));
    mail.mail
        .text
        .split_whitespace()
        .find(|w| w.contains("/stats/login?t="))
        .unwrap()
        .to_owned()
}

/// The lender's side: an applicant shares their bank data (the sandbox's owner is somebody
/// else, and money moves between their own accounts); a credit officer signs in, finds the case
/// under "needs review", sees the owner mismatch and the own transfers with the figures, and
/// sends "more information needed"; the applicant's email and their page show it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credit_officer_asks_for_more_and_the_applicant_sees_it() {
    let clock = SimClock::at_default_start();
    let dev = start(DevOptions {
        port: 0,
        sandbox_port: 0,
        clock: DevClock::Sim(clock.clone()),
        ..DevOptions::default()
    })
    .await
    .unwrap();
    let sandbox = dev.dev.sandbox_url.clone().unwrap();
    let driver = chromedriver();
    let phone_profile = std::env::temp_dir().join(format!("chromium-c-{}", std::process::id()));
    let desk_profile = std::env::temp_dir().join(format!("chromium-d-{}", std::process::id()));
    let phone = browser(&driver, &phone_profile).await;
    let ann = "ann.case@example.com";

    // The applicant shares their data.
    fill_start_form(&phone, &dev, ann).await;
    click(&phone, "start").await;
    wait_until_on(&phone, "the sandbox's page", |u| {
        u.as_str().starts_with(&sandbox)
    })
    .await;
    click(&phone, "sign-in-success").await;
    wait_until_on(&phone, "our callback page", |u| {
        u.path() == signin_core::CALLBACK_PATH
    })
    .await;
    wait_for("the import email", || async {
        clock.advance(Duration::seconds(1));
        outbox_tags(&dev)
            .iter()
            .any(|(to, tag)| to == ann && tag == "import_done")
    })
    .await;

    // The credit officer signs in by emailed link and lands on the applications.
    let desk = browser_sized(&driver, &desk_profile, "1280,1000").await;
    desk.goto(&format!("{}/cases", dev.url)).await.unwrap();
    desk.find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys(devstack::LOCAL_CREDIT_EMAIL)
        .await
        .unwrap();
    click(&desk, "send-link").await;
    wait_for("the staff sign-in link", || async {
        outbox_tags(&dev)
            .iter()
            .any(|(to, tag)| to == devstack::LOCAL_CREDIT_EMAIL && tag == "staff_login")
    })
    .await;
    desk.goto(&staff_link(&dev, devstack::LOCAL_CREDIT_EMAIL))
        .await
        .unwrap();
    click(&desk, "confirm").await;
    wait_until_on(&desk, "the applications", |u| u.path() == "/cases").await;
    let list = desk.source().await.unwrap();
    assert!(list.contains(ann), "{list}");
    assert!(
        list.contains("No account belongs to the applicant"),
        "{list}"
    );
    shot(&desk, "31-credit-case-list").await;

    // The case: the flags and the figures.
    desk.find(Locator::Css("#cases a[href^='/cases/view']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until_on(&desk, "the case", |u| u.path() == "/cases/view").await;
    let url = desk.current_url().await.unwrap();
    assert!(
        !url.as_str().contains("ann"),
        "no address in the URL: {url}"
    );
    let mismatch = desk.find(Locator::Id("owner-mismatch")).await.unwrap();
    assert!(mismatch.text().await.unwrap().contains("Owner mismatch"));
    let own: u32 = desk
        .find(Locator::Id("own-transfers"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        own > 0,
        "the transfers between the applicant's accounts are found"
    );
    assert!(
        !desk
            .find_all(Locator::Css("tr.month"))
            .await
            .unwrap()
            .is_empty(),
        "income and spending by month"
    );
    shot(&desk, "32-credit-case").await;

    // "More information needed", with a message.
    click(&desk, "kind-more_information").await;
    desk.find(Locator::Id("message"))
        .await
        .unwrap()
        .send_keys("Please connect the bank your salary is paid to.")
        .await
        .unwrap();
    click(&desk, "send-decision").await;
    wait_until_on(&desk, "the case again", |u| {
        u.path() == "/cases/view" && u.query().is_some_and(|q| q.ends_with("sent=1"))
    })
    .await;
    assert!(desk
        .source()
        .await
        .unwrap()
        .contains(r#"data-status="decided""#));
    shot(&desk, "33-credit-decision-sent").await;

    // The applicant's email.
    let sent = dev.dev.embedded.as_ref().unwrap().outbox.sent();
    let mail = sent
        .iter()
        .find(|m| m.mail.to.as_str() == ann && m.mail.tag == "decision")
        .expect("the decision email");
    assert!(mail.mail.subject.contains("we need more information"));
    assert!(mail
        .mail
        .text
        .contains("Please connect the bank your salary is paid to."));
    let email_file = std::env::temp_dir().join(format!("decision-{}.html", std::process::id()));
    std::fs::write(&email_file, &mail.mail.html).unwrap();
    phone
        .goto(&format!("file://{}", email_file.display()))
        .await
        .unwrap();
    shot(&phone, "34-applicant-decision-email").await;

    // The applicant's page, after logging in.
    phone.goto(&format!("{}/login", dev.url)).await.unwrap();
    ask_for_login_link(&phone, ann).await;
    phone.goto(&login_link(&dev, ann)).await.unwrap();
    click(&phone, "confirm").await;
    wait_until_on(&phone, "my applications", |u| u.path() == "/me").await;
    let decision = phone
        .find(Locator::Id("decision"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        decision.contains("we need more information")
            && decision.contains("Please connect the bank your salary is paid to."),
        "{decision}"
    );
    shot(&phone, "35-applicant-page-decision").await;

    phone.close().await.unwrap();
    desk.close().await.unwrap();
    let _ = std::fs::remove_file(&email_file);
    let _ = std::fs::remove_dir_all(&phone_profile);
    let _ = std::fs::remove_dir_all(&desk_profile);
    dev.stop().await;
}
