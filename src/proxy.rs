//! A loopback HTTP/1.1 proxy in front of the emulator, for the benchmark and the tests (never
//! the engine): every request's head is shown to a gate, and the request goes on when the gate's
//! future ends. The benchmark's gate sleeps (the same latency for a CLI in any language); a
//! test's gate holds one operation until told (a real `eden` process stopped at a known point).
//!
//! HTTP/1.1 as the SDKs speak it to a plain-HTTP endpoint: a request is framed by its head and
//! `Content-Length` (neither the Rust SDK nor botocore sends chunked request bodies here);
//! responses are copied back as bytes. The head goes on when the gate opens and the body
//! follows as it comes, so a client waiting for `100 Continue` (botocore's S3 uploads) is not
//! held a second time.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Called with each request's head, lower-cased; the request is forwarded when it returns.
pub type Gate = Arc<dyn Fn(&str) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Listen on 127.0.0.1 and forward to `upstream` (`http://host:port`); returns the proxy's URL.
pub async fn start(upstream: &str, gate: Gate) -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let upstream = upstream.trim_start_matches("http://").to_string();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (upstream, gate) = (upstream.clone(), gate.clone());
            tokio::spawn(async move {
                let _ = serve(client, &upstream, &gate).await;
            });
        }
    });
    Ok(url)
}

async fn serve(mut client: TcpStream, upstream: &str, gate: &Gate) -> std::io::Result<()> {
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
            gate(&head).await;
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
