//! The embedded [`CaseStore`]: each person's case with the status it is filed under, its
//! lookups, and the looks at it.

use async_trait::async_trait;

use super::store::{lock, EmbeddedStore, StoreData};
use crate::domain::case::{case_sort_key, Case, CaseStatus};
use crate::domain::{Timestamp, UserKey};
use crate::ports::{
    CaseCursor, CaseOrder, CasePage, CaseStore, CaseView, ConditionalWrite, StoreError,
};

/// A case's lookup key: by staff reference, or by the lender's application id.
pub(super) fn reference_alias(reference: &str) -> String {
    format!("r:{reference}")
}

pub(super) fn external_alias(external: &str) -> String {
    format!("x:{external}")
}

impl StoreData {
    fn live_case(&self, key: &UserKey, now: Timestamp) -> Option<Case> {
        self.cases
            .get(key)
            .filter(|(c, _)| c.expires_at > now)
            .map(|(c, _)| c.clone())
    }

    fn case_by_alias(&self, alias: &str, now: Timestamp) -> Option<Case> {
        let key = self.case_aliases.get(alias)?;
        self.live_case(key, now)
    }

    /// Forgets the person's case, its lookups and the looks at it (an erasure).
    pub(super) fn erase_case(&mut self, key: &UserKey) {
        if let Some((case, _)) = self.cases.remove(key) {
            self.case_aliases.remove(&reference_alias(&case.reference));
            if let Some(x) = &case.external_application_id {
                if self.case_aliases.get(&external_alias(x)) == Some(key) {
                    self.case_aliases.remove(&external_alias(x));
                }
            }
        }
        self.case_views.remove(key);
        self.access_grants.remove(key);
    }
}

#[async_trait]
impl CaseStore for EmbeddedStore {
    async fn get_case(&self, key: &UserKey) -> Result<Option<Case>, StoreError> {
        Ok(lock(&self.data).live_case(key, self.clock.now()))
    }

    async fn case_by_reference(&self, reference: &str) -> Result<Option<Case>, StoreError> {
        Ok(lock(&self.data)
            .case_by_alias(&reference_alias(reference), self.clock.now())
            .filter(|c| c.reference == reference))
    }

    async fn case_by_external_id(&self, external: &str) -> Result<Option<Case>, StoreError> {
        Ok(lock(&self.data)
            .case_by_alias(&external_alias(external), self.clock.now())
            .filter(|c| c.external_application_id.as_deref() == Some(external)))
    }

    async fn put_case(
        &self,
        next: &Case,
        status: CaseStatus,
        previous: Option<&Case>,
    ) -> Result<ConditionalWrite, StoreError> {
        let now = self.clock.now();
        let mut d = lock(&self.data);
        // By version and reference: versions start again at 1 for a case made after an erasure.
        let stored = d
            .live_case(&next.key, now)
            .map(|c| (c.version, c.reference));
        if stored != previous.map(|p| (p.version, p.reference.clone())) {
            return Ok(ConditionalWrite::Conflict);
        }
        d.cases.insert(next.key.clone(), (next.clone(), status));
        d.case_aliases
            .insert(reference_alias(&next.reference), next.key.clone());
        if let Some(x) = &next.external_application_id {
            // Taken by this write, or kept if still ours; another case that took it since keeps it.
            let taken = previous.is_none_or(|p| p.external_application_id.as_ref() != Some(x));
            // Ours, or gone: made again. Another case's stays.
            let ours = d
                .case_aliases
                .get(&external_alias(x))
                .is_none_or(|k| k == &next.key);
            if taken || ours {
                d.case_aliases.insert(external_alias(x), next.key.clone());
            }
        }
        Ok(ConditionalWrite::Applied)
    }

    async fn list_cases(
        &self,
        status: CaseStatus,
        order: CaseOrder,
        after: Option<&CaseCursor>,
        limit: usize,
    ) -> Result<CasePage, StoreError> {
        let now = self.clock.now();
        let limit = match self.case_page_cap.load(std::sync::atomic::Ordering::SeqCst) {
            0 => limit,
            cap => limit.min(cap),
        };
        let d = lock(&self.data);
        let mut found: Vec<(String, Case)> = d
            .cases
            .values()
            .filter(|(c, filed)| *filed == status && c.expires_at > now)
            .map(|(c, _)| (case_sort_key(c.updated_at, &c.reference), c.clone()))
            .filter(|(k, _)| match (after, order) {
                (None, _) => true,
                (Some(a), CaseOrder::OldestFirst) => k.as_str() > a.0.as_str(),
                (Some(a), CaseOrder::NewestFirst) => k.as_str() < a.0.as_str(),
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        if order == CaseOrder::NewestFirst {
            found.reverse();
        }
        let more = found.len() > limit;
        found.truncate(limit);
        let next = more
            .then(|| found.last().map(|(k, _)| CaseCursor(k.clone())))
            .flatten();
        Ok(CasePage {
            cases: found.into_iter().map(|(_, c)| c).collect(),
            next,
        })
    }

    async fn record_case_view(
        &self,
        key: &UserKey,
        view: &CaseView,
        _kept_until: Timestamp,
    ) -> Result<(), StoreError> {
        lock(&self.data)
            .case_views
            .entry(key.clone())
            .or_default()
            .push(view.clone());
        Ok(())
    }

    async fn case_views(&self, key: &UserKey) -> Result<Vec<CaseView>, StoreError> {
        let mut views = lock(&self.data)
            .case_views
            .get(key)
            .cloned()
            .unwrap_or_default();
        views.sort_by_key(|v| std::cmp::Reverse(v.at));
        Ok(views)
    }
}

#[async_trait]
impl crate::ports::AccessStore for EmbeddedStore {
    async fn put_access_grant(
        &self,
        key: &UserKey,
        grant: &crate::domain::access::AccessGrant,
    ) -> Result<(), StoreError> {
        let mut d = lock(&self.data);
        let grants = d.access_grants.entry(key.clone()).or_default();
        grants.retain(|g| g.owner != grant.owner);
        grants.push(grant.clone());
        Ok(())
    }

    async fn access_grants(
        &self,
        key: &UserKey,
    ) -> Result<Vec<crate::domain::access::AccessGrant>, StoreError> {
        let now = self.clock.now();
        Ok(lock(&self.data)
            .access_grants
            .get(key)
            .map(|g| g.iter().filter(|g| g.expires_at > now).cloned().collect())
            .unwrap_or_default())
    }
}
