//! The in-process work queue: serialised per pull request, parallel across pull requests with
//! a bounded number in flight, retries with backoff for transient errors.
//!
//! Per PR there is at most one running job and one pending job. A new job takes the pending
//! slot (the older pending one is superseded: see [`job::merge`]) and tells the running one to
//! stop at its next safe point. All waiting is tokio time, so tests drive it with a paused
//! clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::job::{self, Job, Merge, PrKey};
use super::metrics as m;

/// What a running job is told while it runs.
#[derive(Debug, Clone, Default)]
pub struct Signals {
    /// A newer job for the same PR arrived, or the server is shutting down: stop at the next
    /// safe point (never in the middle of an engine run).
    pub cancel: CancellationToken,
    /// A cue to look again now (an image may have appeared).
    pub recheck: Arc<Notify>,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobDone {
    /// One word for logs and metrics: `created`, `deployed`, `deleted`, `skipped`, …
    pub outcome: String,
}

#[derive(Debug)]
pub struct JobError {
    /// Throttling or a transient failure: worth another attempt.
    pub transient: bool,
    pub error: anyhow::Error,
}

impl JobError {
    pub fn permanent(error: anyhow::Error) -> JobError {
        JobError {
            transient: false,
            error,
        }
    }
    pub fn transient(error: anyhow::Error) -> JobError {
        JobError {
            transient: true,
            error,
        }
    }
}

/// Runs one job (the server's implementation drives `src/preview`).
pub trait JobRunner: Send + Sync + 'static {
    fn run<'a>(
        &'a self,
        job: &'a Job,
        signals: &'a Signals,
    ) -> BoxFuture<'a, Result<JobDone, JobError>>;
}

/// Told when a job leaves the queue for good (ran, failed for good, or superseded): the SQS
/// consumer deletes the message then.
pub trait Finished: Send + Sync + 'static {
    fn finished(&self, job: &Job);
}

#[derive(Debug, Clone)]
pub struct QueueSettings {
    pub max_in_flight: usize,
    /// Attempts per job, the first included.
    pub max_attempts: u32,
    /// First backoff; doubled per attempt, capped at `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            max_in_flight: 4,
            max_attempts: 5,
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(60),
        }
    }
}

#[derive(Default)]
struct Slot {
    running: Option<Signals>,
    pending: Option<Job>,
}

#[derive(Default)]
struct Inner {
    slots: HashMap<PrKey, Slot>,
    /// Jobs accepted and not yet started.
    depth: usize,
    closed: bool,
}

/// Refused: the queue is shutting down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

pub struct Scheduler {
    inner: Mutex<Inner>,
    runner: Arc<dyn JobRunner>,
    permits: Arc<Semaphore>,
    tracker: TaskTracker,
    settings: QueueSettings,
    finished: Option<Arc<dyn Finished>>,
    shutdown: CancellationToken,
}

impl Scheduler {
    pub fn new(
        runner: Arc<dyn JobRunner>,
        settings: QueueSettings,
        finished: Option<Arc<dyn Finished>>,
    ) -> Arc<Scheduler> {
        Arc::new(Scheduler {
            inner: Mutex::new(Inner::default()),
            runner,
            permits: Arc::new(Semaphore::new(settings.max_in_flight.max(1))),
            tracker: TaskTracker::new(),
            settings,
            finished,
            shutdown: CancellationToken::new(),
        })
    }

    /// Accept a job: it runs after the PR's current job, unless a newer one replaces it first.
    pub fn push(self: &Arc<Self>, job: Job) -> Result<(), Closed> {
        let mut inner = self.inner.lock().expect("queue lock");
        if inner.closed {
            return Err(Closed);
        }
        let depth_before = inner.depth;
        let slot = inner.slots.entry(job.key.clone()).or_default();
        let dropped;
        let mut added = 0;
        match job::merge(slot.running.is_some(), slot.pending.as_ref(), &job) {
            Merge::Drop => {
                if let Some(r) = &slot.running {
                    r.recheck.notify_one();
                }
                dropped = Some(job);
            }
            Merge::Replace => {
                if let Some(r) = &slot.running {
                    if job::supersedes_running(&job) {
                        r.cancel.cancel();
                    } else {
                        r.recheck.notify_one();
                    }
                }
                let old = slot.pending.replace(job);
                if old.is_none() {
                    added = 1;
                }
                dropped = old;
            }
        }
        let start = slot.running.is_none() && slot.pending.is_some();
        let key = slot.pending.as_ref().map(|j| j.key.clone());
        if start {
            slot.running = Some(Signals::default());
        }
        inner.depth = depth_before + added;
        m::queue_depth(inner.depth);
        drop(inner);
        if let Some(d) = dropped {
            m::job_superseded(d.work.kind());
            tracing::info!(pr = %d.key, delivery = %d.delivery, kind = d.work.kind(), "superseded by a newer job");
            self.done(&d);
        }
        if let (true, Some(key)) = (start, key) {
            let me = self.clone();
            self.tracker.spawn(async move { me.work(key).await });
        }
        Ok(())
    }

    fn done(&self, job: &Job) {
        if let Some(f) = &self.finished {
            f.finished(job);
        }
    }

    /// The PR's worker: take the pending job, run it (with retries), repeat until none is left.
    async fn work(self: Arc<Self>, key: PrKey) {
        loop {
            let permit = self
                .permits
                .clone()
                .acquire_owned()
                .await
                .expect("never closed");
            let (job, signals) = {
                let mut inner = self.inner.lock().expect("queue lock");
                let slot = inner.slots.get_mut(&key).expect("slot of a running worker");
                let Some(job) = slot.pending.take() else {
                    inner.slots.remove(&key);
                    return;
                };
                // A fresh token per job: a cancel meant for the previous job must not stop this one.
                let signals = Signals {
                    cancel: self.shutdown.child_token(),
                    recheck: Arc::new(Notify::new()),
                };
                slot.running = Some(signals.clone());
                inner.depth -= 1;
                m::queue_depth(inner.depth);
                (job, signals)
            };
            m::in_flight(1.0);
            self.attempts(&job, &signals).await;
            m::in_flight(-1.0);
            drop(permit);
            // Nothing pending: the PR leaves the queue before its last job is reported, so
            // whoever hears `Finished` sees `busy()` without it.
            let last = {
                let mut inner = self.inner.lock().expect("queue lock");
                let idle = inner.slots.get(&key).is_some_and(|s| s.pending.is_none());
                if idle {
                    inner.slots.remove(&key);
                }
                idle
            };
            self.done(&job);
            if last {
                return;
            }
        }
    }

    async fn attempts(&self, job: &Job, signals: &Signals) {
        let kind = job.work.kind();
        let mut backoff = self.settings.backoff;
        for attempt in 1..=self.settings.max_attempts {
            let began = tokio::time::Instant::now();
            let result = self.runner.run(job, signals).await;
            m::job_duration(kind, began.elapsed());
            match result {
                Ok(done) => {
                    m::job_finished(kind, &done.outcome);
                    tracing::info!(pr = %job.key, delivery = %job.delivery, kind, outcome = %done.outcome, attempt, "job done");
                    return;
                }
                Err(e) if e.transient && attempt < self.settings.max_attempts => {
                    m::job_retried(kind);
                    tracing::warn!(pr = %job.key, delivery = %job.delivery, kind, attempt, retry_in = ?backoff, error = %format!("{:#}", e.error), "transient failure; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = signals.cancel.cancelled() => {
                            m::job_finished(kind, "superseded");
                            tracing::info!(pr = %job.key, delivery = %job.delivery, kind, "retry abandoned: superseded or shutting down");
                            return;
                        }
                    }
                    backoff = (backoff * 2).min(self.settings.max_backoff);
                }
                Err(e) => {
                    m::job_finished(kind, "failed");
                    tracing::error!(pr = %job.key, delivery = %job.delivery, kind, attempt, error = %format!("{:#}", e.error), "job failed");
                    return;
                }
            }
        }
    }

    /// Jobs accepted and not yet started.
    pub fn depth(&self) -> usize {
        self.inner.lock().expect("queue lock").depth
    }

    /// Pull requests with a job running or pending.
    pub fn busy(&self) -> usize {
        self.inner.lock().expect("queue lock").slots.len()
    }

    /// Stop accepting; let running and pending work finish for up to `grace`, then tell what
    /// still runs to stop at its next safe point and wait for it. Returns whether everything
    /// finished within `grace`.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.shutdown_then(grace, || {}).await
    }

    /// [`Scheduler::shutdown`], calling `before_stop` when `grace` is over, before anything is
    /// told to stop (the SQS consumer then hands stopped jobs' messages back).
    pub async fn shutdown_then(&self, grace: Duration, before_stop: impl FnOnce()) -> bool {
        self.inner.lock().expect("queue lock").closed = true;
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok()
        {
            return true;
        }
        tracing::warn!(
            ?grace,
            "work still running at the end of the shutdown grace period: stopping it at its next safe point"
        );
        before_stop();
        self.shutdown.cancel();
        // Stopped runs end at their next safe point; an engine run in progress finishes (its
        // lease would otherwise block the next run): bound that too.
        let _ = tokio::time::timeout(grace, self.tracker.wait()).await;
        false
    }
}

#[cfg(test)]
mod tests;
