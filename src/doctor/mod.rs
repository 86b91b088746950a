//! `eden doctor`: a read-only checklist of what a profile needs in the live account.
//!
//! Every line is ok, a warning, or a problem with the fix. A problem blocks creates; the CLI
//! then exits 1. Doctor writes nothing: it reads (Describe*/Get*/List*), and simulates the
//! caller's policies with iam:SimulatePrincipalPolicy where that is allowed.

mod checks;
mod permissions;
pub mod render;

use serde::Serialize;

use crate::aws::Aws;
use crate::profile::Profile;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Works today, but will not for long, or only partly (e.g. deletes, long names).
    Warning,
    /// Blocks creates.
    Problem,
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub status: Status,
    pub detail: String,
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(check: &'static str, detail: impl Into<String>) -> Check {
        Check {
            check,
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn warning(
        check: &'static str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            check,
            status: Status::Warning,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn problem(
        check: &'static str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            check,
            status: Status::Problem,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub profile: String,
    /// The caller as STS reports it (`null` when STS could not be reached).
    pub caller: Option<String>,
    /// True when no line is a problem (creates are not blocked).
    pub ok: bool,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn problems(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Problem)
            .count()
    }
}

/// Run every check for `profile` (state table `table`) concurrently.
pub async fn run(aws: &Aws, profile: &Profile, table: &str) -> Report {
    let ((mut all, facts), identity) = tokio::join!(
        checks::infra(aws, profile, table),
        crate::aws::sts::caller_identity(aws),
    );
    let (caller, perm_check) = permissions::check(aws, profile, table, &facts, identity).await;
    all.push(perm_check);
    Report {
        profile: profile.name.clone(),
        caller,
        ok: all.iter().all(|c| c.status != Status::Problem),
        checks: all,
    }
}
