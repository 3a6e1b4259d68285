//! The operator's commands, run inside the stack by a direct invocation of the function
//! (`aws lambda invoke` / `sam remote invoke`: authorized by IAM's `lambda:InvokeFunction`),
//! with the function's own role and Kontomatik key (Kontomatik accepts the key only from the
//! stack's whitelisted address, so a laptop cannot erase at Kontomatik).
//!
//! The events:
//! - `{"operator": "erase", "email": "…"}`: the erasure of a person's data. The answer is a
//!   summary of counts, never personal data (not the address, not its hash).
//! - `{"operator": "probe"}`, optionally with `"language"` and `"country"`: Kontomatik's wire
//!   probe ([`kontomatik::probe`]) with the function's own key and base URL and the stack's
//!   redirect URI (`PUBLIC_BASE_URL` + `/kontomatik-signin`). The answer is the probe's report:
//!   the raw replies with the key and any session secret redacted, and which provisional wire
//!   names held.
//!
//! API Gateway never sends such an event: its events always carry `requestContext`, and what a
//! client sends is only ever inside their `body`, so no request through the pages can reach a
//! command. Nothing of the event is logged, and never the key.

use std::time::Duration;

use kontomatik::probe::ProbeConfig;
use serde::Deserialize;
use serde_json::{json, Value};
use signin_core::domain::{Country, Email, Secret};
use signin_core::usecases::EraseError;

use crate::Started;

/// Each of the probe's three calls may take this long, so that all three end within the
/// function's timeout (27 s in template.yaml) with time to answer.
pub const PROBE_CALL_TIMEOUT: Duration = Duration::from_secs(7);

/// One command.
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(tag = "operator", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Command {
    /// The erasure of the person with this address, as their erase link does.
    Erase { email: String },
    /// Kontomatik's wire probe from inside the stack; language and country default to the
    /// function's `DEFAULT_LANGUAGE` and `DEFAULT_COUNTRY`.
    Probe {
        #[serde(default)]
        language: Option<signin_core::domain::Language>,
        #[serde(default)]
        country: Option<Country>,
    },
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

/// Runs a command. An error is the invocation's error (the caller sees `FunctionError` and the
/// message, which names no person and holds no secret).
pub async fn run(started: &Started, command: Command) -> Result<Value, String> {
    let app = &started.app;
    match command {
        Command::Probe { language, country } => probe(started, language, country).await,
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

/// The probe with the function's own Kontomatik key and address, towards the stack's redirect
/// URI. The answer is the report; the key is replaced wherever it could still appear.
async fn probe(
    started: &Started,
    language: Option<signin_core::domain::Language>,
    country: Option<Country>,
) -> Result<Value, String> {
    let Some(kontomatik) = &started.kontomatik else {
        return Err("probe: this function has no Kontomatik configuration".into());
    };
    let base_url = url::Url::parse(&kontomatik.base_url)
        .map_err(|e| format!("probe: KONTOMATIK_BASE_URL is not a URL: {e}"))?;
    let settings = &started.app.settings;
    let mut cfg = ProbeConfig::new(
        base_url,
        kontomatik.api_key.clone(),
        settings.redirect_uri(),
        language
            .unwrap_or(settings.default_language)
            .as_str()
            .to_owned(),
        country
            .unwrap_or(settings.default_country)
            .as_str()
            .to_owned(),
    );
    cfg.call_timeout = PROBE_CALL_TIMEOUT;
    let report = kontomatik::probe::run(&cfg)
        .await
        .map_err(|e| redacted(&format!("probe: {e}"), &kontomatik.api_key))?;
    let held = report.checks.iter().filter(|c| c.held).count();
    tracing::info!(
        checks = report.checks.len(),
        held,
        "an operator ran the Kontomatik probe"
    );
    let mut answer = json!({
        "operator": "probe",
        "allHeld": report.all_held(),
        "redirectUri": cfg.redirect_uri,
        "language": cfg.language,
        "country": cfg.country,
        "checks": report.checks,
        "exchanges": report.exchanges,
        "report": report.to_string(),
    });
    redact_strings(&mut answer, &kontomatik.api_key);
    Ok(answer)
}

const REDACTED: &str = "[redacted]";

fn redacted(text: &str, key: &Secret) -> String {
    if key.expose().is_empty() {
        return text.to_owned();
    }
    text.replace(key.expose(), REDACTED)
}

/// The key out of every string of the answer (the probe already redacts what it shows; this
/// holds whatever a reply echoes in a form the probe does not know).
fn redact_strings(v: &mut Value, key: &Secret) {
    match v {
        Value::String(s) if !key.expose().is_empty() && s.contains(key.expose()) => {
            *s = redacted(s, key);
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redact_strings(i, key)),
        Value::Object(map) => map.values_mut().for_each(|i| redact_strings(i, key)),
        _ => {}
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

    #[test]
    fn the_probe_takes_a_supported_language_and_country_and_nothing_else() {
        assert_eq!(
            command_of(&json!({"operator": "probe"})),
            Some(Ok(Command::Probe {
                language: None,
                country: None
            }))
        );
        assert_eq!(
            command_of(&json!({"operator": "probe", "language": "EN", "country": "de"})),
            Some(Ok(Command::Probe {
                language: Some(signin_core::domain::Language::parse("en").unwrap()),
                country: Some(Country::parse("de").unwrap()),
            }))
        );
        for bad in [
            json!({"operator": "probe", "language": "xx"}),
            json!({"operator": "probe", "country": "us"}),
            // the key and address are the function's own, never the caller's
            json!({"operator": "probe", "baseUrl": "https://elsewhere.example"}),
            json!({"operator": "probe", "apiKey": "k"}),
        ] {
            assert!(matches!(command_of(&bad), Some(Err(_))), "{bad}");
        }
    }

    #[test]
    fn the_key_is_taken_out_of_every_string_of_an_answer() {
        let key = Secret::new("k-live-1234567890");
        let mut answer = json!({
            "report": "echo k-live-1234567890 here",
            "exchanges": [{"raw": "<c>k-live-1234567890</c>"}],
            "allHeld": false,
        });
        redact_strings(&mut answer, &key);
        let text = answer.to_string();
        assert!(!text.contains("k-live-1234567890"), "{text}");
        assert_eq!(answer["report"], "echo [redacted] here");
    }
}
