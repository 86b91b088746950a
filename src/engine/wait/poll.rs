//! The loop: one poll every `interval`, at most three requests a poll, all concurrent —
//! DescribeServices, one task request (ListTasks, or DescribeTasks when the task set changed),
//! and DescribeTargetHealth or GetChange (until INSYNC). The log is read only on failure.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::Result;
use aws_sdk_ecs::types::DesiredStatus;
use tokio::time::Instant;

use super::assess::{assess, new_tasks, Seen, TaskView, Verdict, Waiting};
use super::failure::{Unhealthy, WaitFailure};
use super::read;
use crate::aws::{self, Aws};

/// What to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub cluster: String,
    pub service: String,
    pub target_group: String,
    /// The Route 53 change of the create's UPSERT (`Outcome::dns_change_id`).
    pub dns_change: Option<String>,
}

/// How long, how often, how tolerant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub timeout: Duration,
    /// ≤ 5 s.
    pub interval: Duration,
    /// Stopped tasks of the new deployment tolerated before failing (0: the first fails).
    pub allowed_failures: usize,
}

impl Subject {
    /// The environment a create or deploy just returned, in the profile's cluster.
    pub fn of(profile: &crate::profile::Profile, out: &crate::engine::Outcome) -> Subject {
        Subject {
            cluster: profile.target_cluster.clone(),
            service: out.service_arn.clone().unwrap_or_default(),
            target_group: out.target_group_arn.clone().unwrap_or_default(),
            dns_change: out.dns_change_id.clone(),
        }
    }
}

impl Settings {
    /// `timeout`, polling every 5 s, tolerating the profile's `wait_failed_tasks`.
    pub fn for_profile(profile: &crate::profile::Profile, timeout: Duration) -> Settings {
        Settings {
            allowed_failures: profile.wait_failed_tasks,
            ..Settings::new(timeout)
        }
    }

    pub fn new(timeout: Duration) -> Settings {
        Settings {
            timeout,
            interval: Duration::from_secs(5),
            allowed_failures: 0,
        }
    }
}

/// The task request of one poll.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TaskCall {
    List(DesiredStatus),
    Describe(Vec<String>),
}

/// What the loop remembers between polls.
#[derive(Debug, Default)]
struct Tracker {
    seen: Seen,
    tasks: BTreeMap<String, TaskView>,
    /// The last RUNNING listing.
    listed: BTreeSet<String>,
    /// Listed (or vanished from the listing) but not described since.
    fresh: BTreeSet<String>,
    last_was_list: bool,
    failed_tasks: i32,
    stopped_due: bool,
    polls: u32,
    unhealthy_since: Option<Instant>,
}

impl Tracker {
    fn task_call(&mut self) -> TaskCall {
        let pending: Vec<String> = new_tasks(&self.seen)
            .filter(|t| !t.running() && !t.stopped())
            .map(|t| t.arn.clone())
            .collect();
        if !self.fresh.is_empty() || (!pending.is_empty() && self.last_was_list) {
            let mut arns: BTreeSet<String> = std::mem::take(&mut self.fresh);
            arns.extend(pending);
            self.last_was_list = false;
            return TaskCall::Describe(arns.into_iter().collect());
        }
        self.last_was_list = true;
        if std::mem::take(&mut self.stopped_due) || self.polls % 4 == 3 {
            return TaskCall::List(DesiredStatus::Stopped);
        }
        TaskCall::List(DesiredStatus::Running)
    }

    /// GetChange on the first poll, then every other poll until INSYNC (while no new task
    /// runs, every poll: there are no targets of ours to read yet).
    fn dns_call(&self) -> bool {
        let running = new_tasks(&self.seen).any(TaskView::running);
        !self.seen.dns_insync && (!running || self.polls.is_multiple_of(2))
    }

    fn listed(&mut self, status: &DesiredStatus, arns: Vec<String>) {
        let now: BTreeSet<String> = arns.into_iter().collect();
        let unknown = now.iter().filter(|a| !self.tasks.contains_key(*a));
        self.fresh.extend(unknown.cloned());
        if *status == DesiredStatus::Running {
            // a task that left the RUNNING listing stopped (or is stopping): describe it
            self.fresh.extend(self.listed.difference(&now).cloned());
            self.listed = now;
        }
    }

    fn described(&mut self, tasks: Vec<TaskView>) {
        for t in tasks {
            self.tasks.insert(t.arn.clone(), t);
        }
        self.seen.tasks = self.tasks.values().cloned().collect();
    }
}

/// Poll until the new revision serves; the error is a [`WaitFailure`] (in the chain) when it
/// will not or did not in time, or the AWS error that stopped the wait.
pub async fn until_ready(aws: &Aws, subject: &Subject, settings: &Settings) -> Result<()> {
    until_ready_reporting(aws, subject, settings, &|_| {}).await
}

/// [`until_ready`], telling `progress` what it waits for each time that changes.
pub async fn until_ready_reporting(
    aws: &Aws,
    subject: &Subject,
    settings: &Settings,
    progress: &(dyn Fn(&Waiting) + Send + Sync),
) -> Result<()> {
    let began = Instant::now();
    let deadline = began + settings.timeout;
    let mut t = Tracker {
        seen: Seen {
            dns_insync: subject.dns_change.is_none(),
            allowed_failures: settings.allowed_failures,
            ..Seen::default()
        },
        ..Tracker::default()
    };
    let mut last = None;
    loop {
        poll(aws, subject, &mut t).await?;
        note_health(&mut t);
        match assess(&t.seen) {
            Verdict::Ready => return Ok(()),
            Verdict::Failed(f) => return Err(explained(aws, f, &t).await.into()),
            Verdict::Pending(w) => {
                if last.as_ref() != Some(&w) {
                    tracing::info!("{}: waiting for {w}", subject.service);
                    progress(&w);
                }
                if Instant::now() + settings.interval > deadline {
                    let f = timed_out(aws, subject, &t, &w, settings.timeout).await;
                    return Err(f.into());
                }
                last = Some(w);
                tokio::time::sleep(settings.interval).await;
            }
        }
    }
}

/// One poll: at most three concurrent requests.
async fn poll(aws: &Aws, s: &Subject, t: &mut Tracker) -> Result<()> {
    let call = t.task_call();
    let dns = t.dns_call().then_some(s.dns_change.as_deref()).flatten();
    let svc = aws::ecs::service_now(&aws.ecs, &s.cluster, &s.service);
    let task = async {
        match &call {
            TaskCall::List(status) => {
                let arns = aws::ecs::task_arns(aws, &s.cluster, &s.service, status.clone());
                arns.await.map(|a| (Some(a), None))
            }
            TaskCall::Describe(arns) => aws::ecs::describe_tasks(aws, &s.cluster, arns)
                .await
                .map(|d| (None, Some(d))),
        }
    };
    let third = async {
        match dns {
            Some(id) => aws::dns::change_insync(aws, id)
                .await
                .map(|i| (Some(i), None)),
            None => aws::alb::target_health(&aws.elb, &s.target_group)
                .await
                .map(|h| (None, Some(h))),
        }
    };
    let (svc, task, third) = tokio::join!(svc, task, third);
    t.polls += 1;
    let Some(svc) = svc? else {
        return Err(WaitFailure::ServiceGone {
            service: s.service.clone(),
        }
        .into());
    };
    t.seen.service = read::service_view(&svc);
    if t.seen.service.failed_tasks > t.failed_tasks {
        t.stopped_due = true;
    }
    t.failed_tasks = t.seen.service.failed_tasks;
    match (task?, &call) {
        ((Some(arns), _), TaskCall::List(status)) => t.listed(status, arns),
        ((_, Some(tasks)), _) => t.described(tasks.iter().map(read::task_view).collect()),
        _ => {}
    }
    match third? {
        (Some(insync), _) => t.seen.dns_insync = insync,
        (_, Some(health)) => {
            t.seen.targets = health.iter().map(read::target_state).collect();
            t.seen.targets_read = true;
        }
        _ => {}
    }
    Ok(())
}

/// When the new tasks' targets started failing their checks (for "failing for … s").
fn note_health(t: &mut Tracker) {
    let ours: BTreeSet<String> = new_tasks(&t.seen)
        .filter(|x| x.running())
        .filter_map(|x| x.ip.clone())
        .collect();
    let failing = t
        .seen
        .targets
        .iter()
        .any(|x| ours.contains(&x.id) && x.state == "unhealthy");
    match (failing, t.unhealthy_since) {
        (true, None) => t.unhealthy_since = Some(Instant::now()),
        (false, Some(_)) => t.unhealthy_since = None,
        _ => {}
    }
}

/// A stopped task's failure, with its containers' essential flags and the log tail.
async fn explained(aws: &Aws, f: WaitFailure, t: &Tracker) -> WaitFailure {
    let WaitFailure::TaskStopped(stopped) = &f else {
        return f;
    };
    let Some(task) = t.tasks.get(&stopped.task_arn) else {
        return f;
    };
    let region = aws
        .config
        .region()
        .map(|r| r.to_string())
        .unwrap_or_default();
    WaitFailure::TaskStopped(Box::new(read::explain(aws, &region, task).await))
}

/// At the timeout: the new tasks' targets that never passed (with the health check), or what
/// the wait was still waiting for.
async fn timed_out(
    aws: &Aws,
    s: &Subject,
    t: &Tracker,
    waiting: &Waiting,
    timeout: Duration,
) -> WaitFailure {
    let Some(since) = t.unhealthy_since else {
        return WaitFailure::Timeout {
            waiting_for: waiting.to_string(),
            after_secs: timeout.as_secs(),
        };
    };
    let ours: BTreeSet<String> = new_tasks(&t.seen).filter_map(|x| x.ip.clone()).collect();
    let health_check = match aws::alb::health_check(aws, &s.target_group).await {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!("reading the target group's health check failed: {e:#}");
            None
        }
    };
    WaitFailure::Unhealthy(Box::new(Unhealthy {
        targets: t
            .seen
            .targets
            .iter()
            .filter(|x| ours.contains(&x.id))
            .cloned()
            .collect(),
        health_check,
        failing_secs: since.elapsed().as_secs(),
    }))
}
