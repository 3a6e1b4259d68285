//! Events for other systems: each redirection's decisive moments (started, succeeded, failed,
//! expired, imported, import failed, follow-up sent) and each erasure, published to an
//! EventBridge bus so that a CRM or a marketing tool can subscribe without touching our table.
//!
//! The detail is versioned ([`SCHEMA_VERSION`]) and documented in `docs/events.md`; it never
//! holds bank data, a session, an email address or a name: the redirection id, the owner's
//! stable pseudonymous id (`ownerExternalId`), the language, and for failures a reason code.
//!
//! Publishing is best effort: a state change is decided by the table, and an event that cannot
//! be published is logged and counted (`EventsNotPublished`), never a failed request. Off (no
//! bus configured) means no calls at all ([`NoEvents`]).

use serde::{Deserialize, Serialize};

use crate::domain::machine::{Redirection, State};
use crate::domain::{OwnerExternalId, Timestamp};

/// The `source` of every event.
pub const SOURCE: &str = "kontomatik-signin";

/// The version of the detail schema; a change that removes or redefines a field bumps it.
pub const SCHEMA_VERSION: u32 = 1;

/// The kinds of event, one `detail-type` each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DetailType {
    Started,
    Succeeded,
    Failed,
    Expired,
    Imported,
    ImportFailed,
    FollowUpSent,
    OwnerErased,
    /// The lender sent an applicant the next step.
    Decided,
}

impl DetailType {
    /// The event's `detail-type`.
    pub fn detail_type(self) -> &'static str {
        match self {
            DetailType::Started => "signin.started",
            DetailType::Succeeded => "signin.succeeded",
            DetailType::Failed => "signin.failed",
            DetailType::Expired => "signin.expired",
            DetailType::Imported => "signin.imported",
            DetailType::ImportFailed => "signin.import_failed",
            DetailType::FollowUpSent => "signin.follow_up_sent",
            DetailType::OwnerErased => "owner.erased",
            DetailType::Decided => "application.decided",
        }
    }

    /// The event of a redirection entering `state` (a state change the table decided).
    pub fn on_entering(state: State) -> Option<DetailType> {
        Some(match state {
            State::SessionSaved => DetailType::Succeeded,
            State::Failed => DetailType::Failed,
            State::Expired => DetailType::Expired,
            State::Imported => DetailType::Imported,
            State::ImportFailed => DetailType::ImportFailed,
            State::FollowUpSent => DetailType::FollowUpSent,
            State::Created | State::Pending | State::ImportQueued | State::ImportRunning => {
                return None
            }
        })
    }
}

/// The `detail` of an event (schema version 1, `docs/events.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventDetail {
    pub schema_version: u32,
    /// Unique per moment and stable across retries: subscribers deduplicate on it (EventBridge
    /// delivers at least once).
    pub event_id: String,
    /// When the moment happened (RFC 3339, UTC).
    pub occurred_at: Timestamp,
    /// Absent only for `owner.erased`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirection_id: Option<String>,
    /// The owner's stable pseudonymous id, as Kontomatik knows the user.
    pub owner_external_id: String,
    /// The language of the user's pages and emails (ISO 639-1: `pl`, `en`, …); absent for
    /// `owner.erased`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// `signin.failed`: Kontomatik's error code; `signin.import_failed`: ours or the failed
    /// command's (see [`reason_code`]); `application.decided`: the decision (`accepted`,
    /// `more_information`, `declined`, `message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The lender's own application id, when its systems started the sign-in (the API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_application_id: Option<String>,
}

/// A reason as it may leave for other systems: a code (a letter, then letters, digits or `_`,
/// at most 64), else `Other`. Codes come from Kontomatik's replies; anything that is not a
/// code (free text, data) stays here.
pub fn reason_code(raw: &str) -> String {
    let mut chars = raw.chars();
    let is_code = raw.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if is_code {
        raw.to_owned()
    } else {
        "Other".to_owned()
    }
}

/// One event to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleEvent {
    pub kind: DetailType,
    pub detail: EventDetail,
}

impl LifecycleEvent {
    /// The event of `kind` about a redirection as stored after the moment.
    pub fn of(kind: DetailType, r: &Redirection, at: Timestamp) -> LifecycleEvent {
        let reason = match kind {
            DetailType::Failed => r.error.as_ref().map(|e| reason_code(&e.code)),
            DetailType::ImportFailed => r
                .import
                .as_ref()
                .and_then(|i| i.error.as_ref())
                .map(|e| reason_code(&e.code)),
            _ => None,
        };
        LifecycleEvent {
            kind,
            detail: EventDetail {
                schema_version: SCHEMA_VERSION,
                event_id: format!("{}.{}", r.id, kind.detail_type()),
                occurred_at: at,
                redirection_id: Some(r.id.to_string()),
                owner_external_id: r.owner.to_string(),
                language: Some(r.language.as_str().to_owned()),
                reason,
                external_application_id: r.external_application_id.clone(),
            },
        }
    }

    /// The event of a decision sent on `case` (the applicant's owner id, the decision's kind;
    /// never the message, which may name the person or their data).
    pub fn decided(
        case: &crate::domain::case::Case,
        owner: &OwnerExternalId,
        kind: crate::domain::case::DecisionKind,
        at: Timestamp,
    ) -> LifecycleEvent {
        LifecycleEvent {
            kind: DetailType::Decided,
            detail: EventDetail {
                schema_version: SCHEMA_VERSION,
                event_id: format!(
                    "{}.{}.application.decided",
                    case.reference,
                    at.timestamp_millis()
                ),
                occurred_at: at,
                redirection_id: None,
                owner_external_id: owner.to_string(),
                language: Some(case.language.as_str().to_owned()),
                reason: Some(kind.as_str().to_owned()),
                external_application_id: case.external_application_id.clone(),
            },
        }
    }

    /// The event of an owner's data having been erased here (subscribers erase their copies).
    pub fn erased(owner: &OwnerExternalId, at: Timestamp) -> LifecycleEvent {
        LifecycleEvent {
            kind: DetailType::OwnerErased,
            detail: EventDetail {
                schema_version: SCHEMA_VERSION,
                // Stable: a retried erasure repeats the same event.
                event_id: format!("{owner}.owner.erased"),
                occurred_at: at,
                redirection_id: None,
                owner_external_id: owner.to_string(),
                language: None,
                reason: None,
                external_application_id: None,
            },
        }
    }

    /// The detail as the JSON text EventBridge carries.
    pub fn detail_json(&self) -> String {
        serde_json::to_string(&self.detail).unwrap_or_else(|_| "{}".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_codes_leave_as_reasons() {
        assert_eq!(reason_code("InvalidCredentials"), "InvalidCredentials");
        assert_eq!(reason_code("ImportTimedOut"), "ImportTimedOut");
        assert_eq!(reason_code("fatal"), "fatal");
        for text in [
            "wrong password for jan@example.com",
            "",
            "1abc",
            "Bad<script>",
            &"A".repeat(65),
        ] {
            assert_eq!(reason_code(text), "Other", "{text}");
        }
    }
}
