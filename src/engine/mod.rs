//! The engine: create-or-deploy, delete and list for one (profile, environment).
//! It knows nothing of GitHub; every AWS call goes through [`crate::aws::Aws`].

pub mod clone;
pub mod create;
pub mod delete;
pub mod endpoints_file;
pub mod error;
pub mod heartbeat;
pub mod lease;
pub mod list;
pub mod precheck;
pub mod rule;
pub mod sleep;
pub mod state;
pub mod steps;
pub mod table;
pub mod tags;
pub mod unlock;
pub mod wait;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::aws::Aws;
use crate::profile::Profile;
pub use error::{Error, ErrorKind};
pub use lease::LeaseSettings;
pub use steps::Steps;

/// What a run did to the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Created,
    Deployed,
    Deleted,
    Absent,
    /// `eden sleep`: the preview is asleep (also when it already was: then `steps` is empty).
    Slept,
    /// `eden wake`: the preview is awake (also when it already was: then `woke` is false).
    Woke,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Deployed => "deployed",
            Action::Deleted => "deleted",
            Action::Absent => "absent",
            Action::Slept => "slept",
            Action::Woke => "woke",
        }
    }
}

/// The result of create, deploy or delete (also one row of `ls`).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Outcome {
    pub profile: String,
    pub environment: String,
    pub hostname: Option<String>,
    pub url: Option<String>,
    pub service_arn: Option<String>,
    pub target_group_arn: Option<String>,
    pub task_definition_arn: Option<String>,
    pub rule_arn: Option<String>,
    /// `created` | `deployed` | `deleted` | `absent`; `null` in `ls` rows (see `status`).
    pub action: Option<Action>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<steps::Step>,
    /// The Route 53 change that wrote the hostname's records (create and deploy): the
    /// readiness wait checks it is INSYNC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_change_id: Option<String>,
    /// Asleep or half-way (`ls` rows, sleep and wake results); `None`: awake.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sleep: Option<state::Sleep>,
    /// `ls` rows of complete environments: "awake", "asleep since 14:02 UTC", "going to sleep"
    /// or "waking".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// When a wake (or a deploy that woke it) last made it serve again (RFC 3339; `ls` rows and
    /// results).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_woken: Option<String>,
    /// This run made a sleeping preview serve again: a wake, or a deploy to a sleeping preview.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub woke: bool,
}

/// Everything an operation needs besides its request.
#[derive(Debug, Clone)]
pub struct Engine {
    pub aws: Aws,
    pub table: String,
    pub lease: LeaseSettings,
    /// Cancelled by the first SIGINT/SIGTERM (the process token, see [`crate::cancel`]):
    /// create and delete stop at their next safe point and release the lease.
    pub cancel: tokio_util::sync::CancellationToken,
}

/// One create-or-deploy request.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub environment: String,
    pub image_uri: String,
    /// Optional caller metadata stored on the state item (repository, pr_number, head_sha, …).
    pub metadata: BTreeMap<String, String>,
    /// Environment variables set (added or replaced) in the target container of the cloned task
    /// definition, in order. Names are validated by the caller (`preview::env`).
    pub env: Vec<(String, String)>,
}

impl Engine {
    pub fn new(aws: Aws, table: impl Into<String>) -> Engine {
        Engine {
            aws,
            table: table.into(),
            lease: LeaseSettings::from_env(),
            cancel: crate::cancel::process_token(),
        }
    }

    /// A safe point between steps: stop here if the process was asked to stop.
    pub(crate) fn checkpoint(
        &self,
        operation: &'static str,
        target: &str,
        steps: &Steps,
    ) -> Result<(), crate::cancel::Interrupted> {
        if !self.cancel.is_cancelled() {
            return Ok(());
        }
        Err(crate::cancel::Interrupted {
            operation,
            target: target.to_string(),
            done: steps.changes(),
        })
    }

    /// Create-or-deploy one environment. Errors are typed ([`Error`]): a caller maps them to
    /// a status or an exit code without reading their text.
    pub async fn create(&self, profile: &Profile, req: &CreateRequest) -> Result<Outcome, Error> {
        Ok(Box::pin(create::run(self, profile, req)).await?)
    }

    pub async fn delete(&self, profile: &Profile, environment: &str) -> Result<Outcome, Error> {
        Ok(Box::pin(delete::run(self, profile, environment)).await?)
    }

    /// Put the environment to sleep: no tasks, its rule leading to the waker (or a page saying
    /// how to wake it). Idempotent; finishes a half-done sleep or wake.
    pub async fn sleep(&self, profile: &Profile, environment: &str) -> Result<Outcome, Error> {
        Ok(Box::pin(sleep::sleep(self, profile, environment)).await?)
    }

    /// Wake the environment: its tasks back, and once they are ready (as `--wait` judges) its
    /// rule forwarding to them again. Idempotent; finishes a half-done sleep or wake.
    pub async fn wake(
        &self,
        profile: &Profile,
        environment: &str,
        wait: wait::Settings,
    ) -> Result<Outcome, Error> {
        Ok(Box::pin(sleep::wake(self, profile, environment, wait)).await?)
    }

    pub async fn list(&self, profile: Option<&str>) -> Result<Vec<Outcome>, Error> {
        Ok(Box::pin(list::run(self, profile)).await?)
    }
}

pub fn rfc3339(secs: f64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
