//! Transition 4: for users who never came back, ask Kontomatik about each due redirection at the paced
//! interval, record final statuses, start imports for late successes, close redirections whose
//! 24 h window ends, and re-enqueue saved sessions whose import job was lost. Bounded concurrency;
//! stops at the deadline and leaves the rest for the next run.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;

use futures::stream::{FuturesUnordered, StreamExt};

use super::{App, FlowError, Transition};
use crate::domain::machine::{apply, Event, State};
use crate::domain::{RedirectionId, Timestamp};
use crate::ports::{ConditionalWrite, DueItem, FunnelStep, PollCursor, POLL_SHARDS};

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
    /// Import jobs (re-)enqueued: saved sessions whose job was not confirmed, and stale
    /// queued or running imports.
    pub imports_queued: usize,
    /// Imports ended as failed (the user asked to sign in again) because they were not final
    /// by their deadline.
    pub imports_ended: usize,
    /// Redirections closed because their 24 h window ended.
    pub closed: usize,
    /// Follow-up emails sent to users who dropped off.
    pub follow_ups_sent: usize,
    /// Drop-offs decided without a follow-up (no consent, opted out, succeeded since, or one
    /// was sent recently).
    pub follow_ups_skipped: usize,
    /// Import emails sent again after a failed send.
    pub emails_resent: usize,
    /// Items that could not be handled (store trouble); they stay due.
    pub errors: usize,
    /// The deadline came before every due item was handled.
    pub out_of_time: bool,
    /// How long the longest-waiting due item had been due when the run read it (poller lag).
    pub oldest_due_seconds: i64,
}

enum One {
    Skipped,
    EmailResent { sent: bool },
    OutOfTime,
    ImportEnded,
    FollowUp { sent: bool },
    Checked { finished: bool, deferred: bool },
    Queued,
    Closed,
}

const PAGE: usize = 50;

/// One piece of a run's work: a page read, or a check.
type Work<'a> = Pin<Box<dyn Future<Output = Done> + Send + 'a>>;

enum Done {
    Page(u8, Result<crate::ports::DuePage, crate::ports::StoreError>),
    One(Result<One, FlowError>),
}

impl PollReport {
    fn add(&mut self, r: Result<One, FlowError>) {
        match r {
            Ok(One::Skipped) => {}
            Ok(One::EmailResent { sent }) => self.emails_resent += usize::from(sent),
            Ok(One::OutOfTime) => self.out_of_time = true,
            Ok(One::FollowUp { sent: true }) => self.follow_ups_sent += 1,
            Ok(One::FollowUp { sent: false }) => self.follow_ups_skipped += 1,
            Ok(One::Checked { finished, deferred }) => {
                self.checked += 1;
                self.finished += usize::from(finished);
                self.deferred += usize::from(deferred);
            }
            Ok(One::Queued) => self.imports_queued += 1,
            Ok(One::ImportEnded) => self.imports_ended += 1,
            Ok(One::Closed) => self.closed += 1,
            Err(e) => {
                self.errors += 1;
                tracing::warn!(error = %e, "poll of one redirection failed");
            }
        }
    }
}

/// Every shard of the poll index.
pub fn all_shards() -> Vec<u8> {
    (0..POLL_SHARDS).collect()
}

impl App {
    /// Polls due redirections until none is due or `deadline` is near: no status check is
    /// started with less than the call budget left. Shards are read in turn, a page of each,
    /// starting from a different shard every minute, so that a backlog delays every shard alike
    /// instead of starving the last. Pages are read as the checks need them, and `concurrency`
    /// checks run at once across page boundaries: no page waits for the slowest check of the
    /// page before.
    pub async fn poll_due(
        &self,
        deadline: Timestamp,
        concurrency: usize,
    ) -> Result<PollReport, FlowError> {
        self.poll_shards(deadline, concurrency, &all_shards()).await
    }

    /// [`App::poll_due`] for some of the poll index's shards only (one poller of a fan-out).
    pub async fn poll_shards(
        &self,
        deadline: Timestamp,
        concurrency: usize,
        shards: &[u8],
    ) -> Result<PollReport, FlowError> {
        let concurrency = concurrency.max(1);
        let now = self.now();
        let first = now
            .timestamp()
            .div_euclid(60)
            .rem_euclid(shards.len().max(1) as i64) as usize;
        let mut open: VecDeque<(u8, Option<PollCursor>)> = (0..shards.len())
            .map(|i| (shards[(first + i) % shards.len()], None))
            .collect();
        let mut items: VecDeque<DueItem> = VecDeque::new();
        let mut work: FuturesUnordered<Work<'_>> = FuturesUnordered::new();
        let mut reading = false;
        let mut failed: Option<FlowError> = None;
        let mut report = PollReport::default();
        loop {
            // Checks while there is room.
            while work.len() - usize::from(reading) < concurrency {
                let Some(item) = items.pop_front() else { break };
                work.push(Box::pin(async move {
                    Done::One(self.poll_one(&item.id, deadline).await)
                }));
            }
            // The next page before the items run out, so that no check waits for a page.
            if !reading && items.len() < concurrency {
                if let Some((shard, cursor)) = open.pop_front() {
                    if self.now() + self.settings.kontomatik_call_budget >= deadline {
                        report.out_of_time = true;
                        open.clear();
                    } else {
                        reading = true;
                        let store = &self.store;
                        work.push(Box::pin(async move {
                            Done::Page(shard, store.due_for_poll(shard, now, PAGE, cursor).await)
                        }));
                    }
                }
            }
            let Some(done) = work.next().await else { break };
            match done {
                Done::Page(shard, Ok(page)) => {
                    reading = false;
                    report.due += page.items.len();
                    if let Some(oldest) = page.items.iter().map(|i| i.next_poll_at).min() {
                        report.oldest_due_seconds =
                            report.oldest_due_seconds.max((now - oldest).num_seconds());
                    }
                    if let Some(next) = page.next {
                        open.push_back((shard, Some(next)));
                    }
                    items.extend(page.items);
                }
                Done::Page(_, Err(e)) => {
                    // The checks under way end; nothing more is read.
                    reading = false;
                    open.clear();
                    items.clear();
                    failed = Some(e.into());
                }
                Done::One(r) => report.add(r),
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    async fn poll_one(&self, id: &RedirectionId, deadline: Timestamp) -> Result<One, FlowError> {
        if self.now() + self.settings.kontomatik_call_budget >= deadline {
            return Ok(One::OutOfTime);
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
                // Closed at the window's end, but not under a check that may still answer
                // (a user's return in the last seconds): the next run closes it.
                if now >= self.settings.pacing.last_check_at(r.created_at)
                    && !r.check_under_way(now, self.settings.kontomatik_call_budget)
                {
                    let step = self
                        .step(&r, |c| Event::WindowClosed {
                            follow_up_at: Some(self.follow_up_at(c)),
                        })
                        .await?;
                    if matches!(step, Transition::Applied(_)) {
                        self.count(FunnelStep::Expired).await;
                    }
                    return Ok(One::Closed);
                }
                // Leased first (a conditional write of the next check time): of two runs that
                // overlap, or a run and the user's return, only one asks Kontomatik, so they
                // never over-poll (429).
                let lease = Event::CheckLeased {
                    next_poll_at: Some(self.check_lease_end(&r, now)),
                };
                let Some(leased) = self.lease(&r, lease).await? else {
                    return Ok(One::Skipped);
                };
                let status = self.kontomatik.redirection_status(&r.id).await;
                let (after, failed) = self.record_status(&leased, status).await?;
                Ok(One::Checked {
                    finished: !after.state.needs_polling(),
                    deferred: failed.is_some(),
                })
            }
            State::ImportQueued | State::ImportRunning => self.sweep_import(r).await,
            State::Imported | State::ImportFailed if r.email_unsent => {
                let summary = match r.state {
                    State::Imported => self
                        .store
                        .import_records(&r.owner)
                        .await?
                        .into_iter()
                        .find(|i| i.redirection_id == r.id)
                        .map(|i| i.summary),
                    _ => None,
                };
                if r.state == State::Imported && summary.is_none() {
                    // Not readable yet (eventually consistent): the next run tries again.
                    return Ok(One::Skipped);
                }
                // Leased first, so that of two overlapping runs only one sends.
                let lease = Event::EmailUnsent {
                    retry_at: now + crate::domain::machine::email_retry(),
                };
                let Some(leased) = self.lease(&r, lease).await? else {
                    return Ok(One::Skipped);
                };
                let sent = self.send_import_email(&leased, summary.as_ref()).await;
                Ok(One::EmailResent { sent })
            }
            State::Expired | State::Failed => Ok(One::FollowUp {
                sent: self.decide_follow_up(r).await?,
            }),
            _ => Ok(One::Skipped),
        }
    }

    /// Until when a status check leased at `now` holds `r`: Kontomatik's minimum interval, but
    /// never past the last check of the 24 h window (a lease whose holder dies must not carry
    /// the item beyond the moment the poller closes it).
    pub(super) fn check_lease_end(
        &self,
        r: &crate::domain::machine::Redirection,
        now: Timestamp,
    ) -> Timestamp {
        let pacing = self.settings.pacing;
        (now + pacing.min_interval).min(pacing.last_check_at(r.created_at).max(now))
    }

    /// Applies `event` to `r` exactly as read (one conditional write, no retry): the stored
    /// result, or `None` when the event does not apply or another writer moved `r` first. Of
    /// two overlapping runs, only the one whose lease lands goes on with the item.
    pub(super) async fn lease(
        &self,
        r: &crate::domain::machine::Redirection,
        event: Event,
    ) -> Result<Option<crate::domain::machine::Redirection>, FlowError> {
        let Ok(mut next) = apply(r, event, self.now()) else {
            return Ok(None);
        };
        next.write_id = Some(uuid::Uuid::new_v4().simple().to_string());
        Ok(
            match self.store.save_redirection(&next, r.expected()).await? {
                ConditionalWrite::Applied => Some(next),
                ConditionalWrite::Conflict => match self.after_conflict(&next).await? {
                    super::AfterConflict::Ours => Some(next),
                    _ => None,
                },
            },
        )
    }

    /// An import nothing has moved for a while (its job lost, or in the dead-letter queue):
    /// its job goes on the queue again (the worker's claim and command id make that safe);
    /// past the import's deadline it is ended as failed and the user asked to sign in again.
    /// Ended as interrupted: a worker may still follow the command, so no sign-out here.
    async fn sweep_import(&self, r: crate::domain::machine::Redirection) -> Result<One, FlowError> {
        if self.now() >= r.import_deadline_at() {
            tracing::warn!(redirection = %r.id, state = r.state.as_str(), "import not final by its deadline; ending it");
            let ended = self
                .finish(
                    r,
                    super::worker::Ended::Abandoned(super::worker::failure(
                        "ImportTimedOut",
                        "the import did not finish within an hour of the sign-in",
                    )),
                )
                .await?;
            // Refused when a worker moved the import meanwhile: then it is the worker's.
            return Ok(match ended {
                super::JobOutcome::Done(State::ImportFailed) => One::ImportEnded,
                _ => One::Skipped,
            });
        }
        tracing::info!(redirection = %r.id, state = r.state.as_str(), "re-enqueueing a stale import");
        let job = crate::ports::ImportJob {
            redirection_id: r.id.clone(),
            continuation: r.job_continuation + 1,
        };
        // Marked first, on the version read: of two overlapping runs only one sends the job,
        // and the job it sends is the live one (any older copy still on the queue ends).
        let sent = Event::ImportJobSent {
            continuation: job.continuation,
        };
        if self.lease(&r, sent).await?.is_none() {
            return Ok(One::Skipped);
        }
        self.queue.enqueue(&job, std::time::Duration::ZERO).await?;
        Ok(One::Queued)
    }
}
