//! A team's own comment text (`comment-template`): Markdown with placeholders, validated when
//! read (an unknown placeholder is an error before anything runs). The hidden marker is always
//! put first, so the comment stays findable.

use anyhow::{bail, Result};

use super::placeholder::{placeholders, substitute};
use crate::github::comment::{
    access_notes, commit_link, endpoints_table, error_block, escape, marker, time_text, View,
};

/// Every placeholder a template may use, with what it becomes.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    (
        "status",
        "⏳ deploying, ✅ ready, 🚀 deployed, ❌ failed, 🧹 deleting or 🗑️ deleted",
    ),
    ("environment", "the environment's name"),
    ("url", "the first service's URL"),
    ("urls", "a table of every service's URL"),
    (
        "access",
        "who may reach each protected service and how to get in (empty when all are open)",
    ),
    ("number", "the pull request's number"),
    ("commit", "the short commit SHA, linked"),
    ("sha", "the full commit SHA"),
    ("branch", "the branch (Markdown-escaped)"),
    ("run_url", "the run's logs URL (empty when unknown)"),
    ("logs", "a `[logs](…)` link (empty when unknown)"),
    ("time", "when the comment was written (UTC)"),
    (
        "error",
        "the error of a failed run as a code block (empty otherwise)",
    ),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentTemplate {
    text: String,
}

impl CommentTemplate {
    pub fn parse(text: &str) -> Result<CommentTemplate> {
        let found = placeholders(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        let unknown: Vec<String> = found
            .iter()
            .filter(|p| !PLACEHOLDERS.iter().any(|(k, _)| k == p))
            .map(|p| format!("{{{p}}}"))
            .collect();
        if !unknown.is_empty() {
            bail!(
                "unknown placeholder {} (known: {})",
                unknown.join(", "),
                PLACEHOLDERS
                    .iter()
                    .map(|(k, _)| format!("{{{k}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if text.trim().is_empty() {
            bail!("the template is empty");
        }
        Ok(CommentTemplate {
            text: text.to_string(),
        })
    }

    pub fn render(&self, v: &View) -> String {
        let url = v
            .endpoints
            .first()
            .map(|e| format!("https://{}", e.hostname))
            .unwrap_or_default();
        let body = substitute(&self.text, |p| match p {
            "status" => v.status.label().to_string(),
            "environment" => v.environment.clone(),
            "url" => url.clone(),
            "urls" => endpoints_table(v),
            "access" => access_notes(v),
            "number" => v.pr.to_string(),
            "commit" => commit_link(v),
            "sha" => v.commit_sha.clone(),
            "branch" => escape(&v.branch),
            "run_url" => v.run_url.clone().unwrap_or_default(),
            "logs" => v
                .run_url
                .as_ref()
                .map(|u| format!("[logs]({u})"))
                .unwrap_or_default(),
            "time" => time_text(v),
            "error" => error_block(v),
            _ => String::new(),
        });
        format!("{}\n{body}", marker(v.pr, &v.environment))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::comment::{Endpoint, Status};

    fn view(status: Status) -> View {
        View {
            pr: 9,
            environment: "pr-9".into(),
            status,
            endpoints: vec![Endpoint {
                profile: "api".into(),
                hostname: "api-pr-9.example.com".into(),
                protection: Default::default(),
            }],
            branch: "fix_*it*".into(),
            commit_sha: "0123456789abcdef".into(),
            repo_url: "https://github.com/o/r".into(),
            run_url: Some("https://github.com/o/r/actions/runs/1".into()),
            at: time::macros::datetime!(2026-12-02 10:00:00 UTC),
            failure_log: None,
        }
    }

    #[test]
    fn placeholders_are_filled_and_the_marker_leads() {
        let t = CommentTemplate::parse(
            "## {status} {{literal}}\nOpen {url} ({environment}, #{number}) at {commit} on {branch}. {logs}\n{error}",
        )
        .unwrap();
        let out = t.render(&view(Status::Ready));
        assert_eq!(
            out,
            "<!-- eden:preview pr=9 environment=pr-9 -->\n## ✅ ready {literal}\nOpen https://api-pr-9.example.com (pr-9, #9) at [`0123456`](https://github.com/o/r/commit/0123456789abcdef) on fix\\_\\*it\\*. [logs](https://github.com/o/r/actions/runs/1)\n"
        );
        assert!(t
            .render(&view(Status::Failed("boom".into())))
            .contains("```\nboom\n```"));
    }

    #[test]
    fn access_says_how_to_reach_a_protected_service() {
        let t = CommentTemplate::parse("{url}\n{access}").unwrap();
        let mut v = view(Status::Ready);
        assert!(t.render(&v).ends_with("https://api-pr-9.example.com\n"));
        v.endpoints[0].protection = crate::github::comment::Protection {
            ranges: 1,
            sign_in: Some("Cognito".into()),
            bypass: None,
        };
        assert!(t.render(&v).ends_with(
            "\n🔒 **api** is protected: restricted to 1 address range; sign in with Cognito\n"
        ));
    }

    #[test]
    fn unknown_placeholders_and_broken_braces_are_refused() {
        let e = CommentTemplate::parse("Hi {user} at {url} {pr}")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("unknown placeholder {user}, {pr} (known: {status},"),
            "{e}"
        );
        assert!(CommentTemplate::parse("{url").is_err());
        assert!(CommentTemplate::parse("  ").is_err());
    }
}
