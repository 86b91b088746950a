//! A clone's target group is tuned for previews (health check every 5 s, timeout 4 s, 2 to be
//! healthy, 2 to be unhealthy, 5 s deregistration delay), each value overridable in the profile,
//! or the reference's as it is with `target_group_tuning = reference`; older and legacy
//! environments are brought in line on a full-path deploy. Every value is read back with an
//! independent DescribeTargetGroups / DescribeTargetGroupAttributes (moto stores them), and the
//! request counts of create and deploy are those the engine had before.

mod common;

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2::types::TargetGroup;
use common::observe::Observer;
use common::*;
use eden::aws::Instrument;
use eden::engine::Action;
use eden::profile::{Profile, RawProfile};

const MODIFY_TG: &str = "Elastic Load Balancing v2.ModifyTargetGroup";
const CREATE_TG: &str = "Elastic Load Balancing v2.CreateTargetGroup";
const MODIFY_ATTRS: &str = "Elastic Load Balancing v2.ModifyTargetGroupAttributes";

/// (interval, timeout, healthy, unhealthy) and the deregistration delay, as ELB reports them.
type Tuned = ((i32, i32, i32, i32), String);

async fn read_tg(w: &World, arn: &str) -> (TargetGroup, BTreeMap<String, String>) {
    let tg = w
        .aws
        .elb
        .describe_target_groups()
        .target_group_arns(arn)
        .send()
        .await
        .unwrap()
        .target_groups()[0]
        .clone();
    let attrs = w
        .aws
        .elb
        .describe_target_group_attributes()
        .target_group_arn(arn)
        .send()
        .await
        .unwrap()
        .attributes()
        .iter()
        .map(|a| (a.key().unwrap().into(), a.value().unwrap_or("").into()))
        .collect();
    (tg, attrs)
}

async fn tuned(w: &World, arn: &str) -> Tuned {
    let (tg, attrs) = read_tg(w, arn).await;
    (
        (
            tg.health_check_interval_seconds().unwrap(),
            tg.health_check_timeout_seconds().unwrap(),
            tg.healthy_threshold_count().unwrap(),
            tg.unhealthy_threshold_count().unwrap(),
        ),
        attrs["deregistration_delay.timeout_seconds"].clone(),
    )
}

fn count(inst: &Instrument, op: &str) -> usize {
    inst.calls().iter().filter(|c| c.operation == op).count()
}

fn api_with(w: &World, keys: &[(&str, &str)]) -> Profile {
    let mut raw: RawProfile = w.raw("api");
    for (k, v) in keys {
        raw.insert(k.to_string(), v.to_string());
    }
    Profile::from_raw("api", &raw).unwrap()
}

/// The reference's target group as the seed made it: every value differs from the preview's
/// but the healthy threshold.
const SEEDED: ((i32, i32, i32, i32), &str) = ((10, 5, 2, 3), "15");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_environment_gets_a_preview_tuned_target_group_in_as_many_requests() {
    let w = World::new("tt").await;
    w.warm().await;
    let inst = Instrument::new();
    let observer = Observer::default();
    let mut engine = w.engine(Some(inst.clone())).await;
    engine.aws = observer.wrap(&engine.aws);
    let api = w.profile("api");
    let reference_tg = w.s(&["references", "api", "target_group_arn"]);
    assert_eq!(
        tuned(&w, &reference_tg).await,
        (SEEDED.0, SEEDED.1.to_string())
    );
    // the service's grace period stays the reference's (moto stores it on UpdateService only)
    w.aws
        .ecs
        .update_service()
        .cluster(w.s(&["cluster"]))
        .service(w.s(&["references", "api", "service_arn"]))
        .health_check_grace_period_seconds(120)
        .send()
        .await
        .unwrap();

    inst.reset();
    let img = w.image("api", "sha-1");
    let out = engine.create(&api, &w.request("pr-1", &img)).await.unwrap();
    let creates = inst.calls().len();
    assert!(creates <= 23, "create made {creates} requests");
    assert_eq!(
        (
            count(&inst, CREATE_TG),
            count(&inst, MODIFY_ATTRS),
            count(&inst, MODIFY_TG)
        ),
        (1, 1, 0),
        "the tuning rides in the calls create already makes"
    );
    let arn = out.target_group_arn.clone().unwrap();
    assert_eq!(tuned(&w, &arn).await, ((5, 4, 2, 2), "5".to_string()));
    let (tg, attrs) = read_tg(&w, &arn).await;
    let (rtg, rattrs) = read_tg(&w, &reference_tg).await;
    assert_eq!(
        (
            tg.protocol(),
            tg.port(),
            tg.health_check_protocol(),
            tg.health_check_port(),
            tg.health_check_path(),
            tg.matcher()
        ),
        (
            rtg.protocol(),
            rtg.port(),
            rtg.health_check_protocol(),
            rtg.health_check_port(),
            rtg.health_check_path(),
            rtg.matcher()
        )
    );
    assert_eq!(attrs.get("stickiness.type"), rattrs.get("stickiness.type"));
    let sent: Vec<serde_json::Value> = observer
        .seen()
        .iter()
        .filter(|e| e.operation == "CreateService")
        .map(|e| serde_json::from_str(&e.request).unwrap())
        .collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["healthCheckGracePeriodSeconds"], 120);

    // A deploy (the fast path) does not touch the target group.
    inst.reset();
    let out = engine
        .create(&api, &w.request("pr-1", &w.image("api", "sha-2")))
        .await
        .unwrap();
    assert_eq!(out.action, Some(Action::Deployed));
    let deploys = inst.calls().len();
    assert!(deploys <= 14, "deploy made {deploys} requests");
    assert_eq!(count(&inst, MODIFY_TG) + count(&inst, MODIFY_ATTRS), 0);
    engine.delete(&api, "pr-1").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_profile_overrides_each_value_or_keeps_the_references() {
    let w = World::new("to").await;
    let engine = w.engine(None).await;
    let img = w.image("api", "sha-1");
    let custom = api_with(
        &w,
        &[
            ("health_check_interval", "20"),
            ("health_check_timeout", "7"),
            ("healthy_threshold", "3"),
            ("unhealthy_threshold", "4"),
            ("deregistration_delay", "0"),
        ],
    );
    let out = engine
        .create(&custom, &w.request("pr-2", &img))
        .await
        .unwrap();
    let arn = out.target_group_arn.unwrap();
    assert_eq!(tuned(&w, &arn).await, ((20, 7, 3, 4), "0".to_string()));
    engine.delete(&custom, "pr-2").await.unwrap();

    let one = api_with(&w, &[("healthy_threshold", "5")]);
    let out = engine.create(&one, &w.request("pr-3", &img)).await.unwrap();
    let arn = out.target_group_arn.unwrap();
    assert_eq!(tuned(&w, &arn).await, ((5, 4, 5, 2), "5".to_string()));
    engine.delete(&one, "pr-3").await.unwrap();

    let reference = api_with(&w, &[("target_group_tuning", "reference")]);
    let out = engine
        .create(&reference, &w.request("pr-4", &img))
        .await
        .unwrap();
    let arn = out.target_group_arn.unwrap();
    assert_eq!(tuned(&w, &arn).await, (SEEDED.0, SEEDED.1.to_string()));
    engine.delete(&reference, "pr-4").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_environment_is_realigned_when_a_deploy_takes_the_full_path() {
    let w = World::new("tr").await;
    w.warm().await;
    let inst = Instrument::new();
    let engine = w.engine(Some(inst.clone())).await;
    let img = w.image("api", "sha-1");
    // what an eden before the tuning made: the reference's settings
    let older = api_with(&w, &[("target_group_tuning", "reference")]);
    let out = engine
        .create(&older, &w.request("pr-5", &img))
        .await
        .unwrap();
    let arn = out.target_group_arn.unwrap();
    assert_eq!(tuned(&w, &arn).await, (SEEDED.0, SEEDED.1.to_string()));

    // A deploy on the fast path leaves it as it is.
    let api = w.profile("api");
    inst.reset();
    let out = engine
        .create(&api, &w.request("pr-5", &w.image("api", "sha-2")))
        .await
        .unwrap();
    assert_eq!(out.action, Some(Action::Deployed));
    assert_eq!(tuned(&w, &arn).await, (SEEDED.0, SEEDED.1.to_string()));

    // The full path (the reference changed) observes, then modifies what differs; the service
    // keeps the reference's grace period (verify_environment compares them).
    change_reference(&w).await;
    w.aws
        .ecs
        .update_service()
        .cluster(w.s(&["cluster"]))
        .service(w.s(&["references", "api", "service_arn"]))
        .health_check_grace_period_seconds(90)
        .send()
        .await
        .unwrap();
    inst.reset();
    let out = engine.create(&api, &w.request("pr-5", &img)).await.unwrap();
    assert_eq!(out.action, Some(Action::Deployed));
    assert_eq!(out.target_group_arn.as_deref(), Some(arn.as_str()));
    assert_eq!(
        (count(&inst, MODIFY_TG), count(&inst, MODIFY_ATTRS)),
        (1, 1)
    );
    assert_eq!(tuned(&w, &arn).await, ((5, 4, 2, 2), "5".to_string()));
    verify_environment(&w, "api", "pr-5", &img).await;

    // Once aligned, the next full path makes no ModifyTargetGroup.
    change_reference(&w).await;
    inst.reset();
    engine
        .create(&api, &w.request("pr-5", &w.image("api", "sha-2")))
        .await
        .unwrap();
    assert_eq!(
        (count(&inst, MODIFY_TG), count(&inst, MODIFY_ATTRS)),
        (0, 1)
    );
    assert_eq!(tuned(&w, &arn).await, ((5, 4, 2, 2), "5".to_string()));
    engine.delete(&api, "pr-5").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_target_group_is_adopted_and_tuned() {
    let w = World::new("tl").await;
    let engine = w.engine(None).await;
    let api = w.profile("api");
    let names = eden::names::ResourceNames::new(&api.name_prefix, &api.domain_name_prefix, "pr-6");
    let (rtg, _) = read_tg(&w, &w.s(&["references", "api", "target_group_arn"])).await;
    // as the Python eden made it: untagged, ELB's default health check and attributes
    let legacy = w
        .aws
        .elb
        .create_target_group()
        .name(&names.target_group)
        .set_protocol(rtg.protocol.clone())
        .set_port(rtg.port)
        .set_vpc_id(rtg.vpc_id.clone())
        .set_target_type(rtg.target_type.clone())
        .send()
        .await
        .unwrap()
        .target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_string();
    assert_ne!(tuned(&w, &legacy).await, ((5, 4, 2, 2), "5".to_string()));

    let img = w.image("api", "sha-1");
    let out = engine.create(&api, &w.request("pr-6", &img)).await.unwrap();
    assert_eq!(out.target_group_arn.as_deref(), Some(legacy.as_str()));
    assert_eq!(tuned(&w, &legacy).await, ((5, 4, 2, 2), "5".to_string()));
    // and the reference's path and matcher, which the Python eden did not copy
    verify_environment(&w, "api", "pr-6", &img).await;
    engine.delete(&api, "pr-6").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_elb_would_refuse_are_refused_before_any_write() {
    let w = World::new("tb").await;
    w.warm().await;
    let dir = tempfile::tempdir().unwrap();
    let config = w.write_config(dir.path());
    let mut text = std::fs::read_to_string(&config).unwrap();
    text = text.replacen(
        "[admin]\n",
        "health_check_interval = 400\nunhealthy_threshold = 1\n[admin]\ntarget_group_tuning = reference\nderegistration_delay = 10\n",
        1,
    );
    std::fs::write(&config, text).unwrap();
    let c = config.to_str().unwrap();
    let (code, _, stderr) = eden_cli(dir.path(), &["-c", c, "config", "check"]);
    assert_eq!(code, 1, "{stderr}");
    for want in [
        "profile api: health_check_interval \"400\"",
        "profile api: unhealthy_threshold \"1\"",
        "profile admin: target_group_tuning = reference",
    ] {
        assert!(stderr.contains(want), "{want:?} missing in {stderr}");
    }

    // a flag that makes the timeout reach the interval: refused before any AWS write
    let config = w.write_config(dir.path());
    let before = w.snapshot().await;
    let img = w.image("api", "sha-1");
    let (code, _, stderr) = eden_cli(
        dir.path(),
        &[
            "-c",
            config.to_str().unwrap(),
            "--remote-table-name",
            &w.table,
            "-p",
            "api",
            "create",
            "--name",
            "pr-7",
            "--image-uri",
            &img,
            "--health-check-timeout",
            "5",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("health_check_timeout (5 s) must be less than health_check_interval (5 s)"),
        "{stderr}"
    );
    assert_eq!(w.snapshot().await, before);
    // the same flags that ELB accepts work
    let (code, _, stderr) = eden_cli(
        dir.path(),
        &[
            "-c",
            config.to_str().unwrap(),
            "--remote-table-name",
            &w.table,
            "-p",
            "api",
            "create",
            "--name",
            "pr-7",
            "--image-uri",
            &img,
            "--health-check-timeout",
            "5",
            "--health-check-interval",
            "6",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let engine = w.engine(None).await;
    let state = engine.list(Some("api")).await.unwrap();
    let arn = state
        .iter()
        .find(|o| o.environment == "pr-7")
        .and_then(|o| o.target_group_arn.clone())
        .unwrap();
    assert_eq!(tuned(&w, &arn).await, ((6, 5, 2, 2), "5".to_string()));
    engine.delete(&w.profile("api"), "pr-7").await.unwrap();
}
