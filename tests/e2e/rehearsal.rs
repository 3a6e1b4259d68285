//! The deploy rehearsal: the five real bootstrap binaries, each a process of its own under a
//! Lambda Runtime API emulator, with the environment `template.yaml` gives it and a role made of
//! the template's policy statements, on a moto server that enforces IAM (see
//! tests/src/rehearsal/ for what stands in for AWS and how closely).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use e2e_tests::rehearsal::steps::{
    cookie_of, id_of, make_due, sign_in_at_bank, signs_in_by_emailed_link, staff_sign_in, start,
    start_form, start_form_from_page, APPLICANT_LOG_IN,
};
use e2e_tests::rehearsal::{
    HttpRequest, Options, Outcome, Rehearsal, LINK_SIGNING_KEY, PUBLIC_BASE, STATS_TOKEN,
};
use e2e_tests::API_KEY;
use signin_core::domain::RedirectionId;
use signin_core::ports::RedirectionStore;
use signin_core::ports::{ImportRecordStore, PersonStore};

/// The first `PUBLIC_BASE…` link in `text` whose path starts with `path`.
fn link_in(text: &str, path: &str) -> String {
    text.split_whitespace()
        .map(|w| w.trim_matches(|c| c == '<' || c == '>' || c == '(' || c == ')'))
        .find(|w| w.starts_with(&format!("{PUBLIC_BASE}{path}")))
        .unwrap_or_else(|| panic!("no {path} link in {text}"))
        .to_owned()
}

/// The EMF data points a function wrote (its log lines that are metric documents), as
/// (metric, dimension value) pairs.
fn emf_points(r: &Rehearsal, function: &str) -> Vec<(String, String)> {
    let logs = r.functions[function].logs();
    let mut points = vec![];
    let docs = logs.lines().filter_map(|l| {
        serde_json::from_str::<serde_json::Value>(l)
            .ok()
            .filter(|d| d.get("_aws").is_some())
            .map(|d| (l, d))
    });
    for (line, doc) in docs {
        let spec = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(spec["Namespace"], signin_core::metrics::NAMESPACE, "{line}");
        assert_eq!(
            doc["Function"],
            format!("rehearsal-{function}"),
            "the deployed function's name: {line}"
        );
        let name = spec["Metrics"][0]["Name"].as_str().unwrap().to_owned();
        assert!(doc[&name].is_number(), "{line}");
        let dims: Vec<&str> = spec["Dimensions"][0]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap())
            .collect();
        assert!(
            dims.len() <= 2 && dims[0] == "Function",
            "small dimensions: {line}"
        );
        let value = dims
            .get(1)
            .map(|d| doc[*d].as_str().unwrap().to_owned())
            .unwrap_or_default();
        assert!(
            !value.contains('@'),
            "no personal data in a dimension: {line}"
        );
        points.push((name, value));
    }
    points
}

/// The metrics of the whole flow, per function.
fn assert_flow_metrics(r: &Rehearsal) {
    let has = |function: &str, name: &str, value: &str| {
        let points = emf_points(r, function);
        assert!(
            points.iter().any(|(n, v)| n == name && v == value),
            "{function} wrote no {name}={value:?}: {points:?}"
        );
    };
    has(
        "create-redirection",
        "KontomatikLatency",
        "fetch_redirection",
    );
    has("callback", "KontomatikLatency", "redirection_status");
    has("import-worker", "DefaultImport", "started");
    has("import-worker", "DefaultImport", "imported");
    has("import-worker", "KontomatikLatency", "default_import");
    has("import-worker", "MailSent", "import_done");
    has("status-poller", "PollerDue", "");
    has("status-poller", "PollerChecked", "");
    has("status-poller", "PollerOldestDueAge", "");
    has("status-poller", "MailSent", "follow_up");
    has(
        "unsubscribe-and-stats",
        "KontomatikLatency",
        "delete_owner_data",
    );
    // Written no more: each would be a series billed every hour, for what is read elsewhere.
    for function in r.functions.keys() {
        let points = emf_points(r, function);
        assert!(
            !points
                .iter()
                .any(|(n, _)| n == "Funnel" || n == "PollerOutOfTime" || n == "KontomatikCalls"),
            "{function}: {points:?}"
        );
    }
}

/// Every metric of ours that the dashboard reads and the flow wrote is read by the dimensions
/// it is written by: a metric written as `{Function, Transition}` is not found by a search for
/// `{Function, Step}`, and its widget stays empty without any error.
fn assert_dashboard_reads_what_the_functions_write(r: &Rehearsal) {
    let (stack, _, _) = crate::deployment::stack_with_function_names();
    let body: serde_json::Value = serde_json::from_str(
        stack.properties("OperationsDashboard")["DashboardBody"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let written = e2e_tests::cloudwatch::emf_dimensions(&r.all_logs());
    let read = e2e_tests::dashboard::metrics_read(&body, signin_core::metrics::NAMESPACE);
    assert!(!read.is_empty(), "the dashboard reads our metrics");
    for (metric, dims) in &read {
        if let Some(ways) = written.get(metric) {
            assert!(
                ways.contains(dims),
                "the dashboard reads {metric} by {dims:?}; the functions write it by {ways:?}"
            );
        }
    }
}

/// What a subscriber of the bus received from the whole flow: Ann's sign-in started, succeeded
/// and was imported, then her data was erased; Bo's started, failed and was followed up. Each
/// detail is schema version 1, names no address, and holds no session secret.
async fn assert_flow_events(
    r: &Rehearsal,
    ann: &signin_core::domain::RedirectionId,
    bo: &signin_core::domain::RedirectionId,
    session_secrets: &[&str],
) {
    let mut events = r.events().await;
    events.sort_by_key(|(_, d)| e2e_tests::flow::occurred_at(d));
    // As a subscriber reads them: a repeat (a retried PutEvents whose first try landed) is the
    // same event, id and detail, and counts once.
    let mut seen = std::collections::BTreeMap::new();
    events.retain(|(t, d)| {
        let id = d["eventId"].as_str().unwrap_or_default().to_owned();
        match seen.get(&id) {
            Some(first) => {
                assert_eq!(first, &(t.clone(), d.clone()), "a repeat differs");
                false
            }
            None => {
                seen.insert(id, (t.clone(), d.clone()));
                true
            }
        }
    });
    println!("the subscriber's queue received {} events:", events.len());
    for (t, d) in &events {
        println!("  {t} {d}");
    }
    let of = |id: &signin_core::domain::RedirectionId| -> Vec<&str> {
        events
            .iter()
            .filter(|(_, d)| d["redirectionId"].as_str() == Some(id.as_str()))
            .map(|(t, _)| t.as_str())
            .collect()
    };
    assert_eq!(
        of(ann),
        ["signin.started", "signin.succeeded", "signin.imported"],
        "{events:#?}"
    );
    assert_eq!(
        of(bo),
        ["signin.started", "signin.failed", "signin.follow_up_sent"],
        "{events:#?}"
    );
    let failed = events
        .iter()
        .find(|(t, d)| t == "signin.failed" && d["redirectionId"].as_str() == Some(bo.as_str()))
        .unwrap();
    assert_eq!(failed.1["reason"], "InvalidCredentials", "{failed:?}");
    let ann_owner = events
        .iter()
        .find(|(_, d)| d["redirectionId"].as_str() == Some(ann.as_str()))
        .map(|(_, d)| d["ownerExternalId"].clone())
        .unwrap();
    assert!(
        events
            .iter()
            .any(|(t, d)| t == "owner.erased" && d["ownerExternalId"] == ann_owner),
        "{events:#?}"
    );
    let mut ids = std::collections::BTreeSet::new();
    for (t, d) in &events {
        assert_eq!(d["schemaVersion"], 1, "{t}: {d}");
        let id = d["eventId"].as_str().unwrap_or_default();
        assert!(ids.insert(id.to_owned()), "{id} twice");
        let subject = d["redirectionId"]
            .as_str()
            .or(d["ownerExternalId"].as_str())
            .unwrap_or_default();
        assert_eq!(id, format!("{subject}.{t}"), "a stable id");
        let text = d.to_string();
        assert!(!text.contains('@'), "no address in an event: {text}");
        for secret in session_secrets {
            assert!(
                !text.contains(secret),
                "a session secret in an event: {text}"
            );
        }
    }
}

/// No call was refused (by the gate or by moto), every function's calls went through its gate,
/// and no secret — ours or a user's session — is in any function's log.
fn assert_clean_logs(r: &Rehearsal, session_secrets: &[&str]) {
    let denials = r.denials();
    assert!(
        denials.is_empty(),
        "calls outside a function's policy: {denials:#?}"
    );
    for (name, gate) in &r.gates {
        let used = gate.allowed();
        assert!(!used.is_empty(), "{name} made no AWS call through its gate");
        println!(
            "{name} called: {:?}",
            used.iter().collect::<std::collections::BTreeSet<_>>()
        );
    }
    let logs = r.all_logs();
    assert!(
        logs.contains("\"level\":\"INFO\""),
        "the functions' logs were read: {logs}"
    );
    assert!(
        !logs.contains("AccessDenied") && !logs.contains("not authorized"),
        "a call outside a function's policy:\n{logs}"
    );
    for secret in [API_KEY, LINK_SIGNING_KEY, STATS_TOKEN]
        .iter()
        .chain(session_secrets)
    {
        assert!(secret.len() >= 8, "a secret worth looking for");
        assert!(
            !logs.contains(secret),
            "a secret or an identifier in the logs: {secret}"
        );
    }
}

/// The documented configuration (a stats token set) through every function: start → sign-in →
/// callback → queue → worker → email; a user who fails at the bank and never comes back →
/// poller → follow-up → its resume and unsubscribe links; the statistics. Every AWS call is
/// made with the calling function's own role, IAM enforced. With the template before the
/// functions table, callback, status-poller and import-worker failed at start-up here
/// (AccessDenied on the stats token's parameter).
#[tokio::test]
async fn the_whole_flow_runs_through_the_real_bootstraps_with_iam_enforced() {
    let mut r = Rehearsal::start(Options {
        stats_token: true,
        events: true,
        ..Options::default()
    })
    .await;
    for (name, f) in r.functions.iter_mut() {
        let cold = f.ready().await;
        assert!(cold.is_ok(), "{name} did not start: {cold:?}\n{}", f.logs());
    }

    // The start page, with cookies and repeated query keys.
    let page = r
        .http(HttpRequest {
            method: "GET",
            path: "/",
            query: "lang=pl&utm_source=a&lang=en&utm_source=b",
            cookies: &["consent=yes", "theme=dark"],
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<form"), "{}", page.body);
    assert!(
        page.body.contains(r#"<option value="pl" selected>"#),
        "a repeated key keeps its first value: {}",
        page.body
    );

    // The form, base64-encoded as API Gateway may deliver it.
    let email = "ann@users.rehearsal.example";
    let (form, cookie) = start_form_from_page(&r, email).await;
    let started = r
        .http(HttpRequest {
            method: "POST",
            path: "/start",
            form: Some(&form),
            base64: true,
            cookies: &[&cookie],
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(started.status, 303, "{}", started.body);
    let link = started.headers["location"].clone();
    assert!(link.starts_with(r.sandbox.base_url.as_str()), "{link}");
    let link_ann = link.clone();

    // The bank, then back — in another browser (no cookies), with extra query keys.
    let back = sign_in_at_bank(&link, "success").await;
    let callback_url = url::Url::parse(&back).unwrap();
    assert_eq!(callback_url.path(), "/kontomatik-signin");
    let query = format!(
        "{}&utm_source=mail&redirectionId=ffffffffffffffffffffffffffffffff&utm_source=app",
        callback_url.query().unwrap()
    );
    let came_back = r
        .http(HttpRequest {
            method: "GET",
            path: "/kontomatik-signin",
            query: &query,
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(came_back.status, 200, "{}", came_back.body);
    assert!(came_back.body.contains("importing"), "{}", came_back.body);
    // The session's secrets, while the redirection holds them (until the import is final).
    let session = r
        .store()
        .get_redirection(&id_of(&link_ann))
        .await
        .unwrap()
        .unwrap()
        .session
        .expect("the session was saved");

    // The queue → the worker → the email.
    assert_eq!(r.depth(&r.queue_url).await, 1);
    let delivery = r.deliver_imports(1).await;
    assert_eq!(delivery.received, 1);
    assert!(delivery.failed.is_empty(), "{:?}", delivery.outcome);
    assert_eq!(r.depth(&r.queue_url).await, 0, "the job was deleted");
    let mails = r.moto.mails().await;
    let done = mails
        .iter()
        .find(|m| m.to == email)
        .unwrap_or_else(|| panic!("no email to {email}: {mails:?}"));
    assert!(
        done.subject.contains("we received your bank data"),
        "{}",
        done.subject
    );
    assert_eq!(r.sandbox.handle.counters().imports_started, 1);

    // A user who fails at the bank and walks away: the poller finds it, then follows up.
    let bo = "bo@users.rehearsal.example";
    let (form, cookie) = start_form_from_page(&r, bo).await;
    let started = r
        .http(HttpRequest {
            method: "POST",
            path: "/start",
            form: Some(&form),
            cookies: &[&cookie],
            ..HttpRequest::default()
        })
        .await;
    let link = started.headers["location"].clone();
    let link_bo = link.clone();
    sign_in_at_bank(&link, "fail_login").await;
    make_due(&r, &id_of(&link)).await;
    let report = r.run_poller().await;
    assert_eq!(report["checked"], 1, "{report}");
    assert_eq!(report["finished"], 1, "{report}");
    let report = r.run_poller().await;
    assert_eq!(report["followUpsSent"], 1, "{report}");
    let mails = r.moto.mails().await;
    let follow_up = mails.iter().find(|m| m.to == bo).expect("a follow-up");
    let resume = link_in(&follow_up.text, "/resume?t=");
    let unsubscribe = link_in(&follow_up.text, "/unsubscribe?t=");
    assert!(
        !mails
            .iter()
            .any(|m| m.to == email && m.subject.contains("try again")),
        "no follow-up to a user who succeeded"
    );

    // The follow-up's links: unsubscribe (its own function), resume (create-redirection).
    let token = |l: &str| l.split_once("t=").unwrap().1.to_owned();
    let confirm = r
        .http(HttpRequest {
            method: "GET",
            path: "/unsubscribe",
            query: &format!("t={}", token(&unsubscribe)),
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    // The mail client's one-click (RFC 8058): the token in the URL, no form token.
    let query = format!("t={}", token(&unsubscribe));
    let done = r
        .http(HttpRequest {
            method: "POST",
            path: "/unsubscribe",
            query: &query,
            form: Some("List-Unsubscribe=One-Click"),
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("unsubscribed"));
    let confirm = r
        .http(HttpRequest {
            method: "GET",
            path: "/resume",
            query: &format!("t={}", token(&resume)),
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let form = format!(
        "t={}&formToken={}",
        token(&resume),
        e2e_tests::form_token_in(&confirm.body)
    );
    let cookie = cookie_of(&confirm);
    let resumed = r
        .http(HttpRequest {
            method: "POST",
            path: "/resume",
            form: Some(&form),
            cookies: &[&cookie],
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(resumed.status, 303, "{}", resumed.body);
    assert!(resumed.headers["location"].starts_with(r.sandbox.base_url.as_str()));

    // The statistics, with the token from SSM.
    let bearer = format!("Bearer {STATS_TOKEN}");
    let stats = r
        .http(HttpRequest {
            method: "GET",
            path: "/stats",
            headers: &[("authorization", &bearer)],
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(stats.status, 200, "{}", stats.body);
    let json: serde_json::Value = serde_json::from_str(&stats.body).unwrap();
    assert_eq!(json["totals"]["started"], 3, "{json}");
    assert_eq!(json["totals"]["imported"], 1, "{json}");
    let refused = r
        .http(HttpRequest {
            method: "GET",
            path: "/stats",
            headers: &[("authorization", "Bearer wrong")],
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(refused.status, 401);

    // Each function answers only for its own routes.
    let stats_at_callback = r
        .http_to(
            r.function("callback"),
            HttpRequest {
                method: "GET",
                path: "/stats",
                headers: &[("authorization", &bearer)],
                ..HttpRequest::default()
            },
        )
        .await;
    assert_eq!(stats_at_callback.status, 404);
    let start_at_stats = r
        .http_to(
            r.function("unsubscribe-and-stats"),
            HttpRequest {
                method: "POST",
                path: "/start",
                form: Some(&start_form("eve@users.rehearsal.example")),
                ..HttpRequest::default()
            },
        )
        .await;
    assert_eq!(start_at_stats.status, 404);

    let imported = r
        .store()
        .get_redirection(&id_of(&link_ann))
        .await
        .unwrap()
        .unwrap();
    assert!(
        imported.session.is_none(),
        "removed once the import is final"
    );

    // Ann logs in by the emailed link and sees her application on her page (no bank data).
    let logged_in = signs_in_by_emailed_link(&r, &APPLICANT_LOG_IN, email).await;
    let binding = cookie_of(&logged_in.form_page);
    let applicant_session = cookie_of(&logged_in.signed_in);
    let me = r
        .http(HttpRequest {
            method: "GET",
            path: "/me",
            cookies: &[&binding, &applicant_session],
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert!(me.body.contains("Data received"), "{}", me.body);
    // Her follow-up choice on her page, then the log-out on every device.
    let account_token = e2e_tests::form_token_in(&me.body);
    let consent_form = format!("followUps=yes&formToken={account_token}");
    let chosen = r
        .http(HttpRequest {
            method: "POST",
            path: "/me/consent",
            form: Some(&consent_form),
            cookies: &[&binding, &applicant_session],
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(chosen.status, 303, "{}", chosen.body);
    let logout_form = format!("formToken={account_token}");
    let out = r
        .http(HttpRequest {
            method: "POST",
            path: "/logout",
            form: Some(&logout_form),
            cookies: &[&binding, &applicant_session],
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    let after = r
        .http(HttpRequest {
            method: "GET",
            path: "/me",
            cookies: &[&binding, &applicant_session],
            ..HttpRequest::default()
        })
        .await;
    assert!(
        after.body.contains("id=\"login\""),
        "logged out: {}",
        after.body
    );

    // Ann erases her data through the link in her email (its own function, with Kontomatik).
    let mails = r.moto.mails().await;
    let ann_mail = mails.iter().find(|m| m.to == email).unwrap();
    let erase = link_in(&ann_mail.text, "/erase?t=");
    let confirm = r
        .http(HttpRequest {
            method: "GET",
            path: "/erase",
            query: &format!("t={}", token(&erase)),
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let form = format!(
        "t={}&formToken={}",
        token(&erase),
        e2e_tests::form_token_in(&confirm.body)
    );
    let cookie = cookie_of(&confirm);
    let erased = r
        .http(HttpRequest {
            method: "POST",
            path: "/erase",
            form: Some(&form),
            cookies: &[&cookie],
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(erased.status, 200, "{}", erased.body);
    assert!(
        erased.body.contains("Your data is deleted"),
        "{}",
        erased.body
    );
    assert!(r
        .store()
        .get_redirection(&id_of(&link_ann))
        .await
        .unwrap()
        .is_none());
    // Every owner id Ann's data may be under is asked to be deleted: her sign-in's own (she
    // started without logging in), the one her record had before she logged in (records
    // written by earlier versions used it at Kontomatik) and her verified one.
    assert_eq!(r.sandbox.handle.counters().owner_data_deletes, 3);
    let mut session_secrets = vec![session.session_id_signature.expose().to_owned()];
    session_secrets.extend(session.multiple_access_token.map(|t| t.expose().to_owned()));
    // Nothing that names Ann outlives her erasure in the logs: not her owner id, not the key
    // of her address (an unkeyed hash anyone holding the address can compute).
    // (Events carry the owner id on purpose: subscribers erase by it.)
    let user_key = signin_core::domain::Email::parse(email).unwrap().user_key();
    let session_secrets: Vec<&str> = session_secrets.iter().map(String::as_str).collect();
    let mut not_in_logs = session_secrets.clone();
    not_in_logs.extend([imported.owner.as_str(), user_key.as_str()]);
    assert_clean_logs(&r, &not_in_logs);
    assert_flow_metrics(&r);
    assert_dashboard_reads_what_the_functions_write(&r);
    assert_flow_events(&r, &id_of(&link_ann), &id_of(&link_bo), &session_secrets).await;
    e2e_tests::assert_no_secret_in_any_url(&r.sandbox, &[LINK_SIGNING_KEY]);
    println!("deploy rehearsal, per function:\n{}", r.timings());
}

/// Enforcement is on, for actions (moto) and resources (the gate): the same stack with one
/// action withheld from a role fails exactly there. Without `ssm:GetParameter` the worker cannot
/// start (reported through `init/error`); without `sqs:SendMessage` the callback cannot queue
/// the import and says so; with the Kontomatik key's parameter missing from the status poller's
/// `ssm:GetParameter` resources, the poller cannot start.
#[tokio::test]
async fn a_role_missing_one_action_makes_its_function_fail() {
    let mut r = Rehearsal::start(Options {
        withheld_actions: vec![
            ("import-worker".into(), "ssm:GetParameter".into()),
            ("callback".into(), "sqs:SendMessage".into()),
        ],
        withheld_resources: vec![("status-poller".into(), "kontomatik-api-key".into())],
        ..Options::default()
    })
    .await;
    let poller = r.functions.get_mut("status-poller").unwrap();
    let failed = poller.ready().await.unwrap_err();
    assert!(
        failed.contains("Runtime.StartupError")
            && failed.contains("KONTOMATIK_API_KEY")
            && failed.contains("AccessDenied"),
        "{failed}"
    );
    let denied = r.gates["status-poller"].denials();
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert!(
        denied[0].contains("ssm:GetParameter") && denied[0].contains("kontomatik-api-key"),
        "{denied:?}"
    );
    assert!(
        r.gates["import-worker"].denials().is_empty(),
        "moto, not the gate, refused the worker"
    );
    let worker = r.functions.get_mut("import-worker").unwrap();
    let failed = worker.ready().await.unwrap_err();
    assert!(
        failed.contains("Runtime.StartupError") && failed.contains("KONTOMATIK_API_KEY"),
        "{failed}"
    );
    assert!(
        failed.contains("is not authorized to perform: ssm:GetParameter"),
        "{failed}"
    );
    assert!(!worker.exit_status().await.success());
    for name in ["create-redirection", "callback"] {
        r.functions.get_mut(name).unwrap().ready().await.unwrap();
    }

    let (form, cookie) = start_form_from_page(&r, "cy@users.rehearsal.example").await;
    let started = r
        .http(HttpRequest {
            method: "POST",
            path: "/start",
            form: Some(&form),
            cookies: &[&cookie],
            ..HttpRequest::default()
        })
        .await;
    let back = sign_in_at_bank(&started.headers["location"], "success").await;
    let query = url::Url::parse(&back).unwrap().query().unwrap().to_owned();
    let page = r
        .http(HttpRequest {
            method: "GET",
            path: "/kontomatik-signin",
            query: &query,
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(page.status, 500, "{}", page.body);
    assert_eq!(r.depth(&r.queue_url).await, 0);
    let logs = r.function("callback").logs();
    assert!(
        logs.contains("is not authorized to perform: sqs:SendMessage"),
        "{logs}"
    );
}

/// Every function stops with `init/error` naming the variable when the template's environment
/// lacks one it requires (a secret: its `_PARAMETER` variable). Driven by the functions table,
/// so each function's every required variable is tried and must be in the template.
#[tokio::test]
async fn each_function_names_a_missing_variable_through_init_error() {
    let r = Rehearsal::start(Options {
        stats_token: true,
        ..Options::default()
    })
    .await;
    let required: Vec<&str> = signin_core::config::vars::required()
        .map(|v| v.name)
        .collect();
    let mut tried = vec![];
    for function in signin_runtime::functions::FUNCTIONS {
        let name = function.name;
        let f = r.function(name);
        let env = &r.environments[name];
        for read in function.reads.iter().filter(|v| required.contains(v)) {
            let variable = if signin_runtime::SECRETS.contains(read) {
                format!("{read}_PARAMETER")
            } else {
                (*read).to_owned()
            };
            assert!(
                env.contains_key(&variable),
                "the template does not give {name} {variable}"
            );
            let mut without = env.clone();
            without.remove(&variable);
            let mut p = e2e_tests::rehearsal::FunctionProcess::spawn(
                &r.binaries[name],
                &f.deployed,
                &without,
                &format!("without-{variable}"),
            )
            .await;
            let reported = p.ready().await.unwrap_err();
            assert!(
                reported.contains("Runtime.StartupError")
                    && reported.contains(&format!("environment variable {variable} is not set")),
                "{name} without {variable}: {reported}"
            );
            assert!(!p.exit_status().await.success());
            tried.push(format!("{name}/{variable}"));
        }
    }
    assert_eq!(
        r.functions.len(),
        signin_runtime::functions::FUNCTIONS.len()
    );
    println!(
        "init/error named each of {} missing variables: {tried:?}",
        tried.len()
    );
}

/// SQS batches the way the event source mapping delivers them: a batch with a good and an
/// unreadable job; the good one is deleted, the bad one reported failed, invisible for the
/// visibility timeout, redelivered with a growing receive count, and moved to the dead-letter
/// queue by the queue's redrive policy after `maxReceiveCount` receives.
#[tokio::test]
async fn sqs_batches_are_delivered_like_the_event_source_mapping() {
    let mut r = Rehearsal::start(Options {
        visibility_timeout: Some(3),
        ..Options::default()
    })
    .await;
    r.functions
        .get_mut("import-worker")
        .unwrap()
        .ready()
        .await
        .unwrap();
    let sqs = aws_sdk_sqs::Client::new(&r.moto.admin);
    let unknown = RedirectionId::parse("0123456789abcdef0123456789abcdef").unwrap();
    for body in [
        serde_json::json!({"redirectionId": unknown.as_str(), "continuation": 0}).to_string(),
        "this is not an import job".to_owned(),
    ] {
        sqs.send_message()
            .queue_url(&r.queue_url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let first = r.deliver_imports(1).await;
    assert_eq!(first.received, 2);
    assert_eq!(first.failed.len(), 1, "{:?}", first.outcome);
    let bad = first
        .messages
        .iter()
        .position(|(_, body)| body == "this is not an import job")
        .unwrap();
    assert_eq!(
        first.failed,
        [first.messages[bad].0.clone()],
        "only the unreadable job failed"
    );
    assert!(matches!(first.outcome, Some(Outcome::Response(_))));
    assert_eq!(r.depth(&r.queue_url).await, 1, "the good job was deleted");
    let hidden = r.deliver_imports(0).await;
    assert_eq!(
        hidden.received, 0,
        "invisible during the visibility timeout"
    );

    let max_receives = r.stack.properties("ImportQueue")["RedrivePolicy"]["maxReceiveCount"]
        .as_u64()
        .unwrap() as u32;
    // The unreadable job's first receive was the first batch.
    let mut counts = vec![first.receive_counts[bad]];
    let started = std::time::Instant::now();
    while r.depth(&r.dead_letter_url).await == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no redrive: {counts:?}"
        );
        let d = r.deliver_imports(3).await;
        counts.extend(d.receive_counts);
    }
    let received: Vec<u32> = (1..=max_receives).collect();
    assert_eq!(counts, received, "redelivered with a growing receive count");
    assert_eq!(r.depth(&r.queue_url).await, 0);
    assert_eq!(r.depth(&r.dead_letter_url).await, 1);
}

/// An import that ends after the person erased their data (the erasure lands while the worker
/// waits between two polls of the import's command, in its invocation): the worker finds the
/// redirection gone, asks Kontomatik to delete again, and deletes the import record it has just
/// stored — with its own role, IAM enforced. With the template before `dynamodb:DeleteItem` was
/// granted to the worker, the delete was refused and the erased person's import record stayed.
#[tokio::test]
async fn an_import_that_ends_after_an_erasure_leaves_no_record() {
    let mut r = Rehearsal::start(Options {
        parameters: vec![("ImportCommandWait".into(), "in-invocation".into())],
        // setup, in progress, then successful: two waits in the invocation (the import poll
        // interval each), a window of seconds for the erasure however slow the machine
        import_polls: Some(3),
        ..Options::default()
    })
    .await;
    for (name, f) in r.functions.iter_mut() {
        let cold = f.ready().await;
        assert!(cold.is_ok(), "{name} did not start: {cold:?}\n{}", f.logs());
    }

    // The link by email: it carries the erase link before any import exists.
    let email = "cleo@users.rehearsal.example";
    let (form, cookie) = start_form_from_page(&r, email).await;
    let form = form.replace("delivery=redirect", "delivery=email");
    let started = r
        .http(HttpRequest {
            method: "POST",
            path: "/start",
            form: Some(&form),
            cookies: &[&cookie],
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    let mails = r.moto.mails().await;
    let mail = mails
        .iter()
        .find(|m| m.to == email)
        .unwrap_or_else(|| panic!("no link email: {mails:?}"));
    let sandbox = r.sandbox.base_url.as_str().to_owned();
    let link = mail
        .text
        .split_whitespace()
        .find(|w| w.starts_with(&sandbox))
        .unwrap_or_else(|| panic!("no Kontomatik link in {}", mail.text))
        .to_owned();
    let erase = link_in(&mail.text, "/erase?t=");
    let back = sign_in_at_bank(&link, "success").await;
    let query = url::Url::parse(&back).unwrap().query().unwrap().to_owned();
    let came_back = r
        .http(HttpRequest {
            method: "GET",
            path: "/kontomatik-signin",
            query: &query,
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(came_back.status, 200, "{}", came_back.body);
    let owner = r
        .store()
        .get_redirection(&id_of(&link))
        .await
        .unwrap()
        .unwrap()
        .owner;

    // The worker starts the import and waits in its invocation; the person erases meanwhile.
    let erase_during_import = async {
        let started = std::time::Instant::now();
        while r
            .sandbox
            .handle
            .counters()
            .calls
            .get("command_status")
            .copied()
            .unwrap_or(0)
            < 1
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the worker never polled the command"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let polled = std::time::Instant::now();
        let t = erase.split_once("t=").unwrap().1.to_owned();
        let confirm = r
            .http(HttpRequest {
                method: "GET",
                path: "/erase",
                query: &format!("t={t}"),
                ..HttpRequest::default()
            })
            .await;
        assert_eq!(confirm.status, 200, "{}", confirm.body);
        let form = format!(
            "t={t}&formToken={}",
            e2e_tests::form_token_in(&confirm.body)
        );
        let cookie = cookie_of(&confirm);
        let erased = r
            .http(HttpRequest {
                method: "POST",
                path: "/erase",
                form: Some(&form),
                cookies: &[&cookie],
                ..HttpRequest::default()
            })
            .await;
        assert_eq!(erased.status, 200, "{}", erased.body);
        polled.elapsed()
    };
    let (delivery, erased_after) = tokio::join!(r.deliver_imports(1), erase_during_import);
    assert_eq!(delivery.received, 1);
    assert!(delivery.failed.is_empty(), "{:?}", delivery.outcome);
    let worker_logs = r.function("import-worker").logs();
    assert!(
        r.store()
            .get_redirection(&id_of(&link))
            .await
            .unwrap()
            .is_none(),
        "erased"
    );
    assert_eq!(
        r.sandbox.handle.counters().imports_started,
        1,
        "the import ran (erased {erased_after:?} into the wait)"
    );
    assert!(
        !worker_logs.contains("its record could not be deleted"),
        "the worker could not delete the import record:\n{worker_logs}"
    );
    let left = r.store().import_records(&owner).await.unwrap();
    assert!(
        left.is_empty(),
        "an erased person's import record stayed: {left:?}"
    );
    assert!(
        r.sandbox.handle.counters().owner_data_deletes >= 2,
        "Kontomatik asked to delete at the erasure and again when the import ended (the \
         erasure ended {erased_after:?} after the first poll; it must land within the worker's \
         waits)"
    );
    assert!(r.denials().is_empty(), "{:#?}", r.denials());
    assert!(
        !r.all_logs().contains("AccessDenied"),
        "a call outside a function's policy:\n{}",
        r.all_logs()
    );
}

/// A first deploy without a domain (`PublicBaseUrl` empty): every function starts with the
/// pages' URL read from the SSM parameter the stack writes (the HTTP API's own URL), through
/// its own role, and the links it sends lead there.
#[tokio::test]
async fn without_a_domain_the_functions_serve_the_apis_own_url() {
    let mut r = Rehearsal::start(Options {
        parameters: vec![("PublicBaseUrl".into(), String::new())],
        ..Options::default()
    })
    .await;
    assert!(r.stack.creates("ApiUrlParameter"));
    let api_url = r.stack.properties("ApiUrlParameter")["Value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(api_url.contains(".execute-api."), "{api_url}");
    for (name, f) in r.functions.iter_mut() {
        assert!(!r.environments[name].contains_key("PUBLIC_BASE_URL"));
        let cold = f.ready().await;
        assert!(cold.is_ok(), "{name} did not start: {cold:?}\n{}", f.logs());
    }
    let email = "dan@users.rehearsal.example";
    let (form, cookie) = start_form_from_page(&r, email).await;
    let form = form.replace("delivery=redirect", "delivery=email");
    let started = r
        .http(HttpRequest {
            method: "POST",
            path: "/start",
            form: Some(&form),
            cookies: &[&cookie],
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    let mails = r.moto.mails().await;
    let mail = mails
        .iter()
        .find(|m| m.to == email)
        .expect("the link email");
    assert!(
        mail.text.contains(&format!("{api_url}/erase?t=")),
        "the erase link leads to the API's URL: {}",
        mail.text
    );
    assert!(r.denials().is_empty(), "{:#?}", r.denials());
}

/// Kontomatik refusing the API key (a revoked or mistyped key in SSM) shows in the logs in the
/// words the template's metric filters count for the `KontomatikUnauthorized` alarm.
#[tokio::test]
async fn a_refused_api_key_is_logged_in_the_words_the_alarm_counts() {
    let mut r = Rehearsal::start(Options {
        wrong_api_key: true,
        ..Options::default()
    })
    .await;
    for (name, f) in r.functions.iter_mut() {
        let cold = f.ready().await;
        assert!(cold.is_ok(), "{name} did not start: {cold:?}\n{}", f.logs());
    }
    let (form, cookie) = start_form_from_page(&r, "eve@users.rehearsal.example").await;
    let started = r
        .http(HttpRequest {
            method: "POST",
            path: "/start",
            form: Some(&form),
            cookies: &[&cookie],
            ..HttpRequest::default()
        })
        .await;
    assert_ne!(started.status, 303, "no sign-in with a refused key");
    assert!(r.sandbox.handle.counters().unauthorized >= 1);
    let filter = r
        .stack
        .properties("KontomatikUnauthorizedCreateRedirectionMetric");
    let words = filter["FilterPattern"].as_str().unwrap().trim_matches('"');
    let logs = r.function("create-redirection").logs();
    assert!(
        logs.lines().any(|l| l.contains(words)),
        "no log line with {words:?}:\n{logs}"
    );
}

/// The paths the whole-flow rehearsal does not walk, each with its function's own role: a staff
/// member's emailed sign-in link to the funnel page (unsubscribe-and-stats sends mail), and an
/// import Kontomatik refuses for its jobs quota (the worker gives the claim back and puts the
/// job back on the queue, delayed).
#[tokio::test]
async fn staff_sign_in_and_a_quota_refusal_run_within_their_grants() {
    let staff = "anna@lender.example";
    let mut r = Rehearsal::start(Options {
        parameters: vec![("StaffEmails".into(), staff.into())],
        jobs_quota: Some(0),
        ..Options::default()
    })
    .await;
    for (name, f) in r.functions.iter_mut() {
        let cold = f.ready().await;
        assert!(cold.is_ok(), "{name} did not start: {cold:?}\n{}", f.logs());
    }

    // The funnel page's sign-in: the form, then the emailed one-time link and its button.
    let html = [("accept", "text/html")];
    let (signed_in, cookies) = staff_sign_in(&r, staff, "/stats").await;
    assert_eq!(signed_in.headers["location"], "/stats");
    let with_session: Vec<&str> = cookies.iter().map(String::as_str).collect();
    let funnel = r
        .http(HttpRequest {
            method: "GET",
            path: "/stats",
            headers: &html,
            cookies: &with_session,
            ..HttpRequest::default()
        })
        .await;
    assert!(
        funnel.body.contains(r#"<table id="funnel""#),
        "{}",
        funnel.body
    );
    let out = r
        .http(HttpRequest {
            method: "POST",
            path: "/stats/logout",
            cookies: &with_session,
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    let after = r
        .http(HttpRequest {
            method: "GET",
            path: "/stats",
            headers: &html,
            cookies: &with_session,
            ..HttpRequest::default()
        })
        .await;
    assert!(
        after.body.contains("Staff sign-in") && !after.body.contains("<table"),
        "a session from before the sign-out is void: {}",
        after.body
    );

    // A sign-in whose import Kontomatik refuses for its jobs quota.
    let link = start(&r, "fay@users.rehearsal.example").await;
    let back = sign_in_at_bank(&link, "success").await;
    let query = url::Url::parse(&back).unwrap().query().unwrap().to_owned();
    let came_back = r
        .http(HttpRequest {
            method: "GET",
            path: "/kontomatik-signin",
            query: &query,
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(came_back.status, 200, "{}", came_back.body);
    let delivery = r.deliver_imports(1).await;
    assert_eq!(delivery.received, 1);
    assert!(delivery.failed.is_empty(), "{:?}", delivery.outcome);
    assert_eq!(r.sandbox.handle.counters().jobs_quota_refusals, 1);
    assert_eq!(r.sandbox.handle.counters().imports_started, 0);
    assert_eq!(
        r.depth(&r.queue_url).await,
        1,
        "the job waits on the queue, delayed"
    );
    let waiting = r
        .store()
        .get_redirection(&id_of(&link))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(waiting.state.as_str(), "import_queued");

    assert!(r.denials().is_empty(), "{:#?}", r.denials());
    assert!(
        !r.all_logs().contains("AccessDenied"),
        "a call outside a function's policy:\n{}",
        r.all_logs()
    );
}

/// The operator's erasure inside the stack: a direct invocation of unsubscribe-and-stats (as
/// `aws lambda invoke` sends it) runs the erase link's use case with the function's own role
/// and the stack's Kontomatik key, and answers with counts only.
#[tokio::test]
async fn the_operators_erasure_runs_inside_the_stack_by_direct_invocation() {
    let mut r = Rehearsal::start(Options::default()).await;
    for (name, f) in r.functions.iter_mut() {
        let cold = f.ready().await;
        assert!(cold.is_ok(), "{name} did not start: {cold:?}\n{}", f.logs());
    }
    let email = "olga@users.rehearsal.example";
    let (form, cookie) = start_form_from_page(&r, email).await;
    let started = r
        .http(HttpRequest {
            method: "POST",
            path: "/start",
            form: Some(&form),
            cookies: &[&cookie],
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(started.status, 303, "{}", started.body);
    let id = id_of(&started.headers["location"]);
    let key = signin_core::domain::Email::parse(email).unwrap().user_key();
    assert!(r.store().get_redirection(&id).await.unwrap().is_some());
    let deletes_before = r.sandbox.handle.counters().owner_data_deletes;

    let f = r.function("unsubscribe-and-stats");
    let answer = f
        .invoke(&serde_json::json!({"operator": "erase", "email": email}))
        .await;
    let Outcome::Response(summary) = answer else {
        panic!("the erasure failed: {answer:?}\n{}", f.logs());
    };
    assert_eq!(summary["operator"], "erase", "{summary}");
    assert_eq!(summary["found"], true, "{summary}");
    assert_eq!(summary["userRecord"], true, "{summary}");
    // the user record's owner id and the anonymous start's own
    assert_eq!(summary["owners"], 2, "{summary}");
    assert_eq!(summary["redirections"], 1, "{summary}");
    let text = summary.to_string();
    assert!(
        !text.contains("olga") && !text.contains(key.as_str()),
        "personal data in the answer: {text}"
    );
    assert!(
        r.sandbox.handle.counters().owner_data_deletes > deletes_before,
        "Kontomatik was asked, with the stack's key"
    );
    assert!(r.store().get_redirection(&id).await.unwrap().is_none());
    assert!(r.store().personal_data(&key).await.unwrap().is_empty());

    // Again: nothing left, nothing fails.
    let again = f
        .invoke(&serde_json::json!({"operator": "erase", "email": email}))
        .await;
    let Outcome::Response(again) = again else {
        panic!("a repeated erasure failed: {again:?}");
    };
    assert_eq!(again["found"], false, "{again}");

    // A command it does not know, or an address that is none: an error, nothing done.
    for bad in [
        serde_json::json!({"operator": "erase-all"}),
        serde_json::json!({"operator": "erase", "email": "not an address"}),
    ] {
        let answer = f.invoke(&bad).await;
        assert!(matches!(answer, Outcome::Error { .. }), "{bad}: {answer:?}");
    }
    // The pages of the same process still answer HTTP events.
    let login = r
        .http(HttpRequest {
            method: "GET",
            path: "/login",
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(login.status, 200, "{}", login.body);

    assert!(r.denials().is_empty(), "{:#?}", r.denials());
    let logs = f.logs();
    assert!(!logs.contains("olga"), "the address in the logs:\n{logs}");
    assert!(
        logs.contains("an operator erased a person's data"),
        "{logs}"
    );
}

/// The wire probe inside the stack (Kontomatik answers the key only from the stack's
/// whitelisted address): a direct invocation of unsubscribe-and-stats runs it with the
/// function's own key, base URL and redirect URI, and answers with the report; neither the
/// answer nor the logs hold the key.
#[tokio::test]
async fn the_probe_runs_inside_the_stack_by_direct_invocation() {
    let mut r = Rehearsal::start(Options::default()).await;
    let f = r.functions.get_mut("unsubscribe-and-stats").unwrap();
    let cold = f.ready().await;
    assert!(cold.is_ok(), "it did not start: {cold:?}\n{}", f.logs());
    let seen_before = r.sandbox.handle.requests().len();

    let f = r.function("unsubscribe-and-stats");
    let answer = f.invoke(&serde_json::json!({"operator": "probe"})).await;
    let Outcome::Response(report) = answer else {
        panic!("the probe failed: {answer:?}\n{}", f.logs());
    };
    println!("{}", report["report"].as_str().unwrap_or_default());
    assert_eq!(report["operator"], "probe", "{report}");
    assert_eq!(report["allHeld"], true, "{report}");
    assert_eq!(
        report["redirectUri"],
        format!("{PUBLIC_BASE}/kontomatik-signin"),
        "the stack's own redirect URI: {report}"
    );
    let checks = report["checks"].as_array().unwrap();
    for name in ["redirectionId", "url", "status", "error {code, message}"] {
        assert!(
            checks
                .iter()
                .any(|c| c["name"] == name && c["held"] == true),
            "{name} held: {report}"
        );
    }
    assert!(checks.iter().all(|c| c["held"] == true), "{report}");
    let exchanges = report["exchanges"].as_array().unwrap();
    assert_eq!(exchanges.len(), 3, "{report}");
    assert_eq!(exchanges[0]["httpStatus"], 200, "{report}");
    assert_eq!(exchanges[2]["httpStatus"], 404, "{report}");
    let text = report["report"].as_str().unwrap();
    assert!(text.contains("Every provisional name held."), "{text}");
    assert!(text.contains("X-Api-Key: [redacted]"), "{text}");

    // Language and country of the operator's choice; anything else is refused, nothing sent.
    let answer = f
        .invoke(&serde_json::json!({"operator": "probe", "language": "en", "country": "cz"}))
        .await;
    let Outcome::Response(other) = answer else {
        panic!("the probe failed: {answer:?}\n{}", f.logs());
    };
    assert_eq!(other["allHeld"], true, "{other}");
    let request = other["exchanges"][0]["request"].as_str().unwrap();
    assert!(
        request.contains("\"language\":\"en\"") && request.contains("\"country\":\"cz\""),
        "{request}"
    );
    let seen = r.sandbox.handle.requests();
    assert_eq!(seen.len() - seen_before, 6, "three calls per probe");
    assert!(seen[seen_before..]
        .iter()
        .all(|s| s.api_key_header && !s.uri.contains(API_KEY)));
    for bad in [
        serde_json::json!({"operator": "probe", "language": "xx"}),
        serde_json::json!({"operator": "probe", "baseUrl": "https://elsewhere.example"}),
    ] {
        let answer = f.invoke(&bad).await;
        assert!(matches!(answer, Outcome::Error { .. }), "{bad}: {answer:?}");
    }
    assert_eq!(r.sandbox.handle.requests().len() - seen_before, 6);

    for answer in [&report, &other] {
        assert!(
            !answer.to_string().contains(API_KEY),
            "the key in the answer: {answer}"
        );
    }
    assert!(r.denials().is_empty(), "{:#?}", r.denials());
    let logs = f.logs();
    assert!(!logs.contains(API_KEY), "the key in the logs:\n{logs}");
    assert!(
        logs.contains("an operator ran the Kontomatik probe"),
        "{logs}"
    );
}

/// The lender's API through the real bootstraps, as API Gateway delivers it with its IAM
/// authorizer: an unsigned request is answered by API Gateway (the template's `AWS_IAM`) and
/// never reaches a function; a signed one starts a sign-in under the lender's application id,
/// whose events carry it; the application is read back with its analysis and listed as changed;
/// a request that reached a function without an IAM caller is refused there; every call runs
/// within the functions' grants.
#[tokio::test]
async fn the_lenders_api_runs_with_iam_callers_only() {
    let officer = "officer@lender.example";
    let mut r = Rehearsal::start(Options {
        events: true,
        parameters: vec![
            (
                "LenderApiPrincipal".into(),
                "arn:aws:iam::210987654321:role/lender-app".into(),
            ),
            ("StaffEmails".into(), format!("{officer}=credit")),
        ],
        ..Options::default()
    })
    .await;
    for (name, f) in r.functions.iter_mut() {
        let cold = f.ready().await;
        assert!(cold.is_ok(), "{name} did not start: {cold:?}\n{}", f.logs());
    }
    // A session of the stack's LenderApiRole, as STS names it (the role's name as the template
    // tells the functions).
    let role = r.environments["create-redirection"]["LENDER_API_ROLE"].clone();
    let caller = format!(
        "arn:aws:sts::{}:assumed-role/{role}/lender-app",
        e2e_tests::template::ACCOUNT
    );
    let caller = caller.as_str();
    let body = r#"{"externalApplicationId":"LOAN-2026-000123","email":"api.applicant@example.com","name":"Anna Kowalska","language":"pl","country":"pl"}"#;
    let post = || HttpRequest {
        method: "POST",
        path: "/api/sign-ins",
        ..HttpRequest::default()
    };
    // A signed GET of the lender's systems.
    let api_get = |path: &'static str, query: String| {
        let r = &r;
        async move {
            r.http_signed(
                HttpRequest {
                    method: "GET",
                    path,
                    query: &query,
                    ..HttpRequest::default()
                },
                caller,
                None,
            )
            .await
        }
    };

    // Unsigned: the rehearsal's API Gateway answers 403 by the template's AWS_IAM authorizer
    // (what AWS does is API Gateway's; deployment::the_lenders_api_is_reached_only_through_iam
    // checks the template says so for exactly these routes).
    assert!(r.route_needs_iam("POST", "/api/sign-ins"));
    let unsigned = r.http(post()).await;
    assert_eq!(unsigned.status, 403);
    // A function reached without an IAM caller (a route deployed without the authorizer)
    // refuses it too.
    let around = r.http_to(r.function("create-redirection"), post()).await;
    assert_eq!(around.status, 401, "{}", around.body);

    // Another principal of the account that may invoke the route (an administrator): refused
    // by the function, nothing started.
    let admin = format!("arn:aws:iam::{}:user/admin", e2e_tests::template::ACCOUNT);
    let other = r.http_signed(post(), &admin, Some(body)).await;
    assert_eq!(other.status, 403, "{}", other.body);

    // A country not offered is refused, nothing started.
    let elsewhere = body.replace(r#""country":"pl""#, r#""country":"de""#);
    let refused = r.http_signed(post(), caller, Some(&elsewhere)).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("country"), "{}", refused.body);

    // Signed: a sign-in for the lender's customer.
    let started = r.http_signed(post(), caller, Some(body)).await;
    assert_eq!(started.status, 201, "{}", started.body);
    let started: serde_json::Value = serde_json::from_str(&started.body).unwrap();
    assert_eq!(started["externalApplicationId"], "LOAN-2026-000123");
    let link = started["link"].as_str().unwrap().to_owned();
    let back = e2e_tests::rehearsal::steps::at_bank_and_back(&r, &link, "success").await;
    assert_eq!(back.status, 200, "{}", back.body);
    r.deliver_imports(1).await;

    // Read back, by the lender's id: state and analysis; the read recorded with the caller.
    let read = api_get(
        "/api/application",
        "externalApplicationId=LOAN-2026-000123".to_owned(),
    )
    .await;
    assert_eq!(read.status, 200, "{}", read.body);
    let state: serde_json::Value = serde_json::from_str(&read.body).unwrap();
    assert_eq!(state["status"], "needs_review", "{state}");
    assert_eq!(state["analysis"]["ownerMismatch"], true, "{state}");
    assert_eq!(state["signIns"][0]["outcome"], "imported", "{state}");
    assert!(
        !read.body.contains("api.applicant@example.com"),
        "no address in the answer"
    );
    use signin_core::ports::CaseStore;
    let key = signin_core::domain::Email::parse("api.applicant@example.com")
        .unwrap()
        .user_key();
    let views = r.store().case_views(&key).await.unwrap();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].by, caller);
    let unknown = api_get(
        "/api/application",
        "externalApplicationId=LOAN-0".to_owned(),
    )
    .await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);

    // Listed as changed since before the start.
    let since = (chrono::Utc::now() - chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let changed = api_get("/api/applications", format!("changedSince={since}")).await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let changed: serde_json::Value = serde_json::from_str(&changed.body).unwrap();
    assert!(
        changed["applications"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["externalApplicationId"] == "LOAN-2026-000123"),
        "{changed}"
    );

    // A credit officer finds it, opens it and asks for more: the case pages and the decision
    // under the staff function's own role.
    let (signed_in, cookies) = staff_sign_in(&r, officer, "/cases").await;
    assert_eq!(signed_in.headers["location"], "/cases");
    let cookies: Vec<&str> = cookies.iter().map(String::as_str).collect();
    let reference = state["reference"].as_str().unwrap().to_owned();
    let list = r
        .http(HttpRequest {
            method: "GET",
            path: "/cases",
            query: "status=needs_review",
            cookies: &cookies,
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains(&reference), "{}", list.body);
    let page = r
        .http(HttpRequest {
            method: "GET",
            path: "/cases/view",
            query: &format!("case={reference}"),
            cookies: &cookies,
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(r#"id="owner-mismatch""#),
        "{}",
        page.body
    );
    let form = format!(
        "formToken={}&case={reference}&kind=more_information&message=Another+bank%2C+please.",
        e2e_tests::form_token_in(page.body.split(r#"action="/cases/decide""#).nth(1).unwrap())
    );
    let decided = r
        .http(HttpRequest {
            method: "POST",
            path: "/cases/decide",
            form: Some(&form),
            cookies: &cookies,
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(decided.status, 303, "{}", decided.body);
    assert!(
        decided.headers["location"].ends_with("sent=1"),
        "{:?}",
        decided.headers
    );
    let mails = r.moto.mails().await;
    assert!(
        mails.iter().any(
            |m| m.to == "api.applicant@example.com" && m.text.contains("Another bank, please.")
        ),
        "{mails:?}"
    );
    let after = api_get(
        "/api/application",
        "externalApplicationId=LOAN-2026-000123".to_owned(),
    )
    .await;
    let after: serde_json::Value = serde_json::from_str(&after.body).unwrap();
    assert_eq!(after["status"], "decided", "{after}");
    assert_eq!(
        after["latestDecision"]["kind"], "more_information",
        "{after}"
    );

    // Every event of the sign-in carries the lender's id, and so does the decision's.
    let events = r.events().await;
    let (_, decision) = events
        .iter()
        .find(|(kind, _)| kind == "application.decided")
        .unwrap_or_else(|| panic!("no application.decided: {events:?}"));
    assert_eq!(decision["externalApplicationId"], "LOAN-2026-000123");
    assert_eq!(decision["reason"], "more_information");
    assert!(!decision.to_string().contains("Another bank"), "{decision}");
    let of_sign_in: Vec<_> = events
        .iter()
        .filter(|(kind, _)| kind.starts_with("signin."))
        .collect();
    assert!(of_sign_in.len() >= 3, "{events:?}");
    for (kind, detail) in of_sign_in {
        assert_eq!(
            detail["externalApplicationId"], "LOAN-2026-000123",
            "{kind}"
        );
    }

    assert!(r.denials().is_empty(), "{:#?}", r.denials());
    assert!(
        !r.all_logs().contains("AccessDenied"),
        "a call outside a function's policy:\n{}",
        r.all_logs()
    );
}
