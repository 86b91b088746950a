//! The unit of work: one pull request (the queue key) and what to do about it. Jobs are
//! serialisable (they travel through SQS) and small: never the raw payload.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::github::event::PrEvent;

/// One pull request: jobs with the same key run one at a time, in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PrKey {
    /// `owner/name` of the base repository.
    pub repo: String,
    pub number: u64,
}

impl fmt::Display for PrKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.repo, self.number)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatCommand {
    Deploy,
    Delete,
}

/// What to do about the pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // a few jobs per PR, short-lived
pub enum Work {
    /// A `pull_request` event: decided (deploy / delete / skip) when it runs.
    Event(PrEvent),
    /// `/eden deploy` or `/eden delete` commented by `user` (write access is checked when it
    /// runs). `sha`: the head the command pins (`/eden deploy <sha>`), else the head read first
    /// thing when the job runs.
    Command {
        command: ChatCommand,
        user: String,
        sha: Option<String>,
    },
    /// Look again: an image may now exist for `head_sha` (workflow_run / check_suite
    /// completed), or the reconcile loop found the preview missing or behind.
    Recheck { head_sha: Option<String> },
}

impl Work {
    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Work::Event(e) if e.action == "closed" => "close",
            Work::Event(_) => "event",
            Work::Command {
                command: ChatCommand::Deploy,
                ..
            } => "command_deploy",
            Work::Command {
                command: ChatCommand::Delete,
                ..
            } => "command_delete",
            Work::Recheck { .. } => "recheck",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub key: PrKey,
    pub work: Work,
    /// `X-GitHub-Delivery` (or `reconcile-…`), for logs.
    pub delivery: String,
    /// The GitHub App installation the delivery came from, if any.
    #[serde(default)]
    pub installation: Option<u64>,
}

/// What happens to a pending job when `new` arrives for the same pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    /// `new` takes the pending slot (an older pending job, if any, is superseded).
    Replace,
    /// `new` adds nothing to the pending job (a recheck behind a real job).
    Drop,
}

/// The one rule for coalescing: the newest job about a PR wins, except that a recheck never
/// queues behind or displaces other work (every job looks at the PR as it is now, so the
/// running or pending one converges it; a running one is woken instead).
pub fn merge(running: bool, pending: Option<&Job>, new: &Job) -> Merge {
    let recheck = |w: &Work| matches!(w, Work::Recheck { .. });
    match (pending, &new.work) {
        (Some(p), w) if recheck(w) && !recheck(&p.work) => Merge::Drop,
        (None, w) if recheck(w) && running => Merge::Drop,
        _ => Merge::Replace,
    }
}

/// Whether `new` makes a running job for the same PR pointless to continue (it is told to stop
/// at its next safe point: image wait, or before the engine starts).
pub fn supersedes_running(new: &Job) -> bool {
    !matches!(new.work, Work::Recheck { .. })
}
