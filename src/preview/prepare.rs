//! Round 1 of a PR run and the decision: the PR as it is now ∥ the profiles ∥ the state item
//! (the comment's id), then `decide`. Nothing is written here, so a dry run stops after it.

use anyhow::{bail, Context as _, Result};

use super::context::{Context, Target};
use super::env::EnvValues;
use super::meta::PrMeta;
use crate::engine::state;
use crate::github::comment::{Endpoint, Protection};
use crate::github::decide::{decide, needs_current_state, Command, Decision, Settings};
use crate::github::event::{PrEvent, PrState};
use crate::names::ResourceNames;
use crate::profile::Profile;

/// What to run: an event (or none, for other triggers) and how to treat it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The pull request event; `None` for any other trigger (push, schedule, a server API
    /// call naming an environment).
    pub event: Option<PrEvent>,
    pub command: Command,
    /// Only PRs carrying this label get a preview.
    pub label: Option<String>,
    /// The environment's name; default `pr-<number>`.
    pub name: Option<String>,
    /// At least one.
    pub targets: Vec<Target>,
}

/// A decided run, before anything is written.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub environment: String,
    pub decision: Decision,
    pub event: Option<PrEvent>,
    pub targets: Vec<Target>,
    /// Loaded only when the decision is not a skip (same order as `targets`).
    pub profiles: Vec<Profile>,
    /// One per profile.
    pub endpoints: Vec<Endpoint>,
    /// The sticky comment's id remembered on the first profile's state item.
    pub comment_id: Option<u64>,
    /// Per profile: the variables for its target container (`Options::env`, expanded).
    pub env: Vec<Vec<(String, String)>>,
}

impl Prepared {
    fn skip(environment: String, req: Request, reason: String) -> Prepared {
        Prepared {
            environment,
            decision: Decision::Skip { reason },
            event: req.event,
            targets: req.targets,
            profiles: Vec::new(),
            endpoints: Vec::new(),
            comment_id: None,
            env: Vec::new(),
        }
    }
}

impl Context {
    /// Decide what the request means now. Errors: no targets, no environment name for a
    /// non-PR explicit command, unreadable profiles, GitHub refusing the PR read.
    pub async fn prepare(&self, req: Request) -> Result<Prepared> {
        let environment = environment_of(&req)?;
        let settings = Settings {
            command: req.command,
            label: req.label.clone(),
        };
        if let Some(reason) = skip_unread(&req, &settings) {
            return Ok(Prepared::skip(environment, req, reason));
        }
        let first = req.targets[0].profile.clone();
        let pr_now = async {
            match (&self.github, &req.event) {
                (Some(gh), Some(e)) if needs_current_state(e, &settings) => {
                    gh.pull(e.number).await.map(Some)
                }
                _ => Ok(None::<PrState>),
            }
        };
        let (pr_now, profiles, remembered) = tokio::join!(
            pr_now,
            self.load_profiles(&req.targets),
            state::read(&self.engine.aws, &self.engine.table, &first, &environment),
        );
        let pr_now = pr_now?;
        let decision = match &req.event {
            Some(e) => decide(e, pr_now.as_ref(), &settings),
            None if req.command == Command::Delete => Decision::Delete {
                reason: "asked for (`command: delete`)".into(),
            },
            None if req.command == Command::Sleep => Decision::Sleep,
            None if req.command == Command::Wake => Decision::Wake,
            None => Decision::Deploy,
        };
        if let Decision::Skip { reason } = decision {
            return Ok(Prepared::skip(environment, req, reason));
        }
        let profiles = profiles?;
        let remembered = remembered.unwrap_or_else(|e| {
            tracing::warn!("{e:#}");
            None
        });
        let comment_id = remembered
            .as_ref()
            .and_then(|s| PrMeta::read(&s.metadata).comment_id);
        let endpoints = endpoints_of(&profiles, &environment);
        // Expanded now, so a placeholder without a value fails before anything is written.
        let env = match decision {
            Decision::Deploy => self.expand_env(&req, &endpoints)?,
            _ => Vec::new(),
        };
        Ok(Prepared {
            environment,
            decision,
            event: req.event,
            targets: req.targets,
            profiles,
            endpoints,
            comment_id,
            env,
        })
    }

    /// The `env` lines for each endpoint, with its URL and the PR's values.
    fn expand_env(
        &self,
        req: &Request,
        endpoints: &[Endpoint],
    ) -> Result<Vec<Vec<(String, String)>>> {
        let event = req.event.as_ref();
        endpoints
            .iter()
            .map(|ep| {
                self.options
                    .env
                    .expand(&EnvValues {
                        url: Some(format!("https://{}", ep.hostname)),
                        number: event.map(|e| e.number),
                        sha: event.map(|e| e.head_sha.clone()),
                        branch: event.map(|e| e.head_ref.clone()),
                    })
                    .with_context(|| format!("env for profile {}", ep.profile))
            })
            .collect()
    }
}

/// The environment's name: given, else `pr-N`; refuses a request that cannot run at all.
fn environment_of(req: &Request) -> Result<String> {
    if req.targets.is_empty() {
        bail!("no profile to run: name at least one");
    }
    if req.command == Command::Gc {
        bail!("gc is not a pull request run: call Context::gc");
    }
    Ok(match (&req.name, &req.event) {
        (Some(n), _) => n.clone(),
        (None, Some(e)) => format!("pr-{}", e.number),
        (None, None) if req.command == Command::Auto => String::new(),
        (None, None) => {
            bail!("an environment name is required when the run is not about a pull request")
        }
    })
}

/// Decisions that need nothing read: not a PR under `auto`, and fork PRs (fork code is never
/// deployed with this repository's credentials).
fn skip_unread(req: &Request, settings: &Settings) -> Option<String> {
    match &req.event {
        None if req.command == Command::Auto => Some(
            "the event is not about a pull request (`command: auto` acts on pull_request events only)"
                .to_string(),
        ),
        Some(e) if e.is_fork() => match decide(e, None, settings) {
            Decision::Skip { reason } => Some(reason),
            _ => None,
        },
        _ => None,
    }
}

/// Each profile's hostname for this environment.
fn endpoints_of(profiles: &[Profile], environment: &str) -> Vec<Endpoint> {
    profiles
        .iter()
        .map(|p| {
            let names = ResourceNames::new(&p.name_prefix, &p.domain_name_prefix, environment);
            Endpoint {
                profile: p.name.clone(),
                hostname: names.hostname(p.dynamic_zone_name.as_deref().unwrap_or_default()),
                protection: protection(&p.access),
            }
        })
        .collect()
}

/// What the comment says of a profile's access keys (never a secret: the bypass value's
/// variable NAME only).
pub(crate) fn protection(access: &crate::profile::Access) -> Protection {
    use crate::profile::Auth;
    Protection {
        ranges: access.allow_cidrs.len(),
        sign_in: access.auth.as_ref().map(|a| {
            match a {
                Auth::Cognito { .. } => "Cognito",
                Auth::Oidc { .. } => "OIDC",
            }
            .to_string()
        }),
        bypass: access
            .bypass
            .as_ref()
            .map(|b| (b.header.clone(), b.value_env.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::RawProfile;

    #[test]
    fn the_comment_learns_each_profiles_protection_and_no_secret() {
        let mut raw: RawProfile =
            crate::profile::sample_raw(&[("dynamic_zone_name", "dev.example.com")]);
        let open = Profile::from_raw("api", &raw).unwrap();
        for (k, v) in [
            ("allow_cidrs", "203.0.113.0/24, 198.51.100.7/32"),
            ("auth", "oidc"),
            ("auth_issuer", "https://idp"),
            ("auth_authorization_endpoint", "https://idp/a"),
            ("auth_token_endpoint", "https://idp/t"),
            ("auth_user_info_endpoint", "https://idp/u"),
            ("auth_client_id", "eden"),
            ("auth_client_secret_env", "OIDC_SECRET"),
            ("bypass_header", "X-Preview-Token"),
            ("bypass_value_env", "PREVIEW_TOKEN"),
        ] {
            raw.insert(k.into(), v.into());
        }
        let protected = Profile::from_raw("web", &raw).unwrap();
        let e = endpoints_of(&[open, protected], "pr-1");
        assert!(e[0].protection.is_open());
        assert_eq!(
            e[1].protection,
            Protection {
                ranges: 2,
                sign_in: Some("OIDC".into()),
                bypass: Some(("X-Preview-Token".into(), "PREVIEW_TOKEN".into())),
            }
        );
        assert_eq!(e[1].hostname, "api-pr-1.dev.example.com");
    }
}
