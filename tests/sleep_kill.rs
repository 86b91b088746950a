//! A sleep or wake whose process dies half-way (the fault model of tests/kill.rs: the real
//! binary, held by a proxy at its ecs:UpdateService, then SIGKILL) is finished by the next
//! command: the dead run recorded its phase first, so the next one knows what was under way.
//!
//! - sleep dies after the state says `sleeping` but before the service or the rule moved; the
//!   next `eden sleep` takes the dead run's lease over and finishes it;
//! - wake dies after the state says `waking`, before the tasks were asked back; a push (a
//!   deploy) finishes it: the new revision with the awake count, then the rule forwards.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue as V;
use common::hold_proxy::HoldProxy;
use common::ready::{self, Waking};
use common::*;
use eden::engine::{Engine, LeaseSettings, Outcome};
use serde_json::Value;

/// A guard against a hung test, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(120);
/// A 2 s lease (renewed every 0.5 s): the takeover costs 2 s, not 20.
const SHORT: [(&str, &str); 1] = [("EDEN_LEASE_SECONDS", "2")];

struct Cli {
    home: tempfile::TempDir,
    cfg: String,
    table: String,
}

impl Cli {
    fn new(w: &World) -> Cli {
        let home = tempfile::tempdir().unwrap();
        let cfg = w.write_config(home.path()).to_str().unwrap().to_string();
        Cli {
            home,
            cfg,
            table: w.table.clone(),
        }
    }

    fn command(&self, endpoint: &str, args: &[&str]) -> tokio::process::Command {
        let mut all = vec![
            "-c",
            &self.cfg,
            "--remote-table-name",
            &self.table,
            "-p",
            "api",
        ];
        all.extend_from_slice(args);
        eden_process(self.home.path(), endpoint, &all, &SHORT)
    }

    /// Start `args` through a proxy holding its ecs:UpdateService; kill it there.
    async fn killed_at_update_service(
        &self,
        args: &[&str],
        check: impl std::future::Future<Output = ()>,
    ) {
        let mut proxy = HoldProxy::start(&endpoint(), "UpdateService").await;
        let mut child = self.command(&proxy.url, args).spawn().unwrap();
        tokio::time::timeout(PATIENCE, proxy.held(1))
            .await
            .expect("the run reached ecs:UpdateService");
        check.await;
        child.start_kill().unwrap(); // SIGKILL
        let status = child.wait().await.unwrap();
        assert_eq!(status.signal(), Some(9), "{status:?}");
    }
}

struct Made {
    w: World,
    engine: Engine,
    out: Outcome,
}

async fn made(tag: &str) -> Made {
    let w = World::new(tag).await;
    let inj = eden::aws::Injector::new();
    let mut engine = Engine::new(aws_injected(inj).await, &w.table);
    engine.lease = LeaseSettings {
        wait: Duration::from_secs(60),
        ..LeaseSettings::default()
    };
    let out = engine
        .create(
            &w.profile("api"),
            &w.request("pr-1", &w.image("api", "sha-1")),
        )
        .await
        .unwrap();
    Made { w, engine, out }
}

impl Made {
    async fn item(&self) -> std::collections::HashMap<String, V> {
        self.w
            .aws
            .dynamodb
            .get_item()
            .table_name(&self.w.table)
            .key("type", V::S("api".into()))
            .key("name", V::S("pr-1".into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap()
    }

    async fn desired(&self) -> i32 {
        let service = self.out.service_arn.clone().unwrap();
        desired_count(&self.w, &self.w.s(&["cluster"]), &service).await
    }

    /// Whether the rule forwards to the preview's own target group (else it sleeps).
    async fn forwards(&self) -> bool {
        let rule = self.out.rule_arn.clone().unwrap();
        forwards_to(&self.w, &rule, self.out.target_group_arn.as_deref()).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_sleep_is_finished_by_the_next() {
    let m = made("sk").await;
    let awake = m.desired().await;
    let cli = Cli::new(&m.w);
    cli.killed_at_update_service(&["sleep", "--name", "pr-1"], async {
        let item = m.item().await;
        assert_eq!(item["sleep_phase"].as_s().unwrap(), "sleeping");
        assert_eq!(item["awake_count"].as_n().unwrap(), &awake.to_string());
        assert!(m.forwards().await, "the rule has not moved yet");
        assert_eq!(m.desired().await, awake, "nor the service");
    })
    .await;

    let out = tokio::time::timeout(
        PATIENCE,
        cli.command(
            &endpoint(),
            &["sleep", "--name", "pr-1", "--output", "json"],
        )
        .output(),
    )
    .await
    .expect("finished")
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["sleep"]["phase"], "asleep");
    assert_eq!(json["sleep"]["awake_count"], awake);
    let took_over =
        json["steps"].as_array().unwrap().iter().any(|s| {
            s["step"] == "lease-wait" && s["detail"].as_str().unwrap().contains("took over")
        });
    assert!(took_over, "the dead run's lease was taken over: {stdout}");
    assert_eq!(m.desired().await, 0);
    assert!(!m.forwards().await, "the rule sleeps");
    assert_eq!(m.item().await["sleep_phase"].as_s().unwrap(), "asleep");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_wake_is_finished_by_a_push() {
    let m = made("sp").await;
    let api = m.w.profile("api");
    let awake = m.desired().await;
    m.engine.sleep(&api, "pr-1").await.unwrap();
    let cli = Cli::new(&m.w);
    cli.killed_at_update_service(&["wake", "--name", "pr-1"], async {
        assert_eq!(m.item().await["sleep_phase"].as_s().unwrap(), "waking");
        assert!(!m.forwards().await, "the rule still sleeps");
        assert_eq!(m.desired().await, 0);
    })
    .await;

    // a push: the deploy takes the dead run's lease over, deploys with the awake count and
    // forwards once ready
    let inj = eden::aws::Injector::new();
    let mut engine = Engine::new(aws_injected(inj.clone()).await, &m.w.table);
    engine.lease.wait = Duration::from_secs(60);
    ready::answer(
        &inj,
        &Waking {
            cluster: api.target_cluster.clone(),
            service_arn: m.out.service_arn.clone().unwrap(),
            target_group: m.out.target_group_arn.clone().unwrap(),
        },
        || true,
    );
    let image = m.w.image("api", "sha-2");
    let out = engine
        .create(&api, &m.w.request("pr-1", &image))
        .await
        .unwrap();
    assert!(out.woke);
    assert_eq!(m.desired().await, awake);
    assert!(m.forwards().await);
    assert!(!m.item().await.contains_key("sleep_phase"));
    verify_environment(&m.w, "api", "pr-1", &image).await;
}
