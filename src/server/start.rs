//! `eden serve` from the command line: configuration, logging, clients, queue, loops, listener.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use futures::future::BoxFuture;

use super::config::{
    self, GlobalProfileFlags, LogFormat, ProfilesFrom, QueueKind, ServeArgs, ServeConfig,
};
use super::github::Clients;
use super::queue::{QueueSettings, Scheduler};
use super::reconcile::Reconciler;
use super::runner::PreviewRunner;
use super::sleepers::Sleepers;
use super::sqs::{Consumer, SqsSettings, SqsSubmit};
use super::waker::{ListRefresh, QueueTrigger, Waker};
use super::{api, AppState, Memory, Readiness};
use crate::aws::{Aws, ClientOptions};
use crate::engine::{state, Engine};

pub async fn run(args: &ServeArgs, global: &GlobalProfileFlags, verbose: bool) -> Result<i32> {
    let config = match config::load(args, global) {
        Ok(c) => c,
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!(
                "Found {} problem(s) in the server configuration{}",
                problems.len(),
                args.config
                    .as_ref()
                    .map(|p| format!(" ({})", p.display()))
                    .unwrap_or_default()
            );
            return Ok(1);
        }
    };
    if args.check_config {
        return Ok(check(&config));
    }
    init_logging(config.log_format, verbose);
    serve(config).await
}

/// `--check-config`: the file was valid; also check the profiles it names (file profiles).
fn check(config: &ServeConfig) -> i32 {
    let problems = config::check_profiles(config);
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("{p}");
        }
        eprintln!("Found {} problem(s) in the profiles", problems.len());
        return 1;
    }
    let repos: Vec<&str> = config
        .repositories
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    println!(
        "Configuration is valid: listen {}, {} repositories ({}), {} API key(s), queue {}, profiles {}",
        config.listen,
        repos.len(),
        repos.join(", "),
        config.api_keys.len(),
        match &config.queue {
            QueueKind::Memory => "in-process".to_string(),
            QueueKind::Sqs(url) => format!("SQS {url}"),
        },
        match &config.profiles {
            ProfilesFrom::File(p) => p.display().to_string(),
            ProfilesFrom::Remote => format!("remote (table {})", config.table),
        }
    );
    0
}

fn init_logging(format: LogFormat, verbose: bool) {
    let default = if verbose {
        "eden=debug,info"
    } else {
        "eden=info,warn"
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("EDEN_LOG").unwrap_or_else(|_| default.into());
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => b.json().flatten_event(true).try_init(),
        LogFormat::Text => b.with_ansi(false).try_init(),
    };
}

/// The AWS clients: the region from the environment, else from the first file profile.
async fn aws(config: &ServeConfig) -> Aws {
    let from_env = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .is_ok();
    let region = match (&config.profiles, from_env) {
        (ProfilesFrom::File(path), false) => config.profile_names().iter().find_map(|n| {
            let raw = crate::profile::read_raw(path, n).ok()?;
            crate::profile::Profile::from_raw(n, &raw)
                .ok()?
                .region()
                .map(str::to_string)
        }),
        _ => None,
    };
    Aws::load(ClientOptions {
        region,
        ..Default::default()
    })
    .await
}

struct Ready {
    aws: Aws,
    table: String,
    github: Arc<Clients>,
    /// The SQS queue's URL, when jobs go through SQS.
    queue: Option<String>,
}

impl Readiness for Ready {
    fn check(&self) -> BoxFuture<'_, Vec<(&'static str, Result<(), String>)>> {
        Box::pin(async move {
            let limit = Duration::from_secs(5);
            let aws = async {
                match tokio::time::timeout(
                    limit,
                    state::read(&self.aws, &self.table, "_readyz", "_readyz"),
                )
                .await
                {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(format!("{e:#}")),
                    Err(_) => Err("AWS did not answer within 5 s".into()),
                }
            };
            let gh = async {
                match tokio::time::timeout(limit, self.github.probe()).await {
                    Ok(r) => r.map_err(|e| format!("{e:#}")),
                    Err(_) => Err("GitHub did not answer within 5 s".into()),
                }
            };
            let sqs = async {
                let url = self.queue.as_deref()?;
                Some(
                    match tokio::time::timeout(limit, crate::aws::sqs::counts(&self.aws, url)).await
                    {
                        Ok(r) => r.map(|_| ()).map_err(|e| e.to_string()),
                        Err(_) => Err("SQS did not answer within 5 s".into()),
                    },
                )
            };
            let (a, g, q) = tokio::join!(aws, gh, sqs);
            let mut checks = vec![("aws", a), ("github", g)];
            checks.extend(q.map(|q| ("sqs", q)));
            checks
        })
    }
}

async fn serve(config: ServeConfig) -> Result<i32> {
    let config = Arc::new(config);
    let aws = aws(&config).await;
    let engine = Engine::new(aws.clone(), &config.table);
    let github = Arc::new(Clients::new(&config.github)?);
    let sleepers = Arc::new(Sleepers::new());
    let mut runner = PreviewRunner::new(config.clone(), engine.clone(), github.clone());
    runner.sleepers = sleepers.clone();
    let jobs = queue(&config, &aws, Arc::new(runner)).await?;
    let state = app_state(&config, &jobs, &engine, aws, &github);
    let stop_loops = tokio_util::sync::CancellationToken::new();
    if let Some(interval) = config.reconcile_interval {
        let mut reconciler = Reconciler::new(
            config.clone(),
            engine.clone(),
            github.clone(),
            jobs.submit.clone(),
        );
        reconciler.sleepers = sleepers.clone();
        tokio::spawn(reconciler.run(interval, stop_loops.clone()));
    }
    if let Some(addr) = config.wake_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on {addr} (wake_listen)"))?;
        let mut waker = Waker::new(
            sleepers.clone(),
            Arc::new(QueueTrigger(jobs.submit.clone())),
        );
        waker.refresh = Some(Arc::new(ListRefresh {
            config: config.clone(),
            engine: engine.clone(),
        }));
        tracing::info!(wake_listen = %addr, "the waker is listening");
        let stop = stop_loops.clone();
        tokio::spawn(async move {
            if let Err(e) = super::waker::serve(listener, Arc::new(waker), stop).await {
                tracing::error!("the waker stopped: {e:#}");
            }
        });
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    tracing::info!(
        listen = %config.listen,
        repositories = config.repositories.len(),
        "eden serve is listening"
    );
    super::serve_until(
        listener,
        Arc::new(state),
        jobs.scheduler,
        config.shutdown_timeout,
        async move {
            super::signal().await;
            stop_loops.cancel();
        },
    )
    .await?;
    if let Some(consumer) = jobs.consumer {
        if consumer.shutdown(config.shutdown_timeout).await {
            tracing::info!("all work finished");
        }
    }
    Ok(0)
}

/// Where jobs go, and what runs them in this process.
struct Jobs {
    submit: Arc<dyn super::Submit>,
    /// In-process: the scheduler is the queue.
    scheduler: Option<Arc<Scheduler>>,
    /// SQS: this replica's consumer, feeding its own scheduler from the FIFO queue.
    consumer: Option<Consumer>,
}

/// In-process: the scheduler is the queue. SQS: jobs go to the FIFO queue, and this replica's
/// consumer feeds its own scheduler from it (src/server/sqs.rs).
async fn queue(config: &ServeConfig, aws: &Aws, runner: Arc<PreviewRunner>) -> Result<Jobs> {
    let queue_settings = QueueSettings {
        max_in_flight: config.max_in_flight,
        ..QueueSettings::default()
    };
    match &config.queue {
        QueueKind::Memory => {
            let scheduler = Scheduler::new(runner, queue_settings, None);
            Ok(Jobs {
                submit: Arc::new(Memory(scheduler.clone())),
                scheduler: Some(scheduler),
                consumer: None,
            })
        }
        QueueKind::Sqs(url) => {
            // A wrong URL, region or role is an operator's mistake: say so before serving.
            if let Err(e) = crate::aws::sqs::counts(aws, url).await {
                let region = aws.config.region().map(|r| r.to_string());
                anyhow::bail!(
                    "queue {url}: {e}. Check that the FIFO queue exists in region {} and that the role may use it (sqs:GetQueueAttributes, SendMessage, ReceiveMessage, DeleteMessage, ChangeMessageVisibility)",
                    region.as_deref().unwrap_or("(none set)")
                );
            }
            let settings = SqsSettings::new(url, config.max_in_flight);
            let consumer = Consumer::start(aws.clone(), settings, runner, queue_settings);
            Ok(Jobs {
                submit: Arc::new(SqsSubmit::new(aws.clone(), url)),
                scheduler: None,
                consumer: Some(consumer),
            })
        }
    }
}

/// What the router serves from: the queue, the original API's engine, the readiness checks.
fn app_state(
    config: &Arc<ServeConfig>,
    jobs: &Jobs,
    engine: &Engine,
    aws: Aws,
    github: &Arc<Clients>,
) -> AppState {
    let mut state = AppState::new(config.clone(), jobs.submit.clone());
    state.api = Some(api::Backend {
        engine: engine.clone(),
        profiles: config.profiles.clone(),
    });
    state.ready = Some(Arc::new(Ready {
        aws,
        table: config.table.clone(),
        github: github.clone(),
        queue: match &config.queue {
            QueueKind::Sqs(url) => Some(url.clone()),
            QueueKind::Memory => None,
        },
    }));
    state
}
