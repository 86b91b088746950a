//! The command line: a drop-in for the original `eden` CLI (same commands, flags and config),
//! plus `--output json`, `--remote-profile` and non-zero exit codes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::aws::{Aws, ClientOptions};
use crate::engine::{wait, CreateRequest, Engine, LeaseSettings};
use crate::error::BadInput;
use crate::profile::{self, Profile, RawProfile};
use crate::{profile_store, report};

mod config;
mod gc;
use config::config;

#[derive(Debug, Parser)]
#[command(
    name = "eden",
    version,
    about = "Preview environments on Amazon ECS: clone a reference service per branch or pull request"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct Global {
    /// Profile (a section of the config file, or a remote profile) [default: default].
    #[arg(
        short = 'p',
        long = "profile",
        value_name = "PROFILE",
        global = true,
        env = "EDEN_PROFILE"
    )]
    pub profile_flag: Option<String>,
    /// Config file (INI, one section per profile).
    #[arg(short = 'c', long, global = true, env = "EDEN_CONFIG_PATH")]
    pub config_path: Option<PathBuf>,
    /// DynamoDB table holding state and remote profiles.
    #[arg(long, global = true, default_value = "eden", env = "EDEN_TABLE")]
    pub remote_table_name: String,
    /// Use the profile stored in the DynamoDB table (`eden config push`) instead of the file.
    #[arg(long, global = true, env = "EDEN_REMOTE_PROFILE")]
    pub remote_profile: bool,
    /// Print each step with timings, and log to stderr.
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,
    /// Lease duration in seconds (renewed every quarter of it) [default: 20]. For tests and
    /// operators: every eden run on the same table should use the same value.
    #[arg(long, global = true, env = "EDEN_LEASE_SECONDS", value_parser = clap::value_parser!(u64).range(1..=600), hide_short_help = true)]
    pub lease_seconds: Option<u64>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum Output {
    #[default]
    Text,
    Json,
}

/// The original's per-command profile overrides (also the keys of `config setup`).
#[derive(Debug, Args, Clone, Default)]
pub struct ProfileFlags {
    #[arg(long)]
    pub name_prefix: Option<String>,
    #[arg(long)]
    pub reference_service_arn: Option<String>,
    #[arg(long)]
    pub target_cluster: Option<String>,
    #[arg(long)]
    pub domain_name_prefix: Option<String>,
    #[arg(long)]
    pub master_alb_arn: Option<String>,
    #[arg(long)]
    pub dynamic_zone_id: Option<String>,
    #[arg(long)]
    pub dynamic_zone_name: Option<String>,
    #[arg(long)]
    pub target_container_name: Option<String>,
    #[arg(long)]
    pub endpoint_s3_bucket_name: Option<String>,
    #[arg(long)]
    pub endpoint_s3_key: Option<String>,
    #[arg(long)]
    pub endpoint_update_key: Option<String>,
    #[arg(long)]
    pub endpoint_name_prefix: Option<String>,
    #[arg(long)]
    pub endpoint_env_type: Option<String>,
    #[arg(long)]
    pub keep_revisions: Option<String>,
    /// Stopped tasks a `--wait` tolerates before it fails (default 0: the first fails it).
    #[arg(long)]
    pub wait_failed_tasks: Option<String>,
    /// `preview` (default: the health check and deregistration delay below) or `reference`
    /// (the reference's target group settings as they are).
    #[arg(long)]
    pub target_group_tuning: Option<String>,
    /// Seconds between health checks of a clone's targets (5–300; default 5).
    #[arg(long)]
    pub health_check_interval: Option<String>,
    /// Seconds a health check may take (2–120, below the interval; default 4).
    #[arg(long)]
    pub health_check_timeout: Option<String>,
    /// Passing checks before a target is healthy again (2–10; default 2).
    #[arg(long)]
    pub healthy_threshold: Option<String>,
    /// Failing checks before a target is unhealthy (2–10; default 2).
    #[arg(long)]
    pub unhealthy_threshold: Option<String>,
    /// Seconds a deregistered target drains (0–3600; default 5).
    #[arg(long)]
    pub deregistration_delay: Option<String>,
    /// The waker's target group(s), a comma list (one per ALB): where a sleeping preview's
    /// rule leads (see docs/sleep.md).
    #[arg(long)]
    pub wake_target_group_arn: Option<String>,
}

impl ProfileFlags {
    pub fn to_raw(&self) -> RawProfile {
        let pairs = [
            ("name_prefix", &self.name_prefix),
            ("reference_service_arn", &self.reference_service_arn),
            ("target_cluster", &self.target_cluster),
            ("domain_name_prefix", &self.domain_name_prefix),
            ("master_alb_arn", &self.master_alb_arn),
            ("dynamic_zone_id", &self.dynamic_zone_id),
            ("dynamic_zone_name", &self.dynamic_zone_name),
            ("target_container_name", &self.target_container_name),
            ("endpoint_s3_bucket_name", &self.endpoint_s3_bucket_name),
            ("endpoint_s3_key", &self.endpoint_s3_key),
            ("endpoint_update_key", &self.endpoint_update_key),
            ("endpoint_name_prefix", &self.endpoint_name_prefix),
            ("endpoint_env_type", &self.endpoint_env_type),
            ("keep_revisions", &self.keep_revisions),
            ("wait_failed_tasks", &self.wait_failed_tasks),
            ("target_group_tuning", &self.target_group_tuning),
            ("health_check_interval", &self.health_check_interval),
            ("health_check_timeout", &self.health_check_timeout),
            ("healthy_threshold", &self.healthy_threshold),
            ("unhealthy_threshold", &self.unhealthy_threshold),
            ("deregistration_delay", &self.deregistration_delay),
            ("wake_target_group_arn", &self.wake_target_group_arn),
        ];
        pairs
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), v.clone()?)))
            .collect()
    }
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once
pub enum Command {
    /// Create an environment, or deploy a new image to an existing one.
    Create {
        /// Environment name (a branch, `pr-42`, …).
        #[arg(long, env = "EDEN_NAME")]
        name: String,
        /// ECR image, by tag or digest.
        #[arg(long, env = "EDEN_IMAGE_URI")]
        image_uri: String,
        /// Extra metadata stored with the environment (repeatable): `--meta pr_number=42`.
        #[arg(long = "meta", value_name = "KEY=VALUE")]
        meta: Vec<String>,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
        /// Seconds to wait for another run working on the same environment.
        #[arg(long, default_value = "300", env = "EDEN_LEASE_WAIT")]
        lease_wait: u64,
        /// Then wait until the new revision serves: its tasks run, their targets pass the
        /// health check, old targets drain, the DNS record is in sync. A stopped task, a task
        /// ECS cannot place, or a health check that never passes fails it: exit 1, the reason on
        /// stderr (with the container's last log lines and a console link).
        #[arg(long)]
        wait: bool,
        /// How long `--wait` waits before failing with what it still waits for, e.g. `90s`,
        /// `10m` (units ms, s, m, h, d; a bare number is seconds).
        #[arg(long, value_name = "DURATION", default_value = "10m", requires = "wait",
              value_parser = crate::server::config::parse_duration)]
        wait_timeout: Duration,
        #[command(flatten)]
        overrides: ProfileFlags,
    },
    /// Delete an environment and everything eden made for it.
    Delete {
        #[arg(long, env = "EDEN_NAME")]
        name: String,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
        #[arg(long, default_value = "300", env = "EDEN_LEASE_WAIT")]
        lease_wait: u64,
        #[command(flatten)]
        overrides: ProfileFlags,
    },
    /// Put an environment to sleep: its service goes to 0 tasks and its listener rule leads to
    /// the waker (`wake_target_group_arn`) or answers a 503 page saying how to wake it. The
    /// target group, task definition, DNS record and environments-file entry stay. Idempotent;
    /// finishes a sleep or wake that was cut short. See docs/sleep.md.
    Sleep {
        #[arg(long, env = "EDEN_NAME")]
        name: String,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
        #[arg(long, default_value = "300", env = "EDEN_LEASE_WAIT")]
        lease_wait: u64,
        #[command(flatten)]
        overrides: ProfileFlags,
    },
    /// Wake a sleeping environment: its tasks start again and, once they are ready (as
    /// `create --wait` judges), its rule forwards to them. Idempotent (an awake environment is
    /// left alone); exit 1 when the tasks do not become ready (the rule keeps sleeping).
    Wake {
        #[arg(long, env = "EDEN_NAME")]
        name: String,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
        #[arg(long, default_value = "300", env = "EDEN_LEASE_WAIT")]
        lease_wait: u64,
        /// How long to wait for the tasks to be ready before failing, e.g. `90s`, `10m`
        /// (units ms, s, m, h, d; a bare number is seconds).
        #[arg(long, value_name = "DURATION", default_value = "10m",
              value_parser = crate::server::config::parse_duration)]
        wait_timeout: Duration,
        #[command(flatten)]
        overrides: ProfileFlags,
    },
    /// Remove the lease of an environment (a run that died holds it for at most 30 s; this is
    /// for an operator who cannot wait). The environment's state is left as it is.
    Unlock {
        #[arg(long, env = "EDEN_NAME")]
        name: String,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
        #[command(flatten)]
        overrides: ProfileFlags,
    },
    /// List environments (all profiles, or `-p` when given explicitly).
    Ls {
        #[arg(long, value_enum, default_value_t)]
        output: Output,
        /// List every profile even when -p/EDEN_PROFILE is set.
        #[arg(long)]
        all: bool,
    },
    /// Put idle previews to sleep (all profiles, or `-p` when given explicitly): no request,
    /// deploy or wake for `--sleep-after` (the ALB's RequestCount in CloudWatch; no datapoints
    /// means no requests). The same decision as `eden serve`'s `sleep_after`; for a scheduled
    /// workflow (docs/sleep.md).
    Gc {
        /// How long without a request, a deploy or a wake, e.g. `30m` (at least 5m: the ALB's
        /// metrics reach CloudWatch minutes late).
        #[arg(long, value_name = "DURATION", required = true,
              value_parser = parse_sleep_after)]
        sleep_after: Duration,
        /// Say what would sleep; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
        /// Every profile even when -p/EDEN_PROFILE is set.
        #[arg(long)]
        all: bool,
    },
    /// Manage profiles: the local file and the remote table.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Check the live account for what the profile needs (read-only); exit 1 if a create would fail.
    Doctor {
        #[arg(long, value_enum, default_value_t)]
        output: Output,
        #[command(flatten)]
        overrides: ProfileFlags,
    },
    /// Run as the GitHub Action: inputs from INPUT_*, the event from GITHUB_EVENT_PATH.
    Action,
    /// Run the webhook receiver and HTTP API (see docs/server.md).
    Serve(crate::server::config::ServeArgs),
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once
pub enum ConfigCommand {
    /// Set keys of a profile in the config file (creating file and profile when missing).
    Setup {
        #[command(flatten)]
        keys: ProfileFlags,
    },
    /// Check every profile in the file (or only -p with --only) and report every problem.
    Check {
        #[arg(long)]
        only: bool,
    },
    /// Store the local profile in the DynamoDB table (for the API and --remote-profile).
    Push,
    /// Copy a remote profile into the local file.
    Pull,
    /// List remote profiles.
    Ls,
    /// Remove a remote profile.
    RemoteRm,
}

/// `--sleep-after`: a duration of at least 5 minutes.
fn parse_sleep_after(s: &str) -> Result<Duration, String> {
    let d = crate::server::config::parse_duration(s)?;
    let least = crate::server::config::SHORTEST_SLEEP_AFTER;
    if d < least {
        return Err(format!("{s:?} is shorter than 5m: the ALB's request counts reach CloudWatch minutes late, so previews in use would be put to sleep"));
    }
    Ok(d)
}

pub fn default_config_path() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".eden").join("config")
}

impl Global {
    /// The profile in use: `-p`/`EDEN_PROFILE`, else `default` (as the original).
    pub fn profile(&self) -> &str {
        self.profile_flag.as_deref().unwrap_or("default")
    }

    pub fn config_path(&self) -> PathBuf {
        self.config_path.clone().unwrap_or_else(default_config_path)
    }
}

/// Load and validate the selected profile (file or remote), with command-line overrides.
pub async fn load_profile(
    g: &Global,
    aws: Option<&Aws>,
    overrides: &ProfileFlags,
) -> Result<Profile> {
    let mut raw = if g.remote_profile {
        let aws = aws.ok_or_else(|| anyhow!("remote profiles need AWS access"))?;
        profile_store::fetch(aws, &g.remote_table_name, g.profile()).await?
    } else {
        profile::read_raw(&g.config_path(), g.profile())?
    };
    raw.extend(overrides.to_raw());
    Profile::from_raw(g.profile(), &raw).map_err(|problems| {
        anyhow::Error::new(crate::error::BadInput(format!(
            "profile {} is not usable: {} (run `eden config check -p {}`)",
            g.profile(),
            problems.join("; "),
            g.profile()
        )))
    })
}

fn parse_meta(meta: &[String]) -> Result<BTreeMap<String, String>> {
    meta.iter()
        .map(|m| {
            let (k, v) = m
                .split_once('=')
                .ok_or_else(|| BadInput(format!("--meta {m:?} must look like KEY=VALUE")))?;
            if k.is_empty() {
                return Err(BadInput(format!("--meta {m:?} has an empty key")).into());
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

async fn aws_for(profile: Option<&Profile>) -> Aws {
    let region = std::env::var("AWS_REGION")
        .ok()
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .is_none()
        .then(|| profile.and_then(|p| p.region()).map(str::to_string))
        .flatten();
    Aws::load(ClientOptions {
        region,
        ..Default::default()
    })
    .await
}

/// Run one command. Returns the process exit code; errors are printed by the caller.
pub async fn run(cli: Cli) -> Result<i32> {
    let g = &cli.global;
    match &cli.command {
        Command::Create {
            name,
            image_uri,
            meta,
            output,
            lease_wait,
            wait,
            wait_timeout,
            overrides,
        } => {
            let meta = parse_meta(meta)?;
            let (profile, aws) = profile_and_aws(g, overrides).await?;
            let engine = engine(g, aws, *lease_wait);
            let req = CreateRequest {
                environment: name.clone(),
                image_uri: image_uri.clone(),
                metadata: meta,
                env: Vec::new(),
            };
            let outcome = engine.create(&profile, &req).await?;
            if !*wait {
                print_outcome(&outcome, *output, g.verbose);
                return Ok(0);
            }
            let waited = wait_ready(&engine, &profile, &outcome, *wait_timeout).await?;
            print_waited(&outcome, waited.as_ref().err(), *output, g.verbose);
            Ok(if waited.is_ok() { 0 } else { 1 })
        }
        Command::Delete {
            name,
            output,
            lease_wait,
            overrides,
        } => {
            let (profile, aws) = profile_and_aws(g, overrides).await?;
            let engine = engine(g, aws, *lease_wait);
            let outcome = engine.delete(&profile, name).await?;
            print_outcome(&outcome, *output, g.verbose);
            Ok(0)
        }
        Command::Sleep {
            name,
            output,
            lease_wait,
            overrides,
        } => sleep(g, name, *output, *lease_wait, overrides).await,
        Command::Wake {
            name,
            output,
            lease_wait,
            wait_timeout,
            overrides,
        } => wake(g, name, *output, *lease_wait, *wait_timeout, overrides).await,
        Command::Unlock {
            name,
            output,
            overrides,
        } => unlock(g, name, *output, overrides).await,
        Command::Ls { output, all } => ls(g, *output, *all).await,
        Command::Gc {
            sleep_after,
            dry_run,
            output,
            all,
        } => gc::run(g, *sleep_after, *dry_run, *output, *all).await,
        Command::Config(c) => config(g, c).await,
        Command::Doctor { output, overrides } => doctor(g, *output, overrides).await,
        Command::Action => crate::action::run().await,
        Command::Serve(args) => serve(g, args).await,
    }
}

async fn serve(g: &Global, args: &crate::server::config::ServeArgs) -> Result<i32> {
    let flags = crate::server::config::GlobalProfileFlags {
        config_path: g.config_path.clone(),
        remote_profile: g.remote_profile,
        table: (g.remote_table_name != "eden").then(|| g.remote_table_name.clone()),
    };
    crate::server::start::run(args, &flags, g.verbose).await
}

async fn sleep(
    g: &Global,
    name: &str,
    output: Output,
    lease_wait: u64,
    overrides: &ProfileFlags,
) -> Result<i32> {
    let (profile, aws) = profile_and_aws(g, overrides).await?;
    let outcome = engine(g, aws, lease_wait).sleep(&profile, name).await?;
    print_outcome(&outcome, output, g.verbose);
    Ok(0)
}

async fn wake(
    g: &Global,
    name: &str,
    output: Output,
    lease_wait: u64,
    wait_timeout: Duration,
    overrides: &ProfileFlags,
) -> Result<i32> {
    let (profile, aws) = profile_and_aws(g, overrides).await?;
    let settings = wait::Settings::for_profile(&profile, wait_timeout);
    let outcome = engine(g, aws, lease_wait)
        .wake(&profile, name, settings)
        .await?;
    print_outcome(&outcome, output, g.verbose);
    Ok(0)
}

async fn unlock(g: &Global, name: &str, output: Output, overrides: &ProfileFlags) -> Result<i32> {
    let (profile, aws) = profile_and_aws(g, overrides).await?;
    let engine = engine(g, aws, 0);
    let unlocked = crate::engine::unlock::run(&engine, &profile.name, name).await?;
    match (output, &unlocked) {
        (Output::Json, _) => println!(
            "{}",
            serde_json::json!({ "profile": profile.name, "environment": name, "unlocked": unlocked })
        ),
        (Output::Text, Some(u)) => print!("{}", crate::engine::unlock::render(u)),
        (Output::Text, None) => println!(
            "{}/{name} has no lease in table {}; nothing to do",
            profile.name, g.remote_table_name
        ),
    }
    Ok(0)
}

async fn ls(g: &Global, output: Output, all: bool) -> Result<i32> {
    let aws = aws_for(None).await;
    let engine = Engine::new(aws, &g.remote_table_name);
    let only = g.profile_flag.as_deref().filter(|_| !all);
    let rows = engine.list(only).await?;
    match output {
        Output::Json => println!("{}", report::json_list(&rows)),
        Output::Text => print!("{}", report::list_text(&rows)),
    }
    Ok(0)
}

async fn doctor(g: &Global, output: Output, overrides: &ProfileFlags) -> Result<i32> {
    let (profile, aws) = profile_and_aws(g, overrides).await?;
    let r = crate::doctor::run(&aws, &profile, &g.remote_table_name).await;
    match output {
        Output::Json => println!("{}", crate::doctor::render::json(&r)),
        Output::Text => print!("{}", crate::doctor::render::text(&r)),
    }
    Ok(if r.ok { 0 } else { 1 })
}

/// The engine for one command, with the lease settings of the command line.
fn engine(g: &Global, aws: Aws, lease_wait: u64) -> Engine {
    let mut engine = Engine::new(aws, &g.remote_table_name);
    engine.lease = LeaseSettings {
        wait: Duration::from_secs(lease_wait),
        ..match g.lease_seconds {
            Some(s) => LeaseSettings::with_duration(Duration::from_secs(s)),
            None => LeaseSettings::default(),
        }
    };
    engine
}

async fn profile_and_aws(g: &Global, overrides: &ProfileFlags) -> Result<(Profile, Aws)> {
    if g.remote_profile {
        let aws = aws_for(None).await;
        let profile = load_profile(g, Some(&aws), overrides).await?;
        Ok((profile, aws))
    } else {
        let profile = load_profile(g, None, overrides).await?;
        let aws = aws_for(Some(&profile)).await;
        Ok((profile, aws))
    }
}

/// `create --wait`: the wait's own failure (exit 1), or another error (its own exit code).
async fn wait_ready(
    engine: &Engine,
    profile: &Profile,
    o: &crate::engine::Outcome,
    timeout: Duration,
) -> Result<std::result::Result<(), wait::WaitFailure>> {
    let subject = wait::Subject::of(profile, o);
    let settings = wait::Settings::for_profile(profile, timeout);
    match wait::until_ready(&engine.aws, &subject, &settings).await {
        Ok(()) => Ok(Ok(())),
        Err(e) => match e.downcast::<wait::WaitFailure>() {
            Ok(f) => Ok(Err(f)),
            Err(e) => Err(e),
        },
    }
}

/// The outcome and the wait's result: JSON with a `wait` object (the failure's fields), or
/// text with `ready` — a failure's reason and details go to stderr.
fn print_waited(
    o: &crate::engine::Outcome,
    failure: Option<&wait::WaitFailure>,
    output: Output,
    verbose: bool,
) {
    let url = o.url.as_deref().unwrap_or("the environment");
    if let Some(f) = failure {
        eprintln!("error: {url} is deployed but not ready: {f}");
        for line in f.details() {
            eprintln!("  {line}");
        }
    }
    match output {
        Output::Json => {
            #[derive(serde::Serialize)]
            struct Waited<'a> {
                #[serde(flatten)]
                outcome: &'a crate::engine::Outcome,
                wait: serde_json::Value,
            }
            let wait = match failure {
                None => serde_json::json!({ "ready": true }),
                Some(f) => {
                    serde_json::json!({ "ready": false, "message": f.to_string(), "failure": f })
                }
            };
            let w = Waited { outcome: o, wait };
            println!(
                "{}",
                serde_json::to_string_pretty(&w).expect("outcomes serialise")
            );
        }
        Output::Text => {
            print!("{}", report::text(o, verbose));
            if failure.is_none() {
                println!("ready: {url}");
            }
        }
    }
}

fn print_outcome(o: &crate::engine::Outcome, output: Output, verbose: bool) {
    match output {
        Output::Json => println!("{}", report::json(o)),
        Output::Text => print!("{}", report::text(o, verbose)),
    }
}
