//! Sleep and wake for a PR (`Command::Sleep | Wake` → `Decision::Sleep | Wake`): the engine
//! sleeps or wakes every profile of the PR's environment at once, then the sticky comment and
//! the newest GitHub deployment's status say where the preview stands.

use std::time::Duration;

use anyhow::Result;

use super::context::Context;
use super::prepare::Prepared;
use super::report::{failures, DeploymentState, GitHubSide, PrAction, ProfileRun, Report};
use super::run::by_profile;
use super::sticky::Sticky;
use crate::engine::{state, wait, Outcome};
use crate::github::comment::Status;
use crate::profile::Profile;

/// How long a wake waits for its tasks when the run has no `wait` settings.
pub const WAKE_TIMEOUT: Duration = Duration::from_secs(600);

impl Context {
    /// Put every profile's environment to sleep; the comment says since when and how it wakes.
    pub async fn sleep_all(&self, prepared: &Prepared) -> Report {
        let p = prepared;
        let work = p
            .profiles
            .iter()
            .map(|pr| async { Ok(self.engine.sleep(pr, &p.environment).await?) });
        let runs = by_profile(&p.profiles, futures::future::join_all(work).await);
        let status = match failures(&runs).into_iter().next() {
            Some(e) => Status::Failed(e),
            None => asleep(&runs, &p.profiles),
        };
        self.tell(p, self.sticky(p).as_ref(), runs, status, PrAction::Slept)
            .await
    }

    /// Wake every profile's environment: the comment says it wakes, then ready once every
    /// profile's tasks are ready and its rule forwards to them.
    pub async fn wake_all(&self, prepared: &Prepared) -> Report {
        let p = prepared;
        let sticky = self.sticky(p);
        let announce = async {
            if let (Some(s), Some(e)) = (&sticky, &p.event) {
                s.show(&self.comment_body(p, e, Status::Waking)).await?;
            }
            Ok::<_, anyhow::Error>(())
        };
        let work = p.profiles.iter().map(|pr| async move {
            let settings = match &self.options.wait {
                Some(w) => wait::Settings {
                    interval: w.interval.min(Duration::from_secs(5)),
                    ..wait::Settings::for_profile(pr, w.timeout)
                },
                None => wait::Settings::for_profile(pr, WAKE_TIMEOUT),
            };
            Ok(self.engine.wake(pr, &p.environment, settings).await?)
        });
        let (shown, outcomes) = tokio::join!(announce, futures::future::join_all(work));
        if let Err(e) = shown {
            tracing::warn!("announcing the wake failed: {e:#}");
        }
        let runs = by_profile(&p.profiles, outcomes);
        let status = match failures(&runs).into_iter().next() {
            Some(e) => Status::Failed(e),
            None => Status::Ready,
        };
        self.tell(p, sticky.as_ref(), runs, status, PrAction::Woke)
            .await
    }

    /// The comment and the newest deployment's status, then the report.
    async fn tell(
        &self,
        p: &Prepared,
        sticky: Option<&Sticky<'_>>,
        runs: Vec<ProfileRun>,
        status: Status,
        done: PrAction,
    ) -> Report {
        let failed = matches!(status, Status::Failed(_));
        let url = runs
            .iter()
            .find_map(|r| r.result.as_ref().ok().and_then(|o| o.url.clone()));
        let description = deployment_description(&status);
        let (comment, deployment) = tokio::join!(
            self.finish_comment(sticky, p, status, None),
            self.deployment_says(p, failed, url.as_deref(), &description)
        );
        let mut github = GitHubSide::default();
        match comment {
            Ok(id) => github.comment_id = id,
            Err(e) => github.error = Some(e),
        }
        match deployment {
            Ok(d) => github.deployment = d,
            Err(e) => github.error = github.error.or(Some(e)),
        }
        Report {
            environment: p.environment.clone(),
            decision: p.decision.clone(),
            action: if failed { PrAction::Failed } else { done },
            runs,
            github,
        }
    }

    /// A new status on the environment's newest deployment (none: nothing to say).
    async fn deployment_says(
        &self,
        p: &Prepared,
        failed: bool,
        url: Option<&str>,
        description: &str,
    ) -> Result<Option<(u64, DeploymentState)>> {
        let Some(gh) = self.github.as_ref().filter(|_| self.options.deployment) else {
            return Ok(None);
        };
        if p.event.is_none() {
            return Ok(None);
        }
        let Some(id) = gh.deployments(&p.environment).await?.first().copied() else {
            return Ok(None);
        };
        let state = match failed {
            true => DeploymentState::Failure,
            false => DeploymentState::Success,
        };
        let run_url = self.origin.run_url.as_deref();
        gh.deployment_status(id, state, url, run_url, description)
            .await?;
        Ok(Some((id, state)))
    }
}

/// The comment's status once every profile sleeps: since the earliest, and whether a visit
/// wakes it (every profile has a waker).
fn asleep(runs: &[ProfileRun], profiles: &[Profile]) -> Status {
    let since = runs
        .iter()
        .filter_map(|r| r.result.as_ref().ok())
        .filter_map(|o: &Outcome| o.sleep.map(|s| s.since))
        .fold(None, |a: Option<f64>, s| Some(a.map_or(s, |a| a.min(s))));
    Status::Asleep {
        since: since.map(state::clock_utc).unwrap_or_default(),
        waker: !profiles.is_empty()
            && profiles
                .iter()
                .all(|p| !p.wake_target_group_arns.is_empty()),
    }
}

/// What the GitHub deployment's status says (GitHub keeps 140 characters).
fn deployment_description(status: &Status) -> String {
    let text = match status {
        Status::Asleep { since, waker: true } => {
            format!("asleep since {since}, wakes on the next visit (about a minute)")
        }
        Status::Asleep { since, .. } => {
            format!("asleep since {since}, wakes on the next push or /eden wake")
        }
        Status::Failed(_) => "sleep or wake failed".to_string(),
        _ => "preview ready".to_string(),
    };
    text.chars().take(140).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deployment_says_how_a_sleeping_preview_wakes() {
        let with = Status::Asleep {
            since: "14:02 UTC".into(),
            waker: true,
        };
        assert_eq!(
            deployment_description(&with),
            "asleep since 14:02 UTC, wakes on the next visit (about a minute)"
        );
        let without = Status::Asleep {
            since: "14:02 UTC".into(),
            waker: false,
        };
        assert_eq!(
            deployment_description(&without),
            "asleep since 14:02 UTC, wakes on the next push or /eden wake"
        );
        assert_eq!(deployment_description(&Status::Ready), "preview ready");
    }
}
