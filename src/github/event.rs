//! `pull_request` payloads → our types, read leniently (older payloads lack newer fields).

use anyhow::{anyhow, Result};
use serde::{Deserialize, Serialize};

/// What eden reads of a `pull_request` event (serialisable: the server's jobs carry it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrEvent {
    pub action: String,
    pub number: u64,
    pub title: String,
    pub html_url: String,
    pub head_sha: String,
    pub head_ref: String,
    /// `owner/name` of the base repository (where the workflow runs).
    pub base_repo: String,
    /// `owner/name` of the head repository; `None` when the fork was deleted.
    pub head_repo: Option<String>,
    pub state: String,
    pub merged: bool,
    pub labels: Vec<String>,
    /// The label added or removed, for `labeled` / `unlabeled`.
    pub label: Option<String>,
}

impl PrEvent {
    /// A pull_request event, `None` for valid JSON of any other event (push, schedule, …).
    pub fn parse_any(json: &str) -> Result<Option<PrEvent>> {
        Ok(PrEvent::from_payload(json.as_bytes())?.map(|(e, _)| e))
    }

    pub fn parse(json: &str) -> Result<PrEvent> {
        Self::parse_slice(json.as_bytes()).map(|(e, _)| e)
    }

    /// A delivery's body: the event and the GitHub App installation it came through.
    pub fn parse_slice(json: &[u8]) -> Result<(PrEvent, Option<u64>)> {
        PrEvent::from_payload(json)?.ok_or_else(|| anyhow!("the event is not a pull_request event (no `pull_request` object); use `command: gc`, `deploy` or `delete` for other triggers"))
    }

    /// One pass over the payload into the few fields eden reads (the rest is skipped, not
    /// built into a tree: a `pull_request` payload is 20-30 KB and the server reads many).
    fn from_payload(json: &[u8]) -> Result<Option<(PrEvent, Option<u64>)>> {
        let p: Payload = serde_json::from_slice(json)
            .map_err(|e| anyhow!("the event payload is not JSON of a GitHub event: {e}"))?;
        let Some(pr) = p.pull_request else {
            return Ok(None);
        };
        let number = p
            .number
            .or(pr.number)
            .ok_or_else(|| anyhow!("the pull_request event has no number"))?;
        let repository = p.repository.and_then(|r| r.full_name);
        let mut event = PrEvent::from_pull(
            &p.action.unwrap_or_default(),
            number,
            repository.as_deref(),
            pr,
        )?;
        event.label = p.label.and_then(|l| l.name);
        Ok(Some((event, p.installation.and_then(|i| i.id))))
    }

    /// The event a pull request object (a payload's `pull_request`, or the REST answer of
    /// GET /pulls/N) stands for with `action`; `repository` is the base repository when the
    /// object does not name it.
    pub fn from_pull(
        action: &str,
        number: u64,
        repository: Option<&str>,
        pr: PullRequest,
    ) -> Result<PrEvent> {
        let full_name = |r: Option<Repo>| r.and_then(|r| r.full_name);
        let (head, base) = (pr.head.unwrap_or_default(), pr.base.unwrap_or_default());
        let base_repo = full_name(base.repo)
            .or_else(|| repository.map(str::to_string))
            .ok_or_else(|| anyhow!("the pull_request event names no base repository"))?;
        Ok(PrEvent {
            action: action.to_string(),
            number,
            title: pr.title.unwrap_or_default(),
            html_url: pr.html_url.unwrap_or_default(),
            head_sha: head
                .sha
                .ok_or_else(|| anyhow!("the pull_request event has no head sha"))?,
            head_ref: head.branch.unwrap_or_default(),
            base_repo,
            head_repo: full_name(head.repo),
            state: pr.state.unwrap_or_else(|| "open".into()),
            merged: pr.merged.unwrap_or(false),
            labels: pr
                .labels
                .unwrap_or_default()
                .into_iter()
                .filter_map(|l| l.name)
                .collect(),
            label: None,
        })
    }

    /// From another repository (or one that was deleted). `head.repo.fork` is not the test: it
    /// is true for any PR inside a repository that is itself a fork.
    pub fn is_fork(&self) -> bool {
        self.head_repo.as_deref() != Some(self.base_repo.as_str())
    }
}

/// The fields of an event payload that eden reads; every one may be missing or null (older
/// payloads lack newer fields), and everything else is skipped unread.
#[derive(Deserialize)]
struct Payload {
    action: Option<String>,
    number: Option<u64>,
    pull_request: Option<PullRequest>,
    repository: Option<Repo>,
    label: Option<Named>,
    installation: Option<Installation>,
}

/// A pull request object (a payload's `pull_request`, GET /pulls/N), as much as eden reads;
/// every field may be missing or null.
#[derive(Debug, Clone, Deserialize)]
pub struct PullRequest {
    number: Option<u64>,
    title: Option<String>,
    html_url: Option<String>,
    head: Option<Branch>,
    base: Option<Branch>,
    state: Option<String>,
    merged: Option<bool>,
    labels: Option<Vec<Named>>,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct Branch {
    sha: Option<String>,
    #[serde(rename = "ref")]
    branch: Option<String>,
    repo: Option<Repo>,
}

#[derive(Debug, Clone, Deserialize)]
struct Repo {
    full_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Named {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Installation {
    id: Option<u64>,
}

/// The pull request as it is now (GET /pulls/N), to decide on stale events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrState {
    pub open: bool,
    pub merged: bool,
    pub head_sha: String,
    pub labels: Vec<String>,
}

impl PullRequest {
    /// `state == "open"`.
    pub fn is_open(&self) -> bool {
        self.state.as_deref() == Some("open")
    }

    /// The pull request as it is now.
    pub fn now(&self) -> PrState {
        PrState {
            open: self.is_open(),
            merged: self.merged.unwrap_or(false),
            head_sha: self
                .head
                .as_ref()
                .and_then(|h| h.sha.clone())
                .unwrap_or_default(),
            labels: self
                .labels
                .iter()
                .flatten()
                .filter_map(|l| l.name.clone())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/github/pull_request.{name}.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn real_payloads_parse() {
        let e = PrEvent::parse(&fixture("opened")).unwrap();
        assert_eq!(
            (e.action.as_str(), e.number, e.head_ref.as_str()),
            ("opened", 2, "changes")
        );
        assert_eq!(e.base_repo, "Codertocat/Hello-World");
        assert!(!e.is_fork());
        assert!(PrEvent::parse(&fixture("closed.merged")).unwrap().merged);
        assert!(!PrEvent::parse(&fixture("closed")).unwrap().merged);
        assert!(PrEvent::parse(&fixture("opened.fork")).unwrap().is_fork());
        assert_eq!(
            PrEvent::parse(&fixture("labeled"))
                .unwrap()
                .label
                .as_deref(),
            Some("bug")
        );
    }

    #[test]
    fn deleted_fork_is_a_fork_and_non_pr_events_are_refused() {
        let mut v: Value = serde_json::from_str(&fixture("synchronize")).unwrap();
        v["pull_request"]["head"]["repo"] = Value::Null;
        assert!(PrEvent::parse(&v.to_string()).unwrap().is_fork());
        assert!(PrEvent::parse(r#"{"ref": "refs/heads/main"}"#)
            .unwrap_err()
            .to_string()
            .contains("not a pull_request event"));
    }
}
