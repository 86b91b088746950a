//! The SQS FIFO work queue against the emulator: jobs sent through `SqsSubmit`, consumed by one
//! or two `Consumer`s ("replicas") running a recording runner. Results are checked with
//! independent reads of the queue (GetQueueAttributes through the SDK). Waiting is polling for
//! a condition with a bounded deadline: the emulator runs in real time.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use common::*;
use eden::aws::inject::{Fake, Rule, When};
use eden::aws::{Aws, Injector};
use eden::github::event::PrEvent;
use eden::server::job::{Job, PrKey, Work};
use eden::server::queue::{JobDone, JobError, JobRunner, QueueSettings, Signals};
use eden::server::sqs::{Consumer, SqsSettings, SqsSubmit};
use eden::server::Submit;
use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::sync::watch;

/// What the runners saw, across replicas.
struct Record {
    /// `(replica, what, pr, sha)`; what: `start`, `end`, `stopped`.
    log: Mutex<Vec<(String, &'static str, u64, String)>>,
    per_pr: Mutex<HashMap<u64, usize>>,
    /// Two jobs of one PR ran at the same time.
    overlaps: AtomicUsize,
    running: AtomicUsize,
    /// Jobs wait after starting while this is true.
    hold: watch::Sender<bool>,
}

impl Record {
    fn new(hold: bool) -> Arc<Record> {
        Arc::new(Record {
            log: Mutex::default(),
            per_pr: Mutex::default(),
            overlaps: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            hold: watch::channel(hold).0,
        })
    }
    fn note(&self, replica: &str, what: &'static str, job: &Job) {
        self.log
            .lock()
            .unwrap()
            .push((replica.into(), what, job.key.number.get(), sha(job)));
    }
    fn release(&self) {
        self.hold.send_replace(false);
    }
    /// `(replica, sha)` of every `what` for one PR, in order.
    fn of(&self, what: &str, pr: u64) -> Vec<(String, String)> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, w, n, _)| *w == what && *n == pr)
            .map(|(r, _, _, s)| (r.clone(), s.clone()))
            .collect()
    }
    fn shas(&self, what: &str, pr: u64) -> Vec<String> {
        self.of(what, pr).into_iter().map(|(_, s)| s).collect()
    }
}

struct Replica {
    name: &'static str,
    rec: Arc<Record>,
    /// Stop at the safe point (the hold) when told to, like the image wait.
    honour_cancel: bool,
}

impl Replica {
    async fn go(&self, job: &Job, signals: &Signals) -> Result<JobDone, JobError> {
        let rec = &self.rec;
        rec.note(self.name, "start", job);
        {
            let mut per_pr = rec.per_pr.lock().unwrap();
            let n = per_pr.entry(job.key.number.get()).or_default();
            *n += 1;
            if *n > 1 {
                rec.overlaps.fetch_add(1, Ordering::SeqCst);
            }
        }
        rec.running.fetch_add(1, Ordering::SeqCst);
        let mut hold = rec.hold.subscribe();
        let stopped = tokio::select! {
            _ = hold.wait_for(|h| !h) => false,
            _ = signals.cancel.cancelled(), if self.honour_cancel => true,
        };
        rec.running.fetch_sub(1, Ordering::SeqCst);
        *rec.per_pr
            .lock()
            .unwrap()
            .get_mut(&job.key.number.get())
            .unwrap() -= 1;
        rec.note(self.name, if stopped { "stopped" } else { "end" }, job);
        Ok(JobDone {
            outcome: if stopped { "superseded" } else { "deployed" }.into(),
        })
    }
}

impl JobRunner for Replica {
    fn run<'a>(
        &'a self,
        job: &'a Job,
        signals: &'a Signals,
    ) -> BoxFuture<'a, Result<JobDone, JobError>> {
        self.go(job, signals).boxed()
    }
}

fn sha(job: &Job) -> String {
    match &job.work {
        Work::Event(e) => e.head_sha.clone(),
        _ => String::new(),
    }
}

fn job(pr: u64, sha: &str) -> Job {
    Job {
        key: PrKey {
            repo: "octo-org/shop".into(),
            number: pr.into(),
        },
        work: Work::Event(PrEvent {
            action: "synchronize".into(),
            number: pr,
            title: "t".into(),
            html_url: String::new(),
            head_sha: sha.into(),
            head_ref: "feature".into(),
            base_repo: "octo-org/shop".into(),
            head_repo: Some("octo-org/shop".into()),
            state: "open".into(),
            merged: false,
            labels: vec![],
            label: None,
        }),
        delivery: format!("delivery-{pr}-{sha}"),
        installation: None,
    }
}

/// A new FIFO queue (content-based deduplication off: eden sends its own ids).
async fn fifo_queue(aws: &Aws, test: &str) -> String {
    let name = format!("eden-{test}-{:08x}.fifo", rand::random::<u32>());
    aws.sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("CreateQueue")
        .queue_url()
        .expect("a queue URL")
        .to_string()
}

/// Independent read: (visible, in flight) messages.
async fn counts(aws: &Aws, url: &str) -> (u64, u64) {
    let out = aws
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("GetQueueAttributes");
    let attrs = out.attributes().expect("attributes");
    let n = |a: QueueAttributeName| attrs[&a].parse::<u64>().unwrap();
    (
        n(QueueAttributeName::ApproximateNumberOfMessages),
        n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

fn settings(url: &str, capacity: usize, visibility: Duration) -> SqsSettings {
    SqsSettings {
        visibility,
        wait: Duration::from_secs(1),
        backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(400),
        ..SqsSettings::new(url, capacity)
    }
}

fn queue_settings(max_in_flight: usize) -> QueueSettings {
    QueueSettings {
        max_in_flight,
        max_attempts: 2,
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(10),
    }
}

fn start(aws: &Aws, url: &str, rec: &Arc<Record>, name: &'static str, cap: usize) -> Consumer {
    Consumer::start(
        aws.clone(),
        settings(url, cap, Duration::from_secs(30)),
        Arc::new(Replica {
            name,
            rec: rec.clone(),
            honour_cancel: true,
        }),
        queue_settings(cap),
    )
}

const LIMIT: Duration = Duration::from_secs(30);

/// Poll `cond` every 20 ms until it holds; fail after `LIMIT`.
async fn until<F: std::future::Future<Output = bool>>(what: &str, mut cond: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn drained(aws: &Aws, url: &str) {
    until("the queue to be empty", || async {
        counts(aws, url).await == (0, 0)
    })
    .await;
}

async fn submit_all(aws: &Aws, url: &str, jobs: &[Job]) {
    let submit = SqsSubmit::new(aws.clone(), url);
    for j in jobs {
        submit.submit(j.clone()).await.expect("submit");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_in_order_per_pr_and_their_messages_are_deleted() {
    let aws = aws(None).await;
    let url = fifo_queue(&aws, "order").await;
    submit_all(
        &aws,
        &url,
        &[job(1, "a"), job(2, "x"), job(1, "b"), job(1, "c")],
    )
    .await;
    assert_eq!(counts(&aws, &url).await, (4, 0), "four messages queued");
    let rec = Record::new(false);
    // A runner that never stops early: every job that starts also ends.
    let c = Consumer::start(
        aws.clone(),
        settings(&url, 4, Duration::from_secs(30)),
        Arc::new(Replica {
            name: "one",
            rec: rec.clone(),
            honour_cancel: false,
        }),
        queue_settings(4),
    );
    drained(&aws, &url).await;
    until("PR 1 at c", || async {
        rec.shas("end", 1).last().map(String::as_str) == Some("c")
    })
    .await;
    let pr1 = rec.shas("end", 1);
    let order = ["a", "b", "c"];
    let positions: Vec<usize> = pr1
        .iter()
        .map(|s| order.iter().position(|o| o == s).expect("a known sha"))
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "PR 1 ran in push order, newest last: {pr1:?}"
    );
    assert_eq!(rec.shas("end", 2), ["x"]);
    assert_eq!(rec.overlaps.load(Ordering::SeqCst), 0);
    assert!(c.shutdown(Duration::from_secs(5)).await);
    assert_eq!(counts(&aws, &url).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_serialise_each_pr_and_run_different_prs_in_parallel() {
    let aws = aws(None).await;
    let url = fifo_queue(&aws, "replicas").await;
    submit_all(
        &aws,
        &url,
        &[job(1, "a"), job(1, "b"), job(2, "x"), job(3, "y")],
    )
    .await;
    let rec = Record::new(true);
    // One message at a time per replica: two jobs at once can only be on two replicas.
    let r1 = start(&aws, &url, &rec, "r1", 1);
    let r2 = start(&aws, &url, &rec, "r2", 1);
    until("two jobs running at once", || async {
        rec.running.load(Ordering::SeqCst) == 2
    })
    .await;
    let started: Vec<(String, u64)> = rec
        .log
        .lock()
        .unwrap()
        .iter()
        .map(|(r, _, pr, _)| (r.clone(), *pr))
        .collect();
    assert_eq!(started.len(), 2);
    assert_ne!(started[0].0, started[1].0, "one job on each replica");
    assert_ne!(started[0].1, started[1].1, "of two different PRs");
    rec.release();
    drained(&aws, &url).await;
    until("every job ended", || async {
        rec.of("end", 1).len() + rec.of("end", 2).len() + rec.of("end", 3).len() == 4
    })
    .await;
    assert_eq!(rec.shas("end", 1), ["a", "b"], "PR 1 in order, each once");
    assert_eq!(rec.shas("end", 2), ["x"]);
    assert_eq!(rec.shas("end", 3), ["y"]);
    assert_eq!(
        rec.overlaps.load(Ordering::SeqCst),
        0,
        "never two jobs of one PR at once"
    );
    assert!(rec.of("stopped", 1).is_empty());
    assert!(r1.shutdown(Duration::from_secs(5)).await);
    assert!(r2.shutdown(Duration::from_secs(5)).await);
}

// One thread: the consumer pushes a whole batch before any job starts, as it does whenever the
// runtime is busy; the scheduler then supersedes each pending job by the next.
#[tokio::test(flavor = "current_thread")]
async fn superseded_jobs_messages_are_deleted_while_the_newest_waits() {
    let aws = aws(None).await;
    let url = fifo_queue(&aws, "supersede").await;
    submit_all(&aws, &url, &[job(1, "a"), job(1, "b"), job(1, "c")]).await;
    let rec = Record::new(true);
    let c = start(&aws, &url, &rec, "one", 4);
    // One receive brings all three (a FIFO batch may hold several messages of one group).
    until("c running", || async {
        rec.shas("start", 1).last().map(String::as_str) == Some("c")
    })
    .await;
    assert_eq!(
        rec.shas("start", 1),
        ["c"],
        "a and b were superseded before they started"
    );
    until("only c's message left, in flight", || async {
        counts(&aws, &url).await == (0, 1)
    })
    .await;
    rec.release();
    drained(&aws, &url).await;
    assert_eq!(rec.shas("end", 1), ["c"]);
    assert!(c.shutdown(Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_replicas_job_is_run_by_another() {
    let aws = aws(None).await;
    let url = fifo_queue(&aws, "crash").await;
    submit_all(&aws, &url, &[job(4, "a")]).await;
    let rec = Record::new(true);
    // Replica "dead" lives in its own runtime: shutting that down drops every task of it at
    // once (receiver, heartbeat, scheduler, the running job) without a delete or a hand-back.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (dead_rec, dead_url) = (rec.clone(), url.clone());
    rt.spawn(async move {
        let aws = common::aws(None).await;
        let consumer = Consumer::start(
            aws,
            settings(&dead_url, 4, Duration::from_secs(2)),
            Arc::new(Replica {
                name: "dead",
                rec: dead_rec,
                honour_cancel: true,
            }),
            queue_settings(4),
        );
        std::future::pending::<()>().await;
        drop(consumer);
    });
    until("the job running on the replica that will die", || async {
        !rec.of("start", 4).is_empty()
    })
    .await;
    rt.shutdown_background();
    let (visible, in_flight) = counts(&aws, &url).await;
    assert_eq!(
        visible + in_flight,
        1,
        "the message was neither deleted nor duplicated"
    );
    let survivor_rec = Record::new(false);
    let survivor = start(&aws, &url, &survivor_rec, "survivor", 4);
    // Visible again once the dead replica's 2 s visibility lapses (no heartbeat extends it).
    until("the survivor ran it", || async {
        survivor_rec.shas("end", 4) == ["a"]
    })
    .await;
    drained(&aws, &url).await;
    assert_eq!(rec.of("start", 4), [("dead".to_string(), "a".to_string())]);
    assert!(rec.of("end", 4).is_empty() && rec.of("stopped", 4).is_empty());
    assert!(survivor.shutdown(Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_hands_unfinished_messages_back_at_once() {
    let aws = aws(None).await;
    let url = fifo_queue(&aws, "handback").await;
    submit_all(&aws, &url, &[job(6, "a"), job(7, "b")]).await;
    let rec = Record::new(true);
    // A visibility of 10 minutes: only a hand-back lets another replica run these in time.
    let leaving = Consumer::start(
        aws.clone(),
        settings(&url, 4, Duration::from_secs(600)),
        Arc::new(Replica {
            name: "leaving",
            rec: rec.clone(),
            honour_cancel: true,
        }),
        queue_settings(4),
    );
    until("both jobs running", || async {
        rec.running.load(Ordering::SeqCst) == 2
    })
    .await;
    assert!(
        !leaving.shutdown(Duration::from_millis(200)).await,
        "held jobs did not finish within the grace period"
    );
    assert_eq!(rec.shas("stopped", 6), ["a"]);
    assert_eq!(rec.shas("stopped", 7), ["b"]);
    assert_eq!(
        counts(&aws, &url).await,
        (2, 0),
        "both handed back, visible"
    );
    let next_rec = Record::new(false);
    let next = start(&aws, &url, &next_rec, "next", 4);
    drained(&aws, &url).await;
    until("both ran on the next replica", || async {
        next_rec.shas("end", 6) == ["a"] && next_rec.shas("end", 7) == ["b"]
    })
    .await;
    assert!(next.shutdown(Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_message_is_deleted_and_does_not_hold_up_its_pr() {
    let metrics = eden::server::metrics::handle();
    let aws = aws(None).await;
    let url = fifo_queue(&aws, "malformed").await;
    let group = eden::server::sqs::group_id(&job(5, "a"));
    eden::aws::sqs::send(
        &aws,
        &url,
        &group,
        "not-a-job-1",
        "{\"not\": \"a job\"}".into(),
    )
    .await
    .unwrap();
    submit_all(&aws, &url, &[job(5, "a")]).await;
    assert_eq!(counts(&aws, &url).await, (2, 0));
    let rec = Record::new(false);
    let c = start(&aws, &url, &rec, "one", 4);
    drained(&aws, &url).await;
    until("the PR's job ran", || async { rec.shas("end", 5) == ["a"] }).await;
    let text = metrics.render();
    assert!(
        text.lines()
            .any(|l| l.starts_with("eden_sqs_messages_total{outcome=\"malformed\"}")),
        "counted:\n{text}"
    );
    assert!(c.shutdown(Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_send_and_receive_are_retried() {
    let injector = Injector::new();
    let aws = aws_injected(injector.clone()).await;
    let url = fifo_queue(&aws, "throttled").await;
    let throttled = || Fake::sqs(400, "RequestThrottled", "Request is throttled.");
    let send = injector.add(Rule::new("SQS", "SendMessage", When::Instead, throttled()).times(1));
    // More failures than the SDK's own 3 attempts: the consumer's loop retries too.
    let receive =
        injector.add(Rule::new("SQS", "ReceiveMessage", When::Instead, throttled()).times(4));
    submit_all(&aws, &url, &[job(8, "a")]).await;
    assert_eq!(send.hits(), 1, "the send was refused once, then retried");
    assert_eq!(counts(&aws, &url).await, (1, 0), "and arrived once");
    let rec = Record::new(false);
    let c = start(&aws, &url, &rec, "one", 4);
    drained(&aws, &url).await;
    until("the job ran", || async { rec.shas("end", 8) == ["a"] }).await;
    assert_eq!(receive.hits(), 4);
    assert!(c.shutdown(Duration::from_secs(5)).await);
}
