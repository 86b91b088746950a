//! `cargo run --release --bin eden-serve-bench [-- --seconds 5 --connections 32]`
//!
//! Load on `POST /webhook` over loopback, in one process: the real router and the real
//! in-process scheduler, with a runner that does nothing (no AWS, no GitHub). Each request is
//! a real `pull_request.synchronize` payload (about 22 KB), signed, with a fresh delivery id:
//! what is measured is reading the body, verifying the signature, parsing, routing and
//! queueing. Phase 1: valid deliveries only. Phase 2: the same, while as many connections again
//! flood bad signatures. Prints deliveries/s, p50/p99 latency and the process's peak RSS
//! (client and server together).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use eden::server::config::{self, FileConfig, GlobalProfileFlags, ServeArgs};
use eden::server::job::Job;
use eden::server::queue::{JobDone, JobError, JobRunner, QueueSettings, Scheduler, Signals};
use eden::server::signature::sign;
use eden::server::{router, AppState, Memory};
use futures::future::BoxFuture;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const SECRET: &str = "bench-secret";
const PAYLOAD: &[u8] = include_bytes!("../../tests/fixtures/github/pull_request.synchronize.json");

struct Nothing(AtomicU64);
impl JobRunner for Nothing {
    fn run<'a>(&'a self, _: &'a Job, _: &'a Signals) -> BoxFuture<'a, Result<JobDone, JobError>> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Box::pin(async {
            Ok(JobDone {
                outcome: "benchmark".into(),
            })
        })
    }
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// One keep-alive connection sending deliveries until `until`; returns each latency.
async fn client(
    addr: std::net::SocketAddr,
    valid: bool,
    until: Instant,
    id: u64,
) -> Result<Vec<Duration>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let sig = if valid {
        sign(SECRET, PAYLOAD)
    } else {
        sign("not-the-secret", PAYLOAD)
    };
    let expected = if valid { "202" } else { "401" };
    let mut lat = Vec::new();
    let mut n = 0u64;
    let mut line = String::new();
    while Instant::now() < until {
        n += 1;
        let head = format!(
            "POST /webhook HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\nx-github-event: pull_request\r\nx-github-delivery: {id}-{n}\r\nx-hub-signature-256: {sig}\r\ncontent-length: {}\r\n\r\n",
            PAYLOAD.len()
        );
        let began = Instant::now();
        w.write_all(head.as_bytes()).await?;
        w.write_all(PAYLOAD).await?;
        line.clear();
        r.read_line(&mut line).await?;
        if !line.contains(expected) {
            bail!("expected {expected}, got {line:?}");
        }
        let mut length = 0usize;
        loop {
            line.clear();
            r.read_line(&mut line).await?;
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse()?;
            }
        }
        let mut body = vec![0; length];
        r.read_exact(&mut body).await?;
        lat.push(began.elapsed());
    }
    Ok(lat)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn phase(
    addr: std::net::SocketAddr,
    conns: u64,
    flood: u64,
    secs: u64,
    tag: u64,
) -> Result<(f64, f64, f64, u64)> {
    let until = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for c in 0..conns {
        tasks.push(tokio::spawn(client(
            addr,
            true,
            until,
            tag * 1_000_000 + c * 10_000_000,
        )));
    }
    let mut bad = Vec::new();
    for c in 0..flood {
        bad.push(tokio::spawn(client(addr, false, until, 0xbad + c)));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let mut refused = 0;
    for t in bad {
        refused += t.await??.len() as u64;
    }
    all.sort();
    Ok((
        all.len() as f64 / secs as f64,
        pct(&all, 0.5),
        pct(&all, 0.99),
        refused,
    ))
}

#[tokio::main]
async fn main() -> Result<()> {
    let secs = arg("--seconds", 5).clamp(1, 60);
    let conns = arg("--connections", 32).clamp(1, 512);
    let text = format!(
        r#"
eden_config = "/nonexistent"
[github]
webhook_secrets = ["{SECRET}"]
[[repository]]
name = "Codertocat/Hello-World"
[repository.images]
api = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/api:{{sha}}"
"#
    );
    let file: FileConfig = toml::from_str(&text)?;
    let cfg = config::resolve(file, &ServeArgs::default(), &GlobalProfileFlags::default())
        .map_err(|p| anyhow::anyhow!("{p:?}"))?;
    let runner = Arc::new(Nothing(AtomicU64::new(0)));
    let scheduler = Scheduler::new(runner.clone(), QueueSettings::default(), None);
    let state = AppState::new(Arc::new(cfg), Arc::new(Memory(scheduler.clone())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = router(Arc::new(state));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    println!("eden serve benchmark: {secs} s per phase, {conns} keep-alive connections, payload {} bytes, loopback {addr}", PAYLOAD.len());
    let (rate, p50, p99, _) = phase(addr, conns, 0, secs, 1).await?;
    println!(
        "valid only:               {rate:>8.0} deliveries/s   p50 {p50:.2} ms   p99 {p99:.2} ms"
    );
    let (rate2, p50b, p99b, refused) = phase(addr, conns, conns, secs, 2).await?;
    println!(
        "valid + bad-signature flood: {rate2:>5.0} deliveries/s   p50 {p50b:.2} ms   p99 {p99b:.2} ms   ({:.0} bad deliveries/s refused with 401)",
        refused as f64 / secs as f64
    );
    println!(
        "jobs run by the no-op runner: {} (deliveries for one PR coalesce while one runs)",
        runner.0.load(Ordering::Relaxed)
    );
    println!(
        "RSS: peak {} MB, now {} MB (client and server in one process)",
        rss_kb("VmHWM:") / 1024,
        rss_kb("VmRSS:") / 1024
    );
    server.abort();
    Ok(())
}
