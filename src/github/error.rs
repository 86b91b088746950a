//! A failed GitHub call, classified by the HTTP status and headers GitHub answered with (never
//! by the message text): rate limits as GitHub documents them — primary, `x-ratelimit-remaining:
//! 0` (with `x-ratelimit-reset`); secondary, 403 or 429 with `retry-after` — then 401, 403,
//! 404, 5xx, and calls that got no answer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;

/// What kind of failure a GitHub call met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitHubErrorKind {
    /// A primary or secondary rate limit (403 or 429 with the rate-limit headers, or any 429).
    RateLimited,
    /// 403 without rate-limit headers: the token may not do this.
    Forbidden,
    NotFound,
    /// 401: the token is invalid or expired.
    Unauthorized,
    /// 5xx.
    Server,
    /// No answer: connection refused, reset, timed out.
    Unanswered,
    /// Any other status (422, 409, …) or a failure before the request was sent.
    Other,
}

/// A failed GitHub call: what was being done, in words a workflow author can act on, and
/// whether another attempt may succeed. Callers tell failures apart by downcasting to this
/// type and reading `kind` / `transient`, never by reading the message.
#[derive(Debug)]
pub struct GitHubError {
    /// The HTTP status GitHub answered, if it answered.
    pub status: Option<u16>,
    pub kind: GitHubErrorKind,
    /// Worth retrying later: a rate limit, a 5xx, or no answer at all.
    pub transient: bool,
    /// How long GitHub asked us to wait (`retry-after`, or until `x-ratelimit-reset`).
    pub retry_after: Option<Duration>,
    message: String,
}

impl std::fmt::Display for GitHubError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for GitHubError {}

/// Whether an error (anywhere in its chain) is a GitHub failure worth another attempt.
pub fn is_transient(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|c| c.downcast_ref::<GitHubError>().is_some_and(|g| g.transient))
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The kind of an answer with `status` (not 2xx) and `headers`, and how long GitHub asked us
/// to wait; `now` is the wall clock `x-ratelimit-reset` (epoch seconds) is compared with.
pub fn classify(
    status: u16,
    headers: &HeaderMap,
    now: SystemTime,
) -> (GitHubErrorKind, Option<Duration>) {
    let retry_after = header_u64(headers, "retry-after").map(Duration::from_secs);
    let exhausted = header_u64(headers, "x-ratelimit-remaining") == Some(0);
    let until_reset = || {
        let reset = header_u64(headers, "x-ratelimit-reset")?;
        let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
        Some(Duration::from_secs(reset.saturating_sub(now)))
    };
    let limited = status == 429 || (status == 403 && (exhausted || retry_after.is_some()));
    if limited {
        let wait = retry_after.or_else(|| exhausted.then(until_reset).flatten());
        return (GitHubErrorKind::RateLimited, wait);
    }
    let kind = match status {
        401 => GitHubErrorKind::Unauthorized,
        403 => GitHubErrorKind::Forbidden,
        404 => GitHubErrorKind::NotFound,
        500..=599 => GitHubErrorKind::Server,
        _ => GitHubErrorKind::Other,
    };
    (kind, None)
}

/// What a workflow author can do about a failure of this kind.
fn hint(kind: GitHubErrorKind) -> &'static str {
    match kind {
        GitHubErrorKind::Unauthorized => {
            " — the token is invalid or expired (input `github-token`)"
        }
        GitHubErrorKind::Forbidden => {
            " — the token lacks permission: give the job `permissions: { pull-requests: write }` (and `deployments: write` for `deployment: true`)"
        }
        GitHubErrorKind::RateLimited => " — rate limited; retry later",
        _ => "",
    }
}

impl GitHubError {
    /// GitHub answered `status` with `headers`; `detail` is its `message` (for people only).
    pub fn answered(what: &str, status: u16, headers: &HeaderMap, detail: &str) -> GitHubError {
        let (kind, retry_after) = classify(status, headers, SystemTime::now());
        let wait = retry_after
            .map(|d| format!(" (GitHub asks to wait {} s)", d.as_secs()))
            .unwrap_or_default();
        GitHubError {
            status: Some(status),
            kind,
            transient: matches!(kind, GitHubErrorKind::RateLimited | GitHubErrorKind::Server),
            retry_after,
            message: format!(
                "GitHub API: {what} failed ({status} {detail}){}{wait}",
                hint(kind)
            ),
        }
    }

    /// The call failed without an answer whose status and headers can be read: octocrab's own
    /// errors (no answer at all; a GitHub App token that could not be minted, status only).
    pub fn from_octocrab(what: &str, e: octocrab::Error) -> GitHubError {
        match &e {
            octocrab::Error::GitHub { source, .. } => GitHubError::answered(
                what,
                source.status_code.as_u16(),
                &HeaderMap::new(),
                &source.message,
            ),
            octocrab::Error::Hyper { .. } | octocrab::Error::Service { .. } => {
                GitHubError::unanswered(what, &e)
            }
            other => GitHubError::other(what, other),
        }
    }

    /// A failure no other attempt will cure (a request that could not be built, an answer
    /// that is not the JSON GitHub documents).
    pub fn other(what: &str, e: &dyn std::fmt::Display) -> GitHubError {
        GitHubError {
            status: None,
            kind: GitHubErrorKind::Other,
            transient: false,
            retry_after: None,
            message: format!("GitHub API: {what} failed: {e}"),
        }
    }

    /// No answer (connection refused, reset, timed out, the body cut short): the next attempt
    /// may get one.
    pub fn unanswered(what: &str, e: &dyn std::fmt::Display) -> GitHubError {
        GitHubError {
            status: None,
            kind: GitHubErrorKind::Unanswered,
            transient: true,
            retry_after: None,
            message: format!("GitHub API: {what} failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use GitHubErrorKind::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    const NOW: u64 = 1_700_000_000;

    fn kind_of(status: u16, pairs: &[(&'static str, &str)]) -> (GitHubErrorKind, Option<u64>) {
        let now = UNIX_EPOCH + Duration::from_secs(NOW);
        let (k, wait) = classify(status, &headers(pairs), now);
        (k, wait.map(|d| d.as_secs()))
    }

    #[test]
    fn rate_limits_are_told_by_status_and_headers() {
        let reset = (NOW + 42).to_string();
        let primary = [
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", reset.as_str()),
        ];
        assert_eq!(kind_of(403, &primary), (RateLimited, Some(42)));
        assert_eq!(kind_of(429, &primary), (RateLimited, Some(42)));
        assert_eq!(
            kind_of(403, &[("retry-after", "60")]),
            (RateLimited, Some(60))
        );
        assert_eq!(kind_of(429, &[]), (RateLimited, None));
        // A reset already past: no wait, still a rate limit.
        let past = (NOW - 5).to_string();
        let stale = [
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", past.as_str()),
        ];
        assert_eq!(kind_of(403, &stale), (RateLimited, Some(0)));
    }

    #[test]
    fn other_statuses() {
        assert_eq!(
            kind_of(403, &[("x-ratelimit-remaining", "4999")]),
            (Forbidden, None)
        );
        assert_eq!(kind_of(403, &[]), (Forbidden, None));
        assert_eq!(kind_of(401, &[]), (Unauthorized, None));
        assert_eq!(
            kind_of(404, &[("x-ratelimit-remaining", "0")]),
            (NotFound, None)
        );
        assert_eq!(kind_of(502, &[]), (Server, None));
        assert_eq!(kind_of(422, &[]), (Other, None));
    }

    #[test]
    fn transient_and_hints_follow_the_kind() {
        let e = GitHubError::answered("x", 403, &headers(&[("x-ratelimit-remaining", "0")]), "m");
        assert!(e.transient);
        let e = GitHubError::answered("x", 403, &HeaderMap::new(), "m");
        assert!(!e.transient);
        assert!(e.to_string().contains("lacks permission"), "{e}");
        assert!(GitHubError::answered("x", 503, &HeaderMap::new(), "m").transient);
        assert!(!GitHubError::answered("x", 404, &HeaderMap::new(), "m").transient);
    }
}
