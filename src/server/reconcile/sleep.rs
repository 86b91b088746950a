//! The reconcile round's sleep half: from the listed previews, the sleeping-preview index (for
//! the waker), the state gauge, a job finishing each half-done sleep or wake, and — after one
//! batched idleness read — a Sleep job for each preview `idle::decide` picks. It decides
//! nothing itself: `idle::decide` does.

use std::time::Duration;

use time::OffsetDateTime;

use super::super::config::ServeConfig;
use super::super::job::{PrKey, SleepCause, WakeCause, Work};
use super::super::sleepers::{Sleeper, StateCounts};
use crate::aws::Aws;
use crate::engine::state::SleepPhase;
use crate::engine::Outcome;
use crate::idle::{self, survey, Verdict};
use crate::preview::meta::PrMeta;

/// One listed preview of a configured repository.
pub struct Listed<'a> {
    pub key: PrKey,
    pub row: &'a Outcome,
}

/// The rows of the server's repositories, with their PR.
pub fn listed<'a>(config: &ServeConfig, rows: &'a [Outcome]) -> Vec<Listed<'a>> {
    rows.iter()
        .filter_map(|row| {
            let meta = PrMeta::read(&row.metadata);
            let (repo, number) = meta.pr()?;
            config.repository(repo)?;
            Some(Listed {
                key: PrKey::new(repo, number),
                row,
            })
        })
        .collect()
}

/// The sleeping previews by hostname (asleep or on the way: a request there reaches the waker).
pub fn sleepers(listed: &[Listed]) -> Vec<(String, Sleeper)> {
    listed
        .iter()
        .filter_map(|l| {
            let sleep = l.row.sleep.as_ref()?;
            let host = l.row.hostname.clone()?;
            Some((
                host,
                Sleeper {
                    key: l.key.clone(),
                    environment: l.row.environment.clone(),
                    profile: l.row.profile.clone(),
                    since: sleep.since,
                },
            ))
        })
        .collect()
}

pub fn counts(listed: &[Listed]) -> StateCounts {
    let mut c = StateCounts::default();
    for l in listed {
        match survey::phase(l.row) {
            None => c.awake += 1,
            Some(SleepPhase::Sleeping) => c.sleeping += 1,
            Some(SleepPhase::Asleep) => c.asleep += 1,
            Some(SleepPhase::Waking) => c.waking += 1,
        }
    }
    c
}

/// A job finishing each half-done sleep or wake.
pub fn finishing(listed: &[Listed]) -> Vec<(PrKey, Work)> {
    let mut jobs: Vec<(PrKey, Work)> = listed
        .iter()
        .filter_map(|l| {
            let work = match survey::phase(l.row)? {
                SleepPhase::Sleeping => Work::Sleep {
                    cause: SleepCause::Finish,
                    environment: l.row.environment.clone(),
                },
                SleepPhase::Waking => Work::Wake {
                    cause: WakeCause::Finish,
                    environment: l.row.environment.clone(),
                },
                SleepPhase::Asleep => return None,
            };
            Some((l.key.clone(), work))
        })
        .collect();
    jobs.sort_by(|a, b| a.0.cmp(&b.0));
    jobs.dedup_by(|a, b| a.0 == b.0);
    jobs
}

/// What the idleness read found.
pub struct Idle {
    /// The PRs (and their environments) whose previews `idle::decide` puts to sleep.
    pub keys: Vec<(PrKey, String)>,
    /// GetMetricData calls made.
    pub calls: usize,
}

/// One batched read of the awake previews of repositories with `sleep_after`, then the
/// decision for each. A PR sleeps when every one of its awake previews is idle.
pub async fn idle(
    aws: &Aws,
    config: &ServeConfig,
    listed: &[Listed<'_>],
    now: OffsetDateTime,
) -> anyhow::Result<Idle> {
    let after = |l: &Listed| {
        config
            .repository(l.key.repo.as_str())
            .and_then(|r| r.sleep_after)
    };
    let asked: Vec<&Listed> = listed.iter().filter(|l| after(l).is_some()).collect();
    let window = asked
        .iter()
        .filter_map(|l| after(l))
        .max()
        .unwrap_or(Duration::ZERO);
    let awake: Vec<&Outcome> = asked
        .iter()
        .filter(|l| survey::awake(l.row))
        .map(|l| l.row)
        .collect();
    if awake.is_empty() {
        return Ok(Idle {
            keys: Vec::new(),
            calls: 0,
        });
    }
    let (last, calls) = survey::last_requests(aws, &awake, now, window).await?;
    let mut verdicts: std::collections::BTreeMap<(PrKey, String), bool> = Default::default();
    for l in asked.iter().filter(|l| survey::awake(l.row)) {
        let request = survey::traffic(l.row).and_then(|t| last.get(&t).copied().flatten());
        // The PR's label is checked by the sleep job, which reads the PR.
        let facts = survey::facts(l.row, request, false);
        let sleeps = matches!(idle::decide(now, after(l), &facts), Verdict::Sleep { .. });
        let all = verdicts
            .entry((l.key.clone(), l.row.environment.clone()))
            .or_insert(true);
        *all = *all && sleeps;
    }
    Ok(Idle {
        keys: verdicts
            .into_iter()
            .filter_map(|(k, sleeps)| sleeps.then_some(k))
            .collect(),
        calls,
    })
}
