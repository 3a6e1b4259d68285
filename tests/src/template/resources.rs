//! The resolved resources: each function as deployed, a resource's properties and whether it
//! is created; and the [`physical`] ids of a stack's resources.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};
use serde_yaml_ng::Value;

use super::{
    as_str, key, DeployedFunction, EventSource, Physical, Stack, Statement, ACCOUNT, PARTITION,
    REGION,
};

impl Stack {
    /// Every serverless function, resolved.
    pub fn functions(&self) -> Vec<DeployedFunction> {
        let globals = key(&self.template, "Globals")
            .and_then(|g| key(g, "Function"))
            .map(|g| self.resolve(g))
            .unwrap_or(json!({}));
        let resources = key(&self.template, "Resources")
            .and_then(Value::as_mapping)
            .expect("Resources");
        let mut out = vec![];
        for (id, r) in resources {
            if key(r, "Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
                continue;
            }
            let props = self.resolve(key(r, "Properties").expect("Properties"));
            let meta = self.resolve(key(r, "Metadata").expect("Metadata"));
            let mut environment = BTreeMap::new();
            for source in [&globals, &props] {
                if let Some(vars) = source["Environment"]["Variables"].as_object() {
                    for (k, v) in vars {
                        environment.insert(k.clone(), as_str(v));
                    }
                }
            }
            let mut statements = vec![];
            for policy in props["Policies"].as_array().into_iter().flatten() {
                for st in policy["Statement"].as_array().into_iter().flatten() {
                    assert_eq!(st["Effect"], "Allow", "{id:?}: only Allow statements");
                    let strings = |j: &Json| -> Vec<String> {
                        match j {
                            Json::Array(a) => a.iter().map(as_str).collect(),
                            other => vec![as_str(other)],
                        }
                    };
                    statements.push(Statement {
                        sid: st["Sid"].as_str().unwrap_or("").to_owned(),
                        actions: strings(&st["Action"]),
                        resources: strings(&st["Resource"]),
                        condition: st["Condition"].clone(),
                    });
                }
            }
            let mut events = vec![];
            for (_, e) in props["Events"].as_object().into_iter().flatten() {
                let p = &e["Properties"];
                events.push(match e["Type"].as_str() {
                    Some("HttpApi") => EventSource::HttpApi {
                        method: as_str(&p["Method"]).to_ascii_uppercase(),
                        path: as_str(&p["Path"]),
                        iam: p["Auth"]["Authorizer"].as_str() == Some("AWS_IAM"),
                    },
                    Some("Schedule") => EventSource::Schedule {
                        expression: as_str(&p["Schedule"]),
                        enabled: p["Enabled"].as_bool().unwrap_or(true)
                            && p["State"].as_str() != Some("DISABLED"),
                    },
                    Some("SQS") => EventSource::Sqs {
                        queue_arn: as_str(&p["Queue"]),
                        batch_size: p["BatchSize"].as_u64().unwrap_or(10),
                        report_batch_item_failures: p["FunctionResponseTypes"]
                            .as_array()
                            .is_some_and(|a| a.iter().any(|t| t == "ReportBatchItemFailures")),
                        maximum_concurrency: p["ScalingConfig"]["MaximumConcurrency"].as_u64(),
                    },
                    other => panic!("{id:?}: unsupported event type {other:?}"),
                });
            }
            let number = |k: &str, default: u64| {
                props[k]
                    .as_u64()
                    .or_else(|| globals[k].as_u64())
                    .unwrap_or(default)
            };
            out.push(DeployedFunction {
                logical_id: id.as_str().unwrap_or("").to_owned(),
                binary: as_str(&meta["BuildProperties"]["Binary"]),
                environment,
                statements,
                events,
                timeout_seconds: number("Timeout", 3),
                memory_mb: number("MemorySize", 128),
                alias: props["AutoPublishAlias"]
                    .as_str()
                    .or_else(|| globals["AutoPublishAlias"].as_str())
                    .map(str::to_owned),
                deployment_preference: if props["DeploymentPreference"].is_null() {
                    globals["DeploymentPreference"].clone()
                } else {
                    props["DeploymentPreference"].clone()
                },
            });
        }
        out
    }

    /// Whether a resource is created: it has no `Condition`, or its condition holds.
    pub fn creates(&self, logical_id: &str) -> bool {
        let r = key(&self.template, "Resources")
            .and_then(|r| key(r, logical_id))
            .unwrap_or_else(|| panic!("no resource {logical_id}"));
        key(r, "Condition")
            .and_then(Value::as_str)
            .is_none_or(|c| self.condition(c))
    }

    /// A resource's `Properties`, resolved.
    pub fn properties(&self, logical_id: &str) -> Json {
        let r = key(&self.template, "Resources")
            .and_then(|r| key(r, logical_id))
            .unwrap_or_else(|| panic!("no resource {logical_id}"));
        self.resolve(key(r, "Properties").expect("Properties"))
    }
}

/// The physical ids of the template's resources for a stack whose table, queues and mail
/// configuration set have the given names (the ARNs as AWS forms them).
pub fn physical(
    stack_name: &str,
    table: &str,
    queue_url: &str,
    dead_letter_url: &str,
) -> BTreeMap<String, Physical> {
    let queue = |url: &str| {
        let name = url.rsplit('/').next().unwrap_or("").to_owned();
        Physical {
            reference: url.to_owned(),
            attributes: BTreeMap::from([
                (
                    "Arn".into(),
                    format!("arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{name}"),
                ),
                ("QueueName".into(), name),
            ]),
        }
    };
    let plain = |name: &str| Physical {
        reference: name.to_owned(),
        attributes: BTreeMap::new(),
    };
    BTreeMap::from([
        (
            "Table".into(),
            Physical {
                reference: table.to_owned(),
                attributes: BTreeMap::from([(
                    "Arn".into(),
                    format!("arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{table}"),
                )]),
            },
        ),
        ("ImportQueue".into(), queue(queue_url)),
        ("ImportDeadLetterQueue".into(), queue(dead_letter_url)),
        (
            "MailConfigurationSet".into(),
            plain(&format!("{stack_name}-mail")),
        ),
        ("HttpApi".into(), plain("rehearsal1")),
        // NetworkMode new-vpc
        ("PrivateSubnetA".into(), plain("subnet-0000000000000000a")),
        ("PrivateSubnetB".into(), plain("subnet-0000000000000000b")),
        (
            "FunctionSecurityGroup".into(),
            plain("sg-0000000000000000f"),
        ),
        ("NatIp".into(), plain("198.51.100.7")),
        (
            "AlarmTopic".into(),
            plain(&format!(
                "arn:{PARTITION}:sns:{REGION}:{ACCOUNT}:{stack_name}-AlarmTopic"
            )),
        ),
        (
            "AlarmTopicKey".into(),
            Physical {
                reference: "1234abcd-12ab-34cd-56ef-1234567890ab".into(),
                attributes: BTreeMap::from([(
                    "Arn".into(),
                    format!("arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
                )]),
            },
        ),
        ("CustomDomain".into(), plain("custom-domain")),
        // the alarms a release is rolled back on (an alarm's Ref is its name)
        (
            "PagesServerErrorsAlarm".into(),
            plain(&format!("{stack_name}-PagesServerErrors")),
        ),
        (
            "ApiAccessLogs".into(),
            Physical {
                reference: "access-logs".into(),
                attributes: BTreeMap::from([(
                    "Arn".into(),
                    format!("arn:{PARTITION}:logs:{REGION}:{ACCOUNT}:log-group:access-logs:*"),
                )]),
            },
        ),
        (
            "KontomatikUnauthorizedAlarm".into(),
            plain(&format!("{stack_name}-KontomatikUnauthorized")),
        ),
        (
            "CreateRedirectionErrorsAlarm".into(),
            plain(&format!("{stack_name}-CreateRedirectionErrors")),
        ),
        (
            "CallbackErrorsAlarm".into(),
            plain(&format!("{stack_name}-CallbackErrors")),
        ),
        (
            "UnsubscribeAndStatsErrorsAlarm".into(),
            plain(&format!("{stack_name}-UnsubscribeAndStatsErrors")),
        ),
        ("CreateRedirectionLogs".into(), plain("logs")),
        ("CallbackLogs".into(), plain("logs")),
        ("StatusPollerLogs".into(), plain("logs")),
        ("ImportWorkerLogs".into(), plain("logs")),
        ("UnsubscribeAndStatsLogs".into(), plain("logs")),
        // PollerFanOut per-shard
        (
            "StatusPollerFunction".into(),
            Physical {
                reference: format!("{stack_name}-StatusPoller"),
                attributes: BTreeMap::from([(
                    "Arn".into(),
                    format!(
                        "arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{stack_name}-StatusPoller"
                    ),
                )]),
            },
        ),
        (
            "StatusPollerPerShardSchedule".into(),
            Physical {
                reference: format!("{stack_name}-per-shard"),
                attributes: BTreeMap::from([(
                    "Arn".into(),
                    format!("arn:{PARTITION}:events:{REGION}:{ACCOUNT}:rule/{stack_name}-per-shard"),
                )]),
            },
        ),
    ])
}
