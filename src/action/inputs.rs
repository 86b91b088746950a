//! The action's inputs (`INPUT_<NAME>`, upper-cased with hyphens kept) and the runner's
//! environment. `INPUTS` is the single list that action.yml must match (a test checks).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};

use crate::github::decide::Command;

/// Every input of action.yml, in its order.
pub const INPUTS: &[&str] = &[
    "profile",
    "image-uri",
    "config-path",
    "remote-profile",
    "remote-table-name",
    "name",
    "github-token",
    "comment",
    "comment-template",
    "env",
    "deployment",
    "wait",
    "wait-timeout",
    "label",
    "comment-author",
    "command",
    "ttl",
    "dry-run",
];

pub use crate::preview::Target;

#[derive(Debug, Clone)]
pub struct Inputs {
    pub targets: Vec<Target>,
    pub config_path: String,
    pub remote_profile: bool,
    pub remote_table_name: String,
    pub name: Option<String>,
    pub github_token: String,
    pub comment: bool,
    /// Path (relative to the workspace) of a Markdown comment template.
    pub comment_template: Option<String>,
    /// Lines of `NAME=value` for the target container (validated).
    pub env: crate::preview::EnvTemplate,
    pub deployment: bool,
    pub wait: bool,
    pub wait_timeout: Duration,
    pub label: Option<String>,
    /// The login eden's comments are written by; `None`: found out (see `preview::Author`).
    pub comment_author: Option<String>,
    pub command: Command,
    pub ttl: Duration,
    pub dry_run: bool,
}

fn boolean(name: &str, v: Option<String>, default: bool) -> Result<bool> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some("true") | Some("True") | Some("TRUE") => Ok(true),
        Some("false") | Some("False") | Some("FALSE") => Ok(false),
        Some(other) => bail!("input `{name}` must be true or false, not {other:?}"),
    }
}

/// `90s`, `10m`, `2h`, `7d`, or plain seconds.
pub fn duration(name: &str, v: &str) -> Result<Duration> {
    let v = v.trim();
    let (num, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| anyhow!("input `{name}` {v:?} is not a duration like 90s, 10m, 2h or 7d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => bail!("input `{name}` {v:?} is not a duration like 90s, 10m, 2h or 7d"),
    };
    Ok(Duration::from_secs(secs))
}

impl Inputs {
    /// Read every input through `get` (the environment in production, a map in tests).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<Inputs> {
        let get = |name: &str| {
            debug_assert!(INPUTS.contains(&name), "input {name} is not in INPUTS");
            get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let image = get("image-uri");
        let profile = get("profile").unwrap_or_else(|| "default".into());
        let targets = parse_targets(&profile, image.as_deref())?;
        let command: Command = get("command")
            .unwrap_or_default()
            .parse()
            .map_err(|e: String| anyhow!("input `command`: {e}"))?;
        Ok(Inputs {
            targets,
            config_path: get("config-path").unwrap_or_else(|| ".github/eden.ini".into()),
            remote_profile: boolean("remote-profile", get("remote-profile"), false)?,
            remote_table_name: get("remote-table-name").unwrap_or_else(|| "eden".into()),
            name: get("name"),
            github_token: get("github-token").unwrap_or_default(),
            comment: boolean("comment", get("comment"), true)?,
            comment_template: get("comment-template"),
            env: crate::preview::EnvTemplate::parse(&get("env").unwrap_or_default())
                .map_err(|e| anyhow!("input `env`: {e}"))?,
            deployment: boolean("deployment", get("deployment"), false)?,
            wait: boolean("wait", get("wait"), true)?,
            wait_timeout: duration(
                "wait-timeout",
                &get("wait-timeout").unwrap_or_else(|| "10m".into()),
            )?,
            label: get("label"),
            comment_author: get("comment-author"),
            command,
            ttl: duration("ttl", &get("ttl").unwrap_or_else(|| "7d".into()))?,
            dry_run: boolean("dry-run", get("dry-run"), false)?,
        })
    }

    pub fn from_env() -> Result<Inputs> {
        if std::env::var("INPUT_ALLOW-FORKS").is_ok_and(|v| !v.trim().is_empty()) {
            bail!("input `allow-forks` was removed: eden never runs fork code with your credentials; remove it from the workflow (fork PRs are skipped; docs/action.md#fork-pull-requests shows the safe pattern for previews of fork PRs)");
        }
        Inputs::read(|name| std::env::var(format!("INPUT_{}", name.to_ascii_uppercase())).ok())
    }
}

/// `api` (with `image-uri`), or lines of `profile=image-uri` for a multi-service environment.
pub fn parse_targets(profile: &str, image: Option<&str>) -> Result<Vec<Target>> {
    let lines: Vec<&str> = profile
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    if lines.len() == 1 && !lines[0].contains('=') {
        return Ok(vec![Target {
            profile: lines[0].to_string(),
            image_uri: image.map(str::to_string),
        }]);
    }
    let mut out: Vec<Target> = Vec::new();
    for l in lines {
        let (p, img) = match l.split_once('=') {
            Some((p, i)) => (
                p.trim(),
                Some(i.trim().to_string()).filter(|i| !i.is_empty()),
            ),
            None => (l, image.map(str::to_string)),
        };
        if p.is_empty() {
            bail!("input `profile`: line {l:?} has no profile name (expected profile=image-uri)");
        }
        if out.iter().any(|t| t.profile == p) {
            bail!("input `profile`: profile {p:?} is listed twice");
        }
        out.push(Target {
            profile: p.to_string(),
            image_uri: img,
        });
    }
    if out.is_empty() {
        bail!("input `profile` is empty");
    }
    Ok(out)
}

/// What the runner provides besides inputs.
#[derive(Debug, Clone)]
pub struct Runner {
    pub event_path: Option<PathBuf>,
    pub api_url: String,
    pub server_url: String,
    pub repository: String,
    pub run_id: Option<String>,
    pub output: Option<PathBuf>,
    pub summary: Option<PathBuf>,
    pub workspace: PathBuf,
}

impl Runner {
    pub fn from_env() -> Result<Runner> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Ok(Runner {
            event_path: var("GITHUB_EVENT_PATH").map(PathBuf::from),
            api_url: var("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into()),
            server_url: var("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into()),
            repository: var("GITHUB_REPOSITORY").ok_or_else(|| {
                anyhow!("GITHUB_REPOSITORY is not set: run this inside GitHub Actions (or set it)")
            })?,
            run_id: var("GITHUB_RUN_ID"),
            output: var("GITHUB_OUTPUT").map(PathBuf::from),
            summary: var("GITHUB_STEP_SUMMARY").map(PathBuf::from),
            workspace: var("GITHUB_WORKSPACE")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(".")),
        })
    }

    pub fn repo_url(&self) -> String {
        format!(
            "{}/{}",
            self.server_url.trim_end_matches('/'),
            self.repository
        )
    }

    pub fn run_url(&self) -> Option<String> {
        self.run_id
            .as_ref()
            .map(|id| format!("{}/actions/runs/{id}", self.repo_url()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    #[test]
    fn every_input_is_read() {
        let asked = RefCell::new(BTreeSet::new());
        Inputs::read(|n| {
            asked.borrow_mut().insert(n.to_string());
            None
        })
        .unwrap();
        assert_eq!(
            asked.into_inner(),
            INPUTS.iter().map(|s| s.to_string()).collect()
        );
    }

    #[test]
    fn defaults_and_values() {
        let i = Inputs::read(|_| None).unwrap();
        assert_eq!(
            i.targets,
            vec![Target {
                profile: "default".into(),
                image_uri: None
            }]
        );
        assert!(i.comment && i.wait && !i.deployment && !i.dry_run);
        assert_eq!(i.comment_author, None);
        assert_eq!(i.wait_timeout, Duration::from_secs(600));
        assert_eq!(i.config_path, ".github/eden.ini");
        assert!(Inputs::read(|n| (n == "wait").then(|| "yes".into())).is_err());
        assert!(Inputs::read(|n| (n == "command").then(|| "nuke".into())).is_err());
        for (word, command) in [("sleep", Command::Sleep), ("wake", Command::Wake)] {
            let i = Inputs::read(|n| (n == "command").then(|| word.into())).unwrap();
            assert_eq!(i.command, command);
        }
    }

    #[test]
    fn multi_service_targets() {
        let t = parse_targets("api=a:1\nadmin = b:2\n\nfrontend=c:3", None).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(
            t[1],
            Target {
                profile: "admin".into(),
                image_uri: Some("b:2".into())
            }
        );
        assert!(parse_targets("api=a\napi=b", None).is_err());
        assert_eq!(duration("t", "7d").unwrap(), Duration::from_secs(604800));
        assert!(duration("t", "soon").is_err());
    }
}
