//! An application as the lender's staff see it: one person's sign-ins, what their imports showed
//! and what the lender decided. One [`Case`] per person (keyed like the person), changed only
//! through [`Case::apply`]; its [`CaseStatus`] files it in the case list.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::credit::CreditAnalysis;
use crate::domain::{Email, Language, RedirectionId, Timestamp, UserKey};

/// Where a case is filed: each case is in exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// A sign-in or its import is under way.
    Pending,
    /// Imported, and the analysis raised a flag: a person must look before deciding.
    NeedsReview,
    /// Imported with nothing flagged, no decision yet.
    Imported,
    /// Every sign-in ended without data.
    Failed,
    /// The lender told the applicant the next step after their latest data.
    Decided,
}

impl CaseStatus {
    pub const ALL: [CaseStatus; 5] = [
        CaseStatus::NeedsReview,
        CaseStatus::Imported,
        CaseStatus::Pending,
        CaseStatus::Failed,
        CaseStatus::Decided,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Pending => "pending",
            CaseStatus::NeedsReview => "needs_review",
            CaseStatus::Imported => "imported",
            CaseStatus::Failed => "failed",
            CaseStatus::Decided => "decided",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// For the case list's filters.
    pub fn label(self) -> &'static str {
        match self {
            CaseStatus::Pending => "Pending",
            CaseStatus::NeedsReview => "Needs review",
            CaseStatus::Imported => "Imported",
            CaseStatus::Failed => "Failed",
            CaseStatus::Decided => "Decided",
        }
    }
}

/// What an import's analysis says a credit officer must look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseFlag {
    /// No account belongs to the applicant.
    OwnerMismatch,
    DaysWithNegativeBalance,
    ReturnedOrFailedPayments,
    DebtCollectionPayments,
    /// No income in any full month.
    NoIncome,
    /// The data starts well after the day asked for.
    ShorterThanAsked,
}

impl CaseFlag {
    pub fn label(self) -> &'static str {
        match self {
            CaseFlag::OwnerMismatch => "No account belongs to the applicant",
            CaseFlag::DaysWithNegativeBalance => "Days with a negative balance",
            CaseFlag::ReturnedOrFailedPayments => "Returned or failed payments",
            CaseFlag::DebtCollectionPayments => "Payments to debt collection",
            CaseFlag::NoIncome => "No income found",
            CaseFlag::ShorterThanAsked => "Data shorter than asked",
        }
    }

    /// The flags one analysis raises.
    pub fn of(a: &CreditAnalysis) -> Vec<CaseFlag> {
        let mut flags = vec![];
        if a.owner_mismatch {
            flags.push(CaseFlag::OwnerMismatch);
        }
        if a.days_with_negative_balance > 0 {
            flags.push(CaseFlag::DaysWithNegativeBalance);
        }
        if a.returned_or_failed_payments > 0 {
            flags.push(CaseFlag::ReturnedOrFailedPayments);
        }
        if a.debt_collection_payments > 0 {
            flags.push(CaseFlag::DebtCollectionPayments);
        }
        if a.full_months > 0 && a.months_with_income == 0 {
            flags.push(CaseFlag::NoIncome);
        }
        if a.shorter_than_asked {
            flags.push(CaseFlag::ShorterThanAsked);
        }
        flags
    }
}

/// The next step the lender tells the applicant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    Accepted,
    /// More information needed (for example: connect another bank).
    MoreInformation,
    Declined,
    /// A message of the officer's own, nothing decided.
    Message,
}

impl DecisionKind {
    pub const ALL: [DecisionKind; 4] = [
        DecisionKind::Accepted,
        DecisionKind::MoreInformation,
        DecisionKind::Declined,
        DecisionKind::Message,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Accepted => "accepted",
            DecisionKind::MoreInformation => "more_information",
            DecisionKind::Declined => "declined",
            DecisionKind::Message => "message",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    pub fn label(self) -> &'static str {
        match self {
            DecisionKind::Accepted => "Accept",
            DecisionKind::MoreInformation => "More information needed",
            DecisionKind::Declined => "Decline",
            DecisionKind::Message => "Message only",
        }
    }
}

/// The longest message an officer may send with a decision.
pub const MESSAGE_MAX_CHARS: usize = 2000;

/// One next step sent to the applicant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub kind: DecisionKind,
    /// The officer's words to the applicant (may be empty but for [`DecisionKind::Message`]).
    pub message: String,
    pub at: Timestamp,
    /// The staff member who sent it (their address).
    pub by: String,
}

/// Decisions kept on a case, the latest (the item stays small).
pub const DECISIONS_KEPT: usize = 20;

/// One person's application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Case {
    /// The person's key (the case is kept and erased with them).
    pub key: UserKey,
    /// A random reference for the staff's links (never the person's key or address).
    pub reference: String,
    pub email: Email,
    pub name: String,
    pub language: Language,
    pub created_at: Timestamp,
    /// The latest change (the case list's order, and the API's "changed since").
    pub updated_at: Timestamp,
    /// Kept until this (the person's retention), then forgotten.
    pub expires_at: Timestamp,
    /// The lender's own application id, when its systems started the sign-in.
    #[serde(default)]
    pub external_application_id: Option<String>,
    /// Sign-ins under way: each id and the end of its 24 h window (after which it is not).
    #[serde(default)]
    pub open: BTreeMap<String, Timestamp>,
    /// When the latest import finished, and what its analysis flagged.
    #[serde(default)]
    pub last_import_at: Option<Timestamp>,
    #[serde(default)]
    pub flags: Vec<CaseFlag>,
    /// Every next step sent, oldest first (the latest [`DECISIONS_KEPT`]).
    #[serde(default)]
    pub decisions: Vec<Decision>,
    /// Raised by every write; a write is conditional on the version read.
    #[serde(default)]
    pub version: u64,
}

/// Something that happened to an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseChange {
    /// A sign-in started, for this person as the start gave them.
    SignInStarted {
        key: UserKey,
        id: RedirectionId,
        window_ends: Timestamp,
        email: Email,
        name: String,
        language: Language,
        external_application_id: Option<String>,
        kept_until: Timestamp,
    },
    /// A sign-in ended without data (failed, expired, or its import failed).
    SignInEnded {
        id: RedirectionId,
    },
    /// A sign-in's import finished, with its analysis.
    Imported {
        id: RedirectionId,
        flags: Vec<CaseFlag>,
    },
    Decided(Decision),
}

impl Case {
    /// Where the case is filed at `now`.
    pub fn status(&self, now: Timestamp) -> CaseStatus {
        if self.open.values().any(|ends| *ends > now) {
            return CaseStatus::Pending;
        }
        let decided_at = self.decisions.last().map(|d| d.at);
        match (self.last_import_at, decided_at) {
            (Some(imported), Some(decided)) if decided >= imported => CaseStatus::Decided,
            (Some(_), _) if self.flags.is_empty() => CaseStatus::Imported,
            (Some(_), _) => CaseStatus::NeedsReview,
            (None, Some(_)) => CaseStatus::Decided,
            (None, None) => CaseStatus::Failed,
        }
    }

    /// The case a first change makes (`None`: only a start opens a case).
    pub fn open_with(change: &CaseChange, reference: String, now: Timestamp) -> Option<Case> {
        let CaseChange::SignInStarted {
            key,
            email,
            name,
            language,
            kept_until,
            ..
        } = change
        else {
            return None;
        };
        let case = Case {
            key: key.clone(),
            reference,
            email: email.clone(),
            name: name.clone(),
            language: *language,
            created_at: now,
            updated_at: now,
            expires_at: *kept_until,
            external_application_id: None,
            open: BTreeMap::new(),
            last_import_at: None,
            flags: vec![],
            decisions: vec![],
            version: 0,
        };
        Some(case.apply(change, now))
    }

    /// The case after `change` at `now` (its version raised).
    pub fn apply(&self, change: &CaseChange, now: Timestamp) -> Case {
        let mut c = self.clone();
        c.open.retain(|_, ends| *ends > now);
        match change {
            CaseChange::SignInStarted {
                id,
                window_ends,
                key: _,
                email,
                name,
                language,
                external_application_id,
                kept_until,
            } => {
                c.open.insert(id.as_str().to_owned(), *window_ends);
                c.email = email.clone();
                if !name.trim().is_empty() {
                    c.name = name.clone();
                }
                c.language = *language;
                if external_application_id.is_some() {
                    c.external_application_id = external_application_id.clone();
                }
                c.expires_at = c.expires_at.max(*kept_until);
            }
            CaseChange::SignInEnded { id } => {
                c.open.remove(id.as_str());
            }
            CaseChange::Imported { id, flags } => {
                c.open.remove(id.as_str());
                c.last_import_at = Some(now);
                c.flags = flags.clone();
            }
            CaseChange::Decided(decision) => {
                c.decisions.push(decision.clone());
                let extra = c.decisions.len().saturating_sub(DECISIONS_KEPT);
                c.decisions.drain(..extra);
            }
        }
        c.updated_at = now.max(c.updated_at);
        c.version += 1;
        c
    }

    /// The latest next step sent, if any.
    pub fn latest_decision(&self) -> Option<&Decision> {
        self.decisions.last()
    }
}

/// The sort key of the case list: `<updatedAt>#<reference>`, fixed-width so that string order
/// is time order. Shared by every store adapter so cursors mean the same everywhere.
pub fn case_sort_key(updated_at: Timestamp, reference: &str) -> String {
    format!(
        "{}#{}",
        updated_at.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        reference
    )
}

/// A new random case reference (128 bits, hex).
pub fn new_reference() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Whether `raw` could be a case reference (checked before any lookup).
pub fn is_reference(raw: &str) -> bool {
    raw.len() == 32
        && raw
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The lender's application id as the API takes it: 1–64 of letters, digits, `-`, `_`, `.`, `:`.
pub fn parse_external_application_id(raw: &str) -> Option<String> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| raw.to_owned())
}

#[cfg(test)]
mod tests;
