//! Clients that keep failing authentication — webhook deliveries with a bad signature, API
//! calls with a wrong key — are refused with 429 *before their request body is read*, so a
//! flood of forged deliveries costs a header parse each instead of an HMAC over its body.
//!
//! Each client address has a bucket of `auth_failures_per_minute` failures that refills at that
//! rate; a client whose bucket is empty is refused until it refills. GitHub's own deliveries
//! come from addresses that never fail (their signatures are right), so they are never slowed.
//! The signature check stays the security boundary: when the table of addresses is full the
//! limiter lets new addresses through rather than refusing anyone it cannot track.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tokio::time::Instant;

use super::config::ClientIp;
use super::metrics as m;
use super::AppState;

/// Addresses tracked at most (about 64 bytes each).
const MAX_TRACKED: usize = 10_000;

struct Bucket {
    /// Failures still allowed (refills continuously up to the per-minute limit).
    left: f64,
    at: Instant,
}

/// Authentication failures per client address.
pub struct Failures {
    per_minute: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl Failures {
    /// `per_minute = 0` turns the limiter off.
    pub fn new(per_minute: u32) -> Failures {
        Failures {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refill(&self, b: &Bucket, now: Instant) -> f64 {
        let cap = f64::from(self.per_minute);
        let gained = now.saturating_duration_since(b.at).as_secs_f64() * cap / 60.0;
        (b.left + gained).min(cap)
    }

    /// `None` when `client` may be heard; otherwise how long until it may try again.
    pub fn refused(&self, client: IpAddr, now: Instant) -> Option<Duration> {
        if self.per_minute == 0 {
            return None;
        }
        let g = self.buckets.lock().expect("failures lock");
        let left = self.refill(g.get(&client)?, now);
        (left < 1.0)
            .then(|| Duration::from_secs_f64((1.0 - left) * 60.0 / f64::from(self.per_minute)))
    }

    /// `client` failed to authenticate.
    pub fn failed(&self, client: IpAddr, now: Instant) {
        if self.per_minute == 0 {
            return;
        }
        let mut g = self.buckets.lock().expect("failures lock");
        if g.len() >= MAX_TRACKED && !g.contains_key(&client) {
            // Forget the addresses that have nothing left to serve (bucket full again).
            let cap = f64::from(self.per_minute);
            g.retain(|_, b| self.refill(b, now) < cap);
            if g.len() >= MAX_TRACKED {
                return;
            }
        }
        let left = match g.get(&client) {
            Some(b) => self.refill(b, now),
            None => f64::from(self.per_minute),
        };
        g.insert(
            client,
            Bucket {
                left: (left - 1.0).max(0.0),
                at: now,
            },
        );
    }

    /// Addresses currently tracked (for tests).
    pub fn tracked(&self) -> usize {
        self.buckets.lock().expect("failures lock").len()
    }
}

/// The client's address: the TCP peer, or (behind a load balancer that appends it) the last
/// entry of the last `X-Forwarded-For` header. IPv6 clients are grouped by /64, the block one
/// host usually holds.
pub fn client_of(how: ClientIp, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let ip = match how {
        ClientIp::Peer => peer,
        ClientIp::ForwardedFor => headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(peer),
    };
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
            }
        },
        v4 => v4,
    }
}

/// Middleware on `/webhook` and `/api/v1/*`: a client out of failures gets 429 (and the
/// connection is closed) without its body being read.
pub async fn refuse_failing(
    State(app): State<std::sync::Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(peer) = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
    else {
        // Served without connection info (in-process tests): nothing to attribute.
        return next.run(req).await;
    };
    let client = client_of(app.config.client_ip, peer, req.headers());
    if let Some(wait) = app.failures.refused(client, Instant::now()) {
        m::delivery("unverified", "throttled");
        let secs = (wait.as_secs_f64().ceil() as u64).max(1);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [
                ("retry-after", secs.to_string()),
                ("connection", "close".to_string()),
            ],
            Json(json!({
                "status": "error",
                "message": format!("too many failed signatures or API keys from {client}; retry in {secs} s"),
            })),
        )
            .into_response();
    }
    let response = next.run(req).await;
    if response.extensions().get::<AuthFailed>().is_some() {
        app.failures.failed(client, Instant::now());
    }
    response
}

/// Marks a response to a request that failed to authenticate (see [`failed`]).
#[derive(Debug, Clone, Copy)]
struct AuthFailed;

/// The answer to a bad signature or API key: counted against its client by [`refuse_failing`].
pub fn failed(mut response: Response) -> Response {
    response.extensions_mut().insert(AuthFailed);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_is_refused_once_its_failures_run_out_and_heard_again_as_they_refill() {
        let f = Failures::new(6); // one failure back every 10 s
        let (bad, good) = (ip("192.0.2.1"), ip("192.0.2.2"));
        for _ in 0..6 {
            assert_eq!(f.refused(bad, Instant::now()), None);
            f.failed(bad, Instant::now());
        }
        let wait = f.refused(bad, Instant::now()).expect("out of failures");
        assert_eq!(wait, Duration::from_secs(10));
        assert_eq!(f.refused(good, Instant::now()), None, "others unaffected");
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(f.refused(bad, Instant::now()).is_some());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(f.refused(bad, Instant::now()), None, "one failure refilled");
        f.failed(bad, Instant::now());
        assert!(f.refused(bad, Instant::now()).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn zero_turns_it_off_and_the_table_is_bounded() {
        let off = Failures::new(0);
        for _ in 0..100 {
            off.failed(ip("192.0.2.1"), Instant::now());
        }
        assert_eq!(off.refused(ip("192.0.2.1"), Instant::now()), None);
        assert_eq!(off.tracked(), 0);

        let f = Failures::new(60);
        for i in 0..(MAX_TRACKED as u32 + 50) {
            f.failed(
                IpAddr::from((0x0a00_0000 + i).to_be_bytes()),
                Instant::now(),
            );
        }
        assert_eq!(
            f.tracked(),
            MAX_TRACKED,
            "new addresses are not tracked when full"
        );
        // A minute later every bucket is full again: the full ones are forgotten for new ones.
        tokio::time::advance(Duration::from_secs(60)).await;
        f.failed(ip("192.0.2.9"), Instant::now());
        assert_eq!(f.tracked(), 1);
    }

    #[test]
    fn the_client_address() {
        let peer = ip("10.0.0.5");
        let mut h = HeaderMap::new();
        assert_eq!(client_of(ClientIp::ForwardedFor, peer, &h), peer);
        h.append(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.7".parse().unwrap(),
        );
        h.append("x-forwarded-for", "1.2.3.4, 198.51.100.8".parse().unwrap());
        // The last entry is the one the load balancer appended; earlier ones are the client's say.
        assert_eq!(
            client_of(ClientIp::ForwardedFor, peer, &h),
            ip("198.51.100.8")
        );
        assert_eq!(client_of(ClientIp::Peer, peer, &h), peer);
        assert_eq!(
            client_of(ClientIp::Peer, ip("2001:db8:1:2:3:4:5:6"), &h),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            client_of(ClientIp::Peer, ip("::ffff:192.0.2.1"), &h),
            ip("192.0.2.1")
        );
    }
}
