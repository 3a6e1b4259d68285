//! `template.yaml` deploys what the code is: each function of `signin_runtime::functions`
//! exists once, with exactly its routes, exactly the variables it reads (Globals merged with its
//! own, secrets as `<NAME>_PARAMETER`), and exactly its grants — every statement's actions on the
//! ARN of the resource it means — checked in both directions on the template as CloudFormation
//! would resolve it (tests/src/template/). The table and queue settings match the adapters.
//! Everything the handlers really did in an end-to-end run (recorded by an SDK interceptor) is
//! within the table's actions; the deploy rehearsal (rehearsal.rs) enforces the same with IAM.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use chrono::Duration;
use e2e_tests::flow::Flow;
use e2e_tests::template::{
    physical, DeployedFunction, EventSource, Stack, ACCOUNT, PARTITION, REGION,
};
use kontomatik_sandbox::UserAction;
use serde_yaml_ng::Value;
use signin_aws::schema;
use signin_core::config::vars;
use signin_runtime::functions::{adapter_actions, Function, Resource, Trigger, FUNCTIONS, SECRETS};
use signin_web::Route;

fn template() -> Value {
    e2e_tests::template::source()
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

const STACK: &str = "signin-check";
const SENDER: &str = "no-reply@mail.lender.example";
const EVENT_BUS: &str = "crm-events";

/// The template resolved with a full parameter set: a custom domain, and the optional parts (the
/// stats token, the staff sign-in, the event bus) all on or all off.
fn stack(optional_parts: bool) -> Stack {
    let mut params = vec![
        ("Stage", "prod"),
        ("DomainName", "signin.lender.example"),
        (
            "CertificateArn",
            "arn:aws:acm:eu-central-1:123456789012:certificate/abc",
        ),
        ("SenderEmail", SENDER),
        ("KontomatikApiKeyParameter", "/check/kontomatik-api-key"),
        ("LinkSigningKeyParameter", "/check/link-signing-key"),
    ];
    if optional_parts {
        params.push(("StatsTokenParameter", "/check/stats-token"));
        params.push(("StaffEmails", "anna@lender.example,bo@lender.example"));
        params.push(("EventBusName", EVENT_BUS));
        params.push(("KontomatikJobsQuota", "100"));
        params.push(("EdgeWebAclArn", EDGE_ACL));
        params.push(("EdgeCertificateArn", EDGE_CERT));
        params.push(("EdgeOriginSecretParameter", "/check/edge-origin-secret"));
        params.push(("EdgeOriginCheck", "require"));
        params.push(("AllowedCountries", "pl,cz"));
        params.push(("LenderApiPrincipal", LENDER_APP));
    }
    Stack::new(
        STACK,
        &params,
        &[],
        physical(
            STACK,
            "signin-check-Table",
            "https://sqs.eu-central-1.amazonaws.com/123456789012/signin-check-imports",
            "https://sqs.eu-central-1.amazonaws.com/123456789012/signin-check-dlq",
        ),
    )
    .unwrap()
}

fn one_of<'a>(stack: &'a [DeployedFunction], f: &Function) -> &'a DeployedFunction {
    let found: Vec<_> = stack.iter().filter(|d| d.binary == f.name).collect();
    assert_eq!(
        found.len(),
        1,
        "{} is deployed {} times",
        f.name,
        found.len()
    );
    found[0]
}

/// The (action, ARN) pairs the functions table says `f` needs, with ARNs as the template's
/// parameters and resources make them.
fn expected_grants(
    stack: &Stack,
    f: &Function,
    d: &DeployedFunction,
) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for grant in f.grants {
        for arn in arns(stack, grant.resource, d) {
            for a in grant.actions {
                out.insert(((*a).to_owned(), arn.clone()));
            }
        }
    }
    out
}

/// The ARNs the template's parameters and resources make for a resource of the table.
fn arns(stack: &Stack, resource: Resource, d: &DeployedFunction) -> Vec<String> {
    let table_arn = format!("arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/signin-check-Table");
    match resource {
        Resource::Table => vec![table_arn.clone()],
        Resource::PollIndex => vec![format!("{table_arn}/index/{}", schema::POLL_INDEX)],
        Resource::CaseIndex => vec![format!("{table_arn}/index/{}", schema::CASE_INDEX)],
        Resource::ImportQueue => vec![format!(
            "arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:signin-check-imports"
        )],
        // From the stack's parameters, not from the function's environment: a variable and
        // a policy that both name the wrong parameter must not agree with each other.
        Resource::Parameter(secret) => stack
            .parameters
            .get(secret_parameter(secret))
            .filter(|name| !name.is_empty())
            .map(|name| format!("arn:{PARTITION}:ssm:{REGION}:{ACCOUNT}:parameter{name}"))
            .into_iter()
            .collect(),
        Resource::MailSending => {
            let sender = &d.environment["SENDER_EMAIL"];
            let domain = sender.split('@').nth(1).unwrap();
            let set = &d.environment["SES_CONFIGURATION_SET"];
            assert_eq!(sender, SENDER);
            assert_eq!(set, &format!("{STACK}-mail"));
            vec![
                format!("arn:{PARTITION}:ses:{REGION}:{ACCOUNT}:identity/{sender}"),
                format!("arn:{PARTITION}:ses:{REGION}:{ACCOUNT}:identity/{domain}"),
                format!("arn:{PARTITION}:ses:{REGION}:{ACCOUNT}:configuration-set/{set}"),
            ]
        }
        // From the stack's parameter: off (empty) grants nothing.
        Resource::EventBus => stack
            .parameters
            .get("EventBusName")
            .filter(|name| !name.is_empty())
            .map(|name| format!("arn:{PARTITION}:events:{REGION}:{ACCOUNT}:event-bus/{name}"))
            .into_iter()
            .collect(),
    }
}

/// The template parameter that names the SSM parameter holding `secret`.
fn secret_parameter(secret: &str) -> &'static str {
    match secret {
        "KONTOMATIK_API_KEY" => "KontomatikApiKeyParameter",
        "LINK_SIGNING_KEY" => "LinkSigningKeyParameter",
        "STATS_TOKEN" => "StatsTokenParameter",
        "EDGE_ORIGIN_SECRET" => "EdgeOriginSecretParameter",
        other => panic!("a secret without a template parameter: {other}"),
    }
}

/// What each variable that names a resource or a stack parameter must hold.
fn expected_value(stack: &Stack, variable: &str) -> Option<String> {
    if let Some(secret) = variable.strip_suffix("_PARAMETER") {
        return Some(stack.parameters[secret_parameter(secret)].clone());
    }
    Some(match variable {
        "TABLE_NAME" => "signin-check-Table".into(),
        "IMPORT_QUEUE_URL" => {
            "https://sqs.eu-central-1.amazonaws.com/123456789012/signin-check-imports".into()
        }
        "SENDER_EMAIL" => SENDER.into(),
        "SES_CONFIGURATION_SET" => format!("{STACK}-mail"),
        "PUBLIC_BASE_URL" => "https://signin.lender.example".into(),
        "KONTOMATIK_BASE_URL" => stack.parameters["KontomatikBaseUrl"].clone(),
        "EVENT_BUS_NAME" => EVENT_BUS.into(),
        _ => return None,
    })
}

fn granted(d: &DeployedFunction) -> BTreeSet<(String, String)> {
    d.statements
        .iter()
        .flat_map(|s| {
            s.actions
                .iter()
                .flat_map(move |a| s.resources.iter().map(move |r| (a.clone(), r.clone())))
        })
        .collect()
}

/// The lender's systems' role (the template parameter `LenderApiPrincipal`).
const LENDER_APP: &str = "arn:aws:iam::210987654321:role/lender-app";

/// The lender's API is reached only through IAM: exactly its routes (by the routes table) have
/// the `AWS_IAM` authorizer, the HTTP API allows that authorizer, no catch-all route could carry
/// a request to a function past it, and the role the lender's systems assume may invoke those
/// routes and nothing else. (A request that still reached a function unsigned is refused there:
/// `rehearsal::the_lenders_api_runs_with_iam_callers_only`.)
#[test]
fn the_lenders_api_is_reached_only_through_iam() {
    let stack = stack(true);
    let deployed = stack.functions();
    let mut iam_routes = BTreeSet::new();
    for d in &deployed {
        for e in &d.events {
            if let EventSource::HttpApi { method, path, iam } = e {
                assert!(
                    path.starts_with('/') && !path.contains('{') && !path.contains('*'),
                    "{method} {path}: no catch-all route"
                );
                let route = Route::of(method, path)
                    .unwrap_or_else(|| panic!("{method} {path} is not a route we serve"));
                assert_eq!(*iam, route.needs_iam(), "{method} {path}: its authorizer");
                if *iam {
                    iam_routes.insert(format!("{method}{path}"));
                }
            }
        }
    }
    let api: BTreeSet<String> = Route::ALL
        .iter()
        .filter(|r| r.needs_iam())
        .map(|r| format!("{}{}", r.method(), r.path()))
        .collect();
    assert_eq!(iam_routes, api, "every API route is deployed with IAM");
    assert_eq!(api.len(), 3);
    assert_eq!(
        stack.properties("HttpApi")["Auth"]["EnableIamAuthorizer"],
        serde_json::json!(true)
    );

    assert!(stack.creates("LenderApiRole"));
    let role = stack.properties("LenderApiRole");
    assert_eq!(
        role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["AWS"],
        serde_json::json!(LENDER_APP)
    );
    let statements = role["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(statements.len(), 1);
    assert_eq!(
        statements[0]["Action"],
        serde_json::json!("execute-api:Invoke")
    );
    let invoked: BTreeSet<String> = statements[0]["Resource"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let arn = r.as_str().unwrap();
            let (_, route) = arn
                .split_once("/*/")
                .unwrap_or_else(|| panic!("{arn}: any stage, one route"));
            assert!(
                arn.starts_with(&format!("arn:{PARTITION}:execute-api:{REGION}:{ACCOUNT}:")),
                "{arn}"
            );
            route.to_owned()
        })
        .collect();
    assert_eq!(
        invoked, api,
        "the lender's role invokes the API routes, nothing else"
    );

    // Without the parameter there is no role.
    assert!(!self::stack(false).creates("LenderApiRole"));
}

/// The public function that erases people may delete and query only people's partitions (the
/// key prefixes of `signin_aws::schema`): never the funnel's counters, the abuse limits or the
/// spent form tokens, which a bug or a hostile request could otherwise reset.
#[test]
fn the_public_function_deletes_and_queries_only_peoples_partitions() {
    use signin_aws::schema::{
        CASES_PREFIX, CASE_ALIAS_PREFIX, CASE_INDEX, LOGIN_PREFIX, OWNER_PREFIX,
        REDIRECTION_PREFIX, USER_PREFIX,
    };
    let deployed = stack(true).functions();
    let f = deployed
        .iter()
        .find(|f| f.logical_id == "UnsubscribeAndStatsFunction")
        .expect("the public function");
    let prefixes = |of: &[&str]| -> Vec<String> { of.iter().map(|p| format!("{p}*")).collect() };
    let people = prefixes(&[
        USER_PREFIX,
        REDIRECTION_PREFIX,
        OWNER_PREFIX,
        LOGIN_PREFIX,
        CASE_ALIAS_PREFIX,
    ]);
    let case_index = format!("/index/{CASE_INDEX}");
    let mut seen = BTreeSet::new();
    for st in &f.statements {
        for action in ["dynamodb:DeleteItem", "dynamodb:Query"] {
            if st.actions.iter().any(|a| a == action) {
                // The case list queries the case index, by status partitions only.
                let on_index = st.resources.iter().all(|r| r.ends_with(&case_index));
                seen.insert((action, on_index));
                let allowed = if on_index {
                    prefixes(&[CASES_PREFIX])
                } else {
                    people.clone()
                };
                assert_eq!(
                    st.condition,
                    serde_json::json!({"ForAllValues:StringLike": {"dynamodb:LeadingKeys": allowed}}),
                    "{}: {action}",
                    st.sid
                );
            }
        }
    }
    assert_eq!(
        seen.len(),
        3,
        "it deletes and queries people's items, and queries the case index: {seen:?}"
    );
}

/// A function that may send email may send it only from the sender address: a bug (or an
/// attacker steering a template) cannot make it mail as anyone else of the verified domain.
#[test]
fn every_send_email_grant_is_bound_to_the_sender_address() {
    let mut mailing = 0;
    for f in stack(true).functions() {
        for st in &f.statements {
            if !st.actions.iter().any(|a| a == "ses:SendEmail") {
                continue;
            }
            mailing += 1;
            assert_eq!(
                st.condition,
                serde_json::json!({"StringEquals": {"ses:FromAddress": SENDER}}),
                "{}: {}",
                f.logical_id,
                st.sid
            );
        }
    }
    assert_eq!(mailing, 4, "the four functions that send email");
}

#[test]
fn every_function_is_a_cargo_lambda_arm64_build_of_a_workspace_binary() {
    let t = template();
    let globals = get(get(&t, "Globals"), "Function");
    assert_eq!(get(globals, "Runtime").as_str(), Some("provided.al2023"));
    assert_eq!(strings(get(globals, "Architectures")), vec!["arm64"]);
    let resources = get(&t, "Resources").as_mapping().unwrap();
    for (id, r) in resources {
        if r.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        assert_eq!(
            get(get(r, "Metadata"), "BuildMethod").as_str(),
            Some("rust-cargolambda"),
            "{id:?}"
        );
    }
    let deployed = stack(true).functions();
    let binaries: BTreeSet<&str> = deployed.iter().map(|d| d.binary.as_str()).collect();
    let table: BTreeSet<&str> = FUNCTIONS.iter().map(|f| f.name).collect();
    assert_eq!(
        binaries, table,
        "the template deploys exactly the table's functions"
    );
    assert_eq!(deployed.len(), FUNCTIONS.len());
    for b in binaries {
        let manifest = format!("{}/../functions/{b}/Cargo.toml", env!("CARGO_MANIFEST_DIR"));
        assert!(std::path::Path::new(&manifest).exists(), "no package {b}");
    }
}

#[test]
fn each_function_gets_exactly_the_variables_it_reads() {
    for optional_parts in [true, false] {
        let stack = stack(optional_parts);
        let deployed = stack.functions();
        for f in FUNCTIONS {
            let d = one_of(&deployed, f);
            let mut expected = f.environment();
            expected.insert("RUST_LOG".into());
            if !optional_parts {
                expected.remove("STATS_TOKEN_PARAMETER");
                expected.remove("STAFF_EMAILS");
                expected.remove("EVENT_BUS_NAME");
                expected.remove("KONTOMATIK_JOBS_QUOTA");
                expected.remove("EDGE_ORIGIN_SECRET_PARAMETER");
                expected.remove("EDGE_ORIGIN_CHECK");
                expected.remove("ALLOWED_COUNTRIES");
                expected.remove("LENDER_API_ROLE");
            }
            let got: BTreeSet<String> = d.environment.keys().cloned().collect();
            assert_eq!(
                got, expected,
                "{} (optional parts {optional_parts})",
                f.name
            );
            for secret in SECRETS {
                assert!(
                    !d.environment.contains_key(secret),
                    "{}: {secret} must come from SSM, not a plain variable",
                    f.name
                );
            }
            for (k, v) in &d.environment {
                assert!(!v.is_empty(), "{}: an empty variable", f.name);
                if let Some(expected) = expected_value(&stack, k) {
                    assert_eq!(v, &expected, "{}: {k}", f.name);
                }
            }
        }
    }
}

#[test]
fn every_required_variable_is_read_by_some_function() {
    for name in &vars::required().map(|v| v.name).collect::<Vec<_>>() {
        assert!(
            FUNCTIONS.iter().any(|f| f.reads.contains(name)),
            "{name} is documented as required but no function reads it"
        );
    }
}

#[test]
fn each_function_serves_exactly_its_routes() {
    let deployed = stack(true).functions();
    for f in FUNCTIONS {
        let d = one_of(&deployed, f);
        match f.trigger {
            Trigger::Http(routes) => {
                let expected: BTreeSet<(String, String)> = routes
                    .iter()
                    .map(|r| (r.method().to_owned(), r.path().to_owned()))
                    .collect();
                let got: BTreeSet<(String, String)> = d
                    .events
                    .iter()
                    .map(|e| match e {
                        EventSource::HttpApi { method, path, .. } => (method.clone(), path.clone()),
                        other => panic!("{}: an HTTP function with {other:?}", f.name),
                    })
                    .collect();
                assert_eq!(got, expected, "{}", f.name);
            }
            Trigger::Schedule => {
                assert!(
                    matches!(d.events.as_slice(), [EventSource::Schedule { expression, enabled: true }] if expression == "rate(1 minute)"),
                    "{}: {:?}",
                    f.name,
                    d.events
                );
            }
            Trigger::ImportQueue => {
                assert!(
                    matches!(d.events.as_slice(), [EventSource::Sqs { queue_arn, report_batch_item_failures: true, .. }] if queue_arn.ends_with(":signin-check-imports")),
                    "{}: {:?}",
                    f.name,
                    d.events
                );
            }
        }
    }
}

#[test]
fn each_function_is_granted_exactly_its_actions_on_the_resources_it_means() {
    for optional_parts in [true, false] {
        let stack = stack(optional_parts);
        let deployed = stack.functions();
        for f in FUNCTIONS {
            let d = one_of(&deployed, f);
            let expected = expected_grants(&stack, f, d);
            let got = granted(d);
            let missing: Vec<_> = expected.difference(&got).collect();
            let extra: Vec<_> = got.difference(&expected).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{} (optional parts {optional_parts}): missing {missing:?}, extra {extra:?}",
                f.name
            );
            for (a, r) in &got {
                assert!(
                    !a.contains('*') && !r.contains('*'),
                    "{}: wildcard {a} {r}",
                    f.name
                );
            }
        }
    }
}

/// Every port method a function's use cases can call (`Function::calls`) is granted by the
/// template: its adapter's actions (`ADAPTER_ACTIONS`) on the resource's ARN. Events off, the
/// event bus adapter calls nothing.
#[test]
fn every_port_method_a_function_calls_is_granted_by_the_template() {
    let mut missing_grants = vec![];
    for optional_parts in [true, false] {
        let stack = stack(optional_parts);
        let deployed = stack.functions();
        for f in FUNCTIONS {
            let d = one_of(&deployed, f);
            let got = granted(d);
            for call in f.calls {
                let (resource, actions) = adapter_actions(call)
                    .unwrap_or_else(|| panic!("{}: {call} has no adapter entry", f.name));
                let needed: BTreeSet<(String, String)> = arns(&stack, resource, d)
                    .into_iter()
                    .flat_map(|arn| actions.iter().map(move |a| ((*a).to_owned(), arn.clone())))
                    .collect();
                let missing: Vec<_> = needed.difference(&got).collect();
                if !missing.is_empty() {
                    missing_grants.push(format!(
                        "{} (optional parts {optional_parts}): {call} needs {missing:?}, not granted by template.yaml",
                        f.name
                    ));
                }
            }
        }
    }
    assert!(missing_grants.is_empty(), "{}", missing_grants.join("\n"));
}

/// The case that motivated the table: with a stats token, only the function that serves
/// /stats may read (and is given) its parameter; every other function starts without it.
#[test]
fn the_stats_token_reaches_only_the_function_that_serves_stats() {
    let stack = stack(true);
    for d in stack.functions() {
        let f = Function::by_name(&d.binary).unwrap();
        let serves_stats = f.routes().contains(&signin_web::Route::Stats);
        assert_eq!(
            d.environment.contains_key("STATS_TOKEN_PARAMETER"),
            serves_stats,
            "{}",
            f.name
        );
        let can_read = granted(&d)
            .iter()
            .any(|(a, r)| a == "ssm:GetParameter" && r.ends_with("/check/stats-token"));
        assert_eq!(can_read, serves_stats, "{}", f.name);
    }
}

#[test]
fn parameters_are_checked_like_cloudformation_does() {
    let bad = Stack::new(
        STACK,
        &[
            ("SenderEmail", SENDER),
            ("PublicBaseUrl", "https://x.example"),
            ("KontomatikBaseUrl", "http://127.0.0.1:1"),
        ],
        &[],
        physical(STACK, "t", "https://q/i", "https://q/d"),
    );
    assert!(bad.err().unwrap().contains("KontomatikBaseUrl"));
    let trailing_slash = Stack::new(
        STACK,
        &[
            ("SenderEmail", SENDER),
            ("PublicBaseUrl", "https://x.example/"),
        ],
        &[],
        physical(STACK, "t", "https://q/i", "https://q/d"),
    );
    assert!(trailing_slash.err().unwrap().contains("PublicBaseUrl"));
}

/// A first deploy needs no domain: with neither `DomainName` nor `PublicBaseUrl`, the pages are
/// served at the HTTP API's own URL. The functions cannot name the API in their environment
/// (its routes name them: a circular dependency CloudFormation refuses), so the stack writes
/// the URL to an SSM parameter whose name each function gets as `PUBLIC_BASE_URL_PARAMETER`
/// and may read; the outputs give the same URL. With a `PublicBaseUrl` (or a domain) none of it.
#[test]
fn a_first_deploy_without_a_domain_serves_the_pages_at_the_apis_own_url() {
    let api_url = "https://rehearsal1.execute-api.eu-central-1.amazonaws.com";
    let stack = Stack::new(
        STACK,
        &[("SenderEmail", SENDER)],
        &[],
        physical(STACK, "t", "https://q/i", "https://q/d"),
    )
    .expect("a stack without a domain or a URL");
    assert!(stack.creates("ApiUrlParameter"));
    let parameter = stack.properties("ApiUrlParameter");
    assert_eq!(parameter["Value"], api_url);
    assert_eq!(parameter["Type"], "String");
    let name = parameter["Name"].as_str().unwrap().to_owned();
    assert!(name.starts_with('/'), "{name}");
    let arn = format!("arn:{PARTITION}:ssm:{REGION}:{ACCOUNT}:parameter{name}");
    let deployed = stack.functions();
    assert_eq!(deployed.len(), FUNCTIONS.len());
    for d in &deployed {
        let f = Function::by_name(&d.binary).unwrap();
        assert!(f.reads.contains(&"PUBLIC_BASE_URL"), "{}", d.binary);
        assert!(
            !d.environment.contains_key("PUBLIC_BASE_URL"),
            "{}: {:?}",
            d.binary,
            d.environment.get("PUBLIC_BASE_URL")
        );
        assert_eq!(
            d.environment.get("PUBLIC_BASE_URL_PARAMETER"),
            Some(&name),
            "{}",
            d.binary
        );
        assert!(
            granted(d).contains(&("ssm:GetParameter".to_owned(), arn.clone())),
            "{} may not read {name}",
            d.binary
        );
    }
    assert!(signin_runtime::FROM_PARAMETER.contains(&"PUBLIC_BASE_URL"));
    let t = template();
    let output = |name: &str| stack.resolve(get(get(get(&t, "Outputs"), name), "Value"));
    assert_eq!(output("StartPageUrl"), format!("{api_url}/"));
    assert_eq!(
        output("CallbackUrl"),
        format!("{api_url}/kontomatik-signin")
    );
    assert_eq!(output("ApiUrl"), api_url);

    let with_url = Stack::new(
        STACK,
        &[
            ("SenderEmail", SENDER),
            ("PublicBaseUrl", "https://signin.lender.example"),
        ],
        &[],
        physical(STACK, "t", "https://q/i", "https://q/d"),
    )
    .unwrap();
    assert!(!with_url.creates("ApiUrlParameter"));
    for d in with_url.functions() {
        assert_eq!(
            d.environment.get("PUBLIC_BASE_URL").map(String::as_str),
            Some("https://signin.lender.example")
        );
        assert!(!d.environment.contains_key("PUBLIC_BASE_URL_PARAMETER"));
        assert!(!granted(&d)
            .iter()
            .any(|(_, r)| r.ends_with("/public-base-url")));
    }
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
    let stack = stack(true);
    let deployed = stack.functions();
    let worker = one_of(&deployed, &signin_runtime::functions::IMPORT_WORKER);
    let queue = stack.properties("ImportQueue");
    let visibility = queue["VisibilityTimeout"].as_u64().unwrap();
    assert!(
        visibility >= 6 * worker.timeout_seconds,
        "visibility {visibility}s vs worker {}s",
        worker.timeout_seconds
    );
    assert!(queue["RedrivePolicy"]["maxReceiveCount"].as_u64().unwrap() >= 3);
    let [EventSource::Sqs {
        report_batch_item_failures,
        maximum_concurrency,
        ..
    }] = worker.events.as_slice()
    else {
        panic!("the worker has one SQS event source: {:?}", worker.events);
    };
    assert!(report_batch_item_failures);
    assert!(maximum_concurrency.unwrap() >= 2);
    let poller = one_of(&deployed, &signin_runtime::functions::STATUS_POLLER);
    assert!(
        poller.timeout_seconds < 60,
        "a poller run ends before the next minute's run"
    );
}

#[test]
fn the_callback_route_is_the_redirect_uri_path() {
    assert_eq!(
        signin_web::Route::Callback.path(),
        signin_core::CALLBACK_PATH
    );
    let stack = stack(true);
    let deployed = stack.functions();
    let callback = one_of(&deployed, &signin_runtime::functions::CALLBACK);
    assert!(callback.events.contains(&EventSource::HttpApi {
        method: "GET".into(),
        path: signin_core::CALLBACK_PATH.into(),
        iam: false,
    }));
}

/// Everything the handlers did in real flows is in their IAM lists.
#[tokio::test]
async fn the_handlers_perform_only_the_actions_they_are_granted() {
    let mut f = Flow::start().await;
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
        "email={}&name=I&delivery=email&formToken={}",
        f.email("iam2").replace('@', "%40"),
        f.form_token("/start").await
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

    // Stats, with a token.
    f.function_mut("unsubscribe-and-stats")
        .app
        .settings
        .stats_token = Some(signin_core::domain::Secret::new(
        "marketing-token-0123456789abcdef",
    ));
    let stats = f
        .http_with_auth("/stats", "Bearer marketing-token-0123456789abcdef")
        .await;
    assert_eq!(stats.status, 200);
    // Erasure, through the link in the first user's email.
    let mails = f.mails().await;
    let done = mails
        .iter()
        .find(|m| m.to == f.email("iam"))
        .expect("the import email");
    let erase = done
        .text
        .split_whitespace()
        .find(|w| w.contains("/erase?t="))
        .expect("an erase link")
        .to_owned();
    assert_eq!(f.confirm_link(&erase).await.status, 200);

    let recorded = f.recorded_actions();
    for (function, actions) in &recorded {
        assert!(!actions.is_empty(), "{function} did something");
        let allowed: BTreeSet<String> = Function::by_name(function)
            .unwrap()
            .actions()
            .into_iter()
            .map(str::to_owned)
            .collect();
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
    let resolved = signin_runtime::resolve_secrets(&aws, SECRETS, &env)
        .await
        .unwrap();
    assert_eq!(resolved["KONTOMATIK_API_KEY"], "kontomatik-secret-value");
    assert!(
        !resolved.contains_key("LINK_SIGNING_KEY"),
        "a set variable is kept"
    );

    let missing =
        |k: &str| (k == "KONTOMATIK_API_KEY_PARAMETER").then(|| "/no/such/param".to_owned());
    let err = signin_runtime::resolve_secrets(&aws, SECRETS, &missing)
        .await
        .unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("KONTOMATIK_API_KEY") && shown.contains("/no/such/param"),
        "{shown}"
    );
    // A function that does not read the secret never asks SSM for it.
    let skipped = signin_runtime::resolve_secrets(&aws, ["LINK_SIGNING_KEY"], &missing)
        .await
        .unwrap();
    assert!(skipped.is_empty());
}

/// The network modes, resolved as CloudFormation would: `none` leaves the functions out of any
/// VPC and outputs no egress IP; `new-vpc` puts every function in the two private subnets with
/// the stack's security group, routes both through the one NAT gateway (in a public subnet,
/// with the Elastic IP the `EgressIps` output gives) and DynamoDB through a gateway endpoint;
/// `existing-vpc` uses exactly the given ids. The rules refuse half-given modes.
#[test]
fn the_network_modes_route_every_function_through_one_whitelistable_ip_or_none() {
    let t = template();
    let mode = |extra: &[(&str, &str)]| {
        let mut params = vec![
            ("PublicBaseUrl", "https://signin.lender.example"),
            ("SenderEmail", SENDER),
            ("KontomatikApiKeyParameter", "/check/kontomatik-api-key"),
            ("LinkSigningKeyParameter", "/check/link-signing-key"),
        ];
        params.extend_from_slice(extra);
        Stack::new(
            STACK,
            &params,
            &[],
            physical(
                STACK,
                "signin-check-Table",
                "https://q/imports",
                "https://q/dlq",
            ),
        )
    };
    let vpc_of =
        |stack: &Stack| stack.resolve(get(get(get(&t, "Globals"), "Function"), "VpcConfig"));
    let egress = |stack: &Stack| {
        let out = get(get(&t, "Outputs"), "EgressIps");
        let shown = stack.condition(get(out, "Condition").as_str().unwrap());
        shown.then(|| stack.resolve(get(out, "Value")))
    };

    let none = mode(&[]).unwrap();
    assert_eq!(none.parameters["NetworkMode"], "none", "the default");
    assert_eq!(vpc_of(&none).as_str(), Some("\u{0}AWS::NoValue"));
    assert_eq!(egress(&none), None);

    let new = mode(&[("NetworkMode", "new-vpc")]).unwrap();
    assert_eq!(
        vpc_of(&new),
        serde_json::json!({
            "SubnetIds": ["subnet-0000000000000000a", "subnet-0000000000000000b"],
            "SecurityGroupIds": ["sg-0000000000000000f"]
        })
    );
    assert_eq!(egress(&new), Some(serde_json::json!("198.51.100.7")));
    let resources = get(&t, "Resources");
    let ref_of = |v: &Value| untag(v).as_str().unwrap_or("").to_owned();
    let nat = get(get(resources, "NatGateway"), "Properties");
    assert_eq!(ref_of(get(nat, "SubnetId")), "PublicSubnetA");
    assert_eq!(ref_of(get(nat, "AllocationId")), "NatIp.AllocationId");
    for table in ["PrivateRouteTableA", "PrivateRouteTableB"] {
        let route = resources
            .as_mapping()
            .unwrap()
            .values()
            .find(|r| {
                r.get("Type").and_then(Value::as_str) == Some("AWS::EC2::Route")
                    && ref_of(get(get(r, "Properties"), "RouteTableId")) == table
            })
            .unwrap_or_else(|| panic!("no default route for {table}"));
        assert_eq!(
            ref_of(get(get(route, "Properties"), "NatGatewayId")),
            "NatGateway"
        );
        let endpoint = get(get(resources, "DynamoDbEndpoint"), "Properties");
        assert!(strings(get(endpoint, "RouteTableIds")).contains(&table.to_owned()));
    }
    for subnet in ["PrivateSubnetA", "PrivateSubnetB"] {
        let association = resources
            .as_mapping()
            .unwrap()
            .values()
            .find(|r| {
                r.get("Type").and_then(Value::as_str)
                    == Some("AWS::EC2::SubnetRouteTableAssociation")
                    && ref_of(get(get(r, "Properties"), "SubnetId")) == subnet
            })
            .unwrap_or_else(|| panic!("{subnet} has no route table"));
        assert!(ref_of(get(get(association, "Properties"), "RouteTableId"))
            .starts_with("PrivateRouteTable"));
    }
    for (id, r) in resources.as_mapping().unwrap() {
        let ty = r.get("Type").and_then(Value::as_str).unwrap_or("");
        if ty.starts_with("AWS::EC2::") {
            assert_eq!(
                r.get("Condition").and_then(Value::as_str),
                Some("NewVpc"),
                "{id:?} exists only in new-vpc"
            );
        }
    }

    let existing = mode(&[
        ("NetworkMode", "existing-vpc"),
        ("SubnetIds", "subnet-0123abcd,subnet-4567ef01"),
        ("SecurityGroupIds", "sg-89abcdef"),
    ])
    .unwrap();
    assert_eq!(
        vpc_of(&existing),
        serde_json::json!({
            "SubnetIds": ["subnet-0123abcd", "subnet-4567ef01"],
            "SecurityGroupIds": ["sg-89abcdef"]
        })
    );
    assert!(egress(&existing).is_some());

    let refused = [
        mode(&[("NetworkMode", "existing-vpc")]),
        mode(&[
            ("NetworkMode", "existing-vpc"),
            ("SubnetIds", "subnet-0123abcd"),
        ]),
        mode(&[
            ("SubnetIds", "subnet-0123abcd"),
            ("SecurityGroupIds", "sg-89abcdef"),
        ]),
        mode(&[
            ("NetworkMode", "new-vpc"),
            ("SecurityGroupIds", "sg-89abcdef"),
        ]),
        mode(&[
            ("NetworkMode", "existing-vpc"),
            ("SubnetIds", "subnet-0123 abcd"),
            ("SecurityGroupIds", "sg-89abcdef"),
        ]),
    ];
    for (i, r) in refused.iter().enumerate() {
        assert!(r.is_err(), "case {i} must be refused");
    }
}

/// The template resolved with a physical name for every function and log group (what the
/// dashboard and the saved queries name): the stack, the functions, their log groups.
pub(crate) fn stack_with_function_names() -> (Stack, Vec<DeployedFunction>, BTreeSet<String>) {
    let mut resources = physical(
        STACK,
        "signin-check-Table",
        "https://sqs.eu-central-1.amazonaws.com/123456789012/signin-check-imports",
        "https://sqs.eu-central-1.amazonaws.com/123456789012/signin-check-dlq",
    );
    let deployed = stack(true).functions();
    let mut log_groups = BTreeSet::new();
    for d in &deployed {
        resources.insert(
            d.logical_id.clone(),
            e2e_tests::template::Physical {
                reference: format!("{STACK}-{}-A1B2", d.logical_id),
                attributes: Default::default(),
            },
        );
        let logs = d.logical_id.replace("Function", "Logs");
        let group = format!("/aws/lambda/{STACK}-{}", d.binary);
        resources.insert(
            logs,
            e2e_tests::template::Physical {
                reference: group.clone(),
                attributes: Default::default(),
            },
        );
        log_groups.insert(group);
    }
    let stack = Stack::new(
        STACK,
        &[
            ("SenderEmail", SENDER),
            ("PublicBaseUrl", "https://signin.lender.example"),
        ],
        &[],
        resources,
    )
    .unwrap();
    (stack, deployed, log_groups)
}

/// The dashboard shows every metric the functions write, for this stack's functions, queue and
/// log groups; the saved queries read every function's log group.
#[test]
fn the_dashboard_and_the_saved_queries_cover_every_metric_function_and_log_group() {
    let (stack, deployed, log_groups) = stack_with_function_names();
    let body = stack.properties("OperationsDashboard")["DashboardBody"]
        .as_str()
        .unwrap()
        .to_owned();
    let dashboard: serde_json::Value = serde_json::from_str(&body).expect("the body is JSON");
    let widgets = dashboard["widgets"].as_array().unwrap();
    let text = body.replace("\\\"", "\"");
    for (metric, _, _) in signin_core::metrics::METRICS {
        assert!(text.contains(metric), "the dashboard shows {metric}");
    }
    // Each read by the dimensions it is written by: a search by others finds nothing, and
    // its widget stays empty without any error (the funnel's did, once).
    let read = e2e_tests::dashboard::metrics_read(&dashboard, signin_core::metrics::NAMESPACE);
    for (metric, dims) in &read {
        let declared = signin_core::metrics::METRICS
            .iter()
            .find(|(n, _, _)| n == metric)
            .unwrap_or_else(|| panic!("the dashboard reads {metric}, which nothing writes"));
        let written: BTreeSet<String> = std::iter::once("Function")
            .chain(declared.2)
            .map(str::to_owned)
            .collect();
        assert_eq!(
            dims, &written,
            "the dashboard reads {metric} by other dimensions"
        );
    }
    // The funnel is the table's (its page at /stats): no metric series of its own.
    assert!(
        text.contains("/stats"),
        "the dashboard points to the funnel page"
    );
    assert!(!text.contains("MetricName=\"Funnel\""));
    assert!(text.contains(STACK), "searches stay in this stack");
    assert!(text.contains("\"signin-check-imports\"") && text.contains("\"signin-check-dlq\""));
    for d in &deployed {
        let name = format!("{STACK}-{}-A1B2", d.logical_id);
        for metric in ["Errors", "Duration"] {
            assert!(
                widgets.iter().any(|w| w["properties"]["metrics"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|m| m[1] == metric && m[3] == name.as_str())),
                "{metric} of {}",
                d.binary
            );
        }
    }
    let log_query = widgets.iter().find(|w| w["type"] == "log").unwrap()["properties"]["query"]
        .as_str()
        .unwrap();
    for group in &log_groups {
        assert!(log_query.contains(&format!("SOURCE '{group}'")), "{group}");
    }
    for (query, every) in [
        ("ColdWarmQuery", true),
        ("RedirectionStoryQuery", true),
        ("ImportFailuresQuery", false),
    ] {
        let p = stack.properties(query);
        let groups: BTreeSet<String> = p["LogGroupNames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_str().unwrap().to_owned())
            .collect();
        assert!(groups.is_subset(&log_groups), "{query}");
        if every {
            assert_eq!(groups, log_groups, "{query} reads every function's logs");
        }
        assert!(p["QueryString"].as_str().unwrap().contains("|"), "{query}");
    }
    // The import-failure query reads the line the worker writes when an import ends.
    let worker_source = include_str!("../../functions/core/src/usecases/worker.rs");
    assert!(worker_source.contains("\"import ended\""));
    assert!(stack.properties("ImportFailuresQuery")["QueryString"]
        .as_str()
        .unwrap()
        .contains("fields.message = \"import ended\""));
}

/// The dashboard's body is one CloudWatch's PutDashboard accepts (its documented Dashboard
/// Body Structure, tests/src/dashboard.rs): a refused body rolls the whole stack back.
#[test]
fn the_dashboard_body_is_one_cloudwatch_accepts() {
    let (stack, _, _) = stack_with_function_names();
    let body = stack.properties("OperationsDashboard")["DashboardBody"]
        .as_str()
        .unwrap()
        .to_owned();
    let dashboard: serde_json::Value = serde_json::from_str(&body).expect("the body is JSON");
    let problems = e2e_tests::dashboard::problems(&dashboard);
    assert!(
        problems.is_empty(),
        "PutDashboard would refuse the body:\n{}",
        problems.join("\n")
    );
    for w in dashboard["widgets"].as_array().unwrap() {
        if w["type"] == "metric" {
            assert_eq!(w["properties"]["region"], REGION, "{w}");
        }
    }
}

/// The dashboard check refuses what CloudWatch refuses.
#[test]
fn the_dashboard_check_refuses_what_putdashboard_refuses() {
    use e2e_tests::dashboard::problems;
    let widget = |props: serde_json::Value| {
        serde_json::json!({"widgets": [{"type": "metric", "x": 0, "y": 0, "width": 12, "height": 6,
            "properties": props}]})
    };
    let good = widget(
        serde_json::json!({"region": REGION, "period": 300, "metrics": [
            ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", "q", {"stat": "Maximum", "id": "age"}],
            ["...", "dlq", {"id": "dlq"}],
            [".", "NumberOfMessagesSent", ".", "q"],
            [{"expression": "SEARCH('{AWS/Lambda,FunctionName} MetricName=\"Errors\"', 'Sum', 300)", "id": "errors"}],
            [{"expression": "100 * age / dlq", "id": "ratio", "label": "ratio", "yAxis": "right"}]
        ]}),
    );
    assert_eq!(problems(&good), Vec::<String>::new());
    let refused = [
        // the shape that rolled the first deploy back: a bare expression object
        widget(serde_json::json!({"region": REGION, "metrics": [{"expression": "a", "id": "a"}]})),
        widget(serde_json::json!({"metrics": [["AWS/SQS", "NumberOfMessagesSent"]]})),
        widget(
            serde_json::json!({"region": REGION, "period": 90, "metrics": [["AWS/SQS", "NumberOfMessagesSent"]]}),
        ),
        widget(
            serde_json::json!({"region": REGION, "metrics": [["AWS/SQS", "NumberOfMessagesSent", "QueueName"]]}),
        ),
        widget(
            serde_json::json!({"region": REGION, "metrics": [["AWS/SQS", "NumberOfMessagesSent", {"stat": "Mean"}]]}),
        ),
        widget(
            serde_json::json!({"region": REGION, "metrics": [["AWS/SQS", "NumberOfMessagesSent", {"colour": "#fff"}]]}),
        ),
        widget(
            serde_json::json!({"region": REGION, "metrics": [[{"expression": "b * 2", "id": "a"}]]}),
        ),
        widget(
            serde_json::json!({"region": REGION, "metrics": [[{"expression": "1", "id": "A"}]]}),
        ),
        widget(
            serde_json::json!({"region": REGION, "metrics": [[{"expression": "1", "id": "a"}], [{"expression": "2", "id": "a"}]]}),
        ),
        widget(
            serde_json::json!({"region": REGION, "metrics": [["AWS/SQS", "NumberOfMessagesSent", {"expression": "1", "id": "a"}]]}),
        ),
        serde_json::json!({"widgets": [{"type": "metric", "x": 16, "y": 0, "width": 12, "height": 6,
            "properties": {"region": REGION, "metrics": [["AWS/SQS", "NumberOfMessagesSent"]]}}]}),
        serde_json::json!({"widgets": [{"type": "graph", "x": 0, "y": 0, "width": 6, "height": 6,
            "properties": {"region": REGION, "metrics": [["AWS/SQS", "NumberOfMessagesSent"]]}}]}),
        serde_json::json!({"dashboard": []}),
    ];
    for (i, body) in refused.iter().enumerate() {
        assert!(
            !problems(body).is_empty(),
            "case {i} must be refused: {body}"
        );
    }
}

/// The logical id a `!Ref X` or `!GetAtt X.Arn` names.
fn referenced(v: &Value) -> String {
    let name = untag(v).as_str().unwrap_or("").to_owned();
    name.split_once('.')
        .map_or(name.clone(), |(r, _)| r.to_owned())
}

/// Every alarm reaches someone: each topic an alarm notifies is encrypted under a key of this
/// stack (CloudWatch cannot publish to a topic under the AWS-managed `alias/aws/sns`: the
/// notification is dropped), whose policy lets CloudWatch use it and the account administer it;
/// the topic's ARN is an output (to subscribe more than the one address).
#[test]
fn every_alarm_notifies_a_topic_cloudwatch_can_publish_to() {
    let t = template();
    let stack = stack(true);
    let resources = get(&t, "Resources").as_mapping().unwrap();
    let mut topics = BTreeSet::new();
    for (id, r) in resources {
        if r.get("Type").and_then(Value::as_str) != Some("AWS::CloudWatch::Alarm") {
            continue;
        }
        let actions = get(get(r, "Properties"), "AlarmActions");
        let actions = untag(actions).as_sequence().unwrap();
        assert!(!actions.is_empty(), "{id:?} notifies no one");
        for a in actions {
            let topic = referenced(a);
            let ty = get(get(resources_of(&t), &topic), "Type").as_str().unwrap();
            assert_eq!(ty, "AWS::SNS::Topic", "{id:?} acts on {topic}");
            topics.insert(topic);
        }
    }
    assert!(!topics.is_empty());
    for topic in &topics {
        let props = get(get(resources_of(&t), topic), "Properties");
        let key_ref = get(props, "KmsMasterKeyId");
        assert!(
            !strings(key_ref).iter().any(|k| k.contains("alias/aws/")),
            "{topic}: under an AWS-managed key CloudWatch's notifications are dropped"
        );
        let key = referenced(key_ref);
        let key_resource = get(resources_of(&t), &key);
        assert_eq!(
            get(key_resource, "Type").as_str(),
            Some("AWS::KMS::Key"),
            "{topic}: its key {key} is a customer-managed key of this stack"
        );
        let policy = stack.properties(&key)["KeyPolicy"].clone();
        let statements = policy["Statement"].as_array().unwrap().clone();
        let list = |j: &serde_json::Value| -> Vec<String> {
            match j {
                serde_json::Value::Array(a) => {
                    a.iter().map(|v| v.as_str().unwrap().to_owned()).collect()
                }
                serde_json::Value::String(s) => vec![s.clone()],
                _ => vec![],
            }
        };
        let allows = |principal_kind: &str, principal: &str, action: &str| {
            statements.iter().any(|s| {
                s["Effect"] == "Allow"
                    && list(&s["Principal"][principal_kind])
                        .iter()
                        .any(|p| p == principal)
                    && list(&s["Action"])
                        .iter()
                        .any(|a| a == action || a == "kms:*")
                    && list(&s["Resource"]).iter().any(|r| r == "*")
            })
        };
        for action in ["kms:Decrypt", "kms:GenerateDataKey*"] {
            assert!(
                allows("Service", "cloudwatch.amazonaws.com", action),
                "{key}: CloudWatch may not {action}: {policy}"
            );
        }
        let root = format!("arn:{PARTITION}:iam::{ACCOUNT}:root");
        assert!(
            allows("AWS", &root, "kms:*"),
            "{key}: the account does not administer it: {policy}"
        );
        let outputs = get(&t, "Outputs").as_mapping().unwrap();
        assert!(
            outputs
                .values()
                .any(|o| referenced(get(o, "Value")) == *topic),
            "{topic}'s ARN is an output"
        );
    }
}

fn resources_of(t: &Value) -> &Value {
    get(t, "Resources")
}

/// Kontomatik refusing the API key (401/403) raises an alarm whichever function meets it: every
/// function's log group has a metric filter for the words the error is logged with, into the
/// metric one alarm watches; the pages' 5xx raise another.
#[test]
fn a_refused_api_key_and_the_pages_5xx_raise_alarms() {
    let (stack, deployed, log_groups) = stack_with_function_names();
    let t = template();
    let logged = signin_core::ports::KontomatikError::Unauthorized.to_string();
    let resources = resources_of(&t).as_mapping().unwrap();
    let mut watched = BTreeSet::new();
    let mut metric = None;
    for (id, r) in resources {
        if r.get("Type").and_then(Value::as_str) != Some("AWS::Logs::MetricFilter") {
            continue;
        }
        let p = stack.properties(id.as_str().unwrap());
        let pattern = p["FilterPattern"].as_str().unwrap();
        if pattern.trim_matches('"') != logged {
            continue;
        }
        watched.insert(p["LogGroupName"].as_str().unwrap().to_owned());
        let m = &p["MetricTransformations"][0];
        let this = (m["MetricNamespace"].clone(), m["MetricName"].clone());
        assert!(
            metric.is_none() || metric.as_ref() == Some(&this),
            "one metric"
        );
        metric = Some(this);
    }
    assert_eq!(
        watched, log_groups,
        "every function's log group is watched for {logged:?}"
    );
    assert_eq!(deployed.len(), log_groups.len());
    let (namespace, name) = metric.unwrap();
    let alarms: Vec<serde_json::Value> = resources
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::CloudWatch::Alarm"))
        .map(|(id, _)| stack.properties(id.as_str().unwrap()))
        .collect();
    assert!(
        alarms.iter().any(|a| a["Namespace"] == namespace
            && a["MetricName"] == name
            && a["Threshold"] == 0
            && a["ComparisonOperator"] == "GreaterThanThreshold"),
        "no alarm on {namespace}/{name}"
    );
    // counted from the API's access log (every_http_function_is_released_through_an_alias…)
    assert!(
        alarms.iter().any(|a| a["Namespace"] == namespace
            && a["MetricName"] == "PagesServerErrors"
            && a["Threshold"] == 0
            && !a["AlarmActions"].is_null()),
        "no alarm on the pages' 5xx"
    );
}

/// API Gateway's own throttling (burst 50, 20 rps) answers 429 without calling a function: more
/// than 50 such answers in five minutes (a flood, or limits too tight for real traffic) raise an
/// alarm, counted from the API's access log. The functions' own 429s (the start and mail
/// allowances) went through the integration and are not counted.
#[test]
fn the_apis_throttled_requests_raise_an_alarm() {
    let stack = stack(false);
    assert!(
        stack.creates("ApiThrottlesAlarm"),
        "no ApiThrottlesAlarm in the template"
    );
    let alarm = stack.properties("ApiThrottlesAlarm");
    let t = template();
    let filters: Vec<serde_json::Value> = resources_of(&t)
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::Logs::MetricFilter"))
        .map(|(id, _)| stack.properties(id.as_str().unwrap()))
        .filter(|p| {
            let m = &p["MetricTransformations"][0];
            m["MetricNamespace"] == alarm["Namespace"] && m["MetricName"] == alarm["MetricName"]
        })
        .collect();
    assert_eq!(
        filters.len(),
        1,
        "one metric filter feeds the alarm: {alarm}"
    );
    let filter = &filters[0];
    assert_eq!(
        filter["LogGroupName"], "access-logs",
        "the API's access log"
    );
    assert_eq!(
        filter["FilterPattern"], r#"{ $.status = 429 && $.integrationStatus != "200" }"#,
        "429s the gateway answered itself"
    );
    let format = stack.properties("HttpApi")["AccessLogSettings"]["Format"]
        .as_str()
        .unwrap()
        .to_owned();
    for field in [
        r#""status":$context.status"#,
        r#""integrationStatus":"$context.integrationStatus""#,
    ] {
        assert!(
            format.contains(field),
            "the access log has {field}: {format}"
        );
    }
    let m = &filter["MetricTransformations"][0];
    assert_eq!(m["MetricValue"], "1");
    assert_eq!(m["DefaultValue"], 0);
    assert_eq!(alarm["Statistic"], "Sum", "{alarm}");
    assert_eq!(alarm["Period"], 300, "{alarm}");
    assert_eq!(alarm["EvaluationPeriods"], 1, "{alarm}");
    assert_eq!(alarm["Threshold"], 50, "{alarm}");
    assert_eq!(
        alarm["ComparisonOperator"], "GreaterThanThreshold",
        "{alarm}"
    );
    assert_eq!(alarm["TreatMissingData"], "notBreaching", "{alarm}");
    assert_eq!(
        alarm["AlarmActions"],
        serde_json::json!([format!(
            "arn:aws:sns:eu-central-1:123456789012:{STACK}-AlarmTopic"
        )]),
        "it notifies the alarm topic"
    );
}

/// The table survives the stack's deletion and a replacement, except when the stack's own
/// creation fails (a failed first deploy leaves nothing behind to delete by hand).
#[test]
fn the_table_is_kept_except_when_its_creation_fails() {
    let t = template();
    let table = get(resources_of(&t), "Table");
    assert_eq!(
        get(table, "DeletionPolicy").as_str(),
        Some("RetainExceptOnCreate")
    );
    assert_eq!(get(table, "UpdateReplacePolicy").as_str(), Some("Retain"));
}

/// Every parameter that names an SSM parameter starts with `/` (the policies build its ARN as
/// `…:parameter${Name}`; without the slash the ARN names nothing and the function cannot start).
#[test]
fn ssm_parameter_names_must_start_with_a_slash() {
    let t = template();
    let parameters = get(&t, "Parameters").as_mapping().unwrap();
    let names: Vec<&str> = parameters
        .keys()
        .filter_map(Value::as_str)
        .filter(|n| n.ends_with("Parameter"))
        .collect();
    assert!(names.len() >= 3, "{names:?}");
    for name in names {
        let with = |value: &str| {
            let mut params = vec![
                ("PublicBaseUrl", "https://signin.lender.example"),
                ("SenderEmail", SENDER),
            ];
            params.push((name, value));
            Stack::new(
                STACK,
                &params,
                &[],
                physical(STACK, "t", "https://q/i", "https://q/d"),
            )
        };
        assert!(
            with("signin/key").is_err(),
            "{name}: a name without the leading slash is refused"
        );
        assert!(with("/signin/key").is_ok(), "{name}: /signin/key");
    }
}

/// The metric filter's namespace is this stack's own (two stacks of one stage in an account
/// must not trip each other's alarms), and its alarm watches exactly that metric.
#[test]
fn custom_metrics_are_namespaced_per_stack() {
    let namespaces = |stack_name: &str| {
        let stack = Stack::new(
            stack_name,
            &[
                ("PublicBaseUrl", "https://signin.lender.example"),
                ("SenderEmail", SENDER),
                ("Stage", "dev"),
            ],
            &[],
            physical(stack_name, "t", "https://q/i", "https://q/d"),
        )
        .unwrap();
        let filter = stack.properties("PollerOutOfTimeMetric");
        let transform = &filter["MetricTransformations"][0];
        let alarm = stack.properties("PollerLagAlarm");
        assert_eq!(alarm["Namespace"], transform["MetricNamespace"]);
        assert_eq!(alarm["MetricName"], transform["MetricName"]);
        transform["MetricNamespace"].as_str().unwrap().to_owned()
    };
    let a = namespaces("signin-a");
    let b = namespaces("signin-b");
    assert_ne!(a, b, "two dev stacks share the namespace {a}");
}

/// With events on, each function may put events on the bus only as our own `source` (a shared
/// bus such as `default` is not a place to impersonate other systems); off, no statement.
#[test]
fn functions_publish_events_only_as_our_own_source() {
    for on in [true, false] {
        let stack = stack(on);
        for d in stack.functions() {
            let props = stack.properties(&d.logical_id);
            let statements: Vec<serde_json::Value> = props["Policies"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|p| p["Statement"].as_array().cloned().unwrap_or_default())
                .filter(|s| s["Action"].to_string().contains("events:"))
                .collect();
            if !on {
                assert!(statements.is_empty(), "{}: {statements:?}", d.binary);
                continue;
            }
            assert_eq!(statements.len(), 1, "{}: {statements:?}", d.binary);
            assert_eq!(
                statements[0]["Condition"]["StringEquals"]["events:source"],
                signin_core::domain::events::SOURCE,
                "{}",
                d.binary
            );
        }
    }
}

/// `PollerFanOut`: one schedule of all shards, or one invocation per shard every minute whose
/// input the poller reads as its shards — every shard once, none twice.
#[test]
fn the_poller_fan_out_invokes_the_poller_once_per_shard_every_minute() {
    use signin_core::ports::POLL_SHARDS;
    use signin_runtime::poller::PollerEvent;
    let with = |fan_out: &str| {
        Stack::new(
            STACK,
            &[
                ("SenderEmail", SENDER),
                ("PublicBaseUrl", "https://signin.lender.example"),
                ("PollerFanOut", fan_out),
            ],
            &[],
            physical(STACK, "t", "https://q/i", "https://q/d"),
        )
        .unwrap()
    };
    let single = with("single");
    assert!(!single.creates("StatusPollerPerShardSchedule"));
    assert!(!single.creates("StatusPollerPerShardPermission"));
    let poller = single.properties("StatusPollerFunction");
    assert_eq!(
        poller["Events"]["EveryMinute"]["Properties"]["State"],
        "ENABLED"
    );

    let fanned = with("per-shard");
    assert!(fanned.creates("StatusPollerPerShardSchedule"));
    assert!(fanned.creates("StatusPollerPerShardPermission"));
    let poller = fanned.properties("StatusPollerFunction");
    assert_eq!(
        poller["Events"]["EveryMinute"]["Properties"]["State"], "DISABLED",
        "the all-shards schedule is off"
    );
    let rule = fanned.properties("StatusPollerPerShardSchedule");
    assert_eq!(rule["ScheduleExpression"], "rate(1 minute)");
    let mut shards = vec![];
    for target in rule["Targets"].as_array().unwrap() {
        let input: PollerEvent = serde_json::from_str(target["Input"].as_str().unwrap()).unwrap();
        match input {
            PollerEvent::Shards { shards: s } => shards.extend(s),
            other => panic!("read as {other:?}"),
        }
    }
    shards.sort();
    assert_eq!(shards, (0..POLL_SHARDS).collect::<Vec<_>>());
    let permission = fanned.properties("StatusPollerPerShardPermission");
    assert_eq!(permission["Principal"], "events.amazonaws.com");
    assert_eq!(permission["Action"], "lambda:InvokeFunction");
}

/// The poller's reserved concurrency is a choice, off by default: reserving fails the deploy in
/// an account whose unreserved concurrency would drop below its minimum (a new account with a
/// low quota can reserve nothing). Empty or 0 sets nothing; a number reserves that many, and
/// per-shard needs one per shard (a throttled shard's run is not retried).
#[test]
fn the_pollers_reserved_concurrency_is_optional_and_fits_the_fan_out() {
    use signin_core::ports::POLL_SHARDS;
    let with = |fan_out: &str, reserved: &str| {
        Stack::new(
            STACK,
            &[
                ("SenderEmail", SENDER),
                ("PublicBaseUrl", "https://signin.lender.example"),
                ("PollerFanOut", fan_out),
                ("PollerReservedConcurrency", reserved),
            ],
            &[],
            physical(STACK, "t", "https://q/i", "https://q/d"),
        )
    };
    let default = Stack::new(
        STACK,
        &[
            ("SenderEmail", SENDER),
            ("PublicBaseUrl", "https://signin.lender.example"),
        ],
        &[],
        physical(STACK, "t", "https://q/i", "https://q/d"),
    )
    .unwrap();
    assert!(
        default.properties("StatusPollerFunction")["ReservedConcurrentExecutions"].is_null(),
        "nothing reserved by default"
    );
    for fan_out in ["single", "per-shard"] {
        for off in ["", "0"] {
            let stack = with(fan_out, off).unwrap();
            let poller = stack.properties("StatusPollerFunction");
            assert!(
                poller["ReservedConcurrentExecutions"].is_null(),
                "{fan_out} {off:?}: {}",
                poller["ReservedConcurrentExecutions"]
            );
        }
    }
    let reserved = |stack: Stack| {
        stack.properties("StatusPollerFunction")["ReservedConcurrentExecutions"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| {
                stack.properties("StatusPollerFunction")["ReservedConcurrentExecutions"]
                    .as_u64()
                    .map(|n| n.to_string())
            })
    };
    assert_eq!(reserved(with("single", "1").unwrap()), Some("1".into()));
    let shards = POLL_SHARDS.to_string();
    assert_eq!(
        reserved(with("per-shard", &shards).unwrap()),
        Some(shards.clone())
    );
    for too_few in 1..POLL_SHARDS {
        assert!(
            with("per-shard", &too_few.to_string()).is_err(),
            "per-shard with {too_few} reserved"
        );
    }
    assert!(with("single", "-1").is_err());
    assert!(
        with("single", "00").is_err(),
        "0 reserved would stop the poller"
    );
    assert!(with("single", "one").is_err());
}

/// Each page's function outlives the sum of the bounded waits on its path (so that a
/// Kontomatik call cut off by the client's timeout, or a mail service that does not answer,
/// still ends in our page and the writes after it, not in the gateway's error), and ends, cold
/// start included, before the HTTP API gives up on it (30 s). The paths are written out here
/// from the use cases (start.rs, callback.rs, erase.rs, staff.rs); the table's calls and the
/// cold start are their usual latency, not bounds.
#[test]
fn the_pages_functions_outlive_their_longest_bounded_wait() {
    use std::time::Duration as D;
    let stack = stack(true);
    let deployed = stack.functions();
    let kontomatik = kontomatik::ClientConfig::new(
        "https://api.kontomatik.example".parse().unwrap(),
        signin_core::domain::Secret::new("unused"),
    )
    .timeout;
    // The table's calls on the path, at their usual latency (each well under 100 ms on
    // DynamoDB; the client does not cut them off).
    let writes = D::from_secs(3);
    // A cold start: the SDK's configuration and the secrets from SSM (measured at 12–19 ms by
    // cold_start_bench; SSM's GetParameter is not cut off either).
    let cold_start = D::from_secs(3);
    let publish = signin_aws::events::PUBLISH_BUDGET;
    let mail = signin_aws::ses::SEND_BUDGET;
    let longest_path = |name: &str| -> D {
        match name {
            // Fetch redirection, then the emailed link.
            "create-redirection" => kontomatik + mail + publish + writes,
            // Redirection status (or waiting for another request's), the import's job, the
            // event.
            "callback" => {
                kontomatik
                    + signin_core::usecases::CALLBACK_SETTLE_AT_MOST
                    + signin_aws::sqs::ENQUEUE_BUDGET
                    + publish
                    + writes
            }
            // An erasure's deletions at Kontomatik (all at once: one call's timeout) and
            // `owner.erased`; or a staff sign-in link by mail.
            "unsubscribe-and-stats" => (kontomatik + publish).max(mail) + writes,
            other => panic!("{other}: a page's function whose longest wait is not known here"),
        }
    };
    let mut pages = vec![];
    for f in FUNCTIONS {
        if !matches!(f.trigger, Trigger::Http(_)) {
            continue;
        }
        pages.push(f.name);
        let timeout = D::from_secs(one_of(&deployed, f).timeout_seconds);
        let needed = longest_path(f.name);
        assert!(
            timeout > needed,
            "{}: {timeout:?} does not outlive its longest bounded wait ({needed:?})",
            f.name
        );
        assert!(
            timeout + cold_start <= D::from_secs(30),
            "{}: {timeout:?} and a cold start are past the HTTP API's 30 s",
            f.name
        );
    }
    assert_eq!(
        pages,
        ["create-redirection", "callback", "unsubscribe-and-stats"]
    );
}

/// Safe releases: every function that serves pages publishes each new version under the alias
/// `live` (which SAM's HttpApi integrations then target) and shifts traffic to it by CodeDeploy,
/// rolled back when the pages' 5xx, Kontomatik refusing the key or the function's own errors
/// alarm fires meanwhile.
#[test]
fn every_http_function_is_released_through_an_alias_rolled_back_on_its_alarms() {
    let stack = stack(true);
    let deployed = stack.functions();
    let mut wrong = vec![];
    for f in FUNCTIONS {
        if !matches!(f.trigger, Trigger::Http(_)) {
            continue;
        }
        let d = one_of(&deployed, f);
        if d.alias.as_deref() != Some("live") {
            wrong.push(format!(
                "{}: AutoPublishAlias is {:?}, not live",
                f.name, d.alias
            ));
        }
        let preference = &d.deployment_preference;
        let strategy = preference["Type"].as_str().unwrap_or("");
        if !strategy.starts_with("Canary") && !strategy.starts_with("Linear") {
            wrong.push(format!(
                "{}: DeploymentPreference type {strategy:?} shifts no traffic gradually by default",
                f.name
            ));
        }
        let alarms: BTreeSet<String> = preference["Alarms"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect();
        let own = format!("{}ErrorsAlarm", d.logical_id.trim_end_matches("Function"));
        for alarm in [
            "PagesServerErrorsAlarm",
            "KontomatikUnauthorizedAlarm",
            own.as_str(),
        ] {
            assert!(stack.creates(alarm), "{alarm} is created");
            let physical = physical(STACK, "t", "https://q/i", "https://q/d")[alarm]
                .reference
                .clone();
            if !alarms.contains(&physical) {
                wrong.push(format!(
                    "{}: a release is not rolled back on {alarm} (alarms: {alarms:?})",
                    f.name
                ));
            }
        }
    }
    // The pages' 5xx alarm counts the API's access log (the API's own metric would name the
    // API, whose integrations name the alias: a dependency cycle).
    let alarm = stack.properties("PagesServerErrorsAlarm");
    let filter = stack.properties("PagesServerErrorsMetric");
    let api = stack.properties("HttpApi");
    assert_eq!(
        api["AccessLogSettings"]["DestinationArn"].as_str().unwrap(),
        physical(STACK, "t", "https://q/i", "https://q/d")["ApiAccessLogs"].attributes["Arn"]
    );
    assert_eq!(filter["LogGroupName"], "access-logs");
    assert_eq!(filter["FilterPattern"], "{ $.status >= 500 }");
    assert!(api["AccessLogSettings"]["Format"]
        .as_str()
        .unwrap()
        .contains(r#""status":$context.status"#));
    let m = &filter["MetricTransformations"][0];
    assert_eq!(
        (&alarm["Namespace"], &alarm["MetricName"]),
        (&m["MetricNamespace"], &m["MetricName"])
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Email that arrives: optionally the sender's whole domain as an SES identity with Easy DKIM
/// (so that DKIM, and with it DMARC, pass), and bounces and complaints of the configuration set
/// counted in CloudWatch, with alarms on them (SES reviews an account whose bounce or complaint
/// rate climbs).
#[test]
fn the_senders_domain_signs_with_dkim_and_bounces_and_complaints_raise_alarms() {
    let with_domain = |create: &str| {
        Stack::new(
            STACK,
            &[
                ("SenderEmail", SENDER),
                ("KontomatikApiKeyParameter", "/check/kontomatik-api-key"),
                ("LinkSigningKeyParameter", "/check/link-signing-key"),
                ("CreateSenderDomainIdentity", create),
            ],
            &[],
            physical(STACK, "t", "https://q/i", "https://q/d"),
        )
        .unwrap()
    };
    let stack = with_domain("true");
    assert!(stack.creates("SenderDomainIdentity"));
    assert!(!with_domain("false").creates("SenderDomainIdentity"));
    let identity = stack.properties("SenderDomainIdentity");
    assert_eq!(
        identity["EmailIdentity"], "mail.lender.example",
        "{identity}"
    );
    assert_eq!(
        identity["DkimAttributes"]["SigningEnabled"], true,
        "{identity}"
    );
    assert_eq!(
        identity["DkimSigningAttributes"]["NextSigningKeyLength"],
        "RSA_2048_BIT"
    );
    assert_eq!(
        identity["ConfigurationSetAttributes"]["ConfigurationSetName"],
        format!("{STACK}-mail")
    );

    let t = template();
    let resources = resources_of(&t).as_mapping().unwrap();
    // (resolved only where the test looks: the other alarms name the functions)
    let of_type = |ty: &str, namespace: Option<&str>| -> Vec<serde_json::Value> {
        resources
            .iter()
            .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(ty))
            .filter(|(_, r)| {
                namespace.is_none_or(|n| get(get(r, "Properties"), "Namespace").as_str() == Some(n))
            })
            .map(|(id, _)| stack.properties(id.as_str().unwrap()))
            .collect()
    };
    let destinations = of_type("AWS::SES::ConfigurationSetEventDestination", None);
    let destination = destinations
        .iter()
        .find(|d| d["ConfigurationSetName"] == format!("{STACK}-mail"))
        .unwrap_or_else(|| panic!("no event destination on the configuration set"));
    let d = &destination["EventDestination"];
    assert_eq!(d["Enabled"], true, "{d}");
    let types: BTreeSet<&str> = d["MatchingEventTypes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    assert!(
        types.contains("bounce") && types.contains("complaint"),
        "{types:?}"
    );
    let dimension = &d["CloudWatchDestination"]["DimensionConfigurations"][0];
    assert_eq!(dimension["DimensionName"], "ses:configuration-set", "{d}");
    assert_eq!(dimension["DimensionValueSource"], "messageTag", "{d}");
    let alarms = of_type("AWS::CloudWatch::Alarm", Some("AWS/SES"));
    for metric in ["Bounce", "Complaint"] {
        assert!(
            alarms.iter().any(|a| a["Namespace"] == "AWS/SES"
                && a["MetricName"] == metric
                && a["Dimensions"][0]["Name"] == "ses:configuration-set"
                && a["Dimensions"][0]["Value"] == format!("{STACK}-mail")
                && !a["AlarmActions"].is_null()),
            "no alarm on the configuration set's {metric} events"
        );
    }
}

const EDGE_ACL: &str =
    "arn:aws:wafv2:us-east-1:123456789012:global/webacl/signin-edge/0a1b2c3d-0a1b-0a1b-0a1b-0a1b2c3d4e5f";
const EDGE_CERT: &str =
    "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-0a1b-0a1b-0a1b-0a1b2c3d4e5f";

fn edge_stack(overrides: &[(&str, &str)]) -> Result<Stack, String> {
    let mut params = vec![
        ("Stage", "prod"),
        ("DomainName", "signin.lender.example"),
        (
            "CertificateArn",
            "arn:aws:acm:eu-central-1:123456789012:certificate/abc",
        ),
        ("SenderEmail", SENDER),
        ("EdgeWebAclArn", EDGE_ACL),
        ("EdgeCertificateArn", EDGE_CERT),
        ("EdgeOriginSecretParameter", "/check/edge-origin-secret"),
    ];
    for (k, v) in overrides {
        params.retain(|(name, _)| name != k);
        params.push((k, v));
    }
    let mut resources = physical(STACK, "t", "https://q/i", "https://q/d");
    resources.insert(
        "EdgeViewerAddress".into(),
        e2e_tests::template::Physical {
            reference: "viewer-address".into(),
            attributes: [(
                "FunctionARN".to_owned(),
                "arn:aws:cloudfront::123456789012:function/viewer-address".to_owned(),
            )]
            .into(),
        },
    );
    Stack::new(STACK, &params, &[], resources)
}

/// AWS's create-time rules for the edge, which moto and cfn-lint do not check: CloudFront takes
/// a web ACL of scope CLOUDFRONT only (made in us-east-1, its ARN says `global/webacl`) and an
/// ACM certificate from us-east-1 only; the distribution serves the domain, so it needs one.
/// Each refused before anything is created.
#[test]
fn the_edge_option_refuses_what_cloudfront_would_refuse_at_create_time() {
    assert!(edge_stack(&[]).is_ok(), "{:?}", edge_stack(&[]).err());
    let refused = [
        (
            "EdgeWebAclArn",
            "arn:aws:wafv2:eu-central-1:123456789012:regional/webacl/signin-edge/0a1b",
        ),
        (
            "EdgeCertificateArn",
            "arn:aws:acm:eu-central-1:123456789012:certificate/0a1b",
        ),
        ("EdgeCertificateArn", ""),
        ("EdgeOriginSecretParameter", ""),
        ("DomainName", ""),
    ];
    for (name, value) in refused {
        let mut overrides = vec![(name, value)];
        if name == "DomainName" {
            overrides.push(("CertificateArn", ""));
        }
        let err = edge_stack(&overrides)
            .err()
            .unwrap_or_else(|| panic!("{name}={value:?} was accepted"));
        assert!(
            err.contains(name) || err.contains("Edge"),
            "{name}={value:?}: {err}"
        );
    }
}

/// With the edge: CloudFront with the web ACL serves the domain, caches nothing, forwards every
/// method, the viewer's headers but Host (API Gateway answers only to its own) and CloudFront's
/// own (the viewer's address), and adds the secret header from SSM; the pages' functions read
/// that secret and may read it. Without: none of it.
#[test]
fn the_edge_option_puts_cloudfront_with_waf_in_front_of_the_pages() {
    let stack = edge_stack(&[]).unwrap();
    assert!(stack.creates("EdgeDistribution"));
    let config = &stack.properties("EdgeDistribution")["DistributionConfig"];
    assert_eq!(config["WebACLId"], EDGE_ACL);
    assert_eq!(
        config["Aliases"],
        serde_json::json!(["signin.lender.example"])
    );
    assert_eq!(config["ViewerCertificate"]["AcmCertificateArn"], EDGE_CERT);
    assert_eq!(config["ViewerCertificate"]["SslSupportMethod"], "sni-only");
    let origin = &config["Origins"][0];
    assert_eq!(
        origin["DomainName"],
        "rehearsal1.execute-api.eu-central-1.amazonaws.com"
    );
    assert_eq!(
        origin["CustomOriginConfig"]["OriginProtocolPolicy"],
        "https-only"
    );
    assert_eq!(
        origin["OriginCustomHeaders"][0]["HeaderName"],
        signin_core::config::EDGE_ORIGIN_HEADER
    );
    assert_eq!(
        origin["OriginCustomHeaders"][0]["HeaderValue"],
        "{{resolve:ssm:/check/edge-origin-secret}}"
    );
    let behavior = &config["DefaultCacheBehavior"];
    assert_eq!(behavior["TargetOriginId"], origin["Id"]);
    assert_eq!(
        behavior["CachePolicyId"], "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
        "Managed-CachingDisabled"
    );
    assert_eq!(
        behavior["OriginRequestPolicyId"], "b689b0a8-53d0-40ab-baf2-68738e2966ac",
        "Managed-AllViewerExceptHostHeader"
    );
    // The viewer's address from a function of ours at the viewer request (not a header the
    // origin request policy may or may not pass on, nor one the viewer could send).
    let association = &behavior["FunctionAssociations"][0];
    assert_eq!(association["EventType"], "viewer-request");
    assert_eq!(
        association["FunctionARN"],
        "arn:aws:cloudfront::123456789012:function/viewer-address"
    );
    let code = stack.properties("EdgeViewerAddress")["FunctionCode"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        code.contains(&format!(
            "headers['{}'] = {{ value: event.viewer.ip }}",
            signin_core::config::EDGE_VIEWER_ADDRESS_HEADER
        )),
        "{code}"
    );
    let name = stack.properties("EdgeViewerAddress")["Name"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "CloudFront takes a function name of at most 64 of [a-zA-Z0-9-_]: {name}"
    );
    let methods: BTreeSet<&str> = behavior["AllowedMethods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert_eq!(
        methods.len(),
        7,
        "every method reaches the pages: {methods:?}"
    );
    let parameter_arn = "arn:aws:ssm:eu-central-1:123456789012:parameter/check/edge-origin-secret";
    for f in stack.functions() {
        let http = f
            .events
            .iter()
            .any(|e| matches!(e, EventSource::HttpApi { .. }));
        assert_eq!(
            f.environment
                .get("EDGE_ORIGIN_SECRET_PARAMETER")
                .map(String::as_str),
            http.then_some("/check/edge-origin-secret"),
            "{}",
            f.binary
        );
        let granted = f.statements.iter().any(|s| {
            s.actions.iter().any(|a| a == "ssm:GetParameter")
                && s.resources.iter().any(|r| r == parameter_arn)
        });
        assert_eq!(granted, http, "{}: the secret's grant", f.binary);
    }
    let plain = stack_with_function_names().0;
    assert!(!plain.creates("EdgeDistribution"));
    for f in plain.functions() {
        assert!(!f.environment.contains_key("EDGE_ORIGIN_SECRET_PARAMETER"));
    }
}

/// `infra/edge-waf.yaml` as AWS WAF takes it: a CLOUDFRONT web ACL (created in us-east-1 only:
/// its rule says so before anything is made), a rate-based rule per client address within
/// WAF's ranges (a limit of 10 to 2 000 000 000 per window of 60, 120, 300 or 600 s), blocking
/// with 429, `Retry-After` and a custom body the ACL defines, of a type WAF knows.
#[test]
fn the_edge_web_acl_is_one_waf_accepts() {
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(include_str!("../../infra/edge-waf.yaml")).unwrap();
    let plain = |v: &serde_yaml_ng::Value| -> serde_yaml_ng::Value {
        match v {
            serde_yaml_ng::Value::Tagged(t) => t.value.clone(),
            other => other.clone(),
        }
    };
    let rule = &doc["Rules"]["CloudFrontAclsLiveInUsEast1"]["Assertions"][0]["Assert"];
    let rule = format!("{rule:?}");
    assert!(
        rule.contains("AWS::Region") && rule.contains("us-east-1"),
        "{rule}"
    );
    let limit = &doc["Parameters"]["RequestsPerClientPer5Minutes"];
    assert!(limit["MinValue"].as_u64().unwrap() >= 10);
    assert!(limit["MaxValue"].as_u64().unwrap() <= 2_000_000_000);
    let acl = &doc["Resources"]["EdgeWebAcl"];
    assert_eq!(acl["Type"], "AWS::WAFv2::WebACL");
    let p = &acl["Properties"];
    assert_eq!(p["Scope"], "CLOUDFRONT");
    let rate = &p["Rules"][0];
    let statement = &rate["Statement"]["RateBasedStatement"];
    assert_eq!(statement["AggregateKeyType"], "IP");
    assert!(
        [60, 120, 300, 600].contains(&statement["EvaluationWindowSec"].as_u64().unwrap()),
        "{statement:?}"
    );
    assert!(format!("{:?}", statement["Limit"]).contains("RequestsPerClientPer5Minutes"));
    let response = &rate["Action"]["Block"]["CustomResponse"];
    assert_eq!(response["ResponseCode"], 429);
    assert_eq!(response["ResponseHeaders"][0]["Name"], "Retry-After");
    let body_key = response["CustomResponseBodyKey"].as_str().unwrap();
    let body = &p["CustomResponseBodies"][body_key];
    assert_eq!(plain(&body["ContentType"]), "TEXT_HTML");
    let content = body["Content"].as_str().unwrap();
    assert!(
        (1..=4096).contains(&content.len()),
        "WAF takes a body of at most 4 KB: {} bytes",
        content.len()
    );
    assert_eq!(content, signin_web::pages::throttled_page());
}
