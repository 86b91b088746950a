//! The REST calls the action makes (octocrab, at `GITHUB_API_URL`, so GitHub Enterprise works).
//! Comments are edited with PATCH, as GitHub documents.

use anyhow::{anyhow, Result};
use octocrab::Octocrab;
use serde_json::{json, Value};

use super::event::PrState;

#[derive(Debug, Clone)]
pub struct GitHub {
    client: Octocrab,
    repo: String,
}

/// A GitHub error in words a workflow author can act on.
fn explain(what: &str, e: octocrab::Error) -> anyhow::Error {
    match &e {
        octocrab::Error::GitHub { source, .. } => {
            let status = source.status_code.as_u16();
            let hint = match status {
                401 => " — the token is invalid or expired (input `github-token`)",
                403 | 404 if source.message.contains("Resource not accessible") => {
                    " — the token lacks permission: give the job `permissions: { pull-requests: write }` (and `deployments: write` for `deployment: true`)"
                }
                403 if source.message.to_ascii_lowercase().contains("rate limit") => " — rate limited; retry later",
                _ => "",
            };
            anyhow!(
                "GitHub API: {what} failed ({status} {}){hint}",
                source.message
            )
        }
        other => anyhow!("GitHub API: {what} failed: {other}"),
    }
}

fn status_of(e: &octocrab::Error) -> Option<u16> {
    match e {
        octocrab::Error::GitHub { source, .. } => Some(source.status_code.as_u16()),
        _ => None,
    }
}

pub const PAGE: usize = 100;

impl GitHub {
    pub fn new(api_url: &str, token: &str, repo: &str) -> Result<GitHub> {
        let client = Octocrab::builder()
            .base_uri(api_url)
            .map_err(|e| anyhow!("GITHUB_API_URL {api_url:?} is not a URL: {e}"))?
            .personal_token(token.to_string())
            .build()
            .map_err(|e| anyhow!("building the GitHub client failed: {e}"))?;
        Ok(GitHub {
            client,
            repo: repo.to_string(),
        })
    }

    pub async fn pull(&self, number: u64) -> Result<PrState> {
        let v: Value = self
            .client
            .get(format!("/repos/{}/pulls/{number}", self.repo), None::<&()>)
            .await
            .map_err(|e| explain(&format!("reading pull request #{number}"), e))?;
        Ok(PrState::from_json(&v))
    }

    /// The id of the comment carrying `marker` (every page is read until it is found).
    pub async fn find_comment(&self, number: u64, marker: &str) -> Result<Option<u64>> {
        for page in 1.. {
            let comments: Vec<Value> = self
                .client
                .get(
                    format!("/repos/{}/issues/{number}/comments", self.repo),
                    Some(&json!({ "per_page": PAGE, "page": page })),
                )
                .await
                .map_err(|e| explain(&format!("listing comments of #{number}"), e))?;
            if let Some(c) = comments.iter().find(|c| {
                c.get("body")
                    .and_then(Value::as_str)
                    .is_some_and(|b| b.contains(marker))
            }) {
                return Ok(c.get("id").and_then(Value::as_u64));
            }
            if comments.len() < PAGE {
                break;
            }
        }
        Ok(None)
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
        state: &str,
        environment_url: Option<&str>,
        log_url: Option<&str>,
        description: &str,
    ) -> Result<()> {
        let mut body = json!({ "state": state, "description": description, "auto_inactive": true });
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

    /// The newest deployment of an environment (to mark it inactive on delete).
    pub async fn latest_deployment(&self, environment: &str) -> Result<Option<u64>> {
        let v: Vec<Value> = self
            .client
            .get(
                format!("/repos/{}/deployments", self.repo),
                Some(&json!({ "environment": environment, "per_page": 1 })),
            )
            .await
            .map_err(|e| explain("listing deployments", e))?;
        Ok(v.first().and_then(|d| d.get("id")).and_then(Value::as_u64))
    }
}
