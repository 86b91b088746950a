//! Many runs at once: distinct environments in parallel, one environment serialised.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::observe::{Exchange, Observer};
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

/// The newest `DescribeTaskDefinition` of `family` by name (round 1's read of the family's latest
/// revision), answered.
fn family_read<'a>(seen: &'a [Exchange], family: &str) -> Option<&'a Exchange> {
    let by_name = format!("\"taskDefinition\":\"{family}\"");
    seen.iter()
        .rfind(|x| x.operation == "DescribeTaskDefinition" && x.request.contains(&by_name))
}

/// Until our run's round 1 has read the family (answered: `revision`, the latest) and its lease
/// take has been refused.
async fn round_one_then_lease_refused(observer: &Observer, family: &str, revision: &str) {
    tokio::time::timeout(
        Duration::from_secs(60),
        observer
            .until(|seen| family_read(seen, family).is_some() && seen.iter().any(lease_refused)),
    )
    .await
    .expect("our run read its family and found the lease held");
    let seen = observer.seen();
    let read = family_read(&seen, family).unwrap();
    assert!(
        read.status == 200 && read.response.contains(&format!("\"{revision}\"")),
        "round 1 read {revision}, the latest revision: {read:?}"
    );
}

/// A lease take refused because another run holds the lease.
fn lease_refused(x: &Exchange) -> bool {
    x.operation == "UpdateItem"
        && x.status == 400
        && x.error_code().as_deref() == Some("ConditionalCheckFailedException")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deploy_that_waited_builds_on_the_revision_deployed_meanwhile() {
    let w = Arc::new(World::new("cw").await);
    let engine = Arc::new(w.engine(None).await);
    let api = w.profile("api");
    let first = engine
        .create(&api, &w.request("pr-1", &w.image("api", "sha-1")))
        .await
        .unwrap()
        .task_definition_arn
        .unwrap();

    // Another run holds the lease …
    other_run(
        &w,
        "SET lease_owner = :o, lease_rvn = :r",
        &[(":o", "other-run"), (":r", "rvn-1")],
    )
    .await;
    // … while our deploy starts: its first round reads the family's latest revision, and its
    // lease take is refused. Both answers are awaited, however slow the machine.
    let family = format!("{}-api-pr-1", w.prefix);
    let observer = Observer::default();
    let ours = {
        let mut e = w.engine(None).await;
        e.aws = observer.wrap(&e.aws);
        let w = w.clone();
        tokio::spawn(async move {
            e.create(
                &w.profile("api"),
                &w.request("pr-1", &w.image("api", "sha-2")),
            )
            .await
        })
    };
    round_one_then_lease_refused(&observer, &family, &first).await;
    // … and the other run deploys a revision with a new variable, and records it (releasing
    // its lease, as a run's final state write does).
    let newer = register_with_feature_x(&w, &family).await;
    other_run(
        &w,
        "SET task_definition_arn = :t REMOVE lease_owner, lease_rvn",
        &[(":t", &newer)],
    )
    .await;

    let out = ours.await.unwrap().unwrap();
    // The race was run: the lease was ours only after the other run's release, and the
    // revision read in round 1 was replaced by the one the state names.
    assert!(out.steps.iter().any(|s| s.step == "lease-wait"), "{out:?}");
    assert!(
        family_read(&observer.seen(), &newer).is_some(),
        "the state's newer revision {newer} was read"
    );
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
    let names: Vec<_> = app.environment().iter().map(|kv| kv.name()).collect();
    assert_eq!(names, [Some("FEATURE_X")], "built on {newer}");
    engine.delete(&api, "pr-1").await.unwrap();
}

/// The other run's write to the state item of api/pr-1 (string values).
async fn other_run(w: &World, expression: &str, values: &[(&str, &str)]) {
    use aws_sdk_dynamodb::types::AttributeValue as V;
    let mut q = w
        .aws
        .dynamodb
        .update_item()
        .table_name(&w.table)
        .key("type", V::S("api".into()))
        .key("name", V::S("pr-1".into()))
        .update_expression(expression);
    for (k, v) in values {
        q = q.expression_attribute_values(*k, V::S(v.to_string()));
    }
    q.send().await.unwrap();
}

/// What the other run deploys: the family's latest revision with `FEATURE_X=on`; its ARN.
async fn register_with_feature_x(w: &World, family: &str) -> String {
    use aws_sdk_ecs::types::KeyValuePair;
    let td = w
        .aws
        .ecs
        .describe_task_definition()
        .task_definition(family)
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
    w.aws
        .ecs
        .register_task_definition()
        .family(family)
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
        .unwrap()
}
