//! create → deploy → delete against the emulator, checked with independent reads.

mod common;

use common::*;
use eden::engine::Action;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_deploy_delete_leaves_the_account_as_it_was() {
    let w = World::new("lc").await;
    let before = w.snapshot().await;
    let engine = w.engine(None).await;
    let api = w.profile("api");

    let img1 = w.image("api", "sha-1");
    let created = engine
        .create(&api, &w.request("pr-42", &img1))
        .await
        .unwrap();
    assert_eq!(created.action, Some(Action::Created));
    let c1 = verify_environment(&w, "api", "pr-42", &img1).await;
    assert_eq!(created.hostname.as_deref(), Some(c1.hostname.as_str()));
    assert_eq!(c1.hostname, format!("api-pr-42.{}", w.s(&["zone_name"])));
    assert_eq!(
        created.service_arn.as_deref(),
        Some(c1.service_arn.as_str())
    );
    assert_eq!(created.rule_arn.as_deref(), Some(c1.rule_arn.as_str()));
    assert_eq!(
        w.environments_file().await,
        json!({"environments": [{"name": "dev-pr-42", "env": "preview", "api_endpoint": c1.hostname}]})
    );

    let img2 = w.image("api", "sha-2");
    let deployed = engine
        .create(&api, &w.request("pr-42", &img2))
        .await
        .unwrap();
    assert_eq!(deployed.action, Some(Action::Deployed));
    let c2 = verify_environment(&w, "api", "pr-42", &img2).await;
    assert_eq!(
        (c2.service_arn, c2.target_group_arn, c2.rule_arn),
        (c1.service_arn, c1.target_group_arn, c1.rule_arn)
    );
    assert_ne!(c2.task_definition_arn, c1.task_definition_arn);
    assert!(c2.task_definition_arn.ends_with(":2"));

    let listed = engine.list(Some("api")).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].image.as_deref(), Some(img2.as_str()));
    assert_eq!(listed[0].status.as_deref(), Some("ready"));

    let deleted = engine.delete(&api, "pr-42").await.unwrap();
    assert_eq!(deleted.action, Some(Action::Deleted));
    assert_eq!(w.snapshot().await, before);
    assert!(engine.list(None).await.unwrap().is_empty());

    let again = engine.delete(&api, "pr-42").await.unwrap();
    assert_eq!(again.action, Some(Action::Absent));
    assert_eq!(w.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deploys_keep_only_the_last_revisions() {
    let w = World::new("rv").await;
    let engine = w.engine(None).await;
    let api = w.profile("api");
    for i in 0..7 {
        let tag = ["sha-0", "sha-1", "sha-2"][i % 3];
        engine
            .create(&api, &w.request("pr-1", &w.image("api", tag)))
            .await
            .unwrap();
    }
    let active = w
        .aws
        .ecs
        .list_task_definitions()
        .family_prefix(format!("{}-api-pr-1", w.prefix))
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .unwrap();
    assert_eq!(
        active.task_definition_arns().len(),
        5,
        "{:?}",
        active.task_definition_arns()
    );
    assert!(active
        .task_definition_arns()
        .iter()
        .any(|a| a.ends_with(":7")));
    engine.delete(&api, "pr-1").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_profiles_share_one_environment_entry() {
    let w = World::new("tp").await;
    let before = w.snapshot().await;
    let engine = w.engine(None).await;
    let (api, admin) = (w.profile("api"), w.profile("admin"));
    let (ra, rb) = (
        w.request("pr-7", &w.image("api", "sha-1")),
        w.request("pr-7", &w.image("admin", "sha-1")),
    );
    let (a, b) = tokio::join!(engine.create(&api, &ra), engine.create(&admin, &rb));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.hostname, b.hostname);
    verify_environment(&w, "api", "pr-7", &w.image("api", "sha-1")).await;
    verify_environment(&w, "admin", "pr-7", &w.image("admin", "sha-1")).await;
    assert_eq!(
        w.environments_file().await,
        json!({"environments": [{"name": "dev-pr-7", "env": "preview",
            "api_endpoint": a.hostname.unwrap(), "admin_endpoint": b.hostname.clone().unwrap()}]})
    );
    engine.delete(&api, "pr-7").await.unwrap();
    assert_eq!(
        w.environments_file().await,
        json!({"environments": [{"name": "dev-pr-7", "env": "preview", "admin_endpoint": b.hostname.unwrap()}]})
    );
    verify_environment(&w, "admin", "pr-7", &w.image("admin", "sha-1")).await;
    engine.delete(&admin, "pr-7").await.unwrap();
    assert_eq!(w.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn long_odd_branch_names_and_digests_work() {
    let w = World::new("ln").await;
    let before = w.snapshot().await;
    let engine = w.engine(None).await;
    let api = w.profile("api");
    let name = format!("feature/Foo_bar.baz-{}", "x".repeat(120));
    let img = w.digest_image("api", "sha-1");
    let out = engine.create(&api, &w.request(&name, &img)).await.unwrap();
    let c = verify_environment(&w, "api", &name, &img).await;
    let label = c.hostname.split('.').next().unwrap();
    assert!(
        label.len() <= 63 && label.starts_with("api-feature-foo-bar-baz-"),
        "{label}"
    );
    let tg_name = c.target_group_arn.split('/').nth(1).unwrap();
    assert!(tg_name.len() <= 32, "{tg_name}");
    assert_eq!(out.action, Some(Action::Created));
    // a second, different long name must not collide
    let other = format!("feature/Foo_bar.baz-{}y", "x".repeat(119));
    engine.create(&api, &w.request(&other, &img)).await.unwrap();
    verify_environment(&w, "api", &other, &img).await;
    assert_eq!(
        engine
            .create(&api, &w.request(&name, &w.image("api", "sha-2")))
            .await
            .unwrap()
            .action,
        Some(Action::Deployed)
    );
    engine.delete(&api, &name).await.unwrap();
    engine.delete(&api, &other).await.unwrap();
    assert_eq!(w.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dual_stack_alb_gets_a_and_aaaa_aliases_and_both_go() {
    let w = World::new("ds").await;
    let before = w.snapshot().await;
    let engine = w.engine(None).await;
    let mut raw = w.raw("api");
    raw.insert("master_alb_arn".into(), w.s(&["alb6_arn"]));
    let api = eden::profile::Profile::from_raw("api", &raw).unwrap();
    let out = engine
        .create(&api, &w.request("pr-6", &w.image("api", "sha-1")))
        .await
        .unwrap();
    let hostname = out.hostname.unwrap();
    let rr = w
        .aws
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(w.s(&["zone_id"]))
        .start_record_name(&hostname)
        .send()
        .await
        .unwrap();
    let types: Vec<&str> = rr
        .resource_record_sets()
        .iter()
        .filter(|r| r.name() == format!("{hostname}."))
        .map(|r| r.r#type().as_str())
        .collect();
    assert_eq!(types, ["A", "AAAA"]);
    assert!(rr
        .resource_record_sets()
        .iter()
        .filter(|r| r.name() == format!("{hostname}."))
        .all(|r| r.alias_target().is_some()));
    engine.delete(&api, "pr-6").await.unwrap();
    assert_eq!(w.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_changed_reference_reaches_the_environment_on_the_next_deploy() {
    use aws_sdk_ecs::types::KeyValuePair;
    let w = World::new("rf").await;
    let inst = eden::aws::Instrument::new();
    let engine = w.engine(Some(inst.clone())).await;
    let api = w.profile("api");
    engine
        .create(&api, &w.request("pr-4", &w.image("api", "sha-1")))
        .await
        .unwrap();

    // the team changes the reference: a new environment variable, a new revision
    change_reference_with(&w, |c| {
        c[0].environment = Some(vec![
            KeyValuePair::builder()
                .name("APP_ENV")
                .value("preview")
                .build(),
            KeyValuePair::builder()
                .name("FEATURE_X")
                .value("on")
                .build(),
        ]);
    })
    .await;

    let out = engine
        .create(&api, &w.request("pr-4", &w.image("api", "sha-2")))
        .await
        .unwrap();
    assert_eq!(out.action, Some(Action::Deployed));
    // verify_environment compares the clone with the reference's current task definition
    verify_environment(&w, "api", "pr-4", &w.image("api", "sha-2")).await;

    // without a reference change, a deploy does not read the reference's task definition again
    inst.reset();
    engine
        .create(&api, &w.request("pr-4", &w.image("api", "sha-0")))
        .await
        .unwrap();
    let described = inst
        .calls()
        .iter()
        .filter(|c| c.operation == "ECS.DescribeTaskDefinition")
        .count();
    assert_eq!(
        described,
        1,
        "only the environment's own family: {:?}",
        inst.calls()
            .iter()
            .map(|c| &c.operation)
            .collect::<Vec<_>>()
    );
    verify_environment(&w, "api", "pr-4", &w.image("api", "sha-0")).await;
    engine.delete(&api, "pr-4").await.unwrap();
}
