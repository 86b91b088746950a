//! Idleness against the emulator: moto's CloudWatch takes `PutMetricData` and answers
//! `GetMetricData` for `AWS/ApplicationELB` `RequestCount` with eden's dimensions, so previews
//! get traffic here. The reconcile loop runs on tokio's paused clock, and "now" for the
//! decision follows it; the batching is read from the call log.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use aws_smithy_types::DateTime;
use common::*;
use eden::aws::cloudwatch::{self, Traffic};
use eden::aws::Instrument;
use eden::engine::Outcome;
use eden::preview::Clock;
use eden::server::config::{self, FileConfig, GlobalProfileFlags, ServeArgs};
use eden::server::github::Clients;
use eden::server::job::{Job, PrKey, SleepCause, Work};
use eden::server::reconcile::Reconciler;
use eden::server::Submit;
use futures::future::BoxFuture;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// "Now" on tokio's clock: `base` when the test started, moving as (paused) time does.
#[derive(Debug)]
struct TokioClock {
    base: OffsetDateTime,
    start: tokio::time::Instant,
}

impl Clock for TokioClock {
    fn now(&self) -> OffsetDateTime {
        self.base + self.start.elapsed()
    }
}

/// Collects what the loop queues, with the (virtual) time it was queued at.
struct Collect(mpsc::UnboundedSender<(Job, tokio::time::Instant)>);

impl Submit for Collect {
    fn submit(&self, job: Job) -> BoxFuture<'_, anyhow::Result<()>> {
        let _ = self.0.send((job, tokio::time::Instant::now()));
        Box::pin(async { Ok(()) })
    }
}

/// `RequestCount` = `n` for a preview at `at`, as the ALB reports it.
async fn traffic(w: &World, t: &Traffic, at: OffsetDateTime, n: f64) {
    let dim = |k: &str, v: &str| Dimension::builder().name(k).value(v).build();
    w.aws
        .cloudwatch
        .put_metric_data()
        .namespace("AWS/ApplicationELB")
        .metric_data(
            MetricDatum::builder()
                .metric_name("RequestCount")
                .dimensions(dim("TargetGroup", &t.target_group))
                .dimensions(dim("LoadBalancer", &t.load_balancer))
                .value(n)
                .timestamp(DateTime::from_secs(at.unix_timestamp()))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

fn traffic_of(row: &Outcome) -> Traffic {
    Traffic::from_arns(
        row.target_group_arn.as_deref().unwrap(),
        row.rule_arn.as_deref().unwrap(),
    )
    .unwrap()
}

async fn preview(w: &World, env: &str, pr: &str) -> Outcome {
    let mut req = w.request(env, &w.image("api", "sha-1"));
    req.metadata
        .insert("repository".into(), "octo-org/shop".into());
    req.metadata.insert("pr_number".into(), pr.into());
    w.engine(None)
        .await
        .create(&w.profile("api"), &req)
        .await
        .unwrap()
}

fn sleep_config(w: &World, dir: &std::path::Path, extra: &str) -> Arc<config::ServeConfig> {
    let text = format!(
        r#"
eden_config = "{}"
table = "{}"
[github]
webhook_secrets = ["s"]
[[repository]]
name = "octo-org/*"
sleep_after = "30m"
{extra}
[repository.images]
api = "{}"
"#,
        w.write_config(dir).display(),
        w.table,
        w.image("api", "sha-1").replace(":sha-1", ":{sha}"),
    );
    let file: FileConfig = toml::from_str(&text).unwrap();
    Arc::new(
        config::resolve(file, &ServeArgs::default(), &GlobalProfileFlags::default())
            .unwrap_or_else(|p| panic!("{p:?}")),
    )
}

#[tokio::test(start_paused = true)]
async fn the_loop_sleeps_a_preview_without_requests_and_waits_for_one_with_requests() {
    let w = World::paused("id").await;
    let busy = preview(&w, "pr-7", "7").await;
    let quiet = preview(&w, "pr-8", "8").await;
    let engine = w.engine(None).await;
    let rows = engine.list(None).await.unwrap();
    let deployed = |r: &Outcome| {
        OffsetDateTime::parse(
            r.last_updated.as_deref().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let t0 = rows.iter().map(deployed).max().unwrap() + Duration::from_secs(1);
    // pr-7 is used 25 minutes after the deploy; pr-8 never (no datapoint at all).
    traffic(
        &w,
        &traffic_of(&busy),
        t0 + Duration::from_secs(25 * 60),
        3.0,
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let cfg = sleep_config(&w, dir.path(), "");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let github = Arc::new(Clients::new(&cfg.github).unwrap());
    let mut r = Reconciler::new(cfg, engine, github, Arc::new(Collect(tx)));
    let started = tokio::time::Instant::now();
    r.clock = Arc::new(TokioClock {
        base: t0,
        start: started,
    });
    let stop = CancellationToken::new();
    let task = tokio::spawn(r.run(Duration::from_secs(600), stop.clone()));

    // The first Sleep job of each PR, and when (rounds at 0, 10, 20 … minutes).
    let mut first: Vec<(u64, u64)> = Vec::new();
    while first.len() < 2 {
        let (job, at) = rx.recv().await.unwrap();
        if let Work::Sleep { cause, environment } = &job.work {
            assert_eq!(*cause, SleepCause::Idle);
            assert_eq!(*environment, format!("pr-{}", job.key.number));
            assert!(job.delivery.starts_with("reconcile-"), "{}", job.delivery);
            let n = job.key.number.get();
            if !first.iter().any(|(k, _)| *k == n) {
                first.push((n, (at - started).as_secs() / 60));
            }
        }
    }
    stop.cancel();
    task.await.unwrap();
    // pr-8: idle since its deploy, 30 minutes at the 30-minute round. pr-7: its last request
    // (the minute from 25 m) ended at 26 m; 30 minutes later is the 60-minute round.
    assert_eq!(first, [(8, 30), (7, 60)]);
    let _ = quiet;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_hundred_previews_are_read_in_two_calls() {
    let inst = Instrument::new();
    let aws = aws(Some(inst.clone())).await;
    let world = World::new("ib").await;
    let targets: Vec<Traffic> = (0..600)
        .map(|i| Traffic {
            target_group: format!("targetgroup/{}-pr-{i}/{:016x}", world.prefix, i),
            load_balancer: format!("app/{}-alb/50dc6c495c0c9188", world.prefix),
        })
        .collect();
    let now = OffsetDateTime::now_utc();
    // One preview in the second batch had requests 5 minutes ago.
    traffic(&world, &targets[550], now - Duration::from_secs(300), 7.0).await;
    inst.reset();
    let start = DateTime::from_secs(now.unix_timestamp() - 1800);
    let end = DateTime::from_secs(now.unix_timestamp() + 60);
    let read = cloudwatch::last_requests(&aws, &targets, start, end)
        .await
        .unwrap();
    let calls: Vec<String> = inst.calls().into_iter().map(|c| c.operation).collect();
    assert_eq!(
        calls,
        ["CloudWatch.GetMetricData", "CloudWatch.GetMetricData"]
    );
    assert_eq!(read.calls, 2);
    assert_eq!(read.last.len(), 600);
    let seen: Vec<&Traffic> = read
        .last
        .iter()
        .filter(|(_, at)| at.is_some())
        .map(|(t, _)| t)
        .collect();
    assert_eq!(seen, [&targets[550]]);
    let at = read.last[&targets[550]].unwrap().secs();
    let asked = now.unix_timestamp() - 300;
    assert!(
        (asked..=asked + 120).contains(&at),
        "the last request's period ends at {at}, the request was at {asked}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_sleep_after_reads_no_metrics() {
    let inst = Instrument::new();
    let w = World::new("in").await;
    preview(&w, "pr-9", "9").await;
    let engine = eden::engine::Engine::new(aws(Some(inst.clone())).await, &w.table);
    let dir = tempfile::tempdir().unwrap();
    let cfg = sleep_config(&w, dir.path(), "").as_ref().clone();
    let mut cfg = cfg;
    cfg.repositories[0].sleep_after = None;
    let cfg = Arc::new(cfg);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let github = Arc::new(Clients::new(&cfg.github).unwrap());
    let r = Reconciler::new(cfg, engine, github, Arc::new(Collect(tx)));
    let round = r.round(1).await;
    assert!(round.problems.is_empty(), "{:?}", round.problems);
    assert_eq!(round.metric_calls, 0);
    assert!(round.sleeping.is_empty());
    let ops: Vec<String> = inst.calls().into_iter().map(|c| c.operation).collect();
    assert_eq!(ops, ["DynamoDB.Scan"]);
    let (job, _) = rx.recv().await.unwrap();
    assert_eq!(job.key, PrKey::new("octo-org/shop", 9));
    assert!(matches!(job.work, Work::Recheck { .. }));
}

/// Move a preview's last deploy back by `by` (as if deployed then).
async fn deployed_ago(w: &World, env: &str, by: Duration) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let then = OffsetDateTime::now_utc().unix_timestamp() - by.as_secs() as i64;
    w.aws
        .dynamodb
        .update_item()
        .table_name(&w.table)
        .set_key(Some(eden::engine::state::key("api", env)))
        .update_expression("SET last_updated = :t")
        .expression_attribute_values(":t", AttributeValue::N(then.to_string()))
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_sleep_after_sleeps_only_the_idle_previews() {
    let w = World::new("ig").await;
    let idle = preview(&w, "pr-1", "1").await;
    let used = preview(&w, "pr-2", "2").await;
    preview(&w, "pr-3", "3").await; // deployed just now
    deployed_ago(&w, "pr-1", Duration::from_secs(3600)).await;
    deployed_ago(&w, "pr-2", Duration::from_secs(3600)).await;
    let now = OffsetDateTime::now_utc();
    traffic(&w, &traffic_of(&used), now - Duration::from_secs(600), 2.0).await;
    let _ = idle;
    let home = tempfile::tempdir().unwrap();
    let config = w.write_config(home.path());
    let config = config.to_str().unwrap();
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "-c",
            config,
            "--remote-table-name",
            &w.table,
            "gc",
            "--sleep-after",
            "30m",
            "--output",
            "json",
        ];
        a.extend_from_slice(extra);
        a.iter().map(|s| s.to_string()).collect::<Vec<String>>()
    };
    let run = |a: Vec<String>| {
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        eden_cli(home.path(), &refs)
    };
    let (code, out, err) = run(args(&["--dry-run"]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["environments"], 3, "{v}");
    let names: Vec<&str> = v["idle"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["environment"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pr-1"], "{v}");
    assert_eq!(v["idle"][0]["action"], "would_sleep");
    let phase = |env: &'static str| {
        let w = &w;
        async move {
            eden::engine::state::read(&w.aws, &w.table, "api", env)
                .await
                .unwrap()
                .unwrap()
                .sleep
                .map(|s| s.phase)
        }
    };
    assert_eq!(phase("pr-1").await, None, "a dry run changed something");

    let (code, out, err) = run(args(&[]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["idle"][0]["action"], "slept", "{v}");
    assert_eq!(
        phase("pr-1").await,
        Some(eden::engine::state::SleepPhase::Asleep)
    );
    assert_eq!(phase("pr-2").await, None);
    assert_eq!(phase("pr-3").await, None);
    // Too short a window is refused before anything is read.
    let (code, _, err) = eden_cli(home.path(), &["gc", "--sleep-after", "1m"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("shorter than 5m"), "{err}");
}
