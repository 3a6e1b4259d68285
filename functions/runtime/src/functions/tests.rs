//! Checks of the functions' table against the code: routes, secrets, variables, and the AWS
//! actions each function's use cases reach through the ports.

use super::*;

#[test]
fn every_route_is_served_by_exactly_one_function() {
    for route in Route::ALL {
        let servers: Vec<&str> = FUNCTIONS
            .iter()
            .filter(|f| f.routes().contains(route))
            .map(|f| f.name)
            .collect();
        assert_eq!(servers.len(), 1, "{route:?} is served by {servers:?}");
    }
}

#[test]
fn every_secret_read_is_granted_and_every_grant_is_read() {
    for f in FUNCTIONS {
        let read: BTreeSet<&str> = f.secrets().collect();
        let granted: BTreeSet<&str> = f
            .grants
            .iter()
            .filter_map(|g| match g.resource {
                Resource::Parameter(s) => Some(s),
                _ => None,
            })
            .collect();
        assert_eq!(read, granted, "{}", f.name);
    }
}

/// The missing grant that this check was written for: the worker deletes the import record
/// of an import that ends after an erasure (`store.delete_import_record`).
#[test]
fn every_port_method_a_function_calls_is_granted() {
    let mut missing = vec![];
    for f in FUNCTIONS {
        for call in f.calls {
            let (resource, actions) = adapter_actions(call)
                .unwrap_or_else(|| panic!("{}: {call} has no adapter entry", f.name));
            for action in actions {
                if !f
                    .grants
                    .iter()
                    .any(|g| g.resource == resource && g.actions.contains(action))
                {
                    missing.push(format!(
                        "{}: {call} needs {action} on {resource:?}, which it is not granted",
                        f.name
                    ));
                }
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// The port methods declared in `trait NAME` of a source file.
fn methods_of(source: &str, name: &str) -> Vec<String> {
    let start = source
        .find(&format!("pub trait {name}"))
        .unwrap_or_else(|| panic!("no trait {name}"));
    let body = &source[start..];
    let end = body.find("\n}").unwrap_or(body.len());
    body[..end]
        .split("async fn ")
        .skip(1)
        .filter_map(|rest| rest.split(['(', '<']).next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_port_method_has_its_adapters_actions() {
    let store = include_str!("../../../core/src/ports/store.rs");
    let store_methods: Vec<String> = [
        "RedirectionStore",
        "PersonStore",
        "LoginStore",
        "AllowanceStore",
        "ImportRecordStore",
        "FunnelStore",
    ]
    .iter()
    .flat_map(|part| methods_of(store, part))
    .collect();
    let declared = [
        ("store", store_methods),
        (
            "queue",
            methods_of(
                include_str!("../../../core/src/ports/queue.rs"),
                "ImportQueue",
            ),
        ),
        (
            "mailer",
            methods_of(include_str!("../../../core/src/ports/mail.rs"), "Mailer"),
        ),
        (
            "events",
            methods_of(
                include_str!("../../../core/src/ports/events.rs"),
                "EventBus",
            ),
        ),
    ];
    for (port, methods) in declared {
        assert!(!methods.is_empty(), "{port}");
        for m in methods {
            let call = format!("{port}.{m}");
            assert!(
                adapter_actions(&call).is_some(),
                "{call} is not in ADAPTER_ACTIONS"
            );
        }
    }
}

/// The use cases (`impl App` in core/src/usecases), for the call scan below; the tests' own
/// file is not one.
const FLOW: &[(&str, &str)] = &[
    ("mod.rs", include_str!("../../../core/src/usecases/mod.rs")),
    (
        "start.rs",
        include_str!("../../../core/src/usecases/start.rs"),
    ),
    (
        "callback.rs",
        include_str!("../../../core/src/usecases/callback.rs"),
    ),
    (
        "poller.rs",
        include_str!("../../../core/src/usecases/poller.rs"),
    ),
    (
        "worker.rs",
        include_str!("../../../core/src/usecases/worker.rs"),
    ),
    (
        "followup.rs",
        include_str!("../../../core/src/usecases/followup.rs"),
    ),
    (
        "link_actions.rs",
        include_str!("../../../core/src/usecases/link_actions.rs"),
    ),
    (
        "funnel.rs",
        include_str!("../../../core/src/usecases/funnel.rs"),
    ),
    (
        "erase.rs",
        include_str!("../../../core/src/usecases/erase.rs"),
    ),
    (
        "staff.rs",
        include_str!("../../../core/src/usecases/staff.rs"),
    ),
    (
        "cases.rs",
        include_str!("../../../core/src/usecases/cases.rs"),
    ),
    (
        "lender_api.rs",
        include_str!("../../../core/src/usecases/lender_api.rs"),
    ),
    (
        "identity.rs",
        include_str!("../../../core/src/usecases/identity.rs"),
    ),
];

/// The call scan reads every use-case file (a new one is not missed).
fn assert_flow_lists_every_use_case_file() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../core/src/usecases");
    let on_disk: BTreeSet<String> = std::fs::read_dir(dir)
        .expect("the use cases' folder")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".rs") && n != "tests.rs")
        .collect();
    let scanned: BTreeSet<String> = FLOW.iter().map(|(n, _)| (*n).to_owned()).collect();
    assert_eq!(scanned, on_disk, "FLOW lists every use-case file");
}

const PORTS: [&str; 4] = ["store", "queue", "mailer", "events"];

/// The name of the fn a source line declares (`pub(crate) async fn step(`), if any.
fn declared_fn(line: &str) -> Option<&str> {
    let at = line.find("fn ")?;
    let before = line[..at].trim();
    let keywords = before
        .split_whitespace()
        .all(|w| ["pub", "pub(crate)", "pub(super)", "async", "const"].contains(&w));
    if !keywords || line.trim_start().starts_with("//") {
        return None;
    }
    let rest = &line[at + 3..];
    let name_end = rest.find(['(', '<'])?;
    Some(rest[..name_end].trim())
}

/// Each fn of a source, with its body (up to the next fn), whitespace removed.
fn bodies(source: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![];
    for line in source.lines() {
        if let Some(name) = declared_fn(line) {
            out.push((name.to_owned(), String::new()));
        }
        if let Some((_, body)) = out.last_mut() {
            body.extend(line.chars().filter(|c| !c.is_whitespace()));
        }
    }
    out
}

/// The `self.NAME(` calls of a compacted body: port methods (`store.get_user`) and the
/// names of other methods of `self`.
fn self_calls(compact: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let ident = |rest: &str| -> String {
        rest.chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect()
    };
    let (mut ports, mut methods) = (BTreeSet::new(), BTreeSet::new());
    for (at, _) in compact.match_indices("self.") {
        let rest = &compact[at + 5..];
        let first = ident(rest);
        let after = &rest[first.len()..];
        if PORTS.contains(&first.as_str()) && after.starts_with('.') {
            let method = ident(&after[1..]);
            if after[1 + method.len()..].starts_with('(') {
                ports.insert(format!("{first}.{method}"));
            }
        } else if after.starts_with('(') {
            methods.insert(first);
        }
    }
    (ports, methods)
}

/// Every port method a use case calls, itself or through the other use cases and helpers
/// of `App` it calls (by name, over every file of the flow).
fn reachable_port_calls() -> std::collections::BTreeMap<String, BTreeSet<String>> {
    use std::collections::BTreeMap;
    assert_flow_lists_every_use_case_file();
    let mut direct: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    for (_, source) in FLOW {
        for (name, body) in bodies(source) {
            let (ports, methods) = self_calls(&body);
            let entry = direct.entry(name).or_default();
            entry.0.extend(ports);
            entry.1.extend(methods);
        }
    }
    let mut reach: BTreeMap<String, BTreeSet<String>> = direct
        .iter()
        .map(|(n, (ports, _))| (n.clone(), ports.clone()))
        .collect();
    loop {
        let mut changed = false;
        for (name, (_, methods)) in &direct {
            let mut add = BTreeSet::new();
            for m in methods {
                if let Some(calls) = reach.get(m) {
                    add.extend(calls.iter().cloned());
                }
            }
            let own = reach.get_mut(name).expect("every fn has an entry");
            let before = own.len();
            own.extend(add);
            changed |= own.len() != before;
        }
        if !changed {
            return reach;
        }
    }
}

/// A safety net for the hand-written lists: every port method that the use cases only one
/// function runs can reach (themselves, or through the shared use cases and helpers they
/// call: `step` → `applied` → `record_sign_in_outcome`) is in that function's list.
#[test]
fn each_functions_own_use_cases_call_only_listed_port_methods() {
    let reach = reachable_port_calls();
    let owned: [(&Function, &str); 7] = [
        (&CREATE_REDIRECTION, "start.rs"),
        (&CALLBACK, "callback.rs"),
        (&STATUS_POLLER, "poller.rs"),
        (&IMPORT_WORKER, "worker.rs"),
        (&UNSUBSCRIBE_AND_STATS, "erase.rs"),
        (&UNSUBSCRIBE_AND_STATS, "staff.rs"),
        // the applicant's log-in and own page (the session check alone is shared: see
        // the start form's and the callback's `store.get_user`)
        (&UNSUBSCRIBE_AND_STATS, "identity.rs"),
    ];
    let mut missing = BTreeSet::new();
    for (f, file) in owned {
        let source = FLOW.iter().find(|(n, _)| *n == file).expect("in FLOW").1;
        let fns = bodies(source);
        assert!(!fns.is_empty(), "{file}: no fn found");
        let mut found = 0;
        for (name, _) in &fns {
            for call in &reach[name] {
                found += 1;
                if !f.calls.contains(&call.as_str()) {
                    missing.insert(format!(
                        "{}: {file} ({name}) reaches {call}, not in its calls",
                        f.name
                    ));
                }
            }
        }
        assert!(found > 0, "{file}: no port call found");
    }
    let missing: Vec<String> = missing.into_iter().collect();
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// The scan sees a call made through a shared helper: the callback's `step` keeps the
/// sign-in's outcome with the person (mod.rs, `applied` → `remember_outcome`).
#[test]
fn the_call_scan_follows_shared_helpers() {
    let reach = reachable_port_calls();
    assert!(reach["callback"].contains("store.record_sign_in_outcome"));
    assert!(reach["step"].contains("store.save_redirection"));
    assert!(reach["applicant_session_from_link"].contains("store.verify_person"));
}

#[test]
fn every_variable_read_is_a_known_variable() {
    let known: BTreeSet<&str> = vars::ALL.iter().map(|v| v.name).collect();
    for f in FUNCTIONS {
        for v in f.reads {
            assert!(known.contains(v), "{}: {v} is not documented", f.name);
        }
    }
}
