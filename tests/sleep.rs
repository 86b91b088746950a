//! Sleep and wake against the emulator: idempotence (counted in requests), where a sleeping
//! rule leads (a page, or the waker's target group on the preview's ALB), two wakes at once, a
//! deploy to a sleeping preview, delete while asleep, `eden ls`. Each checks with independent
//! reads: DescribeServices' desiredCount, DescribeRules' actions, the state item.
//!
//! moto runs no task and never reports a healthy target, so a wake's readiness wait reads
//! injected answers (`common::ready`); everything else is moto's.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue as V;
use aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum;
use common::ready::{self, Waking};
use common::*;
use eden::aws::{ClientOptions, Injector, Instrument};
use eden::engine::state::SleepPhase;
use eden::engine::{wait, Action, Engine, ErrorKind, LeaseSettings, Outcome};
use eden::profile::Profile;
use serde_json::Value;

/// One environment made by a real create, with an engine whose requests are logged and whose
/// readiness reads can be answered.
struct Env {
    w: World,
    engine: Engine,
    inst: Arc<Instrument>,
    inj: Arc<Injector>,
    api: Profile,
    made: Outcome,
}

async fn env(tag: &str) -> Env {
    let w = World::new(tag).await;
    env_in(w, None).await
}

async fn env_in(w: World, api: Option<Profile>) -> Env {
    let inst = Instrument::new();
    let inj = Injector::new();
    let aws = eden::aws::Aws::load(ClientOptions {
        instrument: Some(inst.clone()),
        inject: Some(inj.clone()),
        region: Some(REGION.into()),
        endpoint_url: Some(endpoint()),
        static_credentials: Some(("testing".into(), "testing".into())),
        ..Default::default()
    })
    .await;
    let mut engine = Engine::new(aws, &w.table);
    engine.lease = LeaseSettings {
        wait: Duration::from_secs(60),
        ..LeaseSettings::default()
    };
    let api = api.unwrap_or_else(|| w.profile("api"));
    let made = engine
        .create(&api, &w.request("pr-1", &w.image("api", "sha-1")))
        .await
        .unwrap();
    inst.reset();
    Env {
        w,
        engine,
        inst,
        inj,
        api,
        made,
    }
}

/// A wait that polls every 10 ms (the answers are ready at once: two polls).
fn quick() -> wait::Settings {
    wait::Settings {
        interval: Duration::from_millis(10),
        ..wait::Settings::new(Duration::from_secs(30))
    }
}

impl Env {
    fn waking(&self) -> Waking {
        Waking {
            cluster: self.api.target_cluster.clone(),
            service_arn: self.made.service_arn.clone().unwrap(),
            target_group: self.made.target_group_arn.clone().unwrap(),
        }
    }

    /// The wait's reads say: running and healthy.
    fn ready(&self) {
        ready::answer(&self.inj, &self.waking(), || true);
    }

    /// The requests sent since the last look (then forgotten).
    fn requests(&self) -> Vec<String> {
        let calls = self.inst.calls();
        self.inst.reset();
        calls.into_iter().map(|c| c.operation).collect()
    }

    /// How many times each write of sleep and wake was sent since the last look.
    fn writes(&self) -> (usize, usize) {
        let calls = self.inst.calls();
        self.inst.reset();
        let n = |op: &str| calls.iter().filter(|c| c.operation == op).count();
        (
            n("ECS.UpdateService"),
            n("Elastic Load Balancing v2.ModifyRule"),
        )
    }

    async fn desired(&self) -> i32 {
        let service = self.made.service_arn.clone().unwrap();
        desired_count(&self.w, &self.api.target_cluster, &service).await
    }

    /// The rule's final action, read with DescribeRules: ("forward", target group) or
    /// ("fixed-response", "status|content type|body").
    async fn rule_then(&self) -> (String, String) {
        let last = final_action(&self.w, self.made.rule_arn.as_deref().unwrap()).await;
        match last.r#type() {
            Some(ActionTypeEnum::Forward) => {
                let tg = last.target_group_arn().map(str::to_string).or_else(|| {
                    let fc = last.forward_config()?;
                    fc.target_groups()[0].target_group_arn().map(str::to_string)
                });
                ("forward".into(), tg.unwrap())
            }
            Some(ActionTypeEnum::FixedResponse) => {
                let f = last.fixed_response_config().unwrap();
                let detail = format!(
                    "{}|{}|{}",
                    f.status_code().unwrap_or(""),
                    f.content_type().unwrap_or(""),
                    f.message_body().unwrap_or("")
                );
                ("fixed-response".into(), detail)
            }
            other => panic!("unexpected action {other:?}"),
        }
    }

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
            .expect("the state item")
    }

    fn own_target_group(&self) -> String {
        self.made.target_group_arn.clone().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleep_and_wake_are_idempotent_and_say_how_to_wake() {
    let e = env("sl").await;
    let awake = e.desired().await;
    assert!(awake >= 1);

    let slept = e.engine.sleep(&e.api, "pr-1").await.unwrap();
    assert_eq!(slept.action, Some(Action::Slept));
    let s = slept.sleep.expect("asleep");
    assert_eq!((s.phase, s.awake_count), (SleepPhase::Asleep, awake));
    // lease; the desired count; `sleeping` recorded; 0 tasks; the rule; `asleep` (releases)
    assert_eq!(
        e.requests(),
        [
            "DynamoDB.UpdateItem",
            "ECS.DescribeServices",
            "DynamoDB.UpdateItem",
            "ECS.UpdateService",
            "Elastic Load Balancing v2.ModifyRule",
            "DynamoDB.PutItem",
        ]
    );
    assert_eq!(e.desired().await, 0);
    let (kind, detail) = e.rule_then().await;
    assert_eq!(kind, "fixed-response");
    assert!(detail.starts_with("503|text/html|"), "{detail}");
    assert!(
        detail.contains("eden wake -p api --name pr-1") && detail.contains("/eden wake"),
        "{detail}"
    );
    let item = e.item().await;
    assert_eq!(item["sleep_phase"].as_s().unwrap(), "asleep");
    assert_eq!(item["awake_count"].as_n().unwrap(), &awake.to_string());
    assert!(!item.contains_key("lease_owner"), "released");

    // again: nothing more is written, and it says since when
    let again = e.engine.sleep(&e.api, "pr-1").await.unwrap();
    assert_eq!(again.sleep, Some(s));
    assert_eq!(
        e.requests(),
        ["DynamoDB.UpdateItem", "DynamoDB.UpdateItem"],
        "the lease taken and given back, nothing else"
    );

    e.ready();
    let woke = e.engine.wake(&e.api, "pr-1", quick()).await.unwrap();
    assert_eq!(
        (woke.action, woke.woke, woke.sleep),
        (Some(Action::Woke), true, None)
    );
    let sent = e.requests();
    let n = |op: &str| sent.iter().filter(|o| *o == op).count();
    assert_eq!(
        (
            n("ECS.UpdateService"),
            n("Elastic Load Balancing v2.ModifyRule")
        ),
        (1, 1)
    );
    // lease, `waking`, the count, the wait's polls (≤ 3 requests each), the rule, the state
    let polls = n("ECS.DescribeServices");
    assert!(polls >= 2, "{sent:?}");
    assert!(
        sent.len() <= 5 + 3 * polls,
        "{} requests: {sent:?}",
        sent.len()
    );
    assert_eq!(e.desired().await, awake);
    assert_eq!(
        e.rule_then().await,
        ("forward".into(), e.own_target_group())
    );
    let item = e.item().await;
    assert!(!item.contains_key("sleep_phase"), "{item:?}");
    assert!(item.contains_key("last_woke"), "{item:?}");
    let row = e.engine.list(Some("api")).await.unwrap().remove(0);
    assert_eq!(row.state.as_deref(), Some("awake"));
    assert!(
        row.last_woken.is_some() && row.last_woken == woke.last_woken,
        "{row:?}"
    );
    e.requests(); // (the list's Query)

    let again = e.engine.wake(&e.api, "pr-1", quick()).await.unwrap();
    assert!(!again.woke);
    assert_eq!(
        e.requests(),
        ["DynamoDB.UpdateItem", "DynamoDB.UpdateItem"],
        "the lease taken and given back, nothing else"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_known_environments_sleep_and_nothing_is_left_behind() {
    let e = env("sn").await;
    let err = e.engine.sleep(&e.api, "pr-404").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = e.engine.wake(&e.api, "pr-404", quick()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let gone =
        e.w.aws
            .dynamodb
            .get_item()
            .table_name(&e.w.table)
            .key("type", V::S("api".into()))
            .key("name", V::S("pr-404".into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap();
    assert!(gone.item.is_none(), "the lease item is removed: {gone:?}");
    assert_eq!(e.writes(), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sleeping_rule_leads_to_the_waker_on_the_previews_alb() {
    let w = World::new("sw").await;
    let elsewhere = w.s(&["references", "admin", "target_group_arn"]);
    let waker = w.target_group("waker", true).await;
    let mut raw = w.raw("api");
    raw.insert(
        "wake_target_group_arn".into(),
        format!("{elsewhere}, {waker}"),
    );
    let api = Profile::from_raw("api", &raw).unwrap();
    assert_eq!(
        api.wake_target_group_arns,
        [elsewhere.clone(), waker.clone()]
    );
    let e = env_in(w, Some(api)).await;

    e.engine.sleep(&e.api, "pr-1").await.unwrap();
    assert_eq!(e.rule_then().await, ("forward".into(), waker));
    assert_eq!(e.desired().await, 0);

    // none of them on the preview's ALB: refused before anything is written
    e.ready();
    e.engine.wake(&e.api, "pr-1", quick()).await.unwrap();
    e.writes();
    let mut raw = e.w.raw("api");
    let also_elsewhere = e.w.s(&["references", "api", "target_group_arn"]);
    raw.insert(
        "wake_target_group_arn".into(),
        format!("{elsewhere},{also_elsewhere}"),
    );
    let lost = Profile::from_raw("api", &raw).unwrap();
    let err = e.engine.sleep(&lost, "pr-1").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused, "{err}");
    assert!(err.to_string().contains("wake_target_group_arn"), "{err}");
    assert_eq!(e.writes(), (0, 0));
    assert!(!e.item().await.contains_key("sleep_phase"));
    assert_eq!(
        e.rule_then().await,
        ("forward".into(), e.own_target_group())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_wakes_at_once_wake_it_once() {
    let e = env("s2").await;
    e.engine.sleep(&e.api, "pr-1").await.unwrap();
    e.writes();
    e.ready();
    let (a, b) = tokio::join!(
        e.engine.wake(&e.api, "pr-1", quick()),
        e.engine.wake(&e.api, "pr-1", quick())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.woke != b.woke, "one wakes it, the other finds it awake");
    assert_eq!(e.writes(), (1, 1));
    assert_eq!(
        e.rule_then().await,
        ("forward".into(), e.own_target_group())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_to_a_sleeping_preview_wakes_it_on_the_new_revision() {
    let e = env("sd").await;
    let awake = e.desired().await;
    e.engine.sleep(&e.api, "pr-1").await.unwrap();
    e.ready();
    let image = e.w.image("api", "sha-2");
    let out = e
        .engine
        .create(&e.api, &e.w.request("pr-1", &image))
        .await
        .unwrap();
    assert_eq!(
        (out.action, out.woke, out.sleep),
        (Some(Action::Deployed), true, None)
    );
    assert_ne!(out.task_definition_arn, e.made.task_definition_arn);
    e.inj.clear();
    let svc =
        e.w.aws
            .ecs
            .describe_services()
            .cluster(&e.api.target_cluster)
            .services(e.made.service_arn.clone().unwrap())
            .send()
            .await
            .unwrap()
            .services
            .unwrap()
            .remove(0);
    assert_eq!(svc.desired_count, awake);
    assert_eq!(svc.task_definition, out.task_definition_arn);
    assert_eq!(
        e.rule_then().await,
        ("forward".into(), e.own_target_group())
    );
    assert!(!e.item().await.contains_key("sleep_phase"));
    verify_environment(&e.w, "api", "pr-1", &image).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_while_asleep_removes_everything() {
    let w = World::new("sx").await;
    w.warm().await;
    let before = w.snapshot().await;
    let e = env_in(w, None).await;
    e.engine.sleep(&e.api, "pr-1").await.unwrap();
    let out = e.engine.delete(&e.api, "pr-1").await.unwrap();
    assert_eq!(out.action, Some(Action::Deleted));
    assert_eq!(
        out.rule_arn, e.made.rule_arn,
        "the sleeping rule is deleted"
    );
    assert_eq!(e.w.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_sleeps_and_ls_shows_each_environments_state() {
    let e = env("sc").await;
    let home = tempfile::tempdir().unwrap();
    let cfg = e.w.write_config(home.path());
    let cfg = cfg.to_str().unwrap();
    let t = e.w.table.as_str();
    let cli = |args: &[&str]| {
        let mut all = vec!["-c", cfg, "--remote-table-name", t];
        all.extend_from_slice(args);
        eden_cli(home.path(), &all)
    };
    let (code, out, err) = cli(&["ls"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("pr-1 api-pr-1.") && out.contains("[ready] awake"),
        "{out}"
    );

    let (code, out, err) = cli(&["-p", "api", "sleep", "--name", "pr-1", "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["action"], "slept");
    assert_eq!(v["sleep"]["phase"], "asleep");
    let (code, out, _) = cli(&["-p", "api", "sleep", "--name", "pr-1"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("Environment pr-1 (profile api) is asleep since "),
        "{out}"
    );
    assert!(
        out.trim_end().lines().next().unwrap().ends_with(" UTC"),
        "{out}"
    );

    let (_, out, _) = cli(&["ls"]);
    assert!(out.contains("[ready] asleep since "), "{out}");
    let (_, out, _) = cli(&["ls", "--output", "json"]);
    let rows: Value = serde_json::from_str(&out).unwrap();
    assert!(
        rows[0]["state"]
            .as_str()
            .unwrap()
            .starts_with("asleep since "),
        "{rows}"
    );
    assert_eq!(rows[0]["sleep"]["phase"], "asleep");
    assert_eq!(rows[0].get("last_woken"), None, "never woken yet: {rows}");
    assert!(
        rows[0]["sleep"]["awake_count"].as_i64().unwrap() >= 1,
        "{rows}"
    );

    let (code, out, err) = cli(&["-p", "api", "sleep", "--name", "pr-9"]);
    assert_eq!(code, 4, "not found: {out}{err}");
    for (command, flag) in [("sleep", "--name"), ("wake", "--wait-timeout")] {
        let (code, out, _) = cli(&[command, "--help"]);
        assert_eq!(code, 0);
        assert!(out.contains(flag) && out.contains("rule"), "{out}");
    }
}

/// The reference moves to a new revision (same containers): the next deploy takes the full,
/// observing path.
async fn move_the_reference(w: &World) {
    let (cluster, reference) = (
        w.s(&["cluster"]),
        w.s(&["references", "api", "service_arn"]),
    );
    let ecs = &w.aws.ecs;
    let svc = ecs
        .describe_services()
        .cluster(&cluster)
        .services(&reference)
        .send()
        .await
        .unwrap()
        .services
        .unwrap()
        .remove(0);
    let td = ecs
        .describe_task_definition()
        .task_definition(svc.task_definition().unwrap())
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap();
    let new_td = ecs
        .register_task_definition()
        .family(td.family().unwrap())
        .set_task_role_arn(td.task_role_arn.clone())
        .set_execution_role_arn(td.execution_role_arn.clone())
        .set_network_mode(td.network_mode.clone())
        .set_container_definitions(td.container_definitions.clone())
        .set_requires_compatibilities(td.requires_compatibilities.clone())
        .set_cpu(td.cpu.clone())
        .set_memory(td.memory.clone())
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap();
    ecs.update_service()
        .cluster(&cluster)
        .service(&reference)
        .task_definition(new_td)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_path_deploy_to_a_sleeping_preview_wakes_it_too() {
    let e = env("sf").await;
    e.engine.sleep(&e.api, "pr-1").await.unwrap();
    move_the_reference(&e.w).await;
    e.ready();
    e.writes();
    let image = e.w.image("api", "sha-2");
    let out = e
        .engine
        .create(&e.api, &e.w.request("pr-1", &image))
        .await
        .unwrap();
    assert_eq!((out.action, out.woke), (Some(Action::Deployed), true));
    let calls = e.inst.calls();
    let described = calls
        .iter()
        .filter(|c| c.operation == "ECS.DescribeTaskDefinition")
        .count();
    assert!(
        described >= 1,
        "the full path read the reference's revision"
    );
    e.inj.clear();
    assert!(e.desired().await >= 1);
    assert_eq!(
        e.rule_then().await,
        ("forward".into(), e.own_target_group())
    );
    assert!(!e.item().await.contains_key("sleep_phase"));
    verify_environment(&e.w, "api", "pr-1", &image).await;
}
