//! The queue on tokio's paused clock, with a scripted runner: no wall-clock sleeps, no races.
//! A test waits for the state it needs (a line logged, a job waiting for its image or held, a
//! job reported finished), never for a number of yields or a tick of the clock.

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
    /// Each time a job starts waiting for its image: "o/r#1 event a1".
    waits: Mutex<Vec<String>>,
    /// Jobs that stopped at the hold.
    held: AtomicUsize,
    /// Told of every line logged, wait begun and job held: what [`Script::until`] waits on.
    changed: Notify,
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
        Work::Sleep { environment, .. } => format!("sleep {environment}"),
        Work::Wake { environment, .. } => format!("wake {environment}"),
    }
}

impl Script {
    fn note(&self, s: String) {
        self.log.lock().unwrap().push(s);
        self.changed.notify_waiters();
    }
    /// Wait until `cond` holds of the script's state.
    async fn until(&self, cond: impl Fn(&Script) -> bool) {
        bounded(async {
            loop {
                let changed = self.changed.notified();
                if cond(self) {
                    return;
                }
                changed.await;
            }
        })
        .await;
    }
    async fn logged(&self, line: &str) {
        self.until(|s| s.log().iter().any(|l| l == line)).await;
    }
    /// Until the job ("o/r#1 event a1") waits for its image.
    async fn waiting(&self, job: &str) {
        self.until(|s| s.waits.lock().unwrap().iter().any(|w| w == job))
            .await;
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
        if *self.hold.lock().unwrap() {
            self.held.fetch_add(1, Ordering::SeqCst);
            self.changed.notify_waiters();
        }
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
            self.waits
                .lock()
                .unwrap()
                .push(format!("{key} {kind} {sha}"));
            self.changed.notify_waiters();
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

/// The jobs reported finished (their deliveries), in order.
#[derive(Default)]
struct Acks(Mutex<Vec<String>>, Notify);
impl Finished for Acks {
    fn finished(&self, job: &Job) {
        self.0.lock().unwrap().push(job.delivery.clone());
        self.1.notify_waiters();
    }
}
impl Acks {
    /// Until `n` jobs have been reported finished.
    async fn count(&self, n: usize) {
        bounded(async {
            loop {
                let more = self.1.notified();
                if self.0.lock().unwrap().len() >= n {
                    return;
                }
                more.await;
            }
        })
        .await;
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

/// `wait`, failing the test if it has not ended after an hour of virtual time: a state that
/// never comes fails at once (the paused clock jumps there) instead of hanging.
async fn bounded(wait: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(3600), wait)
        .await
        .expect("the awaited state never came");
}

/// Until every task of the test's runtime waits: the paused clock moves only when nothing can
/// run, so this 1 ms of virtual time passes exactly then. Only for a claim that something did
/// *not* happen (no timer of the queue is due within 1 ms).
async fn idle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

#[tokio::test(start_paused = true)]
async fn rapid_pushes_end_in_one_deploy_of_the_newest_sha() {
    let (s, q, acks) = setup(4);
    q.push(event(1, "opened", "a1", "d1")).unwrap();
    s.waiting("o/r#1 event a1").await;
    for (sha, d) in [("a2", "d2"), ("a3", "d3"), ("a4", "d4")] {
        q.push(event(1, "synchronize", sha, d)).unwrap();
    }
    s.waiting("o/r#1 event a4").await;
    assert_eq!(q.depth(), 0, "a2 and a3 were superseded; a4 already runs");
    assert_eq!(q.busy(), 1);
    s.push_image("a1");
    s.push_image("a2");
    s.push_image("a3");
    s.push_image("a4");
    acks.count(4).await;
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
    s.waiting("o/r#1 event a1").await;
    q.push(event(1, "synchronize", "a2", "d2")).unwrap();
    q.push(event(1, "closed", "a2", "d3")).unwrap();
    s.logged("delete o/r#1").await;
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
    s.waiting("o/r#1 event a1").await;
    q.push(recheck("r1")).unwrap();
    s.logged("recheck o/r#1 a1").await;
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
    s.waiting("o/r#1 command_deploy a1").await;
    s.push_image("a1");
    s.logged("deploy o/r#1 a1").await;
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
    let (s, q, acks) = setup(2);
    *s.hold.lock().unwrap() = true;
    for n in 1..=5 {
        s.push_image(&format!("s{n}"));
        q.push(event(n, "opened", &format!("s{n}"), &format!("d{n}")))
            .unwrap();
    }
    s.until(|s| s.held.load(Ordering::SeqCst) >= 2).await;
    idle().await; // had the bound not held, a third job would have started by now
    assert_eq!(s.held.load(Ordering::SeqCst), 2);
    assert_eq!(s.running.load(Ordering::SeqCst), 2, "two in flight");
    assert_eq!(q.depth(), 3, "three waiting for a permit");
    *s.hold.lock().unwrap() = false;
    s.release.notify_waiters();
    acks.count(5).await;
    assert_eq!(s.max_running.load(Ordering::SeqCst), 2);
    let deployed = s.log().iter().filter(|l| l.starts_with("deploy")).count();
    assert_eq!(deployed, 5);
    assert_eq!(q.busy(), 0);
}

#[tokio::test(start_paused = true)]
async fn transient_errors_are_retried_with_backoff_permanent_ones_are_not() {
    let (s, q, acks) = setup(1);
    s.push_image("a1");
    s.transient_failures.store(2, Ordering::SeqCst);
    let began = tokio::time::Instant::now();
    q.push(event(1, "opened", "a1", "d1")).unwrap();
    acks.count(1).await;
    assert_eq!(q.busy(), 0);
    let log = s.log();
    assert_eq!(log.iter().filter(|l| l.starts_with("start")).count(), 3);
    assert_eq!(log.last().unwrap(), "deploy o/r#1 a1");
    // 2 s, then 4 s of backoff (virtual time).
    assert_eq!(began.elapsed(), Duration::from_secs(6));

    *s.permanent.lock().unwrap() = true;
    q.push(event(2, "opened", "a1", "d2")).unwrap();
    acks.count(2).await;
    assert_eq!(q.busy(), 0);
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
    s.logged("throttled o/r#1").await; // a1 backs off for 2 s
    let pushed = tokio::time::Instant::now();
    q.push(event(1, "synchronize", "a2", "d2")).unwrap();
    s.logged("deploy o/r#1 a2").await;
    assert_eq!(
        pushed.elapsed(),
        Duration::ZERO,
        "a2 did not wait for a1's backoff"
    );
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
    s.waiting("o/r#1 event a1").await;
    let stop = q.shutdown(Duration::from_secs(30));
    tokio::pin!(stop);
    // its first step closes the queue; then it waits for the running job
    assert!(futures::poll!(&mut stop).is_pending());
    assert_eq!(q.push(event(2, "opened", "b1", "d2")), Err(Closed));
    s.push_image("a1");
    assert!(stop.await, "finished within the grace period");
    assert_eq!(s.log().last().unwrap(), "deploy o/r#1 a1");

    // Work that does not finish in time is told to stop at its safe point.
    let (s, q, _) = setup(2);
    q.push(event(1, "opened", "never", "d1")).unwrap();
    s.waiting("o/r#1 event never").await;
    assert!(!q.shutdown(Duration::from_secs(30)).await);
    assert_eq!(s.log().last().unwrap(), "stopped o/r#1 never");
}

#[tokio::test(start_paused = true)]
async fn shutdown_then_runs_its_hook_before_anything_is_stopped() {
    let (s, q, acks) = setup(1);
    q.push(event(1, "opened", "never", "d1")).unwrap();
    q.push(event(2, "opened", "waiting", "d2")).unwrap();
    s.waiting("o/r#1 event never").await;
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
    reported: Notify,
}
impl Finished for BusyAtFinish {
    fn finished(&self, job: &Job) {
        let busy = self.queue.get().unwrap().upgrade().unwrap().busy();
        self.seen.lock().unwrap().push((job.delivery.clone(), busy));
        self.reported.notify_waiters();
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
    script.until(|s| s.held.load(Ordering::SeqCst) == 1).await;
    q.push(event(1, "synchronize", "a2", "d2")).unwrap();
    *script.hold.lock().unwrap() = false;
    script.release.notify_waiters();
    bounded(async {
        loop {
            let reported = hook.reported.notified();
            if hook.seen.lock().unwrap().len() == 2 {
                break;
            }
            reported.await;
        }
    })
    .await;
    // d1 was stopped by d2 (the PR still has d2 to run); d2 was the last.
    assert_eq!(
        *hook.seen.lock().unwrap(),
        [("d1".to_string(), 1), ("d2".to_string(), 0)]
    );
}
