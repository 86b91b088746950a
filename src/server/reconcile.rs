//! The reconcile loop: lost webhooks never leave a preview running, stale or missing.
//!
//! Every `reconcile_interval` (and once at start, for what happened while the server was down)
//! it lists the pull requests that need a look — every PR with a preview in the state table
//! (the state item's metadata names its repository and number) and every open PR of each
//! repository configured by exact name — and queues a [`Work::Recheck`] for each. The runner's
//! recheck decides: closed → delete, idle past `ttl` → delete, missing or behind its head →
//! deploy. The loop itself decides nothing and writes nothing but jobs; jobs already queued or
//! running for a PR absorb the recheck (see `job::merge`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio_util::sync::CancellationToken;

use super::config::ServeConfig;
use super::github::Clients;
use super::job::{Job, PrKey, Work};
use super::Submit;
use crate::engine::Engine;
use crate::github::api::GitHub;
use crate::preview::meta::PrMeta;

pub struct Reconciler {
    pub config: Arc<ServeConfig>,
    pub engine: Engine,
    pub github: Arc<Clients>,
    pub queue: Arc<dyn Submit>,
}

/// What one round found and queued.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// The pull requests a recheck was queued for.
    pub queued: BTreeSet<PrKey>,
    /// What could not be listed (a repository's open PRs, the table), and why.
    pub problems: Vec<String>,
}

impl Reconciler {
    /// One round; `n` numbers it (delivery ids `reconcile-<n>-…`, the same on every replica
    /// for the same round so an SQS FIFO queue deduplicates them).
    pub async fn round(&self, n: u64) -> Round {
        let mut round = Round::default();
        let mut keys = BTreeSet::new();
        match self.engine.list(None).await {
            Ok(rows) => keys.extend(rows.iter().filter_map(|r| {
                let meta = PrMeta::read(&r.metadata);
                let (repo, number) = meta.pr()?;
                self.config
                    .repository(repo)
                    .map(|_| PrKey::new(repo, number))
            })),
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
            let job = Job {
                delivery: format!("reconcile-{n}-{key}"),
                key: key.clone(),
                work: Work::Recheck { head_sha: None },
                installation: None,
            };
            match self.queue.submit(job).await {
                Ok(()) => {
                    round.queued.insert(key);
                }
                Err(e) => round.problems.push(format!("queueing {key} failed: {e:#}")),
            }
        }
        round
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
