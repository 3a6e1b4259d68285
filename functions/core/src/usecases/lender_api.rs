//! The lender's API (IAM-authorized routes of the HTTP API, `docs/api.md`): start a sign-in for
//! the lender's customer under its application id, read an application's state and analysis,
//! list the applications changed since a time. The caller is the IAM principal API Gateway
//! verified; every read of an application is recorded with it, like a credit officer's look.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{App, FlowError, StartError, StartForm};
use crate::domain::case::{
    case_sort_key, parse_external_application_id, Case, CaseFlag, CaseStatus, DecisionKind,
};
use crate::domain::credit::CreditAnalysis;
use crate::domain::Timestamp;
use crate::ports::{CaseCursor, CaseOrder, SignInOutcome};

/// Applications on one page of "changed since".
pub const CHANGES_PER_PAGE: usize = 100;

/// `POST /api/sign-ins`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiStart {
    pub external_application_id: String,
    pub email: String,
    pub name: String,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiStarted {
    pub redirection_id: String,
    pub link: String,
    pub external_application_id: String,
    pub link_expires_at: Timestamp,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiSignIn {
    pub redirection_id: String,
    pub started_at: Timestamp,
    /// `None` while it is under way.
    pub outcome: Option<SignInOutcome>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiAnalysis {
    pub imported_at: Timestamp,
    #[serde(flatten)]
    pub figures: CreditAnalysis,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiDecision {
    pub kind: DecisionKind,
    pub message: String,
    pub at: Timestamp,
}

/// `GET /api/application`: an application's state and its latest analysis (no name, address or
/// transaction).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationState {
    pub external_application_id: Option<String>,
    pub reference: String,
    pub status: CaseStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub flags: Vec<CaseFlag>,
    pub sign_ins: Vec<ApiSignIn>,
    pub analysis: Option<ApiAnalysis>,
    pub latest_decision: Option<ApiDecision>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationChange {
    pub external_application_id: Option<String>,
    pub reference: String,
    pub status: CaseStatus,
    pub updated_at: Timestamp,
}

/// `GET /api/applications`: oldest change first; `next` while more may follow.
#[derive(Debug, Clone, Serialize)]
pub struct ChangesPage {
    pub applications: Vec<ApplicationChange>,
    pub next: Option<String>,
}

#[derive(Debug, Error)]
pub enum ApiError {
    /// The request is not one we take (the message says why; nothing was written).
    #[error("{0}")]
    Invalid(String),
    #[error("no application has this id (or it was erased)")]
    NotFound,
    /// Kontomatik could not be reached: retry later.
    #[error("the bank sign-in service is unavailable; retry later")]
    Unavailable,
    #[error(transparent)]
    Internal(#[from] FlowError),
}

impl From<StartError> for ApiError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Invalid(i) => ApiError::Invalid(i.to_string()),
            StartError::Unavailable(_) => ApiError::Unavailable,
            StartError::Internal(e) => ApiError::Internal(e),
            // Limits and forms are the browser's; the API's start does not meet them.
            other => ApiError::Internal(FlowError::Unconfigured(match other {
                StartError::LoginRequired => "a log-in (not needed by the API)",
                _ => "a browser form (not needed by the API)",
            })),
        }
    }
}

impl App {
    /// Starts a sign-in for the lender's customer (`caller`: the IAM principal): the link to
    /// send them to, under the lender's application id. Refused (nothing written, nothing asked
    /// of Kontomatik) for a body that is not one, or a country not offered.
    pub async fn api_start(&self, _caller: &str, body: &[u8]) -> Result<ApiStarted, ApiError> {
        let req: ApiStart = serde_json::from_slice(body).map_err(|e| {
            ApiError::Invalid(format!(
                "the body must be JSON with externalApplicationId, email, name and optionally language and country ({})",
                e
            ))
        })?;
        let external =
            parse_external_application_id(&req.external_application_id).ok_or_else(|| {
                ApiError::Invalid(
                    "externalApplicationId must be 1 to 64 letters, digits, '-', '_', '.' or ':'"
                        .into(),
                )
            })?;
        let mut valid = StartForm {
            email: Some(req.email),
            name: Some(req.name),
            follow_up_consent: None,
            language: req.language,
            country: req.country,
            delivery: Some("redirect".into()),
            form_token: None,
        }
        .validate(&self.settings)
        .map_err(|e| ApiError::Invalid(e.to_string()))?;
        valid.external_application_id = Some(external.clone());
        let started = self.start_valid(valid, false).await?;
        // Not the caller's ARN: a role session's name may be a person's address.
        tracing::info!(redirection = %started.redirection.id, "a sign-in was started through the API");
        Ok(ApiStarted {
            redirection_id: started.redirection.id.to_string(),
            link: started.link,
            external_application_id: external,
            link_expires_at: started.redirection.link_expires_at(),
        })
    }

    /// The application the lender knows by `external`, read by `caller` (recorded first).
    pub async fn api_application(
        &self,
        caller: &str,
        external: &str,
    ) -> Result<ApplicationState, ApiError> {
        let external = parse_external_application_id(external).ok_or(ApiError::NotFound)?;
        let case = self
            .store
            .case_by_external_id(&external)
            .await
            .map_err(FlowError::from)?
            .ok_or(ApiError::NotFound)?;
        let file = self.case_file(case, caller).await?;
        let now = self.now();
        let latest = file.imports.iter().find(|r| r.credit.is_some());
        Ok(ApplicationState {
            external_application_id: file.case.external_application_id.clone(),
            reference: file.case.reference.clone(),
            status: file.case.status(now),
            created_at: file.case.created_at,
            updated_at: file.case.updated_at,
            flags: file.case.flags.clone(),
            sign_ins: file
                .sign_ins
                .iter()
                .map(|s| ApiSignIn {
                    redirection_id: s.id.to_string(),
                    started_at: s.created_at,
                    outcome: s.outcome,
                })
                .collect(),
            analysis: latest.and_then(|r| {
                Some(ApiAnalysis {
                    imported_at: r.imported_at,
                    figures: r.credit.clone()?,
                })
            }),
            latest_decision: file.case.latest_decision().map(|d| ApiDecision {
                kind: d.kind,
                message: d.message.clone(),
                at: d.at,
            }),
        })
    }

    /// The applications changed at or after `since` (after `cursor` when given: the previous
    /// page's `next`), oldest change first, at most [`CHANGES_PER_PAGE`].
    pub async fn api_changes(
        &self,
        since: Timestamp,
        cursor: Option<&str>,
    ) -> Result<ChangesPage, ApiError> {
        let from = case_sort_key(since, "");
        let after = match cursor {
            Some(c) if c.len() <= 80 && c.is_ascii() => CaseCursor(c.max(from.as_str()).to_owned()),
            Some(_) => return Err(ApiError::Invalid("cursor is not one we gave".into())),
            None => CaseCursor(from),
        };
        // Each status's part of the index from the cursor on; the earliest of them all.
        let mut found: Vec<(String, Case)> = vec![];
        // Each status's part is complete only up to where its page stopped (a page may stop
        // short of its limit: DynamoDB's 1 MB, cases past retention left out): the merge is
        // complete up to the earliest such stop, and nothing after it is answered yet.
        let mut complete_to: Option<CaseCursor> = None;
        for status in CaseStatus::ALL {
            let page = self
                .store
                .list_cases(
                    status,
                    CaseOrder::OldestFirst,
                    Some(&after),
                    CHANGES_PER_PAGE,
                )
                .await
                .map_err(FlowError::from)?;
            if let Some(n) = page.next {
                complete_to = Some(complete_to.map_or(n.clone(), |e| e.min(n)));
            }
            found.extend(
                page.cases
                    .into_iter()
                    .map(|c| (case_sort_key(c.updated_at, &c.reference), c)),
            );
        }
        if let Some(limit) = &complete_to {
            found.retain(|(k, _)| k.as_str() <= limit.0.as_str());
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        let more = complete_to.is_some() || found.len() > CHANGES_PER_PAGE;
        found.truncate(CHANGES_PER_PAGE);
        let next = if more {
            found
                .last()
                .map(|(k, _)| k.clone())
                .or(complete_to.map(|c| c.0))
        } else {
            None
        };
        let now = self.now();
        Ok(ChangesPage {
            applications: found
                .into_iter()
                .map(|(_, c)| ApplicationChange {
                    status: c.status(now),
                    external_application_id: c.external_application_id,
                    reference: c.reference,
                    updated_at: c.updated_at,
                })
                .collect(),
            next,
        })
    }
}
