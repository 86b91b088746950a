//! One typed payload per webhook event the server reads (`ping`, `pull_request`,
//! `issue_comment`, `workflow_run`, `check_suite`), read leniently: every field is optional
//! (older real payloads lack newer fields) and everything else is skipped unread.

use serde::Deserialize;

use super::event::PrEvent;
use super::ids::{CommitSha, PrNumber, RepoName};

/// A verified delivery's body, typed by its `X-GitHub-Event`.
#[derive(Debug)]
pub enum Event {
    Ping(Ping),
    PullRequest {
        event: PrEvent,
        installation: Option<u64>,
    },
    IssueComment(IssueCommentPayload),
    /// `workflow_run` or `check_suite` (`name` says which).
    BuildCompleted {
        name: &'static str,
        build: Build,
    },
    /// An event the server does not read (its body is not parsed).
    Unhandled(String),
}

impl Event {
    /// The payload of event `name`; `Err` says why the body is not one (a 400 for GitHub).
    pub fn parse(name: &str, body: &[u8]) -> Result<Event, String> {
        let json = |e: serde_json::Error| format!("the {name} payload is not valid: {e}");
        Ok(match name {
            "ping" => Event::Ping(serde_json::from_slice(body).map_err(json)?),
            "pull_request" => {
                let (event, installation) =
                    PrEvent::parse_slice(body).map_err(|e| format!("{e:#}"))?;
                Event::PullRequest {
                    event,
                    installation,
                }
            }
            "issue_comment" => Event::IssueComment(serde_json::from_slice(body).map_err(json)?),
            "workflow_run" => {
                let p: WorkflowRunPayload = serde_json::from_slice(body).map_err(json)?;
                Event::BuildCompleted {
                    name: "workflow_run",
                    build: p.into(),
                }
            }
            "check_suite" => {
                let p: CheckSuitePayload = serde_json::from_slice(body).map_err(json)?;
                Event::BuildCompleted {
                    name: "check_suite",
                    build: p.into(),
                }
            }
            other => Event::Unhandled(other.to_string()),
        })
    }
}

/// `ping`: sent when a webhook is created.
#[derive(Debug, Deserialize)]
pub struct Ping {
    pub zen: Option<String>,
    pub hook_id: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct Repository {
    pub full_name: Option<RepoName>,
}

#[derive(Debug, Deserialize)]
pub struct Installation {
    pub id: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct User {
    pub login: Option<String>,
}

/// `issue_comment`: a comment on an issue or a pull request.
#[derive(Debug, Deserialize)]
pub struct IssueCommentPayload {
    pub action: Option<String>,
    pub issue: Option<Issue>,
    pub comment: Option<Comment>,
    pub repository: Option<Repository>,
    pub installation: Option<Installation>,
}

#[derive(Debug, Deserialize)]
pub struct Issue {
    pub number: Option<PrNumber>,
    /// Present (an object of links) when the issue is a pull request.
    pub pull_request: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize)]
pub struct Comment {
    pub body: Option<String>,
    pub user: Option<User>,
}

impl IssueCommentPayload {
    pub fn repo(&self) -> Option<&RepoName> {
        self.repository.as_ref()?.full_name.as_ref()
    }

    /// The body of a newly created comment on a pull request (where a command may be).
    pub fn new_on_pr(&self) -> Option<&str> {
        self.issue.as_ref()?.pull_request.as_ref()?;
        if self.action.as_deref() != Some("created") {
            return None;
        }
        self.comment.as_ref()?.body.as_deref()
    }

    /// The number of the issue or pull request commented on.
    pub fn number(&self) -> Option<PrNumber> {
        self.issue.as_ref()?.number
    }

    /// The comment's author (`comment.user.login`).
    pub fn author(&self) -> Option<&str> {
        self.comment.as_ref()?.user.as_ref()?.login.as_deref()
    }

    pub fn installation(&self) -> Option<u64> {
        self.installation.as_ref()?.id
    }
}

/// A pull request a build names (`workflow_run.pull_requests[]`, `check_suite.pull_requests[]`).
#[derive(Debug, Clone, Deserialize)]
pub struct PrRef {
    pub number: Option<PrNumber>,
    pub head: Option<Head>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Head {
    pub sha: Option<CommitSha>,
}

#[derive(Debug, Deserialize)]
pub struct Suite {
    pub pull_requests: Option<Vec<PrRef>>,
}

#[derive(Debug, Deserialize)]
struct WorkflowRunPayload {
    action: Option<String>,
    workflow_run: Option<Suite>,
    repository: Option<Repository>,
    installation: Option<Installation>,
}

#[derive(Debug, Deserialize)]
struct CheckSuitePayload {
    action: Option<String>,
    check_suite: Option<Suite>,
    repository: Option<Repository>,
    installation: Option<Installation>,
}

/// A `workflow_run` or `check_suite`: a build that may have pushed a PR head's image.
#[derive(Debug)]
pub struct Build {
    pub action: Option<String>,
    pub repo: Option<RepoName>,
    pub installation: Option<u64>,
    pub pull_requests: Vec<PrRef>,
}

impl Build {
    fn new(
        action: Option<String>,
        suite: Option<Suite>,
        repository: Option<Repository>,
        installation: Option<Installation>,
    ) -> Build {
        Build {
            action,
            repo: repository.and_then(|r| r.full_name),
            installation: installation.and_then(|i| i.id),
            pull_requests: suite.and_then(|s| s.pull_requests).unwrap_or_default(),
        }
    }

    pub fn completed(&self) -> bool {
        self.action.as_deref() == Some("completed")
    }

    /// The pull requests named, with the head each was built at.
    pub fn prs(&self) -> impl Iterator<Item = (PrNumber, Option<CommitSha>)> + '_ {
        self.pull_requests.iter().filter_map(|pr| {
            let sha = pr.head.as_ref().and_then(|h| h.sha.clone());
            Some((pr.number?, sha))
        })
    }
}

impl From<WorkflowRunPayload> for Build {
    fn from(p: WorkflowRunPayload) -> Build {
        Build::new(p.action, p.workflow_run, p.repository, p.installation)
    }
}

impl From<CheckSuitePayload> for Build {
    fn from(p: CheckSuitePayload) -> Build {
        Build::new(p.action, p.check_suite, p.repository, p.installation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/webhooks/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn real_payloads_parse_into_their_types() {
        let Event::Ping(p) = Event::parse("ping", &fixture("ping")).unwrap() else {
            panic!()
        };
        assert!(p.hook_id.is_some() && p.zen.is_some());
        let body = fixture("issue_comment.created.pr_command");
        let Event::IssueComment(c) = Event::parse("issue_comment", &body).unwrap() else {
            panic!()
        };
        assert_eq!(c.repo().unwrap().as_str(), "Codertocat/Hello-World");
        assert_eq!(c.new_on_pr(), Some("/eden deploy"));
        assert_eq!(
            (c.number().unwrap().get(), c.author()),
            (1, Some("Codertocat"))
        );
        // The same comment on an issue, not a pull request.
        let on_issue = fixture("issue_comment.created");
        let Event::IssueComment(c) = Event::parse("issue_comment", &on_issue).unwrap() else {
            panic!()
        };
        assert!(c.new_on_pr().is_none());
        for (name, file) in [
            ("workflow_run", "workflow_run.completed"),
            ("check_suite", "check_suite.completed"),
        ] {
            let Event::BuildCompleted { build, .. } = Event::parse(name, &fixture(file)).unwrap()
            else {
                panic!()
            };
            assert!(build.completed());
            let prs: Vec<_> = build.prs().collect();
            assert_eq!(prs.len(), 1, "{name}");
            assert_eq!(prs[0].0.get(), 2);
            assert_eq!(
                prs[0].1.as_ref().unwrap().as_str(),
                "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
            );
        }
    }

    #[test]
    fn lenient_about_missing_fields_strict_about_types() {
        let Event::BuildCompleted { build, .. } =
            Event::parse("workflow_run", br#"{"action": "completed"}"#).unwrap()
        else {
            panic!()
        };
        assert!(build.repo.is_none() && build.pull_requests.is_empty());
        assert!(Event::parse("issue_comment", br#"{"issue": {"number": "two"}}"#).is_err());
        assert!(Event::parse("ping", b"not json").is_err());
        assert!(matches!(
            Event::parse("push", b"not even read").unwrap(),
            Event::Unhandled(_)
        ));
    }
}
