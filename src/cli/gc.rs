//! `eden gc --sleep-after 30m`: without the server, put idle previews to sleep by the same
//! decision as its reconcile loop (`idle::decide`, one batched CloudWatch read), for a
//! scheduled workflow (docs/examples/sleep.yml).

use std::time::Duration;

use anyhow::Result;
use serde_json::json;
use time::OffsetDateTime;

use super::{aws_for, engine, Global, Output};
use crate::aws::Aws;
use crate::engine::Outcome;
use crate::idle::{survey, Verdict};
use crate::profile::{self, Profile};
use crate::{error::BadInput, profile_store};

/// What gc did with one idle environment.
struct Slept<'a> {
    row: &'a Outcome,
    idle: Duration,
    /// `None`: a dry run.
    result: Option<Result<()>>,
}

pub async fn run(
    g: &Global,
    sleep_after: Duration,
    dry_run: bool,
    output: Output,
    all: bool,
) -> Result<i32> {
    let aws = aws_for(None).await;
    let engine = engine(g, aws.clone(), 300);
    let only = g.profile_flag.as_deref().filter(|_| !all);
    let rows = engine.list(only).await?;
    let now = OffsetDateTime::now_utc();
    let verdicts = survey::verdicts(&aws, &rows, now, sleep_after).await?;
    let mut slept = Vec::new();
    for (row, verdict) in rows.iter().zip(verdicts) {
        let Verdict::Sleep { idle } = verdict else {
            continue;
        };
        let result = if dry_run {
            None
        } else {
            Some(sleep_one(g, &aws, &engine, row).await)
        };
        slept.push(Slept { row, idle, result });
    }
    print(&slept, rows.len(), output);
    let failed = slept.iter().any(|s| matches!(s.result, Some(Err(_))));
    Ok(if failed { 1 } else { 0 })
}

async fn sleep_one(
    g: &Global,
    aws: &Aws,
    engine: &crate::engine::Engine,
    row: &Outcome,
) -> Result<()> {
    let profile = named_profile(g, aws, &row.profile).await?;
    engine.sleep(&profile, &row.environment).await?;
    Ok(())
}

/// The profile a row names (file or remote, as `-p` would load it).
async fn named_profile(g: &Global, aws: &Aws, name: &str) -> Result<Profile> {
    let raw = if g.remote_profile {
        profile_store::fetch(aws, &g.remote_table_name, name).await?
    } else {
        profile::read_raw(&g.config_path(), name)?
    };
    Profile::from_raw(name, &raw).map_err(|problems| {
        anyhow::Error::new(BadInput(format!(
            "profile {name} is not usable: {} (run `eden config check -p {name}`)",
            problems.join("; ")
        )))
    })
}

fn print(slept: &[Slept], looked_at: usize, output: Output) {
    let word = |s: &Slept| match &s.result {
        None => "would_sleep",
        Some(Ok(())) => "slept",
        Some(Err(_)) => "failed",
    };
    match output {
        Output::Json => {
            let items: Vec<_> = slept
                .iter()
                .map(|s| {
                    json!({
                        "profile": s.row.profile,
                        "environment": s.row.environment,
                        "idle_seconds": s.idle.as_secs(),
                        "action": word(s),
                        "error": s.result.as_ref().and_then(|r| r.as_ref().err()).map(|e| format!("{e:#}")),
                    })
                })
                .collect();
            println!("{}", json!({ "environments": looked_at, "idle": items }));
        }
        Output::Text => {
            for s in slept {
                let how = match &s.result {
                    None => "would sleep (dry run)".to_string(),
                    Some(Ok(())) => "asleep".to_string(),
                    Some(Err(e)) => format!("failed: {e:#}"),
                };
                println!(
                    "{}/{}: idle for {} min: {how}",
                    s.row.profile,
                    s.row.environment,
                    s.idle.as_secs() / 60
                );
            }
            println!("{} of {looked_at} environment(s) idle", slept.len());
        }
    }
}
