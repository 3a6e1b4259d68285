//! `template.yaml` resolved the way CloudFormation would for one parameter set: parameters
//! checked against their constraints, rules asserted, conditions evaluated, and the intrinsic
//! functions the template uses (`!Ref`, `!Sub`, `!GetAtt`, `!If`, `!Select`, `!Split`,
//! `!Join`, `!Equals`, `!Contains`, `!Not`, `!Or`, `!And`, `!Condition`, `AWS::NoValue`) resolved against
//! given physical ids. What each function then gets — its environment (Globals merged with its
//! own, as SAM does), its policy statements, its events — is what the deployment checks and
//! the deploy rehearsal use, so neither keeps its own copy of the template's facts.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};
use serde_yaml_ng::Value;

pub const REGION: &str = "eu-central-1";
pub const ACCOUNT: &str = "123456789012";
pub const PARTITION: &str = "aws";

/// The template as shipped.
pub fn source() -> Value {
    serde_yaml_ng::from_str(include_str!("../../template.yaml")).expect("template.yaml parses")
}

/// What a resource's `!Ref` and `!GetAtt` give once it exists.
#[derive(Debug, Clone, Default)]
pub struct Physical {
    pub reference: String,
    pub attributes: BTreeMap<String, String>,
}

/// The template under one parameter set and one set of physical resources.
pub struct Stack {
    pub template: Value,
    pub stack_name: String,
    pub parameters: BTreeMap<String, String>,
    pub resources: BTreeMap<String, Physical>,
}

/// A policy statement, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sid: String,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

/// An event source of a function, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSource {
    HttpApi {
        method: String,
        path: String,
    },
    Schedule {
        expression: String,
        enabled: bool,
    },
    Sqs {
        queue_arn: String,
        batch_size: u64,
        report_batch_item_failures: bool,
        maximum_concurrency: Option<u64>,
    },
}

/// A function as the template deploys it.
#[derive(Debug, Clone)]
pub struct DeployedFunction {
    pub logical_id: String,
    pub binary: String,
    pub environment: BTreeMap<String, String>,
    pub statements: Vec<Statement>,
    pub events: Vec<EventSource>,
    pub timeout_seconds: u64,
    pub memory_mb: u64,
    /// `AutoPublishAlias`: the alias SAM publishes each new version under (and the HttpApi
    /// integrations then target).
    pub alias: Option<String>,
    /// `DeploymentPreference`, resolved (`Null` without one).
    pub deployment_preference: Json,
}

fn untag(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => &t.value,
        other => other,
    }
}

fn tag_of(v: &Value) -> Option<String> {
    match v {
        Value::Tagged(t) => Some(t.tag.to_string().trim_start_matches('!').to_owned()),
        _ => None,
    }
}

fn key<'a>(v: &'a Value, k: &str) -> Option<&'a Value> {
    untag(v).get(k)
}

fn as_str(j: &Json) -> String {
    match j {
        Json::String(s) => s.clone(),
        Json::Number(n) => n.to_string(),
        Json::Bool(b) => b.to_string(),
        other => panic!("expected a string, got {other}"),
    }
}

fn no_value(j: &Json) -> bool {
    j.as_str() == Some("\u{0}AWS::NoValue")
}

impl Stack {
    /// Resolves `overrides` over the template's defaults, checks every parameter against its
    /// type and constraints (except those named in `unchecked`), and asserts the rules.
    pub fn new(
        stack_name: &str,
        overrides: &[(&str, &str)],
        unchecked: &[&str],
        resources: BTreeMap<String, Physical>,
    ) -> Result<Stack, String> {
        let template = source();
        let mut parameters = BTreeMap::new();
        let declared = key(&template, "Parameters")
            .and_then(Value::as_mapping)
            .ok_or("no Parameters")?;
        for (name, spec) in declared {
            let name = name.as_str().ok_or("parameter name")?.to_owned();
            let given = overrides
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned());
            let default = key(spec, "Default").map(|d| match untag(d) {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => String::new(),
            });
            let value = given
                .or(default)
                .ok_or_else(|| format!("parameter {name} has no value"))?;
            if !unchecked.contains(&name.as_str()) {
                check_parameter(&name, spec, &value)?;
            }
            parameters.insert(name, value);
        }
        for (k, _) in overrides {
            if !parameters.contains_key(*k) {
                return Err(format!("{k} is not a parameter of the template"));
            }
        }
        let stack = Stack {
            template,
            stack_name: stack_name.to_owned(),
            parameters,
            resources,
        };
        stack.check_rules()?;
        Ok(stack)
    }

    fn check_rules(&self) -> Result<(), String> {
        let Some(rules) = key(&self.template, "Rules").and_then(Value::as_mapping) else {
            return Ok(());
        };
        for (name, rule) in rules {
            if let Some(c) = key(rule, "RuleCondition") {
                if !self.truth(c) {
                    continue;
                }
            }
            for a in key(rule, "Assertions")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
            {
                if !self.truth(key(a, "Assert").ok_or("Assert")?) {
                    return Err(format!(
                        "rule {}: {}",
                        name.as_str().unwrap_or("?"),
                        key(a, "AssertDescription")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                    ));
                }
            }
        }
        Ok(())
    }

    /// A named condition of the template.
    pub fn condition(&self, name: &str) -> bool {
        let c = key(&self.template, "Conditions")
            .and_then(|c| key(c, name))
            .unwrap_or_else(|| panic!("no condition {name}"));
        self.truth(c)
    }

    fn truth(&self, v: &Value) -> bool {
        match self.resolve(v) {
            Json::Bool(b) => b,
            other => panic!("not a condition: {other}"),
        }
    }

    fn pseudo(&self, name: &str) -> Option<String> {
        Some(match name {
            "AWS::Region" => REGION.into(),
            "AWS::AccountId" => ACCOUNT.into(),
            "AWS::Partition" => PARTITION.into(),
            "AWS::StackName" => self.stack_name.clone(),
            "AWS::URLSuffix" => "amazonaws.com".into(),
            "AWS::NoValue" => "\u{0}AWS::NoValue".into(),
            _ => return None,
        })
    }

    fn reference(&self, name: &str) -> String {
        if let Some(p) = self.pseudo(name) {
            return p;
        }
        if let Some(p) = self.parameters.get(name) {
            return p.clone();
        }
        self.resources
            .get(name)
            .map(|r| r.reference.clone())
            .unwrap_or_else(|| panic!("!Ref {name}: no such parameter or resource"))
    }

    fn attribute(&self, resource: &str, attribute: &str) -> String {
        self.resources
            .get(resource)
            .and_then(|r| r.attributes.get(attribute))
            .cloned()
            .unwrap_or_else(|| panic!("!GetAtt {resource}.{attribute}: unknown"))
    }

    fn sub(&self, text: &str, vars: &BTreeMap<String, String>) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("unclosed ${") + start;
            let name = &rest[start + 2..end];
            let value = if let Some(v) = vars.get(name) {
                v.clone()
            } else if let Some((res, attr)) = name.split_once('.') {
                self.attribute(res, attr)
            } else {
                self.reference(name)
            };
            out.push_str(&value);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// Resolves a template value; `AWS::NoValue` inside a list or mapping drops the entry.
    pub fn resolve(&self, v: &Value) -> Json {
        let args = || untag(v);
        let list = |v: &Value| -> Vec<Value> {
            untag(v)
                .as_sequence()
                .cloned()
                .unwrap_or_else(|| panic!("expected a list: {v:?}"))
        };
        match tag_of(v).as_deref() {
            Some("Ref") => Json::String(self.reference(untag(v).as_str().expect("!Ref name"))),
            Some("Sub") => match args() {
                Value::String(s) => Json::String(self.sub(s, &BTreeMap::new())),
                Value::Sequence(parts) => {
                    let text = parts[0].as_str().expect("!Sub text");
                    let vars = parts[1]
                        .as_mapping()
                        .expect("!Sub variables")
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.as_str().unwrap_or("").to_owned(),
                                as_str(&self.resolve(v)),
                            )
                        })
                        .collect();
                    Json::String(self.sub(text, &vars))
                }
                other => panic!("!Sub {other:?}"),
            },
            Some("GetAtt") => {
                let (res, attr) = match args() {
                    Value::String(s) => {
                        let (r, a) = s.split_once('.').expect("!GetAtt A.B");
                        (r.to_owned(), a.to_owned())
                    }
                    Value::Sequence(p) => (
                        p[0].as_str().unwrap_or("").to_owned(),
                        p[1].as_str().unwrap_or("").to_owned(),
                    ),
                    other => panic!("!GetAtt {other:?}"),
                };
                Json::String(self.attribute(&res, &attr))
            }
            Some("If") => {
                let p = list(v);
                let name = p[0].as_str().expect("!If condition name");
                if self.condition(name) {
                    self.resolve(&p[1])
                } else {
                    self.resolve(&p[2])
                }
            }
            Some("Condition") => Json::Bool(self.condition(untag(v).as_str().expect("name"))),
            Some("Equals") => {
                let p = list(v);
                Json::Bool(self.resolve(&p[0]) == self.resolve(&p[1]))
            }
            Some("Contains") => {
                let p = list(v);
                let value = self.resolve(&p[1]);
                Json::Bool(
                    self.resolve(&p[0])
                        .as_array()
                        .expect("!Contains list")
                        .contains(&value),
                )
            }
            Some("Not") => Json::Bool(!self.truth(&list(v)[0])),
            Some("Or") => Json::Bool(list(v).iter().any(|c| self.truth(c))),
            Some("And") => Json::Bool(list(v).iter().all(|c| self.truth(c))),
            Some("Select") => {
                let p = list(v);
                let i: usize = as_str(&self.resolve(&p[0])).parse().expect("!Select index");
                let items = self.resolve(&p[1]);
                items
                    .as_array()
                    .and_then(|a| a.get(i))
                    .cloned()
                    .expect("!Select in range")
            }
            Some("Split") => {
                let p = list(v);
                let delim = p[0].as_str().expect("!Split delimiter");
                let text = as_str(&self.resolve(&p[1]));
                Json::Array(text.split(delim).map(|s| Json::String(s.into())).collect())
            }
            Some("Join") => {
                let p = list(v);
                let delim = p[0].as_str().unwrap_or("");
                let items = self.resolve(&p[1]);
                Json::String(
                    items
                        .as_array()
                        .expect("!Join list")
                        .iter()
                        .map(as_str)
                        .collect::<Vec<_>>()
                        .join(delim),
                )
            }
            Some(other) => panic!("unsupported intrinsic !{other}"),
            None => match v {
                Value::Null => Json::Null,
                Value::Bool(b) => Json::Bool(*b),
                Value::Number(n) => serde_json::to_value(n).unwrap_or(Json::Null),
                Value::String(s) => Json::String(s.clone()),
                Value::Sequence(items) => Json::Array(
                    items
                        .iter()
                        .map(|i| self.resolve(i))
                        .filter(|j| !no_value(j))
                        .collect(),
                ),
                Value::Mapping(m) => Json::Object(
                    m.iter()
                        .map(|(k, v)| (k.as_str().unwrap_or("").to_owned(), self.resolve(v)))
                        .filter(|(_, j)| !no_value(j))
                        .collect(),
                ),
                Value::Tagged(_) => unreachable!("tags are handled above"),
            },
        }
    }

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

fn check_parameter(name: &str, spec: &Value, value: &str) -> Result<(), String> {
    let kind = key(spec, "Type")
        .and_then(Value::as_str)
        .unwrap_or("String");
    if kind == "Number" {
        let n: f64 = value
            .parse()
            .map_err(|_| format!("{name}: {value:?} is not a number"))?;
        if let Some(min) = key(spec, "MinValue").and_then(Value::as_f64) {
            if n < min {
                return Err(format!("{name}: {n} < MinValue {min}"));
            }
        }
        if let Some(max) = key(spec, "MaxValue").and_then(Value::as_f64) {
            if n > max {
                return Err(format!("{name}: {n} > MaxValue {max}"));
            }
        }
    }
    if let Some(allowed) = key(spec, "AllowedValues").and_then(Value::as_sequence) {
        let ok = allowed.iter().any(|a| match untag(a) {
            Value::String(s) => s == value,
            Value::Number(n) => n.to_string() == value,
            _ => false,
        });
        if !ok {
            return Err(format!("{name}: {value:?} is not among its AllowedValues"));
        }
    }
    if let Some(pattern) = key(spec, "AllowedPattern").and_then(Value::as_str) {
        let re = regex::Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| format!("{name}: AllowedPattern: {e}"))?;
        if !re.is_match(value) {
            return Err(format!("{name}: {value:?} does not match {pattern}"));
        }
    }
    Ok(())
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
