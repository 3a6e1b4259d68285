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
    /// The sign-in was started by someone not logged in, under the address of a person who
    /// proved it: it may not be the applicant's bank.
    StartedWithoutLogIn,
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
            CaseFlag::StartedWithoutLogIn => {
                "Started without logging in (may not be the applicant)"
            }
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
    /// When the latest import finished (or the latest refresh read Kontomatik's data), and
    /// what the analyses flagged since the lender's latest decision.
    #[serde(default)]
    pub last_import_at: Option<Timestamp>,
    #[serde(default)]
    pub flags: Vec<CaseFlag>,
    /// When a sign-in last ended without data.
    #[serde(default)]
    pub last_failed_at: Option<Timestamp>,
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
        /// The start speaks for the person (they were logged in, or nobody has proven the
        /// address yet): its name and language are taken. A start by someone not logged in
        /// under a verified person's address changes neither.
        speaks_for_person: bool,
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
    /// Staff read the applicant's data as Kontomatik keeps it now, with its analysis (no
    /// sign-in ends).
    Refreshed {
        flags: Vec<CaseFlag>,
    },
    Decided(Decision),
    /// Nothing happened; the case is filed again by what it says now (a sign-in whose window
    /// passed with no word of its end no longer holds it pending).
    Refiled,
}

impl Case {
    /// When the lender last decided (a message alone decides nothing).
    fn decided_at(&self) -> Option<Timestamp> {
        self.decisions
            .iter()
            .rev()
            .find(|d| d.kind != DecisionKind::Message)
            .map(|d| d.at)
    }

    /// Where the case is filed at `now`: pending while a sign-in is under way; else by what
    /// happened last — a decision; data (awaiting a decision, by its flags); or a sign-in that
    /// ended without data, which leaves data awaiting a decision under review and otherwise
    /// (nothing imported, or the lender decided on the data before) files the case failed.
    pub fn status(&self, now: Timestamp) -> CaseStatus {
        if self.open.values().any(|ends| *ends > now) {
            return CaseStatus::Pending;
        }
        let decided = self.decided_at();
        let data = self.last_import_at;
        let failed = self.last_failed_at;
        let decided_last =
            decided.is_some_and(|d| data.is_none_or(|i| d >= i) && failed.is_none_or(|f| d >= f));
        if decided_last {
            return CaseStatus::Decided;
        }
        let awaiting_decision = data.is_some_and(|i| decided.is_none_or(|d| i > d));
        match (awaiting_decision, self.flags.is_empty()) {
            (true, true) => CaseStatus::Imported,
            (true, false) => CaseStatus::NeedsReview,
            (false, _) => CaseStatus::Failed,
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
            last_failed_at: None,
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
                speaks_for_person,
            } => {
                c.open.insert(id.as_str().to_owned(), *window_ends);
                if *speaks_for_person {
                    c.email = email.clone();
                    if !name.trim().is_empty() {
                        c.name = name.clone();
                    }
                    c.language = *language;
                }
                if external_application_id.is_some() {
                    c.external_application_id = external_application_id.clone();
                }
                c.expires_at = c.expires_at.max(*kept_until);
            }
            CaseChange::SignInEnded { id } => {
                c.open.remove(id.as_str());
                c.last_failed_at = Some(now);
            }
            CaseChange::Imported { id, flags } => {
                c.open.remove(id.as_str());
                c.take_data(flags, now);
            }
            CaseChange::Refreshed { flags } => c.take_data(flags, now),
            CaseChange::Refiled => {}
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

    /// New data at `now` with its analysis' flags: added to those raised since the lender's
    /// latest decision (a clean second bank does not clear a first bank's debt collection),
    /// or in their place when the lender decided since.
    fn take_data(&mut self, flags: &[CaseFlag], now: Timestamp) {
        let decided_since = match (self.decided_at(), self.last_import_at) {
            (Some(d), Some(i)) => d >= i,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if decided_since {
            self.flags.clear();
        }
        self.flags.extend_from_slice(flags);
        self.flags.sort();
        self.flags.dedup();
        self.last_import_at = Some(now);
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
