//! The wait logic on replayed ECS and ELB responses (the emulator never runs tasks or turns
//! targets healthy), on tokio's paused clock: the waits use production-sized intervals and
//! timeouts, take no real time, and each test states exactly how long (virtual) it waited and
//! how many polls it took.

use std::time::Duration;

use tokio::time::Instant;

use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState, Service};
use aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthOutput;
use aws_sdk_elasticloadbalancingv2::types::{
    TargetHealth, TargetHealthDescription, TargetHealthStateEnum,
};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use eden::engine::wait::until_ready;

fn service(
    rollout: DeploymentRolloutState,
    running: i32,
    reason: Option<&str>,
) -> DescribeServicesOutput {
    DescribeServicesOutput::builder()
        .services(
            Service::builder()
                .service_name("dev-api-pr-1")
                .desired_count(1)
                .running_count(running)
                .deployments(
                    Deployment::builder()
                        .status("PRIMARY")
                        .rollout_state(rollout)
                        .set_rollout_state_reason(reason.map(str::to_string))
                        .build(),
                )
                .build(),
        )
        .build()
}

fn targets(states: &[TargetHealthStateEnum]) -> DescribeTargetHealthOutput {
    let mut b = DescribeTargetHealthOutput::builder();
    for s in states {
        b = b.target_health_descriptions(
            TargetHealthDescription::builder()
                .target_health(
                    TargetHealth::builder()
                        .state(s.clone())
                        .description("Health checks failed")
                        .build(),
                )
                .build(),
        );
    }
    b.build()
}

#[tokio::test(start_paused = true)]
async fn ready_after_the_rollout_completes_and_a_target_is_healthy() {
    use DeploymentRolloutState::*;
    use TargetHealthStateEnum::*;
    let ecs_rule = mock!(aws_sdk_ecs::Client::describe_services)
        .sequence()
        .output(|| service(InProgress, 0, None))
        .output(|| service(Completed, 1, None))
        .output(|| service(Completed, 1, None))
        .build();
    let elb_rule = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_health)
        .sequence()
        .output(|| targets(&[]))
        .output(|| targets(&[Initial]))
        .output(|| targets(&[Healthy, Unhealthy]))
        .build();
    let ecs = mock_client!(aws_sdk_ecs, RuleMode::Sequential, [&ecs_rule]);
    let elb = mock_client!(
        aws_sdk_elasticloadbalancingv2,
        RuleMode::Sequential,
        [&elb_rule]
    );
    let began = Instant::now();
    until_ready(
        &ecs,
        &elb,
        "dev",
        "dev-api-pr-1",
        "arn:tg",
        Duration::from_secs(600),
        Duration::from_secs(15),
    )
    .await
    .unwrap();
    assert_eq!((ecs_rule.num_calls(), elb_rule.num_calls()), (3, 3));
    assert_eq!(began.elapsed(), Duration::from_secs(30), "two intervals");
}

#[tokio::test(start_paused = true)]
async fn a_failed_rollout_stops_the_wait_with_its_reason() {
    let ecs_rule = mock!(aws_sdk_ecs::Client::describe_services)
        .sequence()
        .output(|| service(DeploymentRolloutState::InProgress, 0, None))
        .output(|| {
            service(
                DeploymentRolloutState::Failed,
                0,
                Some("ECS deployment circuit breaker: tasks failed to start."),
            )
        })
        .build();
    let elb_rule = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_health)
        .sequence()
        .output(|| targets(&[]))
        .repeatedly()
        .build();
    let ecs = mock_client!(aws_sdk_ecs, RuleMode::Sequential, [&ecs_rule]);
    let elb = mock_client!(
        aws_sdk_elasticloadbalancingv2,
        RuleMode::Sequential,
        [&elb_rule]
    );
    let began = Instant::now();
    let err = until_ready(
        &ecs,
        &elb,
        "dev",
        "svc",
        "arn:tg",
        Duration::from_secs(600),
        Duration::from_secs(15),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("circuit breaker: tasks failed to start"),
        "{err}"
    );
    assert_eq!(ecs_rule.num_calls(), 2);
    assert_eq!(began.elapsed(), Duration::from_secs(15), "stopped at once");
}

#[tokio::test(start_paused = true)]
async fn unhealthy_targets_time_out_with_what_was_seen() {
    let ecs_rule = mock!(aws_sdk_ecs::Client::describe_services)
        .sequence()
        .output(|| service(DeploymentRolloutState::Completed, 1, None))
        .repeatedly()
        .build();
    let elb_rule = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_health)
        .sequence()
        .output(|| targets(&[TargetHealthStateEnum::Unhealthy]))
        .repeatedly()
        .build();
    let ecs = mock_client!(aws_sdk_ecs, RuleMode::Sequential, [&ecs_rule]);
    let elb = mock_client!(
        aws_sdk_elasticloadbalancingv2,
        RuleMode::Sequential,
        [&elb_rule]
    );
    let began = Instant::now();
    let err = until_ready(
        &ecs,
        &elb,
        "dev",
        "svc",
        "arn:tg",
        Duration::from_secs(60),
        Duration::from_secs(15),
    )
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("not ready after 60 s") && msg.contains("unhealthy: Health checks failed"),
        "{msg}"
    );
    // polls at 0, 15, 30, 45 and 60 s; another would start past the timeout
    assert_eq!(ecs_rule.num_calls(), 5);
    assert_eq!(began.elapsed(), Duration::from_secs(60));
}

fn status(s: &'static str) -> DescribeServicesOutput {
    DescribeServicesOutput::builder()
        .services(
            Service::builder()
                .service_name("dev-api-pr-1")
                .status(s)
                .build(),
        )
        .build()
}

#[tokio::test(start_paused = true)]
async fn a_draining_service_is_waited_for_before_it_is_created_again() {
    let rule = mock!(aws_sdk_ecs::Client::describe_services)
        .sequence()
        .output(|| status("DRAINING"))
        .output(|| status("DRAINING"))
        .output(|| status("INACTIVE"))
        .build();
    let ecs = mock_client!(aws_sdk_ecs, RuleMode::Sequential, [&rule]);
    let began = Instant::now();
    eden::aws::ecs::wait_drained(
        &ecs,
        "dev",
        "dev-api-pr-1",
        Duration::from_secs(120),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(rule.num_calls(), 3);
    assert_eq!(began.elapsed(), Duration::from_secs(10));

    let stuck = mock!(aws_sdk_ecs::Client::describe_services)
        .sequence()
        .output(|| status("DRAINING"))
        .repeatedly()
        .build();
    let ecs = mock_client!(aws_sdk_ecs, RuleMode::Sequential, [&stuck]);
    let began = Instant::now();
    let err = eden::aws::ecs::wait_drained(
        &ecs,
        "dev",
        "dev-api-pr-1",
        Duration::from_secs(120),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("still draining from an earlier delete after 120 s"),
        "{err}"
    );
    // polls every 5 s from 0 to 120 s
    assert_eq!(stuck.num_calls(), 25);
    assert_eq!(began.elapsed(), Duration::from_secs(120));
}
