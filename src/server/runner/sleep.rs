//! The runner's sleep and wake: jobs the server queued itself (an idle preview, a half-done
//! sleep or wake, a request at the waker) run through the preview core (`Command::Sleep` /
//! `Command::Wake`), like `/eden sleep` and `/eden wake`; afterwards this replica's index of
//! sleeping previews and the sleep metrics follow what the run did.

use std::time::Instant;

use super::{done, fail, JobDone, JobError, Pr, PreviewRunner};
use crate::github::decide::Decision;
use crate::idle;
use crate::preview::{Command, Report, Request, Target};
use crate::server::job::{SleepCause, WakeCause, Work};
use crate::server::metrics;
use crate::server::queue::Signals;
use crate::server::sleepers::Sleeper;

/// Why a run may sleep or wake a preview, for the metrics (`eden_wakes_total{cause}`,
/// `eden_sleeps_total{cause}`).
pub fn cause(work: &Work) -> &'static str {
    match work {
        Work::Event(_) | Work::Recheck { .. } => "push",
        Work::Command { .. } => "command",
        Work::Sleep {
            cause: SleepCause::Idle,
            ..
        } => "idle",
        Work::Wake {
            cause: WakeCause::Request,
            ..
        } => "request",
        Work::Sleep { .. } | Work::Wake { .. } => "finish",
    }
}

impl PreviewRunner {
    /// A Sleep or Wake job the server queued: every profile of `environment`. An idle sleep
    /// first reads the PR: labelled `keep_awake_label`, or closed (the recheck deletes it), it
    /// stays as it is.
    pub(super) async fn background(
        &self,
        pr: &Pr<'_>,
        command: Command,
        environment: &str,
        idle_sleep: bool,
        signals: &Signals,
    ) -> Result<JobDone, JobError> {
        let event = match pr.ctx.github {
            Some(_) => Some(pr.read().await.map_err(fail)?),
            None => None,
        };
        if let (Some(e), true) = (&event, idle_sleep) {
            if idle::kept_awake(pr.repo.keep_awake_label.as_deref(), &e.labels) {
                tracing::info!(pr = %pr.key, environment, "kept awake by its label");
                return done("kept_awake");
            }
            if e.state != "open" {
                return done("skipped");
            }
        }
        let req = Request {
            name: Some(environment.to_string()),
            targets: profiles(pr),
            event: None,
            command,
            label: None,
        };
        let mut prepared = pr.ctx.prepare(req).await.map_err(fail)?;
        prepared.event = event;
        self.execute(pr, prepared, signals).await
    }

    /// After a run: the sleeping-preview index and the metrics follow what it did.
    pub(super) fn bookkeeping(&self, pr: &Pr<'_>, report: &Report, started: Instant) {
        let ok: Vec<_> = report
            .runs
            .iter()
            .filter_map(|r| r.result.as_ref().ok())
            .collect();
        let all_ok = ok.len() == report.runs.len();
        match report.decision {
            Decision::Sleep => {
                for o in &ok {
                    if let (Some(host), Some(sleep)) = (&o.hostname, &o.sleep) {
                        let sleeper = Sleeper {
                            key: pr.key.clone(),
                            environment: o.environment.clone(),
                            profile: o.profile.clone(),
                            since: sleep.since,
                        };
                        self.sleepers.insert(host, sleeper);
                    }
                }
                if all_ok && !ok.is_empty() {
                    metrics::slept(pr.cause);
                }
            }
            Decision::Wake | Decision::Deploy => {
                if ok.iter().any(|o| o.woke) {
                    metrics::woke(pr.cause);
                    metrics::wake_to_ready(started.elapsed());
                }
                if all_ok {
                    self.sleepers.remove_pr(pr.key);
                }
            }
            Decision::Delete { .. } if all_ok => self.sleepers.remove_pr(pr.key),
            Decision::Delete { .. } | Decision::Skip { .. } => {}
        }
    }
}

/// Every profile of the repository, without an image (sleep and wake deploy nothing).
fn profiles(pr: &Pr<'_>) -> Vec<Target> {
    pr.repo
        .images
        .keys()
        .map(|profile| Target {
            profile: profile.clone(),
            image_uri: None,
        })
        .collect()
}
