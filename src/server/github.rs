//! GitHub clients for the server: one token for everything, or a GitHub App (a JWT-signed app
//! client, and per installation a client whose installation token octocrab caches and renews
//! before it expires).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Context, Result};
use octocrab::models::{AppId, InstallationId};
use octocrab::Octocrab;
use serde_json::Value;

use super::config::{GitHubAuth, GitHubConfig};

pub struct Clients {
    api_url: String,
    kind: Kind,
    /// One client per installation, shared: its installation token is cached in it (a clone
    /// of an `Octocrab` copies the cache, so clones would each mint their own token).
    installations: Mutex<HashMap<u64, Arc<Octocrab>>>,
    /// repository → installation id (learned from deliveries, or asked for).
    repo_installation: Mutex<HashMap<String, u64>>,
}

enum Kind {
    None,
    Token(Arc<Octocrab>),
    App(Octocrab),
}

macro_rules! builder {
    ($url:expr) => {
        Octocrab::builder()
            .base_uri($url)
            .map_err(|e| anyhow!("github.api_url {:?} is not a URL: {e}", $url))?
    };
}

impl Clients {
    pub fn new(cfg: &GitHubConfig) -> Result<Clients> {
        let kind = match &cfg.auth {
            None => Kind::None,
            Some(GitHubAuth::Token(t)) => Kind::Token(Arc::new(
                builder!(&cfg.api_url)
                    .personal_token(t.expose().to_string())
                    .build()
                    .map_err(|e| anyhow!("building the GitHub client failed: {e}"))?,
            )),
            Some(GitHubAuth::App {
                app_id,
                private_key_path,
            }) => {
                let pem = std::fs::read(private_key_path)
                    .with_context(|| format!("reading {}", private_key_path.display()))?;
                let key = octocrab::EncodingKey::from_rsa_pem(&pem).map_err(|e| {
                    anyhow!(
                        "{} is not an RSA private key in PEM form: {e}",
                        private_key_path.display()
                    )
                })?;
                Kind::App(
                    builder!(&cfg.api_url)
                        .app(AppId(*app_id), key)
                        .build()
                        .map_err(|e| anyhow!("building the GitHub App client failed: {e}"))?,
                )
            }
        };
        Ok(Clients {
            api_url: cfg.api_url.clone(),
            kind,
            installations: Mutex::new(HashMap::new()),
            repo_installation: Mutex::new(HashMap::new()),
        })
    }

    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// Whether any GitHub access is configured.
    pub fn enabled(&self) -> bool {
        !matches!(self.kind, Kind::None)
    }

    /// A client acting on `repo`: the token's, or the app installation's (the delivery names
    /// the installation; otherwise it is asked for once and remembered).
    pub async fn for_repo(
        &self,
        repo: &str,
        installation: Option<u64>,
    ) -> Result<Option<Arc<Octocrab>>> {
        let app = match &self.kind {
            Kind::None => return Ok(None),
            Kind::Token(c) => return Ok(Some(c.clone())),
            Kind::App(app) => app,
        };
        let known = installation.or_else(|| {
            self.repo_installation
                .lock()
                .expect("lock")
                .get(&repo.to_ascii_lowercase())
                .copied()
        });
        let id = match known {
            Some(id) => id,
            None => {
                let v: Value = app
                    .get(format!("/repos/{repo}/installation"), None::<&()>)
                    .await
                    .map_err(|e| {
                        anyhow!("the GitHub App is not installed on {repo}, or cannot see it: {e}")
                    })?;
                v.get("id")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| anyhow!("GitHub named no installation for {repo}"))?
            }
        };
        self.repo_installation
            .lock()
            .expect("lock")
            .insert(repo.to_ascii_lowercase(), id);
        if let Some(c) = self.installations.lock().expect("lock").get(&id) {
            return Ok(Some(c.clone()));
        }
        let c = app
            .installation(InstallationId(id))
            .map_err(|e| anyhow!("GitHub App installation {id}: {e}"))?;
        // Another job may have made one meanwhile: keep the first, so there is one token cache.
        let c = self
            .installations
            .lock()
            .expect("lock")
            .entry(id)
            .or_insert_with(|| Arc::new(c))
            .clone();
        Ok(Some(c))
    }

    /// For `/readyz`: GitHub answers (the app: GET /app with its JWT; a token: GET /rate_limit).
    pub async fn probe(&self) -> Result<()> {
        let (client, path) = match &self.kind {
            Kind::None => return Ok(()),
            Kind::Token(c) => (&**c, "/rate_limit"),
            Kind::App(c) => (c, "/app"),
        };
        let _: Value = client
            .get(path, None::<&()>)
            .await
            .map_err(|e| anyhow!("GitHub at {}: {e}", self.api_url))?;
        Ok(())
    }
}
