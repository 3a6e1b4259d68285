//! The AWS actions each function needs, in one place. `template.yaml` must grant exactly these
//! (tests/tests/deployment.rs checks it), and the end-to-end tests record every AWS operation each
//! handler really performs and check it is listed here.

/// Actions on the table (`dynamodb:*` item operations the store adapter uses).
pub const CREATE_REDIRECTION: &[&str] = &[
    // get_or_create_user (PutItem, then GetItem), create_redirection, funnel counter,
    // unsubscribe (UpdateItem)
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    // the funnel days of GET /stats
    "dynamodb:BatchGetItem",
    // the link by email
    "ses:SendEmail",
    // secrets at start-up
    "ssm:GetParameter",
];

pub const CALLBACK: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    // the import job
    "sqs:SendMessage",
    "ssm:GetParameter",
];

pub const STATUS_POLLER: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    // the due-for-poll query, on the poll index only
    "dynamodb:Query",
    "sqs:SendMessage",
    // follow-ups
    "ses:SendEmail",
    "ssm:GetParameter",
];

pub const IMPORT_WORKER: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    // the owner's import records
    "dynamodb:Query",
    // continuation messages
    "sqs:SendMessage",
    // used by Lambda's SQS event source on the function's behalf
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
    "ses:SendEmail",
    "ssm:GetParameter",
];

/// The functions by their binary names, with their actions.
pub const FUNCTIONS: &[(&str, &[&str])] = &[
    ("create-redirection", CREATE_REDIRECTION),
    ("callback", CALLBACK),
    ("status-poller", STATUS_POLLER),
    ("import-worker", IMPORT_WORKER),
];

/// The IAM prefix of an SDK service name (as the SDK's operation metadata names it).
pub fn iam_prefix(sdk_service: &str) -> String {
    match sdk_service.to_ascii_lowercase().as_str() {
        "sesv2" | "ses" => "ses".into(),
        other => other.into(),
    }
}
