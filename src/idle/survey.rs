//! The facts `idle::decide` needs, for many previews at once: their state (the `ls` rows) and
//! their last request (one batched CloudWatch read, `aws::cloudwatch`).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Result;
use aws_smithy_types::DateTime;
use time::OffsetDateTime;

use super::Facts;
use crate::aws::cloudwatch::{self, Traffic};
use crate::aws::Aws;
use crate::engine::state::SleepPhase;
use crate::engine::Outcome;

/// The CloudWatch dimensions of a row's preview (its target group, and the ALB its rule is on).
pub fn traffic(row: &Outcome) -> Option<Traffic> {
    Traffic::from_arns(row.target_group_arn.as_deref()?, row.rule_arn.as_deref()?)
}

/// Whether a row's preview is awake (not asleep, not half-way).
pub fn awake(row: &Outcome) -> bool {
    row.sleep.is_none()
}

/// A row's state for `eden_previews{state}` and the finishing jobs.
pub fn phase(row: &Outcome) -> Option<SleepPhase> {
    row.sleep.as_ref().map(|s| s.phase)
}

/// The last requests of `rows` (awake previews with known dimensions) within `window` before
/// `now`: one GetMetricData call per 500 previews. `calls`: how many calls it took.
pub async fn last_requests(
    aws: &Aws,
    rows: &[&Outcome],
    now: OffsetDateTime,
    window: Duration,
) -> Result<(HashMap<Traffic, Option<OffsetDateTime>>, usize)> {
    let mut targets: Vec<Traffic> = rows.iter().filter_map(|r| traffic(r)).collect();
    targets.sort_by(|a, b| {
        (&a.target_group, &a.load_balancer).cmp(&(&b.target_group, &b.load_balancer))
    });
    targets.dedup();
    if targets.is_empty() {
        return Ok((HashMap::new(), 0));
    }
    let end = now.unix_timestamp();
    // Whole minutes, so the periods line up with CloudWatch's.
    let end = end - end.rem_euclid(60) + 60;
    let start = end - window.as_secs() as i64 - 60;
    let read = cloudwatch::last_requests(
        aws,
        &targets,
        DateTime::from_secs(start),
        DateTime::from_secs(end),
    )
    .await?;
    let last = read
        .last
        .into_iter()
        .map(|(t, d)| {
            let at = d.and_then(|d| OffsetDateTime::from_unix_timestamp(d.secs()).ok());
            (t, at)
        })
        .collect();
    Ok((last, read.calls))
}

/// The facts about one row, given its last request and whether its PR is kept awake.
pub fn facts(row: &Outcome, last_request: Option<OffsetDateTime>, kept_awake: bool) -> Facts {
    let at =
        |t: &str| OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok();
    Facts {
        awake: awake(row),
        kept_awake,
        last_deploy: row.last_updated.as_deref().and_then(at),
        last_wake: row.last_woken.as_deref().and_then(at),
        last_request,
    }
}

/// The decision for every row at `now` (same order), after one batched read of the awake
/// ones' requests. Labels are not known here (`kept_awake` false): the server checks them
/// when its sleep job runs.
pub async fn verdicts(
    aws: &Aws,
    rows: &[Outcome],
    now: OffsetDateTime,
    sleep_after: Duration,
) -> Result<Vec<super::Verdict>> {
    let awake: Vec<&Outcome> = rows.iter().filter(|r| awake(r)).collect();
    let (last, _) = if awake.is_empty() {
        (HashMap::new(), 0)
    } else {
        last_requests(aws, &awake, now, sleep_after).await?
    };
    Ok(rows
        .iter()
        .map(|r| {
            let request = traffic(r).and_then(|t| last.get(&t).copied().flatten());
            super::decide(now, Some(sleep_after), &facts(r, request, false))
        })
        .collect())
}
