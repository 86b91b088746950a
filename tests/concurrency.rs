//! Many runs at once: distinct environments in parallel, one environment serialised.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::*;
use eden::engine::Action;

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn eight_environments_at_once_then_eight_deletes() {
    let w = Arc::new(World::new("c8").await);
    let engine = Arc::new(w.engine(None).await);
    // the table exists in the baseline (it is created once and kept)
    w.warm().await;
    let before = w.snapshot().await;

    let runs = (0..8).map(|i| {
        let (w, engine) = (w.clone(), engine.clone());
        tokio::spawn(async move {
            engine
                .create(
                    &w.profile("api"),
                    &w.request(&format!("pr-{i}"), &w.image("api", "sha-1")),
                )
                .await
        })
    });
    for r in futures::future::join_all(runs).await {
        assert_eq!(r.unwrap().unwrap().action, Some(Action::Created));
    }
    let mut priorities = BTreeSet::new();
    let rules = w
        .aws
        .elb
        .describe_rules()
        .listener_arn(w.s(&["listener_arn"]))
        .send()
        .await
        .unwrap();
    for r in rules.rules() {
        if !r.is_default().unwrap_or(false) {
            assert!(
                priorities.insert(r.priority().unwrap().to_string()),
                "priority reused"
            );
        }
    }
    assert_eq!(priorities.len(), 8);
    let file = w.environments_file().await;
    let names: BTreeSet<&str> = file["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        (0..8)
            .map(|i| format!("dev-pr-{i}"))
            .collect::<BTreeSet<_>>()
            .iter()
            .map(String::as_str)
            .collect()
    );
    for i in 0..8 {
        verify_environment(&w, "api", &format!("pr-{i}"), &w.image("api", "sha-1")).await;
    }

    let runs = (0..8).map(|i| {
        let (w, engine) = (w.clone(), engine.clone());
        tokio::spawn(async move { engine.delete(&w.profile("api"), &format!("pr-{i}")).await })
    });
    for r in futures::future::join_all(runs).await {
        assert_eq!(r.unwrap().unwrap().action, Some(Action::Deleted));
    }
    assert_eq!(w.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn four_creates_of_one_environment_make_one_set_of_resources() {
    let w = Arc::new(World::new("c4").await);
    let engine = Arc::new(w.engine(None).await);
    w.warm().await;
    let before = w.snapshot().await;

    let runs = (0..4).map(|_| {
        let (w, engine) = (w.clone(), engine.clone());
        tokio::spawn(async move {
            engine
                .create(
                    &w.profile("api"),
                    &w.request("pr-1", &w.image("api", "sha-2")),
                )
                .await
        })
    });
    let mut actions = Vec::new();
    for r in futures::future::join_all(runs).await {
        actions.push(r.unwrap().unwrap().action.unwrap());
    }
    actions.sort_by_key(|a| a.as_str());
    assert_eq!(
        actions,
        vec![
            Action::Created,
            Action::Deployed,
            Action::Deployed,
            Action::Deployed
        ]
    );
    let snap = w.snapshot().await;
    assert_eq!(
        snap.services
            .iter()
            .filter(|s| s.contains("-api-pr-1|"))
            .count(),
        1,
        "{:?}",
        snap.services
    );
    assert_eq!(
        snap.target_groups
            .iter()
            .filter(|t| t.ends_with("-api-pr-1"))
            .count(),
        1
    );
    assert_eq!(
        snap.rules
            .iter()
            .filter(|r| r.contains("api-pr-1."))
            .count(),
        1
    );
    assert_eq!(
        snap.records
            .iter()
            .filter(|r| r.starts_with("api-pr-1."))
            .count(),
        1
    );
    assert_eq!(
        w.environments_file().await["environments"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    verify_environment(&w, "api", "pr-1", &w.image("api", "sha-2")).await;

    engine.delete(&w.profile("api"), "pr-1").await.unwrap();
    assert_eq!(w.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deploy_that_waited_builds_on_the_revision_deployed_meanwhile() {
    use aws_sdk_dynamodb::types::AttributeValue as V;
    use aws_sdk_ecs::types::KeyValuePair;
    let w = Arc::new(World::new("cw").await);
    let engine = Arc::new(w.engine(None).await);
    let api = w.profile("api");
    engine
        .create(&api, &w.request("pr-1", &w.image("api", "sha-1")))
        .await
        .unwrap();

    // Another run holds the lease …
    let key = |q: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder| {
        q.table_name(&w.table)
            .key("type", V::S("api".into()))
            .key("name", V::S("pr-1".into()))
    };
    key(w.aws.dynamodb.update_item())
        .update_expression("SET lease_owner = :o, lease_rvn = :r")
        .expression_attribute_values(":o", V::S("other-run".into()))
        .expression_attribute_values(":r", V::S("rvn-1".into()))
        .send()
        .await
        .unwrap();
    // … while our deploy starts (its first round reads the family's latest revision) …
    let ours = {
        let (w, engine) = (w.clone(), engine.clone());
        tokio::spawn(async move {
            engine
                .create(
                    &w.profile("api"),
                    &w.request("pr-1", &w.image("api", "sha-2")),
                )
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    // … and the other run deploys a revision with a new variable, and records it (releasing
    // its lease, as a run's final state write does).
    let family = format!("{}-api-pr-1", w.prefix);
    let td = w
        .aws
        .ecs
        .describe_task_definition()
        .task_definition(&family)
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap();
    let mut containers = td.container_definitions().to_vec();
    containers[0].environment = Some(vec![KeyValuePair::builder()
        .name("FEATURE_X")
        .value("on")
        .build()]);
    let newer = w
        .aws
        .ecs
        .register_task_definition()
        .family(&family)
        .set_task_role_arn(td.task_role_arn.clone())
        .set_execution_role_arn(td.execution_role_arn.clone())
        .set_network_mode(td.network_mode.clone())
        .set_container_definitions(Some(containers))
        .set_requires_compatibilities(td.requires_compatibilities.clone())
        .set_cpu(td.cpu.clone())
        .set_memory(td.memory.clone())
        .set_tags(Some(eden::aws::ecs::to_tags(
            &eden::engine::tags::eden_tags("api", "pr-1"),
        )))
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap();
    key(w.aws.dynamodb.update_item())
        .update_expression("SET task_definition_arn = :t REMOVE lease_owner, lease_rvn")
        .expression_attribute_values(":t", V::S(newer.clone()))
        .send()
        .await
        .unwrap();

    let out = ours.await.unwrap().unwrap();
    let deployed = w
        .aws
        .ecs
        .describe_task_definition()
        .task_definition(out.task_definition_arn.unwrap())
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap();
    let app = &deployed.container_definitions()[0];
    assert_eq!(app.image(), Some(w.image("api", "sha-2").as_str()));
    assert_eq!(
        app.environment()
            .iter()
            .map(|kv| kv.name().unwrap())
            .collect::<Vec<_>>(),
        ["FEATURE_X"],
        "built on {newer}"
    );
    engine.delete(&api, "pr-1").await.unwrap();
}
