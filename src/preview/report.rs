//! What a PR run did, typed: the caller (Action or server) turns it into outputs, a job
//! summary, an HTTP answer or log lines.

use crate::engine::{Action, Outcome};
pub use crate::github::api::DeploymentState;
use crate::github::decide::Decision;

/// The run's result as one word (the Action's `action` output).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrAction {
    Created,
    Deployed,
    Deleted,
    /// A delete found nothing to delete.
    Absent,
    /// Every profile's environment is asleep (`Command::Sleep`).
    Slept,
    /// Every profile's environment is awake (`Command::Wake`).
    Woke,
    /// Nothing was done (the decision, a dry run).
    Skipped,
    /// At least one profile failed.
    Failed,
}

impl PrAction {
    pub fn as_str(self) -> &'static str {
        match self {
            PrAction::Created => "created",
            PrAction::Deployed => "deployed",
            PrAction::Deleted => "deleted",
            PrAction::Absent => "absent",
            PrAction::Slept => "slept",
            PrAction::Woke => "woke",
            PrAction::Skipped => "skipped",
            PrAction::Failed => "failed",
        }
    }
}

/// One profile's part of a run.
#[derive(Debug)]
pub struct ProfileRun {
    pub profile: String,
    pub result: anyhow::Result<Outcome>,
}

impl ProfileRun {
    /// Why its wait failed, when it did (found by type in the error chain).
    pub fn wait_failure(&self) -> Option<&crate::engine::wait::WaitFailure> {
        let e = self.result.as_ref().err()?;
        e.chain().find_map(|c| c.downcast_ref())
    }
}

/// What happened on the GitHub side.
#[derive(Debug, Default)]
pub struct GitHubSide {
    /// The sticky comment's id, when there is one.
    pub comment_id: Option<u64>,
    /// The deployment created (deploys) and the last state set on it.
    pub deployment: Option<(u64, DeploymentState)>,
    /// Deployments marked inactive (deletes).
    pub inactivated: Vec<u64>,
    /// The comment or a deployment status could not be written.
    pub error: Option<anyhow::Error>,
}

#[derive(Debug)]
pub struct Report {
    pub environment: String,
    pub decision: Decision,
    pub action: PrAction,
    pub runs: Vec<ProfileRun>,
    pub github: GitHubSide,
}

impl Report {
    pub fn skipped(environment: &str, decision: Decision) -> Report {
        Report {
            environment: environment.to_string(),
            decision,
            action: PrAction::Skipped,
            runs: Vec::new(),
            github: GitHubSide::default(),
        }
    }

    /// Outcomes of the profiles that succeeded, in profile order.
    pub fn outcomes(&self) -> impl Iterator<Item = &Outcome> {
        self.runs.iter().filter_map(|r| r.result.as_ref().ok())
    }

    /// `profile: error` for every profile that failed.
    pub fn failures(&self) -> Vec<String> {
        failures(&self.runs)
    }

    /// Everything went through, GitHub included.
    pub fn ok(&self) -> bool {
        self.action != PrAction::Failed && self.github.error.is_none()
    }

    /// The first URL of the environment.
    pub fn url(&self) -> Option<&str> {
        self.outcomes().find_map(|o| o.url.as_deref())
    }
}

pub(crate) fn failures(runs: &[ProfileRun]) -> Vec<String> {
    runs.iter()
        .filter_map(|r| {
            r.result
                .as_ref()
                .err()
                .map(|e| format!("{}: {e:#}", r.profile))
        })
        .collect()
}

/// The one-word result of engine runs (`deleting` picks deleted/absent over created/deployed).
pub(crate) fn action_of(runs: &[ProfileRun], deleting: bool) -> PrAction {
    let done = |a: Action| {
        runs.iter()
            .any(|r| r.result.as_ref().is_ok_and(|o| o.action == Some(a)))
    };
    if runs.iter().any(|r| r.result.is_err()) {
        PrAction::Failed
    } else if deleting {
        if done(Action::Deleted) {
            PrAction::Deleted
        } else {
            PrAction::Absent
        }
    } else if done(Action::Created) {
        PrAction::Created
    } else {
        PrAction::Deployed
    }
}
