//! The pure half of the wait: what ECS and ELB said, turned into ready, still waiting (for
//! what), or failed (why). The new deployment serves when its tasks run, their targets (tied by
//! the task's ENI address) are healthy, every other target drains or is gone, and the DNS
//! change is INSYNC. Nothing here waits for the drain or for the rollout to be COMPLETED.

use std::collections::BTreeSet;
use std::fmt;

use super::failure::{ContainerExit, StoppedTask, TargetState, WaitFailure};

/// The service as DescribeServices reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceView {
    /// The PRIMARY deployment's task definition (the revision just deployed).
    pub task_definition: Option<String>,
    /// When the PRIMARY deployment was created (epoch seconds): older events are not its own.
    pub deployed_at: Option<f64>,
    pub rollout: Option<String>,
    pub rollout_reason: Option<String>,
    pub desired: i32,
    /// The PRIMARY deployment's failed tasks (ECS counts them with the circuit breaker).
    pub failed_tasks: i32,
    /// Newest first, as ECS returns them.
    pub events: Vec<Event>,
}

/// A service event. Not an error: ECS's account of what it does, in prose, with no code.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at: Option<f64>,
    pub message: String,
}

impl Event {
    /// Whether the event says ECS cannot start a task (placement, capacity, subnet or ENI
    /// limits, image pulls). ECS gives these events no code: their wording is all there is
    /// (the two phrases ECS's troubleshooting guide lists).
    pub fn says_no_task_starts(&self) -> bool {
        starts_no_task(&self.message)
    }
}

/// A task as DescribeTasks reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskView {
    pub arn: String,
    pub task_definition: Option<String>,
    pub last_status: Option<String>,
    pub desired_status: Option<String>,
    /// The ENI's `privateIPv4Address` (awsvpc): the target id in an `ip` target group.
    pub ip: Option<String>,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    pub containers: Vec<ContainerExit>,
}

impl TaskView {
    pub fn id(&self) -> &str {
        self.arn.rsplit('/').next().unwrap_or(&self.arn)
    }

    pub fn stopped(&self) -> bool {
        self.last_status.as_deref() == Some("STOPPED")
            || (self.desired_status.as_deref() == Some("STOPPED") && self.stop_code.is_some())
    }

    pub fn running(&self) -> bool {
        self.last_status.as_deref() == Some("RUNNING")
            && self.desired_status.as_deref() != Some("STOPPED")
    }

    pub fn stopped_task(&self) -> StoppedTask {
        StoppedTask {
            task_arn: self.arn.clone(),
            task_id: self.id().to_string(),
            stop_code: self.stop_code.clone(),
            stopped_reason: self.stopped_reason.clone(),
            containers: self
                .containers
                .iter()
                .filter(|c| c.essential || c.exit_code.is_some_and(|x| x != 0))
                .cloned()
                .collect(),
            log: None,
        }
    }
}

/// Everything the wait knows now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    pub service: ServiceView,
    /// Every task described so far, latest description.
    pub tasks: Vec<TaskView>,
    pub targets: Vec<TargetState>,
    /// Whether DescribeTargetHealth was read at all yet.
    pub targets_read: bool,
    /// The DNS change is INSYNC (or there is none to wait for).
    pub dns_insync: bool,
    /// Stopped tasks of the new deployment that are tolerated (profile: 0 by default).
    pub allowed_failures: usize,
}

/// What the wait waits for now (said while waiting, and at the timeout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    /// The new tasks to run.
    StartingTask { running: usize, desired: i32 },
    /// The new tasks' targets to pass the health check (their states now).
    HealthChecks { targets: Vec<String> },
    /// Targets that are neither the new tasks' nor draining.
    OldTargets { targets: Vec<String> },
    /// The DNS record to reach every Route 53 name server.
    Dns,
}

impl fmt::Display for Waiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Waiting::StartingTask { running, desired } => {
                write!(f, "starting task ({running}/{desired} running)")
            }
            Waiting::HealthChecks { targets } if targets.is_empty() => {
                write!(f, "health checks (no target registered yet)")
            }
            Waiting::HealthChecks { targets } => {
                write!(f, "health checks ({})", targets.join(", "))
            }
            Waiting::OldTargets { targets } => {
                write!(f, "old targets to drain ({})", targets.join(", "))
            }
            Waiting::Dns => write!(f, "DNS (the Route 53 change is not INSYNC yet)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Ready,
    Pending(Waiting),
    Failed(WaitFailure),
}

/// Ready, pending or failed, from what was seen.
pub fn assess(seen: &Seen) -> Verdict {
    if let Some(f) = failure(seen) {
        return Verdict::Failed(f);
    }
    match waiting(seen) {
        Some(w) => Verdict::Pending(w),
        None => Verdict::Ready,
    }
}

/// The tasks of the new deployment (its task definition).
pub fn new_tasks(seen: &Seen) -> impl Iterator<Item = &TaskView> {
    let td = seen.service.task_definition.clone();
    seen.tasks
        .iter()
        .filter(move |t| td.is_some() && t.task_definition == td)
}

fn failure(seen: &Seen) -> Option<WaitFailure> {
    let s = &seen.service;
    if s.rollout.as_deref() == Some("FAILED") {
        return Some(WaitFailure::RolloutFailed {
            reason: s
                .rollout_reason
                .clone()
                .unwrap_or_else(|| "the deployment circuit breaker stopped it".into()),
        });
    }
    let stopped: Vec<&TaskView> = new_tasks(seen).filter(|t| t.stopped()).collect();
    if stopped.len() > seen.allowed_failures {
        return Some(WaitFailure::TaskStopped(Box::new(
            stopped[0].stopped_task(),
        )));
    }
    let running = new_tasks(seen).filter(|t| t.running()).count();
    if running > 0 {
        return None;
    }
    s.events
        .iter()
        .filter(|e| match (e.at, s.deployed_at) {
            (Some(at), Some(since)) => at >= since,
            _ => false,
        })
        .find(|e| e.says_no_task_starts())
        .map(|e| WaitFailure::Unplaceable {
            event: e.message.clone(),
        })
}

/// A service event saying ECS cannot start a task (placement, capacity, subnet or ENI limits,
/// image pulls). ECS service events are prose with no code: their wording is all there is.
pub fn starts_no_task(event: &str) -> bool {
    let e = event.to_ascii_lowercase();
    ["unable to place a task", "failed to launch a task"]
        .iter()
        .any(|p| e.contains(p))
}

fn waiting(seen: &Seen) -> Option<Waiting> {
    let desired = seen.service.desired;
    let running: Vec<&TaskView> = new_tasks(seen).filter(|t| t.running()).collect();
    if desired > 0 && (running.len() as i32) < desired {
        return Some(Waiting::StartingTask {
            running: running.len(),
            desired,
        });
    }
    if running.iter().any(|t| t.ip.is_none()) {
        return without_addresses(seen, desired);
    }
    let ours: BTreeSet<&str> = running.iter().filter_map(|t| t.ip.as_deref()).collect();
    let target = |ip: &str| seen.targets.iter().find(|t| t.id == ip);
    let not_healthy: Vec<String> = ours
        .iter()
        .filter(|ip| target(ip).is_none_or(|t| t.state != "healthy"))
        .map(|ip| match target(ip) {
            Some(t) => t.to_string(),
            None => format!("{ip} not registered"),
        })
        .collect();
    if desired > 0 && (!seen.targets_read || !not_healthy.is_empty()) {
        return Some(Waiting::HealthChecks {
            targets: not_healthy,
        });
    }
    let old: Vec<String> = seen
        .targets
        .iter()
        .filter(|t| !ours.contains(t.id.as_str()))
        .filter(|t| !matches!(t.state.as_str(), "draining" | "unused"))
        .map(ToString::to_string)
        .collect();
    if !old.is_empty() {
        return Some(Waiting::OldTargets { targets: old });
    }
    (!seen.dns_insync).then_some(Waiting::Dns)
}

/// Tasks without an ENI address (bridge or host network mode: the targets are instance ids and
/// ports) cannot be tied to their targets: then as many healthy targets as desired tasks, and
/// none still in its first checks, stand for them.
fn without_addresses(seen: &Seen, desired: i32) -> Option<Waiting> {
    let healthy = seen.targets.iter().filter(|t| t.state == "healthy").count();
    let checking: Vec<String> = seen
        .targets
        .iter()
        .filter(|t| matches!(t.state.as_str(), "initial" | "unhealthy"))
        .map(ToString::to_string)
        .collect();
    if !seen.targets_read || (healthy as i32) < desired || !checking.is_empty() {
        return Some(Waiting::HealthChecks { targets: checking });
    }
    (!seen.dns_insync).then_some(Waiting::Dns)
}

#[cfg(test)]
mod tests;
