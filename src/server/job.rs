//! The unit of work: one pull request (the queue key) and what to do about it. Jobs are
//! serialisable (they travel through SQS) and small: never the raw payload. Repository, PR
//! number and SHA are typed (`github::ids`) and serialised as before (bare string / number).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::github::event::PrEvent;
use crate::github::ids::{CommitSha, PrNumber, RepoName};

/// One pull request: jobs with the same key run one at a time, in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PrKey {
    /// `owner/name` of the base repository.
    pub repo: RepoName,
    pub number: PrNumber,
}

impl PrKey {
    pub fn new(repo: impl Into<RepoName>, number: impl Into<PrNumber>) -> PrKey {
        PrKey {
            repo: repo.into(),
            number: number.into(),
        }
    }
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
        sha: Option<CommitSha>,
    },
    /// Look again: an image may now exist for `head_sha` (workflow_run / check_suite
    /// completed), or the reconcile loop found the preview missing or behind.
    Recheck { head_sha: Option<CommitSha> },
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The wire format (SQS messages) is the one jobs had before the ids were typed.
    #[test]
    fn jobs_keep_their_wire_format() {
        let job = Job {
            key: PrKey::new("o/r", 7),
            work: Work::Command {
                command: ChatCommand::Deploy,
                user: "octocat".into(),
                sha: Some(CommitSha::from("ec26c3e")),
            },
            delivery: "d-1".into(),
            installation: Some(3),
        };
        let wire = json!({
            "key": {"repo": "o/r", "number": 7},
            "work": {"kind": "command", "command": "deploy", "user": "octocat", "sha": "ec26c3e"},
            "delivery": "d-1",
            "installation": 3
        });
        assert_eq!(serde_json::to_value(&job).unwrap(), wire);
        assert_eq!(serde_json::from_value::<Job>(wire).unwrap(), job);
        let recheck = json!({"kind": "recheck", "head_sha": "abc1234"});
        assert_eq!(
            serde_json::from_value::<Work>(recheck).unwrap(),
            Work::Recheck {
                head_sha: Some("abc1234".into())
            }
        );
    }
}
