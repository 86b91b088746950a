//! Running a decided PR run: deploy-all or delete-all over the profiles, concurrently, with the
//! sticky comment and the GitHub deployment kept alongside; the result is a typed [`Report`].

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use tokio::sync::watch;

use anyhow::{anyhow, Context as _, Result};

use super::context::Context;
use super::meta::PrMeta;
use super::prepare::Prepared;
use super::report::{action_of, failures, DeploymentState, GitHubSide, ProfileRun, Report};
use super::sticky::Sticky;
use crate::engine::{state, wait, CreateRequest, Outcome};
use crate::github::api::GitHub;
use crate::github::comment::{self, FailureLog, Status, View};
use crate::github::decide::Decision;
use crate::github::event::PrEvent;
use crate::profile::Profile;

impl Context {
    /// Do what `prepared` decided. Never fails as a whole: each profile's result, and any
    /// GitHub error, is in the report.
    pub async fn execute(&self, prepared: &Prepared) -> Report {
        match &prepared.decision {
            Decision::Skip { .. } => {
                Report::skipped(&prepared.environment, prepared.decision.clone())
            }
            Decision::Deploy => self.deploy_all(prepared).await,
            Decision::Delete { .. } => self.delete_all(prepared).await,
            Decision::Sleep => self.sleep_all(prepared).await,
            Decision::Wake => self.wake_all(prepared).await,
        }
    }

    /// The comment of this run's PR, when comments are kept and there is a PR.
    pub fn sticky<'a>(&'a self, prepared: &Prepared) -> Option<Sticky<'a>> {
        let gh = self.commenting()?;
        let e = prepared.event.as_ref()?;
        Some(Sticky::new(
            gh,
            &self.author,
            e.number,
            &prepared.environment,
            prepared.comment_id,
        ))
    }

    /// The comment's text for `status`.
    pub fn comment_body(&self, prepared: &Prepared, event: &PrEvent, status: Status) -> String {
        self.comment_body_with(prepared, event, status, None)
    }

    /// The comment's text for `status`, with a failed run's log tail under its error.
    pub fn comment_body_with(
        &self,
        prepared: &Prepared,
        event: &PrEvent,
        status: Status,
        failure_log: Option<FailureLog>,
    ) -> String {
        let view = View {
            pr: event.number,
            environment: prepared.environment.clone(),
            status,
            endpoints: prepared.endpoints.clone(),
            branch: event.head_ref.clone(),
            commit_sha: event.head_sha.clone(),
            repo_url: self.origin.repo_url(),
            run_url: self.origin.run_url.clone(),
            at: self.clock.now(),
            failure_log,
        };
        self.render(&view)
    }

    /// A comment's text: the team's template, or eden's.
    pub fn render(&self, view: &View) -> String {
        match &self.options.comment_template {
            Some(t) => t.render(view),
            None => comment::render(view),
        }
    }

    async fn show(&self, sticky: Option<&Sticky<'_>>, p: &Prepared, status: Status) -> Result<()> {
        self.show_with(sticky, p, status, None).await
    }

    async fn show_with(
        &self,
        sticky: Option<&Sticky<'_>>,
        p: &Prepared,
        status: Status,
        log: Option<FailureLog>,
    ) -> Result<()> {
        if let (Some(s), Some(e)) = (sticky, &p.event) {
            s.show(&self.comment_body_with(p, e, status, log)).await?;
        }
        Ok(())
    }

    fn metadata(&self, event: Option<&PrEvent>) -> BTreeMap<String, String> {
        PrMeta {
            repository: Some(self.origin.repository.clone()),
            pr_number: event.map(|e| e.number),
            head_sha: event.map(|e| e.head_sha.clone()),
            head_ref: event.map(|e| e.head_ref.clone()),
            comment_id: None,
        }
        .to_map()
    }

    async fn deploy_one(
        &self,
        p: &Profile,
        image: Option<&str>,
        environment: &str,
        meta: BTreeMap<String, String>,
        env: Vec<(String, String)>,
        progress: &Progress,
    ) -> Result<Outcome> {
        let img = image.ok_or_else(|| {
            anyhow!(
                "no image for profile {}: name one for it (`image-uri`, or `{}=IMAGE` in `profile`)",
                p.name,
                p.name
            )
        })?;
        let req = CreateRequest {
            environment: environment.to_string(),
            image_uri: img.to_string(),
            metadata: meta,
            env,
        };
        let out = self.engine.create(p, &req).await?;
        if let Some(w) = self.options.wait {
            let subject = wait::Subject::of(p, &out);
            let settings = wait::Settings {
                interval: w.interval.min(std::time::Duration::from_secs(5)),
                ..wait::Settings::for_profile(p, w.timeout)
            };
            let report = |w: &wait::Waiting| {
                progress.send_modify(|m| {
                    m.insert(p.name.clone(), w.to_string());
                });
            };
            wait::until_ready_reporting(&self.engine.aws, &subject, &settings, &report)
                .await
                .with_context(|| {
                    format!(
                        "{} is deployed but not ready",
                        out.url.as_deref().unwrap_or("the environment")
                    )
                })?;
        }
        Ok(out)
    }

    /// Create-or-deploy every profile; the comment (deploying → ready/deployed/failed) and the
    /// deployment (in_progress → success/failure) go out while AWS works.
    pub async fn deploy_all(&self, prepared: &Prepared) -> Report {
        let p = prepared;
        let sticky = self.sticky(p);
        let meta = self.metadata(p.event.as_ref());
        let (progress, watched) = watch::channel(BTreeMap::new());
        let (announced, announced_rx) = watch::channel(false);
        let announce = async {
            let shown = tokio::join!(
                self.show(sticky.as_ref(), p, Status::Deploying),
                self.start_deployment(p)
            );
            announced.send_replace(true);
            shown
        };
        let work = futures::future::join_all(p.profiles.iter().zip(&p.targets).enumerate().map(
            |(i, (pr, t))| {
                let env = p.env.get(i).cloned().unwrap_or_default();
                let image = t.image_uri.as_deref();
                self.deploy_one(pr, image, &p.environment, meta.clone(), env, &progress)
            },
        ));
        // While the work runs, the comment says what the wait waits for (never past the work).
        let work = async {
            tokio::select! {
                biased;
                outcomes = work => outcomes,
                never = self.show_progress(sticky.as_ref(), p, watched, announced_rx) => match never {},
            }
        };
        let ((shown, deployment), outcomes) = tokio::join!(announce, work);
        let runs = by_profile(&p.profiles, outcomes);
        let first_err = failures(&runs).into_iter().next();
        let status = match &first_err {
            Some(e) => Status::Failed(e.clone()),
            None if self.options.wait.is_some() => Status::Ready,
            None => Status::Deployed,
        };
        let url = runs
            .iter()
            .find_map(|r| r.result.as_ref().ok().and_then(|o| o.url.clone()));
        let finish_comment = async {
            shown?;
            self.finish_comment(sticky.as_ref(), p, status, failure_log(&runs))
                .await
        };
        let (c, d) = tokio::join!(
            finish_comment,
            self.finish_deployment(deployment, first_err.is_none(), url.as_deref())
        );
        Report {
            environment: p.environment.clone(),
            decision: p.decision.clone(),
            action: action_of(&runs, false),
            runs,
            github: github_side(c, d),
        }
    }

    /// Edit the comment with what each service's wait waits for now, once the deploying
    /// comment is out, and at most every [`PROGRESS_EVERY`]. Never returns: the caller drops it
    /// when the work is done.
    async fn show_progress(
        &self,
        sticky: Option<&Sticky<'_>>,
        p: &Prepared,
        mut watched: watch::Receiver<BTreeMap<String, String>>,
        mut announced: watch::Receiver<bool>,
    ) -> Infallible {
        let (Some(s), Some(e)) = (sticky, &p.event) else {
            return std::future::pending().await;
        };
        if announced.wait_for(|a| *a).await.is_err() {
            return std::future::pending().await;
        }
        loop {
            if watched.changed().await.is_err() {
                return std::future::pending().await;
            }
            let what = waiting_for(&watched.borrow_and_update());
            if let Err(err) = s
                .show(&self.comment_body(p, e, Status::Waiting(what)))
                .await
            {
                tracing::warn!("showing the wait's progress failed: {err:#}");
            }
            tokio::time::sleep(PROGRESS_EVERY).await;
        }
    }

    /// GitHub deployments, when asked for and the run is about a PR.
    fn deployments(&self) -> Option<&GitHub> {
        self.github.as_ref().filter(|_| self.options.deployment)
    }

    /// A GitHub deployment of the head, in progress.
    async fn start_deployment(&self, p: &Prepared) -> Result<Option<u64>> {
        let (Some(gh), Some(e)) = (self.deployments(), p.event.as_ref()) else {
            return Ok(None);
        };
        let id = gh
            .create_deployment(&e.head_sha, &p.environment, "eden preview environment")
            .await?;
        let run_url = self.origin.run_url.as_deref();
        gh.deployment_status(id, DeploymentState::InProgress, None, run_url, "deploying")
            .await?;
        Ok(Some(id))
    }

    /// The comment's final state; a new comment's id is remembered on the state item.
    pub(super) async fn finish_comment(
        &self,
        sticky: Option<&Sticky<'_>>,
        p: &Prepared,
        status: Status,
        log: Option<FailureLog>,
    ) -> Result<Option<u64>> {
        let Some(s) = sticky else { return Ok(None) };
        self.show_with(Some(s), p, status, log).await?;
        let id = s.id().await;
        if let (Some(id), false) = (id, p.comment_id == id) {
            state::remember(
                &self.engine.aws,
                &self.engine.table,
                &p.targets[0].profile,
                &p.environment,
                PrMeta::COMMENT_ID_FIELD,
                &id.to_string(),
            )
            .await?;
        }
        Ok(id)
    }

    /// The deployment's final status: success (with the URL) or failure.
    async fn finish_deployment(
        &self,
        deployment: Result<Option<u64>>,
        ok: bool,
        url: Option<&str>,
    ) -> Result<Option<(u64, DeploymentState)>> {
        let (Some(id), Some(gh)) = (deployment?, self.deployments()) else {
            return Ok(None);
        };
        let (state, desc) = match ok {
            false => (DeploymentState::Failure, "deploy failed"),
            true => (DeploymentState::Success, "preview ready"),
        };
        let run_url = self.origin.run_url.as_deref();
        gh.deployment_status(id, state, url, run_url, desc).await?;
        Ok(Some((id, state)))
    }

    /// Delete every profile's environment. The comment is only edited when the PR has one
    /// (a PR that never had a preview gets no comment); every deployment of the environment is
    /// marked inactive.
    pub async fn delete_all(&self, prepared: &Prepared) -> Report {
        let p = prepared;
        let sticky = self.sticky(p);
        // Announce only a comment we know of: looking one up costs calls on every close.
        let announce = async {
            match (&sticky, p.comment_id, &p.event) {
                (Some(s), Some(_), Some(e)) => s
                    .edit(&self.comment_body(p, e, Status::Deleting))
                    .await
                    .map(|_| ()),
                _ => Ok(()),
            }
        };
        let work = futures::future::join_all(
            p.profiles
                .iter()
                .map(|pr| async { Ok(self.engine.delete(pr, &p.environment).await?) }),
        );
        let (shown, outcomes) = tokio::join!(announce, work);
        let runs = by_profile(&p.profiles, outcomes);
        let action = action_of(&runs, true);
        let first_err = failures(&runs).into_iter().next();
        let mut github = GitHubSide::default();
        let comment = async {
            shown?;
            let (Some(s), Some(e)) = (&sticky, &p.event) else {
                return Ok(None);
            };
            let status = match &first_err {
                Some(err) => Status::Failed(err.clone()),
                None => Status::Deleted,
            };
            // Nothing was there and no comment is known: nothing to tell.
            if p.comment_id.is_none() && action == super::PrAction::Absent {
                return Ok(None);
            }
            s.edit(&self.comment_body(p, e, status)).await
        };
        let inactive = async {
            match self.github.as_ref() {
                Some(gh) if self.options.deployment && first_err.is_none() => {
                    self.inactivate(gh, &p.environment).await
                }
                _ => Ok(Vec::new()),
            }
        };
        let (c, d) = tokio::join!(comment, inactive);
        match c {
            Ok(id) => github.comment_id = id,
            Err(e) => github.error = Some(e),
        }
        match d {
            Ok(ids) => github.inactivated = ids,
            Err(e) => github.error = github.error.or(Some(e)),
        }
        Report {
            environment: p.environment.clone(),
            decision: p.decision.clone(),
            action,
            runs,
            github,
        }
    }

    /// Mark every deployment of `environment` inactive (all pages).
    pub async fn inactivate(
        &self,
        gh: &crate::github::api::GitHub,
        environment: &str,
    ) -> Result<Vec<u64>> {
        use futures::{StreamExt, TryStreamExt};
        let ids = gh.deployments(environment).await?;
        // A few at a time: GitHub limits content creation (~80 writes a minute).
        // Ids by value: a closure over `&u64` makes this future not `Send` for every lifetime
        // (rust-lang/rust#64552), and the server runs it on spawned tasks.
        futures::stream::iter(ids.clone().into_iter().map(|id| {
            gh.deployment_status(
                id,
                DeploymentState::Inactive,
                None,
                self.origin.run_url.as_deref(),
                "preview deleted",
            )
        }))
        .buffer_unordered(4)
        .try_collect::<Vec<()>>()
        .await?;
        Ok(ids)
    }
}

pub(super) fn by_profile(profiles: &[Profile], outcomes: Vec<Result<Outcome>>) -> Vec<ProfileRun> {
    profiles
        .iter()
        .zip(outcomes)
        .map(|(p, result)| ProfileRun {
            profile: p.name.clone(),
            result,
        })
        .collect()
}

/// What GitHub saw of a deploy: the comment's id and the deployment, or the first error.
fn github_side(
    comment: Result<Option<u64>>,
    deployment: Result<Option<(u64, DeploymentState)>>,
) -> GitHubSide {
    let mut github = GitHubSide::default();
    match comment {
        Ok(id) => github.comment_id = id,
        Err(e) => github.error = Some(e),
    }
    match deployment {
        Ok(dep) => github.deployment = dep,
        Err(e) => github.error = github.error.or(Some(e)),
    }
    github
}

/// Each service's wait, as it tells what it waits for (`until_ready_reporting`).
type Progress = watch::Sender<BTreeMap<String, String>>;

/// The comment is edited with the wait's progress at most this often.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(15);

/// "starting task (0/1 running)", or per service when there are several.
fn waiting_for(by_profile: &BTreeMap<String, String>) -> String {
    match by_profile.len() {
        1 => by_profile.values().next().cloned().unwrap_or_default(),
        _ => by_profile
            .iter()
            .map(|(profile, what)| format!("{profile}: {what}"))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// The first failed run's container log, when its wait failed on a stopped task.
fn failure_log(runs: &[ProfileRun]) -> Option<FailureLog> {
    runs.iter().find_map(|r| {
        let log = r.wait_failure()?.log()?;
        Some(FailureLog {
            title: format!("{}: container {}", r.profile, log.container),
            lines: log.lines.clone(),
            console_url: Some(log.console_url.clone()),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::wait::{LogTail, StoppedTask, WaitFailure};

    fn stopped(log: Option<LogTail>) -> anyhow::Error {
        let task = StoppedTask {
            task_arn: "arn:aws:ecs:ap-northeast-1:1:task/c/0123".into(),
            task_id: "0123".into(),
            stop_code: Some("EssentialContainerExited".into()),
            stopped_reason: Some("Essential container in task exited".into()),
            containers: vec![],
            log,
        };
        anyhow::Error::new(WaitFailure::TaskStopped(Box::new(task)))
            .context("https://api-pr-1.example.com is deployed but not ready")
    }

    #[test]
    fn one_service_says_what_it_waits_for_several_say_whose() {
        let one: BTreeMap<String, String> =
            [("api".to_string(), "health checks".to_string())].into();
        assert_eq!(waiting_for(&one), "health checks");
        let two: BTreeMap<String, String> = [
            ("api".to_string(), "health checks".to_string()),
            ("web".to_string(), "starting task (0/1 running)".to_string()),
        ]
        .into();
        assert_eq!(
            waiting_for(&two),
            "api: health checks; web: starting task (0/1 running)"
        );
    }

    #[test]
    fn the_comment_gets_the_first_stopped_tasks_log() {
        let log = LogTail {
            container: "app".into(),
            group: "/ecs/api".into(),
            stream: "ecs/app/0123".into(),
            region: "ap-northeast-1".into(),
            console_url: "https://console.example/log".into(),
            lines: vec!["boom".into()],
        };
        let runs = vec![
            ProfileRun {
                profile: "web".into(),
                result: Err(anyhow::anyhow!("image not found")),
            },
            ProfileRun {
                profile: "api".into(),
                result: Err(stopped(Some(log))),
            },
        ];
        let got = failure_log(&runs).unwrap();
        assert_eq!(got.title, "api: container app");
        assert_eq!(got.lines, ["boom"]);
        assert_eq!(
            got.console_url.as_deref(),
            Some("https://console.example/log")
        );
        // A stopped task without a log (no awslogs driver), or no wait failure: nothing.
        let runs = vec![ProfileRun {
            profile: "api".into(),
            result: Err(stopped(None)),
        }];
        assert_eq!(failure_log(&runs), None);
    }
}
