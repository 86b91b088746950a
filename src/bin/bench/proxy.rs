//! A loopback proxy in front of the emulator that holds every request for a fixed delay before
//! forwarding it: the same added latency for any client in any process (our CLI, the Python
//! eden's), where `ClientOptions::delay` reaches only this process's SDK clients.
//!
//! HTTP/1.1 as the SDKs speak it to a plain-HTTP endpoint: a request is framed by its head and
//! `Content-Length`; responses are copied back as bytes. The delay starts when a request's head
//! has arrived, so a client that waits for `100 Continue` (botocore's S3 uploads) is not held
//! twice; the body follows as it comes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct DelayProxy {
    pub url: String,
    requests: Arc<AtomicUsize>,
}

impl DelayProxy {
    /// Listen on 127.0.0.1 and forward to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str, delay: Duration) -> std::io::Result<DelayProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let upstream = upstream.trim_start_matches("http://").to_string();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, counter) = (upstream.clone(), counter.clone());
                tokio::spawn(async move {
                    let _ = serve(client, &upstream, delay, &counter).await;
                });
            }
        });
        Ok(DelayProxy { url, requests })
    }

    /// Requests forwarded since the last call (the AWS calls of one run).
    pub fn take_count(&self) -> usize {
        self.requests.swap(0, Ordering::SeqCst)
    }
}

async fn serve(
    mut client: TcpStream,
    upstream: &str,
    delay: Duration,
    count: &AtomicUsize,
) -> std::io::Result<()> {
    let server = TcpStream::connect(upstream).await?;
    server.set_nodelay(true)?;
    client.set_nodelay(true)?;
    let (mut from_server, mut to_server) = server.into_split();
    let (mut from_client, mut to_client) = client.split();
    let responses = async {
        tokio::io::copy(&mut from_server, &mut to_client).await?;
        to_client.shutdown().await
    };
    let requests = async {
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                let n = from_client.read(&mut chunk).await?;
                if n == 0 {
                    return to_server.shutdown().await;
                }
                buf.extend_from_slice(&chunk[..n]);
            };
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            tokio::time::sleep(delay).await;
            count.fetch_add(1, Ordering::SeqCst);
            // the head and what of the body has come; then the rest of the body as it comes
            let have = buf.len().min(end + length);
            to_server.write_all(&buf[..have]).await?;
            let mut missing = end + length - have;
            buf.drain(..have);
            while missing > 0 {
                let n = from_client.read(&mut chunk).await?;
                if n == 0 {
                    return to_server.shutdown().await;
                }
                let body = n.min(missing);
                to_server.write_all(&chunk[..body]).await?;
                buf.extend_from_slice(&chunk[body..n]);
                missing -= body;
            }
        }
    };
    let (a, b) = tokio::join!(responses, requests);
    a.and(b)
}
