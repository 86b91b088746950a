//! Waiting until an environment serves: the service's deployment has completed (or, without a
//! rollout state, one deployment with running = desired) and the target group reports a
//! healthy target. The assessment is pure; the loop polls ECS and ELB.

use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum;

use crate::aws;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    /// `rolloutState` of the PRIMARY deployment (IN_PROGRESS, COMPLETED, FAILED).
    pub rollout: Option<String>,
    pub rollout_reason: Option<String>,
    pub deployments: usize,
    pub running: i32,
    pub desired: i32,
    pub healthy_targets: usize,
    pub unhealthy: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    Pending(String),
    Failed(String),
}

pub fn assess(h: &Health) -> Readiness {
    if h.rollout.as_deref() == Some("FAILED") {
        return Readiness::Failed(format!(
            "the ECS deployment failed: {}",
            h.rollout_reason
                .as_deref()
                .unwrap_or("the deployment circuit breaker stopped it")
        ));
    }
    let rolled_out = match h.rollout.as_deref() {
        Some("COMPLETED") => true,
        Some(_) => false,
        None => h.deployments == 1 && h.running >= h.desired,
    };
    if !rolled_out {
        return Readiness::Pending(format!(
            "deployment in progress ({}/{} tasks running)",
            h.running, h.desired
        ));
    }
    if h.desired > 0 && h.healthy_targets == 0 {
        let why = if h.unhealthy.is_empty() {
            "no target registered yet".to_string()
        } else {
            h.unhealthy.join(", ")
        };
        return Readiness::Pending(format!("waiting for a healthy target ({why})"));
    }
    Readiness::Ready
}

pub async fn health(
    ecs: &aws_sdk_ecs::Client,
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    cluster: &str,
    service: &str,
    target_group: &str,
) -> Result<Health> {
    let (svc, th) = tokio::join!(
        aws::ecs::service_now(ecs, cluster, service),
        aws::alb::target_health(elb, target_group),
    );
    let svc = svc?.ok_or_else(|| anyhow!("service {service} is gone"))?;
    let primary = svc
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"));
    let th = th?;
    let mut h = Health {
        rollout: primary
            .and_then(|d| d.rollout_state())
            .map(|s| s.as_str().to_string()),
        rollout_reason: primary
            .and_then(|d| d.rollout_state_reason())
            .map(str::to_string),
        deployments: svc.deployments().len(),
        running: svc.running_count(),
        desired: svc.desired_count(),
        ..Health::default()
    };
    for d in &th {
        match d.target_health().and_then(|t| t.state()) {
            Some(TargetHealthStateEnum::Healthy) => h.healthy_targets += 1,
            Some(state) => h.unhealthy.push(format!(
                "{}: {}",
                state.as_str(),
                d.target_health()
                    .and_then(|t| t.description())
                    .unwrap_or("")
            )),
            None => {}
        }
    }
    Ok(h)
}

/// Poll until ready, failed, or `timeout`.
pub async fn until_ready(
    ecs: &aws_sdk_ecs::Client,
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    cluster: &str,
    service: &str,
    target_group: &str,
    timeout: Duration,
    interval: Duration,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let h = health(ecs, elb, cluster, service, target_group).await?;
        match assess(&h) {
            Readiness::Ready => return Ok(()),
            Readiness::Failed(why) => bail!("{why}"),
            Readiness::Pending(why) => {
                if tokio::time::Instant::now() + interval > deadline {
                    bail!("not ready after {} s: {why}", timeout.as_secs());
                }
                tracing::info!("{service}: {why}");
                tokio::time::sleep(interval).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assessment() {
        let mut h = Health {
            rollout: Some("IN_PROGRESS".into()),
            deployments: 2,
            running: 0,
            desired: 1,
            ..Default::default()
        };
        assert!(matches!(assess(&h), Readiness::Pending(_)));
        h.rollout = Some("COMPLETED".into());
        assert!(matches!(assess(&h), Readiness::Pending(ref w) if w.contains("healthy target")));
        h.healthy_targets = 1;
        assert_eq!(assess(&h), Readiness::Ready);
        h.rollout = Some("FAILED".into());
        h.rollout_reason = Some("tasks failed to start".into());
        assert!(
            matches!(assess(&h), Readiness::Failed(ref w) if w.contains("tasks failed to start"))
        );
        let legacy = Health {
            rollout: None,
            deployments: 1,
            running: 2,
            desired: 2,
            healthy_targets: 2,
            ..Default::default()
        };
        assert_eq!(assess(&legacy), Readiness::Ready);
    }
}
