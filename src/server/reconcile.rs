//! The reconcile loop: lost webhooks never leave a preview running, stale or missing.
//!
//! Every `reconcile_interval` (and once at start, for what happened while the server was down)
//! it lists the pull requests that need a look — every PR with a preview in the state table
//! (the state item's metadata names its repository and number) and every open PR of each
//! repository configured by exact name — and queues a [`Work::Recheck`] for each. The runner's
//! recheck decides: closed → delete, idle past `ttl` → delete, missing or behind its head →
//! deploy. The loop itself decides nothing and writes nothing but jobs; jobs already queued or
//! running for a PR absorb the recheck (see `job::merge`).
//!
//! Sleeping (`reconcile/sleep.rs`): the same listing refreshes the waker's index of sleeping
//! previews and the `eden_previews{state}` gauge, queues a job finishing each half-done sleep
//! or wake, and — one batched CloudWatch read for every preview of a repository with
//! `sleep_after` — a Sleep job for each PR whose previews `idle::decide` finds idle.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio_util::sync::CancellationToken;

use super::config::ServeConfig;
use super::github::Clients;
use super::job::{Job, PrKey, SleepCause, Work};
use super::sleepers::Sleepers;
use super::Submit;
use crate::engine::{Engine, Outcome};
use crate::github::api::GitHub;
use crate::preview::{Clock, SystemClock};

pub mod sleep;

pub struct Reconciler {
    pub config: Arc<ServeConfig>,
    pub engine: Engine,
    pub github: Arc<Clients>,
    pub queue: Arc<dyn Submit>,
    /// The sleeping previews, for the waker: replaced by every round's listing.
    pub sleepers: Arc<Sleepers>,
    /// "Now" for the idleness decision.
    pub clock: Arc<dyn Clock>,
}

/// What one round found and queued.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// The pull requests a recheck was queued for.
    pub queued: BTreeSet<PrKey>,
    /// The pull requests an idle Sleep job was queued for.
    pub sleeping: BTreeSet<PrKey>,
    /// The pull requests a job finishing a half-done sleep or wake was queued for.
    pub finishing: BTreeSet<PrKey>,
    /// GetMetricData calls the idleness read made.
    pub metric_calls: usize,
    /// What could not be listed (a repository's open PRs, the table), and why.
    pub problems: Vec<String>,
}

impl Reconciler {
    pub fn new(
        config: Arc<ServeConfig>,
        engine: Engine,
        github: Arc<Clients>,
        queue: Arc<dyn Submit>,
    ) -> Reconciler {
        Reconciler {
            config,
            engine,
            github,
            queue,
            sleepers: Arc::new(Sleepers::new()),
            clock: Arc::new(SystemClock),
        }
    }

    /// One round; `n` numbers it (delivery ids `reconcile-<n>-…`, the same on every replica
    /// for the same round so an SQS FIFO queue deduplicates them).
    pub async fn round(&self, n: u64) -> Round {
        let mut round = Round::default();
        let mut keys = BTreeSet::new();
        match self.engine.list(None).await {
            Ok(rows) => {
                let listed = sleep::listed(&self.config, &rows);
                keys.extend(listed.iter().map(|l| l.key.clone()));
                self.sleeping(n, &rows, &mut round).await;
            }
            Err(e) => round
                .problems
                .push(format!("listing the environments failed: {e:#}")),
        }
        // Every exactly-named repository at once (a wildcard: only its PRs with a preview, above).
        let named: Vec<&str> = self
            .config
            .repositories
            .iter()
            .map(|r| r.name.as_str())
            .filter(|repo| !repo.contains('*') && self.github.enabled())
            .collect();
        let listed =
            futures::future::join_all(named.iter().map(|repo| self.open_pulls(repo))).await;
        for (repo, result) in named.into_iter().zip(listed) {
            match result {
                Ok(numbers) => {
                    keys.extend(numbers.into_iter().map(|number| PrKey::new(repo, number)))
                }
                Err(e) => round.problems.push(format!(
                    "listing the open pull requests of {repo} failed: {e:#}"
                )),
            }
        }
        for key in keys {
            let delivery = format!("reconcile-{n}-{key}");
            if self
                .queue_one(
                    &mut round,
                    key.clone(),
                    delivery,
                    Work::Recheck { head_sha: None },
                )
                .await
            {
                round.queued.insert(key);
            }
        }
        round
    }

    /// The sleep half of a round: the waker's index and the state gauge from the listing, a
    /// job finishing each half-done sleep or wake, a Sleep job for each idle PR.
    async fn sleeping(&self, n: u64, rows: &[Outcome], round: &mut Round) {
        let listed = sleep::listed(&self.config, rows);
        self.sleepers.replace_all(sleep::sleepers(&listed));
        super::metrics::previews(&sleep::counts(&listed));
        for (key, work) in sleep::finishing(&listed) {
            let delivery = format!("reconcile-{n}-{}-{key}", work.kind());
            if self.queue_one(round, key.clone(), delivery, work).await {
                round.finishing.insert(key);
            }
        }
        let now = self.clock.now();
        match sleep::idle(&self.engine.aws, &self.config, &listed, now).await {
            Ok(idle) => {
                round.metric_calls = idle.calls;
                for (key, environment) in idle.keys {
                    let delivery = format!("reconcile-{n}-sleep-{key}");
                    let work = Work::Sleep {
                        cause: SleepCause::Idle,
                        environment,
                    };
                    if self.queue_one(round, key.clone(), delivery, work).await {
                        round.sleeping.insert(key);
                    }
                }
            }
            Err(e) => round.problems.push(format!(
                "reading the previews' request counts failed: {e:#}"
            )),
        }
    }

    /// Queue one job; a refusal is one of the round's problems.
    async fn queue_one(&self, round: &mut Round, key: PrKey, delivery: String, work: Work) -> bool {
        let job = Job {
            delivery,
            key: key.clone(),
            work,
            installation: None,
        };
        match self.queue.submit(job).await {
            Ok(()) => true,
            Err(e) => {
                round.problems.push(format!("queueing {key} failed: {e:#}"));
                false
            }
        }
    }

    async fn open_pulls(&self, repo: &str) -> Result<Vec<u64>> {
        match self.github.for_repo(repo, None).await? {
            Some(client) => GitHub::with_client(client, repo).open_pulls().await,
            None => Ok(Vec::new()),
        }
    }

    /// A round now, then one every `interval`, until `stop`.
    pub async fn run(self, interval: Duration, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut n = 0;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.cancelled() => return,
            }
            n += 1;
            let round = self.round(round_number(interval)).await;
            super::metrics::reconciled(round.queued.len(), round.problems.len());
            for p in &round.problems {
                tracing::warn!(round = n, "reconcile: {p}");
            }
            tracing::info!(
                round = n,
                queued = round.queued.len(),
                "reconcile round queued its rechecks"
            );
        }
    }
}

/// The round's number as every replica computes it: wall-clock time in units of the interval.
fn round_number(interval: Duration) -> u64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    secs / interval.as_secs().max(1)
}
