//! ECS and ELB answers turned into the assessment's views, and the log tail of a stopped task.

use aws_sdk_ecs::types::{Service, Task};
use aws_sdk_elasticloadbalancingv2::types::TargetHealthDescription;

use super::assess::{Event, ServiceView, TaskView};
use super::failure::{ContainerExit, LogTail, StoppedTask, TargetState};
use crate::aws::{self, Aws};

/// How many log lines a failure shows.
pub const LOG_LINES: i32 = 30;

pub fn service_view(svc: &Service) -> ServiceView {
    let primary = svc
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"));
    ServiceView {
        task_definition: primary
            .and_then(|d| d.task_definition())
            .map(str::to_string),
        deployed_at: primary
            .and_then(|d| d.created_at())
            .map(|t| t.as_secs_f64()),
        rollout: primary
            .and_then(|d| d.rollout_state())
            .map(|s| s.as_str().to_string()),
        rollout_reason: primary
            .and_then(|d| d.rollout_state_reason())
            .map(str::to_string),
        desired: svc.desired_count(),
        failed_tasks: primary.map(|d| d.failed_tasks()).unwrap_or_default(),
        events: svc
            .events()
            .iter()
            .map(|e| Event {
                at: e.created_at().map(|t| t.as_secs_f64()),
                message: e.message().unwrap_or_default().to_string(),
            })
            .collect(),
    }
}

pub fn task_view(t: &Task) -> TaskView {
    let ip = t
        .attachments()
        .iter()
        .flat_map(|a| a.details())
        .find(|d| d.name() == Some("privateIPv4Address"))
        .and_then(|d| d.value())
        .map(str::to_string);
    TaskView {
        arn: t.task_arn().unwrap_or_default().to_string(),
        task_definition: t.task_definition_arn().map(str::to_string),
        last_status: t.last_status().map(str::to_string),
        desired_status: t.desired_status().map(str::to_string),
        ip,
        stop_code: t.stop_code().map(|c| c.as_str().to_string()),
        stopped_reason: t.stopped_reason().map(str::to_string),
        // DescribeTasks does not say which containers are essential: the task definition
        // does (`with_essentials`, on failure only).
        containers: t
            .containers()
            .iter()
            .map(|c| ContainerExit {
                name: c.name().unwrap_or_default().to_string(),
                essential: true,
                exit_code: c.exit_code(),
                reason: c.reason().map(str::to_string),
            })
            .collect(),
    }
}

pub fn target_state(d: &TargetHealthDescription) -> TargetState {
    let h = d.target_health();
    TargetState {
        id: d
            .target()
            .and_then(|t| t.id())
            .unwrap_or_default()
            .to_string(),
        port: d.target().and_then(|t| t.port()),
        state: h
            .and_then(|h| h.state())
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        reason: h.and_then(|h| h.reason()).map(|r| r.as_str().to_string()),
        description: h.and_then(|h| h.description()).map(str::to_string),
    }
}

/// The stopped task with what its task definition adds: which containers are essential, and
/// the tail of the log of the one that failed (the first essential container that exited
/// non-zero or has a reason, else the first essential one), when it logs with `awslogs`.
pub async fn explain(aws: &Aws, region: &str, task: &TaskView) -> StoppedTask {
    let mut stopped = task.stopped_task();
    let td = match task.task_definition.as_deref() {
        Some(arn) => aws::ecs::find_task_definition(aws, arn).await,
        None => Ok(None),
    };
    let td = match td {
        Ok(Some((td, _))) => td,
        Ok(None) => return stopped,
        Err(e) => {
            tracing::warn!("reading the task definition of a stopped task failed: {e:#}");
            return stopped;
        }
    };
    let defs = td.container_definitions();
    let essential = |name: &str| {
        defs.iter()
            .find(|c| c.name() == Some(name))
            .is_none_or(|c| c.essential().unwrap_or(true))
    };
    stopped.containers = task
        .containers
        .iter()
        .map(|c| ContainerExit {
            essential: essential(&c.name),
            ..c.clone()
        })
        .filter(|c| c.essential || c.exit_code.is_some_and(|x| x != 0))
        .collect();
    let culprit = stopped
        .containers
        .iter()
        .filter(|c| c.essential)
        .find(|c| c.exit_code.is_some_and(|x| x != 0) || c.reason.is_some())
        .or_else(|| stopped.containers.iter().find(|c| c.essential))
        .map(|c| c.name.clone());
    if let Some(name) = culprit {
        let def = defs.iter().find(|c| c.name() == Some(name.as_str()));
        stopped.log = log_tail(aws, region, def, &name, task.id()).await;
    }
    stopped
}

/// The container's `awslogs` stream (`prefix/container/task-id`) and its last lines.
async fn log_tail(
    aws: &Aws,
    default_region: &str,
    def: Option<&aws_sdk_ecs::types::ContainerDefinition>,
    container: &str,
    task_id: &str,
) -> Option<LogTail> {
    let conf = def?.log_configuration()?;
    if conf.log_driver().as_str() != "awslogs" {
        return None;
    }
    let opts = conf.options()?;
    let group = opts.get("awslogs-group")?.clone();
    let prefix = opts.get("awslogs-stream-prefix")?;
    let region = opts
        .get("awslogs-region")
        .cloned()
        .unwrap_or_else(|| default_region.to_string());
    let stream = format!("{prefix}/{container}/{task_id}");
    let lines = match aws::logs::tail(aws, &region, &group, &stream, LOG_LINES).await {
        Ok(l) => l.unwrap_or_default(),
        Err(e) => {
            tracing::warn!("reading the log of a stopped task failed: {e:#}");
            Vec::new()
        }
    };
    Some(LogTail {
        container: container.to_string(),
        console_url: aws::logs::console_url(&region, &group, &stream),
        group,
        stream,
        region,
        lines,
    })
}
