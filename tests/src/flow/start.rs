//! Setting a flow up: the table, queue, sender and bus on moto, the sandbox, and one app per
//! function configured as its binary is; and the subscriber's bus ([`capture_events`]).

use std::sync::Arc;
use std::time::Duration as StdDuration;

use kontomatik_sandbox::{start_local, SandboxOptions};
use signin_aws::schema::create_table;
use signin_aws::testing::sdk_config;
use signin_aws::{DynamoStore, EventBridgeBus, SesMailer, SqsQueue};
use signin_core::adapters::events::NoEvents;
use signin_core::config::Config;
use signin_core::ports::EventBus;
use signin_core::ports::{ImportQueue, Kontomatik, Mailer};
use signin_core::{App, Clock, SimClock};
use signin_runtime::functions::FUNCTIONS;
use signin_runtime::unused_port::UnusedPort;

use super::{unique, Flow, FunctionApp, Recorder, LINK_SIGNING_KEY, PUBLIC_BASE, SENDER};
use crate::{client_for, API_KEY};

impl Flow {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tune: impl FnOnce(&mut SandboxOptions)) -> Self {
        Self::start_waiting(tune, "in-invocation").await
    }

    /// A flow whose worker waits between command polls as `command_wait` says
    /// (`IMPORT_COMMAND_WAIT`). `delayed-message` makes each wait a real one on moto: for
    /// measurements (the cost model), not for tests on the simulated clock.
    pub async fn start_waiting(
        tune: impl FnOnce(&mut SandboxOptions),
        command_wait: &'static str,
    ) -> Self {
        let clock = SimClock::at_default_start();
        let mut options = crate::sandbox_options(&clock);
        tune(&mut options);
        let sandbox = start_local(options).await.unwrap();
        let aws = sdk_config().await;
        let dynamo = aws_sdk_dynamodb::Client::new(&aws);
        let table = unique("flow");
        create_table(&dynamo, &table).await.unwrap();
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let queue_url = sqs
            .create_queue()
            .queue_name(unique("imports"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let ses = aws_sdk_sesv2::Client::new(&aws);
        ses.create_email_identity()
            .email_identity(SENDER)
            .send()
            .await
            .unwrap();
        let (event_bus, event_capture_url) = capture_events(&aws, &sqs).await;
        let clock_arc: Arc<dyn Clock> = Arc::new(clock.clone());
        let store = Arc::new(DynamoStore::new(dynamo.clone(), &table, clock_arc.clone()));
        let kontomatik = Arc::new(client_for(&sandbox, API_KEY, StdDuration::from_secs(10)));
        let environment = |name: &str| -> Option<String> {
            Some(match name {
                "TABLE_NAME" => table.clone(),
                "IMPORT_QUEUE_URL" => queue_url.clone(),
                "SENDER_EMAIL" => SENDER.into(),
                "PUBLIC_BASE_URL" => PUBLIC_BASE.into(),
                "KONTOMATIK_BASE_URL" => sandbox.base_url.to_string(),
                "KONTOMATIK_API_KEY" => API_KEY.into(),
                "LINK_SIGNING_KEY" => LINK_SIGNING_KEY.into(),
                "DEFAULT_LANGUAGE" => "en".into(),
                "DEFAULT_COUNTRY" => "pl".into(),
                "ACCESS_MODE" => "single".into(),
                "EVENT_BUS_NAME" => event_bus.clone(),
                // Moto's message delays run on real time and this harness on a simulated
                // clock: a job waiting 3 s between polls as a delayed message would make every
                // import here take real seconds. The waiting as a delayed message (the
                // deployed default) runs in the rehearsal, with the template's environment.
                "IMPORT_COMMAND_WAIT" => command_wait.into(),
                _ => return None,
            })
        };
        let make = |name: &'static str, reads: &[&str], recorder: &Recorder| {
            let config = Config::from_lookup(&environment, reads).unwrap();
            let unused_port = Arc::new(UnusedPort { function: name });
            let dynamo = aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&aws)
                    .interceptor(recorder.clone())
                    .build(),
            );
            let sqs = aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(&aws)
                    .interceptor(recorder.clone())
                    .build(),
            );
            let ses = aws_sdk_sesv2::Client::from_conf(
                aws_sdk_sesv2::config::Builder::from(&aws)
                    .interceptor(recorder.clone())
                    .build(),
            );
            let events: Arc<dyn EventBus> = match &config.event_bus {
                Some(bus) => Arc::new(EventBridgeBus::new(
                    aws_sdk_eventbridge::Client::from_conf(
                        aws_sdk_eventbridge::config::Builder::from(&aws)
                            .interceptor(recorder.clone())
                            .build(),
                    ),
                    bus,
                )),
                None => Arc::new(NoEvents),
            };
            let queue: Arc<dyn ImportQueue> = match &config.import_queue_url {
                Some(url) => Arc::new(SqsQueue::new(sqs, url)),
                None => unused_port.clone(),
            };
            let mailer: Arc<dyn Mailer> = match &config.mail {
                Some(m) => Arc::new(SesMailer::new(
                    ses,
                    &m.sender_email,
                    m.configuration_set.clone(),
                    clock_arc.clone(),
                )),
                None => unused_port.clone(),
            };
            let kontomatik: Arc<dyn Kontomatik> = match &config.kontomatik {
                Some(_) => kontomatik.clone(),
                None => unused_port,
            };
            App {
                store: Arc::new(DynamoStore::new(
                    dynamo,
                    &config.table_name,
                    clock_arc.clone(),
                )),
                queue,
                mailer,
                kontomatik,
                clock: clock_arc.clone(),
                pause: Arc::new(clock.clone()),
                events,
                settings: config.settings,
            }
        };
        // The test's own app reads every function's variables.
        let every: Vec<&str> = FUNCTIONS
            .iter()
            .flat_map(|f| f.reads.iter().copied())
            .collect();
        let app = make("test", &every, &Recorder::default());
        let functions = FUNCTIONS
            .iter()
            .map(|function| {
                let recorder = Recorder::default();
                FunctionApp {
                    function,
                    app: make(function.name, function.reads, &recorder),
                    recorder,
                }
            })
            .collect();
        Flow {
            clock,
            sandbox,
            app,
            functions,
            store,
            dynamo,
            table,
            sqs,
            queue_url,
            recipient_domain: format!("{}.example", unique("users")),
            next_client: std::sync::atomic::AtomicU32::new(0),
            cookies: Default::default(),
            event_bus,
            event_capture_url,
            captured: Default::default(),
        }
    }
}

/// A fresh bus on moto with one rule (`source` ours) whose target is a fresh queue: what a
/// subscriber (a CRM's queue) would set up. Returns the bus name and the queue's URL.
pub async fn capture_events(
    aws: &aws_config::SdkConfig,
    sqs: &aws_sdk_sqs::Client,
) -> (String, String) {
    let events = aws_sdk_eventbridge::Client::new(aws);
    let bus = unique("bus");
    events.create_event_bus().name(&bus).send().await.unwrap();
    let url = sqs
        .create_queue()
        .queue_name(unique("events"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    events
        .put_rule()
        .name("subscriber")
        .event_bus_name(&bus)
        .event_pattern(
            serde_json::json!({"source": [signin_core::domain::events::SOURCE]}).to_string(),
        )
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("subscriber")
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    (bus, url)
}
