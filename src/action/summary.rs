//! The job summary (`GITHUB_STEP_SUMMARY`) and the dry-run plan. Pure.

use super::inputs::Target;
use crate::github::comment::{escape, Endpoint};
use crate::github::decide::Decision;
use crate::preview::ProfileRun;

pub fn skipped(environment: &str, reason: &str) -> String {
    format!("### eden · skipped `{environment}`\n\n{}\n", escape(reason))
}

pub fn plan(
    environment: &str,
    decision: &Decision,
    targets: &[Target],
    endpoints: &[Endpoint],
) -> String {
    let mut s = format!("### eden · dry run for `{environment}`\n\n");
    let what = match decision {
        Decision::Deploy => "create or deploy".to_string(),
        Decision::Delete { reason } => format!("delete ({})", escape(reason)),
        Decision::Skip { reason } => format!("skip ({})", escape(reason)),
        Decision::Sleep => "sleep".to_string(),
        Decision::Wake => "wake".to_string(),
    };
    s.push_str(&format!(
        "Plan: **{what}**; nothing was written.\n\n| Profile | Image | Hostname |\n|---|---|---|\n"
    ));
    for (t, e) in targets.iter().zip(endpoints) {
        s.push_str(&format!(
            "| {} | {} | {} |\n",
            escape(&t.profile),
            t.image_uri
                .as_deref()
                .map(escape)
                .unwrap_or_else(|| "—".into()),
            e.hostname
        ));
    }
    s
}

pub fn done(environment: &str, action: &str, runs: &[ProfileRun]) -> String {
    let mut s = format!("### eden · {action} `{environment}`\n\n| Profile | URL | Service | Task definition | Target group | Rule |\n|---|---|---|---|---|---|\n");
    let cell = |v: &Option<String>| {
        v.as_deref()
            .map(|a| format!("`{}`", a.rsplit(['/', ':']).next().unwrap_or(a)))
            .unwrap_or_else(|| "—".into())
    };
    for run in runs {
        let p = &run.profile;
        match &run.result {
            Ok(o) => s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                escape(p),
                o.url.clone().unwrap_or_else(|| "—".into()),
                cell(&o.service_arn),
                o.task_definition_arn
                    .as_deref()
                    .map(|a| format!("`{}`", a.rsplit('/').next().unwrap_or(a)))
                    .unwrap_or_else(|| "—".into()),
                cell(&o.target_group_arn),
                cell(&o.rule_arn),
            )),
            Err(e) => s.push_str(&format!(
                "| {} | ❌ {} | | | | |\n",
                escape(p),
                escape(&format!("{e:#}"))
            )),
        }
    }
    s.push_str("\n<details><summary>Step timings</summary>\n\n| Profile | Step | Done at (ms) | Took (ms) | Detail |\n|---|---|---|---|---|\n");
    for run in runs {
        let p = &run.profile;
        if let Ok(o) = &run.result {
            for st in &o.steps {
                s.push_str(&format!(
                    "| {} | {} | {} | {} | {} |\n",
                    escape(p),
                    st.step,
                    st.at_ms,
                    st.took_ms,
                    table_text(&st.detail)
                ));
            }
        }
    }
    s.push_str("\n</details>\n");
    s
}

/// eden's own text in a table cell: only the cell separator and line breaks matter.
fn table_text(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

pub fn gc(notes: &[String], dry_run: bool) -> String {
    let mut s = format!(
        "### eden · gc{}\n\n",
        if dry_run { " (dry run)" } else { "" }
    );
    if notes.is_empty() {
        s.push_str("Nothing to collect.\n");
    }
    for n in notes {
        s.push_str(&format!("- {}\n", escape(n)));
    }
    s
}
