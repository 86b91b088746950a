//! `eden action`: the GitHub Action's entry point (a container action runs it as root).
//!
//! Only what is specific to the Actions runner lives here: inputs (`INPUT_*`), the runner's
//! environment (`GITHUB_*`), outputs, the job summary and log commands. The PR run itself —
//! decide, the sticky comment, deploy-all / delete-all, gc — is `crate::preview`.

pub mod inputs;
pub mod runtime;
pub mod summary;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};

use crate::aws::{Aws, ClientOptions};
use crate::engine::Engine;
use crate::github::api::GitHub;
use crate::github::decide::{Command, Decision};
use crate::github::event::PrEvent;
use crate::preview::{
    Author, CommentTemplate, Context, Options, Origin, Prepared, ProfileSource, Report, Request,
    SystemClock, WaitSettings,
};
use inputs::{Inputs, Runner};

pub async fn run() -> Result<i32> {
    let inputs = Inputs::from_env()?;
    runtime::mask(&inputs.github_token);
    let runner = Runner::from_env()?;
    let aws = Aws::load(ClientOptions::default()).await;
    let ctx = context(
        &inputs,
        &runner,
        Engine::new(aws, &inputs.remote_table_name),
    )?;
    let result = match inputs.command {
        Command::Gc => gc(&ctx, &inputs, &runner).await,
        _ => pull_request(&ctx, &inputs, &runner).await,
    };
    result.inspect_err(|e| runtime::error(&format!("{e:#}")))
}

/// The preview context the inputs and the runner describe.
fn context(inputs: &Inputs, runner: &Runner, engine: Engine) -> Result<Context> {
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
    let profiles = if inputs.remote_profile {
        ProfileSource::Remote
    } else {
        ProfileSource::File(runner.workspace.join(&inputs.config_path))
    };
    Ok(Context {
        engine,
        github,
        author: inputs
            .comment_author
            .clone()
            .map(Author::Login)
            .unwrap_or_default(),
        origin: Origin {
            repository: runner.repository.clone(),
            server_url: runner.server_url.clone(),
            run_url: runner.run_url(),
        },
        profiles,
        options: Options {
            comment: inputs.comment,
            deployment: inputs.deployment,
            wait: inputs.wait.then_some(WaitSettings {
                timeout: inputs.wait_timeout,
                interval: Duration::from_secs(interval),
            }),
            comment_template: template(inputs, runner)?,
            env: inputs.env.clone(),
        },
        clock: Arc::new(SystemClock),
    })
}

/// The `comment-template` file, read and validated before anything runs.
fn template(inputs: &Inputs, runner: &Runner) -> Result<Option<CommentTemplate>> {
    let Some(path) = &inputs.comment_template else {
        return Ok(None);
    };
    let full = runner.workspace.join(path);
    let text = std::fs::read_to_string(&full)
        .with_context(|| format!("input `comment-template`: reading {}", full.display()))?;
    CommentTemplate::parse(&text)
        .map(Some)
        .with_context(|| format!("input `comment-template` ({path})"))
}

/// The pull request event, or `None` for any other trigger.
fn read_event(inputs: &Inputs, runner: &Runner) -> Result<Option<PrEvent>> {
    let Some(path) = &runner.event_path else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the event {}", path.display()))?;
    match PrEvent::parse_any(&text) {
        Ok(e) => Ok(e),
        Err(e) if inputs.command == Command::Auto => Err(e),
        Err(_) => Ok(None),
    }
}

async fn pull_request(ctx: &Context, inputs: &Inputs, runner: &Runner) -> Result<i32> {
    let event = read_event(inputs, runner)?;
    if event.is_none() && inputs.name.is_none() && inputs.command != Command::Auto {
        bail!("input `name` is required when the event is not a pull_request event");
    }
    let request = Request {
        event,
        command: inputs.command,
        label: inputs.label.clone(),
        name: inputs.name.clone(),
        targets: inputs.targets.clone(),
    };
    let prepared = ctx.prepare(request).await.map_err(|e| {
        if inputs.remote_profile {
            e
        } else {
            e.context(format!("input `config-path` ({})", inputs.config_path))
        }
    })?;
    if let Decision::Skip { reason } = &prepared.decision {
        runtime::notice(&format!("eden: skipped: {reason}"));
        return nothing_done(
            runner,
            &prepared.environment,
            &summary::skipped(&prepared.environment, reason),
        );
    }
    if inputs.dry_run {
        let plan = summary::plan(
            &prepared.environment,
            &prepared.decision,
            &prepared.targets,
            &prepared.endpoints,
        );
        print!("{plan}");
        return nothing_done(runner, &prepared.environment, &plan);
    }
    let report = ctx.execute(&prepared).await;
    finish(runner, &prepared, &report)
}

/// Outputs, log groups, the job summary, then the exit code.
fn finish(runner: &Runner, prepared: &Prepared, report: &Report) -> Result<i32> {
    let environment = &report.environment;
    let eps: Vec<serde_json::Value> = report
        .outcomes()
        .map(|o| serde_json::json!({"profile": o.profile, "hostname": o.hostname, "url": o.url, "service_arn": o.service_arn}))
        .collect();
    let first = report.outcomes().next();
    runtime::write_outputs(
        runner.output.as_deref(),
        &[
            ("action", report.action.as_str().to_string()),
            ("environment", environment.clone()),
            ("url", report.url().unwrap_or_default().to_string()),
            (
                "hostname",
                first.and_then(|o| o.hostname.clone()).unwrap_or_default(),
            ),
            ("endpoints", serde_json::Value::Array(eps).to_string()),
        ],
    )?;
    let verb = match prepared.decision {
        Decision::Delete { .. } => "delete",
        Decision::Sleep => "sleep",
        Decision::Wake => "wake",
        _ => "create",
    };
    for o in report.outcomes() {
        runtime::group(
            &format!("eden {verb} {}", o.profile),
            &crate::report::text(o, true),
        );
    }
    runtime::append_summary(
        runner.summary.as_deref(),
        &summary::done(environment, report.action.as_str(), &report.runs),
    )?;
    if let Some(e) = &report.github.error {
        failed_line(&format!("updating the pull request comment failed: {e:#}"));
        return Ok(1);
    }
    for f in &report.failures() {
        failed_line(f);
    }
    // The first failed profile's kind decides the code, as the CLI's would.
    let first = report.runs.iter().find_map(|r| r.result.as_ref().err());
    Ok(first.map_or(0, |e| {
        crate::report::exit_code(crate::engine::Error::kind_of(e))
    }))
}

/// Outputs and summary of a run that changed nothing (skipped, or a dry run).
fn nothing_done(runner: &Runner, environment: &str, summary_md: &str) -> Result<i32> {
    runtime::write_outputs(
        runner.output.as_deref(),
        &[
            ("action", "skipped".into()),
            ("environment", environment.to_string()),
            ("url", String::new()),
            ("hostname", String::new()),
            ("endpoints", "[]".into()),
        ],
    )?;
    runtime::append_summary(runner.summary.as_deref(), summary_md)?;
    Ok(0)
}

fn failed_line(msg: &str) {
    runtime::error(msg);
    eprintln!("error: {msg}");
}

/// `command: gc`: delete this repository's environments whose PR is closed, or idle > ttl.
async fn gc(ctx: &Context, inputs: &Inputs, runner: &Runner) -> Result<i32> {
    let report = ctx.gc(inputs.ttl, inputs.dry_run).await?;
    let notes: Vec<String> = report
        .items
        .iter()
        .map(|i| format!("{}/{}: {}", i.profile, i.environment, i.reason))
        .collect();
    for n in &notes {
        println!(
            "eden gc: {n}{}",
            if report.dry_run {
                " (dry run: kept)"
            } else {
                ""
            }
        );
    }
    let deleted: Vec<serde_json::Value> = report
        .deleted()
        .map(|o| serde_json::json!({"profile": o.profile, "environment": o.environment, "hostname": o.hostname}))
        .collect();
    let action = if deleted.is_empty() {
        "skipped"
    } else {
        "deleted"
    };
    runtime::write_outputs(
        runner.output.as_deref(),
        &[
            ("action", action.into()),
            ("endpoints", serde_json::Value::Array(deleted).to_string()),
        ],
    )?;
    runtime::append_summary(
        runner.summary.as_deref(),
        &summary::gc(&notes, report.dry_run),
    )?;
    let failed = report.failures();
    for f in &failed {
        failed_line(f);
    }
    Ok(if failed.is_empty() { 0 } else { 1 })
}
