//! The funnel marketing sees: daily counters of each step, summed over a range.

use chrono::NaiveDate;
use serde::Serialize;

use super::{App, FlowError};
use crate::ports::{FunnelDay, FunnelStep};

/// Funnel statistics for a range of days.
#[derive(Debug, Clone, Serialize)]
pub struct FunnelReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub days: Vec<FunnelDay>,
    /// Each step summed over the range.
    pub totals: std::collections::BTreeMap<FunnelStep, u64>,
}

impl App {
    /// The funnel from `from` to `to` inclusive.
    pub async fn funnel_report(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<FunnelReport, FlowError> {
        let days = self.store.funnel(from, to).await?;
        let mut totals = std::collections::BTreeMap::new();
        for step in FunnelStep::ALL {
            totals.insert(step, days.iter().map(|d| d.get(step)).sum());
        }
        Ok(FunnelReport {
            from,
            to,
            days,
            totals,
        })
    }
}
