//! The operator's commands, run inside the stack by a direct invocation of the function
//! (`aws lambda invoke` / `sam remote invoke`: authorized by IAM's `lambda:InvokeFunction`),
//! with the function's own role and Kontomatik key (Kontomatik accepts the key only from the
//! stack's whitelisted address, so a laptop cannot erase at Kontomatik).
//!
//! The event is `{"operator": "erase", "email": "…"}`. API Gateway never sends such an event:
//! its events always carry `requestContext`, and what a client sends is only ever inside their
//! `body`, so no request through the pages can reach a command.
//!
//! The answer is a summary of counts, never personal data (not the address, not its hash), and
//! nothing of the event is logged.

use serde::Deserialize;
use serde_json::{json, Value};
use signin_core::domain::Email;
use signin_core::flow::EraseError;
use signin_core::App;

/// One command.
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(tag = "operator", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Command {
    /// The erasure of the person with this address, as their erase link does.
    Erase { email: String },
}

/// The command of an event, if it is one: `None` for anything else (an HTTP event), an error
/// for an operator event this function does not understand.
pub fn command_of(event: &Value) -> Option<Result<Command, String>> {
    let fields = event.as_object()?;
    if !fields.contains_key("operator") || fields.contains_key("requestContext") {
        return None;
    }
    Some(
        serde_json::from_value(event.clone())
            .map_err(|e| format!("not an operator command this function runs: {e}")),
    )
}

/// Runs a command; the answer holds counts only. An error is the invocation's error (the
/// caller sees `FunctionError` and the message, which names no person).
pub async fn run(app: &App, command: Command) -> Result<Value, String> {
    match command {
        Command::Erase { email } => {
            let email = Email::parse(&email).map_err(|e| format!("erase: {e}"))?;
            let erased = app.erase_email(&email).await.map_err(|e| match e {
                EraseError::Unavailable(_) | EraseError::SubscribersUnavailable(_) => {
                    format!("erase: nothing was deleted, try again shortly: {e}")
                }
                other => format!("erase failed (nothing of it is lost; try again): {other}"),
            })?;
            tracing::info!(
                owners = erased.found.owners.len(),
                "an operator erased a person's data"
            );
            Ok(json!({
                "operator": "erase",
                "found": !erased.found.is_empty() || !erased.found.owners.is_empty(),
                "userRecord": erased.found.user.is_some(),
                "owners": erased.found.owners.len(),
                "redirections": erased.found.redirections.len(),
                "importRecords": erased.found.imports,
                "deletedAtKontomatik": erased.deleted_at_kontomatik,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operator_event_is_a_command_and_an_http_event_is_not() {
        assert_eq!(
            command_of(&json!({"operator": "erase", "email": "ann@example.com"})),
            Some(Ok(Command::Erase {
                email: "ann@example.com".into()
            }))
        );
        // API Gateway's events: never a command, whatever their body or query says.
        let http = json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": "/erase",
            "rawQueryString": "operator=erase",
            "requestContext": {"http": {"method": "POST"}},
            "body": "{\"operator\":\"erase\",\"email\":\"ann@example.com\"}",
        });
        assert_eq!(command_of(&http), None);
        let forged = json!({"operator": "erase", "email": "a@b.example", "requestContext": {}});
        assert_eq!(command_of(&forged), None);
        assert!(matches!(
            command_of(&json!({"operator": "drop-table"})),
            Some(Err(_))
        ));
        assert!(matches!(
            command_of(&json!({"operator": "erase", "email": "a@b.example", "all": true})),
            Some(Err(_))
        ));
    }
}
