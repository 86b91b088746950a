//! A PR run's context: the engine, the GitHub client, where the run comes from, where the
//! profiles live, and the options. Built once by the Action (per run) or the server (per
//! repository); cheap to clone.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context as _, Result};

use super::clock::{Clock, SystemClock};
use super::env::EnvTemplate;
use super::sticky::Author;
use super::template::CommentTemplate;
use crate::engine::Engine;
use crate::github::api::GitHub;
use crate::profile::{self, Profile};
use crate::profile_store;

/// Where a run comes from, for links in the comment and the state item's metadata.
#[derive(Debug, Clone)]
pub struct Origin {
    /// `owner/name`.
    pub repository: String,
    /// `https://github.com` (or a GitHub Enterprise Server's URL).
    pub server_url: String,
    /// The logs of this run (a workflow run, or the server's own page), for the comment.
    pub run_url: Option<String>,
}

impl Origin {
    pub fn repo_url(&self) -> String {
        format!(
            "{}/{}",
            self.server_url.trim_end_matches('/'),
            self.repository
        )
    }
}

/// Where profiles are read from.
#[derive(Debug, Clone)]
pub enum ProfileSource {
    /// An INI file (the Action: `config-path` in the checkout).
    File(PathBuf),
    /// `_profile` items in the engine's DynamoDB table (`eden config push`).
    Remote,
}

/// One service of the environment: a profile and the image it deploys (none for deletes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub profile: String,
    pub image_uri: Option<String>,
}

/// Waiting for the environment to be ready after a deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitSettings {
    pub timeout: Duration,
    /// Poll interval (tokio time: a paused clock drives it in tests).
    pub interval: Duration,
}

/// What a run does besides the engine's work. Build with `..Options::default()`: fields are
/// only ever added.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Keep the sticky PR comment (needs a GitHub client).
    pub comment: bool,
    /// Record GitHub Deployments and their statuses.
    pub deployment: bool,
    /// Wait until each environment is ready (`None`: deployed is done).
    pub wait: Option<WaitSettings>,
    /// The team's own comment text (`None`: eden's).
    pub comment_template: Option<CommentTemplate>,
    /// Variables set in each profile's target container (expanded per profile in `prepare`).
    pub env: EnvTemplate,
}

/// Everything a PR run works with.
#[derive(Debug, Clone)]
pub struct Context {
    pub engine: Engine,
    /// `None`: no comment, no deployments, no PR read (decide from the event alone).
    pub github: Option<GitHub>,
    /// Who eden comments as (the sticky comment is found by marker and author).
    pub author: Author,
    pub origin: Origin,
    pub profiles: ProfileSource,
    pub options: Options,
    pub clock: Arc<dyn Clock>,
}

impl Context {
    /// A context with the wall clock, no GitHub client and default options.
    pub fn new(engine: Engine, origin: Origin, profiles: ProfileSource) -> Context {
        Context {
            engine,
            github: None,
            author: Author::default(),
            origin,
            profiles,
            options: Options::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// The comment is kept when asked for and a client exists.
    pub(crate) fn commenting(&self) -> Option<&GitHub> {
        self.github.as_ref().filter(|_| self.options.comment)
    }

    /// One profile, validated.
    pub async fn load_profile(&self, name: &str) -> Result<Profile> {
        let raw = match &self.profiles {
            ProfileSource::Remote => {
                profile_store::fetch(&self.engine.aws, &self.engine.table, name).await?
            }
            ProfileSource::File(path) => profile::read_raw(path, name)
                .with_context(|| format!("reading profiles from {}", path.display()))?,
        };
        Profile::from_raw(name, &raw)
            .map_err(|p| anyhow!("profile {name} is not usable: {}", p.join("; ")))
    }

    /// The profiles, each with its zone's name (read once, so the first comment already shows
    /// the right hostnames).
    pub async fn load_profiles(&self, targets: &[Target]) -> Result<Vec<Profile>> {
        let loads = targets.iter().map(|t| async move {
            let mut p = self.load_profile(&t.profile).await?;
            if p.dynamic_zone_name.is_none() {
                p.dynamic_zone_name =
                    Some(crate::aws::dns::zone_name(&self.engine.aws, &p.dynamic_zone_id).await?);
            }
            Ok::<_, anyhow::Error>(p)
        });
        futures::future::try_join_all(loads).await
    }
}
