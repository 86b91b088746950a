//! Environments made by the Python eden (untagged resources, legacy names, an A alias or a 0.1
//! CNAME, a state item keyed `name_prefix-branch` without ARNs) are found and deleted; a create
//! on one adopts it.

mod common;

use aws_sdk_dynamodb::types::AttributeValue as V;
use aws_sdk_elasticloadbalancingv2::types::{
    Action as LbAction, ActionTypeEnum, HostHeaderConditionConfig, RuleCondition,
};
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use common::*;
use eden::engine::Action;

/// What core 0.2.0 (`cname` = false) or 0.1.x (`cname` = true) leaves for `branch`.
async fn python_eden_create(w: &World, branch: &str, priority: i32, cname: bool) -> String {
    let aws = &w.aws;
    let p = w.profile("api");
    let resource = format!("{}-{branch}", p.name_prefix);
    let keep = |s: &str, us: bool| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || (us && c == '_') {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    let fqdn = format!("api-{}.{}", keep(branch, true), w.s(&["zone_name"]));
    let cluster = w.s(&["cluster"]);
    let ref_svc = aws
        .ecs
        .describe_services()
        .cluster(&cluster)
        .services(w.s(&["references", "api", "service_arn"]))
        .send()
        .await
        .unwrap()
        .services()[0]
        .clone();
    let ref_td = aws
        .ecs
        .describe_task_definition()
        .task_definition(ref_svc.task_definition().unwrap())
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap();
    let td = aws
        .ecs
        .register_task_definition()
        .family(keep(&resource, true))
        .set_task_role_arn(ref_td.task_role_arn.clone())
        .set_network_mode(ref_td.network_mode.clone())
        .set_container_definitions(ref_td.container_definitions.clone())
        .set_requires_compatibilities(ref_td.requires_compatibilities.clone())
        .set_cpu(ref_td.cpu.clone())
        .set_memory(ref_td.memory.clone())
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap();
    let rtg = aws
        .elb
        .describe_target_groups()
        .target_group_arns(w.s(&["references", "api", "target_group_arn"]))
        .send()
        .await
        .unwrap()
        .target_groups()[0]
        .clone();
    let tg = aws
        .elb
        .create_target_group()
        .name(keep(&resource, false))
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
    aws.elb
        .create_rule()
        .listener_arn(w.s(&["listener_arn"]))
        .priority(priority)
        .conditions(
            RuleCondition::builder()
                .field("host-header")
                .host_header_config(HostHeaderConditionConfig::builder().values(&fqdn).build())
                .build(),
        )
        .actions(
            LbAction::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(&tg)
                .build(),
        )
        .send()
        .await
        .unwrap();
    aws.ecs
        .create_service()
        .cluster(&cluster)
        .service_name(keep(&resource, false))
        .task_definition(&td)
        .desired_count(1)
        .set_launch_type(ref_svc.launch_type.clone())
        .set_network_configuration(ref_svc.network_configuration.clone())
        .load_balancers(
            aws_sdk_ecs::types::LoadBalancer::builder()
                .target_group_arn(&tg)
                .container_name("app")
                .container_port(8080)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let set = if cname {
        ResourceRecordSet::builder()
            .name(&fqdn)
            .r#type(RrType::Cname)
            .ttl(60)
            .resource_records(
                ResourceRecord::builder()
                    .value(w.s(&["alb_dns"]))
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    } else {
        let lb = aws
            .elb
            .describe_load_balancers()
            .load_balancer_arns(w.s(&["alb_arn"]))
            .send()
            .await
            .unwrap()
            .load_balancers()[0]
            .clone();
        ResourceRecordSet::builder()
            .name(&fqdn)
            .r#type(RrType::A)
            .alias_target(
                AliasTarget::builder()
                    .hosted_zone_id(lb.canonical_hosted_zone_id().unwrap())
                    .dns_name(lb.dns_name().unwrap())
                    .evaluate_target_health(false)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    aws.route53
        .change_resource_record_sets()
        .hosted_zone_id(w.s(&["zone_id"]))
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(ChangeAction::Upsert)
                        .resource_record_set(set)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let file = w.environments_file().await;
    let mut file = file.clone();
    file["environments"].as_array_mut().unwrap().push(serde_json::json!({"name": format!("dev-{branch}"), "env": "preview", "api_endpoint": fqdn}));
    aws.s3
        .put_object()
        .bucket(w.s(&["bucket"]))
        .key("environments.json")
        .body(serde_json::to_vec(&file).unwrap().into())
        .send()
        .await
        .unwrap();
    aws.dynamodb
        .put_item()
        .table_name(&w.table)
        .item("type", V::S("api".into()))
        .item("name", V::S(resource.clone()))
        .item("kind", V::S("environment".into()))
        .item("endpoint", V::S(fqdn.clone()))
        .item(
            "last_updated",
            V::N("1795375850.8742349147796630859375".into()),
        )
        .send()
        .await
        .unwrap();
    fqdn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn python_eden_environments_are_found_and_deleted() {
    let w = World::new("lg").await;
    let engine = w.engine(None).await;
    let api = w.profile("api");
    w.warm().await;
    let before = w.snapshot().await;

    python_eden_create(&w, "feature_x", 10, false).await;
    python_eden_create(&w, "old1", 11, true).await;
    let listed = engine.list(Some("api")).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .filter(|r| r.status.as_deref() == Some("legacy"))
            .count(),
        2
    );
    assert_ne!(w.snapshot().await, before);

    for branch in ["feature_x", "old1"] {
        let out = engine.delete(&api, branch).await.unwrap();
        assert_eq!(out.action, Some(Action::Deleted), "{branch}");
    }
    assert_eq!(w.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_on_a_python_eden_environment_adopts_it() {
    let w = World::new("la").await;
    let engine = w.engine(None).await;
    let api = w.profile("api");
    w.warm().await;
    let before = w.snapshot().await;
    python_eden_create(&w, "pr-77", 10, false).await;

    let out = engine
        .create(&api, &w.request("pr-77", &w.image("api", "sha-2")))
        .await
        .unwrap();
    assert_eq!(out.action, Some(Action::Created));
    verify_environment(&w, "api", "pr-77", &w.image("api", "sha-2")).await;
    let snap = w.snapshot().await;
    assert_eq!(
        snap.target_groups
            .iter()
            .filter(|t| t.ends_with("-api-pr-77"))
            .count(),
        1
    );
    assert_eq!(
        snap.rules
            .iter()
            .filter(|r| r.contains("api-pr-77."))
            .count(),
        1
    );
    engine.delete(&api, "pr-77").await.unwrap();
    assert_eq!(w.snapshot().await, before);
}
