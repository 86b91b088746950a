//! The waker (`wake_listen`) over loopback HTTP: a sleeping preview's host gets 503 +
//! Retry-After (a self-reloading page for browsers), any other host 404; many requests ask for
//! one wake; an unknown host refreshes the index at most once per interval. The wake trigger
//! and the refresh are injected here (tests/server_sleep.rs runs the real path).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use eden::server::job::PrKey;
use eden::server::sleepers::{Sleeper, Sleepers};
use eden::server::waker::{self, Refresh, WakeTrigger, Waker};
use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const HOST: &str = "api-pr-7.dev.example.com";

fn sleeper() -> Sleeper {
    Sleeper {
        key: PrKey::new("octo-org/shop", 7),
        environment: "pr-7".into(),
        profile: "api".into(),
        since: 1_780_000_000.0,
    }
}

/// Counts the wakes asked for, and tells the test each one.
struct Count(AtomicUsize, mpsc::UnboundedSender<Sleeper>);
impl WakeTrigger for Count {
    fn wake(&self, s: Sleeper) -> BoxFuture<'static, Result<()>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        let _ = self.1.send(s);
        Box::pin(async { Ok(()) })
    }
}

/// A refresh that finds `fresh` and counts how often it was asked.
struct Fresh(
    AtomicUsize,
    Vec<(String, Sleeper)>,
    mpsc::UnboundedSender<()>,
);
impl Refresh for Fresh {
    fn sleepers(&self) -> BoxFuture<'static, Result<Vec<(String, Sleeper)>>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        let (fresh, done) = (self.1.clone(), self.2.clone());
        Box::pin(async move {
            let _ = done.send(());
            Ok(fresh)
        })
    }
}

/// One HTTP/1.1 request; the status, the headers (lower-cased names) and the body.
async fn get(
    addr: std::net::SocketAddr,
    host: &str,
    accept: &str,
) -> (u16, Vec<(String, String)>, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /some/page HTTP/1.1\r\nhost: {host}\r\naccept: {accept}\r\nconnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

async fn start(w: Waker) -> (std::net::SocketAddr, Arc<Waker>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let w = Arc::new(w);
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(waker::serve(listener, w.clone(), stop));
    (addr, w)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sleeping_host_gets_503_and_one_wake_however_many_requests() {
    let sleepers = Arc::new(Sleepers::new());
    sleepers.replace_all(vec![(HOST.into(), sleeper())]);
    let (tx, mut asked) = mpsc::unbounded_channel();
    let count = Arc::new(Count(AtomicUsize::new(0), tx));
    let (addr, _) = start(Waker::new(sleepers, count.clone())).await;

    // A client that is not a browser: 503, Retry-After in seconds, plain text.
    let (status, h, body) = get(addr, &format!("{}:443", HOST.to_uppercase()), "*/*").await;
    assert_eq!(status, 503);
    assert_eq!(header(&h, "retry-after"), Some("30"));
    assert!(
        header(&h, "content-type")
            .unwrap()
            .starts_with("text/plain"),
        "{h:?}"
    );
    assert!(body.contains("waking"), "{body}");
    assert_eq!(asked.recv().await.unwrap(), sleeper());

    // A browser: the same status, a small page that reloads itself.
    let (status, h, body) = get(addr, HOST, "text/html,application/xhtml+xml,*/*;q=0.8").await;
    assert_eq!(status, 503);
    assert_eq!(header(&h, "retry-after"), Some("30"));
    assert!(
        header(&h, "content-type").unwrap().starts_with("text/html"),
        "{h:?}"
    );
    assert!(
        body.contains("<meta http-equiv=\"refresh\" content=\"30\">"),
        "{body}"
    );
    assert!(body.contains("waking up"), "{body}");

    // Many more requests at once: still the one wake.
    let many: Vec<_> = (0..50)
        .map(|i| {
            tokio::spawn(get(
                addr,
                HOST,
                if i % 2 == 0 { "text/html" } else { "*/*" },
            ))
        })
        .collect();
    for r in many {
        assert_eq!(r.await.unwrap().0, 503);
    }
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert!(asked.try_recv().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_other_host_gets_404_wakes_nothing_and_refreshes_at_most_once_per_interval() {
    let sleepers = Arc::new(Sleepers::new());
    let (tx, mut asked) = mpsc::unbounded_channel();
    let count = Arc::new(Count(AtomicUsize::new(0), tx));
    let (rtx, mut refreshed) = mpsc::unbounded_channel();
    // The table knows a preview went to sleep since the index was last filled.
    let fresh = Arc::new(Fresh(
        AtomicUsize::new(0),
        vec![(HOST.into(), sleeper())],
        rtx,
    ));
    let mut w = Waker::new(sleepers.clone(), count.clone());
    w.refresh = Some(fresh.clone());
    w.refresh_every = Duration::from_secs(3600);
    let (addr, _) = start(w).await;

    let (status, h, body) = get(addr, "unknown.dev.example.com", "text/html").await;
    assert_eq!(status, 404);
    assert!(header(&h, "retry-after").is_none());
    assert!(body.contains("no sleeping preview"), "{body}");
    refreshed.recv().await.unwrap();
    // More unknown hosts within the interval: no other refresh.
    for i in 0..20 {
        assert_eq!(
            get(addr, &format!("other-{i}.example.com"), "*/*").await.0,
            404
        );
    }
    assert_eq!(fresh.0.load(Ordering::SeqCst), 1);
    assert_eq!(count.0.load(Ordering::SeqCst), 0, "a 404 wakes nothing");
    // The load balancer's health check names no preview: 200.
    let (status, _, _) = get(addr, "10.0.0.5:8081", "*/*").await;
    assert_eq!(status, 404, "only /healthz answers 200");
    // The refresh found the new sleeper: its host now wakes it.
    while sleepers.is_empty() {
        tokio::task::yield_now().await;
    }
    assert_eq!(get(addr, HOST, "*/*").await.0, 503);
    assert_eq!(asked.recv().await.unwrap(), sleeper());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_balancer_health_check_is_answered() {
    let (tx, _asked) = mpsc::unbounded_channel();
    let count = Arc::new(Count(AtomicUsize::new(0), tx));
    let (addr, _) = start(Waker::new(Arc::new(Sleepers::new()), count)).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: 10.0.0.5:8081\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
}
