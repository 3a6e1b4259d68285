//! Building a [`Stack`]: parameters checked against their constraints, rules asserted; and
//! resolving conditions and the intrinsic functions (`!Ref`, `!Sub`, `!GetAtt`, `!If`, …).

use std::collections::BTreeMap;

use serde_json::Value as Json;
use serde_yaml_ng::Value;

use super::{
    as_str, key, no_value, source, tag_of, untag, Physical, Stack, ACCOUNT, PARTITION, REGION,
};

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
            // As CloudFormation forms it: the stack's name, then a UUID of its own.
            "AWS::StackId" => format!(
                "arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT}:stack/{}/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
                self.stack_name
            ),
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
