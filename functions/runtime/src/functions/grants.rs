//! The port-method → IAM action table: what each port method's AWS adapter (`signin_aws`) calls,
//! on which resource.

use super::Resource;

/// What each port method's AWS adapter (`signin_aws`) calls: the IAM actions it needs, on which
/// resource. A method missing here, or a function that calls a method whose actions it is not
/// granted, fails the checks in `functions/tests.rs` and in tests/e2e/deployment.rs (against the
/// template).
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
    // CaseStore: one consistent read of the person's case
    ("store.get_case", Resource::Table, &["dynamodb:GetItem"]),
    // the lookup item, then the case
    (
        "store.case_by_reference",
        Resource::Table,
        &["dynamodb:GetItem"],
    ),
    (
        "store.case_by_external_id",
        Resource::Table,
        &["dynamodb:GetItem"],
    ),
    // the conditional put of the case, then its lookups
    ("store.put_case", Resource::Table, &["dynamodb:PutItem"]),
    ("store.list_cases", Resource::CaseIndex, &["dynamodb:Query"]),
    (
        "store.record_case_view",
        Resource::Table,
        &["dynamodb:PutItem"],
    ),
    // the looks, in the person's partition
    ("store.case_views", Resource::Table, &["dynamodb:Query"]),
    // AccessStore: a kept multiple access, in the person's partition
    (
        "store.put_access_grant",
        Resource::Table,
        &["dynamodb:PutItem"],
    ),
    ("store.access_grants", Resource::Table, &["dynamodb:Query"]),
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
        "store.staff_sessions_ended_at",
        Resource::Table,
        &["dynamodb:GetItem"],
    ),
    (
        "store.end_staff_sessions",
        Resource::Table,
        &["dynamodb:PutItem"],
    ),
    // a refused take reads the holders to free the slots whose time is up
    (
        "store.take_import_slot",
        Resource::Table,
        &["dynamodb:UpdateItem", "dynamodb:GetItem"],
    ),
    (
        "store.give_back_import_slot",
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
