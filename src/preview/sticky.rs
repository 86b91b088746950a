//! The sticky PR comment: one per PR and environment, found by its hidden marker **and** its
//! author (a person quoting the marker, or a token with `pull-requests: write` editing, must
//! never make eden overwrite someone else's comment), edited in place.

use anyhow::Result;
use tokio::sync::{Mutex, OnceCell};

use crate::github::api::{GitHub, IssueComment, PAGE};
use crate::github::comment::marker;

/// Who eden comments as.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Author {
    /// Exactly this login: `github-actions[bot]` (the workflow's `GITHUB_TOKEN`),
    /// `<app-slug>[bot]` (a GitHub App), or a user's login (a personal token).
    Login(String),
    /// Ask GitHub (GET /user) the first time a comment carrying the marker is seen. Tokens
    /// that may not ask (`GITHUB_TOKEN`, app installation tokens: 403) accept comments written
    /// by a GitHub App, never a person's.
    #[default]
    Discover,
}

/// How a candidate comment is judged once the author is known.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Judge {
    Login(String),
    AnyApp,
}

impl Judge {
    fn accepts(&self, c: &IssueComment) -> bool {
        match self {
            Judge::Login(l) => c.login.eq_ignore_ascii_case(l),
            Judge::AnyApp => c.by_app,
        }
    }
}

/// The comment of one PR and environment.
#[derive(Debug)]
pub struct Sticky<'a> {
    github: &'a GitHub,
    author: &'a Author,
    pr: u64,
    marker: String,
    id: Mutex<Option<u64>>,
    judge: OnceCell<Judge>,
}

impl<'a> Sticky<'a> {
    /// `known_id`: the id remembered from an earlier run (the state item), if any.
    pub fn new(
        github: &'a GitHub,
        author: &'a Author,
        pr: u64,
        environment: &str,
        known_id: Option<u64>,
    ) -> Sticky<'a> {
        Sticky {
            github,
            author,
            pr,
            marker: marker(pr, environment),
            id: Mutex::new(known_id),
            judge: OnceCell::new(),
        }
    }

    pub fn marker(&self) -> &str {
        &self.marker
    }

    /// The id in use (known, found or created), if any yet.
    pub async fn id(&self) -> Option<u64> {
        *self.id.lock().await
    }

    async fn judge(&self) -> Result<&Judge> {
        self.judge
            .get_or_try_init(|| async {
                Ok(match self.author {
                    Author::Login(l) => Judge::Login(l.clone()),
                    Author::Discover => match self.github.login().await? {
                        Some(l) => Judge::Login(l),
                        None => Judge::AnyApp,
                    },
                })
            })
            .await
    }

    /// Our comment on the PR: the first one carrying the marker whose author is eden (every
    /// page until found). The author is only resolved once a comment carries the marker.
    pub async fn lookup(&self) -> Result<Option<u64>> {
        for page in 1.. {
            let comments = self.github.comments_page(self.pr, page).await?;
            for c in comments.iter().filter(|c| c.body.contains(&self.marker)) {
                if self.judge().await?.accepts(c) {
                    return Ok(Some(c.id));
                }
            }
            if comments.len() < PAGE {
                break;
            }
        }
        Ok(None)
    }

    /// Show `body`: edit our comment (by the known id, else found by lookup), or create it.
    pub async fn show(&self, body: &str) -> Result<u64> {
        let mut id = self.id.lock().await;
        if id.is_none() {
            *id = self.lookup().await?;
        }
        if let Some(existing) = *id {
            if self.github.update_comment(existing, body).await? {
                return Ok(existing);
            }
        }
        let new = self.github.create_comment(self.pr, body).await?;
        *id = Some(new);
        Ok(new)
    }

    /// Edit our comment if there is one; never create one. `None`: there was none.
    pub async fn edit(&self, body: &str) -> Result<Option<u64>> {
        let mut id = self.id.lock().await;
        if id.is_none() {
            *id = self.lookup().await?;
        }
        match *id {
            Some(existing) if self.github.update_comment(existing, body).await? => {
                Ok(Some(existing))
            }
            _ => {
                *id = None;
                Ok(None)
            }
        }
    }
}
