//! Step 4: for users who never came back, ask Kontomatik about each due redirection at the paced
//! interval, record final statuses, start imports for late successes, close redirections whose
//! 24 h window ends, and re-enqueue saved sessions whose import job was lost. Bounded concurrency;
//! stops at the deadline and leaves the rest for the next run.

use futures::stream::{self, StreamExt};

use super::{App, FlowError, Step};
use crate::domain::{RedirectionId, Timestamp};
use crate::machine::{Event, State};
use crate::ports::{FunnelStep, POLL_SHARDS};

/// What one poller run did (also the Lambda's return value, visible in the console).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PollReport {
    /// Due items read from the index.
    pub due: usize,
    /// Status checks made at Kontomatik.
    pub checked: usize,
    /// Checks that failed or were rate limited, rescheduled.
    pub deferred: usize,
    /// Redirections that reached a final status in this run.
    pub finished: usize,
    /// Import jobs (re-)enqueued.
    pub imports_queued: usize,
    /// Redirections closed because their 24 h window ended.
    pub closed: usize,
    /// Follow-up emails sent to users who dropped off.
    pub follow_ups_sent: usize,
    /// Drop-offs decided without a follow-up (no consent, opted out, succeeded since, or one
    /// was sent recently).
    pub follow_ups_skipped: usize,
    /// Items that could not be handled (store trouble); they stay due.
    pub errors: usize,
    /// The deadline came before every due item was handled.
    pub out_of_time: bool,
}

enum One {
    Skipped,
    FollowUp { sent: bool },
    Checked { finished: bool, deferred: bool },
    Queued,
    Closed,
}

const PAGE: usize = 50;

impl App {
    /// Polls due redirections until none is due or `deadline` is near.
    pub async fn poll_due(
        &self,
        deadline: Timestamp,
        concurrency: usize,
    ) -> Result<PollReport, FlowError> {
        let mut report = PollReport::default();
        let now = self.now();
        for shard in 0..POLL_SHARDS {
            let mut cursor = None;
            loop {
                if self.now() >= deadline {
                    report.out_of_time = true;
                    return Ok(report);
                }
                let page = self.store.due_for_poll(shard, now, PAGE, cursor).await?;
                report.due += page.items.len();
                let results: Vec<Result<One, FlowError>> = stream::iter(page.items)
                    .map(|item| async move { self.poll_one(&item.id, deadline).await })
                    .buffer_unordered(concurrency.max(1))
                    .collect()
                    .await;
                for r in results {
                    match r {
                        Ok(One::Skipped) => {}
                        Ok(One::FollowUp { sent: true }) => report.follow_ups_sent += 1,
                        Ok(One::FollowUp { sent: false }) => report.follow_ups_skipped += 1,
                        Ok(One::Checked { finished, deferred }) => {
                            report.checked += 1;
                            report.finished += usize::from(finished);
                            report.deferred += usize::from(deferred);
                        }
                        Ok(One::Queued) => report.imports_queued += 1,
                        Ok(One::Closed) => report.closed += 1,
                        Err(e) => {
                            report.errors += 1;
                            tracing::warn!(error = %e, "poll of one redirection failed");
                        }
                    }
                }
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        Ok(report)
    }

    async fn poll_one(&self, id: &RedirectionId, deadline: Timestamp) -> Result<One, FlowError> {
        if self.now() >= deadline {
            return Ok(One::Skipped);
        }
        let Some(r) = self.store.get_redirection(id).await? else {
            return Ok(One::Skipped);
        };
        let now = self.now();
        if r.next_poll_at.is_none_or(|at| at > now) {
            return Ok(One::Skipped);
        }
        match r.state {
            State::SessionSaved => {
                tracing::info!(redirection = %r.id, "re-enqueueing an import whose job was not confirmed");
                self.queue_import(r).await?;
                Ok(One::Queued)
            }
            State::Created | State::Pending => {
                if now >= self.settings.pacing.last_check_at(r.created_at) {
                    let step = self
                        .step(&r, |c| Event::WindowClosed {
                            follow_up_at: Some(self.follow_up_at(c)),
                        })
                        .await?;
                    if matches!(step, Step::Applied(_)) {
                        self.count(FunnelStep::Expired).await;
                    }
                    return Ok(One::Closed);
                }
                let status = self.kontomatik.redirection_status(&r.id).await;
                let (after, failed) = self.record_status(&r, status).await?;
                Ok(One::Checked {
                    finished: !after.state.needs_polling(),
                    deferred: failed.is_some(),
                })
            }
            State::Expired | State::Failed => Ok(One::FollowUp {
                sent: self.decide_follow_up(r).await?,
            }),
            _ => Ok(One::Skipped),
        }
    }
}
