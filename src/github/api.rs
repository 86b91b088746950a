//! The REST calls the action makes (octocrab, at `GITHUB_API_URL`, so GitHub Enterprise works).
//! Comments are edited with PATCH, as GitHub documents.

use std::sync::Arc;

use anyhow::{anyhow, Result};
use octocrab::Octocrab;
use serde_json::{json, Value};

use super::event::PrState;

/// A deployment status state (the REST values GitHub accepts that eden uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentState {
    InProgress,
    Success,
    Failure,
    Inactive,
}

impl DeploymentState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentState::InProgress => "in_progress",
            DeploymentState::Success => "success",
            DeploymentState::Failure => "failure",
            DeploymentState::Inactive => "inactive",
        }
    }
}

/// One issue comment, as much of it as eden looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueComment {
    pub id: u64,
    pub body: String,
    /// `user.login` (`github-actions[bot]`, `my-app[bot]`, `octocat`).
    pub login: String,
    /// Written by a GitHub App (`user.type == "Bot"` or `performed_via_github_app` set), not
    /// by a person.
    pub by_app: bool,
}

impl IssueComment {
    fn from_json(c: &Value) -> Option<IssueComment> {
        let login = c
            .pointer("/user/login")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Some(IssueComment {
            id: c.get("id").and_then(Value::as_u64)?,
            body: c
                .get("body")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            by_app: c.pointer("/user/type").and_then(Value::as_str) == Some("Bot")
                || c.get("performed_via_github_app")
                    .is_some_and(|a| a.is_object()),
            login,
        })
    }
}

#[derive(Debug, Clone)]
pub struct GitHub {
    /// Shared, not cloned: a clone of an installation client would keep a token cache of its
    /// own and mint a new installation token.
    client: Arc<Octocrab>,
    repo: String,
}

/// A failed GitHub call: what was being done, in words a workflow author can act on, and
/// whether another attempt may succeed (a rate limit, a 5xx, the network). Callers tell the
/// two apart by downcasting to this type, never by reading the message.
#[derive(Debug)]
pub struct GitHubError {
    /// The HTTP status GitHub answered, if it answered.
    pub status: Option<u16>,
    /// Worth retrying later: 429, 5xx, a rate-limit 403, or no answer at all.
    pub transient: bool,
    message: String,
}

impl std::fmt::Display for GitHubError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for GitHubError {}

/// Whether an error (anywhere in its chain) is a GitHub failure worth another attempt.
pub fn is_transient(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|c| c.downcast_ref::<GitHubError>().is_some_and(|g| g.transient))
}

/// A GitHub error in words a workflow author can act on.
fn explain(what: &str, e: octocrab::Error) -> anyhow::Error {
    let (status, transient, message) = match &e {
        octocrab::Error::GitHub { source, .. } => {
            let status = source.status_code.as_u16();
            // GitHub answers a primary or secondary rate limit with 403 or 429; octocrab keeps
            // only the body of a 403, whose message is the documented way to tell it apart.
            let rate_limited = status == 429
                || (status == 403 && source.message.to_ascii_lowercase().contains("rate limit"));
            let hint = match status {
                401 => " — the token is invalid or expired (input `github-token`)",
                403 | 404 if source.message.contains("Resource not accessible") => {
                    " — the token lacks permission: give the job `permissions: { pull-requests: write }` (and `deployments: write` for `deployment: true`)"
                }
                _ if rate_limited => " — rate limited; retry later",
                _ => "",
            };
            (
                Some(status),
                rate_limited || status >= 500,
                format!(
                    "GitHub API: {what} failed ({status} {}){hint}",
                    source.message
                ),
            )
        }
        // No answer (connection refused, reset, timed out): the next attempt may get one.
        octocrab::Error::Hyper { .. } | octocrab::Error::Service { .. } => {
            (None, true, format!("GitHub API: {what} failed: {e}"))
        }
        other => (None, false, format!("GitHub API: {what} failed: {other}")),
    };
    anyhow::Error::new(GitHubError {
        status,
        transient,
        message,
    })
}

fn status_of(e: &octocrab::Error) -> Option<u16> {
    match e {
        octocrab::Error::GitHub { source, .. } => Some(source.status_code.as_u16()),
        _ => None,
    }
}

pub const PAGE: usize = 100;

impl GitHub {
    /// A client for `repo` (`owner/name`) built by the caller (e.g. with GitHub App
    /// installation auth); its base URI decides the API host (GitHub Enterprise Server).
    pub fn with_client(client: Arc<Octocrab>, repo: &str) -> GitHub {
        GitHub {
            client,
            repo: repo.to_string(),
        }
    }

    pub fn repo(&self) -> &str {
        &self.repo
    }

    /// The login the token acts as (GET /user), or `None` when the token may not ask: the
    /// workflow's `GITHUB_TOKEN` and app installation tokens answer 403.
    pub async fn login(&self) -> Result<Option<String>> {
        let res: Result<Value, _> = self.client.get("/user", None::<&()>).await;
        match res {
            Ok(v) => Ok(v.get("login").and_then(Value::as_str).map(str::to_string)),
            Err(e) if status_of(&e) == Some(403) => Ok(None),
            Err(e) => Err(explain("reading the token's user (GET /user)", e)),
        }
    }

    pub fn new(api_url: &str, token: &str, repo: &str) -> Result<GitHub> {
        let client = Octocrab::builder()
            .base_uri(api_url)
            .map_err(|e| anyhow!("GITHUB_API_URL {api_url:?} is not a URL: {e}"))?
            .personal_token(token.to_string())
            .build()
            .map_err(|e| anyhow!("building the GitHub client failed: {e}"))?;
        Ok(GitHub {
            client: Arc::new(client),
            repo: repo.to_string(),
        })
    }

    pub async fn pull(&self, number: u64) -> Result<PrState> {
        Ok(PrState::from_json(&self.pull_json(number).await?))
    }

    /// The pull request as GitHub has it now (the REST object).
    pub async fn pull_json(&self, number: u64) -> Result<Value> {
        self.client
            .get(format!("/repos/{}/pulls/{number}", self.repo), None::<&()>)
            .await
            .map_err(|e| explain(&format!("reading pull request #{number}"), e))
    }

    /// Whether `user` has write, maintain or admin access to the repository.
    pub async fn may_write(&self, user: &str) -> Result<bool> {
        let v: Value = self
            .client
            .get(
                format!("/repos/{}/collaborators/{user}/permission", self.repo),
                None::<&()>,
            )
            .await
            .map_err(|e| explain(&format!("reading {user}'s permission"), e))?;
        let perm = v
            .get("permission")
            .and_then(Value::as_str)
            .unwrap_or("none");
        let role = v.get("role_name").and_then(Value::as_str).unwrap_or("");
        Ok(matches!(perm, "admin" | "maintain" | "write")
            || matches!(role, "admin" | "maintain" | "write"))
    }

    /// The numbers of the repository's open pull requests (all pages).
    pub async fn open_pulls(&self) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        for page in 1.. {
            let v: Vec<Value> = self
                .client
                .get(
                    format!("/repos/{}/pulls", self.repo),
                    Some(&json!({ "state": "open", "per_page": PAGE, "page": page })),
                )
                .await
                .map_err(|e| explain("listing open pull requests", e))?;
            out.extend(
                v.iter()
                    .filter_map(|p| p.get("number").and_then(Value::as_u64)),
            );
            if v.len() < PAGE {
                break;
            }
        }
        Ok(out)
    }

    /// When commit `sha` was committed (its committer date), if GitHub says.
    pub async fn commit_date(&self, sha: &str) -> Result<Option<time::OffsetDateTime>> {
        let v: Value = self
            .client
            .get(format!("/repos/{}/commits/{sha}", self.repo), None::<&()>)
            .await
            .map_err(|e| explain(&format!("reading commit {sha}"), e))?;
        Ok(v.pointer("/commit/committer/date")
            .and_then(Value::as_str)
            .and_then(|d| {
                time::OffsetDateTime::parse(d, &time::format_description::well_known::Rfc3339).ok()
            }))
    }

    /// One page (1-based, `PAGE` per page, oldest first) of the comments on #`number`.
    pub async fn comments_page(&self, number: u64, page: usize) -> Result<Vec<IssueComment>> {
        let comments: Vec<Value> = self
            .client
            .get(
                format!("/repos/{}/issues/{number}/comments", self.repo),
                Some(&json!({ "per_page": PAGE, "page": page })),
            )
            .await
            .map_err(|e| explain(&format!("listing comments of #{number}"), e))?;
        Ok(comments
            .iter()
            .filter_map(IssueComment::from_json)
            .collect())
    }

    pub async fn create_comment(&self, number: u64, body: &str) -> Result<u64> {
        let v: Value = self
            .client
            .post(
                format!("/repos/{}/issues/{number}/comments", self.repo),
                Some(&json!({ "body": body })),
            )
            .await
            .map_err(|e| explain(&format!("commenting on #{number}"), e))?;
        v.get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| anyhow!("GitHub API: the new comment has no id"))
    }

    /// Edit a comment in place; `false` if it no longer exists.
    pub async fn update_comment(&self, id: u64, body: &str) -> Result<bool> {
        let res: Result<Value, _> = self
            .client
            .patch(
                format!("/repos/{}/issues/comments/{id}", self.repo),
                Some(&json!({ "body": body })),
            )
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e)
                if status_of(&e) == Some(404)
                    && !format!("{e:?}").contains("Resource not accessible") =>
            {
                Ok(false)
            }
            Err(e) => Err(explain(&format!("editing comment {id}"), e)),
        }
    }

    pub async fn create_deployment(
        &self,
        sha: &str,
        environment: &str,
        description: &str,
    ) -> Result<u64> {
        let v: Value = self
            .client
            .post(
                format!("/repos/{}/deployments", self.repo),
                Some(&json!({
                    "ref": sha, "environment": environment, "description": description,
                    "auto_merge": false, "required_contexts": [], "transient_environment": true,
                })),
            )
            .await
            .map_err(|e| explain("creating a deployment", e))?;
        v.get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| anyhow!("GitHub API: the deployment has no id"))
    }

    pub async fn deployment_status(
        &self,
        id: u64,
        state: DeploymentState,
        environment_url: Option<&str>,
        log_url: Option<&str>,
        description: &str,
    ) -> Result<()> {
        let mut body =
            json!({ "state": state.as_str(), "description": description, "auto_inactive": true });
        if let Some(u) = environment_url {
            body["environment_url"] = json!(u);
        }
        if let Some(u) = log_url {
            body["log_url"] = json!(u);
        }
        let _: Value = self
            .client
            .post(
                format!("/repos/{}/deployments/{id}/statuses", self.repo),
                Some(&body),
            )
            .await
            .map_err(|e| explain("setting a deployment status", e))?;
        Ok(())
    }

    /// Every deployment of an environment (all pages), newest first.
    pub async fn deployments(&self, environment: &str) -> Result<Vec<u64>> {
        let mut ids = Vec::new();
        for page in 1.. {
            let v: Vec<Value> = self
                .client
                .get(
                    format!("/repos/{}/deployments", self.repo),
                    Some(&json!({ "environment": environment, "per_page": PAGE, "page": page })),
                )
                .await
                .map_err(|e| explain("listing deployments", e))?;
            ids.extend(v.iter().filter_map(|d| d.get("id").and_then(Value::as_u64)));
            if v.len() < PAGE {
                break;
            }
        }
        Ok(ids)
    }
}
