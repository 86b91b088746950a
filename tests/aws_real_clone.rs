//! Cloning the reference as real ECS and ELBv2 need it: clones never inherit another deployment
//! controller (moto keeps CODE_DEPLOY as given: checked with an independent DescribeServices),
//! and target groups get only the attributes that apply, never empty values.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_ecs::operation::create_service::CreateServiceInput;
use aws_sdk_ecs::types::{
    DeploymentController, DeploymentControllerType, DeploymentStrategy, LaunchType,
};
use common::*;
use eden::aws::inject::{Fake, Rule, When};
use eden::aws::Injector;
use eden::engine::Action;
use eden::profile::Profile;

/// A second reference in the world's cluster, like the `api` one but under CodeDeploy.
async fn code_deploy_reference(w: &World) -> Profile {
    let cluster = w.s(&["cluster"]);
    let api = w
        .aws
        .ecs
        .describe_services()
        .cluster(&cluster)
        .services(w.s(&["references", "api", "service_arn"]))
        .send()
        .await
        .unwrap()
        .services()[0]
        .clone();
    let created = w
        .aws
        .ecs
        .create_service()
        .cluster(&cluster)
        .service_name(format!("{}-cd-ref", w.prefix))
        .task_definition(api.task_definition().unwrap())
        .set_load_balancers(Some(api.load_balancers().to_vec()))
        .desired_count(1)
        .launch_type(LaunchType::Fargate)
        .set_network_configuration(api.network_configuration().cloned())
        .deployment_controller(
            DeploymentController::builder()
                .r#type(DeploymentControllerType::CodeDeploy)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let arn = created
        .service()
        .unwrap()
        .service_arn()
        .unwrap()
        .to_string();
    let mut raw = w.raw("api");
    raw.insert("reference_service_arn".into(), arn);
    raw.insert("name_prefix".into(), format!("{}-cd", w.prefix));
    Profile::from_raw("api", &raw).unwrap()
}

async fn controller(w: &World, service: &str) -> Option<DeploymentControllerType> {
    w.aws
        .ecs
        .describe_services()
        .cluster(w.s(&["cluster"]))
        .services(service)
        .send()
        .await
        .unwrap()
        .services()
        .first()?
        .deployment_controller()
        .map(|c| c.r#type().clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_deploy_reference_gives_rolling_ecs_clones() {
    let w = World::new("cd").await;
    let profile = code_deploy_reference(&w).await;
    assert_eq!(
        controller(&w, &profile.reference_service_arn).await,
        Some(DeploymentControllerType::CodeDeploy),
        "moto keeps the reference's controller"
    );
    // What eden asks ECS for (moto stores no deploymentConfiguration): seen at the SDK boundary.
    let sent: Arc<Mutex<Vec<CreateServiceInput>>> = Arc::default();
    let inj = Injector::new();
    let seen = sent.clone();
    inj.add(
        Rule::new(
            "ECS",
            "CreateService",
            When::Instead,
            Fake::json(400, "unused", "never answered"),
        )
        .input(move |i: &CreateServiceInput| {
            seen.lock().unwrap().push(i.clone());
            false
        }),
    );
    let engine = w.engine_injected(inj).await;
    let img = w.image("api", "sha-1");

    let out = engine
        .create(&profile, &w.request("pr-1", &img))
        .await
        .unwrap();
    assert_eq!(out.action, Some(Action::Created));
    let svc = out.service_arn.clone().unwrap();
    assert_eq!(
        controller(&w, &svc).await,
        Some(DeploymentControllerType::Ecs),
        "the clone is not under CodeDeploy"
    );
    let input = sent
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("CreateService sent");
    let dc = input.deployment_configuration().unwrap();
    assert_eq!(dc.strategy(), Some(&DeploymentStrategy::Rolling));
    let cb = dc.deployment_circuit_breaker().unwrap();
    assert!(cb.enable && cb.rollback);
    assert_eq!(
        input.deployment_controller().map(|c| c.r#type()),
        Some(&DeploymentControllerType::Ecs)
    );
    // said at -v (the steps)
    let said: Vec<String> = out.steps.iter().map(|s| s.detail.clone()).collect();
    assert!(
        said.iter()
            .any(|d| d.contains("deploymentController CODE_DEPLOY")),
        "{said:?}"
    );

    // The clone can be deployed again (ECS refuses a task definition change under CodeDeploy).
    let again = engine
        .create(&profile, &w.request("pr-1", &w.image("api", "sha-2")))
        .await
        .unwrap();
    assert_eq!(again.action, Some(Action::Deployed));
    engine.delete(&profile, "pr-1").await.unwrap();
    assert_eq!(
        controller(&w, &profile.reference_service_arn).await,
        Some(DeploymentControllerType::CodeDeploy),
        "the reference is left as it was"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_groups_get_only_attributes_that_apply() {
    let w = World::new("ta").await;
    let reference_tg = w.s(&["references", "api", "target_group_arn"]);
    // DescribeTargetGroupAttributes on AWS also lists attributes that do not apply to this
    // target group, some empty; make the reference report such ones.
    let a = |k: &str, v: &str| {
        aws_sdk_elasticloadbalancingv2::types::TargetGroupAttribute::builder()
            .key(k)
            .value(v)
            .build()
    };
    w.aws
        .elb
        .modify_target_group_attributes()
        .target_group_arn(&reference_tg)
        .attributes(a("stickiness.app_cookie.cookie_name", ""))
        .attributes(a("proxy_protocol_v2.enabled", "false"))
        .attributes(a("lambda.multi_value_headers.enabled", "false"))
        .attributes(a("slow_start.duration_seconds", "30"))
        .send()
        .await
        .unwrap();
    let engine = w.engine(None).await;
    let img = w.image("api", "sha-1");
    engine
        .create(&w.profile("api"), &w.request("pr-2", &img))
        .await
        .unwrap();
    let env = verify_environment(&w, "api", "pr-2", &img).await;
    let attrs: BTreeMap<String, String> = w
        .aws
        .elb
        .describe_target_group_attributes()
        .target_group_arn(&env.target_group_arn)
        .send()
        .await
        .unwrap()
        .attributes()
        .iter()
        .map(|a| (a.key().unwrap().into(), a.value().unwrap_or("").into()))
        .collect();
    assert_eq!(
        attrs.get("slow_start.duration_seconds").map(String::as_str),
        Some("30")
    );
    assert_eq!(
        attrs
            .get("deregistration_delay.timeout_seconds")
            .map(String::as_str),
        Some("5"),
        "the preview-tuned delay, not the reference's 15 s"
    );
    for absent in [
        "stickiness.app_cookie.cookie_name",
        "proxy_protocol_v2.enabled",
        "lambda.multi_value_headers.enabled",
    ] {
        assert!(!attrs.contains_key(absent), "{absent} copied: {attrs:?}");
    }
    assert!(attrs.values().all(|v| !v.is_empty()), "{attrs:?}");
}
