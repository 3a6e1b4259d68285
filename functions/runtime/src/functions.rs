//! What each Lambda function is, in one table: what triggers it (and, for HTTP, the only routes
//! it serves), the variables and secrets it reads at start-up, and the AWS actions it may call
//! on which resource. Start-up reads only these; `template.yaml` is checked against this table
//! in both directions (tests/e2e/deployment.rs), and the deploy rehearsal runs each real
//! binary with only the template's environment and a role built from the template's policies
//! (tests/e2e/rehearsal.rs).

mod grants;

use std::collections::BTreeSet;

use signin_core::config::vars;
use signin_web::Route;

pub use grants::{adapter_actions, ADAPTER_ACTIONS};

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
    /// The case index of the table (`…/index/GSI2`): the staff's case list.
    CaseIndex,
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
pub const SECRETS: [&str; 4] = [
    vars::KONTOMATIK_API_KEY,
    vars::LINK_SIGNING_KEY,
    vars::STATS_TOKEN,
    vars::EDGE_ORIGIN_SECRET,
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
        // The lender's systems start one for their customer (IAM-authorized).
        Route::ApiStartSignIn,
    ]),
    reads: &[
        vars::TABLE_NAME,
        vars::PUBLIC_BASE_URL,
        vars::COMPANY_NAME,
        vars::KONTOMATIK_BASE_URL,
        vars::KONTOMATIK_API_KEY,
        vars::DEFAULT_LANGUAGE,
        vars::DEFAULT_COUNTRY,
        // the countries of operation (the form's choice; a start elsewhere is refused)
        vars::ALLOWED_COUNTRIES,
        // optional: the only IAM role whose sessions may call the lender's API
        vars::LENDER_API_ROLE,
        vars::ACCESS_MODE,
        // the link by email
        vars::SENDER_EMAIL,
        vars::SES_CONFIGURATION_SET,
        // form tokens, resume links, the erase link in the link email, client pseudonyms
        vars::LINK_SIGNING_KEY,
        // optional: behind CloudFront, the header that proves a request passed the edge, and
        // what one without it gets
        vars::EDGE_ORIGIN_SECRET,
        vars::EDGE_ORIGIN_CHECK,
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
            resource: Resource::Parameter(vars::EDGE_ORIGIN_SECRET),
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
        // the application a start opens or files (usecases/cases.rs)
        "store.get_case",
        "store.put_case",
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
        // optional: behind CloudFront, the header that proves a request passed the edge, and
        // what one without it gets
        vars::EDGE_ORIGIN_SECRET,
        vars::EDGE_ORIGIN_CHECK,
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
        Grant {
            resource: Resource::Parameter(vars::EDGE_ORIGIN_SECRET),
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
        // every decisive state change (usecases/mod.rs, App::applied)
        "store.record_sign_in_outcome",
        "store.add_to_funnel",
        // a failed sign-in's application
        "store.get_case",
        "store.put_case",
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
        // optional: giving an import's slot back when the poller ends it
        vars::KONTOMATIK_JOBS_QUOTA,
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
        // the slot of an import the poller ends (admission on)
        "store.give_back_import_slot",
        "store.add_to_funnel",
        // an expired sign-in's application
        "store.get_case",
        "store.put_case",
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
        // optional: Default Imports let run at Kontomatik at once
        vars::KONTOMATIK_JOBS_QUOTA,
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
        // admission at Kontomatik's jobs quota (KONTOMATIK_JOBS_QUOTA)
        "store.take_import_slot",
        "store.give_back_import_slot",
        // the application, filed with the import's flags
        "store.get_case",
        "store.put_case",
        // a multiple-access sign-in's token, sealed, for imports without the applicant
        "store.put_access_grant",
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
        Route::StatsLogout,
        Route::Cases,
        Route::CaseView,
        Route::CaseDecide,
        Route::CaseRefresh,
        // The lender's systems read applications (IAM-authorized).
        Route::ApiApplication,
        Route::ApiApplications,
    ]),
    reads: &[
        vars::TABLE_NAME,
        vars::PUBLIC_BASE_URL,
        vars::COMPANY_NAME,
        vars::DEFAULT_LANGUAGE,
        // unsubscribe and erase links, form tokens
        vars::LINK_SIGNING_KEY,
        // optional: behind CloudFront, the header that proves a request passed the edge, and
        // what one without it gets
        vars::EDGE_ORIGIN_SECRET,
        vars::EDGE_ORIGIN_CHECK,
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
        // the countries of operation (the form's choice; a start elsewhere is refused)
        vars::ALLOWED_COUNTRIES,
        // optional: the only IAM role whose sessions may call the lender's API
        vars::LENDER_API_ROLE,
        // a case's refresh from Kontomatik: the period analysed, the record's retention
        vars::IMPORT_HISTORY_MONTHS,
        vars::IMPORT_RETENTION_DAYS,
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
            resource: Resource::Parameter(vars::EDGE_ORIGIN_SECRET),
            actions: SECRET_READ,
        },
        Grant {
            resource: Resource::Parameter(vars::STATS_TOKEN),
            actions: SECRET_READ,
        },
        // the case list, on the case index only
        Grant {
            resource: Resource::CaseIndex,
            actions: &["dynamodb:Query"],
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
        // a staff session's check, and staff sign-out on every device
        "store.staff_sessions_ended_at",
        "store.end_staff_sessions",
        // credit staff: the case list, a case (each look recorded), a decision; the
        // applicant's page shows the latest decision
        "store.list_cases",
        "store.case_by_reference",
        "store.case_by_external_id",
        "store.record_case_view",
        "store.case_views",
        "store.get_case",
        "store.put_case",
        // a case's refresh: a new import with a kept multiple access, else the owner's data,
        // analysed and kept as an import record
        "store.access_grants",
        "store.put_import_record",
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
mod tests;
