//! `eden action`: the GitHub Action's entry point (a container action runs it as root).
//!
//! inputs + event → decide (pure) → engine (AWS) ∥ the sticky PR comment → wait → report
//! (comment, deployment status, outputs, job summary).

pub mod inputs;
pub mod runtime;
pub mod summary;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use time::OffsetDateTime;

use crate::aws::{Aws, ClientOptions};
use crate::engine::{state, wait, Action, CreateRequest, Engine, Outcome};
use crate::github::api::GitHub;
use crate::github::comment::{self, Endpoint, Status, View};
use crate::github::decide::{decide, needs_current_state, Command, Decision, Settings};
use crate::github::event::{PrEvent, PrState};
use crate::names::ResourceNames;
use crate::profile::{self, Profile};
use crate::profile_store;
use inputs::{Inputs, Runner, Target};

/// Everything one run works with.
pub struct Ctx {
    pub inputs: Inputs,
    pub runner: Runner,
    pub engine: Engine,
    pub github: Option<GitHub>,
    /// Poll interval while waiting for the environment to be ready.
    pub wait_interval: Duration,
}

pub async fn run() -> Result<i32> {
    let inputs = Inputs::from_env()?;
    runtime::mask(&inputs.github_token);
    let runner = Runner::from_env()?;
    let aws = Aws::load(ClientOptions::default()).await;
    let engine = Engine::new(aws, &inputs.remote_table_name);
    let github = if inputs.github_token.is_empty() {
        None
    } else {
        Some(GitHub::new(
            &runner.api_url,
            &inputs.github_token,
            &runner.repository,
        )?)
    };
    let interval = std::env::var("EDEN_WAIT_INTERVAL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let ctx = Ctx {
        inputs,
        runner,
        engine,
        github,
        wait_interval: Duration::from_secs(interval),
    };
    let result = match ctx.inputs.command {
        Command::Gc => gc(&ctx).await,
        _ => pull_request(&ctx).await,
    };
    match result {
        Ok(code) => Ok(code),
        Err(e) => {
            runtime::error(&format!("{e:#}"));
            Err(e)
        }
    }
}

/// The profiles, each with its zone's name (read once here, so the first comment already
/// shows the right hostnames).
async fn load_profiles(ctx: &Ctx, targets: &[Target]) -> Result<Vec<Profile>> {
    let loads = targets.iter().map(|t| async move {
        let mut p = load_profile(ctx, &t.profile).await?;
        if p.dynamic_zone_name.is_none() {
            p.dynamic_zone_name =
                Some(crate::aws::dns::zone_name(&ctx.engine.aws, &p.dynamic_zone_id).await?);
        }
        Ok::<_, anyhow::Error>(p)
    });
    futures::future::try_join_all(loads).await
}

async fn load_profile(ctx: &Ctx, name: &str) -> Result<Profile> {
    let raw = if ctx.inputs.remote_profile {
        profile_store::fetch(&ctx.engine.aws, &ctx.inputs.remote_table_name, name).await?
    } else {
        let path = ctx.runner.workspace.join(&ctx.inputs.config_path);
        profile::read_raw(&path, name)
            .with_context(|| format!("input `config-path` ({})", ctx.inputs.config_path))?
    };
    Profile::from_raw(name, &raw)
        .map_err(|p| anyhow!("profile {name} is not usable: {}", p.join("; ")))
}

/// The PR the run is about, when the event is a pull_request event.
fn read_event(ctx: &Ctx) -> Result<Option<PrEvent>> {
    let Some(path) = &ctx.runner.event_path else {
        return match ctx.inputs.command {
            Command::Auto => {
                bail!("GITHUB_EVENT_PATH is not set: `command: auto` needs a pull_request event")
            }
            _ => Ok(None),
        };
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the event {}", path.display()))?;
    match PrEvent::parse(&text) {
        Ok(e) => Ok(Some(e)),
        Err(e) if ctx.inputs.command == Command::Auto => Err(e),
        Err(_) => Ok(None),
    }
}

struct Comment<'a> {
    ctx: &'a Ctx,
    event: &'a PrEvent,
    environment: String,
    endpoints: Vec<Endpoint>,
    id: tokio::sync::Mutex<Option<u64>>,
    known: bool,
}

impl Comment<'_> {
    fn enabled(&self) -> bool {
        self.ctx.inputs.comment && self.ctx.github.is_some()
    }

    fn view(&self, status: Status) -> View {
        View {
            pr: self.event.number,
            environment: self.environment.clone(),
            status,
            endpoints: self.endpoints.clone(),
            branch: self.event.head_ref.clone(),
            commit_sha: self.event.head_sha.clone(),
            repo_url: self.ctx.runner.repo_url(),
            run_url: self.ctx.runner.run_url(),
            at: OffsetDateTime::now_utc(),
        }
    }

    /// Edit our comment (found by id, else by marker over every page), or create it.
    async fn show(&self, status: Status) -> Result<()> {
        let Some(gh) = self.ctx.github.as_ref().filter(|_| self.enabled()) else {
            return Ok(());
        };
        let body = comment::render(&self.view(status));
        let mut id = self.id.lock().await;
        if id.is_none() {
            *id = gh
                .find_comment(
                    self.event.number,
                    &comment::marker(self.event.number, &self.environment),
                )
                .await?;
        }
        if let Some(existing) = *id {
            if gh.update_comment(existing, &body).await? {
                return Ok(());
            }
        }
        *id = Some(gh.create_comment(self.event.number, &body).await?);
        Ok(())
    }
}

async fn pull_request(ctx: &Ctx) -> Result<i32> {
    let inputs = &ctx.inputs;
    let event = read_event(ctx)?;
    let environment = match (&inputs.name, &event) {
        (Some(n), _) => n.clone(),
        (None, Some(e)) => format!("pr-{}", e.number),
        (None, None) => {
            bail!("input `name` is required when the event is not a pull_request event")
        }
    };
    let settings = Settings {
        command: inputs.command,
        label: inputs.label.clone(),
        allow_forks: inputs.allow_forks,
    };
    let first = inputs.targets[0].profile.clone();
    if let Some(e) = event
        .as_ref()
        .filter(|e| e.is_fork() && !inputs.allow_forks)
    {
        // Nothing to read: fork code is never deployed with this repository's credentials.
        if let Decision::Skip { reason } = decide(e, None, &settings) {
            return skip(ctx, &environment, &reason);
        }
    }

    // Round 1: the PR as it is now, the profiles, and what we remember (the comment's id).
    let pr_now = async {
        match (&ctx.github, &event) {
            (Some(gh), Some(e)) if needs_current_state(e, &settings) => {
                gh.pull(e.number).await.map(Some)
            }
            _ => Ok(None::<PrState>),
        }
    };
    let (pr_now, profiles, remembered) = tokio::join!(
        pr_now,
        load_profiles(ctx, &inputs.targets),
        state::read(
            &ctx.engine.aws,
            &inputs.remote_table_name,
            &first,
            &environment
        ),
    );
    let pr_now = pr_now?;
    let decision = match &event {
        Some(e) => decide(e, pr_now.as_ref(), &settings),
        None if inputs.command == Command::Delete => Decision::Delete {
            reason: "asked for (`command: delete`)".into(),
        },
        None => Decision::Deploy,
    };
    if let Decision::Skip { reason } = &decision {
        return skip(ctx, &environment, reason);
    }
    let profiles = profiles?;
    let remembered = remembered.unwrap_or_else(|e| {
        tracing::warn!("{e:#}");
        None
    });
    let comment_id = remembered
        .as_ref()
        .and_then(|s| s.metadata.get("comment_id"))
        .and_then(|v| v.parse::<u64>().ok());
    let endpoints: Vec<Endpoint> = profiles
        .iter()
        .map(|p| {
            let names = ResourceNames::new(&p.name_prefix, &p.domain_name_prefix, &environment);
            Endpoint {
                profile: p.name.clone(),
                hostname: names.hostname(p.dynamic_zone_name.as_deref().unwrap_or_default()),
            }
        })
        .collect();

    if inputs.dry_run {
        let plan = summary::plan(&environment, &decision, &inputs.targets, &endpoints);
        print!("{plan}");
        return nothing_done(ctx, &environment, &plan);
    }

    let comment = event.as_ref().map(|e| Comment {
        ctx,
        event: e,
        environment: environment.clone(),
        endpoints: endpoints.clone(),
        id: tokio::sync::Mutex::new(comment_id),
        known: comment_id.is_some(),
    });
    let deleting = matches!(decision, Decision::Delete { .. });
    let (results, comment_err) = if deleting {
        delete_all(ctx, &profiles, &environment, comment.as_ref()).await
    } else {
        deploy_all(
            ctx,
            &profiles,
            &environment,
            event.as_ref(),
            comment.as_ref(),
        )
        .await
    };
    let failed: Vec<String> = failures(&results);
    let outcomes: Vec<&Outcome> = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .collect();

    // Report: outputs, summary, then the exit code.
    let action = if !failed.is_empty() {
        "failed".to_string()
    } else if deleting {
        if outcomes.iter().any(|o| o.action == Some(Action::Deleted)) {
            "deleted"
        } else {
            "absent"
        }
        .to_string()
    } else if outcomes.iter().any(|o| o.action == Some(Action::Created)) {
        "created".to_string()
    } else {
        "deployed".to_string()
    };
    let eps: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| serde_json::json!({"profile": o.profile, "hostname": o.hostname, "url": o.url, "service_arn": o.service_arn}))
        .collect();
    let first_out = outcomes.first();
    runtime::write_outputs(
        ctx.runner.output.as_deref(),
        &[
            ("action", action.clone()),
            ("environment", environment.clone()),
            (
                "url",
                first_out.and_then(|o| o.url.clone()).unwrap_or_default(),
            ),
            (
                "hostname",
                first_out
                    .and_then(|o| o.hostname.clone())
                    .unwrap_or_default(),
            ),
            ("endpoints", serde_json::Value::Array(eps).to_string()),
        ],
    )?;
    for (p, r) in &results {
        if let Ok(o) = r {
            runtime::group(
                &format!("eden {} {p}", if deleting { "delete" } else { "create" }),
                &crate::report::text(o, true),
            );
        }
    }
    runtime::append_summary(
        ctx.runner.summary.as_deref(),
        &summary::done(&environment, &action, &results),
    )?;
    if let Some(e) = comment_err {
        failed_line(&format!("updating the pull request comment failed: {e:#}"));
        return Ok(1);
    }
    if !failed.is_empty() {
        for f in &failed {
            failed_line(f);
        }
        return Ok(1);
    }
    Ok(0)
}

fn skip(ctx: &Ctx, environment: &str, reason: &str) -> Result<i32> {
    runtime::notice(&format!("eden: skipped: {reason}"));
    nothing_done(ctx, environment, &summary::skipped(environment, reason))
}

/// Outputs and summary of a run that changed nothing (skipped, or a dry run).
fn nothing_done(ctx: &Ctx, environment: &str, summary_md: &str) -> Result<i32> {
    runtime::write_outputs(
        ctx.runner.output.as_deref(),
        &[
            ("action", "skipped".into()),
            ("environment", environment.to_string()),
            ("url", String::new()),
            ("hostname", String::new()),
            ("endpoints", "[]".into()),
        ],
    )?;
    runtime::append_summary(ctx.runner.summary.as_deref(), summary_md)?;
    Ok(0)
}

fn failed_line(msg: &str) {
    runtime::error(msg);
    eprintln!("error: {msg}");
}

type Results = Vec<(String, Result<Outcome>)>;

fn by_profile(profiles: &[Profile], outcomes: Vec<Result<Outcome>>) -> Results {
    profiles
        .iter()
        .map(|p| p.name.clone())
        .zip(outcomes)
        .collect()
}

/// `profile: error` for every run that failed.
fn failures(results: &Results) -> Vec<String> {
    results
        .iter()
        .filter_map(|(p, r)| r.as_ref().err().map(|e| format!("{p}: {e:#}")))
        .collect()
}

/// Show `status` on the PR comment, when there is a PR (and comments are on).
async fn show(comment: Option<&Comment<'_>>, status: Status) -> Result<()> {
    match comment {
        Some(c) => c.show(status).await,
        None => Ok(()),
    }
}

async fn deploy_all(
    ctx: &Ctx,
    profiles: &[Profile],
    environment: &str,
    event: Option<&PrEvent>,
    comment: Option<&Comment<'_>>,
) -> (Results, Option<anyhow::Error>) {
    let mut meta = BTreeMap::new();
    meta.insert("repository".to_string(), ctx.runner.repository.clone());
    if let Some(e) = event {
        meta.insert("pr_number".to_string(), e.number.to_string());
        meta.insert("head_sha".to_string(), e.head_sha.clone());
        meta.insert("head_ref".to_string(), e.head_ref.clone());
    }
    let images: Vec<Option<String>> = ctx
        .inputs
        .targets
        .iter()
        .map(|t| t.image_uri.clone())
        .collect();
    let deployments = ctx.inputs.deployment && ctx.github.is_some() && event.is_some();

    // The comment (and the deployment record) go out while AWS works.
    let announce = async {
        let (c, d) = tokio::join!(show(comment, Status::Deploying), async {
            let (Some(gh), Some(e), true) = (ctx.github.as_ref(), event, deployments) else {
                return Ok(None);
            };
            let id = gh
                .create_deployment(&e.head_sha, environment, "eden preview environment")
                .await?;
            gh.deployment_status(
                id,
                "in_progress",
                None,
                ctx.runner.run_url().as_deref(),
                "deploying",
            )
            .await?;
            Ok::<_, anyhow::Error>(Some(id))
        });
        (c, d)
    };
    let work = async {
        let runs = profiles.iter().zip(&images).map(|(p, img)| {
            let meta = meta.clone();
            async move {
                let img = img.clone().ok_or_else(|| {
                    anyhow!(
                        "no image for profile {}: set input `image-uri` (or `profile: {}=IMAGE`)",
                        p.name,
                        p.name
                    )
                })?;
                let req = CreateRequest {
                    environment: environment.to_string(),
                    image_uri: img,
                    metadata: meta,
                };
                let out = ctx.engine.create(p, &req).await?;
                if ctx.inputs.wait {
                    let aws = &ctx.engine.aws;
                    wait::until_ready(
                        &aws.ecs,
                        &aws.elb,
                        &p.target_cluster,
                        out.service_arn.as_deref().unwrap_or_default(),
                        out.target_group_arn.as_deref().unwrap_or_default(),
                        ctx.inputs.wait_timeout,
                        ctx.wait_interval,
                    )
                    .await
                    .with_context(|| {
                        format!(
                            "{} is deployed but not ready",
                            out.url.as_deref().unwrap_or("the environment")
                        )
                    })?;
                }
                Ok::<_, anyhow::Error>(out)
            }
        });
        futures::future::join_all(runs).await
    };
    let ((shown, deployment), outcomes) = tokio::join!(announce, work);
    let results = by_profile(profiles, outcomes);
    let first_err = failures(&results).into_iter().next();
    let status = match &first_err {
        Some(e) => Status::Failed(e.clone()),
        None if ctx.inputs.wait => Status::Ready,
        None => Status::Deployed,
    };
    let url = results
        .iter()
        .find_map(|(_, r)| r.as_ref().ok().and_then(|o| o.url.clone()));
    let finish_comment = async {
        shown?;
        if let Some(c) = comment {
            c.show(status.clone()).await?;
            if !c.known {
                if let Some(id) = *c.id.lock().await {
                    let first = &ctx.inputs.targets[0].profile;
                    state::remember(
                        &ctx.engine.aws,
                        &ctx.inputs.remote_table_name,
                        first,
                        environment,
                        "comment_id",
                        &id.to_string(),
                    )
                    .await?;
                }
            }
        }
        Ok::<_, anyhow::Error>(())
    };
    let finish_deployment = async {
        if let (Some(id), Some(gh)) = (deployment?, ctx.github.as_ref()) {
            let (state, desc) = if first_err.is_some() {
                ("failure", "deploy failed")
            } else {
                ("success", "preview ready")
            };
            gh.deployment_status(
                id,
                state,
                url.as_deref(),
                ctx.runner.run_url().as_deref(),
                desc,
            )
            .await?;
        }
        Ok::<_, anyhow::Error>(())
    };
    let (c, d) = tokio::join!(finish_comment, finish_deployment);
    (results, c.and(d).err())
}

async fn delete_all(
    ctx: &Ctx,
    profiles: &[Profile],
    environment: &str,
    comment: Option<&Comment<'_>>,
) -> (Results, Option<anyhow::Error>) {
    let announce = show(comment, Status::Deleting);
    let work =
        futures::future::join_all(profiles.iter().map(|p| ctx.engine.delete(p, environment)));
    let (shown, outcomes) = tokio::join!(announce, work);
    let results = by_profile(profiles, outcomes);
    let first_err = failures(&results).into_iter().next();
    let finish = async {
        shown?;
        let status = match &first_err {
            Some(e) => Status::Failed(e.clone()),
            None => Status::Deleted,
        };
        show(comment, status).await?;
        if ctx.inputs.deployment && first_err.is_none() {
            if let Some(gh) = &ctx.github {
                if let Some(id) = gh.latest_deployment(environment).await? {
                    gh.deployment_status(
                        id,
                        "inactive",
                        None,
                        ctx.runner.run_url().as_deref(),
                        "preview deleted",
                    )
                    .await?;
                }
            }
        }
        Ok::<_, anyhow::Error>(())
    };
    (results, finish.await.err())
}

/// `command: gc`: delete this repository's environments whose PR is closed, or idle > ttl.
async fn gc(ctx: &Ctx) -> Result<i32> {
    let rows = ctx.engine.list(None).await?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut results: Results = Vec::new();
    let mut notes = Vec::new();
    for row in rows
        .iter()
        .filter(|r| r.metadata.get("repository") == Some(&ctx.runner.repository))
    {
        let pr: Option<u64> = row.metadata.get("pr_number").and_then(|n| n.parse().ok());
        let reason = match (pr, &ctx.github) {
            (Some(n), Some(gh)) if !gh.pull(n).await?.open => {
                Some(format!("pull request #{n} is closed"))
            }
            _ => None,
        };
        let idle = row
            .last_updated
            .as_deref()
            .and_then(|t| {
                OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            })
            .map(|t| now - t.unix_timestamp())
            .filter(|secs| *secs > ctx.inputs.ttl.as_secs() as i64);
        let reason = reason.or(idle.map(|s| {
            format!(
                "idle for {} h (ttl {} h)",
                s / 3600,
                ctx.inputs.ttl.as_secs() / 3600
            )
        }));
        let Some(reason) = reason else { continue };
        notes.push(format!("{}/{}: {reason}", row.profile, row.environment));
        if ctx.inputs.dry_run {
            continue;
        }
        let profile = load_profile(ctx, &row.profile).await?;
        let out = ctx.engine.delete(&profile, &row.environment).await;
        if let (Ok(_), Some(gh), Some(n), Some(id)) = (
            &out,
            &ctx.github,
            pr,
            row.metadata
                .get("comment_id")
                .and_then(|i| i.parse::<u64>().ok()),
        ) {
            if ctx.inputs.comment {
                let view = View {
                    pr: n,
                    environment: row.environment.clone(),
                    status: Status::Deleted,
                    endpoints: vec![Endpoint {
                        profile: row.profile.clone(),
                        hostname: row.hostname.clone().unwrap_or_default(),
                    }],
                    branch: row.metadata.get("head_ref").cloned().unwrap_or_default(),
                    commit_sha: row.metadata.get("head_sha").cloned().unwrap_or_default(),
                    repo_url: ctx.runner.repo_url(),
                    run_url: ctx.runner.run_url(),
                    at: OffsetDateTime::now_utc(),
                };
                gh.update_comment(id, &comment::render(&view)).await?;
            }
        }
        results.push((row.profile.clone(), out));
    }
    for n in &notes {
        println!(
            "eden gc: {n}{}",
            if ctx.inputs.dry_run {
                " (dry run: kept)"
            } else {
                ""
            }
        );
    }
    let deleted: Vec<serde_json::Value> = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .map(|o| serde_json::json!({"profile": o.profile, "environment": o.environment, "hostname": o.hostname}))
        .collect();
    let action = if deleted.is_empty() {
        "skipped"
    } else {
        "deleted"
    };
    runtime::write_outputs(
        ctx.runner.output.as_deref(),
        &[
            ("action", action.into()),
            ("endpoints", serde_json::Value::Array(deleted).to_string()),
        ],
    )?;
    runtime::append_summary(
        ctx.runner.summary.as_deref(),
        &summary::gc(&notes, ctx.inputs.dry_run),
    )?;
    let failed: Vec<String> = failures(&results);
    for f in &failed {
        failed_line(f);
    }
    Ok(if failed.is_empty() { 0 } else { 1 })
}
