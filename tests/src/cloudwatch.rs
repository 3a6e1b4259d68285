//! What the functions send to CloudWatch, counted from what their real bootstraps write in the
//! rehearsal: log events and bytes as CloudWatch Logs ingests them, and the custom metric
//! series their EMF lines make (each combination of namespace, metric and dimension values is
//! a metric of its own, billed per month). The cost model prices these.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use signin_core::domain::machine::State;
use signin_core::ports::RedirectionStore;

use crate::rehearsal::steps::{at_bank_and_back, id_of, make_due, start};
use crate::rehearsal::{Options, Rehearsal};

/// CloudWatch Logs bills each event's message plus 26 bytes.
pub const EVENT_OVERHEAD_BYTES: f64 = 26.0;

/// Lambda's own lines per invocation (the Text format the template keeps), as long as Lambda
/// writes them: a request id is 36 characters; the REPORT line's figures vary by a few bytes.
pub const PLATFORM_LINES: [&str; 3] = [
    "START RequestId: 0f4b1c3e-2f1a-4c9b-9d2e-5b7a1e3c8d90 Version: $LATEST",
    "END RequestId: 0f4b1c3e-2f1a-4c9b-9d2e-5b7a1e3c8d90",
    "REPORT RequestId: 0f4b1c3e-2f1a-4c9b-9d2e-5b7a1e3c8d90\tDuration: 123.45 ms\tBilled Duration: 124 ms\tMemory Size: 256 MB\tMax Memory Used: 38 MB\t",
];

/// Log events and their billed bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct LogVolume {
    pub events: f64,
    pub bytes: f64,
}

impl LogVolume {
    /// A function's output: each non-empty line is one event.
    pub fn of_output(text: &str) -> LogVolume {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .fold(LogVolume::default(), |v, l| LogVolume {
                events: v.events + 1.0,
                bytes: v.bytes + l.len() as f64 + EVENT_OVERHEAD_BYTES,
            })
    }

    /// Lambda's own lines for `n` invocations.
    pub fn of_invocations(n: f64) -> LogVolume {
        LogVolume::of_output(&PLATFORM_LINES.join("\n")).scaled(n)
    }

    pub fn scaled(self, by: f64) -> LogVolume {
        LogVolume {
            events: self.events * by,
            bytes: self.bytes * by,
        }
    }

    pub fn plus(self, o: LogVolume) -> LogVolume {
        LogVolume {
            events: self.events + o.events,
            bytes: self.bytes + o.bytes,
        }
    }
}

/// One data point of an EMF document: namespace, metric and its dimensions (name, value).
struct EmfPoint {
    namespace: String,
    metric: String,
    dimensions: Vec<(String, String)>,
}

/// Every data point the EMF documents in `text` write (lines that are not EMF are skipped).
fn emf_points(text: &str) -> Vec<EmfPoint> {
    let mut points = vec![];
    for doc in text
        .lines()
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .filter(|d| d.get("_aws").is_some())
    {
        for spec in doc["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            let namespace = spec["Namespace"].as_str().unwrap();
            for set in spec["Dimensions"].as_array().unwrap() {
                let dimensions: Vec<(String, String)> = set
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| {
                        let d = d.as_str().unwrap();
                        (d.to_owned(), doc[d].as_str().unwrap_or("").to_owned())
                    })
                    .collect();
                for metric in spec["Metrics"].as_array().unwrap() {
                    points.push(EmfPoint {
                        namespace: namespace.to_owned(),
                        metric: metric["Name"].as_str().unwrap().to_owned(),
                        dimensions: dimensions.clone(),
                    });
                }
            }
        }
    }
    points
}

/// The metric series the EMF documents in `text` make: `Namespace/Metric` and each dimension's
/// value, one string per series.
pub fn emf_series(text: &str) -> BTreeSet<String> {
    emf_points(text)
        .into_iter()
        .map(|p| {
            let dims: Vec<String> = p
                .dimensions
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            format!("{}/{} {{{}}}", p.namespace, p.metric, dims.join(", "))
        })
        .collect()
}

/// Each metric the EMF documents in `text` write, with the dimension names it is written by
/// (one set per way it is written).
pub fn emf_dimensions(text: &str) -> BTreeMap<String, BTreeSet<BTreeSet<String>>> {
    let mut written: BTreeMap<String, BTreeSet<BTreeSet<String>>> = BTreeMap::new();
    for p in emf_points(text) {
        written
            .entry(p.metric)
            .or_default()
            .insert(p.dimensions.into_iter().map(|(name, _)| name).collect());
    }
    written
}

/// What the rehearsal counted.
#[derive(Debug, Default)]
pub struct Counted {
    /// Per story: the log volume of every function's part in it, Lambda's own lines included.
    pub stories: BTreeMap<&'static str, LogVolume>,
    /// One poller run with nothing due (each minute's fixed part).
    pub idle_poller_run: LogVolume,
    /// One status check of a sign-in still in progress (the poller's marginal part).
    pub pending_check: LogVolume,
    /// Every metric series written, across the stories.
    pub series: BTreeSet<String>,
}

/// Where each function's log stood, and how many invocations it had.
fn marks(r: &Rehearsal) -> BTreeMap<String, (usize, usize)> {
    r.functions
        .iter()
        .map(|(name, f)| {
            (
                name.clone(),
                (f.logs().len(), f.invocations.lock().unwrap().len()),
            )
        })
        .collect()
}

/// The log volume written since `before`, Lambda's own lines included.
fn since(r: &Rehearsal, before: &BTreeMap<String, (usize, usize)>) -> LogVolume {
    let mut v = LogVolume::default();
    for (name, f) in &r.functions {
        let (at, invoked) = before[name];
        let logs = f.logs();
        v = v
            .plus(LogVolume::of_output(&logs[at..]))
            .plus(LogVolume::of_invocations(
                (f.invocations.lock().unwrap().len() - invoked) as f64,
            ));
    }
    v
}

/// Runs a completed sign-in and a failed one that the poller follows up, through the real
/// bootstraps, and counts what they write. An import takes `import_polls` command polls.
pub async fn count_in_rehearsal(import_polls: u32) -> Counted {
    let mut r = Rehearsal::start(Options {
        events: true,
        import_polls: Some(import_polls),
        ..Options::default()
    })
    .await;
    for (name, f) in r.functions.iter_mut() {
        let cold = f.ready().await;
        assert!(cold.is_ok(), "{name} did not start: {cold:?}\n{}", f.logs());
    }
    let mut counted = Counted::default();
    let all_logs = |r: &Rehearsal| {
        r.functions
            .values()
            .map(|f| f.logs())
            .collect::<Vec<_>>()
            .join("\n")
    };

    let m = marks(&r);
    r.run_poller().await;
    counted.idle_poller_run = since(&r, &m);

    // Completed: the form, the bank, back, and the import to its email.
    let m = marks(&r);
    let link = start(&r, "ann@users.cost.example").await;
    let back = at_bank_and_back(&r, &link, "success").await;
    assert_eq!(back.status, 200, "{}", back.body);
    let id = id_of(&link);
    let began = Instant::now();
    while r.store().get_redirection(&id).await.unwrap().unwrap().state != State::Imported {
        r.deliver_imports(1).await;
        assert!(began.elapsed() < Duration::from_secs(180), "no import");
    }
    counted.stories.insert("completed", since(&r, &m));

    // A sign-in left open at the bank: one status check of it.
    let link = start(&r, "cy@users.cost.example").await;
    let open = id_of(&link);
    r.sandbox
        .handle
        .act(open.as_str(), kontomatik_sandbox::UserAction::Open, None)
        .unwrap();
    make_due(&r, &open).await;
    let m = marks(&r);
    let report = r.run_poller().await;
    assert_eq!(report["checked"], 1, "{report}");
    counted.pending_check = since(&r, &m);

    // Failed at the bank and back: the poller's follow-up.
    let m = marks(&r);
    let link = start(&r, "bo@users.cost.example").await;
    let back = at_bank_and_back(&r, &link, "fail_login").await;
    assert_eq!(back.status, 200, "{}", back.body);
    let failed = id_of(&link);
    for _ in 0..3 {
        if r.store()
            .get_redirection(&failed)
            .await
            .unwrap()
            .unwrap()
            .state
            == State::FollowUpSent
        {
            break;
        }
        make_due(&r, &failed).await;
        r.run_poller().await;
    }
    assert_eq!(
        r.store()
            .get_redirection(&failed)
            .await
            .unwrap()
            .unwrap()
            .state,
        State::FollowUpSent
    );
    counted.stories.insert("failed at the bank", since(&r, &m));
    counted.series = emf_series(&all_logs(&r));
    counted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_dimension_value_is_a_series_of_its_own() {
        let line = |function: &str, metric: &str, dim: Option<(&str, &str)>| {
            signin_core::metrics::line(function, metric, dim, 1.0)
        };
        let text = [
            line("f-a", "Funnel", Some(("Step", "started"))),
            line("f-a", "Funnel", Some(("Step", "started"))),
            line("f-a", "Funnel", Some(("Step", "imported"))),
            line("f-b", "Funnel", Some(("Step", "started"))),
            line("f-b", "WorkerHandOn", None),
            "{\"level\":\"INFO\",\"message\":\"not a metric\"}".to_owned(),
        ]
        .join("\n");
        let series = emf_series(&text);
        assert_eq!(series.len(), 4, "{series:?}");
        let volume = LogVolume::of_output(&text);
        assert_eq!(volume.events, 6.0);
        assert_eq!(
            volume.bytes,
            text.lines().map(|l| l.len() as f64 + 26.0).sum::<f64>()
        );
    }
}
