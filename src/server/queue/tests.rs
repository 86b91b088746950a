//! The queue on tokio's paused clock, with a scripted runner: no wall-clock sleeps, no races.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::anyhow;
use futures::FutureExt;
use tokio::sync::Notify;

use super::*;
use crate::github::event::PrEvent;
use crate::server::job::{ChatCommand, Work};

/// A runner that "deploys" a job's head SHA once its image exists (set by the test), and
/// stops at the safe point when told to.
#[derive(Default)]
struct Script {
    log: Mutex<Vec<String>>,
    images: Mutex<HashSet<String>>,
    image_pushed: Notify,
    /// Fail this many attempts with a transient error first.
    transient_failures: AtomicU32,
    permanent: Mutex<bool>,
    running: AtomicUsize,
    max_running: AtomicUsize,
    /// Jobs block here (after starting) until the test releases them.
    hold: Mutex<bool>,
    release: Notify,
}

fn sha(job: &Job) -> String {
    match &job.work {
        Work::Event(e) => e.head_sha.clone(),
        Work::Command { sha, .. } => sha.as_ref().map(|s| s.to_string()).unwrap_or_default(),
        Work::Recheck { head_sha } => head_sha.as_ref().map(|s| s.to_string()).unwrap_or_default(),
    }
}

impl Script {
    fn note(&self, s: String) {
        self.log.lock().unwrap().push(s);
    }
    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
    fn push_image(&self, sha: &str) {
        self.images.lock().unwrap().insert(sha.to_string());
        self.image_pushed.notify_waiters();
    }
    fn has_image(&self, sha: &str) -> bool {
        self.images.lock().unwrap().contains(sha)
    }
    async fn go(&self, job: &Job, s: &Signals) -> Result<JobDone, JobError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        let r = self.body(job, s).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        r
    }
    async fn body(&self, job: &Job, s: &Signals) -> Result<JobDone, JobError> {
        let (key, kind, sha) = (&job.key, job.work.kind(), sha(job));
        self.note(format!("start {key} {kind} {sha}"));
        while *self.hold.lock().unwrap() {
            let released = self.release.notified();
            if !*self.hold.lock().unwrap() {
                break;
            }
            released.await;
        }
        if self.transient_failures.load(Ordering::SeqCst) > 0 {
            self.transient_failures.fetch_sub(1, Ordering::SeqCst);
            self.note(format!("throttled {key}"));
            return Err(JobError::transient(anyhow!("Throttling: rate exceeded")));
        }
        if *self.permanent.lock().unwrap() {
            return Err(JobError::permanent(anyhow!("profile api is not usable")));
        }
        if kind == "close" || kind == "command_delete" {
            self.note(format!("delete {key}"));
            return Ok(JobDone {
                outcome: "deleted".into(),
            });
        }
        // The image wait: the safe point where a newer job stops this one.
        loop {
            let pushed = self.image_pushed.notified();
            if self.has_image(&sha) {
                break;
            }
            tokio::select! {
                biased;
                _ = s.cancel.cancelled() => {
                    self.note(format!("stopped {key} {sha}"));
                    return Ok(JobDone { outcome: "superseded".into() });
                }
                _ = pushed => {}
                _ = s.recheck.notified() => self.note(format!("recheck {key} {sha}")),
            }
        }
        self.note(format!("deploy {key} {sha}"));
        Ok(JobDone {
            outcome: "deployed".into(),
        })
    }
}

struct Runner(Arc<Script>);

impl JobRunner for Runner {
    fn run<'a>(
        &'a self,
        job: &'a Job,
        signals: &'a Signals,
    ) -> BoxFuture<'a, Result<JobDone, JobError>> {
        self.0.go(job, signals).boxed()
    }
}

#[derive(Default)]
struct Acks(Mutex<Vec<String>>);
impl Finished for Acks {
    fn finished(&self, job: &Job) {
        self.0.lock().unwrap().push(job.delivery.clone());
    }
}

fn key(n: u64) -> PrKey {
    PrKey::new("o/r", n)
}

fn event(n: u64, action: &str, sha: &str, delivery: &str) -> Job {
    Job {
        key: key(n),
        work: Work::Event(PrEvent {
            action: action.into(),
            number: n,
            title: "t".into(),
            html_url: String::new(),
            head_sha: sha.into(),
            head_ref: "feature".into(),
            base_repo: "o/r".into(),
            head_repo: Some("o/r".into()),
            state: if action == "closed" { "closed" } else { "open" }.into(),
            merged: false,
            labels: vec![],
            label: None,
        }),
        delivery: delivery.into(),
        installation: None,
    }
}

fn setup(max: usize) -> (Arc<Script>, Arc<Scheduler>, Arc<Acks>) {
    let script = Arc::new(Script::default());
    let acks = Arc::new(Acks::default());
    let q = Scheduler::new(
        Arc::new(Runner(script.clone())),
        QueueSettings {
            max_in_flight: max,
            ..QueueSettings::default()
        },
        Some(acks.clone()),
    );
    (script, q, acks)
}

/// Let every task run until all wait (the paused clock advances only when everything idles).
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
}

#[tokio::test(start_paused = true)]
async fn rapid_pushes_end_in_one_deploy_of_the_newest_sha() {
    let (s, q, acks) = setup(4);
    q.push(event(1, "opened", "a1", "d1")).unwrap();
    settle().await; // a1 runs and waits for its image
    for (sha, d) in [("a2", "d2"), ("a3", "d3"), ("a4", "d4")] {
        q.push(event(1, "synchronize", sha, d)).unwrap();
    }
    settle().await;
    assert_eq!(q.depth(), 0, "a2 and a3 were superseded; a4 already runs");
    assert_eq!(q.busy(), 1);
    s.push_image("a1");
    s.push_image("a2");
    s.push_image("a3");
    s.push_image("a4");
    settle().await;
    assert_eq!(
        s.log(),
        [
            "start o/r#1 event a1",
            "stopped o/r#1 a1",
            "start o/r#1 event a4",
            "deploy o/r#1 a4"
        ]
    );
    assert_eq!(q.busy(), 0);
    assert_eq!(q.depth(), 0);
    // Every job left the queue exactly once (SQS messages get deleted).
    let mut acked = acks.0.lock().unwrap().clone();
    acked.sort();
    assert_eq!(acked, ["d1", "d2", "d3", "d4"]);
}

#[tokio::test(start_paused = true)]
async fn closed_cancels_pending_deploys() {
    let (s, q, _) = setup(4);
    q.push(event(1, "opened", "a1", "d1")).unwrap();
    settle().await;
    q.push(event(1, "synchronize", "a2", "d2")).unwrap();
    q.push(event(1, "closed", "a2", "d3")).unwrap();
    settle().await;
    assert_eq!(
        s.log(),
        [
            "start o/r#1 event a1",
            "stopped o/r#1 a1",
            "start o/r#1 close a2",
            "delete o/r#1"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_recheck_wakes_the_running_job_and_never_displaces_a_pending_one() {
    let (s, q, _) = setup(4);
    let recheck = |d: &str| Job {
        key: key(1),
        work: Work::Recheck {
            head_sha: Some("a1".into()),
        },
        delivery: d.into(),
        installation: None,
    };
    q.push(event(1, "opened", "a1", "d1")).unwrap();
    settle().await;
    q.push(recheck("r1")).unwrap();
    settle().await;
    assert_eq!(s.log().last().unwrap(), "recheck o/r#1 a1");
    assert_eq!(q.depth(), 0, "the recheck was a cue, not a job");
    let cmd = Job {
        key: key(1),
        work: Work::Command {
            command: ChatCommand::Deploy,
            user: "maintainer".into(),
            sha: Some("a1".into()),
        },
        delivery: "c1".into(),
        installation: None,
    };
    q.push(cmd).unwrap(); // stops the first job, and waits
    q.push(recheck("r2")).unwrap(); // adds nothing behind the command
    assert_eq!(q.depth(), 1);
    settle().await;
    s.push_image("a1");
    settle().await;
    let log = s.log();
    assert_eq!(
        &log[log.len() - 3..],
        [
            "stopped o/r#1 a1",
            "start o/r#1 command_deploy a1",
            "deploy o/r#1 a1"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn pull_requests_run_in_parallel_up_to_the_bound() {
    let (s, q, _) = setup(2);
    *s.hold.lock().unwrap() = true;
    for n in 1..=5 {
        s.push_image(&format!("s{n}"));
        q.push(event(n, "opened", &format!("s{n}"), &format!("d{n}")))
            .unwrap();
    }
    settle().await;
    assert_eq!(s.running.load(Ordering::SeqCst), 2, "two in flight");
    assert_eq!(q.depth(), 3, "three waiting for a permit");
    *s.hold.lock().unwrap() = false;
    s.release.notify_waiters();
    settle().await;
    assert_eq!(s.max_running.load(Ordering::SeqCst), 2);
    let deployed = s.log().iter().filter(|l| l.starts_with("deploy")).count();
    assert_eq!(deployed, 5);
    assert_eq!(q.busy(), 0);
}

#[tokio::test(start_paused = true)]
async fn transient_errors_are_retried_with_backoff_permanent_ones_are_not() {
    let (s, q, _) = setup(1);
    s.push_image("a1");
    s.transient_failures.store(2, Ordering::SeqCst);
    let began = tokio::time::Instant::now();
    q.push(event(1, "opened", "a1", "d1")).unwrap();
    while q.busy() > 0 {
        settle().await;
    }
    let log = s.log();
    assert_eq!(log.iter().filter(|l| l.starts_with("start")).count(), 3);
    assert_eq!(log.last().unwrap(), "deploy o/r#1 a1");
    // 2 s, then 4 s of backoff (virtual time).
    let waited = began.elapsed();
    assert!(
        waited >= Duration::from_secs(6) && waited < Duration::from_secs(7),
        "{waited:?}"
    );

    *s.permanent.lock().unwrap() = true;
    q.push(event(2, "opened", "a1", "d2")).unwrap();
    while q.busy() > 0 {
        settle().await;
    }
    let starts = s
        .log()
        .iter()
        .filter(|l| l.starts_with("start o/r#2"))
        .count();
    assert_eq!(starts, 1);
}

#[tokio::test(start_paused = true)]
async fn a_retry_waiting_for_its_backoff_gives_way_to_a_newer_job() {
    let (s, q, _) = setup(1);
    s.push_image("a2");
    s.transient_failures.store(1, Ordering::SeqCst);
    q.push(event(1, "opened", "a1", "d1")).unwrap();
    settle().await; // a1 throttled, backing off
    q.push(event(1, "synchronize", "a2", "d2")).unwrap();
    settle().await;
    assert_eq!(
        s.log(),
        [
            "start o/r#1 event a1",
            "throttled o/r#1",
            "start o/r#1 event a2",
            "deploy o/r#1 a2"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_refuses_new_work_and_finishes_what_runs() {
    let (s, q, _) = setup(2);
    q.push(event(1, "opened", "a1", "d1")).unwrap();
    settle().await;
    let q2 = q.clone();
    let stop = tokio::spawn(async move { q2.shutdown(Duration::from_secs(30)).await });
    settle().await;
    assert_eq!(q.push(event(2, "opened", "b1", "d2")), Err(Closed));
    s.push_image("a1");
    assert!(stop.await.unwrap(), "finished within the grace period");
    assert_eq!(s.log().last().unwrap(), "deploy o/r#1 a1");

    // Work that does not finish in time is told to stop at its safe point.
    let (s, q, _) = setup(2);
    q.push(event(1, "opened", "never", "d1")).unwrap();
    settle().await;
    assert!(!q.shutdown(Duration::from_secs(30)).await);
    assert_eq!(s.log().last().unwrap(), "stopped o/r#1 never");
}

#[tokio::test(start_paused = true)]
async fn shutdown_then_runs_its_hook_before_anything_is_stopped() {
    let (s, q, acks) = setup(1);
    q.push(event(1, "opened", "never", "d1")).unwrap();
    q.push(event(2, "opened", "waiting", "d2")).unwrap();
    settle().await;
    // The hook runs once the grace period is over and before any job leaves: the running and
    // the pending job both leave after it (the SQS consumer hands their messages back).
    let seen = Arc::new(Mutex::new(None));
    let (seen2, acks2) = (seen.clone(), acks.clone());
    let in_time = q
        .shutdown_then(Duration::from_secs(30), move || {
            *seen2.lock().unwrap() = Some(acks2.0.lock().unwrap().len());
        })
        .await;
    assert!(!in_time);
    assert_eq!(*seen.lock().unwrap(), Some(0));
    assert_eq!(*acks.0.lock().unwrap(), ["d1", "d2"]);
    assert!(s.log().contains(&"stopped o/r#1 never".to_string()));
}

/// Records `busy()` as each job is reported finished.
#[derive(Default)]
struct BusyAtFinish {
    queue: std::sync::OnceLock<std::sync::Weak<Scheduler>>,
    seen: Mutex<Vec<(String, usize)>>,
}
impl Finished for BusyAtFinish {
    fn finished(&self, job: &Job) {
        let busy = self.queue.get().unwrap().upgrade().unwrap().busy();
        self.seen.lock().unwrap().push((job.delivery.clone(), busy));
    }
}

#[tokio::test(start_paused = true)]
async fn a_pr_has_left_the_queue_when_its_last_job_is_reported() {
    let script = Arc::new(Script::default());
    let hook = Arc::new(BusyAtFinish::default());
    let q = Scheduler::new(
        Arc::new(Runner(script.clone())),
        QueueSettings::default(),
        Some(hook.clone()),
    );
    hook.queue.set(Arc::downgrade(&q)).unwrap();
    script.push_image("a1");
    script.push_image("a2");
    *script.hold.lock().unwrap() = true;
    q.push(event(1, "opened", "a1", "d1")).unwrap();
    settle().await;
    q.push(event(1, "synchronize", "a2", "d2")).unwrap();
    *script.hold.lock().unwrap() = false;
    script.release.notify_waiters();
    settle().await;
    // d1 was stopped by d2 (the PR still has d2 to run); d2 was the last.
    assert_eq!(
        *hook.seen.lock().unwrap(),
        [("d1".to_string(), 1), ("d2".to_string(), 0)]
    );
}
