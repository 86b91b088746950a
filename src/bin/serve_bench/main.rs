//! `cargo run --release --features testing --bin eden-serve-bench [-- --seconds 5 --connections 8 --rate 5000 --flood-rate 10000]`
//!
//! Load on `POST /webhook` over loopback, in one process: the real router and the real
//! in-process scheduler, with a runner that does nothing (no AWS, no GitHub). Each request is
//! a real `pull_request.synchronize` payload (about 28 KB), signed, with a fresh delivery id:
//! what is measured is reading the body, verifying the signature, parsing, routing and
//! queueing. Phase 1: valid deliveries only, from 127.0.0.1. Phase 2: the same, while another
//! client (127.0.0.2, as many connections again) sends `--flood-rate` deliveries a second with
//! bad signatures. Phase 3: phase 2 against a server with the failure limiter off
//! (`auth_failures_per_minute = 0`), so every forged delivery is read and HMAC-checked. Prints
//! deliveries/s, p50/p99 latency and the process's peak RSS (client and server together).
//! The wake phase (`wake.rs`): requests for a sleeping preview's host at the waker while the
//! one wake they asked for runs in the background.

mod wake;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
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
use tokio::net::{TcpSocket, TcpStream};

const SECRET: &str = "bench-secret";
const PAYLOAD: &[u8] =
    include_bytes!("../../../tests/fixtures/github/pull_request.synchronize.json");
const FLOOD_FROM: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

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

/// The webhook receiver under load, client and server in one process on loopback.
#[derive(clap::Parser)]
#[command(name = "eden-serve-bench")]
struct Args {
    /// Seconds per phase.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=60))]
    seconds: u64,
    /// Client connections.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=512))]
    connections: u64,
    /// Valid deliveries offered a second in the fixed-rate phases.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    rate: u64,
    /// Forged deliveries a second in the flood phases.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    flood_rate: u64,
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

fn request_head(sig: &str, delivery: &str) -> String {
    format!(
        "POST /webhook HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\nx-github-event: pull_request\r\nx-github-delivery: {delivery}\r\nx-hub-signature-256: {sig}\r\ncontent-length: {}\r\n\r\n",
        PAYLOAD.len()
    )
}

/// Read one response: its status code and whether the server closes the connection after it.
async fn response<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
    line: &mut String,
) -> Result<(u16, bool)> {
    line.clear();
    if r.read_line(line).await? == 0 {
        bail!("connection closed before a response");
    }
    let status: u16 = line.split_whitespace().nth(1).unwrap_or("").parse()?;
    let (mut length, mut close) = (0usize, false);
    loop {
        line.clear();
        r.read_line(line).await?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        let l = line.to_ascii_lowercase();
        if let Some(v) = l.strip_prefix("content-length:") {
            length = v.trim().parse()?;
        }
        close |= l.starts_with("connection:") && l.contains("close");
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).await?;
    Ok((status, close))
}

/// One keep-alive connection sending valid deliveries until `until`: back to back (closed
/// loop), or one every `period` (open loop; a late request's latency counts from when it was due,
/// so a server that falls behind shows it). Returns each latency.
async fn client(
    addr: SocketAddr,
    until: Instant,
    id: u64,
    period: Option<Duration>,
) -> Result<Vec<Duration>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let sig = sign(SECRET, PAYLOAD);
    let mut lat = Vec::new();
    let mut n = 0u64;
    let mut line = String::new();
    let mut tick = period.map(|p| tokio::time::interval_at(tokio::time::Instant::now() + p, p));
    let mut answered = Instant::now();
    while Instant::now() < until {
        // A request that was due before the previous answer came is late because of the
        // server: its latency counts from when it was due. Otherwise from when it is sent (the
        // timer's own millisecond lateness is not the server's).
        let began = match tick.as_mut() {
            Some(t) => {
                let due = t.tick().await.into_std();
                if due < answered {
                    due
                } else {
                    Instant::now()
                }
            }
            None => Instant::now(),
        };
        n += 1;
        let head = request_head(&sig, &format!("{id}-{n}"));
        w.write_all(head.as_bytes()).await?;
        w.write_all(PAYLOAD).await?;
        let (status, _) = response(&mut r, &mut line).await?;
        if status != 202 {
            bail!("a valid delivery was answered {status}");
        }
        answered = Instant::now();
        lat.push(answered - began);
    }
    Ok(lat)
}

/// One flood connection from 127.0.0.2: a bad-signature delivery every `period` until `until`
/// (reconnecting when the server closes). Returns (answered 401, answered 429).
async fn flood(addr: SocketAddr, until: Instant, period: Duration) -> Result<(u64, u64)> {
    let sig = sign("not-the-secret", PAYLOAD);
    let (mut unauthorized, mut throttled) = (0, 0);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut conn = None;
    let mut line = String::new();
    let mut n = 0u64;
    while Instant::now() < until {
        tick.tick().await;
        if conn.is_none() {
            let socket = TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(IpAddr::V4(FLOOD_FROM), 0))?;
            let stream = socket.connect(addr).await?;
            stream.set_nodelay(true)?;
            let (r, w) = stream.into_split();
            conn = Some((BufReader::new(r), w));
        }
        let (r, w) = conn.as_mut().expect("connected");
        n += 1;
        let head = request_head(&sig, &format!("bad-{n}"));
        // The server may answer (and close) before it has read the body: a failed write is
        // then followed by its answer, or by nothing.
        let sent = async {
            w.write_all(head.as_bytes()).await?;
            w.write_all(PAYLOAD).await
        }
        .await;
        match response(r, &mut line).await {
            Ok((401, close)) => {
                unauthorized += 1;
                if close {
                    conn = None;
                }
            }
            Ok((429, _)) => {
                throttled += 1;
                conn = None;
            }
            Ok((other, _)) => bail!("a forged delivery was answered {other}"),
            Err(e) => {
                if sent.is_ok() {
                    return Err(e);
                }
                conn = None;
            }
        }
    }
    Ok((unauthorized, throttled))
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

struct Phase {
    rate: f64,
    p50: f64,
    p99: f64,
    unauthorized: f64,
    throttled: f64,
}

/// `rate`: valid deliveries offered per second (open loop), or `None` for as many as answered.
async fn phase(
    addr: SocketAddr,
    conns: u64,
    rate: Option<u64>,
    flood_rate: u64,
    secs: u64,
    tag: u64,
) -> Result<Phase> {
    let until = Instant::now() + Duration::from_secs(secs);
    let period = rate.map(|r| Duration::from_secs_f64(conns as f64 / r as f64));
    let mut tasks = Vec::new();
    for c in 0..conns {
        let id = tag * 1_000_000 + c * 10_000_000;
        tasks.push(tokio::spawn(client(addr, until, id, period)));
    }
    let mut bad = Vec::new();
    if flood_rate > 0 {
        let period = Duration::from_secs_f64(conns as f64 / flood_rate as f64);
        for _ in 0..conns {
            bad.push(tokio::spawn(flood(addr, until, period)));
        }
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let (mut unauthorized, mut throttled) = (0, 0);
    for t in bad {
        let (u, th) = t.await??;
        unauthorized += u;
        throttled += th;
    }
    all.sort();
    let s = secs as f64;
    Ok(Phase {
        rate: all.len() as f64 / s,
        p50: pct(&all, 0.5),
        p99: pct(&all, 0.99),
        unauthorized: unauthorized as f64 / s,
        throttled: throttled as f64 / s,
    })
}

/// A server on a free loopback port, as `eden serve` runs it (connection info included).
async fn server(limit: u32, runner: Arc<Nothing>) -> Result<SocketAddr> {
    let text = format!(
        r#"
eden_config = "/nonexistent"
auth_failures_per_minute = {limit}
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
    let scheduler = Scheduler::new(runner, QueueSettings::default(), None);
    let state = AppState::new(Arc::new(cfg), Arc::new(Memory(scheduler)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = router(Arc::new(state)).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

fn print(what: &str, p: &Phase) {
    println!(
        "{what:<44} {:>7.0} deliveries/s   p50 {:.2} ms   p99 {:.2} ms",
        p.rate, p.p50, p.p99
    );
    if p.unauthorized + p.throttled > 0.0 {
        println!(
            "{:<44} {:>7.0} forged/s answered 401 (read, HMAC-checked), {:.0}/s 429 (refused unread)",
            "", p.unauthorized, p.throttled
        );
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = <Args as clap::Parser>::parse();
    let (secs, conns, rate, flood_rate) =
        (args.seconds, args.connections, args.rate, args.flood_rate);
    let runner = Arc::new(Nothing(AtomicU64::new(0)));
    let limited = server(60, runner.clone()).await?;
    let open = server(0, runner.clone()).await?;

    println!(
        "eden serve benchmark: {secs} s per phase, {conns} keep-alive connections, payload {} bytes, loopback; forged deliveries from {FLOOD_FROM}",
        PAYLOAD.len()
    );
    print(
        "valid, as fast as answered:",
        &phase(limited, conns, None, 0, secs, 1).await?,
    );
    print(
        &format!("valid at {rate}/s:"),
        &phase(limited, conns, Some(rate), 0, secs, 2).await?,
    );
    print(
        &format!("valid at {rate}/s + {flood_rate}/s forged:"),
        &phase(limited, conns, Some(rate), flood_rate, secs, 3).await?,
    );
    print(
        "  the same, failure limiter off:",
        &phase(open, conns, Some(rate), flood_rate, secs, 4).await?,
    );
    print(
        &format!("valid, as fast as answered + {flood_rate}/s forged:"),
        &phase(limited, conns, None, flood_rate, secs, 5).await?,
    );
    let w = wake::phase(conns, secs).await?;
    println!(
        "{:<44} {:>7.0} requests/s   p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms   wake jobs: {}",
        "waker, a sleeping host, as fast as answered:",
        w.answered as f64 / secs as f64,
        w.p50,
        w.p99,
        w.max,
        w.wakes
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
    Ok(())
}
