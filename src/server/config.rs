//! `eden serve` configuration: a TOML file, where every key can also come from a flag or an
//! environment variable (flag/env wins over the file). Validation reports every problem at
//! once; secrets are a redacting newtype and never logged.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

/// A secret (token, webhook secret, API key): `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Secret, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// The flags of `eden serve` (each with an environment variable); they override the file.
#[derive(Debug, Args, Clone, Default)]
pub struct ServeArgs {
    /// The server's TOML configuration (see docs/server.md).
    #[arg(long, env = "EDEN_SERVE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Validate the configuration and exit (0 when valid).
    #[arg(long)]
    pub check_config: bool,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "EDEN_LISTEN")]
    pub listen: Option<String>,
    /// A second address for the waker: sleeping previews' requests, behind the ALB
    /// (see docs/server.md) [default: off].
    #[arg(long, env = "EDEN_WAKE_LISTEN")]
    pub wake_listen: Option<String>,
    /// Work queue: `memory` (one replica) or `sqs://<FIFO queue URL>`.
    #[arg(long, env = "EDEN_QUEUE")]
    pub queue: Option<String>,
    /// Pull requests worked on at once [default: 4].
    #[arg(long, env = "EDEN_MAX_IN_FLIGHT")]
    pub max_in_flight: Option<usize>,
    /// How often to reconcile previews with pull requests (`10m`; `0` turns it off).
    #[arg(long, env = "EDEN_RECONCILE_INTERVAL")]
    pub reconcile_interval: Option<String>,
    /// `text` or `json`.
    #[arg(long, env = "EDEN_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// How long shutdown waits for work in flight [default: 30s].
    #[arg(long, env = "EDEN_SHUTDOWN_TIMEOUT")]
    pub shutdown_timeout: Option<String>,
    /// How long a deploy waits for its image to appear in ECR [default: 20m].
    #[arg(long, env = "EDEN_IMAGE_WAIT")]
    pub image_wait: Option<String>,
    /// How long a deploy waits for the environment to be ready (`wait = true`) [default: 10m].
    #[arg(long, env = "EDEN_WAIT_TIMEOUT")]
    pub wait_timeout: Option<String>,
    /// Whose address a request is counted against: `peer` (the TCP peer) or `x-forwarded-for`
    /// (behind a load balancer: the address it appended) [default: peer].
    #[arg(long, env = "EDEN_CLIENT_IP")]
    pub client_ip: Option<String>,
    /// Failed signatures or API keys allowed per client address per minute before it is
    /// refused with 429 until it refills (`0` turns this off) [default: 60].
    #[arg(long, env = "EDEN_AUTH_FAILURES_PER_MINUTE")]
    pub auth_failures_per_minute: Option<u32>,
    /// GitHub's REST API (GitHub Enterprise Server: its API URL).
    #[arg(long, env = "GITHUB_API_URL")]
    pub github_api_url: Option<String>,
    /// GitHub's web URL, for links in comments [default: https://github.com].
    #[arg(long, env = "GITHUB_SERVER_URL")]
    pub github_server_url: Option<String>,
    /// A token (instead of a GitHub App).
    #[arg(long, env = "GITHUB_TOKEN", hide_env_values = true)]
    pub github_token: Option<Secret>,
    /// GitHub App id (with --github-private-key-path).
    #[arg(long, env = "GITHUB_APP_ID")]
    pub github_app_id: Option<u64>,
    /// The GitHub App's private key (PEM).
    #[arg(long, env = "GITHUB_APP_PRIVATE_KEY_PATH")]
    pub github_private_key_path: Option<PathBuf>,
    /// Webhook secret (repeatable, or comma-separated in the variable, for rotation).
    #[arg(
        long = "webhook-secret",
        env = "EDEN_WEBHOOK_SECRETS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub webhook_secrets: Vec<Secret>,
    /// The `[[repository]]` tables as a JSON array (replaces the file's).
    #[arg(long, env = "EDEN_REPOSITORIES")]
    pub repositories: Option<String>,
    /// The `[[api_key]]` tables as a JSON array (replaces the file's).
    #[arg(long, env = "EDEN_API_KEYS", hide_env_values = true)]
    pub api_keys: Option<Secret>,
}

/// The file as written (every key optional here; `resolve` checks what is required).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub wake_listen: Option<String>,
    pub eden_config: Option<PathBuf>,
    pub remote_profiles: Option<bool>,
    pub table: Option<String>,
    pub queue: Option<String>,
    pub max_in_flight: Option<usize>,
    pub reconcile_interval: Option<String>,
    pub log_format: Option<String>,
    pub shutdown_timeout: Option<String>,
    pub image_wait: Option<String>,
    pub wait_timeout: Option<String>,
    pub client_ip: Option<String>,
    pub auth_failures_per_minute: Option<u32>,
    #[serde(default)]
    pub github: GitHubFile,
    #[serde(default)]
    pub repository: Vec<RepoFile>,
    #[serde(default)]
    pub api_key: Vec<ApiKeyFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitHubFile {
    pub api_url: Option<String>,
    pub server_url: Option<String>,
    pub token: Option<Secret>,
    pub app_id: Option<u64>,
    pub private_key_path: Option<PathBuf>,
    #[serde(default)]
    pub webhook_secrets: Vec<Secret>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoFile {
    pub name: String,
    pub environment: Option<String>,
    pub wait: Option<bool>,
    pub label: Option<String>,
    pub allow_forks: Option<bool>,
    pub ttl: Option<String>,
    pub sleep_after: Option<String>,
    pub keep_awake_label: Option<String>,
    pub comment: Option<bool>,
    pub deployment: Option<bool>,
    #[serde(default)]
    pub images: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyFile {
    pub key: Secret,
    pub profiles: Vec<String>,
}

/// Where profiles come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfilesFrom {
    File(PathBuf),
    /// `_profile` items in the state table (`eden config push`).
    Remote,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueKind {
    Memory,
    /// An SQS FIFO queue URL.
    Sqs(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub enum GitHubAuth {
    Token(Secret),
    App {
        app_id: u64,
        private_key_path: PathBuf,
    },
}

#[derive(Debug, Clone)]
pub struct GitHubConfig {
    pub api_url: String,
    pub server_url: String,
    /// `None`: no comments, no deployments, PRs decided from the event alone.
    pub auth: Option<GitHubAuth>,
    pub webhook_secrets: Vec<Secret>,
}

/// One `[[repository]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RepoConfig {
    /// `owner/name` or `owner/*`.
    pub name: String,
    /// Template: `{number}`, `{branch}`, `{sha}`.
    pub environment: String,
    pub wait: bool,
    pub label: Option<String>,
    /// Idle previews older than this are deleted by the reconcile loop.
    pub ttl: Option<Duration>,
    /// Previews without requests, deploys or wakes for this long are put to sleep by the
    /// reconcile loop (src/idle.rs).
    pub sleep_after: Option<Duration>,
    /// A PR label that keeps its preview awake.
    pub keep_awake_label: Option<String>,
    pub comment: bool,
    pub deployment: bool,
    /// profile → image template (same placeholders).
    pub images: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct ApiKey {
    pub key: Secret,
    pub profiles: Vec<String>,
}

/// The resolved, validated configuration.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// The waker's address (src/server/waker.rs); `None`: no waker.
    pub wake_listen: Option<SocketAddr>,
    pub profiles: ProfilesFrom,
    pub table: String,
    pub queue: QueueKind,
    pub max_in_flight: usize,
    /// `None`: no reconcile loop.
    pub reconcile_interval: Option<Duration>,
    pub log_format: LogFormat,
    pub shutdown_timeout: Duration,
    pub image_wait: Duration,
    pub wait_timeout: Duration,
    pub client_ip: ClientIp,
    /// `0`: no limit (src/server/abuse.rs).
    pub auth_failures_per_minute: u32,
    pub github: GitHubConfig,
    pub repositories: Vec<RepoConfig>,
    pub api_keys: Vec<ApiKey>,
}

/// Whose address a request is attributed to (src/server/abuse.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientIp {
    Peer,
    ForwardedFor,
}

pub const PLACEHOLDERS: [&str; 3] = ["{number}", "{branch}", "{sha}"];

/// `500ms`, `45s`, `30m`, `12h`, `7d`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 30s, 10m, 12h, 7d)"))?;
    let secs = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("{s:?} has an unknown unit (use ms, s, m, h or d)")),
    };
    Ok(Duration::from_secs(secs))
}

/// Fill a template's placeholders.
pub fn render(template: &str, number: u64, branch: &str, sha: &str) -> String {
    template
        .replace("{number}", &number.to_string())
        .replace("{branch}", branch)
        .replace("{sha}", sha)
}

fn unknown_placeholders(template: &str) -> Vec<String> {
    let mut rest = template;
    let mut bad = Vec::new();
    while let Some(i) = rest.find('{') {
        let tail = &rest[i..];
        let end = tail.find('}').map(|j| j + 1).unwrap_or(tail.len());
        let p = &tail[..end];
        if !PLACEHOLDERS.contains(&p) {
            bad.push(p.to_string());
        }
        rest = &tail[end..];
    }
    bad
}

impl RepoConfig {
    /// Whether this entry covers `repo` (`owner/name`; GitHub names are case-insensitive).
    pub fn matches(&self, repo: &str) -> bool {
        match self.name.strip_suffix("/*") {
            Some(owner) => repo
                .split_once('/')
                .is_some_and(|(o, _)| o.eq_ignore_ascii_case(owner)),
            None => self.name.eq_ignore_ascii_case(repo),
        }
    }
}

impl ServeConfig {
    /// The entry for `repo`: an exact name before an `owner/*`.
    pub fn repository(&self, repo: &str) -> Option<&RepoConfig> {
        let exact = self
            .repositories
            .iter()
            .find(|r| !r.name.ends_with("/*") && r.matches(repo));
        exact.or_else(|| self.repositories.iter().find(|r| r.matches(repo)))
    }

    /// Every profile any repository or API key names.
    pub fn profile_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .repositories
            .iter()
            .flat_map(|r| r.images.keys().cloned())
            .chain(self.api_keys.iter().flat_map(|k| k.profiles.clone()))
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// What the global CLI flags say about profiles (`--config-path`, `--remote-profile`,
/// `--remote-table-name`).
#[derive(Debug, Clone, Default)]
pub struct GlobalProfileFlags {
    pub config_path: Option<PathBuf>,
    pub remote_profile: bool,
    /// `None` when left at its default.
    pub table: Option<String>,
}

/// Read the file (if any) and apply the flags. `Err`: every problem found.
pub fn load(args: &ServeArgs, global: &GlobalProfileFlags) -> Result<ServeConfig, Vec<String>> {
    let file = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| vec![format!("cannot read {}: {e}", path.display())])?;
            toml::from_str::<FileConfig>(&text).map_err(|e| {
                // The message and the line only: the default rendering quotes the line, which
                // may hold a secret.
                let line = e
                    .span()
                    .map(|s| format!(" line {}:", text[..s.start].lines().count().max(1)))
                    .unwrap_or_default();
                vec![format!("{}:{line} {}", path.display(), e.message())]
            })?
        }
        None => FileConfig::default(),
    };
    resolve(file, args, global)
}

/// Problems with the profiles the configuration names (file profiles only: remote ones are
/// checked when the server reads them).
pub fn check_profiles(config: &ServeConfig) -> Vec<String> {
    let ProfilesFrom::File(path) = &config.profiles else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    for name in config.profile_names() {
        match crate::profile::read_raw(path, &name) {
            Ok(raw) => {
                if let Err(p) = crate::profile::Profile::from_raw(&name, &raw) {
                    problems.extend(p);
                }
            }
            Err(e) => problems.push(format!("profile {name}: {e:#}")),
        }
    }
    problems
}

mod resolve;
pub use resolve::{resolve, SHORTEST_SLEEP_AFTER};

#[cfg(test)]
mod tests;
