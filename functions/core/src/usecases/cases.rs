//! The lender's side: each application (a [`Case`]) follows its person's sign-ins and imports;
//! credit staff list the cases, open one (every look recorded for audit) and send the applicant
//! the next step.

use thiserror::Error;

use super::{App, FlowError, MAX_TRIES};
use crate::config::{StaffMember, StaffRole};
use crate::domain::case::{
    new_reference, Case, CaseChange, CaseStatus, Decision, DecisionKind, MESSAGE_MAX_CHARS,
};
use crate::domain::events::LifecycleEvent;
use crate::domain::links::Purpose;
use crate::domain::UserKey;
use crate::notify;
use crate::ports::{
    CaseCursor, CaseOrder, CasePage, CaseView, ConditionalWrite, FunnelStep, ImportRecord,
    ImportSource, SignInRecord, UserProfile,
};

/// Cases on one page of the staff's list.
pub const CASES_PER_PAGE: usize = 25;

/// How long a case's refresh waits for an import with a kept multiple access (the staff
/// function has 27 s; the owner's data is read in what is left).
pub const ACCESS_IMPORT_BUDGET: chrono::Duration = chrono::Duration::seconds(15);
/// How often it looks at that import meanwhile.
const ACCESS_IMPORT_POLL: std::time::Duration = std::time::Duration::from_secs(3);
/// Imports with a kept multiple access a day per owner id (PSD2 allows a few unattended
/// accesses a day); past them a refresh reads the owner's data.
pub const ACCESS_IMPORTS_PER_OWNER_PER_DAY: u64 = 4;

#[derive(Debug, Error)]
pub enum CaseError {
    /// The session is not a credit officer's (or has ended).
    #[error("sign in as credit staff to see applications")]
    NotAllowed,
    #[error("there is no such application (it may have been erased)")]
    NotFound,
    /// The decision form is not one we can send.
    #[error("{0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Internal(#[from] FlowError),
}

/// Everything staff see of one application.
#[derive(Debug, Clone)]
pub struct CaseFile {
    pub case: Case,
    pub status: CaseStatus,
    pub person: Option<UserProfile>,
    /// Newest first.
    pub sign_ins: Vec<SignInRecord>,
    /// Newest first, each with its analysis.
    pub imports: Vec<ImportRecord>,
    /// Newest first (this look included).
    pub views: Vec<CaseView>,
}

/// A decision sent.
#[derive(Debug, Clone)]
pub struct Decided {
    pub case: Case,
    /// The email went out (else the applicant still sees it on their page).
    pub emailed: bool,
}

impl App {
    /// Applies `change` to the person's case (opening one at a start), written over the version
    /// it was made from; on a lost race reads again. `None`: the person has no case and the
    /// change does not open one.
    pub(crate) async fn change_case(
        &self,
        key: &UserKey,
        change: &CaseChange,
    ) -> Result<Option<Case>, FlowError> {
        for _ in 0..MAX_TRIES {
            let now = self.now();
            let previous = self.store.get_case(key).await?;
            let next = match &previous {
                Some(c) => c.apply(change, now),
                None => match Case::open_with(change, new_reference(), now) {
                    Some(c) => c,
                    None => return Ok(None),
                },
            };
            match self
                .store
                .put_case(&next, next.status(now), previous.as_ref())
                .await?
            {
                ConditionalWrite::Applied => return Ok(Some(next)),
                ConditionalWrite::Conflict => continue,
            }
        }
        Err(FlowError::Contended(MAX_TRIES))
    }

    /// [`App::change_case`], best effort: the sign-in's own records decide its moments; the
    /// case list is the lender's view of them.
    pub(crate) async fn note_case(&self, key: &UserKey, change: CaseChange) {
        if let Err(e) = self.change_case(key, &change).await {
            tracing::warn!(error = %e, "could not file a change to an application");
        }
    }

    /// The credit officer of a staff session cookie's value, if it is one.
    pub async fn credit_officer(&self, session: Option<&str>) -> Option<StaffMember> {
        self.staff_member(session?)
            .await
            .filter(|m| m.may(StaffRole::Credit))
    }

    /// One page of the cases filed under `status`, latest change first, after `cursor` (the
    /// previous page's `next`). A case listed here that belongs elsewhere now (a sign-in whose
    /// window passed with no word of its end) is filed again where it belongs, and left out.
    pub async fn case_list(
        &self,
        status: CaseStatus,
        cursor: Option<&str>,
    ) -> Result<CasePage, FlowError> {
        let cursor = cursor
            .filter(|c| c.len() <= 80 && c.is_ascii())
            .map(|c| CaseCursor(c.to_owned()));
        let mut page = self
            .store
            .list_cases(
                status,
                CaseOrder::NewestFirst,
                cursor.as_ref(),
                CASES_PER_PAGE,
            )
            .await?;
        let now = self.now();
        let mut misfiled = vec![];
        page.cases.retain(|c| {
            let here = c.status(now) == status;
            if !here {
                misfiled.push(c.key.clone());
            }
            here
        });
        for key in misfiled {
            self.note_case(&key, CaseChange::Refiled).await;
        }
        Ok(page)
    }

    /// Opens the case with `reference` for `officer` ([`App::case_file`]).
    pub async fn open_case(
        &self,
        officer: &StaffMember,
        reference: &str,
    ) -> Result<CaseFile, CaseError> {
        let case = self.officers_case(officer, reference).await?;
        Ok(self.case_file(case, officer.email.as_str()).await?)
    }

    /// The case with `reference`, for a credit officer.
    async fn officers_case(
        &self,
        officer: &StaffMember,
        reference: &str,
    ) -> Result<Case, CaseError> {
        if !officer.may(StaffRole::Credit) {
            return Err(CaseError::NotAllowed);
        }
        if !crate::domain::case::is_reference(reference) {
            return Err(CaseError::NotFound);
        }
        self.store
            .case_by_reference(reference)
            .await
            .map_err(FlowError::from)?
            .ok_or(CaseError::NotFound)
    }

    /// Everything of `case` for `by` (a staff member's address, or the API caller's ARN): the
    /// look is recorded first (no record, no look), then the applicant, their sign-ins and each
    /// import's analysis are read.
    pub(crate) async fn case_file(&self, case: Case, by: &str) -> Result<CaseFile, FlowError> {
        let now = self.now();
        self.store
            .record_case_view(
                &case.key,
                &CaseView {
                    by: by.to_owned(),
                    at: now,
                },
                case.expires_at,
            )
            .await?;
        // The audit trail in the log names the case by its reference only.
        tracing::info!(case = %case.reference, "an application was opened");
        let person = self.store.get_user(&case.key).await?;
        let sign_ins = self.store.sign_ins(&case.key).await?;
        let mut owners: std::collections::BTreeSet<_> =
            sign_ins.iter().map(|s| s.owner.clone()).collect();
        owners.extend(person.as_ref().map(|p| p.owner.clone()));
        let mut imports = vec![];
        for owner in &owners {
            imports.extend(self.store.import_records(owner).await?);
        }
        imports.sort_by_key(|r| std::cmp::Reverse(r.imported_at));
        let views = self.store.case_views(&case.key).await?;
        Ok(CaseFile {
            status: case.status(now),
            case,
            person,
            sign_ins,
            imports,
            views,
        })
    }

    /// Sends the applicant of the case with `reference` the next step: stored on the case (and
    /// so on their page), emailed in their language with a link to their page, published as
    /// `application.decided` (no bank data) and counted in the funnel.
    pub async fn decide(
        &self,
        officer: &StaffMember,
        reference: &str,
        kind: DecisionKind,
        message: &str,
    ) -> Result<Decided, CaseError> {
        let message = decision_message(kind, message)?;
        let found = self.officers_case(officer, reference).await?;
        let person = self
            .store
            .get_user(&found.key)
            .await
            .map_err(FlowError::from)?
            .ok_or(CaseError::NotFound)?;
        let now = self.now();
        let decision = Decision {
            kind,
            message,
            at: now,
            by: officer.email.as_str().to_owned(),
        };
        let case = self
            .change_case(&found.key, &CaseChange::Decided(decision.clone()))
            .await?
            .ok_or(CaseError::NotFound)?;
        tracing::info!(case = %case.reference, kind = kind.as_str(), "a decision was sent to an applicant");
        self.count(FunnelStep::Decided).await;
        self.publish(LifecycleEvent::decided(&case, &person.owner, kind, now))
            .await;
        let emailed = self.mail_decision(&case, &person, &decision).await;
        Ok(Decided { case, emailed })
    }

    async fn mail_decision(&self, case: &Case, person: &UserProfile, d: &Decision) -> bool {
        let erase = match self.link_for(
            Purpose::Erase,
            &person.key,
            case.language,
            self.settings.default_country,
            &person.owner,
        ) {
            Ok(url) => url,
            Err(e) => {
                tracing::error!(error = %e, "a decision's email could not be made");
                return false;
            }
        };
        let mail = notify::decision_email(
            case,
            d,
            &self.settings.company_name,
            &self.my_page_url(),
            &erase,
        );
        match self.mailer.send(&mail).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(case = %case.reference, error = %e, "a decision could not be mailed");
                false
            }
        }
    }

    /// Refreshes the case with `reference` without the applicant: each of its owner ids' data
    /// as Kontomatik keeps it now (no new import, no bank session) is analysed and kept as an
    /// import record of its own, and the case is filed again by the new flags. At most once an
    /// hour per case (the read is the size of a whole import). `Ok(0)`: Kontomatik holds
    /// nothing for the applicant (erased there, or never imported).
    pub async fn refresh_case(
        &self,
        officer: &StaffMember,
        reference: &str,
    ) -> Result<usize, CaseError> {
        let case = self.officers_case(officer, reference).await?;
        let now = self.now();
        let hour = now.timestamp() / 3600;
        let first = self
            .store
            .take_allowance(
                &crate::ports::Allowance::FormToken {
                    nonce: format!("case-refresh#{reference}#{hour}"),
                },
                1,
                chrono::DateTime::from_timestamp((hour + 1) * 3600, 0).unwrap_or(now),
            )
            .await
            .map_err(FlowError::from)?;
        if !first {
            return Err(CaseError::Invalid(
                "this application was refreshed in this clock hour already; try again after the hour",
            ));
        }
        // Each owner id the applicant's sign-ins had (an anonymous start has its own), with its
        // latest sign-in for the record.
        let mut owners: Vec<(crate::domain::OwnerExternalId, crate::domain::RedirectionId)> =
            vec![];
        for s in self
            .store
            .sign_ins(&case.key)
            .await
            .map_err(FlowError::from)?
        {
            if !owners.iter().any(|(o, _)| *o == s.owner) {
                owners.push((s.owner, s.id));
            }
        }
        let mut refreshed = 0;
        // What every owner's data now flags, filed at once (also when a later owner fails).
        let mut flagged = std::collections::BTreeSet::new();
        let grants = self
            .store
            .access_grants(&case.key)
            .await
            .map_err(FlowError::from)?;
        let person = self
            .store
            .get_user(&case.key)
            .await
            .map_err(FlowError::from)?;
        // One budget for every import with a kept access, within the function's time.
        let access_deadline = now + ACCESS_IMPORT_BUDGET;
        let mut failure = None;
        for (owner, id) in owners {
            // An owner id not the verified person's own: a sign-in started by someone not
            // logged in (as the worker flags it).
            let unproven = person
                .as_ref()
                .is_some_and(|p| p.is_verified() && p.owner != owner);
            match self
                .refresh_owner(&case, &owner, &grants, access_deadline)
                .await
            {
                Ok(Some((summary, credit, source))) => {
                    flagged.extend(crate::domain::case::CaseFlag::of(&credit));
                    if unproven {
                        flagged.insert(crate::domain::case::CaseFlag::StartedWithoutLogIn);
                    }
                    let kept = self
                        .store
                        .put_import_record(&ImportRecord {
                            owner,
                            redirection_id: id,
                            imported_at: now,
                            summary,
                            credit: Some(credit),
                            source,
                            expires_at: now + self.settings.import_retention,
                        })
                        .await;
                    if let Err(e) = kept {
                        failure = Some(FlowError::from(e));
                        break;
                    }
                    refreshed += 1;
                }
                Ok(None) => {}
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if refreshed > 0 {
            let flags = flagged.into_iter().collect();
            self.change_case(&case.key, &CaseChange::Refreshed { flags })
                .await?;
        }
        if let Some(e) = failure {
            return Err(e.into());
        }
        tracing::info!(case = %case.reference, refreshed, "an application was refreshed from Kontomatik");
        Ok(refreshed)
    }

    /// One owner id's fresh data, analysed: a new import with its kept multiple access (at most
    /// [`ACCESS_IMPORTS_PER_OWNER_PER_DAY`], by `deadline`), else what Kontomatik keeps for it.
    /// `None`: Kontomatik holds nothing for the owner.
    async fn refresh_owner(
        &self,
        case: &Case,
        owner: &crate::domain::OwnerExternalId,
        grants: &[crate::domain::access::AccessGrant],
        deadline: crate::domain::Timestamp,
    ) -> Result<
        Option<(
            crate::domain::import::ImportSummary,
            crate::domain::credit::CreditAnalysis,
            ImportSource,
        )>,
        FlowError,
    > {
        let now = self.now();
        let builders = || {
            (
                crate::domain::import::SummaryBuilder::default(),
                crate::domain::credit::CreditAnalysisBuilder::new(
                    self.settings.import_since(now.date_naive()),
                    now.date_naive(),
                ),
            )
        };
        let (mut summary, mut credit) = builders();
        let mut imported = false;
        if let Some(g) = grants.iter().find(|g| g.owner == *owner) {
            // Unattended accesses are few a day (PSD2): past them, the owner's data.
            let allowed = self
                .store
                .take_allowance(
                    &crate::ports::Allowance::FormToken {
                        nonce: format!("access-import#{owner}#{}", now.date_naive()),
                    },
                    ACCESS_IMPORTS_PER_OWNER_PER_DAY,
                    super::start::day_end(now),
                )
                .await?;
            if allowed {
                imported = self
                    .import_with_access(
                        g,
                        &mut crate::domain::import::Tee(&mut summary, &mut credit),
                        deadline,
                    )
                    .await;
            }
        }
        let source = if imported {
            ImportSource::AccessImport
        } else {
            // Fresh builders: a result cut off half-way is never mixed in.
            (summary, credit) = builders();
            let found = self
                .kontomatik
                .owner_data(
                    owner,
                    &mut crate::domain::import::Tee(&mut summary, &mut credit),
                )
                .await?;
            if !found {
                return Ok(None);
            }
            ImportSource::OwnerData
        };
        Ok(Some((summary.build(), credit.build(&case.name), source)))
    }

    /// A new import of `grant`'s owner at the bank with its kept multiple access, its result
    /// streamed into `sink`; `false` when it could not be had within
    /// [`ACCESS_IMPORT_BUDGET`] (the token no longer opens, Kontomatik refused, the import is
    /// still running): `sink` then took nothing.
    async fn import_with_access(
        &self,
        grant: &crate::domain::access::AccessGrant,
        sink: &mut dyn crate::domain::import::ImportSink,
        deadline: crate::domain::Timestamp,
    ) -> bool {
        let Ok(key) = self.signing_key() else {
            return false;
        };
        let Ok(token) = crate::domain::access::open_token(key, &grant.owner, &grant.sealed_token)
        else {
            tracing::warn!(
                "a kept multiple access could not be opened; the owner's data is read instead"
            );
            return false;
        };
        let now = self.now();
        let started = self
            .kontomatik
            .import_with_access(
                &grant.owner,
                &token,
                self.settings.import_since(now.date_naive()),
            )
            .await;
        let command = match started {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "an import with a multiple access was refused; the owner's data is read instead");
                return false;
            }
        };
        loop {
            let left = (deadline - self.now()).to_std().unwrap_or_default();
            if left.is_zero() {
                tracing::warn!("an import with a multiple access is still running; the owner's data is read instead");
                return false;
            }
            // Reads of an unfinished command stream nothing into the sink.
            match self
                .kontomatik
                .command_status_within(&command, sink, left)
                .await
            {
                Ok(status) if status.state == crate::domain::CommandState::Successful => {
                    return true
                }
                Ok(status) if status.state.is_final() => return false,
                Ok(_) => self.pause.pause(ACCESS_IMPORT_POLL.min(left)).await,
                Err(e) => {
                    tracing::warn!(error = %e, "an import with a multiple access could not be followed");
                    return false;
                }
            }
        }
    }

    /// The applicant's own case, for their page.
    pub async fn own_case(&self, person: &UserProfile) -> Result<Option<Case>, FlowError> {
        Ok(self.store.get_case(&person.key).await?)
    }
}

/// An officer's message as it may be sent with a decision of `kind` (checked before anything
/// is written): trimmed, line breaks kept, other control characters dropped, at most
/// [`MESSAGE_MAX_CHARS`]; a message-only decision needs words.
pub fn decision_message(kind: DecisionKind, raw: &str) -> Result<String, CaseError> {
    let message = plain_message(raw)?;
    if kind == DecisionKind::Message && message.is_empty() {
        return Err(CaseError::Invalid("write the message to send"));
    }
    Ok(message)
}

fn plain_message(raw: &str) -> Result<String, CaseError> {
    let cleaned: String = raw
        .replace("\r\n", "\n")
        .chars()
        .filter(|c| *c == '\n' || !c.is_control())
        .collect();
    let cleaned = cleaned.trim().to_owned();
    if cleaned.chars().count() > MESSAGE_MAX_CHARS {
        return Err(CaseError::Invalid(
            "the message is too long (at most 2000 characters)",
        ));
    }
    Ok(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_plain_and_bounded() {
        assert_eq!(plain_message("  Hi\r\nthere\u{7}  ").unwrap(), "Hi\nthere");
        assert!(plain_message(&"x".repeat(MESSAGE_MAX_CHARS)).is_ok());
        assert!(matches!(
            plain_message(&"x".repeat(MESSAGE_MAX_CHARS + 1)),
            Err(CaseError::Invalid(_))
        ));
        assert!(decision_message(DecisionKind::Message, " \n ").is_err());
        assert_eq!(decision_message(DecisionKind::Accepted, " ").unwrap(), "");
    }
}
