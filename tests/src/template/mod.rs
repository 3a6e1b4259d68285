//! `template.yaml` resolved the way CloudFormation would for one parameter set: parameters
//! checked against their constraints, rules asserted, conditions evaluated, and the intrinsic
//! functions the template uses (`!Ref`, `!Sub`, `!GetAtt`, `!If`, `!Select`, `!Split`,
//! `!Join`, `!Equals`, `!Contains`, `!Not`, `!Or`, `!And`, `!Condition`, `AWS::NoValue`) resolved against
//! given physical ids. What each function then gets — its environment (Globals merged with its
//! own, as SAM does), its policy statements, its events — is what the deployment checks and
//! the deploy rehearsal use, so neither keeps its own copy of the template's facts.
//!
//! The parts: this file holds the constants, the template's source and the resolved shapes
//! ([`Stack`], [`Physical`], [`DeployedFunction`], [`Statement`], [`EventSource`]);
//! `resolve.rs` builds a [`Stack`] (parameters checked, rules asserted) and resolves conditions
//! and intrinsic functions; `resources.rs` reads the resolved resources (the functions, a
//! resource's properties, whether it is created) and gives the [`physical`] ids of a stack.

mod resolve;
mod resources;

pub use resources::physical;

use std::collections::BTreeMap;

use serde_json::Value as Json;
use serde_yaml_ng::Value;

pub const REGION: &str = "eu-central-1";
pub const ACCOUNT: &str = "123456789012";
pub const PARTITION: &str = "aws";

/// The template as shipped.
pub fn source() -> Value {
    serde_yaml_ng::from_str(include_str!("../../../template.yaml")).expect("template.yaml parses")
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
    /// The statement's `Condition`, resolved (`null` without one).
    pub condition: Json,
}

/// An event source of a function, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSource {
    HttpApi {
        method: String,
        path: String,
        /// The route's authorizer is `AWS_IAM`: API Gateway lets through only SigV4-signed
        /// requests of a principal allowed to invoke it.
        iam: bool,
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
