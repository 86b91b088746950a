//! The job runner: a queued job → a PR run through `src/preview` (decisions, the sticky comment
//! and deployments all come from there). What is the server's own: reading the PR for jobs
//! that carry no event, the write-access check of comment commands, waiting for the head's
//! image in ECR, and telling transient failures from permanent ones.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use futures::future::BoxFuture;

use super::config::{render, ProfilesFrom, RepoConfig, ServeConfig};
use super::github::Clients;
use super::images;
use super::job::{ChatCommand, Job, PrKey, SleepCause, Work};
use super::queue::{JobDone, JobError, JobRunner, Signals};
use super::sleepers::Sleepers;
use crate::engine::{state, Engine};
use crate::github::api::GitHub;
use crate::github::ids::CommitSha;
use crate::preview::meta::PrMeta;
use crate::preview::{
    Author, Clock, Command, Context, Decision, Options, Origin, PrEvent, Prepared, ProfileSource,
    Request, SystemClock, Target, WaitSettings,
};

mod sleep;

pub struct PreviewRunner {
    pub config: Arc<ServeConfig>,
    pub engine: Engine,
    pub github: Arc<Clients>,
    /// First pause between ECR checks while waiting for an image (doubles, up to a minute).
    pub image_poll: Duration,
    /// Poll interval while waiting for a ready environment (`wait = true`).
    pub ready_poll: Duration,
    /// Counts image waits begun (tests and logs observe it; nothing depends on it).
    pub image_waits: Arc<tokio::sync::watch::Sender<u64>>,
    /// What "now" is for idle tests (`ttl`) and comment timestamps.
    pub clock: Arc<dyn Clock>,
    /// The sleeping previews (the waker's index): updated as this replica sleeps and wakes.
    pub sleepers: Arc<Sleepers>,
}

impl PreviewRunner {
    pub fn new(config: Arc<ServeConfig>, engine: Engine, github: Arc<Clients>) -> PreviewRunner {
        PreviewRunner {
            config,
            engine,
            github,
            image_poll: Duration::from_secs(5),
            ready_poll: Duration::from_secs(15),
            image_waits: Arc::new(tokio::sync::watch::channel(0).0),
            clock: Arc::new(SystemClock),
            sleepers: Arc::new(Sleepers::new()),
        }
    }
}

/// Worth another attempt: another run holds the environment's lease, or GitHub rate-limited,
/// failed (5xx) or did not answer. (Throttling and transient AWS errors are retried by the AWS
/// SDK itself.)
pub fn is_transient(e: &anyhow::Error) -> bool {
    crate::github::api::is_transient(e)
        || crate::engine::Error::kind_of(e) == crate::engine::ErrorKind::Busy
}

fn fail(e: anyhow::Error) -> JobError {
    JobError {
        transient: is_transient(&e),
        error: e,
    }
}

fn done(outcome: &str) -> Result<JobDone, JobError> {
    Ok(JobDone {
        outcome: outcome.to_string(),
    })
}

/// What a job is about once the PR is known.
struct Pr<'a> {
    key: &'a PrKey,
    repo: &'a RepoConfig,
    ctx: Context,
    /// Why a sleep or wake would happen in this job (`sleep::cause`), for the metrics.
    cause: &'static str,
}

impl PreviewRunner {
    fn context(&self, key: &PrKey, repo: &RepoConfig, gh: Option<GitHub>) -> Context {
        let profiles = match &self.config.profiles {
            ProfilesFrom::File(p) => ProfileSource::File(p.clone()),
            ProfilesFrom::Remote => ProfileSource::Remote,
        };
        let mut ctx = Context::new(
            self.engine.clone(),
            Origin {
                repository: key.repo.to_string(),
                server_url: self.config.github.server_url.clone(),
                run_url: None,
            },
            profiles,
        );
        ctx.github = gh;
        ctx.author = Author::Discover;
        ctx.clock = self.clock.clone();
        #[allow(clippy::needless_update)] // `Options` only ever gains fields
        let options = Options {
            comment: repo.comment,
            deployment: repo.deployment,
            wait: repo.wait.then_some(WaitSettings {
                timeout: self.config.wait_timeout,
                interval: self.ready_poll,
            }),
            ..Options::default()
        };
        ctx.options = options;
        ctx
    }

    async fn open<'a>(&'a self, job: &'a Job) -> Result<Pr<'a>, JobError> {
        let repo = self
            .config
            .repository(job.key.repo.as_str())
            .ok_or_else(|| {
                JobError::permanent(anyhow!(
                    "repository {} is no longer configured",
                    job.key.repo
                ))
            })?;
        let client = self
            .github
            .for_repo(job.key.repo.as_str(), job.installation)
            .await
            .map_err(JobError::transient)?;
        let gh = client.map(|c| GitHub::with_client(c, job.key.repo.as_str()));
        Ok(Pr {
            key: &job.key,
            repo,
            ctx: self.context(&job.key, repo, gh),
            cause: sleep::cause(&job.work),
        })
    }
}

impl Pr<'_> {
    fn environment(&self, e: &PrEvent) -> String {
        render(&self.repo.environment, e.number, &e.head_ref, &e.head_sha)
    }

    fn targets(&self, e: &PrEvent, deploying: bool) -> Vec<Target> {
        self.repo
            .images
            .iter()
            .map(|(profile, template)| Target {
                profile: profile.clone(),
                image_uri: deploying.then(|| render(template, e.number, &e.head_ref, &e.head_sha)),
            })
            .collect()
    }

    fn github(&self, what: &str) -> Result<&GitHub> {
        self.ctx.github.as_ref().ok_or_else(|| {
            anyhow!("{what} needs GitHub access: configure [github] token or app_id")
        })
    }

    /// The PR as it is now, as an event (`synchronize` when open, `closed` when not), built
    /// from the typed REST answer and the job's key.
    async fn read(&self) -> Result<PrEvent> {
        let pr = self
            .github("reading the pull request")?
            .pull_request(self.key.number.get())
            .await?;
        let action = if pr.is_open() {
            "synchronize"
        } else {
            "closed"
        };
        PrEvent::from_pull(
            action,
            self.key.number.get(),
            Some(self.key.repo.as_str()),
            pr,
        )
    }

    /// Whether `user` may use commands: write, maintain or admin on the repository.
    async fn may_write(&self, user: &str) -> Result<bool> {
        self.github("/eden commands")?.may_write(user).await
    }
}

impl PreviewRunner {
    /// Deploy (after the image wait) or delete what `prepared` decided.
    async fn execute(
        &self,
        pr: &Pr<'_>,
        prepared: Prepared,
        signals: &Signals,
    ) -> Result<JobDone, JobError> {
        match &prepared.decision {
            Decision::Skip { reason } => {
                tracing::info!(pr = %pr.key, "skipped: {reason}");
                return done("skipped");
            }
            Decision::Deploy => {
                let waited = images::wait(
                    &pr.ctx,
                    &prepared,
                    signals,
                    self.image_poll,
                    self.config.image_wait,
                    &self.image_waits,
                )
                .await
                .map_err(JobError::permanent)?;
                if !waited || signals.cancel.is_cancelled() {
                    return done("superseded");
                }
            }
            Decision::Delete { .. } | Decision::Sleep | Decision::Wake => {}
        }
        let started = Instant::now();
        let report = pr.ctx.execute(&prepared).await;
        super::metrics::wait_failures(&report);
        self.bookkeeping(pr, &report, started);
        let outcome = report.action.as_str();
        if let Some(e) = report
            .runs
            .into_iter()
            .filter_map(|r| {
                r.result
                    .err()
                    .map(|e| e.context(format!("profile {}", r.profile)))
            })
            .next()
        {
            return Err(fail(e));
        }
        if let Some(e) = report.github.error {
            return Err(fail(e.context("the PR comment or deployment status")));
        }
        tracing::info!(pr = %pr.key, environment = %report.environment, outcome, "PR run done");
        done(outcome)
    }

    async fn event(&self, pr: &Pr<'_>, e: PrEvent, signals: &Signals) -> Result<JobDone, JobError> {
        let deploying = e.action != "closed";
        let req = Request {
            name: Some(pr.environment(&e)),
            targets: pr.targets(&e, deploying),
            event: Some(e),
            command: Command::Auto,
            label: pr.repo.label.clone(),
        };
        let prepared = pr.ctx.prepare(req).await.map_err(fail)?;
        self.execute(pr, prepared, signals).await
    }

    /// A maintainer's command: the command is the decision (fork PRs included: that is the safe
    /// way to preview fork code, after review), for exactly the head read now or the SHA named.
    async fn command(
        &self,
        pr: &Pr<'_>,
        command: ChatCommand,
        user: &str,
        sha: Option<&CommitSha>,
        signals: &Signals,
    ) -> Result<JobDone, JobError> {
        let (allowed, now) = tokio::join!(pr.may_write(user), pr.read());
        if !allowed.map_err(fail)? {
            tracing::warn!(pr = %pr.key, user, "refused: /eden commands need write access");
            return done("refused");
        }
        let event = now.map_err(fail)?;
        if let Some(pinned) = sha {
            if !event.head_sha.starts_with(pinned.as_str()) {
                tracing::warn!(pr = %pr.key, pinned = %pinned, head = %event.head_sha, "refused: the head is no longer the commit the command named");
                return done("refused");
            }
        }
        let deploying = command == ChatCommand::Deploy;
        if command != ChatCommand::Delete && event.state != "open" {
            tracing::info!(pr = %pr.key, ?command, "skipped: a command on a closed pull request");
            return done("skipped");
        }
        let req = Request {
            name: Some(pr.environment(&event)),
            targets: pr.targets(&event, deploying),
            event: None,
            command: match command {
                ChatCommand::Deploy => Command::Deploy,
                ChatCommand::Delete => Command::Delete,
                ChatCommand::Sleep => Command::Sleep,
                ChatCommand::Wake => Command::Wake,
            },
            label: None,
        };
        let mut prepared = pr.ctx.prepare(req).await.map_err(fail)?;
        // The run is about this PR at this exact head: the comment, the deployment and the
        // state item's metadata name it.
        prepared.event = Some(event);
        self.execute(pr, prepared, signals).await
    }

    /// Converge (a build-completed cue, or the reconcile loop): closed → delete the preview;
    /// open and idle past the repository's `ttl` → delete it; open and missing or behind its
    /// head → deploy through the usual decision (fork and label rules apply). Idle means no
    /// deploy and no newer head commit for `ttl`: an idle PR's collected preview is not revived
    /// until a push or `/eden deploy`.
    async fn recheck(&self, pr: &Pr<'_>, signals: &Signals) -> Result<JobDone, JobError> {
        let event = pr.read().await.map_err(fail)?;
        let environment = pr.environment(&event);
        let first = pr
            .repo
            .images
            .keys()
            .next()
            .ok_or_else(|| JobError::permanent(anyhow!("no profiles configured")))?;
        let known = state::read(&self.engine.aws, &self.engine.table, first, &environment)
            .await
            .map_err(fail)?;
        let deployed = known
            .as_ref()
            .and_then(|s| PrMeta::read(&s.metadata).head_sha);
        let current = deployed.as_deref() == Some(event.head_sha.as_str());
        let open = event.state == "open";
        let idle = match (open, pr.repo.ttl) {
            (true, Some(ttl)) => self.idle(pr, &event, known.as_ref(), current, ttl).await?,
            _ => false,
        };
        if !open || idle {
            if known.is_none() {
                return done(if idle { "idle" } else { "skipped" });
            }
            if idle {
                tracing::info!(pr = %pr.key, %environment, "deleting an idle preview (ttl)");
            }
            let req = Request {
                name: Some(environment),
                targets: pr.targets(&event, false),
                event: None,
                command: Command::Delete,
                label: None,
            };
            let mut prepared = pr.ctx.prepare(req).await.map_err(fail)?;
            prepared.event = Some(event);
            return self.execute(pr, prepared, signals).await;
        }
        if current {
            return done("up_to_date");
        }
        self.event(pr, event, signals).await
    }

    /// No activity for `ttl`: the preview's last deploy (if any) and, when the head is not what
    /// is deployed, the head commit are both older than `ttl`.
    async fn idle(
        &self,
        pr: &Pr<'_>,
        event: &PrEvent,
        known: Option<&state::EnvState>,
        current: bool,
        ttl: Duration,
    ) -> Result<bool, JobError> {
        let now = self.clock.now();
        let old = |t: time::OffsetDateTime| now - t > ttl;
        let deployed_at = known
            .and_then(|s| s.last_updated)
            .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs as i64).ok());
        if deployed_at.is_some_and(|t| !old(t)) {
            return Ok(false);
        }
        if current {
            return Ok(deployed_at.is_some());
        }
        let committed = pr
            .github("the idle test")
            .map_err(JobError::permanent)?
            .commit_date(&event.head_sha)
            .await
            .map_err(fail)?;
        // A head whose date GitHub does not give counts as new.
        Ok(committed.is_some_and(old))
    }

    async fn run_job(&self, job: &Job, signals: &Signals) -> Result<JobDone, JobError> {
        let pr = self.open(job).await?;
        match &job.work {
            Work::Event(e) => self.event(&pr, e.clone(), signals).await,
            Work::Command { command, user, sha } => {
                self.command(&pr, *command, user, sha.as_ref(), signals)
                    .await
            }
            Work::Recheck { .. } => self.recheck(&pr, signals).await,
            Work::Sleep { cause, environment } => {
                let idle = *cause == SleepCause::Idle;
                self.background(&pr, Command::Sleep, environment, idle, signals)
                    .await
            }
            Work::Wake { environment, .. } => {
                self.background(&pr, Command::Wake, environment, false, signals)
                    .await
            }
        }
    }
}

impl JobRunner for PreviewRunner {
    fn run<'a>(
        &'a self,
        job: &'a Job,
        signals: &'a Signals,
    ) -> BoxFuture<'a, Result<JobDone, JobError>> {
        Box::pin(async move {
            self.run_job(job, signals).await.map_err(|mut e| {
                e.error = e.error.context(format!("{}", job.key));
                e
            })
        })
    }
}
