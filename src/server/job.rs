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
    /// `/eden sleep`: the PR's preview goes to sleep now.
    Sleep,
    /// `/eden wake`: the PR's preview wakes now.
    Wake,
}

/// Why a sleep job was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SleepCause {
    /// The reconcile loop found it idle for its repository's `sleep_after` (`src/idle.rs`);
    /// the runner checks the PR's `keep_awake_label` first.
    Idle,
    /// The reconcile loop found a sleep half done (phase `Sleeping`).
    Finish,
}

/// Why a wake job was queued (`/eden wake` is a [`Work::Command`], a push a deploy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WakeCause {
    /// A request reached the waker (src/server/waker.rs).
    Request,
    /// The reconcile loop found a wake half done (phase `Waking`).
    Finish,
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
    /// Put the PR's preview, `environment`, to sleep (every profile of it).
    Sleep {
        cause: SleepCause,
        environment: String,
    },
    /// Wake the PR's preview, `environment`.
    Wake {
        cause: WakeCause,
        environment: String,
    },
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
            Work::Command {
                command: ChatCommand::Sleep,
                ..
            } => "command_sleep",
            Work::Command {
                command: ChatCommand::Wake,
                ..
            } => "command_wake",
            Work::Recheck { .. } => "recheck",
            Work::Sleep { .. } => "sleep",
            Work::Wake { .. } => "wake",
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

/// The one rule for coalescing: the newest job about a PR wins, except that
/// - a recheck or an idle sleep never queues behind or displaces other work (every job looks
///   at the PR as it is now, so the running or pending one converges it; the next reconcile
///   round asks again);
/// - a wake is absorbed by a pending job that wakes anyway (a wake, a deploy) or removes the
///   preview (a delete): many requests to a sleeping preview queue one wake.
pub fn merge(running: bool, pending: Option<&Job>, new: &Job) -> Merge {
    let background = |w: &Work| {
        matches!(
            w,
            Work::Recheck { .. }
                | Work::Sleep {
                    cause: SleepCause::Idle,
                    ..
                }
        )
    };
    match (pending, &new.work) {
        (Some(p), w) if background(w) && !matches!(p.work, Work::Recheck { .. }) => Merge::Drop,
        (None, w) if background(w) && running => Merge::Drop,
        (Some(p), Work::Wake { .. }) if wakes_or_removes(&p.work) => Merge::Drop,
        _ => Merge::Replace,
    }
}

/// A job that leaves the preview awake or gone.
fn wakes_or_removes(w: &Work) -> bool {
    match w {
        Work::Event(_) | Work::Wake { .. } => true,
        Work::Command { command, .. } => *command != ChatCommand::Sleep,
        Work::Recheck { .. } | Work::Sleep { .. } => false,
    }
}

/// Whether `new` makes a running job for the same PR pointless to continue (it is told to stop
/// at its next safe point: image wait, or before the engine starts). Background work (a
/// recheck, a sleep or wake the server queued itself) never stops a running job.
pub fn supersedes_running(new: &Job) -> bool {
    matches!(new.work, Work::Event(_) | Work::Command { .. })
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
        // Issue 17: sleep and wake.
        let wire = [
            (
                json!({"kind": "sleep", "cause": "idle", "environment": "pr-7"}),
                Work::Sleep {
                    cause: SleepCause::Idle,
                    environment: "pr-7".into(),
                },
            ),
            (
                json!({"kind": "sleep", "cause": "finish", "environment": "pr-7"}),
                Work::Sleep {
                    cause: SleepCause::Finish,
                    environment: "pr-7".into(),
                },
            ),
            (
                json!({"kind": "wake", "cause": "request", "environment": "pr-7"}),
                Work::Wake {
                    cause: WakeCause::Request,
                    environment: "pr-7".into(),
                },
            ),
            (
                json!({"kind": "wake", "cause": "finish", "environment": "pr-7"}),
                Work::Wake {
                    cause: WakeCause::Finish,
                    environment: "pr-7".into(),
                },
            ),
            (
                json!({"kind": "command", "command": "sleep", "user": "u", "sha": null}),
                Work::Command {
                    command: ChatCommand::Sleep,
                    user: "u".into(),
                    sha: None,
                },
            ),
            (
                json!({"kind": "command", "command": "wake", "user": "u", "sha": null}),
                Work::Command {
                    command: ChatCommand::Wake,
                    user: "u".into(),
                    sha: None,
                },
            ),
        ];
        for (json, work) in wire {
            assert_eq!(serde_json::to_value(&work).unwrap(), json);
            assert_eq!(serde_json::from_value::<Work>(json).unwrap(), work);
        }
    }

    fn job(work: Work) -> Job {
        Job {
            key: PrKey::new("o/r", 7),
            work,
            delivery: "d".into(),
            installation: None,
        }
    }

    #[test]
    fn many_wakes_queue_one_and_idle_sleeps_stay_in_the_background() {
        let wake = job(Work::Wake {
            cause: WakeCause::Request,
            environment: "pr-7".into(),
        });
        let sleep = job(Work::Sleep {
            cause: SleepCause::Idle,
            environment: "pr-7".into(),
        });
        let deploy = job(Work::Command {
            command: ChatCommand::Deploy,
            user: "u".into(),
            sha: None,
        });
        let recheck = job(Work::Recheck { head_sha: None });
        // The first wake queues; the next ones see it pending.
        assert_eq!(merge(false, None, &wake), Merge::Replace);
        assert_eq!(merge(false, Some(&wake), &wake), Merge::Drop);
        assert_eq!(merge(true, Some(&wake), &wake), Merge::Drop);
        // A pending deploy wakes anyway; a pending sleep is replaced by the wake.
        assert_eq!(merge(false, Some(&deploy), &wake), Merge::Drop);
        assert_eq!(merge(false, Some(&sleep), &wake), Merge::Replace);
        assert_eq!(merge(false, Some(&recheck), &wake), Merge::Replace);
        // An idle sleep never waits behind or displaces real work.
        assert_eq!(merge(true, None, &sleep), Merge::Drop);
        assert_eq!(merge(false, Some(&wake), &sleep), Merge::Drop);
        assert_eq!(merge(false, Some(&recheck), &sleep), Merge::Replace);
        assert_eq!(merge(false, None, &sleep), Merge::Replace);
        // Only what people ask for stops a running job.
        assert!(supersedes_running(&deploy));
        assert!(!supersedes_running(&wake));
        assert!(!supersedes_running(&sleep));
        assert!(!supersedes_running(&recheck));
    }
}
