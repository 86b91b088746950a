//! The messages a replica holds: one per job it pushed into its scheduler and that has not left
//! it yet. Keeps them invisible (heartbeat), deletes each when its job leaves the scheduler for
//! good, hands them back (visibility 0) at shutdown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::aws::sqs::{self, SqsError};
use crate::aws::{Aws, AwsErrorKind};
use crate::server::job::Job;
use crate::server::metrics as m;
use crate::server::queue::Finished;

/// Attempts per delete or visibility change (each one also retried by the SDK).
const ACK_ATTEMPTS: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ack {
    Delete,
    HandBack,
}

#[derive(Default)]
struct Held {
    /// The job each message carries and its receipt (equal jobs are interchangeable).
    messages: Vec<(Job, String)>,
    /// Shutting down: a job leaving the scheduler now was stopped, not finished.
    handing_back: bool,
}

pub(super) struct Ledger {
    aws: Aws,
    queue_url: String,
    visibility: Duration,
    backoff: Duration,
    held: Mutex<Held>,
    /// A message was released: room for another receive.
    pub freed: Notify,
    /// Deletes and hand-backs in progress (shutdown waits for them).
    acks: TaskTracker,
    /// A hand-back waits for a heartbeat round in progress, so no extension lands after it.
    round: Arc<tokio::sync::Mutex<()>>,
}

impl Ledger {
    pub fn new(aws: Aws, queue_url: String, visibility: Duration, backoff: Duration) -> Ledger {
        Ledger {
            aws,
            queue_url,
            visibility,
            backoff,
            held: Mutex::new(Held::default()),
            freed: Notify::new(),
            acks: TaskTracker::new(),
            round: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    pub fn len(&self) -> usize {
        self.held.lock().expect("ledger lock").messages.len()
    }

    /// Record a message before its job is pushed (the push may finish it at once).
    pub fn hold(&self, job: Job, receipt: String) {
        self.held
            .lock()
            .expect("ledger lock")
            .messages
            .push((job, receipt));
    }

    /// The job will not run here (the scheduler refused it): give its message back.
    pub fn refuse(&self, job: &Job) {
        if let Some(receipt) = self.take(job) {
            self.ack(receipt, Ack::HandBack);
        }
    }

    /// Hand back a message that was never held (received while stopping).
    pub fn give_back(&self, receipt: String) {
        self.ack(receipt, Ack::HandBack);
    }

    /// Delete a message that holds no job (it could not be parsed).
    pub fn discard(&self, receipt: String) {
        self.ack(receipt, Ack::Delete);
    }

    /// From now on, messages whose jobs leave the scheduler are handed back, not deleted.
    pub fn start_handing_back(&self) {
        self.held.lock().expect("ledger lock").handing_back = true;
    }

    /// Hand back every message still held (shutdown, after the scheduler stopped).
    pub fn hand_back_all(&self) {
        let all = {
            let mut held = self.held.lock().expect("ledger lock");
            held.handing_back = true;
            std::mem::take(&mut held.messages)
        };
        for (_, receipt) in all {
            self.ack(receipt, Ack::HandBack);
        }
    }

    /// Wait (up to `limit`) for deletes and hand-backs in progress.
    pub async fn flush(&self, limit: Duration) {
        self.acks.close();
        let _ = tokio::time::timeout(limit, self.acks.wait()).await;
    }

    fn take(&self, job: &Job) -> Option<String> {
        let mut held = self.held.lock().expect("ledger lock");
        let i = held.messages.iter().position(|(j, _)| j == job)?;
        let (_, receipt) = held.messages.remove(i);
        drop(held);
        self.freed.notify_one();
        Some(receipt)
    }

    fn ack(&self, receipt: String, what: Ack) {
        let aws = self.aws.clone();
        let url = self.queue_url.clone();
        let backoff = self.backoff;
        let round = self.round.clone();
        self.acks.spawn(async move {
            let _round = match what {
                Ack::HandBack => Some(round.lock_owned().await),
                Ack::Delete => None,
            };
            let (op, outcome) = match what {
                Ack::Delete => ("DeleteMessage", "deleted"),
                Ack::HandBack => ("ChangeMessageVisibility", "handed_back"),
            };
            match retry(backoff, || async {
                match what {
                    Ack::Delete => sqs::delete(&aws, &url, &receipt).await,
                    Ack::HandBack => {
                        sqs::change_visibility(&aws, &url, &receipt, Duration::ZERO).await
                    }
                }
            })
            .await
            {
                Ok(()) => m::sqs_message(outcome),
                Err(e) if e.kind == AwsErrorKind::NotFound => {
                    tracing::warn!(error = %e, "the message is no longer ours (its receipt expired): it will be received again")
                }
                Err(e) => {
                    m::sqs_error(op);
                    tracing::error!(error = %e, "could not {outcome} a message; it becomes visible again after its visibility timeout");
                }
            }
        });
    }

    /// Extend every held message's invisibility every third of the visibility timeout, until
    /// `stop` (or hand-back) begins.
    pub async fn heartbeat(self: Arc<Self>, stop: CancellationToken) {
        let every = (self.visibility / 3).max(Duration::from_millis(100));
        let me: &Ledger = &self;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            let _round = self.round.lock().await;
            let receipts: Vec<String> = {
                let held = self.held.lock().expect("ledger lock");
                if held.handing_back {
                    return;
                }
                held.messages.iter().map(|(_, r)| r.clone()).collect()
            };
            futures::stream::iter(receipts)
                .for_each_concurrent(10, |receipt| async move {
                    let r = sqs::change_visibility(&me.aws, &me.queue_url, &receipt, me.visibility)
                        .await;
                    if let Err(e) = r {
                        // Deleted meanwhile (NotFound), or SQS failed: the next round tries
                        // again well before the visibility timeout runs out.
                        if e.kind != AwsErrorKind::NotFound {
                            m::sqs_error("ChangeMessageVisibility");
                            tracing::warn!(error = %e, "could not extend a message's visibility");
                        }
                    }
                })
                .await;
        }
    }
}

impl Finished for Ledger {
    fn finished(&self, job: &Job) {
        let hand_back = self.held.lock().expect("ledger lock").handing_back;
        if let Some(receipt) = self.take(job) {
            self.ack(
                receipt,
                if hand_back {
                    Ack::HandBack
                } else {
                    Ack::Delete
                },
            );
        }
    }
}

/// `f` until it succeeds, fails for good, or [`ACK_ATTEMPTS`] transient failures.
async fn retry<F, Fut>(backoff: Duration, f: F) -> Result<(), SqsError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), SqsError>>,
{
    let mut wait = backoff;
    let mut attempt = 1;
    loop {
        match f().await {
            Err(e) if e.transient && attempt < ACK_ATTEMPTS => {
                tracing::warn!(error = %e, attempt, retry_in = ?wait, "SQS call failed; retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
                attempt += 1;
            }
            r => return r,
        }
    }
}
