//! `template.yaml` says what the code relies on: every variable a function reads is set, every
//! AWS action a function performs is granted (and nothing more), table and index names match the
//! adapter, the queue outlives the worker. The IAM part is checked twice: template == the list in
//! `signin_runtime::iam`, and everything the handlers really did in an end-to-end run (recorded
//! by an SDK interceptor) ⊆ that list.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use chrono::Duration;
use e2e_tests::flow::Flow;
use kontomatik_sandbox::UserAction;
use serde_yaml_ng::Value;
use signin_aws::schema;
use signin_core::config::VARIABLES;
use signin_runtime::iam;

fn template() -> Value {
    serde_yaml_ng::from_str(include_str!("../../template.yaml")).unwrap()
}

/// `v[key]` through mappings, looking through CloudFormation tags (`!Ref`, `!Sub`…).
fn get<'a>(v: &'a Value, key: &str) -> &'a Value {
    let v = untag(v);
    v.get(key).unwrap_or_else(|| panic!("template: no {key}"))
}

fn untag(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => &t.value,
        other => other,
    }
}

fn strings(v: &Value) -> Vec<String> {
    match untag(v) {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        Value::Number(n) => vec![n.to_string()],
        _ => vec![],
    }
}

fn functions(t: &Value) -> Vec<(String, Value)> {
    get(t, "Resources")
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function"))
        .map(|(k, r)| (k.as_str().unwrap().to_owned(), r.clone()))
        .collect()
}

fn binary(f: &Value) -> String {
    get(get(get(f, "Metadata"), "BuildProperties"), "Binary")
        .as_str()
        .unwrap()
        .to_owned()
}

fn granted(f: &Value) -> (BTreeSet<String>, Vec<String>) {
    let mut actions = BTreeSet::new();
    let mut resources = vec![];
    for policy in get(get(f, "Properties"), "Policies").as_sequence().unwrap() {
        for st in get(policy, "Statement").as_sequence().unwrap() {
            assert_eq!(get(st, "Effect").as_str(), Some("Allow"));
            actions.extend(strings(get(st, "Action")));
            resources.extend(
                match untag(get(st, "Resource")) {
                    Value::Sequence(s) => s.clone(),
                    other => vec![other.clone()],
                }
                .iter()
                .map(|r| format!("{r:?}")),
            );
        }
    }
    (actions, resources)
}

fn declared(binary: &str) -> BTreeSet<String> {
    iam::FUNCTIONS
        .iter()
        .find(|(b, _)| *b == binary)
        .unwrap_or_else(|| panic!("{binary} has no IAM list"))
        .1
        .iter()
        .map(|a| (*a).to_owned())
        .collect()
}

#[test]
fn every_function_is_a_cargo_lambda_arm64_build_of_a_workspace_binary() {
    let t = template();
    let globals = get(get(&t, "Globals"), "Function");
    assert_eq!(get(globals, "Runtime").as_str(), Some("provided.al2023"));
    assert_eq!(strings(get(globals, "Architectures")), vec!["arm64"]);
    let fns = functions(&t);
    assert_eq!(fns.len(), 4);
    let mut binaries = BTreeSet::new();
    for (name, f) in &fns {
        assert_eq!(
            get(get(f, "Metadata"), "BuildMethod").as_str(),
            Some("rust-cargolambda"),
            "{name}"
        );
        let b = binary(f);
        let manifest = format!("{}/../functions/{b}/Cargo.toml", env!("CARGO_MANIFEST_DIR"));
        assert!(
            std::path::Path::new(&manifest).exists(),
            "{name}: no package {b}"
        );
        binaries.insert(b);
    }
    let expected: BTreeSet<String> = iam::FUNCTIONS
        .iter()
        .map(|(b, _)| (*b).to_owned())
        .collect();
    assert_eq!(binaries, expected);
}

#[test]
fn every_variable_the_code_reads_is_set() {
    let t = template();
    let vars: BTreeSet<String> = get(
        get(get(get(&t, "Globals"), "Function"), "Environment"),
        "Variables",
    )
    .as_mapping()
    .unwrap()
    .keys()
    .map(|k| k.as_str().unwrap().to_owned())
    .collect();
    for (name, _) in VARIABLES {
        let via_ssm =
            signin_runtime::SECRETS.contains(name) && vars.contains(&format!("{name}_PARAMETER"));
        assert!(
            vars.contains(*name) || via_ssm,
            "{name} is not set in template.yaml"
        );
        if signin_runtime::SECRETS.contains(name) {
            assert!(
                !vars.contains(*name),
                "{name} must come from SSM, not a plain variable"
            );
        }
    }
    for (name, f) in functions(&t) {
        if let Some(env) = f["Properties"].get("Environment") {
            panic!("{name} overrides the environment: {env:?}");
        }
    }
}

#[test]
fn each_function_is_granted_exactly_what_it_needs_on_named_resources() {
    let t = template();
    for (name, f) in functions(&t) {
        let (actions, resources) = granted(&f);
        assert_eq!(actions, declared(&binary(&f)), "{name}");
        for a in &actions {
            assert!(!a.contains('*'), "{name}: wildcard action {a}");
        }
        for r in &resources {
            assert!(!r.contains("\"*\""), "{name}: wildcard resource {r}");
        }
    }
    let poller = functions(&t)
        .into_iter()
        .find(|(_, f)| binary(f) == "status-poller")
        .unwrap()
        .1;
    let text = format!("{:?}", poller["Properties"]["Policies"]);
    assert!(
        text.contains(&format!("/index/{}", schema::POLL_INDEX)),
        "the poller queries the poll index only"
    );
}

#[test]
fn table_names_match_the_adapter() {
    let t = template();
    let table = get(get(get(&t, "Resources"), "Table"), "Properties");
    assert_eq!(get(table, "BillingMode").as_str(), Some("PAY_PER_REQUEST"));
    let ttl = get(table, "TimeToLiveSpecification");
    assert_eq!(get(ttl, "AttributeName").as_str(), Some(schema::TTL));
    assert_eq!(get(ttl, "Enabled").as_bool(), Some(true));
    assert_eq!(
        get(
            get(table, "PointInTimeRecoverySpecification"),
            "PointInTimeRecoveryEnabled"
        )
        .as_bool(),
        Some(true)
    );
    assert_eq!(
        get(get(table, "SSESpecification"), "SSEEnabled").as_bool(),
        Some(true)
    );
    let keys: Vec<String> = get(table, "KeySchema")
        .as_sequence()
        .unwrap()
        .iter()
        .map(|k| get(k, "AttributeName").as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys, vec![schema::PK, schema::SK]);
    let gsi = &get(table, "GlobalSecondaryIndexes").as_sequence().unwrap()[0];
    assert_eq!(get(gsi, "IndexName").as_str(), Some(schema::POLL_INDEX));
    let gsi_keys: Vec<String> = get(gsi, "KeySchema")
        .as_sequence()
        .unwrap()
        .iter()
        .map(|k| get(k, "AttributeName").as_str().unwrap().to_owned())
        .collect();
    assert_eq!(gsi_keys, vec![schema::GSI1PK, schema::GSI1SK]);
    assert!(
        strings(get(get(gsi, "Projection"), "NonKeyAttributes")).contains(&schema::TTL.to_owned())
    );
}

#[test]
fn the_queue_outlives_the_worker_and_failures_are_per_message() {
    let t = template();
    let resources = get(&t, "Resources");
    let worker = functions(&t)
        .into_iter()
        .find(|(_, f)| binary(f) == "import-worker")
        .unwrap()
        .1;
    let timeout = get(get(&worker, "Properties"), "Timeout").as_u64().unwrap();
    let queue = get(get(resources, "ImportQueue"), "Properties");
    let visibility = get(queue, "VisibilityTimeout").as_u64().unwrap();
    assert!(
        visibility >= 6 * timeout,
        "visibility {visibility}s vs worker {timeout}s"
    );
    assert!(
        get(get(queue, "RedrivePolicy"), "maxReceiveCount")
            .as_u64()
            .unwrap()
            >= 3
    );
    let event = get(
        get(get(get(&worker, "Properties"), "Events"), "Imports"),
        "Properties",
    );
    assert_eq!(
        strings(get(event, "FunctionResponseTypes")),
        vec!["ReportBatchItemFailures"]
    );
    assert!(
        get(get(event, "ScalingConfig"), "MaximumConcurrency")
            .as_u64()
            .unwrap()
            >= 2
    );
    let poller = functions(&t)
        .into_iter()
        .find(|(_, f)| binary(f) == "status-poller")
        .unwrap()
        .1;
    assert!(
        get(get(&poller, "Properties"), "Timeout").as_u64().unwrap() < 60,
        "a poller run ends before the next minute's run"
    );
}

#[test]
fn the_callback_route_is_the_redirect_uri_path() {
    let t = template();
    let callback = functions(&t)
        .into_iter()
        .find(|(_, f)| binary(f) == "callback")
        .unwrap()
        .1;
    let text = format!("{:?}", callback["Properties"]["Events"]);
    assert!(text.contains(signin_core::CALLBACK_PATH));
}

/// Everything the handlers did in real flows is in their IAM lists.
#[tokio::test]
async fn the_handlers_perform_only_the_actions_they_are_granted() {
    let f = Flow::start().await;
    // Happy path with a callback.
    let link = f
        .start_sign_in(&f.email("iam"), true)
        .await
        .location
        .unwrap();
    let back = f.sign_in_at_bank(&link, "success", "DemoBank").await;
    f.come_back(&back).await;
    f.deliver_imports().await;
    // The link by email; a late success found by the poller; a failing import.
    let form = format!(
        "email={}&name=I&delivery=email",
        f.email("iam2").replace('@', "%40")
    );
    assert_eq!(f.http("POST", "/start", Some(&form)).await.status, 200);
    let quiet = f
        .start_sign_in(&f.email("iam3"), true)
        .await
        .location
        .unwrap();
    f.sandbox
        .handle
        .act(
            Flow::id_of(&quiet).as_str(),
            UserAction::Succeed,
            Some("FlakyBank"),
        )
        .unwrap();
    f.advance(Duration::minutes(6));
    f.run_poller().await;
    f.deliver_imports().await;

    let recorded = f.recorded_actions();
    for (function, actions) in &recorded {
        assert!(!actions.is_empty(), "{function} did something");
        let allowed = declared(function);
        let extra: Vec<_> = actions.difference(&allowed).collect();
        assert!(
            extra.is_empty(),
            "{function} performed {extra:?}, not in its IAM list"
        );
    }
    assert!(recorded["status-poller"].contains("dynamodb:Query"));
    assert!(recorded["import-worker"].contains("ses:SendEmail"));
    assert!(recorded["callback"].contains("sqs:SendMessage"));
}

#[tokio::test]
async fn secrets_come_from_ssm_parameters() {
    let aws = signin_aws::testing::sdk_config().await;
    let ssm = aws_sdk_ssm::Client::new(&aws);
    let name = format!("/signin/{}", signin_core::contract::unique("key"));
    ssm.put_parameter()
        .name(&name)
        .value("kontomatik-secret-value")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let env = |k: &str| match k {
        "KONTOMATIK_API_KEY_PARAMETER" => Some(name.clone()),
        "LINK_SIGNING_KEY" => Some("plain-value-wins-over-nothing".into()),
        _ => None,
    };
    let resolved = signin_runtime::resolve_secrets(&aws, &env).await.unwrap();
    assert_eq!(resolved["KONTOMATIK_API_KEY"], "kontomatik-secret-value");
    assert!(
        !resolved.contains_key("LINK_SIGNING_KEY"),
        "a set variable is kept"
    );

    let missing =
        |k: &str| (k == "KONTOMATIK_API_KEY_PARAMETER").then(|| "/no/such/param".to_owned());
    let err = signin_runtime::resolve_secrets(&aws, &missing)
        .await
        .unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("KONTOMATIK_API_KEY") && shown.contains("/no/such/param"),
        "{shown}"
    );
}
