//! Waiting for a draining service on replayed ECS responses, on tokio's paused clock: the waits use production-sized intervals and
//! timeouts, take no real time, and each test states exactly how long (virtual) it waited and
//! how many polls it took.

use std::time::Duration;

use tokio::time::Instant;

use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::types::Service;
use aws_smithy_mocks::{mock, mock_client, RuleMode};

// The readiness wait itself (ready while the old target drains, a crash with its log, an image
// pull failure, an unplaceable task, a health check that never passes) is tested against the
// emulator with real-AWS answers injected: tests/wait_rollout.rs.

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
