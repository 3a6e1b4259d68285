//! The lender's side on the real handlers, moto and the sandbox: a credit officer signs in by
//! emailed link, finds the application under "needs review", opens it (the look is recorded),
//! sees the analysis, and sends "more information needed"; the applicant is emailed in their
//! language and their page shows it; the event carries no message; the funnel counts it. Who
//! may not see applications does not.
#![allow(clippy::unwrap_used)]

use e2e_tests::flow::{Flow, Page, PUBLIC_BASE};
use signin_core::clock::Clock;
use signin_core::config::StaffMember;
use signin_core::domain::case::CaseStatus;
use signin_core::ports::CaseStore;

async fn get_html(f: &Flow, path: &str) -> Page {
    f.get_html(path).await
}

/// Signs `email` in as staff through the emailed link; returns the button's answer.
async fn staff_sign_in(f: &Flow, email: &str) -> Page {
    let page = get_html(f, "/cases").await;
    assert!(page.body.contains("Staff sign-in"), "{}", page.body);
    let token = e2e_tests::form_token_in(&page.body);
    let before = f.mails().await.len();
    let form = format!("email={}&formToken={token}", email.replace('@', "%40"));
    assert_eq!(
        f.http("POST", "/stats/login", Some(&form)).await.status,
        200
    );
    let mails = f.mails().await;
    let link = mails[before..]
        .iter()
        .find(|m| m.to == email)
        .and_then(|m| {
            m.text
                .split_whitespace()
                .find(|w| w.starts_with(&format!("{PUBLIC_BASE}/stats/login?t=")))
                .map(str::to_owned)
        })
        .expect("the staff sign-in link");
    f.confirm_link(&link).await
}

/// Puts `list` on the staff function's `STAFF_EMAILS`.
fn with_staff(f: &mut Flow, list: &str) {
    f.function_mut("unsubscribe-and-stats").app.settings.staff =
        StaffMember::parse_list(list).unwrap();
}

/// The key of the person with `email`.
fn key_of(email: &str) -> signin_core::domain::UserKey {
    signin_core::domain::Email::parse(email).unwrap().user_key()
}

/// `email` starts a sign-in in `language`, signs in at the bank (`outcome`) and comes back;
/// a success is imported.
async fn signs_in(f: &Flow, email: &str, language: &str, outcome: &str) {
    let link = f
        .start_sign_in_in(email, true, language)
        .await
        .location
        .unwrap();
    let back = f.sign_in_at_bank(&link, outcome, "DemoBank").await;
    f.come_back(&back).await;
    if outcome == "success" {
        f.deliver_imports().await;
    }
}

/// Sends the refresh form of the case with `reference` from its page.
async fn refresh(f: &Flow, reference: &str) -> Page {
    let page = get_html(f, &format!("/cases/view?case={reference}")).await;
    let form = page
        .body
        .split(r#"action="/cases/refresh""#)
        .nth(1)
        .expect("the refresh form");
    let token = e2e_tests::form_token_in(form);
    f.http(
        "POST",
        "/cases/refresh",
        Some(&format!("formToken={token}&case={reference}")),
    )
    .await
}

/// The decision form's token on a case page.
fn decide_token(page: &str) -> String {
    let form = page
        .split(r#"action="/cases/decide""#)
        .nth(1)
        .expect("the decision form");
    e2e_tests::form_token_in(form)
}

/// The first case link on a list page: `/cases/view?case=<reference>`.
fn case_link(list: &str) -> String {
    let marker = "href=\"/cases/view?case=";
    let at = list
        .find(marker)
        .unwrap_or_else(|| panic!("no case on {list}"))
        + 6;
    let len = list[at..].find('"').unwrap();
    list[at..at + len].to_owned()
}

#[tokio::test]
async fn a_credit_officer_reviews_a_case_and_asks_the_applicant_for_more_information() {
    let mut f = Flow::start().await;
    let officer = f.email("officer");
    let marketer = f.email("marketer");
    with_staff(&mut f, &format!("{officer}=credit, {marketer}=marketing"));

    // An applicant (Polish) shares their bank data; the sandbox's owner is somebody else.
    let applicant = f.email("applicant");
    signs_in(&f, &applicant, "pl", "success").await;

    // The officer signs in and lands on the applications, needs review first.
    let done = staff_sign_in(&f, &officer).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/cases"));
    let list = get_html(&f, "/cases").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(
        list.body.contains("Ann Smith") && list.body.contains(&applicant),
        "{}",
        list.body
    );
    assert!(
        list.body.contains("No account belongs to the applicant"),
        "{}",
        list.body
    );
    let view = case_link(&list.body);
    let reference = view.trim_start_matches("/cases/view?case=");
    assert!(signin_core::domain::case::is_reference(reference), "{view}");
    assert!(
        !view.contains(&applicant) && !view.contains("%40"),
        "no address in a URL"
    );

    // The case: applicant, sign-ins, the analysis with its flags and figures; the look kept.
    let page = get_html(&f, &view).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for shown in [
        r#"id="owner-mismatch""#,
        r#"id="accounts-of-applicant">0 of 2"#,
        r#"data-status="needs_review""#,
        "imported",
        &officer,
    ] {
        assert!(page.body.contains(shown), "{shown} in {}", page.body);
    }
    let own = page.body.split(r#"id="own-transfers">"#).nth(1).unwrap();
    let own: u32 = own[..own.find('<').unwrap()].parse().unwrap();
    assert!(
        own > 0,
        "the sandbox's transfers between the person's accounts are found"
    );
    let key = key_of(&applicant);
    let views = f.store.case_views(&key).await.unwrap();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].by, officer);

    // The decision, with a message; the form's token is spent once.
    let token = decide_token(&page.body);
    let form = format!(
        "formToken={token}&case={reference}&kind=more_information&message=Prosz%C4%99+po%C5%82%C4%85czy%C4%87+drugi+bank."
    );
    let sent = f.http("POST", "/cases/decide", Some(&form)).await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    assert_eq!(
        sent.location.as_deref(),
        Some(format!("{view}&sent=1").as_str())
    );
    let again = f.http("POST", "/cases/decide", Some(&form)).await;
    assert_ne!(again.status, 303, "a spent form sends nothing twice");

    // Emailed in Polish, with the message and the way to the applicant's page.
    let mail = f
        .mails()
        .await
        .into_iter()
        .find(|m| m.to == applicant && m.subject.contains("potrzebujemy więcej informacji"))
        .expect("the decision email");
    assert!(
        mail.text.contains("Proszę połączyć drugi bank."),
        "{}",
        mail.text
    );
    assert!(
        mail.text.contains(&format!("{PUBLIC_BASE}/me")),
        "{}",
        mail.text
    );
    let decisions: Vec<_> = f
        .mails()
        .await
        .into_iter()
        .filter(|m| m.to == applicant && m.subject.contains("potrzebujemy"))
        .collect();
    assert_eq!(decisions.len(), 1, "sent once");

    // Filed as decided; the event names the kind, never the message; the funnel counts it.
    let case = f.store.case_by_reference(reference).await.unwrap().unwrap();
    assert_eq!(case.status(f.clock.now()), CaseStatus::Decided);
    let decided = get_html(&f, "/cases?status=decided").await;
    assert!(decided.body.contains(reference), "{}", decided.body);
    assert!(!get_html(&f, "/cases").await.body.contains(reference));
    let events = f.events().await;
    let event = events
        .iter()
        .find(|e| e.detail_type == "application.decided")
        .expect("application.decided");
    assert_eq!(event.detail["reason"], "more_information");
    assert!(
        !event.detail.to_string().contains("bank."),
        "{}",
        event.detail
    );
    let report = f
        .function("unsubscribe-and-stats")
        .app
        .funnel_report(f.clock.now().date_naive(), f.clock.now().date_naive())
        .await
        .unwrap();
    assert_eq!(
        report.totals.get(&signin_core::ports::FunnelStep::Decided),
        Some(&1)
    );

    // The applicant's page shows it.
    f.fresh_browser();
    let logged_in = f.log_in(&applicant, None).await;
    assert_eq!(logged_in.status, 303, "{}", logged_in.body);
    let me = f.http("GET", "/me", None).await;
    assert!(
        me.body.contains(r#"data-kind="more_information""#),
        "{}",
        me.body
    );
    assert!(
        me.body.contains("Proszę połączyć drugi bank."),
        "{}",
        me.body
    );
}

#[tokio::test]
async fn only_credit_staff_see_applications_and_a_bad_decision_changes_nothing() {
    let mut f = Flow::start().await;
    let officer = f.email("officer2");
    let marketer = f.email("marketer2");
    with_staff(&mut f, &format!("{officer}=credit, {marketer}=marketing"));
    let applicant = f.email("applicant2");
    signs_in(&f, &applicant, "en", "success").await;
    let key = key_of(&applicant);
    let case = f.store.get_case(&key).await.unwrap().expect("the case");

    // Nobody signed in: the sign-in form, no case data.
    let anonymous = get_html(&f, &format!("/cases/view?case={}", case.reference)).await;
    assert!(anonymous.body.contains("Staff sign-in") && !anonymous.body.contains(&applicant));

    // Marketing: the funnel, never the applications.
    let done = staff_sign_in(&f, &marketer).await;
    assert_eq!(done.location.as_deref(), Some("/stats"));
    for path in [
        "/cases".to_owned(),
        format!("/cases/view?case={}", case.reference),
    ] {
        let page = get_html(&f, &path).await;
        assert_eq!(page.status, 403, "{path}: {}", page.body);
        assert!(!page.body.contains(&applicant));
    }
    assert!(
        f.store.case_views(&key).await.unwrap().is_empty(),
        "no look recorded"
    );

    // Credit: the applications, never the funnel.
    f.fresh_browser();
    staff_sign_in(&f, &officer).await;
    assert_eq!(get_html(&f, "/stats").await.status, 403);
    let page = get_html(&f, &format!("/cases/view?case={}", case.reference)).await;
    assert_eq!(page.status, 200);
    assert_eq!(
        get_html(&f, "/cases/view?case=0123456789abcdef0123456789abcdef")
            .await
            .status,
        404
    );
    assert_eq!(get_html(&f, "/cases?status=everything").await.status, 400);

    // A decision without a kind, a message-only decision without words, a forged token:
    // nothing stored, nothing sent.
    let mails = f.mails().await.len();
    let token = decide_token(&page.body);
    for (form, status) in [
        (
            format!("formToken={token}&case={}&kind=maybe", case.reference),
            400,
        ),
        (
            format!(
                "formToken={token}&case={}&kind=message&message=+",
                case.reference
            ),
            400,
        ),
        (
            format!("formToken=forged&case={}&kind=accepted", case.reference),
            403,
        ),
    ] {
        let answer = f.http("POST", "/cases/decide", Some(&form)).await;
        assert_eq!(answer.status, status, "{form}: {}", answer.body);
    }
    let after = f.store.get_case(&key).await.unwrap().unwrap();
    assert!(after.decisions.is_empty());
    assert_eq!(f.mails().await.len(), mails);
}

/// Fresh data without the applicant: the officer reads what Kontomatik keeps for the
/// applicant's owner id now (no import, no bank session); it is analysed, kept as a record of
/// its own and files the case again; once an hour at most; an applicant whose data Kontomatik
/// does not hold gets nothing new.
#[tokio::test]
async fn a_case_is_refreshed_from_kontomatiks_owner_data_at_most_hourly() {
    use signin_core::ports::{ImportRecordStore, ImportSource, PersonStore};
    let mut f = Flow::start().await;
    let officer = f.email("officer3");
    with_staff(&mut f, &format!("{officer}=credit"));
    let applicant = f.email("applicant3");
    signs_in(&f, &applicant, "en", "success").await;
    let failed = f.email("applicant3-failed");
    signs_in(&f, &failed, "en", "fail_login").await;
    staff_sign_in(&f, &officer).await;

    let key = key_of(&applicant);
    let case = f.store.get_case(&key).await.unwrap().unwrap();
    let owner = f.store.sign_ins(&key).await.unwrap()[0].owner.clone();
    let before = f.sandbox.handle.counters();
    let done = refresh(&f, &case.reference).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done.location.as_deref().unwrap().ends_with("refreshed=1"));
    let after = f.sandbox.handle.counters();
    assert_eq!(
        after.imports_started, before.imports_started,
        "no new import"
    );
    let records = f.store.import_records(&owner).await.unwrap();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[1].source, ImportSource::OwnerData);
    assert!(records[1].credit.as_ref().unwrap().owner_mismatch);
    let filed = f.store.get_case(&key).await.unwrap().unwrap();
    assert_eq!(filed.status(f.clock.now()), CaseStatus::NeedsReview);
    assert_eq!(
        filed.flags,
        vec![signin_core::domain::case::CaseFlag::OwnerMismatch]
    );
    let page = get_html(&f, done.location.as_deref().unwrap()).await;
    assert!(
        page.body.contains("Kontomatik's data as of"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Refreshed:"), "{}", page.body);

    // Once an hour.
    let again = refresh(&f, &case.reference).await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(
        again.body.contains("in this clock hour already"),
        "{}",
        again.body
    );
    assert_eq!(f.store.import_records(&owner).await.unwrap().len(), 2);
    f.advance(chrono::Duration::minutes(61));
    assert_eq!(refresh(&f, &case.reference).await.status, 303);
    assert_eq!(f.store.import_records(&owner).await.unwrap().len(), 3);

    // Nothing held for an applicant whose sign-in failed.
    let failed_key = key_of(&failed);
    let failed_case = f.store.get_case(&failed_key).await.unwrap().unwrap();
    let none = refresh(&f, &failed_case.reference).await;
    assert_eq!(none.status, 303, "{}", none.body);
    assert!(none.location.as_deref().unwrap().ends_with("refreshed=0"));
    let page = get_html(&f, none.location.as_deref().unwrap()).await;
    assert!(page.body.contains("holds no data"), "{}", page.body);

    // A sign-in whose window passed with no word of its end (the poller never ran) leaves its
    // case filed as pending; the list files it again where it belongs.
    let walked = f.email("applicant3-walked-away");
    f.start_sign_in(&walked, true).await;
    let walked_key = key_of(&walked);
    let walked_case = f.store.get_case(&walked_key).await.unwrap().unwrap();
    assert!(get_html(&f, "/cases?status=pending")
        .await
        .body
        .contains(&walked_case.reference));
    f.advance(chrono::Duration::hours(25));
    staff_sign_in(&f, &officer).await; // the session of yesterday has ended
    let pending = get_html(&f, "/cases?status=pending").await;
    assert!(
        !pending.body.contains(&walked_case.reference),
        "{}",
        pending.body
    );
    let failed_list = get_html(&f, "/cases?status=failed").await;
    assert!(
        failed_list.body.contains(&walked_case.reference),
        "{}",
        failed_list.body
    );
}

/// Multiple access: the token the sign-in gave is kept sealed with the person (never as it
/// is), and a case's refresh runs a new import at the bank with it, without the applicant.
#[tokio::test]
async fn with_multiple_access_a_refresh_imports_again_without_the_applicant() {
    use signin_core::ports::{AccessStore, ImportRecordStore, ImportSource, PersonStore};
    let mut f = Flow::start().await;
    f.function_mut("create-redirection")
        .app
        .settings
        .access_mode = signin_core::domain::AccessMode::Multiple;
    let officer = f.email("officer4");
    with_staff(&mut f, &format!("{officer}=credit"));
    let applicant = f.email("applicant4");
    signs_in(&f, &applicant, "en", "success").await;

    // Kept sealed, with the person.
    let key = key_of(&applicant);
    let grants = f.store.access_grants(&key).await.unwrap();
    assert_eq!(grants.len(), 1, "{grants:?}");
    let signing = f
        .function("import-worker")
        .app
        .settings
        .link_signing_key
        .clone()
        .unwrap();
    let token = signin_core::domain::access::open_token(
        &signing,
        &grants[0].owner,
        &grants[0].sealed_token,
    )
    .unwrap();
    assert!(!token.expose().is_empty());
    let items = format!("{:?}", f.table_items().await);
    assert!(
        !items.contains(token.expose()),
        "the token is never kept as it is"
    );

    // The refresh: a new import at the bank, without the applicant.
    staff_sign_in(&f, &officer).await;
    let case = f.store.get_case(&key).await.unwrap().unwrap();
    let before = f.sandbox.handle.counters();
    let done = refresh(&f, &case.reference).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let after = f.sandbox.handle.counters();
    assert_eq!(after.access_imports, before.access_imports + 1);
    assert_eq!(
        after.imports_started, before.imports_started,
        "no session was used again"
    );
    let owner = f.store.sign_ins(&key).await.unwrap()[0].owner.clone();
    let records = f.store.import_records(&owner).await.unwrap();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[1].source, ImportSource::AccessImport);
    let page = get_html(&f, done.location.as_deref().unwrap()).await;
    assert!(
        page.body.contains("New import without the applicant"),
        "{}",
        page.body
    );

    // A kept access that no longer opens (altered, or sealed under a key no longer in the
    // ring): the refresh reads the owner's data instead, and starts no import.
    let mut spoiled = grants[0].clone();
    spoiled.sealed_token = "c3BvaWxlZC1ieS10aGUtdGVzdC0wMTIzNDU2Nzg5".into();
    f.store.put_access_grant(&key, &spoiled).await.unwrap();
    f.advance(chrono::Duration::minutes(61));
    let again = refresh(&f, &case.reference).await;
    assert_eq!(again.status, 303, "{}", again.body);
    assert_eq!(
        f.sandbox.handle.counters().access_imports,
        after.access_imports
    );
    let records = f.store.import_records(&owner).await.unwrap();
    assert_eq!(records.len(), 3);
    assert_eq!(records[2].source, ImportSource::OwnerData);

    // Erased with the person.
    f.store.erase_person(&key).await.unwrap();
    assert!(f.store.access_grants(&key).await.unwrap().is_empty());
}
