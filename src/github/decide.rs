//! The pure decision: (event, the PR as it is now, settings) → what to do. No I/O.

use super::event::{PrEvent, PrState};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Command {
    /// Decide from the pull_request event.
    #[default]
    Auto,
    Deploy,
    Delete,
    /// Delete environments of closed PRs and idle ones (no event needed).
    Gc,
    /// Put the PR's preview to sleep (no tasks; woken by a visit, a push or `wake`).
    Sleep,
    /// Wake the PR's sleeping preview.
    Wake,
}

impl std::str::FromStr for Command {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "" | "auto" => Ok(Command::Auto),
            "deploy" => Ok(Command::Deploy),
            "delete" => Ok(Command::Delete),
            "gc" => Ok(Command::Gc),
            "sleep" => Ok(Command::Sleep),
            "wake" => Ok(Command::Wake),
            other => Err(format!(
                "command {other:?} is not one of auto, deploy, delete, gc, sleep, wake"
            )),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub command: Command,
    /// Only PRs carrying this label get a preview.
    pub label: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Deploy,
    Delete {
        reason: String,
    },
    /// Put every profile's environment to sleep.
    Sleep,
    /// Wake every profile's environment.
    Wake,
    Skip {
        reason: String,
    },
}

fn skip(reason: impl Into<String>) -> Decision {
    Decision::Skip {
        reason: reason.into(),
    }
}

fn delete(reason: impl Into<String>) -> Decision {
    Decision::Delete {
        reason: reason.into(),
    }
}

/// What a pull_request action can do to a preview: the one table of actions, read by `decide`,
/// `needs_current_state` and the server's webhook (`may_change_preview`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrChange {
    /// `opened`, `reopened`, `synchronize`: the head is (again) one to preview.
    Head,
    Labeled,
    Unlabeled,
    Closed,
    /// Any other action (`edited`, `assigned`, …).
    Nothing,
}

impl PrChange {
    pub fn of(action: &str) -> PrChange {
        match action {
            "opened" | "reopened" | "synchronize" => PrChange::Head,
            "labeled" => PrChange::Labeled,
            "unlabeled" => PrChange::Unlabeled,
            "closed" => PrChange::Closed,
            _ => PrChange::Nothing,
        }
    }
}

/// Whether the event may change a preview when previews are gated by label `gate`: what the
/// server queues (a label event only for the gate's own label).
pub fn may_change_preview(event: &PrEvent, gate: Option<&str>) -> bool {
    match PrChange::of(&event.action) {
        PrChange::Head | PrChange::Closed => true,
        PrChange::Labeled | PrChange::Unlabeled => gate.is_some() && event.label.as_deref() == gate,
        PrChange::Nothing => false,
    }
}

/// Whether `decide` looks at the PR as it is now for this event (so the caller need not read it
/// for a `closed` event or an explicit command).
pub fn needs_current_state(event: &PrEvent, settings: &Settings) -> bool {
    settings.command == Command::Auto
        && matches!(
            PrChange::of(&event.action),
            PrChange::Head | PrChange::Labeled
        )
}

pub fn decide(event: &PrEvent, now: Option<&PrState>, settings: &Settings) -> Decision {
    if event.is_fork() {
        return skip(format!(
            "pull request #{} comes from a fork ({}); eden never runs fork code with this repository's credentials (see the fork policy in docs/action.md)",
            event.number,
            event.head_repo.as_deref().unwrap_or("deleted repository")
        ));
    }
    match settings.command {
        Command::Deploy => return Decision::Deploy,
        Command::Delete => return delete("asked for (`command: delete`)"),
        Command::Sleep => return Decision::Sleep,
        Command::Wake => return Decision::Wake,
        Command::Gc | Command::Auto => {}
    }
    let gate = settings.label.as_deref();
    let open_now = now.map(|n| n.open).unwrap_or(event.state == "open");
    let change = PrChange::of(&event.action);
    match change {
        PrChange::Closed => delete(if event.merged {
            "the pull request was merged"
        } else {
            "the pull request was closed"
        }),
        PrChange::Unlabeled if gate.is_some() && event.label.as_deref() == gate => delete(format!(
            "the label {:?} was removed",
            gate.unwrap_or_default()
        )),
        PrChange::Head | PrChange::Labeled => {
            if !open_now {
                return delete("the pull request was closed meanwhile");
            }
            if change == PrChange::Labeled && (gate.is_none() || event.label.as_deref() != gate) {
                return skip(format!(
                    "label {:?} does not start previews",
                    event.label.as_deref().unwrap_or("")
                ));
            }
            if let Some(gate) = gate {
                let labels = now.map(|n| &n.labels).unwrap_or(&event.labels);
                if !labels.iter().any(|l| l == gate) {
                    return skip(format!(
                        "the pull request does not carry the label {gate:?}"
                    ));
                }
            }
            if let Some(now) = now {
                if !now.head_sha.is_empty() && now.head_sha != event.head_sha {
                    return skip(format!(
                        "the head moved from {} to {}; the run for the newer commit deploys it",
                        short(&event.head_sha),
                        short(&now.head_sha)
                    ));
                }
            }
            Decision::Deploy
        }
        PrChange::Unlabeled | PrChange::Nothing => skip(format!(
            "pull_request action {:?} needs no preview change",
            event.action
        )),
    }
}

pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(action: &str) -> PrEvent {
        PrEvent {
            action: action.into(),
            number: 7,
            title: "t".into(),
            html_url: String::new(),
            head_sha: "aaaaaaaaaa".into(),
            head_ref: "feature".into(),
            base_repo: "o/r".into(),
            head_repo: Some("o/r".into()),
            state: "open".into(),
            merged: false,
            labels: vec![],
            label: None,
        }
    }

    fn now(open: bool, sha: &str, labels: &[&str]) -> PrState {
        PrState {
            open,
            merged: false,
            head_sha: sha.into(),
            labels: labels.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn is_skip(d: &Decision) -> bool {
        matches!(d, Decision::Skip { .. })
    }

    #[test]
    fn events_map_onto_deploy_and_delete() {
        let s = Settings::default();
        let n = now(true, "aaaaaaaaaa", &[]);
        for a in ["opened", "reopened", "synchronize"] {
            assert_eq!(decide(&ev(a), Some(&n), &s), Decision::Deploy, "{a}");
        }
        assert!(matches!(
            decide(&ev("closed"), Some(&now(false, "aaaaaaaaaa", &[])), &s),
            Decision::Delete { .. }
        ));
        for a in [
            "edited",
            "assigned",
            "labeled",
            "unlabeled",
            "review_requested",
        ] {
            assert!(is_skip(&decide(&ev(a), Some(&n), &s)), "{a}");
        }
    }

    #[test]
    fn stale_and_closed_meanwhile() {
        let s = Settings::default();
        let d = decide(&ev("synchronize"), Some(&now(true, "bbbbbbbbbb", &[])), &s);
        assert!(
            matches!(&d, Decision::Skip { reason } if reason.contains("bbbbbbb")),
            "{d:?}"
        );
        assert!(matches!(
            decide(&ev("synchronize"), Some(&now(false, "aaaaaaaaaa", &[])), &s),
            Decision::Delete { .. }
        ));
    }

    #[test]
    fn forks_are_always_skipped() {
        let mut e = ev("opened");
        e.head_repo = Some("someone/r".into());
        let n = now(true, "aaaaaaaaaa", &[]);
        assert!(is_skip(&decide(&e, Some(&n), &Settings::default())));
        e.head_repo = None;
        for command in [Command::Deploy, Command::Delete, Command::Auto] {
            assert!(is_skip(&decide(
                &e,
                Some(&n),
                &Settings {
                    command,
                    ..Default::default()
                }
            )));
        }
    }

    #[test]
    fn label_gate() {
        let s = Settings {
            label: Some("preview".into()),
            ..Default::default()
        };
        assert!(is_skip(&decide(
            &ev("opened"),
            Some(&now(true, "aaaaaaaaaa", &[])),
            &s
        )));
        assert_eq!(
            decide(
                &ev("synchronize"),
                Some(&now(true, "aaaaaaaaaa", &["preview"])),
                &s
            ),
            Decision::Deploy
        );
        let mut l = ev("labeled");
        l.label = Some("preview".into());
        assert_eq!(
            decide(&l, Some(&now(true, "aaaaaaaaaa", &["preview"])), &s),
            Decision::Deploy
        );
        l.label = Some("bug".into());
        assert!(is_skip(&decide(
            &l,
            Some(&now(true, "aaaaaaaaaa", &["preview", "bug"])),
            &s
        )));
        let mut u = ev("unlabeled");
        u.label = Some("preview".into());
        assert!(matches!(
            decide(&u, Some(&now(true, "aaaaaaaaaa", &[])), &s),
            Decision::Delete { .. }
        ));
        u.label = Some("bug".into());
        assert!(is_skip(&decide(
            &u,
            Some(&now(true, "aaaaaaaaaa", &["preview"])),
            &s
        )));
    }

    #[test]
    fn the_current_state_matters_only_where_it_is_read() {
        let s = Settings::default();
        let (open, closed) = (now(true, "bbbbbbbbbb", &[]), now(false, "bbbbbbbbbb", &[]));
        for a in ["closed", "unlabeled", "edited", "assigned"] {
            assert!(!needs_current_state(&ev(a), &s), "{a}");
            let e = ev(a);
            assert_eq!(
                decide(&e, Some(&open), &s),
                decide(&e, Some(&closed), &s),
                "{a}"
            );
            assert_eq!(decide(&e, None, &s), decide(&e, Some(&open), &s), "{a}");
        }
        for a in ["opened", "reopened", "synchronize", "labeled"] {
            assert!(needs_current_state(&ev(a), &s), "{a}");
        }
        let deploy = Settings {
            command: Command::Deploy,
            ..Default::default()
        };
        assert!(!needs_current_state(&ev("opened"), &deploy));
    }

    #[test]
    fn explicit_commands() {
        let n = now(true, "zzz", &[]);
        assert_eq!(
            decide(
                &ev("edited"),
                Some(&n),
                &Settings {
                    command: Command::Deploy,
                    ..Default::default()
                }
            ),
            Decision::Deploy
        );
        assert!(matches!(
            decide(
                &ev("opened"),
                Some(&n),
                &Settings {
                    command: Command::Delete,
                    ..Default::default()
                }
            ),
            Decision::Delete { .. }
        ));
        assert!("nope".parse::<Command>().is_err());
        for (word, command, decision) in [
            ("sleep", Command::Sleep, Decision::Sleep),
            ("wake", Command::Wake, Decision::Wake),
        ] {
            assert_eq!(word.parse::<Command>(), Ok(command));
            let settings = Settings {
                command,
                ..Default::default()
            };
            assert_eq!(decide(&ev("edited"), Some(&n), &settings), decision);
            assert!(!needs_current_state(&ev("synchronize"), &settings));
        }
    }
}
