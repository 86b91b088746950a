//! Sleep and wake converge after the process dies at any of its requests (the model of
//! tests/faults.rs: that request and every later one fail, the heartbeat's included —
//! `Instrument::die_at`): for every k, a fresh run (another engine, the dead run's lease left in
//! place) finishes the job, checked by independent reads (desiredCount, the rule's action, the
//! state item).
//!
//! On tokio's paused clock, a virtual 1.5 s per request and a heartbeat every second; a wake's
//! readiness reads are injected (`common::ready`): the task runs and its target is healthy.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue as V;
use common::ready::{self, Waking};
use common::*;
use eden::aws::{inject, Aws, ClientOptions, Injector, Instrument};
use eden::engine::{wait, Engine, Outcome};
use eden::profile::Profile;

const LATENCY: Duration = Duration::from_millis(1500);

struct Rig {
    w: World,
    api: Profile,
    dying: Engine,
    inst: Arc<Instrument>,
    fresh: Engine,
    made: Outcome,
    awake: i32,
}

async fn engine(w: &World, inst: Arc<Instrument>, inj: Arc<Injector>) -> Engine {
    let aws = Aws::load(ClientOptions {
        instrument: Some(inst),
        inject: Some(inj),
        region: Some(REGION.into()),
        endpoint_url: Some(endpoint()),
        static_credentials: Some(("testing".into(), "testing".into())),
        ..Default::default()
    })
    .await;
    let slow = paused::offloaded_with_latency(&aws, LATENCY)
        .ecs
        .config()
        .http_client()
        .expect("an HTTP client");
    let mut e = Engine::new(aws.with_http_client(inject::injecting(slow)), &w.table);
    e.lease.wait = Duration::from_secs(120);
    e.lease.heartbeat = Duration::from_secs(1);
    e
}

async fn rig(tag: &str) -> Rig {
    let w = World::paused(tag).await;
    let (inst, inj) = (Instrument::new(), Injector::new());
    let dying = engine(&w, inst.clone(), inj.clone()).await;
    let fresh = engine(&w, Instrument::new(), inj.clone()).await;
    let api = w.profile("api");
    let made = fresh
        .create(&api, &w.request("pr-1", &w.image("api", "sha-1")))
        .await
        .unwrap();
    ready::answer(
        &inj,
        &Waking {
            cluster: api.target_cluster.clone(),
            service_arn: made.service_arn.clone().unwrap(),
            target_group: made.target_group_arn.clone().unwrap(),
        },
        || true,
    );
    let rig = Rig {
        awake: 0,
        w,
        api,
        dying,
        inst,
        fresh,
        made,
    };
    let awake = rig.desired().await;
    Rig { awake, ..rig }
}

impl Rig {
    async fn desired(&self) -> i32 {
        let service = self.made.service_arn.clone().unwrap();
        desired_count(&self.w, &self.api.target_cluster, &service).await
    }

    async fn forwards(&self) -> bool {
        let rule = self.made.rule_arn.clone().unwrap();
        forwards_to(&self.w, &rule, self.made.target_group_arn.as_deref()).await
    }

    async fn phase(&self) -> Option<String> {
        let item = self
            .w
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
            .unwrap();
        assert!(
            !item.contains_key("lease_owner"),
            "the next run released its lease"
        );
        item.get("sleep_phase").map(|v| v.as_s().unwrap().clone())
    }

    async fn assert_asleep(&self, k: usize) {
        assert_eq!(self.phase().await.as_deref(), Some("asleep"), "k={k}");
        assert_eq!(self.desired().await, 0, "k={k}");
        assert!(!self.forwards().await, "k={k}: the rule sleeps");
    }

    async fn assert_awake(&self, k: usize) {
        assert_eq!(self.phase().await, None, "k={k}");
        assert_eq!(self.desired().await, self.awake, "k={k}");
        assert!(self.forwards().await, "k={k}: the rule forwards");
    }

    /// Kill `run` at its k-th request; `false` when it finished before dying (the sweep ends).
    async fn dies_at<F, Fut>(&self, k: usize, run: F) -> bool
    where
        F: FnOnce(Engine) -> Fut,
        Fut: std::future::Future<Output = Result<Outcome, eden::engine::Error>>,
    {
        self.inst.die_at(k);
        let result = run(self.dying.clone()).await;
        let died = self.inst.died_at().is_some();
        self.inst.clear_fault();
        if died {
            let err = result.expect_err("a run that died cannot succeed");
            assert!(
                format!("{err:#}").contains("fault injected"),
                "k={k}: {err:#}"
            );
        }
        died
    }
}

fn settings() -> wait::Settings {
    wait::Settings::new(Duration::from_secs(120))
}

#[tokio::test(start_paused = true)]
async fn sleep_converges_after_the_process_dies_at_any_request() {
    let r = rig("fs").await;
    let api = &r.api;
    let mut k = 1;
    while r
        .dies_at(k, |e| async move { e.sleep(api, "pr-1").await })
        .await
    {
        r.fresh.sleep(&r.api, "pr-1").await.unwrap();
        r.assert_asleep(k).await;
        r.fresh.wake(&r.api, "pr-1", settings()).await.unwrap();
        r.assert_awake(k).await;
        k += 1;
    }
    assert!(
        k >= 7,
        "sleep has at least 6 requests, died at {} of them",
        k - 1
    );
    r.assert_asleep(k).await;
}

#[tokio::test(start_paused = true)]
async fn wake_converges_after_the_process_dies_at_any_request() {
    let r = rig("fw").await;
    let api = &r.api;
    r.fresh.sleep(api, "pr-1").await.unwrap();
    let mut k = 1;
    while r
        .dies_at(k, |e| async move { e.wake(api, "pr-1", settings()).await })
        .await
    {
        r.fresh.wake(&r.api, "pr-1", settings()).await.unwrap();
        r.assert_awake(k).await;
        r.fresh.sleep(&r.api, "pr-1").await.unwrap();
        r.assert_asleep(k).await;
        k += 1;
    }
    assert!(
        k >= 9,
        "a wake has at least 8 requests, died at {} of them",
        k - 1
    );
    r.assert_awake(k).await;
}
