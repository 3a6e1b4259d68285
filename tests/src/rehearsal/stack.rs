//! The rehearsal stack: the template's resources on moto, one role, resource gate and process
//! per function ([`Rehearsal::start`]), and what a test reads back (events, queues, the store,
//! denials, logs, timings).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use aws_sdk_dynamodb::config::Credentials;
use kontomatik_sandbox::{start_local, RunningSandbox, SandboxOptions, TimeSource};
use serde_json::{json, Value as Json};

use super::moto::Moto;
use super::processes::{binaries, FunctionProcess};
use super::resource_gate::ResourceGate;
use crate::template::{physical, Stack, ACCOUNT, REGION};
use crate::API_KEY;

pub const PUBLIC_BASE: &str = "https://signin.rehearsal.example";
pub const SENDER: &str = "no-reply@lender.example";
pub const STATS_TOKEN: &str = "rehearsal-stats-token-0123456789";
pub const LINK_SIGNING_KEY: &str = "rehearsal-link-signing-key-0123456789abcdef";

/// What a rehearsal changes from the template as shipped.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Set `StatsTokenParameter` (docs/deploy.md suggests it).
    pub stats_token: bool,
    /// (function, action) pairs left out of that function's role.
    pub withheld_actions: Vec<(String, String)>,
    /// (function, resource) pairs: ARNs containing `resource` left out of that function's
    /// statements at its resource gate (moto's role keeps them).
    pub withheld_resources: Vec<(String, String)>,
    /// The import queue's visibility timeout, in place of the template's (redelivery tests).
    pub visibility_timeout: Option<u64>,
    /// Set `EventBusName` to a bus on moto whose one rule delivers to a queue that
    /// [`Rehearsal::events`] reads (a subscriber's view).
    pub events: bool,
    /// Run the release builds of the functions (the cold-start benchmark).
    pub release: bool,
    /// Template parameters set on top of the rehearsal's own (e.g. `ImportCommandWait`).
    pub parameters: Vec<(String, String)>,
    /// Status polls a sandbox import command takes to finish (default 1: at once).
    pub import_polls: Option<u32>,
    /// Put a key the sandbox refuses (401) into the Kontomatik key's SSM parameter.
    pub wrong_api_key: bool,
    /// Commands the sandbox runs at once; Default Import beyond it is refused with
    /// `JobsQuotaExceeded` (`Some(0)`: every import is refused).
    pub jobs_quota: Option<u32>,
}

/// The whole stack, with every function running.
pub struct Rehearsal {
    pub moto: Moto,
    pub sandbox: RunningSandbox,
    pub stack: Stack,
    pub functions: BTreeMap<String, FunctionProcess>,
    pub binaries: BTreeMap<String, PathBuf>,
    /// Each function's full process environment (template + Lambda's own + credentials).
    pub environments: BTreeMap<String, BTreeMap<String, String>>,
    pub credentials: BTreeMap<String, Credentials>,
    /// Each function's resource gate (its `AWS_ENDPOINT_URL`).
    pub gates: BTreeMap<String, ResourceGate>,
    pub table: String,
    pub queue_url: String,
    pub dead_letter_url: String,
    /// The subscriber's queue of the event bus (with [`Options::events`]).
    event_capture_url: Option<String>,
}

fn unique(prefix: &str) -> String {
    signin_core::contract::unique(prefix)
}

impl Rehearsal {
    pub async fn start(options: Options) -> Rehearsal {
        let moto = Moto::start().await;
        let stack_name = unique("rehearsal").to_lowercase();
        let sandbox = start_local(SandboxOptions {
            api_key: API_KEY.into(),
            admin: true,
            time: TimeSource::System,
            sim: kontomatik_sandbox::sim::SimConfig {
                import_polls: options.import_polls.unwrap_or(1),
                jobs_quota: options.jobs_quota,
                ..Default::default()
            },
            ..SandboxOptions::default()
        })
        .await
        .unwrap();

        // The resources the template creates, on moto, as the administrator.
        let admin = &moto.admin;
        let dynamo = aws_sdk_dynamodb::Client::new(admin);
        let table = format!("{stack_name}-Table");
        signin_aws::schema::create_table(&dynamo, &table)
            .await
            .unwrap();
        let sqs = aws_sdk_sqs::Client::new(admin);
        let dead_letter_url = sqs
            .create_queue()
            .queue_name(format!("{stack_name}-ImportDeadLetterQueue"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let queue_url = sqs
            .create_queue()
            .queue_name(format!("{stack_name}-ImportQueue"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let parameter = |secret: &str| format!("/{stack_name}/{secret}");
        let mut overrides: Vec<(&str, String)> = vec![
            ("Stage", "rehearsal".into()),
            ("PublicBaseUrl", PUBLIC_BASE.into()),
            ("SenderEmail", SENDER.into()),
            (
                "KontomatikBaseUrl",
                sandbox.base_url.as_str().trim_end_matches('/').into(),
            ),
            ("KontomatikApiKeyParameter", parameter("kontomatik-api-key")),
            ("LinkSigningKeyParameter", parameter("link-signing-key")),
            ("FollowUpDelayMinutes", "0".into()),
        ];
        if options.stats_token {
            overrides.push(("StatsTokenParameter", parameter("stats-token")));
        }
        let mut event_capture_url = None;
        if options.events {
            let (bus, capture) = crate::flow::capture_events(admin, &sqs).await;
            overrides.push(("EventBusName", bus));
            event_capture_url = Some(capture);
        }
        for (k, v) in &options.parameters {
            match overrides.iter_mut().find(|(name, _)| name == k) {
                Some(given) => given.1 = v.clone(),
                None => overrides.push((k.as_str(), v.clone())),
            }
        }
        let pairs: Vec<(&str, &str)> = overrides.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let stack = Stack::new(
            &stack_name,
            &pairs,
            &["KontomatikBaseUrl"],
            physical(&stack_name, &table, &queue_url, &dead_letter_url),
        )
        .unwrap();

        // The queues' own settings, from the template.
        let set_attributes = |url: &str, props: &Json, visibility: Option<u64>| {
            let mut attrs = HashMap::new();
            use aws_sdk_sqs::types::QueueAttributeName as A;
            if let Some(v) = visibility.or(props["VisibilityTimeout"].as_u64()) {
                attrs.insert(A::VisibilityTimeout, v.to_string());
            }
            if let Some(v) = props["MessageRetentionPeriod"].as_u64() {
                attrs.insert(A::MessageRetentionPeriod, v.to_string());
            }
            if props["RedrivePolicy"].is_object() {
                attrs.insert(A::RedrivePolicy, props["RedrivePolicy"].to_string());
            }
            let url = url.to_owned();
            let sqs = sqs.clone();
            async move {
                sqs.set_queue_attributes()
                    .queue_url(url)
                    .set_attributes(Some(attrs))
                    .send()
                    .await
                    .unwrap();
            }
        };
        set_attributes(
            &dead_letter_url,
            &stack.properties("ImportDeadLetterQueue"),
            None,
        )
        .await;
        set_attributes(
            &queue_url,
            &stack.properties("ImportQueue"),
            options.visibility_timeout,
        )
        .await;
        let ses = aws_sdk_sesv2::Client::new(admin);
        ses.create_email_identity()
            .email_identity(SENDER)
            .send()
            .await
            .unwrap();
        let set = stack.properties("MailConfigurationSet");
        let _ = ses
            .create_configuration_set()
            .configuration_set_name(set["Name"].as_str().unwrap_or_default())
            .send()
            .await;
        // Secrets as SecureString parameters under the names the template passes on.
        let ssm = aws_sdk_ssm::Client::new(admin);
        let mut secrets = vec![
            (
                "KontomatikApiKeyParameter",
                if options.wrong_api_key {
                    "revoked-api-key-0000"
                } else {
                    API_KEY
                },
            ),
            ("LinkSigningKeyParameter", LINK_SIGNING_KEY),
        ];
        if options.stats_token {
            secrets.push(("StatsTokenParameter", STATS_TOKEN));
        }
        for (param, value) in secrets {
            ssm.put_parameter()
                .name(&stack.parameters[param])
                .value(value)
                .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
                .send()
                .await
                .unwrap();
        }
        // Without a domain or a URL, the stack publishes its API's URL for the functions.
        if stack.creates("ApiUrlParameter") {
            let p = stack.properties("ApiUrlParameter");
            ssm.put_parameter()
                .name(p["Name"].as_str().unwrap())
                .value(p["Value"].as_str().unwrap())
                .r#type(aws_sdk_ssm::types::ParameterType::String)
                .send()
                .await
                .unwrap();
        }
        moto.assert_enforcing().await;

        // One role per function, from its statements.
        let deployed = stack.functions();
        let mut credentials = BTreeMap::new();
        for d in &deployed {
            let statements: Vec<Json> = d
                .statements
                .iter()
                .map(|s| {
                    let actions: Vec<&String> = s
                        .actions
                        .iter()
                        .filter(|a| {
                            !options
                                .withheld_actions
                                .iter()
                                .any(|(f, w)| f == &d.binary && w == *a)
                        })
                        .collect();
                    json!({"Sid": s.sid, "Effect": "Allow", "Action": actions, "Resource": "*"})
                })
                .filter(|s| !s["Action"].as_array().is_some_and(Vec::is_empty))
                .collect();
            let role = moto
                .role(&format!("{stack_name}-{}", d.binary), &statements)
                .await;
            credentials.insert(d.binary.clone(), role);
        }

        let names: Vec<String> = deployed.iter().map(|d| d.binary.clone()).collect();
        let binaries = binaries(&names, options.release);
        let mut environments = BTreeMap::new();
        let mut functions = BTreeMap::new();
        let mut gates = BTreeMap::new();
        for d in &deployed {
            let c = &credentials[&d.binary];
            let statements = d
                .statements
                .iter()
                .map(|s| crate::template::Statement {
                    resources: s
                        .resources
                        .iter()
                        .filter(|r| {
                            !options
                                .withheld_resources
                                .iter()
                                .any(|(f, w)| f == &d.binary && r.contains(w.as_str()))
                        })
                        .cloned()
                        .collect(),
                    ..s.clone()
                })
                .collect();
            let role = format!("{stack_name}-{}", d.binary);
            let gate = ResourceGate::start(
                &moto.endpoint,
                &format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{role}"),
                statements,
            )
            .await;
            let mut env = d.environment.clone();
            env.insert("AWS_REGION".into(), REGION.into());
            env.insert("AWS_DEFAULT_REGION".into(), REGION.into());
            env.insert("AWS_ACCESS_KEY_ID".into(), c.access_key_id().into());
            env.insert("AWS_SECRET_ACCESS_KEY".into(), c.secret_access_key().into());
            env.insert(
                "AWS_SESSION_TOKEN".into(),
                c.session_token().unwrap_or_default().into(),
            );
            env.insert("AWS_ENDPOINT_URL".into(), gate.endpoint.clone());
            gates.insert(d.binary.clone(), gate);
            let process = FunctionProcess::spawn(&binaries[&d.binary], d, &env, &stack_name).await;
            environments.insert(d.binary.clone(), env);
            functions.insert(d.binary.clone(), process);
        }
        Rehearsal {
            moto,
            sandbox,
            stack,
            functions,
            binaries,
            environments,
            credentials,
            gates,
            table,
            queue_url,
            dead_letter_url,
            event_capture_url,
        }
    }

    /// What a subscriber of the bus has received so far: (detail-type, detail), in order.
    pub async fn events(&self) -> Vec<(String, Json)> {
        let url = self
            .event_capture_url
            .as_ref()
            .expect("a rehearsal with Options::events");
        let sqs = aws_sdk_sqs::Client::new(&self.moto.admin);
        let mut out = vec![];
        loop {
            let got = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .visibility_timeout(600)
                .send()
                .await
                .unwrap()
                .messages
                .unwrap_or_default();
            if got.is_empty() {
                return out;
            }
            for m in got {
                let body: Json = serde_json::from_str(m.body().unwrap_or_default()).unwrap();
                out.push((
                    body["detail-type"].as_str().unwrap_or_default().to_owned(),
                    body["detail"].clone(),
                ));
            }
        }
    }

    pub fn function(&self, name: &str) -> &FunctionProcess {
        self.functions
            .get(name)
            .unwrap_or_else(|| panic!("no function {name}"))
    }

    /// Messages in a queue (visible, in flight or delayed), read as the administrator.
    pub async fn depth(&self, queue_url: &str) -> usize {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let attrs = aws_sdk_sqs::Client::new(&self.moto.admin)
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(A::All)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap_or_default();
        [
            A::ApproximateNumberOfMessages,
            A::ApproximateNumberOfMessagesNotVisible,
            A::ApproximateNumberOfMessagesDelayed,
        ]
        .iter()
        .map(|k| {
            attrs
                .get(k)
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0)
        })
        .sum()
    }

    /// The store, as the administrator sees it (for the operator's steps of a test).
    pub fn store(&self) -> signin_aws::DynamoStore {
        signin_aws::DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&self.moto.admin),
            &self.table,
            Arc::new(signin_core::SystemClock),
        )
    }

    /// Every call a resource gate refused so far, as "function: why".
    pub fn denials(&self) -> Vec<String> {
        self.gates
            .iter()
            .flat_map(|(f, g)| g.denials().into_iter().map(move |d| format!("{f}: {d}")))
            .collect()
    }

    /// Every function's log so far.
    pub fn all_logs(&self) -> String {
        self.functions
            .values()
            .map(|f| format!("=== {}\n{}", f.deployed.binary, f.logs()))
            .collect()
    }

    /// Cold start and invocation times per function, as a table.
    pub fn timings(&self) -> String {
        let mut out =
            String::from("function                cold start   invocations  median      max\n");
        for (name, f) in &self.functions {
            let cold = f
                .api
                .first_next()
                .map(|t| format!("{:>8.1} ms", (t - f.spawned).as_secs_f64() * 1000.0))
                .unwrap_or_else(|| "       -   ".into());
            let mut times = f.invocations.lock().unwrap().clone();
            times.sort();
            let median = times
                .get(times.len() / 2)
                .map(|d| format!("{:>8.1} ms", d.as_secs_f64() * 1000.0))
                .unwrap_or_else(|| "       -   ".into());
            let max = times
                .last()
                .map(|d| format!("{:>8.1} ms", d.as_secs_f64() * 1000.0))
                .unwrap_or_else(|| "       -   ".into());
            out.push_str(&format!(
                "{name:<22} {cold}  {:>11}  {median}  {max}\n",
                times.len()
            ));
        }
        out
    }
}
