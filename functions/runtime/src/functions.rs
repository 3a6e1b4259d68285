//! What each Lambda function is, in one table: what triggers it (and, for HTTP, the only routes
//! it serves), the variables and secrets it reads at start-up, and the AWS actions it may call
//! on which resource. Start-up reads only these; `template.yaml` is checked against this table
//! in both directions (tests/e2e/deployment.rs), and the deploy rehearsal runs each real
//! binary with only the template's environment and a role built from the template's policies
//! (tests/e2e/rehearsal.rs).

use std::collections::BTreeSet;

use signin_core::config::vars;
use signin_web::Route;

/// What invokes a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// API Gateway HTTP API; the function serves exactly these routes (others answer 404).
    Http(&'static [Route]),
    /// The EventBridge schedule.
    Schedule,
    /// The SQS import queue (event source mapping, partial batch failures).
    ImportQueue,
}

/// A resource a function is granted actions on; the template's ARN of each is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resource {
    /// The table itself (items).
    Table,
    /// The poll index of the table (`…/index/GSI1`), and nothing else of it.
    PollIndex,
    /// The import queue.
    ImportQueue,
    /// The SSM parameter named by `<SECRET>_PARAMETER`.
    Parameter(&'static str),
    /// Sending as the sender identity (address and domain) through the configuration set.
    MailSending,
    /// The EventBridge bus named by `EVENT_BUS_NAME` (only when events are on).
    EventBus,
}

/// Actions on one resource.
#[derive(Debug, Clone, Copy)]
pub struct Grant {
    pub resource: Resource,
    pub actions: &'static [&'static str],
}

/// One function.
#[derive(Debug, Clone, Copy)]
pub struct Function {
    /// The binary (and package) name; `template.yaml`'s `BuildProperties.Binary`.
    pub name: &'static str,
    pub trigger: Trigger,
    /// Every variable it reads. A secret is listed by its plain name; in AWS its value comes
    /// from the SSM parameter named by `<NAME>_PARAMETER`.
    pub reads: &'static [&'static str],
    pub grants: &'static [Grant],
    /// Every port method its use cases can call, as `port.method` (`store.get_redirection`):
    /// each adapter's AWS actions ([`ADAPTER_ACTIONS`]) must be among its grants.
    pub calls: &'static [&'static str],
}

/// Secrets: a value read from the variable itself when set (local runs), else from the SSM
/// SecureString parameter that `<NAME>_PARAMETER` names (AWS).
pub const SECRETS: [&str; 3] = [
    vars::KONTOMATIK_API_KEY,
    vars::LINK_SIGNING_KEY,
    vars::STATS_TOKEN,
];

const TABLE_ITEMS: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
];
const SECRET_READ: &[&str] = &["ssm:GetParameter"];
const SEND_MAIL: &[&str] = &["ses:SendEmail"];
const ENQUEUE: &[&str] = &["sqs:SendMessage"];
/// The decisive moments, for other systems (optional: without a bus, no variable and no grant).
const PUBLISH_EVENTS: Grant = Grant {
    resource: Resource::EventBus,
    actions: &["events:PutEvents"],
};

/// What each port method's AWS adapter (`signin_aws`) calls: the IAM actions it needs, on which
/// resource. A method missing here, or a function that calls a method whose actions it is not
/// granted, fails the checks below and in tests/e2e/deployment.rs (against the template).
pub const ADAPTER_ACTIONS: &[(&str, Resource, &[&str])] = &[
    // RedirectionStore (signin_aws::DynamoStore)
    // the port's default: create_sign_in
    (
        "store.create_redirection",
        Resource::Table,
        &["dynamodb:PutItem"],
    ),
    // the person's record of the sign-in, then the redirection
    (
        "store.create_sign_in",
        Resource::Table,
        &["dynamodb:PutItem"],
    ),
    // the person's partition (their sign-ins), on the table's own key
    ("store.sign_ins", Resource::Table, &["dynamodb:Query"]),
    (
        "store.record_sign_in_outcome",
        Resource::Table,
        &["dynamodb:UpdateItem"],
    ),
    (
        "store.put_login_request",
        Resource::Table,
        &["dynamodb:PutItem"],
    ),
    // one consistent read (the link's page says whose account it opens)
    (
        "store.login_request",
        Resource::Table,
        &["dynamodb:GetItem"],
    ),
    // one conditional delete that returns what it deleted
    (
        "store.take_login_request",
        Resource::Table,
        &["dynamodb:DeleteItem"],
    ),
    // the conditional update; on a failed condition the record is read, and a lapsed one
    // replaced whole
    (
        "store.verify_person",
        Resource::Table,
        &[
            "dynamodb:UpdateItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
        ],
    ),
    (
        "store.end_sessions",
        Resource::Table,
        &["dynamodb:UpdateItem"],
    ),
    (
        "store.get_redirection",
        Resource::Table,
        &["dynamodb:GetItem"],
    ),
    (
        "store.save_redirection",
        Resource::Table,
        &["dynamodb:PutItem"],
    ),
    (
        "store.due_for_poll",
        Resource::PollIndex,
        &["dynamodb:Query"],
    ),
    // on a failed condition the record is read to decide the next attempt
    (
        "store.record_start",
        Resource::Table,
        &["dynamodb:UpdateItem", "dynamodb:GetItem"],
    ),
    ("store.get_user", Resource::Table, &["dynamodb:GetItem"]),
    (
        "store.record_consent",
        Resource::Table,
        &["dynamodb:UpdateItem"],
    ),
    (
        "store.take_allowance",
        Resource::Table,
        &["dynamodb:UpdateItem"],
    ),
    // the person's partition and their owners' import records
    ("store.personal_data", Resource::Table, &["dynamodb:Query"]),
    (
        "store.erase_person",
        Resource::Table,
        &["dynamodb:Query", "dynamodb:DeleteItem"],
    ),
    (
        "store.delete_import_record",
        Resource::Table,
        &["dynamodb:DeleteItem"],
    ),
    (
        "store.record_success",
        Resource::Table,
        &["dynamodb:UpdateItem"],
    ),
    (
        "store.claim_follow_up",
        Resource::Table,
        &["dynamodb:UpdateItem"],
    ),
    (
        "store.put_import_record",
        Resource::Table,
        &["dynamodb:PutItem"],
    ),
    // on the table's own key (the owner's partition), not the poll index
    ("store.import_records", Resource::Table, &["dynamodb:Query"]),
    (
        "store.add_to_funnel",
        Resource::Table,
        &["dynamodb:UpdateItem"],
    ),
    ("store.funnel", Resource::Table, &["dynamodb:BatchGetItem"]),
    // ImportQueue (signin_aws::SqsQueue)
    ("queue.enqueue", Resource::ImportQueue, &["sqs:SendMessage"]),
    // Mailer (signin_aws::SesMailer); SES keeps no copy to forget
    ("mailer.send", Resource::MailSending, &["ses:SendEmail"]),
    ("mailer.forget_recipient", Resource::MailSending, &[]),
    // EventBus (signin_aws::EventBridgeBus; without a bus, NoEvents calls nothing)
    ("events.publish", Resource::EventBus, &["events:PutEvents"]),
];

/// The resource and actions of a port method's adapter.
pub fn adapter_actions(call: &str) -> Option<(Resource, &'static [&'static str])> {
    ADAPTER_ACTIONS
        .iter()
        .find(|(c, _, _)| *c == call)
        .map(|(_, r, a)| (*r, *a))
}

pub const CREATE_REDIRECTION: Function = Function {
    name: "create-redirection",
    trigger: Trigger::Http(&[
        Route::StartPage,
        Route::StartForm,
        Route::StartSubmit,
        Route::Health,
        // A follow-up's "continue" link starts a fresh redirection.
        Route::ResumePage,
        Route::ResumeSubmit,
    ]),
    reads: &[
        vars::TABLE_NAME,
        vars::PUBLIC_BASE_URL,
        vars::COMPANY_NAME,
        vars::KONTOMATIK_BASE_URL,
        vars::KONTOMATIK_API_KEY,
        vars::DEFAULT_LANGUAGE,
        vars::DEFAULT_COUNTRY,
        vars::ACCESS_MODE,
        // the link by email
        vars::SENDER_EMAIL,
        vars::SES_CONFIGURATION_SET,
        // form tokens, resume links, the erase link in the link email, client pseudonyms
        vars::LINK_SIGNING_KEY,
        // abuse limits, retention, where Kontomatik's link may lead
        vars::START_LIMIT_PER_CLIENT_PER_HOUR,
        vars::LINK_EMAIL_LIMIT_PER_RECIPIENT_PER_DAY,
        vars::USER_RETENTION_DAYS,
        vars::KONTOMATIK_LINK_HOSTS,
        // whether the start form needs a logged-in applicant (their session: the user record)
        vars::APPLICANT_LOGIN,
        // optional: the events for other systems
        vars::EVENT_BUS_NAME,
    ],
    grants: &[
        // users, redirections, funnel counters
        Grant {
            resource: Resource::Table,
            actions: TABLE_ITEMS,
        },
        Grant {
            resource: Resource::Parameter(vars::KONTOMATIK_API_KEY),
            actions: SECRET_READ,
        },
        Grant {
            resource: Resource::Parameter(vars::LINK_SIGNING_KEY),
            actions: SECRET_READ,
        },
        Grant {
            resource: Resource::MailSending,
            actions: SEND_MAIL,
        },
        PUBLISH_EVENTS,
    ],
    calls: &[
        "store.create_sign_in",
        "store.record_start",
        // the logged-in applicant (the session check)
        "store.get_user",
        "store.take_allowance",
        "store.get_redirection",
        "store.add_to_funnel",
        "mailer.send",
        "events.publish",
    ],
};

pub const CALLBACK: Function = Function {
    name: "callback",
    trigger: Trigger::Http(&[Route::Callback]),
    reads: &[
        vars::TABLE_NAME,
        vars::PUBLIC_BASE_URL,
        vars::COMPANY_NAME,
        vars::KONTOMATIK_BASE_URL,
        vars::KONTOMATIK_API_KEY,
        vars::IMPORT_QUEUE_URL,
        // a failed sign-in's follow-up time
        vars::FOLLOW_UP_DELAY_MINUTES,
        // who is looking (the session cookie) and the log-in form's token; whether a sign-in's
        // page needs its logged-in owner
        vars::LINK_SIGNING_KEY,
        vars::APPLICANT_LOGIN,
        // optional: the events for other systems
        vars::EVENT_BUS_NAME,
    ],
    grants: &[
        Grant {
            resource: Resource::Table,
            actions: TABLE_ITEMS,
        },
        Grant {
            resource: Resource::ImportQueue,
            actions: ENQUEUE,
        },
        Grant {
            resource: Resource::Parameter(vars::KONTOMATIK_API_KEY),
            actions: SECRET_READ,
        },
        Grant {
            resource: Resource::Parameter(vars::LINK_SIGNING_KEY),
            actions: SECRET_READ,
        },
        PUBLISH_EVENTS,
    ],
    calls: &[
        "store.get_redirection",
        "store.save_redirection",
        // the session check (who is looking), and a success's user
        "store.get_user",
        "store.record_success",
        // every decisive state change (flow/mod.rs, App::applied)
        "store.record_sign_in_outcome",
        "store.add_to_funnel",
        "queue.enqueue",
        "events.publish",
    ],
};

pub const STATUS_POLLER: Function = Function {
    name: "status-poller",
    trigger: Trigger::Schedule,
    reads: &[
        vars::TABLE_NAME,
        vars::PUBLIC_BASE_URL,
        vars::COMPANY_NAME,
        vars::KONTOMATIK_BASE_URL,
        vars::KONTOMATIK_API_KEY,
        vars::IMPORT_QUEUE_URL,
        vars::SENDER_EMAIL,
        vars::SES_CONFIGURATION_SET,
        // follow-ups: when, how often, and their signed links
        vars::FOLLOW_UP_DELAY_MINUTES,
        vars::FOLLOW_UP_WINDOW_DAYS,
        vars::LINK_SIGNING_KEY,
        // the erase link's life
        vars::USER_RETENTION_DAYS,
        // optional: the events for other systems
        vars::EVENT_BUS_NAME,
    ],
    grants: &[
        // Query: the import record of an ended import whose email is resent (the table's own
        // key, the owner's partition)
        Grant {
            resource: Resource::Table,
            actions: &[
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:Query",
            ],
        },
        // the due-for-poll query, on the poll index only
        Grant {
            resource: Resource::PollIndex,
            actions: &["dynamodb:Query"],
        },
        Grant {
            resource: Resource::ImportQueue,
            actions: ENQUEUE,
        },
        Grant {
            resource: Resource::Parameter(vars::KONTOMATIK_API_KEY),
            actions: SECRET_READ,
        },
        Grant {
            resource: Resource::Parameter(vars::LINK_SIGNING_KEY),
            actions: SECRET_READ,
        },
        Grant {
            resource: Resource::MailSending,
            actions: SEND_MAIL,
        },
        PUBLISH_EVENTS,
    ],
    calls: &[
        "store.due_for_poll",
        "store.get_redirection",
        "store.save_redirection",
        "store.get_user",
        "store.record_success",
        "store.claim_follow_up",
        // one follow-up per inbox
        "store.take_allowance",
        "store.import_records",
        "store.record_sign_in_outcome",
        "store.add_to_funnel",
        "queue.enqueue",
        "mailer.send",
        "events.publish",
    ],
};

pub const IMPORT_WORKER: Function = Function {
    name: "import-worker",
    trigger: Trigger::ImportQueue,
    reads: &[
        vars::TABLE_NAME,
        vars::PUBLIC_BASE_URL,
        vars::COMPANY_NAME,
        vars::KONTOMATIK_BASE_URL,
        vars::KONTOMATIK_API_KEY,
        // continuations
        vars::IMPORT_QUEUE_URL,
        vars::SENDER_EMAIL,
        vars::SES_CONFIGURATION_SET,
        vars::IMPORT_HISTORY_MONTHS,
        // where a job waits between command polls (default: a delayed message)
        vars::IMPORT_COMMAND_WAIT,
        // the import record's retention; the erase link in the import email
        vars::IMPORT_RETENTION_DAYS,
        vars::LINK_SIGNING_KEY,
        vars::USER_RETENTION_DAYS,
        // optional: the events for other systems
        vars::EVENT_BUS_NAME,
    ],
    grants: &[
        // the owner's import records: Query on the table's own key; DeleteItem: the record of
        // an import that ended after an erasure (worker.rs)
        Grant {
            resource: Resource::Table,
            actions: &[
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:Query",
                "dynamodb:DeleteItem",
            ],
        },
        // Receive/Delete/GetQueueAttributes/ChangeMessageVisibility: Lambda's event source
        // mapping uses the function's role; SendMessage: continuations.
        Grant {
            resource: Resource::ImportQueue,
            actions: &[
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ChangeMessageVisibility",
                "sqs:SendMessage",
            ],
        },
        Grant {
            resource: Resource::Parameter(vars::KONTOMATIK_API_KEY),
            actions: SECRET_READ,
        },
        Grant {
            resource: Resource::Parameter(vars::LINK_SIGNING_KEY),
            actions: SECRET_READ,
        },
        Grant {
            resource: Resource::MailSending,
            actions: SEND_MAIL,
        },
        PUBLISH_EVENTS,
    ],
    calls: &[
        "store.get_redirection",
        "store.save_redirection",
        "store.get_user",
        "store.put_import_record",
        "store.delete_import_record",
        "store.record_sign_in_outcome",
        "store.add_to_funnel",
        "queue.enqueue",
        "mailer.send",
        "events.publish",
    ],
};

/// The signed links of a person's own data (unsubscribe, erase), the applicant's log-in and
/// own page, and marketing's statistics.
pub const UNSUBSCRIBE_AND_STATS: Function = Function {
    name: "unsubscribe-and-stats",
    trigger: Trigger::Http(&[
        Route::LoginPage,
        Route::LoginSubmit,
        Route::LoginLink,
        Route::LoginSession,
        Route::Logout,
        Route::MyPage,
        Route::MyConsent,
        Route::UnsubscribePage,
        Route::UnsubscribeSubmit,
        Route::ErasePage,
        Route::EraseSubmit,
        Route::Stats,
        Route::StatsCsv,
        Route::StatsLogin,
        Route::StatsLoginLink,
        Route::StatsSession,
    ]),
    reads: &[
        vars::TABLE_NAME,
        vars::PUBLIC_BASE_URL,
        vars::COMPANY_NAME,
        vars::DEFAULT_LANGUAGE,
        // unsubscribe and erase links, form tokens
        vars::LINK_SIGNING_KEY,
        // erasure asks Kontomatik to delete the owner's data
        vars::KONTOMATIK_BASE_URL,
        vars::KONTOMATIK_API_KEY,
        // optional: GET /stats is off without it
        vars::STATS_TOKEN,
        // marketing's funnel page: who may sign in, and the emailed sign-in link
        vars::STAFF_EMAILS,
        vars::SENDER_EMAIL,
        vars::SES_CONFIGURATION_SET,
        // the applicant's log-in link: its limits (per client, per mailbox), a new verified
        // record's retention (and the erase link's life on their page), its country
        vars::START_LIMIT_PER_CLIENT_PER_HOUR,
        vars::LOGIN_EMAIL_LIMIT_PER_RECIPIENT_PER_DAY,
        vars::USER_RETENTION_DAYS,
        vars::DEFAULT_COUNTRY,
        // optional: the events for other systems
        vars::EVENT_BUS_NAME,
    ],
    grants: &[
        // the consent choice (UpdateItem), spent form tokens (UpdateItem), the funnel days
        // (BatchGetItem); erasure: the person's partition and their owners' import records
        // (Query on the table's own key), the redirection to find their address (GetItem),
        // and the deletes; log-in: the request kept until its link is followed (PutItem, then
        // DeleteItem), the verified record (UpdateItem, PutItem over a lapsed one), the
        // person's sign-ins (Query)
        Grant {
            resource: Resource::Table,
            actions: &[
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:BatchGetItem",
                "dynamodb:Query",
                "dynamodb:DeleteItem",
            ],
        },
        Grant {
            resource: Resource::Parameter(vars::KONTOMATIK_API_KEY),
            actions: SECRET_READ,
        },
        Grant {
            resource: Resource::Parameter(vars::LINK_SIGNING_KEY),
            actions: SECRET_READ,
        },
        Grant {
            resource: Resource::Parameter(vars::STATS_TOKEN),
            actions: SECRET_READ,
        },
        // the staff sign-in link
        Grant {
            resource: Resource::MailSending,
            actions: SEND_MAIL,
        },
        PUBLISH_EVENTS,
    ],
    calls: &[
        "store.get_user",
        "store.record_consent",
        "store.take_allowance",
        "store.funnel",
        "store.personal_data",
        "store.get_redirection",
        "store.erase_person",
        // the applicant's log-in, own page and log-out
        "store.put_login_request",
        "store.login_request",
        "store.take_login_request",
        "store.verify_person",
        "store.end_sessions",
        "store.sign_ins",
        "store.import_records",
        "mailer.send",
        "mailer.forget_recipient",
        "events.publish",
    ],
};

/// Every function.
pub const FUNCTIONS: &[Function] = &[
    CREATE_REDIRECTION,
    CALLBACK,
    STATUS_POLLER,
    IMPORT_WORKER,
    UNSUBSCRIBE_AND_STATS,
];

impl Function {
    pub fn by_name(name: &str) -> Option<&'static Function> {
        FUNCTIONS.iter().find(|f| f.name == name)
    }

    /// The secrets among the variables it reads.
    pub fn secrets(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.reads.iter().copied().filter(|v| SECRETS.contains(v))
    }

    /// Every action it may call, on any resource.
    pub fn actions(&self) -> BTreeSet<&'static str> {
        self.grants
            .iter()
            .flat_map(|g| g.actions.iter().copied())
            .collect()
    }

    /// The routes it serves (none unless HTTP).
    pub fn routes(&self) -> &'static [Route] {
        match self.trigger {
            Trigger::Http(routes) => routes,
            _ => &[],
        }
    }

    /// The variables its process environment holds in AWS: the plain ones it reads, and
    /// `<NAME>_PARAMETER` for each secret.
    pub fn environment(&self) -> BTreeSet<String> {
        self.reads
            .iter()
            .map(|v| {
                if SECRETS.contains(v) {
                    format!("{v}_PARAMETER")
                } else {
                    (*v).to_owned()
                }
            })
            .collect()
    }
}

/// The IAM prefix of an SDK service name (as the SDK's operation metadata names it).
pub fn iam_prefix(sdk_service: &str) -> String {
    match sdk_service.to_ascii_lowercase().as_str() {
        "sesv2" | "ses" => "ses".into(),
        "eventbridge" => "events".into(),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
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
        let store = include_str!("../../core/src/ports/store.rs");
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
                methods_of(include_str!("../../core/src/ports/queue.rs"), "ImportQueue"),
            ),
            (
                "mailer",
                methods_of(include_str!("../../core/src/ports/mail.rs"), "Mailer"),
            ),
            (
                "events",
                methods_of(include_str!("../../core/src/ports/events.rs"), "EventBus"),
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
        ("mod.rs", include_str!("../../core/src/usecases/mod.rs")),
        ("start.rs", include_str!("../../core/src/usecases/start.rs")),
        (
            "callback.rs",
            include_str!("../../core/src/usecases/callback.rs"),
        ),
        (
            "poller.rs",
            include_str!("../../core/src/usecases/poller.rs"),
        ),
        (
            "worker.rs",
            include_str!("../../core/src/usecases/worker.rs"),
        ),
        (
            "followup.rs",
            include_str!("../../core/src/usecases/followup.rs"),
        ),
        (
            "link_actions.rs",
            include_str!("../../core/src/usecases/link_actions.rs"),
        ),
        (
            "funnel.rs",
            include_str!("../../core/src/usecases/funnel.rs"),
        ),
        ("erase.rs", include_str!("../../core/src/usecases/erase.rs")),
        ("staff.rs", include_str!("../../core/src/usecases/staff.rs")),
        (
            "identity.rs",
            include_str!("../../core/src/usecases/identity.rs"),
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
}
