//! When an idle preview goes to sleep: the one decision, shared by the server's reconcile loop
//! (`sleep_after` in serve.toml) and `eden gc --sleep-after` (pure; `survey` gathers its facts).
//!
//! A preview sleeps when sleeping is asked for (`sleep_after`), it is awake, its PR is not
//! labelled to keep it awake, and nothing happened to it for `sleep_after`: no request (the
//! ALB's `RequestCount`; no datapoint means no request), no deploy and no wake.

use std::time::Duration;

use time::OffsetDateTime;

pub mod survey;

/// What is known about one preview when deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// Not asleep, and not half-way into or out of sleep.
    pub awake: bool,
    /// Its PR carries the repository's `keep_awake_label`.
    pub kept_awake: bool,
    /// The last deploy (the state item's `last_updated`); `None`: unknown (a legacy item).
    pub last_deploy: Option<OffsetDateTime>,
    /// The last wake, if it ever slept.
    pub last_wake: Option<OffsetDateTime>,
    /// The end of the last period with a request, within the window read.
    pub last_request: Option<OffsetDateTime>,
}

/// Why a preview stays as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stay {
    /// Its repository has no `sleep_after`.
    NotAsked,
    /// Asleep already, or half-way (the finishing job handles that).
    NotAwake,
    /// Labelled `keep_awake_label`.
    KeptAwake,
    /// No known deploy time: nothing to count idleness from.
    Unknown,
    /// Something happened within `sleep_after`: `idle` is how long ago the latest was.
    Active { idle: Duration },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Idle for `idle` (at least `sleep_after`): put it to sleep.
    Sleep {
        idle: Duration,
    },
    Stay(Stay),
}

/// The decision for one preview at `now`.
pub fn decide(now: OffsetDateTime, sleep_after: Option<Duration>, f: &Facts) -> Verdict {
    let Some(after) = sleep_after else {
        return Verdict::Stay(Stay::NotAsked);
    };
    if !f.awake {
        return Verdict::Stay(Stay::NotAwake);
    }
    if f.kept_awake {
        return Verdict::Stay(Stay::KeptAwake);
    }
    let Some(deployed) = f.last_deploy else {
        return Verdict::Stay(Stay::Unknown);
    };
    let latest = [Some(deployed), f.last_wake, f.last_request]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(deployed);
    let idle = Duration::try_from(now - latest).unwrap_or(Duration::ZERO);
    if idle >= after {
        Verdict::Sleep { idle }
    } else {
        Verdict::Stay(Stay::Active { idle })
    }
}

/// Whether a PR's labels keep its preview awake (`keep_awake_label`, compared as GitHub
/// compares label names: case-insensitively).
pub fn kept_awake(label: Option<&str>, labels: &[String]) -> bool {
    label.is_some_and(|l| labels.iter().any(|x| x.eq_ignore_ascii_case(l)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn t(minutes: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_780_000_000 + minutes * 60).unwrap()
    }

    fn awake(deploy: i64) -> Facts {
        Facts {
            awake: true,
            kept_awake: false,
            last_deploy: Some(t(deploy)),
            last_wake: None,
            last_request: None,
        }
    }

    #[test]
    fn idle_for_sleep_after_since_the_deploy_sleeps() {
        let f = awake(0);
        let after = Some(30 * MIN);
        assert_eq!(
            decide(t(29), after, &f),
            Verdict::Stay(Stay::Active { idle: 29 * MIN })
        );
        assert_eq!(decide(t(30), after, &f), Verdict::Sleep { idle: 30 * MIN });
        assert_eq!(decide(t(90), None, &f), Verdict::Stay(Stay::NotAsked));
    }

    #[test]
    fn the_latest_of_deploy_wake_and_request_counts() {
        let after = Some(30 * MIN);
        let mut f = awake(0);
        f.last_request = Some(t(20));
        assert_eq!(
            decide(t(40), after, &f),
            Verdict::Stay(Stay::Active { idle: 20 * MIN })
        );
        assert_eq!(decide(t(50), after, &f), Verdict::Sleep { idle: 30 * MIN });
        f.last_wake = Some(t(45));
        assert_eq!(
            decide(t(50), after, &f),
            Verdict::Stay(Stay::Active { idle: 5 * MIN })
        );
        // A request older than the deploy does not make it older.
        let mut g = awake(60);
        g.last_request = Some(t(10));
        assert_eq!(
            decide(t(80), after, &g),
            Verdict::Stay(Stay::Active { idle: 20 * MIN })
        );
    }

    #[test]
    fn asleep_labelled_or_unknown_previews_stay() {
        let after = Some(MIN);
        let mut f = awake(0);
        f.awake = false;
        assert_eq!(decide(t(99), after, &f), Verdict::Stay(Stay::NotAwake));
        let mut f = awake(0);
        f.kept_awake = true;
        assert_eq!(decide(t(99), after, &f), Verdict::Stay(Stay::KeptAwake));
        let mut f = awake(0);
        f.last_deploy = None;
        assert_eq!(decide(t(99), after, &f), Verdict::Stay(Stay::Unknown));
    }

    #[test]
    fn the_keep_awake_label_is_matched_like_github_matches_labels() {
        let labels = vec!["bug".to_string(), "Keep-Awake".to_string()];
        assert!(kept_awake(Some("keep-awake"), &labels));
        assert!(!kept_awake(Some("demo"), &labels));
        assert!(!kept_awake(None, &labels));
    }
}
