//! A wake's rule must not forward before the new task is healthy: on tokio's paused clock, the
//! waking task runs at once but its target stays `initial` until 15 s (injected readiness
//! answers, `common::ready`); the rule is modified only after the wait saw it healthy, and a
//! wake whose target never turns healthy leaves the rule sleeping (state `waking`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue as V;
use common::ready::{self, Waking};
use common::*;
use eden::aws::{inject, Aws, ClientOptions, Injector, Instrument};
use eden::engine::{wait, Engine, LeaseSettings, Outcome};
use tokio::time::Instant;

const MODIFY_RULE: &str = "Elastic Load Balancing v2.ModifyRule";
const HEALTH: &str = "Elastic Load Balancing v2.DescribeTargetHealth";

struct Paused {
    w: World,
    engine: Engine,
    inst: Arc<Instrument>,
    inj: Arc<Injector>,
    made: Outcome,
}

/// Clients whose answers can be injected, sending requests off the paused runtime, logged.
async fn paused_env(tag: &str) -> Paused {
    let w = World::paused(tag).await;
    let (inj, inst) = (Injector::new(), Instrument::new());
    let aws = Aws::load(ClientOptions {
        instrument: Some(inst.clone()),
        inject: Some(inj.clone()),
        region: Some(REGION.into()),
        endpoint_url: Some(endpoint()),
        static_credentials: Some(("testing".into(), "testing".into())),
        ..Default::default()
    })
    .await;
    let offloading = paused::offloaded(&aws)
        .ecs
        .config()
        .http_client()
        .expect("an HTTP client");
    let aws = aws.with_http_client(inject::injecting(offloading));
    let mut engine = Engine::new(aws, &w.table);
    engine.lease = LeaseSettings {
        wait: Duration::from_secs(60),
        ..LeaseSettings::default()
    };
    let api = w.profile("api");
    let made = engine
        .create(&api, &w.request("pr-1", &w.image("api", "sha-1")))
        .await
        .unwrap();
    engine.sleep(&api, "pr-1").await.unwrap();
    inst.reset();
    Paused {
        w,
        engine,
        inst,
        inj,
        made,
    }
}

impl Paused {
    fn waking(&self) -> Waking {
        Waking {
            cluster: self.w.profile("api").target_cluster,
            service_arn: self.made.service_arn.clone().unwrap(),
            target_group: self.made.target_group_arn.clone().unwrap(),
        }
    }

    /// (virtual seconds since `began`, operation) of every logged call.
    fn timeline(&self, began: Instant) -> Vec<(u64, String)> {
        self.inst
            .calls()
            .into_iter()
            .map(|c| (c.ended.duration_since(began).as_secs(), c.operation))
            .collect()
    }

    async fn rule_forwards(&self) -> bool {
        let rule = self.made.rule_arn.clone().unwrap();
        forwards_to(&self.w, &rule, self.made.target_group_arn.as_deref()).await
    }
}

#[tokio::test(start_paused = true)]
async fn the_rule_forwards_only_once_the_new_task_is_healthy() {
    let p = paused_env("sr").await;
    let began = Instant::now();
    ready::answer(&p.inj, &p.waking(), move || {
        began.elapsed() >= Duration::from_secs(15)
    });
    let settings = wait::Settings::new(Duration::from_secs(120));
    let out = p
        .engine
        .wake(&p.w.profile("api"), "pr-1", settings)
        .await
        .unwrap();
    assert!(out.woke);
    let timeline = p.timeline(began);
    let modified: Vec<u64> = timeline
        .iter()
        .filter(|(_, op)| op == MODIFY_RULE)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(modified.len(), 1, "{timeline:?}");
    assert!(
        modified[0] >= 15,
        "forwarded at {} s: {timeline:?}",
        modified[0]
    );
    let unhealthy_reads = timeline
        .iter()
        .filter(|(t, op)| op == HEALTH && *t < 15)
        .count();
    assert!(
        unhealthy_reads >= 1,
        "the wait saw the target initial: {timeline:?}"
    );
    // polls every 5 s: healthy at the 15 s poll, forwarded right after
    assert_eq!(modified[0], 15, "{timeline:?}");
    p.inj.clear();
    assert!(p.rule_forwards().await);
}

#[tokio::test(start_paused = true)]
async fn a_wake_whose_target_never_turns_healthy_leaves_the_rule_asleep() {
    let p = paused_env("su").await;
    ready::answer(&p.inj, &p.waking(), || false);
    let settings = wait::Settings::new(Duration::from_secs(60));
    let err = p
        .engine
        .wake(&p.w.profile("api"), "pr-1", settings)
        .await
        .unwrap_err();
    let timed_out = match &err {
        eden::engine::Error::Internal(e) => e
            .chain()
            .filter_map(|c| c.downcast_ref::<wait::WaitFailure>())
            .any(|f| matches!(f, wait::WaitFailure::Timeout { .. })),
        _ => false,
    };
    assert!(timed_out, "{err}");
    let ops: Vec<String> = p.inst.calls().into_iter().map(|c| c.operation).collect();
    assert!(ops.iter().any(|op| op == HEALTH), "{ops:?}");
    assert!(!ops.iter().any(|op| op == MODIFY_RULE), "{ops:?}");
    p.inj.clear();
    assert!(!p.rule_forwards().await, "the rule still sleeps");
    let item =
        p.w.aws
            .dynamodb
            .get_item()
            .table_name(&p.w.table)
            .key("type", V::S("api".into()))
            .key("name", V::S("pr-1".into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
    assert_eq!(item["sleep_phase"].as_s().unwrap(), "waking");
    assert!(!item.contains_key("lease_owner"), "released");
}
