//! A proxy in front of the emulator that forwards every request except one AWS operation
//! (by `X-Amz-Target`), which it holds until told to let it through: a test can stop a real
//! `eden` process at a known point of its run without sleeping or racing it.
//!
//! HTTP/1.1 only, as the SDK speaks it to a plain-HTTP endpoint: requests framed by their
//! headers and `Content-Length` (the SDK sends no chunked request bodies), responses copied as
//! bytes.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

pub struct HoldProxy {
    pub url: String,
    held: watch::Receiver<usize>,
    release: Arc<Semaphore>,
}

impl HoldProxy {
    /// Listen on 127.0.0.1 and forward to `upstream` (`http://host:port`), holding every request
    /// whose `X-Amz-Target` ends with `.{operation}`.
    pub async fn start(upstream: &str, operation: &str) -> HoldProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_string();
        let suffix = format!(".{}", operation.to_ascii_lowercase());
        let (tx, held) = watch::channel(0usize);
        let tx = Arc::new(tx);
        let release = Arc::new(Semaphore::new(0));
        let gate = release.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, suffix, tx, gate) =
                    (upstream.clone(), suffix.clone(), tx.clone(), gate.clone());
                tokio::spawn(async move {
                    let _ = serve(client, &upstream, &suffix, &tx, &gate).await;
                });
            }
        });
        HoldProxy { url, held, release }
    }

    /// Wait until `n` requests are being held.
    pub async fn held(&mut self, n: usize) {
        self.held.wait_for(|h| *h >= n).await.unwrap();
    }

    /// Let one held request through.
    pub fn release_one(&self) {
        self.release.add_permits(1);
    }
}

async fn serve(
    mut client: TcpStream,
    upstream: &str,
    suffix: &str,
    held: &watch::Sender<usize>,
    gate: &Semaphore,
) -> std::io::Result<()> {
    let server = TcpStream::connect(upstream).await?;
    let (mut from_server, mut to_server) = server.into_split();
    let (mut from_client, mut to_client) = client.split();
    let responses = async {
        tokio::io::copy(&mut from_server, &mut to_client).await?;
        to_client.shutdown().await
    };
    let requests = async {
        let mut buf = Vec::new();
        loop {
            // one request: headers, then Content-Length bytes of body
            let end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                let mut chunk = [0u8; 8192];
                let n = from_client.read(&mut chunk).await?;
                if n == 0 {
                    return to_server.shutdown().await;
                }
                buf.extend_from_slice(&chunk[..n]);
            };
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let header = |name: &str| {
                head.lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            };
            let length: usize = header("content-length:")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while buf.len() < end + length {
                let mut chunk = [0u8; 8192];
                let n = from_client.read(&mut chunk).await?;
                if n == 0 {
                    return to_server.shutdown().await;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            if header("x-amz-target:").is_some_and(|t| t.ends_with(suffix)) {
                held.send_modify(|h| *h += 1);
                gate.acquire().await.unwrap().forget();
            }
            let rest = buf.split_off(end + length);
            to_server.write_all(&buf).await?;
            buf = rest;
        }
        #[allow(unreachable_code)]
        Ok::<_, std::io::Error>(())
    };
    let (a, b) = tokio::join!(responses, requests);
    a.and(b)
}
