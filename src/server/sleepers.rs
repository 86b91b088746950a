//! The in-memory index of sleeping previews, by hostname: what the waker answers from without
//! waiting on AWS. The reconcile loop replaces it every round (and the waker, rate-limited, when
//! an unknown host asks); this replica's sleep and wake jobs update it as they finish. It also
//! remembers which previews were asked to wake, so many requests queue one wake.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::job::PrKey;

/// A sleeping preview, as the waker needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sleeper {
    pub key: PrKey,
    pub environment: String,
    pub profile: String,
    /// When it went to sleep (unix seconds; the state item's `sleep.since`): names the wake
    /// job, so replicas asking for the same wake send the same SQS deduplication id.
    pub since: f64,
}

/// What the index says about a host.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// Not a sleeping preview (as far as this replica knows).
    Unknown,
    /// Asleep: `first` is true for the request that should start the wake (no wake asked for
    /// within [`ASK_AGAIN_AFTER`]).
    Asleep { sleeper: Sleeper, first: bool },
}

/// A wake asked for this long ago that has not finished is asked for again (a failed wake job,
/// or a replica that died with it).
pub const ASK_AGAIN_AFTER: Duration = Duration::from_secs(10 * 60);

#[derive(Debug)]
struct Entry {
    sleeper: Sleeper,
    asked: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct Sleepers {
    hosts: Mutex<HashMap<String, Entry>>,
}

/// `Host` as the index keys it: lower case, without the port or a trailing dot.
pub fn normalise(host: &str) -> String {
    let h = host.trim();
    let h = if let Some(end) = h.strip_prefix('[').and_then(|r| r.find(']')) {
        &h[..end + 2] // an IPv6 literal, `[::1]:8081`
    } else {
        match h.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => h,
        }
    };
    h.trim_end_matches('.').to_ascii_lowercase()
}

impl Sleepers {
    pub fn new() -> Sleepers {
        Sleepers::default()
    }

    /// Replace the whole index (a fresh listing). A host still asleep since the same moment
    /// keeps its "wake asked" mark.
    pub fn replace_all(&self, fresh: Vec<(String, Sleeper)>) {
        let mut hosts = self.hosts.lock().expect("sleepers lock");
        let mut next = HashMap::with_capacity(fresh.len());
        for (host, sleeper) in fresh {
            let host = normalise(&host);
            let asked = hosts
                .get(&host)
                .filter(|e| e.sleeper.since == sleeper.since)
                .and_then(|e| e.asked);
            next.insert(host, Entry { sleeper, asked });
        }
        *hosts = next;
    }

    /// This replica put a preview to sleep.
    pub fn insert(&self, host: &str, sleeper: Sleeper) {
        let mut hosts = self.hosts.lock().expect("sleepers lock");
        hosts.insert(
            normalise(host),
            Entry {
                sleeper,
                asked: None,
            },
        );
    }

    /// The PR's previews are awake (or gone): forget them.
    pub fn remove_pr(&self, key: &PrKey) {
        let mut hosts = self.hosts.lock().expect("sleepers lock");
        hosts.retain(|_, e| e.sleeper.key != *key);
    }

    /// What to answer `host`; marks the wake asked for when this is the first request.
    pub fn lookup(&self, host: &str) -> Lookup {
        let mut hosts = self.hosts.lock().expect("sleepers lock");
        let Some(e) = hosts.get_mut(&normalise(host)) else {
            return Lookup::Unknown;
        };
        let now = Instant::now();
        let first = e
            .asked
            .is_none_or(|t| now.duration_since(t) >= ASK_AGAIN_AFTER);
        if first {
            e.asked = Some(now);
        }
        Lookup::Asleep {
            sleeper: e.sleeper.clone(),
            first,
        }
    }

    /// Asking for the wake failed (the queue refused it): the next request asks again.
    pub fn ask_failed(&self, host: &str) {
        let mut hosts = self.hosts.lock().expect("sleepers lock");
        if let Some(e) = hosts.get_mut(&normalise(host)) {
            e.asked = None;
        }
    }

    pub fn len(&self) -> usize {
        self.hosts.lock().expect("sleepers lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Previews by state, for `eden_previews{state}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts {
    pub awake: usize,
    pub sleeping: usize,
    pub asleep: usize,
    pub waking: usize,
}

impl StateCounts {
    pub fn by_state(&self) -> [(&'static str, usize); 4] {
        [
            ("awake", self.awake),
            ("sleeping", self.sleeping),
            ("asleep", self.asleep),
            ("waking", self.waking),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleeper(n: u64, since: f64) -> Sleeper {
        Sleeper {
            key: PrKey::new("o/r", n),
            environment: format!("pr-{n}"),
            profile: "api".into(),
            since,
        }
    }

    #[test]
    fn hosts_are_matched_without_case_port_or_trailing_dot() {
        assert_eq!(
            normalise("API-pr-7.Dev.Example.com:443"),
            "api-pr-7.dev.example.com"
        );
        assert_eq!(
            normalise("api-pr-7.dev.example.com."),
            "api-pr-7.dev.example.com"
        );
        assert_eq!(normalise("[::1]:8081"), "[::1]");
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_request_asks_for_the_wake_and_the_next_ones_do_not() {
        let s = Sleepers::new();
        s.replace_all(vec![("a.example.com".into(), sleeper(1, 10.0))]);
        assert_eq!(s.lookup("b.example.com"), Lookup::Unknown);
        let first = s.lookup("A.example.com");
        assert_eq!(
            first,
            Lookup::Asleep {
                sleeper: sleeper(1, 10.0),
                first: true
            }
        );
        for _ in 0..100 {
            assert!(matches!(
                s.lookup("a.example.com"),
                Lookup::Asleep { first: false, .. }
            ));
        }
        // A fresh listing of the same sleep keeps the mark; a new sleep does not.
        s.replace_all(vec![("a.example.com".into(), sleeper(1, 10.0))]);
        assert!(matches!(
            s.lookup("a.example.com"),
            Lookup::Asleep { first: false, .. }
        ));
        // A wake that never finished is asked for again, later.
        tokio::time::advance(ASK_AGAIN_AFTER).await;
        assert!(matches!(
            s.lookup("a.example.com"),
            Lookup::Asleep { first: true, .. }
        ));
        s.replace_all(vec![("a.example.com".into(), sleeper(1, 20.0))]);
        assert!(matches!(
            s.lookup("a.example.com"),
            Lookup::Asleep { first: true, .. }
        ));
        s.ask_failed("a.example.com");
        assert!(matches!(
            s.lookup("a.example.com"),
            Lookup::Asleep { first: true, .. }
        ));
        s.remove_pr(&PrKey::new("o/r", 1));
        assert_eq!(s.lookup("a.example.com"), Lookup::Unknown);
        assert!(s.is_empty());
    }
}
