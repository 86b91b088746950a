//! The wake phase: many requests for one sleeping preview's host at the waker, while the wake
//! they asked for runs in the background (a runner that holds the Wake job for the whole
//! phase, as a real wake holds it for about a minute). Measures the waker's answer latency and
//! counts the wake jobs started (one is right).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use eden::server::job::{Job, PrKey, Work};
use eden::server::queue::{JobDone, JobError, JobRunner, QueueSettings, Scheduler, Signals};
use eden::server::sleepers::{Sleeper, Sleepers};
use eden::server::waker::{self, QueueTrigger, Waker};
use eden::server::Memory;
use futures::future::BoxFuture;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const HOST: &str = "api-pr-7.previews.example.com";

/// Holds each Wake job for `hold` (the wake "runs"), counting them.
struct SlowWake {
    wakes: AtomicU64,
    hold: Duration,
}

impl JobRunner for SlowWake {
    fn run<'a>(&'a self, job: &'a Job, _: &'a Signals) -> BoxFuture<'a, Result<JobDone, JobError>> {
        if matches!(job.work, Work::Wake { .. }) {
            self.wakes.fetch_add(1, Ordering::Relaxed);
        }
        Box::pin(async move {
            tokio::time::sleep(self.hold).await;
            Ok(JobDone {
                outcome: "woke".into(),
            })
        })
    }
}

pub struct WakePhase {
    pub answered: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub wakes: u64,
}

/// One keep-alive connection asking for the sleeping host until `until` (every other request
/// as a browser); each answer must be 503.
async fn asker(addr: SocketAddr, until: Instant) -> Result<Vec<Duration>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let (mut lat, mut line, mut n) = (Vec::new(), String::new(), 0u64);
    while Instant::now() < until {
        n += 1;
        let accept = if n % 2 == 0 { "text/html" } else { "*/*" };
        let head = format!("GET / HTTP/1.1\r\nhost: {HOST}\r\naccept: {accept}\r\n\r\n");
        let began = Instant::now();
        w.write_all(head.as_bytes()).await?;
        let (status, _) = super::response(&mut r, &mut line).await?;
        if status != 503 {
            bail!("a request for the sleeping host was answered {status}");
        }
        lat.push(began.elapsed());
    }
    Ok(lat)
}

pub async fn phase(conns: u64, secs: u64) -> Result<WakePhase> {
    let runner = Arc::new(SlowWake {
        wakes: AtomicU64::new(0),
        hold: Duration::from_secs(secs + 1),
    });
    let scheduler = Scheduler::new(runner.clone(), QueueSettings::default(), None);
    let sleepers = Arc::new(Sleepers::new());
    sleepers.replace_all(vec![(
        HOST.into(),
        Sleeper {
            key: PrKey::new("Codertocat/Hello-World", 7),
            environment: "pr-7".into(),
            profile: "api".into(),
            since: 1_780_000_000.0,
        },
    )]);
    let trigger = Arc::new(QueueTrigger(Arc::new(Memory(scheduler.clone()))));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let stop = tokio_util::sync::CancellationToken::new();
    let w = Arc::new(Waker::new(sleepers, trigger));
    tokio::spawn(waker::serve(listener, w, stop.clone()));

    let until = Instant::now() + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..conns)
        .map(|_| tokio::spawn(asker(addr, until)))
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    stop.cancel();
    all.sort();
    Ok(WakePhase {
        answered: all.len(),
        p50: super::pct(&all, 0.5),
        p99: super::pct(&all, 0.99),
        max: super::pct(&all, 1.0),
        wakes: runner.wakes.load(Ordering::Relaxed),
    })
}
