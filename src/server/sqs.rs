//! The SQS FIFO work queue (`queue = "sqs://<FIFO queue URL>"`), for several replicas.
//!
//! ```text
//! webhook ─▶ SqsSubmit ─▶ SendMessage (group = the PR, dedup = delivery/kind/PR)
//!                              │ FIFO: one PR's messages in order, one PR at a time
//! replica: Consumer ─▶ ReceiveMessage ─▶ Scheduler (the in-process queue) ─▶ runner
//!              ▲  heartbeat: ChangeMessageVisibility while the job is pending or running
//!              └─ Finished (ran, failed for good, superseded) ─▶ DeleteMessage
//! ```
//!
//! Each replica runs its own [`Scheduler`]: SQS spreads pull requests over the replicas and
//! keeps one PR's messages on one replica at a time (a message group does not deliver while one
//! of its messages is in flight); the scheduler supersedes and retries as it does in-process.
//! A message that cannot be parsed as a [`Job`] never will be: it is logged, counted
//! (`eden_sqs_messages_total{outcome="malformed"}`) and deleted, so it does not hold up its
//! PR's group.

mod ledger;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use futures::future::BoxFuture;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::job::Job;
use super::metrics as m;
use super::queue::{JobRunner, QueueSettings, Scheduler};
use super::Submit;
use crate::aws::sqs::{self, Received};
use crate::aws::Aws;
use ledger::Ledger;

/// How long shutdown waits, beyond the grace period, for deletes and hand-backs to reach SQS.
const ACK_FLUSH: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct SqsSettings {
    pub queue_url: String,
    /// How long a received message stays invisible; the heartbeat renews it every third of
    /// this while the job is pending or running, so it only lapses if the replica died.
    pub visibility: Duration,
    /// ReceiveMessage long-poll time (at most 20 s). A shutdown waits for the receive in
    /// progress, so this also bounds how long stopping takes beyond the grace period.
    pub wait: Duration,
    /// Messages held (pending or running) at most, per replica; more stay in SQS for the other
    /// replicas. The server uses `max_in_flight`.
    pub capacity: usize,
    /// First pause after a failed receive (doubled up to `max_backoff`, with jitter).
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl SqsSettings {
    pub fn new(queue_url: &str, capacity: usize) -> SqsSettings {
        SqsSettings {
            queue_url: queue_url.to_string(),
            visibility: Duration::from_secs(60),
            wait: Duration::from_secs(10),
            capacity,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// The message group of a job: its pull request (`owner/repo#N`), made legal for SQS.
pub fn group_id(job: &Job) -> String {
    sqs::legal_id(&job.key.to_string())
}

/// The deduplication id: one delivery can carry jobs for several PRs (a `workflow_run`), and
/// FIFO deduplicates queue-wide, so the PR is part of it too. A redelivery of the same delivery
/// within SQS's 5-minute window is dropped by SQS, across replicas.
pub fn dedup_id(job: &Job) -> String {
    sqs::legal_id(&format!("{}/{}/{}", job.delivery, job.work.kind(), job.key))
}

/// `Submit` for the webhook and API: the job as JSON on the FIFO queue. Throttling and
/// transient failures are retried by the SDK (standard mode, 3 attempts); a send that still
/// fails answers the delivery with 503 and GitHub may redeliver it.
pub struct SqsSubmit {
    aws: Aws,
    queue_url: String,
}

impl SqsSubmit {
    pub fn new(aws: Aws, queue_url: &str) -> SqsSubmit {
        SqsSubmit {
            aws,
            queue_url: queue_url.to_string(),
        }
    }
}

impl Submit for SqsSubmit {
    fn submit(&self, job: Job) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let body = serde_json::to_string(&job).context("serialising the job")?;
            let r = sqs::send(
                &self.aws,
                &self.queue_url,
                &group_id(&job),
                &dedup_id(&job),
                body,
            )
            .await;
            if r.is_err() {
                m::sqs_error("SendMessage");
            }
            let id = r.with_context(|| format!("queueing the job for {}", job.key))?;
            tracing::debug!(pr = %job.key, message = %id, "sent to SQS");
            Ok(())
        })
    }
}

/// One replica's consumer: receives, runs through its own scheduler, acknowledges.
pub struct Consumer {
    scheduler: Arc<Scheduler>,
    ledger: Arc<Ledger>,
    stop: CancellationToken,
    stop_heartbeat: CancellationToken,
    receiver: JoinHandle<()>,
    heartbeat: JoinHandle<()>,
}

impl Consumer {
    /// Start receiving now (spawned on the current runtime).
    pub fn start(
        aws: Aws,
        settings: SqsSettings,
        runner: Arc<dyn JobRunner>,
        queue: QueueSettings,
    ) -> Consumer {
        let ledger = Arc::new(Ledger::new(
            aws.clone(),
            settings.queue_url.clone(),
            settings.visibility,
            settings.backoff,
        ));
        let scheduler = Scheduler::new(runner, queue, Some(ledger.clone()));
        let stop = CancellationToken::new();
        let stop_heartbeat = CancellationToken::new();
        let receiver = tokio::spawn(receive_loop(
            aws,
            settings,
            ledger.clone(),
            scheduler.clone(),
            stop.clone(),
        ));
        let heartbeat = tokio::spawn(ledger.clone().heartbeat(stop_heartbeat.clone()));
        Consumer {
            scheduler,
            ledger,
            stop,
            stop_heartbeat,
            receiver,
            heartbeat,
        }
    }

    pub fn scheduler(&self) -> &Arc<Scheduler> {
        &self.scheduler
    }

    /// Messages held: jobs pending or running on this replica.
    pub fn held(&self) -> usize {
        self.ledger.len()
    }

    /// Graceful shutdown: stop receiving; let the scheduler finish what it holds for up to
    /// `grace`; after that, jobs still pending or running are stopped at their next safe point
    /// and their messages handed back (visibility 0) so another replica takes them at once.
    /// Returns whether everything finished within `grace`.
    pub async fn shutdown(self, grace: Duration) -> bool {
        self.stop.cancel();
        // After `grace`, jobs leaving the scheduler were stopped, not finished: set before the
        // scheduler tells them to stop, so none of their messages is deleted.
        let drain = self
            .scheduler
            .shutdown_then(grace, || self.ledger.start_handing_back());
        // The receive in progress ends within the long-poll time.
        let (_, in_time) = tokio::join!(self.receiver, drain);
        self.ledger.hand_back_all();
        self.ledger.flush(grace + ACK_FLUSH).await;
        self.stop_heartbeat.cancel();
        let _ = self.heartbeat.await;
        in_time
    }
}

async fn receive_loop(
    aws: Aws,
    s: SqsSettings,
    ledger: Arc<Ledger>,
    scheduler: Arc<Scheduler>,
    stop: CancellationToken,
) {
    let mut backoff = s.backoff;
    loop {
        let room = loop {
            let room = s.capacity.max(1).saturating_sub(ledger.len());
            if room > 0 {
                break room;
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ledger.freed.notified() => {}
            }
        };
        // Not cancelled by `stop`: SQS may hand out messages to a long poll whose caller went
        // away, and they would stay invisible for the whole visibility timeout. A receive that
        // ends after `stop` hands its messages back instead.
        let got = sqs::receive(&aws, &s.queue_url, room.min(10), s.wait, s.visibility).await;
        if stop.is_cancelled() {
            if let Ok(messages) = got {
                for msg in messages {
                    ledger.give_back(msg.receipt);
                }
            }
            return;
        }
        match got {
            Ok(messages) => {
                backoff = s.backoff;
                for msg in messages {
                    accept(&ledger, &scheduler, msg);
                }
            }
            Err(e) => {
                m::sqs_error("ReceiveMessage");
                let pause = jitter(backoff);
                tracing::warn!(error = %e, transient = e.transient, retry_in = ?pause, "receiving from SQS failed");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
                backoff = (backoff * 2).min(s.max_backoff);
            }
        }
    }
}

/// Between half and all of `d`, so replicas that failed together do not retry together.
fn jitter(d: Duration) -> Duration {
    use rand::Rng;
    d.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
}

fn accept(ledger: &Ledger, scheduler: &Arc<Scheduler>, msg: Received) {
    m::sqs_message("received");
    let job: Job = match serde_json::from_str(&msg.body) {
        Ok(job) => job,
        Err(e) => {
            m::sqs_message("malformed");
            let start: String = msg.body.chars().take(200).collect();
            tracing::error!(message = %msg.id, group = ?msg.group, receives = msg.receive_count, error = %e, body_start = %start, "an SQS message is not a job: deleting it");
            ledger.discard(msg.receipt);
            return;
        }
    };
    tracing::info!(pr = %job.key, delivery = %job.delivery, kind = job.work.kind(), message = %msg.id, receives = msg.receive_count, "received from SQS");
    ledger.hold(job.clone(), msg.receipt);
    if scheduler.push(job.clone()).is_err() {
        ledger.refuse(&job);
    }
}
