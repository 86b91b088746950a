//! Retiring task-definition revisions as real ECS answers: DeleteTaskDefinitions reports
//! per-revision failures inside a 200 answer. A failure is accepted only when the revision is
//! gone or DELETE_IN_PROGRESS (typed status), whatever the reason's text says; checked with
//! independent DescribeTaskDefinition reads. docs/aws-semantics.md (ECS-3).

mod common;

use aws_sdk_ecs::types::{ContainerDefinition, TaskDefinitionStatus};
use common::*;
use eden::aws::inject::{Fake, Rule, When};
use eden::aws::{ecs, Injector};

/// A fresh revision in moto (ACTIVE), registered with the plain client.
async fn register(tag: &str) -> String {
    let plain = aws(None).await;
    let family = format!("{tag}{:04x}-rt", rand::random::<u16>());
    plain
        .ecs
        .register_task_definition()
        .family(&family)
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image("public.ecr.aws/nginx/nginx:latest")
                .memory(128)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap()
}

/// DeleteTaskDefinitions' 200 answer with one failure, as ECS sends it.
fn failure(arn: &str, reason: &str) -> Fake {
    Fake {
        status: 200,
        content_type: "application/x-amz-json-1.1",
        body: serde_json::json!({
            "taskDefinitions": [],
            "failures": [{ "arn": arn, "reason": reason }],
        })
        .to_string(),
    }
}

/// The revision's status by an independent read; `None` when ECS no longer has it.
async fn status(arn: &str) -> Option<TaskDefinitionStatus> {
    let plain = aws(None).await;
    match plain
        .ecs
        .describe_task_definition()
        .task_definition(arn)
        .send()
        .await
    {
        Ok(o) => o.task_definition.and_then(|t| t.status),
        Err(e) => {
            assert!(
                e.as_service_error()
                    .is_some_and(|s| s.is_client_exception()),
                "unexpected error: {e:?}"
            );
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_failure_on_a_revision_already_gone_is_accepted() {
    let arn = register("ok").await;
    let inj = Injector::new();
    // Another run deleted it at the same moment: ECS acted on the state it had and reports
    // the revision as a failure of this call.
    let answered = inj.add(Rule::new(
        "ECS",
        "DeleteTaskDefinitions",
        When::Replacing(200),
        failure(
            &arn,
            "The specified task definition does not exist. Specify a valid account, family, revision and try again.",
        ),
    ));
    let injected = aws_injected(inj).await;

    ecs::retire_revisions(&injected, std::slice::from_ref(&arn))
        .await
        .expect("a revision that is gone is retired");
    assert_eq!(answered.hits(), 1, "DeleteTaskDefinitions met the failure");
    assert_eq!(status(&arn).await, None, "the revision is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_failure_on_a_revision_still_there_is_refused_with_the_reason() {
    let arn = register("no").await;
    let inj = Injector::new();
    // ECS refuses to delete the revision, with a reason whose text says "not": the decision
    // follows the revision's status, which is still INACTIVE (deregistered, not deleted).
    let reason = "The specified task definition is not yet eligible for deletion.";
    let refused = inj.add(Rule::new(
        "ECS",
        "DeleteTaskDefinitions",
        When::Instead,
        failure(&arn, reason),
    ));
    let injected = aws_injected(inj).await;

    let err = ecs::retire_revisions(&injected, std::slice::from_ref(&arn))
        .await
        .expect_err("a revision ECS kept is not retired");
    let msg = format!("{err:#}");
    assert_eq!(refused.hits(), 1);
    assert!(
        msg.contains("ecs:DeleteTaskDefinitions failed for"),
        "{msg}"
    );
    assert!(msg.contains(&arn), "names the revision: {msg}");
    assert!(msg.contains(reason), "gives ECS's reason: {msg}");
    assert!(msg.contains("INACTIVE"), "gives its status: {msg}");
    assert_eq!(
        status(&arn).await,
        Some(TaskDefinitionStatus::Inactive),
        "deregistered, still there"
    );

    // leave nothing behind
    aws(None)
        .await
        .ecs
        .delete_task_definitions()
        .task_definitions(&arn)
        .send()
        .await
        .unwrap();
}
