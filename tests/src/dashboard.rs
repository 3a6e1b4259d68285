//! A CloudWatch dashboard body checked against CloudWatch's documented Dashboard Body Structure
//! and Syntax (the rules `PutDashboard` enforces, as far as the documentation states them): a
//! body that fails here is refused at deploy time ("Should be array", "Invalid metric field
//! type", …) and rolls the whole stack back.
//!
//! What is checked: the `widgets` array; each widget's `type` and its grid position (`x` 0–23,
//! `width` 1–24, `x + width` ≤ 24, `y` ≥ 0, `height` 1–1000, all integers); for a metric
//! widget, its `region`, `period` and `stat`, and `metrics` as an array of arrays — each either
//! `[namespace, metricName, (dimensionName, dimensionValue)*, {options}?]`, the `"."` / `"..."`
//! shorthands of the entry before it, or a single `[{"expression": …, "id": …, …}]`; options
//! objects with only the documented keys; `id`s unique within the widget, starting with a
//! lower-case letter, of `[a-zA-Z0-9_]`; every id an expression names defined in the widget;
//! for a log widget, its `query` and `region`.

use std::collections::BTreeSet;

use serde_json::Value as Json;

/// The widget types of the Dashboard Body Structure.
pub const WIDGET_TYPES: &[&str] = &["metric", "text", "log", "alarm", "explorer"];

/// The keys a metric's rendering-properties object may hold.
pub const METRIC_OPTION_KEYS: &[&str] = &[
    "accountId",
    "color",
    "expression",
    "id",
    "label",
    "period",
    "region",
    "stat",
    "visible",
    "yAxis",
];

/// The problems of a dashboard body (empty: CloudWatch accepts it as far as documented).
pub fn problems(body: &Json) -> Vec<String> {
    let mut out = vec![];
    let Some(widgets) = body.get("widgets").and_then(Json::as_array) else {
        return vec!["the body has no `widgets` array".into()];
    };
    if widgets.is_empty() {
        out.push("`widgets` is empty".into());
    }
    for (i, w) in widgets.iter().enumerate() {
        let at = format!("widgets[{i}]");
        let kind = w.get("type").and_then(Json::as_str).unwrap_or("");
        if !WIDGET_TYPES.contains(&kind) {
            out.push(format!(
                "{at}: type {:?} is not a widget type",
                w.get("type")
            ));
        }
        grid(&at, w, &mut out);
        let props = &w["properties"];
        if !props.is_object() {
            out.push(format!("{at}: no `properties` object"));
            continue;
        }
        match kind {
            "metric" => metric_widget(&at, props, &mut out),
            "log" => {
                if props["query"].as_str().is_none_or(str::is_empty) {
                    out.push(format!("{at}: a log widget without a `query`"));
                }
                if props["region"].as_str().is_none_or(str::is_empty) {
                    out.push(format!("{at}: a log widget without a `region`"));
                }
            }
            "text" if props["markdown"].as_str().is_none() => {
                out.push(format!("{at}: a text widget without `markdown`"));
            }
            _ => {}
        }
    }
    out
}

fn integer(w: &Json, key: &str) -> Option<i64> {
    w.get(key).and_then(Json::as_i64)
}

fn grid(at: &str, w: &Json, out: &mut Vec<String>) {
    for key in ["x", "y", "width", "height"] {
        if w.get(key).is_some() && integer(w, key).is_none() {
            out.push(format!("{at}: `{key}` is not an integer"));
        }
    }
    let x = integer(w, "x").unwrap_or(0);
    let y = integer(w, "y").unwrap_or(0);
    let width = integer(w, "width").unwrap_or(6);
    let height = integer(w, "height").unwrap_or(6);
    if !(0..=23).contains(&x) {
        out.push(format!("{at}: x {x} is outside 0–23"));
    }
    if y < 0 {
        out.push(format!("{at}: y {y} is negative"));
    }
    if !(1..=24).contains(&width) {
        out.push(format!("{at}: width {width} is outside 1–24"));
    }
    if x + width > 24 {
        out.push(format!(
            "{at}: x {x} + width {width} is past the grid's 24 columns"
        ));
    }
    if !(1..=1000).contains(&height) {
        out.push(format!("{at}: height {height} is outside 1–1000"));
    }
}

/// A period CloudWatch graphs: 1, 5, 10, 30 (high resolution) or a multiple of 60 seconds.
pub fn valid_period(p: &Json) -> bool {
    p.as_i64()
        .is_some_and(|p| [1, 5, 10, 30].contains(&p) || (p > 0 && p % 60 == 0))
}

/// A statistic CloudWatch knows: the five named ones, or a percentile / trimmed / winsorized
/// / trimmed count / trimmed sum / percentile rank, as a number or a range.
pub fn valid_stat(s: &str) -> bool {
    const NAMED: &[&str] = &["SampleCount", "Average", "Sum", "Minimum", "Maximum", "IQR"];
    if NAMED.contains(&s) {
        return true;
    }
    let number = r"(100|[0-9]{1,2}(\.[0-9]+)?)";
    let shapes = [
        format!(r"^p{number}$"),
        format!(r"^(tm|wm|tc|ts){number}$"),
        r"^(TM|WM|TC|TS|PR)\([0-9.]*%?:[0-9.]*%?\)$".to_owned(),
    ];
    shapes
        .iter()
        .any(|re| regex::Regex::new(re).is_ok_and(|re| re.is_match(s)))
}

fn valid_id(id: &str) -> bool {
    regex::Regex::new(r"^[a-z][a-zA-Z0-9_]*$").is_ok_and(|re| re.is_match(id))
}

/// The ids a metric-math expression names: lower-case identifiers outside its quoted strings
/// that are not function calls (CloudWatch's functions are upper case, `SEARCH(...)`).
pub fn ids_named(expression: &str) -> BTreeSet<String> {
    let mut bare = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in expression.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
                bare.push(' ');
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                bare.push(' ');
            }
            None => bare.push(c),
        }
    }
    let Ok(re) = regex::Regex::new(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*(\()?") else {
        return BTreeSet::new();
    };
    re.captures_iter(&bare)
        .filter(|c| c.get(2).is_none())
        .map(|c| c[1].to_owned())
        .filter(|name| name.starts_with(|c: char| c.is_ascii_lowercase()))
        .collect()
}

fn metric_widget(at: &str, props: &Json, out: &mut Vec<String>) {
    if props["region"].as_str().is_none_or(str::is_empty) {
        out.push(format!("{at}: a metric widget without a `region`"));
    }
    if let Some(p) = props.get("period") {
        if !valid_period(p) {
            out.push(format!(
                "{at}: period {p} is not 1, 5, 10, 30 or a multiple of 60"
            ));
        }
    }
    if let Some(s) = props.get("stat") {
        if !s.as_str().is_some_and(valid_stat) {
            out.push(format!("{at}: stat {s} is not a statistic"));
        }
    }
    let Some(metrics) = props["metrics"].as_array() else {
        if props.get("metrics").is_some() {
            out.push(format!("{at}: `metrics` Should be array"));
        }
        return;
    };
    let mut ids = BTreeSet::new();
    let mut expressions = vec![];
    let mut previous: Option<Vec<String>> = None;
    for (j, entry) in metrics.iter().enumerate() {
        let at = format!("{at}.metrics[{j}]");
        let Some(items) = entry.as_array() else {
            out.push(format!(
                "{at}: Should be array (each entry of `metrics` is an array, an expression \
                 included: [{{\"expression\": …, \"id\": …}}]), got {entry}"
            ));
            continue;
        };
        let (fields, options) = match items.split_last() {
            Some((Json::Object(o), rest)) => (rest, Some(o)),
            _ => (items.as_slice(), None),
        };
        if let Some(bad) = fields.iter().find(|f| !f.is_string()) {
            out.push(format!(
                "{at}: {bad} — only strings before the options object"
            ));
            continue;
        }
        let fields: Vec<String> = fields
            .iter()
            .filter_map(|f| f.as_str().map(str::to_owned))
            .collect();
        if let Some(o) = options {
            for k in o.keys() {
                if !METRIC_OPTION_KEYS.contains(&k.as_str()) {
                    out.push(format!("{at}: option {k:?} is not a documented key"));
                }
            }
            if let Some(id) = o.get("id") {
                match id.as_str() {
                    Some(id) if valid_id(id) => {
                        if !ids.insert(id.to_owned()) {
                            out.push(format!("{at}: id {id:?} is used twice in the widget"));
                        }
                    }
                    _ => out.push(format!(
                        "{at}: id {id} must start with a lower-case letter, then [a-zA-Z0-9_]"
                    )),
                }
            }
            if let Some(p) = o.get("period") {
                if !valid_period(p) {
                    out.push(format!(
                        "{at}: period {p} is not 1, 5, 10, 30 or a multiple of 60"
                    ));
                }
            }
            if let Some(s) = o.get("stat") {
                if !s.as_str().is_some_and(valid_stat) {
                    out.push(format!("{at}: stat {s} is not a statistic"));
                }
            }
            if let Some(e) = o.get("expression") {
                if !fields.is_empty() {
                    out.push(format!(
                        "{at}: an expression stands alone in its array: [{{\"expression\": …}}]"
                    ));
                }
                match e.as_str() {
                    Some(e) if !e.trim().is_empty() => expressions.push((at.clone(), e.to_owned())),
                    _ => out.push(format!("{at}: an empty expression")),
                }
                if o.get("id").is_none() {
                    out.push(format!("{at}: an expression without an id"));
                }
                continue;
            }
        }
        // A metric: its fields, with the shorthands of the entry before it filled in.
        let expanded: Vec<String> = if fields.first().map(String::as_str) == Some("...") {
            let Some(prev) = &previous else {
                out.push(format!("{at}: \"...\" with no metric before it"));
                continue;
            };
            let given = &fields[1..];
            if given.len() > prev.len() {
                out.push(format!(
                    "{at}: \"...\" followed by more fields than it repeats"
                ));
                continue;
            }
            let mut full = prev[..prev.len() - given.len()].to_vec();
            full.extend(given.iter().cloned());
            full
        } else {
            let mut full = vec![];
            for (k, f) in fields.iter().enumerate() {
                if f == "." {
                    match previous.as_ref().and_then(|p| p.get(k)) {
                        Some(v) => full.push(v.clone()),
                        None => {
                            out.push(format!("{at}: \".\" at {k} with nothing above it"));
                            full.push(String::new());
                        }
                    }
                } else {
                    full.push(f.clone());
                }
            }
            full
        };
        if expanded.len() < 2 || !expanded.len().is_multiple_of(2) {
            out.push(format!(
                "{at}: a metric is [namespace, metricName, (dimensionName, dimensionValue)*], got {expanded:?}"
            ));
        } else if expanded.iter().any(String::is_empty) {
            out.push(format!("{at}: an empty field in {expanded:?}"));
        }
        previous = Some(expanded);
    }
    for (at, e) in expressions {
        for id in ids_named(&e) {
            if !ids.contains(&id) {
                out.push(format!(
                    "{at}: the expression names {id:?}, which is no id of the widget"
                ));
            }
        }
    }
}

/// Every metric of `namespace` a dashboard reads, with the dimension names it reads it by:
/// a metric entry `[namespace, name, (dimension, value)*]`, or a `SEARCH('{namespace,dims…}
/// MetricName="name" …')` expression. A metric written with other dimensions is a series of
/// its own that the dashboard never finds.
pub fn metrics_read(body: &Json, namespace: &str) -> BTreeSet<(String, BTreeSet<String>)> {
    let mut read = BTreeSet::new();
    let widgets = body["widgets"].as_array().cloned().unwrap_or_default();
    for w in widgets.iter().filter(|w| w["type"] == "metric") {
        for entry in w["properties"]["metrics"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let parts = entry.as_array().cloned().unwrap_or_default();
            if parts.first().and_then(Json::as_str) == Some(namespace) {
                let name = parts[1].as_str().unwrap_or("").to_owned();
                let dims = parts[2..]
                    .iter()
                    .filter_map(Json::as_str)
                    .step_by(2)
                    .map(str::to_owned)
                    .collect();
                read.insert((name, dims));
            }
            let expression = parts
                .first()
                .and_then(|p| p["expression"].as_str())
                .unwrap_or("");
            let schema = format!("SEARCH('{{{namespace},");
            if let Some(rest) = expression.split(&schema).nth(1) {
                let dims = rest
                    .split('}')
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .map(|d| d.trim().to_owned())
                    .collect();
                let name = rest
                    .split("MetricName=\\\"")
                    .nth(1)
                    .or_else(|| rest.split("MetricName=\"").nth(1))
                    .and_then(|n| n.split(['"', '\\']).next())
                    .unwrap_or("")
                    .to_owned();
                read.insert((name, dims));
            }
        }
    }
    read
}
