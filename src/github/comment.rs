//! The sticky PR comment: found by a hidden marker, rendered from what happened. Pure.

use time::OffsetDateTime;

/// Where the preview stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The image for the head commit is not in ECR yet (the server waits for CI to push it).
    WaitingForImage(String),
    Deploying,
    /// Deployed; waiting until it serves (what it waits for now, per service).
    Waiting(String),
    Ready,
    /// Deployed, but not waited for (`wait: false`).
    Deployed,
    Failed(String),
    Deleting,
    Deleted,
    /// Asleep (no tasks) since `since` ("14:02 UTC"); `waker`: a visit wakes it (else a push
    /// or `/eden wake` does).
    Asleep {
        since: String,
        waker: bool,
    },
    /// Its tasks are starting again; the rule forwards once they are ready.
    Waking,
}

impl Status {
    pub fn label(&self) -> &'static str {
        match self {
            Status::WaitingForImage(_) => "⏳ waiting for the image",
            Status::Deploying | Status::Waiting(_) => "⏳ deploying",
            Status::Ready => "✅ ready",
            Status::Deployed => "🚀 deployed",
            Status::Failed(_) => "❌ failed",
            Status::Deleting => "🧹 deleting",
            Status::Deleted => "🗑️ deleted",
            Status::Asleep { .. } => "😴 asleep",
            Status::Waking => "⏰ waking",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Endpoint {
    pub profile: String,
    pub hostname: String,
}

#[derive(Debug, Clone)]
pub struct View {
    pub pr: u64,
    pub environment: String,
    pub status: Status,
    pub endpoints: Vec<Endpoint>,
    pub branch: String,
    pub commit_sha: String,
    /// e.g. `https://github.com/o/r`
    pub repo_url: String,
    /// The workflow run's logs.
    pub run_url: Option<String>,
    pub at: OffsetDateTime,
    /// A failed run's container log, shown under its error (collapsed) with a console link.
    pub failure_log: Option<FailureLog>,
}

/// The end of a failed container's log, and where to read the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureLog {
    /// e.g. `api: container app`
    pub title: String,
    /// Oldest first.
    pub lines: Vec<String>,
    pub console_url: Option<String>,
}

/// The hidden marker: one comment per PR and environment.
pub fn marker(pr: u64, environment: &str) -> String {
    format!(
        "<!-- eden:preview pr={pr} environment={} -->",
        environment.replace("--", "-\u{2010}")
    )
}

/// Escape text that comes from the PR (branch names, titles) for Markdown.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '#' | '+' | '-' | '.'
            | '!' | '|' | '~' | '>' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The table of each service's URL (struck through once deleted).
pub fn endpoints_table(v: &View) -> String {
    let mut out = String::new();
    let live = matches!(
        v.status,
        Status::Ready
            | Status::Deployed
            | Status::Deploying
            | Status::Waiting(_)
            | Status::Failed(_)
            | Status::Asleep { .. }
            | Status::Waking
    );
    if !v.endpoints.is_empty() {
        out.push_str("| Service | URL |\n|---|---|\n");
        for e in &v.endpoints {
            let url = if matches!(v.status, Status::Deleted) {
                format!("~~https://{}~~", e.hostname)
            } else if live {
                format!("https://{}", e.hostname)
            } else {
                format!("`{}`", e.hostname)
            };
            out.push_str(&format!("| {} | {} |\n", escape(&e.profile), url));
        }
    }
    out
}

/// The error of a failed run as a fenced block, then its log tail (collapsed) and the console
/// link when the run has them; empty otherwise.
pub fn error_block(v: &View) -> String {
    let Status::Failed(err) = &v.status else {
        return String::new();
    };
    let fence = |text: &str| text.replace("```", "'''");
    let mut out = format!("**Error**\n\n```\n{}\n```\n", fence(err));
    let Some(log) = &v.failure_log else {
        return out;
    };
    if !log.lines.is_empty() {
        out.push_str(&format!(
            "\n<details><summary>Last {} log lines ({})</summary>\n\n```\n{}\n```\n\n</details>\n",
            log.lines.len(),
            escape(&log.title),
            fence(&log.lines.join("\n"))
        ));
    }
    if let Some(url) = &log.console_url {
        out.push_str(&format!(
            "\n[The whole log in the CloudWatch console]({url})\n"
        ));
    }
    out
}

/// `` [`abc1234`](…/commit/sha) ``
pub fn commit_link(v: &View) -> String {
    let short = &v.commit_sha[..v.commit_sha.len().min(7)];
    format!("[`{short}`]({}/commit/{})", v.repo_url, v.commit_sha)
}

pub fn time_text(v: &View) -> String {
    v.at.format(&time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute] UTC"
    ))
    .unwrap_or_default()
}

/// What a sleeping or waking preview's comment says under its table (empty otherwise).
pub fn sleep_line(status: &Status) -> String {
    match status {
        Status::Asleep { since, waker: true } => format!(
            "Asleep since {since}, wakes on the next visit (about a minute).\n\n"
        ),
        Status::Asleep { since, waker: false } => format!(
            "Asleep since {since}, wakes on the next push or `/eden wake`.\n\n"
        ),
        Status::Waking => "Waking: its tasks are starting; it serves again once they are ready (about a minute).\n\n".to_string(),
        _ => String::new(),
    }
}

pub fn render(v: &View) -> String {
    let mut out = String::new();
    out.push_str(&marker(v.pr, &v.environment));
    out.push('\n');
    out.push_str(&format!(
        "### Preview environment `{}` — {}\n\n",
        v.environment.replace('`', "'"),
        v.status.label()
    ));
    let table = endpoints_table(v);
    if !table.is_empty() {
        out.push_str(&table);
        out.push('\n');
    }
    if let Status::WaitingForImage(image) = &v.status {
        out.push_str(&format!(
            "Waiting for `{}` to appear in ECR; the preview deploys as soon as it does.\n\n",
            image.replace('`', "'")
        ));
    }
    if let Status::Waiting(what) = &v.status {
        out.push_str(&format!("Waiting for {}.\n\n", escape(what)));
    }
    out.push_str(&sleep_line(&v.status));
    let err = error_block(v);
    if !err.is_empty() {
        out.push_str(&err);
        out.push('\n');
    }
    out.push_str(&format!(
        "Commit {} on branch {} · {}",
        commit_link(v),
        escape(&v.branch),
        time_text(v)
    ));
    if let Some(run) = &v.run_url {
        out.push_str(&format!(" · [logs]({run})"));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(status: Status) -> View {
        View {
            pr: 42,
            environment: "pr-42".into(),
            status,
            endpoints: vec![
                Endpoint {
                    profile: "api".into(),
                    hostname: "api-pr-42.dev.example.com".into(),
                },
                Endpoint {
                    profile: "admin".into(),
                    hostname: "admin-pr-42.dev.example.com".into(),
                },
            ],
            branch: "feature/*bold*_[x](y)".into(),
            commit_sha: "ec26c3e57ca3a959ca5aad62de7213c562f8c821".into(),
            repo_url: "https://github.com/Codertocat/Hello-World".into(),
            run_url: Some("https://github.com/Codertocat/Hello-World/actions/runs/1".into()),
            at: time::macros::datetime!(2026-11-22 20:40:05 UTC),
            failure_log: None,
        }
    }

    #[test]
    fn ready() {
        insta::assert_snapshot!(render(&view(Status::Ready)));
    }

    #[test]
    fn failed_and_deleted() {
        insta::assert_snapshot!(render(&view(Status::Failed(
            "image not found: push it first".into()
        ))));
        insta::assert_snapshot!(render(&view(Status::Deleted)));
    }

    #[test]
    fn a_failed_runs_log_tail_is_collapsed_under_its_error() {
        let mut v = view(Status::Failed(
            "api: task 0123 stopped: EssentialContainerExited (app exited 1)".into(),
        ));
        let without = render(&v);
        assert!(!without.contains("<details>"), "{without}");
        v.failure_log = Some(FailureLog {
            title: "api: container app".into(),
            lines: vec!["starting".into(), "panic: ```boom```".into()],
            console_url: Some("https://console.aws.amazon.com/cloudwatch/home#logsV2".into()),
        });
        let with = render(&v);
        let error = with.find("**Error**").unwrap();
        let details = with
            .find("<details><summary>Last 2 log lines (api: container app)")
            .unwrap();
        assert!(error < details, "{with}");
        assert!(with.contains("starting\npanic: '''boom'''\n```"), "{with}");
        assert!(
            with.contains("[The whole log in the CloudWatch console](https://console.aws.amazon.com/cloudwatch/home#logsV2)"),
            "{with}"
        );
        // Only a failed run shows it.
        v.status = Status::Ready;
        assert!(!render(&v).contains("<details>"));
    }

    #[test]
    fn while_waiting_the_comment_says_for_what() {
        let text = render(&view(Status::Waiting(
            "health checks (10.0.2.20: initial)".into(),
        )));
        assert!(text.contains("⏳ deploying"), "{text}");
        assert!(
            text.contains("Waiting for health checks \\(10\\.0\\.2\\.20: initial\\)."),
            "{text}"
        );
        assert!(text.contains("https://api-pr-42.dev.example.com"), "{text}");
    }

    #[test]
    fn a_sleeping_preview_says_since_when_and_how_it_wakes() {
        let with_waker = render(&view(Status::Asleep {
            since: "14:02 UTC".into(),
            waker: true,
        }));
        assert!(with_waker.contains("— 😴 asleep"), "{with_waker}");
        assert!(
            with_waker
                .contains("Asleep since 14:02 UTC, wakes on the next visit (about a minute)."),
            "{with_waker}"
        );
        assert!(
            with_waker.contains("| api | https://api-pr-42.dev.example.com |"),
            "{with_waker}"
        );
        let without = render(&view(Status::Asleep {
            since: "14:02 UTC".into(),
            waker: false,
        }));
        assert!(
            without.contains("Asleep since 14:02 UTC, wakes on the next push or `/eden wake`."),
            "{without}"
        );
        assert!(!without.contains("next visit"), "{without}");
        let waking = render(&view(Status::Waking));
        assert!(waking.contains("— ⏰ waking"), "{waking}");
        assert!(
            waking.contains("Waking: its tasks are starting"),
            "{waking}"
        );
        // back to ready: nothing about sleep
        let ready = render(&view(Status::Ready));
        assert!(
            !ready.contains("sleep") && !ready.contains("Asleep"),
            "{ready}"
        );
    }

    #[test]
    fn escapes_what_comes_from_the_pr() {
        assert_eq!(escape("a_b*c<d>`e`"), "a\\_b\\*c&lt;d\\>\\`e\\`");
        assert!(render(&view(Status::Ready)).contains("feature/\\*bold\\*\\_\\[x\\]\\(y\\)"));
        assert!(render(&view(Status::Ready)).starts_with(&marker(42, "pr-42")));
    }
}
