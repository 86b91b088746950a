//! What ECS and ELB say about a waking preview, injected (`eden::aws::inject`) in front of the
//! emulator, whose ECS runs no task and whose targets never turn healthy (FIELD-NOTES): one task
//! of the PRIMARY deployment running at `IP`, its target `initial` until `healthy()` says
//! otherwise. Only the readiness wait's reads of this one service and target group are
//! answered; every other request (the wake's writes, its lease, the independent reads) is
//! moto's.

use std::sync::Arc;

use aws_sdk_ecs::operation::describe_services::DescribeServicesInput;
use aws_sdk_ecs::operation::list_tasks::ListTasksInput;
use aws_sdk_ecs::types::DesiredStatus;
use aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthInput;
use eden::aws::inject::{Fake, Rule, When};
use eden::aws::Injector;
use serde_json::json;

use super::REGION;

pub const IP: &str = "10.0.3.30";
const TASK: &str = "5b6c7d8e9f0a4b1c8d2e3f4a5b6c7d8e";
/// The waking deployment's revision, as the fakes name it (the wait only compares a task's
/// revision with the PRIMARY deployment's).
const TD: &str = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/waking:1";

/// The preview whose wake the fakes answer for.
#[derive(Debug, Clone)]
pub struct Waking {
    pub cluster: String,
    pub service_arn: String,
    pub target_group: String,
}

impl Waking {
    fn task_arn(&self) -> String {
        format!(
            "arn:aws:ecs:{REGION}:123456789012:task/{}/{TASK}",
            self.cluster
        )
    }

    fn service_name(&self) -> String {
        self.service_arn.rsplit('/').next().unwrap().to_string()
    }
}

/// Answer the readiness wait's reads of `w`: the task runs from the first read, its target is
/// healthy once `healthy()` says so (before: `initial`, registration in progress).
pub fn answer(inj: &Arc<Injector>, w: &Waking, healthy: impl Fn() -> bool + Send + Sync + 'static) {
    let arn = w.service_arn.clone();
    let svc = w.clone();
    inj.add(
        Rule::answering("ECS", "DescribeServices", When::Instead, move || {
            service(&svc)
        })
        .input::<DescribeServicesInput>(move |i| i.services().contains(&arn)),
    );
    let name = w.service_name();
    let task = w.task_arn();
    inj.add(
        Rule::answering("ECS", "ListTasks", When::Instead, move || {
            Fake::ecs_ok(json!({ "taskArns": [task.clone()] }))
        })
        .input::<ListTasksInput>(move |l| {
            l.service_name() == Some(name.as_str())
                && l.desired_status() != Some(&DesiredStatus::Stopped)
        }),
    );
    let name = w.service_name();
    inj.add(
        Rule::answering("ECS", "ListTasks", When::Instead, || {
            Fake::ecs_ok(json!({ "taskArns": [] }))
        })
        .input::<ListTasksInput>(move |l| {
            l.service_name() == Some(name.as_str())
                && l.desired_status() == Some(&DesiredStatus::Stopped)
        }),
    );
    let t = w.clone();
    inj.add(Rule::answering(
        "ECS",
        "DescribeTasks",
        When::Instead,
        move || Fake::ecs_ok(json!({ "tasks": [task_json(&t)], "failures": [] })),
    ));
    let tg = w.target_group.clone();
    inj.add(
        Rule::answering(
            "Elastic Load Balancing v2",
            "DescribeTargetHealth",
            When::Instead,
            move || health(healthy()),
        )
        .input::<DescribeTargetHealthInput>(move |i| i.target_group_arn() == Some(tg.as_str())),
    );
}

fn service(w: &Waking) -> Fake {
    Fake::ecs_ok(json!({
        "services": [{
            "serviceArn": w.service_arn,
            "serviceName": w.service_name(),
            "clusterArn": format!("arn:aws:ecs:{REGION}:123456789012:cluster/{}", w.cluster),
            "status": "ACTIVE",
            "desiredCount": 1,
            "runningCount": 1,
            "pendingCount": 0,
            "launchType": "FARGATE",
            "taskDefinition": TD,
            "deployments": [{
                "id": "ecs-svc/3333333333333333333",
                "status": "PRIMARY",
                "taskDefinition": TD,
                "desiredCount": 1,
                "pendingCount": 0,
                "runningCount": 1,
                "failedTasks": 0,
                "createdAt": 1_764_900_000.0,
                "updatedAt": 1_764_900_001.0,
                "launchType": "FARGATE",
                "rolloutState": "IN_PROGRESS",
                "rolloutStateReason": "ECS deployment ecs-svc/3333333333333333333 in progress.",
            }],
            "events": [],
        }],
        "failures": []
    }))
}

fn task_json(w: &Waking) -> serde_json::Value {
    json!({
        "taskArn": w.task_arn(),
        "clusterArn": format!("arn:aws:ecs:{REGION}:123456789012:cluster/{}", w.cluster),
        "taskDefinitionArn": TD,
        "lastStatus": "RUNNING",
        "desiredStatus": "RUNNING",
        "launchType": "FARGATE",
        "group": format!("service:{}", w.service_name()),
        "startedBy": "ecs-svc/3333333333333333333",
        "attachments": [{
            "id": "6f7a8b9c",
            "type": "ElasticNetworkInterface",
            "status": "ATTACHED",
            "details": [
                { "name": "networkInterfaceId", "value": "eni-0b1c2d3e4f5a" },
                { "name": "privateIPv4Address", "value": IP }
            ]
        }],
        "containers": [{ "name": "app", "lastStatus": "RUNNING", "taskArn": w.task_arn() }],
        "createdAt": 1_764_900_001.0,
    })
}

fn health(healthy: bool) -> Fake {
    let state = if healthy {
        "<State>healthy</State>".to_string()
    } else {
        "<State>initial</State><Reason>Elb.RegistrationInProgress</Reason><Description>Target registration is in progress</Description>".to_string()
    };
    Fake::elbv2_ok(
        "DescribeTargetHealth",
        &format!(
            "    <TargetHealthDescriptions>\n      <member>\n        <Target><Id>{IP}</Id><Port>8080</Port></Target>\n        <HealthCheckPort>8080</HealthCheckPort>\n        <TargetHealth>{state}</TargetHealth>\n      </member>\n    </TargetHealthDescriptions>"
        ),
    )
}
