//! Garbage collection: delete a repository's environments whose PR is closed, or that have
//! been idle longer than a TTL.

use std::time::Duration;

use anyhow::Result;
use time::OffsetDateTime;

use super::context::Context;
use super::meta::PrMeta;
use super::sticky::Sticky;
use crate::engine::Outcome;
use crate::github::comment::{Endpoint, Status, View};

/// Why an environment is collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcReason {
    PrClosed(u64),
    Idle { hours: u64, ttl_hours: u64 },
}

impl std::fmt::Display for GcReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GcReason::PrClosed(n) => write!(f, "pull request #{n} is closed"),
            GcReason::Idle { hours, ttl_hours } => {
                write!(f, "idle for {hours} h (ttl {ttl_hours} h)")
            }
        }
    }
}

/// One environment gc chose.
#[derive(Debug)]
pub struct GcItem {
    pub profile: String,
    pub environment: String,
    pub reason: GcReason,
    /// `None` in a dry run.
    pub result: Option<anyhow::Result<Outcome>>,
}

#[derive(Debug, Default)]
pub struct GcReport {
    pub dry_run: bool,
    pub items: Vec<GcItem>,
}

impl GcReport {
    /// The environments deleted.
    pub fn deleted(&self) -> impl Iterator<Item = &Outcome> {
        self.items
            .iter()
            .filter_map(|i| i.result.as_ref().and_then(|r| r.as_ref().ok()))
    }

    pub fn failures(&self) -> Vec<String> {
        self.items
            .iter()
            .filter_map(|i| match &i.result {
                Some(Err(e)) => Some(format!("{}/{}: {e:#}", i.profile, i.environment)),
                _ => None,
            })
            .collect()
    }
}

impl Context {
    /// Collect this context's repository's environments (every profile in the table) whose PR
    /// is closed (when a GitHub client is set) or idle longer than `ttl`.
    pub async fn gc(&self, ttl: Duration, dry_run: bool) -> Result<GcReport> {
        let rows = self.engine.list(None).await?;
        let now = self.clock.now().unix_timestamp();
        let mut report = GcReport {
            dry_run,
            items: Vec::new(),
        };
        for row in rows.iter().filter(|r| {
            PrMeta::read(&r.metadata).repository.as_ref() == Some(&self.origin.repository)
        }) {
            let pr = PrMeta::read(&row.metadata).pr_number;
            let closed = match (pr, &self.github) {
                (Some(n), Some(gh)) if !gh.pull(n).await?.open => Some(GcReason::PrClosed(n)),
                _ => None,
            };
            let idle = row
                .last_updated
                .as_deref()
                .and_then(|t| {
                    OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
                })
                .map(|t| (now - t.unix_timestamp()).max(0) as u64)
                .filter(|secs| *secs > ttl.as_secs())
                .map(|secs| GcReason::Idle {
                    hours: secs / 3600,
                    ttl_hours: ttl.as_secs() / 3600,
                });
            let Some(reason) = closed.or(idle) else {
                continue;
            };
            let mut item = GcItem {
                profile: row.profile.clone(),
                environment: row.environment.clone(),
                reason,
                result: None,
            };
            if !dry_run {
                let out = match self.load_profile(&row.profile).await {
                    Ok(profile) => Ok(self.engine.delete(&profile, &row.environment).await?),
                    Err(e) => Err(e),
                };
                if let (Ok(_), Some(n)) = (&out, pr) {
                    self.tell_deleted(row, n).await?;
                }
                item.result = Some(out);
            }
            report.items.push(item);
        }
        Ok(report)
    }

    /// Mark a collected environment's comment deleted (found by the remembered id) and its
    /// deployments inactive.
    async fn tell_deleted(&self, row: &Outcome, pr: u64) -> Result<()> {
        let meta = PrMeta::read(&row.metadata);
        let id = meta.comment_id;
        if let (Some(gh), Some(id)) = (self.commenting(), id) {
            let view = View {
                pr,
                environment: row.environment.clone(),
                status: Status::Deleted,
                endpoints: vec![Endpoint {
                    profile: row.profile.clone(),
                    hostname: row.hostname.clone().unwrap_or_default(),
                    protection: Default::default(),
                }],
                branch: meta.head_ref.clone().unwrap_or_default(),
                commit_sha: meta.head_sha.clone().unwrap_or_default(),
                repo_url: self.origin.repo_url(),
                run_url: self.origin.run_url.clone(),
                at: self.clock.now(),
                failure_log: None,
            };
            let sticky = Sticky::new(gh, &self.author, pr, &row.environment, Some(id));
            sticky.edit(&self.render(&view)).await?;
        }
        if let (Some(gh), true) = (&self.github, self.options.deployment) {
            self.inactivate(gh, &row.environment).await?;
        }
        Ok(())
    }
}
