//! Rendering outcomes for people (text) and programs (JSON). Pure: no I/O.

use crate::engine::{Action, ErrorKind, Outcome};

/// The exit code for a failure of this kind (the CLI and the Action; docs/cli.md lists them).
/// An interrupted run exits with its signal's code instead (130 or 143, `main.rs`).
pub fn exit_code(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::Internal => 1,
        ErrorKind::BadInput => 2,
        ErrorKind::Refused => 3,
        ErrorKind::NotFound => 4,
        ErrorKind::Aws => 5,
        ErrorKind::Busy => 75,
        ErrorKind::Interrupted => 130,
    }
}

pub fn json(outcome: &Outcome) -> String {
    serde_json::to_string_pretty(outcome).expect("outcomes serialise")
}

pub fn json_list(outcomes: &[Outcome]) -> String {
    serde_json::to_string_pretty(outcomes).expect("outcomes serialise")
}

/// What a person reads after create, deploy or delete.
pub fn text(o: &Outcome, verbose: bool) -> String {
    let mut out = String::new();
    let head = match o.action {
        Some(Action::Created) => format!(
            "Created environment {} (profile {})",
            o.environment, o.profile
        ),
        Some(Action::Deployed) => format!(
            "Deployed environment {} (profile {})",
            o.environment, o.profile
        ),
        Some(Action::Deleted) => format!(
            "Deleted environment {} (profile {})",
            o.environment, o.profile
        ),
        Some(Action::Absent) => {
            format!(
                "Environment {} (profile {}) does not exist; nothing to delete",
                o.environment, o.profile
            )
        }
        Some(Action::Slept) => format!(
            "Environment {} (profile {}) is {}",
            o.environment,
            o.profile,
            crate::engine::state::describe(o.sleep.as_ref())
        ),
        Some(Action::Woke) if o.woke => format!(
            "Woke environment {} (profile {}): ready and serving",
            o.environment, o.profile
        ),
        Some(Action::Woke) => format!(
            "Environment {} (profile {}) is awake; nothing to wake",
            o.environment, o.profile
        ),
        None => format!("Environment {} (profile {})", o.environment, o.profile),
    };
    out.push_str(&head);
    out.push('\n');
    for s in &o.steps {
        if verbose {
            out.push_str(&format!(
                "  [{:>6} ms, {:>5} ms] {:<18} {}\n",
                s.at_ms, s.took_ms, s.step, s.detail
            ));
        } else {
            out.push_str(&format!("  - {:<18} {}\n", s.step, s.detail));
        }
    }
    if o.action != Some(Action::Absent) {
        let fields = [
            ("url", &o.url),
            ("image", &o.image),
            ("service", &o.service_arn),
            ("task definition", &o.task_definition_arn),
            ("target group", &o.target_group_arn),
            ("listener rule", &o.rule_arn),
        ];
        for (k, v) in fields {
            if let Some(v) = v {
                out.push_str(&format!("  {k:<16} {v}\n"));
            }
        }
    }
    out
}

/// `eden ls` for people: grouped by profile, like the original.
pub fn list_text(rows: &[Outcome]) -> String {
    if rows.is_empty() {
        return "No environments available\n".to_string();
    }
    let mut out = String::new();
    let mut current: Option<&str> = None;
    for r in rows {
        if current != Some(r.profile.as_str()) {
            if current.is_some() {
                out.push('\n');
            }
            out.push_str(&format!("Profile {}:\n", r.profile));
            current = Some(r.profile.as_str());
        }
        let state = r
            .state
            .as_ref()
            .map(|s| format!(" {s}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {} {} [{}]{state} (last updated: {})\n",
            r.environment,
            r.hostname.as_deref().unwrap_or("-"),
            r.status.as_deref().unwrap_or("?"),
            r.last_updated.as_deref().unwrap_or("never")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(action: Option<Action>) -> Outcome {
        Outcome {
            profile: "api".into(),
            environment: "pr-1".into(),
            hostname: Some("api-pr-1.dev.example.com".into()),
            url: Some("https://api-pr-1.dev.example.com".into()),
            service_arn: Some("arn:svc".into()),
            target_group_arn: None,
            task_definition_arn: None,
            rule_arn: None,
            action,
            image: None,
            last_updated: Some("2026-11-22T20:00:00Z".into()),
            status: Some("ready".into()),
            metadata: Default::default(),
            steps: vec![],
            dns_change_id: None,
            sleep: None,
            last_woken: None,
            woke: false,
            state: None,
        }
    }

    #[test]
    fn json_has_the_documented_fields() {
        let v: serde_json::Value =
            serde_json::from_str(&json(&outcome(Some(Action::Created)))).unwrap();
        for k in [
            "profile",
            "environment",
            "hostname",
            "url",
            "service_arn",
            "target_group_arn",
            "task_definition_arn",
            "rule_arn",
            "action",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert_eq!(v["action"], "created");
    }

    #[test]
    fn text_says_what_happened() {
        assert!(text(&outcome(Some(Action::Absent)), false).contains("does not exist"));
        assert!(text(&outcome(Some(Action::Deployed)), false)
            .contains("https://api-pr-1.dev.example.com"));
        assert_eq!(list_text(&[]), "No environments available\n");
        assert!(list_text(&[outcome(None)])
            .starts_with("Profile api:\n  pr-1 api-pr-1.dev.example.com [ready]"));
    }
}
