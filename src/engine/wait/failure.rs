//! Why a deploy is not ready: one type, a one-line `Display` for logs and stderr, and the
//! details (exit codes, the log tail, the console link, target states) as fields for JSON and
//! the comment.

use std::fmt;

use serde::Serialize;

use crate::aws::alb::HealthCheck;

/// A deploy that will not serve, or did not in time.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WaitFailure {
    /// A task of the new deployment stopped.
    TaskStopped(Box<StoppedTask>),
    /// ECS says why it starts no task (a service event).
    Unplaceable { event: String },
    /// ECS itself gave up on the deployment (circuit breaker).
    RolloutFailed { reason: String },
    /// The new tasks run, but their targets never passed the health check.
    Unhealthy(Box<Unhealthy>),
    /// Out of time while still waiting for something else.
    Timeout {
        waiting_for: String,
        after_secs: u64,
    },
    /// The service is gone (deleted meanwhile).
    ServiceGone { service: String },
}

impl WaitFailure {
    /// A short, stable name per kind (metrics; JSON's `kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            WaitFailure::TaskStopped(_) => "task_stopped",
            WaitFailure::Unplaceable { .. } => "unplaceable",
            WaitFailure::RolloutFailed { .. } => "rollout_failed",
            WaitFailure::Unhealthy(_) => "unhealthy",
            WaitFailure::Timeout { .. } => "timeout",
            WaitFailure::ServiceGone { .. } => "service_gone",
        }
    }

    /// The log tail, when the failure has one.
    pub fn log(&self) -> Option<&LogTail> {
        match self {
            WaitFailure::TaskStopped(t) => t.log.as_ref(),
            _ => None,
        }
    }
}

/// A stopped task of the new deployment, as ECS tells it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoppedTask {
    pub task_arn: String,
    pub task_id: String,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    /// Every essential container (and any other that exited non-zero).
    pub containers: Vec<ContainerExit>,
    pub log: Option<LogTail>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerExit {
    pub name: String,
    pub essential: bool,
    pub exit_code: Option<i32>,
    /// `CannotPullContainerError: …`, `OutOfMemoryError: …`, `ResourceInitializationError: …`
    pub reason: Option<String>,
}

/// The end of a container's log (the `awslogs` driver's stream) and where to read the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogTail {
    pub container: String,
    pub group: String,
    pub stream: String,
    pub region: String,
    pub console_url: String,
    /// The last lines, oldest first (at most 30); empty when the stream has none yet.
    pub lines: Vec<String>,
}

/// Targets of the new tasks that never passed the health check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unhealthy {
    pub targets: Vec<TargetState>,
    pub health_check: Option<HealthCheck>,
    /// Since the first failed check this wait saw.
    pub failing_secs: u64,
}

/// One target as ELB reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetState {
    pub id: String,
    pub port: Option<i32>,
    /// `initial`, `healthy`, `unhealthy`, `draining`, `unused`, `unavailable`.
    pub state: String,
    /// `Target.ResponseCodeMismatch`, `Target.Timeout`, `Target.FailedHealthChecks`, …
    pub reason: Option<String>,
    /// ELB's words: "Health checks failed with these codes: [404]".
    pub description: Option<String>,
}

impl fmt::Display for TargetState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.id)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, " {}", self.state)?;
        if let Some(r) = &self.reason {
            write!(f, " ({r}")?;
            match &self.description {
                Some(d) => write!(f, ": {d})")?,
                None => write!(f, ")")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for ContainerExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "container {}", self.name)?;
        if let Some(c) = self.exit_code {
            write!(f, " exited {c}")?;
        }
        if let Some(r) = &self.reason {
            write!(f, ": {r}")?;
        }
        Ok(())
    }
}

impl fmt::Display for StoppedTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {} stopped", self.task_id)?;
        match (&self.stop_code, &self.stopped_reason) {
            (Some(c), Some(r)) => write!(f, " ({c}: {r})")?,
            (Some(c), None) => write!(f, " ({c})")?,
            (None, Some(r)) => write!(f, " ({r})")?,
            (None, None) => {}
        }
        let told: Vec<String> = self
            .containers
            .iter()
            .filter(|c| c.exit_code.is_some_and(|x| x != 0) || c.reason.is_some())
            .map(ToString::to_string)
            .collect();
        if !told.is_empty() {
            write!(f, "; {}", told.join("; "))?;
        }
        Ok(())
    }
}

impl fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the health check never passed")?;
        if let Some(h) = &self.health_check {
            let path = h.path.as_deref().unwrap_or("/");
            let port = h.port.as_deref().unwrap_or("traffic-port");
            write!(
                f,
                " ({} {path} on port {port}",
                h.protocol.as_deref().unwrap_or("HTTP")
            )?;
            if let Some(m) = &h.matcher {
                write!(f, ", expecting {m}")?;
            }
            write!(f, ")")?;
        }
        write!(f, ", failing for {} s", self.failing_secs)?;
        let targets: Vec<String> = self.targets.iter().map(ToString::to_string).collect();
        if !targets.is_empty() {
            write!(f, ": {}", targets.join(", "))?;
        }
        Ok(())
    }
}

impl fmt::Display for WaitFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitFailure::TaskStopped(t) => t.fmt(f),
            WaitFailure::Unplaceable { event } => write!(f, "ECS starts no task: {event}"),
            WaitFailure::RolloutFailed { reason } => {
                write!(f, "the ECS deployment failed: {reason}")
            }
            WaitFailure::Unhealthy(u) => u.fmt(f),
            WaitFailure::Timeout {
                waiting_for,
                after_secs,
            } => write!(f, "not ready after {after_secs} s: {waiting_for}"),
            WaitFailure::ServiceGone { service } => write!(f, "service {service} is gone"),
        }
    }
}

impl std::error::Error for WaitFailure {}

impl WaitFailure {
    /// The lines under the one-line reason, for people: the log tail and where to read the
    /// rest, or each target's state.
    pub fn details(&self) -> Vec<String> {
        match self {
            WaitFailure::TaskStopped(t) => match &t.log {
                Some(l) => {
                    let mut out = vec![format!(
                        "last {} log lines of container {} ({} {}):",
                        l.lines.len(),
                        l.container,
                        l.group,
                        l.stream
                    )];
                    out.extend(l.lines.iter().map(|x| format!("  {x}")));
                    out.push(format!("logs: {}", l.console_url));
                    out
                }
                None => Vec::new(),
            },
            WaitFailure::Unhealthy(u) => u.targets.iter().map(|t| format!("target {t}")).collect(),
            _ => Vec::new(),
        }
    }
}
