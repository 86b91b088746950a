//! A lease per (profile, environment), held on the environment's own state item, the way the
//! DynamoDB Lock Client does it: a short lease (20 s) renewed by a heartbeat (every 5 s) that
//! writes a new record version number (RVN) each time. A waiter never compares clocks across
//! machines: it records the RVN it saw and, if that RVN has not changed after a full lease
//! duration on its own clock, takes the lease over conditioned on that RVN.
//!
//! Taking the lease is one conditional UpdateItem that also reads the state (ALL_OLD); the final
//! PutItem (create) or DeleteItem (delete) releases it, conditioned on ownership. While the run
//! holds it, its AWS clients carry a guard ([`Lease::guard`]) that refuses every request once the
//! heartbeat has lost the lease, so a run that lost it stops before its next write.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use rand::Rng;
use tokio::time::Instant;

use super::heartbeat::{self, Heartbeat};
use super::state::{key, EnvState, Item};
pub use super::table::create as create_table;
use super::Engine;
use crate::aws::dynamodb::{self, DdbErrorKind, TakeLease, TakeOver};
use crate::aws::Aws;
use crate::cancel::Interrupted;

/// Environment variable that shortens (or lengthens) the lease, for tests and operators.
pub const LEASE_SECONDS_ENV: &str = "EDEN_LEASE_SECONDS";

#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// How long a lease lasts without a heartbeat: a waiter takes over a lease whose RVN did
    /// not change for this long.
    pub duration: Duration,
    /// How often the holder renews the lease (a new RVN each time).
    pub heartbeat: Duration,
    /// How long to wait for a live run's lease before giving up.
    pub wait: Duration,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        LeaseSettings::with_duration(Duration::from_secs(20))
    }
}

impl LeaseSettings {
    /// A lease of `duration`, renewed four times per duration.
    pub fn with_duration(duration: Duration) -> LeaseSettings {
        LeaseSettings {
            duration,
            heartbeat: duration / 4,
            wait: Duration::from_secs(300),
        }
    }

    /// The defaults, or `EDEN_LEASE_SECONDS` when set (1..=600; the CLI validates it).
    pub fn from_env() -> LeaseSettings {
        match std::env::var(LEASE_SECONDS_ENV).ok() {
            Some(v) => match v.trim().parse::<u64>() {
                Ok(s) if (1..=600).contains(&s) => {
                    LeaseSettings::with_duration(Duration::from_secs(s))
                }
                _ => {
                    tracing::warn!("{LEASE_SECONDS_ENV}={v:?} is not 1..=600; using 20");
                    LeaseSettings::default()
                }
            },
            None => LeaseSettings::default(),
        }
    }

    /// How long after its last renewal was sent a holder still trusts its lease: one
    /// heartbeat less than the duration, so it stops well before any waiter can take over.
    pub(crate) fn trusted_for(&self) -> Duration {
        self.duration.saturating_sub(self.heartbeat)
    }
}

/// Who holds a lease, as read from the item.
#[derive(Debug, Clone, PartialEq)]
pub struct Holder {
    pub owner: String,
    /// None: a lease written by an eden without heartbeats (`lease_expires`).
    pub rvn: Option<String>,
    pub duration: Duration,
    /// Epoch seconds (the holder's clock; for people only).
    pub since: Option<f64>,
    pub renewed: Option<f64>,
}

impl Holder {
    pub fn from_item(item: &Item, default_duration: Duration) -> Option<Holder> {
        let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        let n = |k: &str| {
            item.get(k)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<f64>().ok())
        };
        Some(Holder {
            owner: s("lease_owner")?,
            rvn: s("lease_rvn"),
            duration: n("lease_duration_ms")
                .map(|ms| Duration::from_millis(ms as u64))
                .unwrap_or(default_duration),
            since: n("lease_since"),
            renewed: n("lease_renewed"),
        })
    }
}

/// The attributes of a lease on the state item (everything else is state).
pub const LEASE_ATTRIBUTES: [&str; 6] = [
    "lease_owner",
    "lease_rvn",
    "lease_duration_ms",
    "lease_since",
    "lease_renewed",
    "lease_expires",
];

/// An item that holds nothing but a lease (a run died before writing any state).
pub fn is_lease_only(item: &Item) -> bool {
    item.keys().all(|k| {
        matches!(k.as_str(), "type" | "name" | "kind") || LEASE_ATTRIBUTES.contains(&k.as_str())
    })
}

#[derive(Debug, Clone)]
pub struct Lease {
    pub table: String,
    pub profile: String,
    pub environment: String,
    pub owner: String,
    /// The state item as it was before we took the lease (None: no item, or only a lease).
    pub previous: Option<EnvState>,
    /// How long this run waited for another run's lease (zero when it was free).
    pub waited: Duration,
    /// The holder whose lease was taken over because its RVN stopped changing.
    pub took_over: Option<Holder>,
    heartbeat: Arc<Heartbeat>,
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("the DynamoDB table {0} does not exist")]
    TableMissing(String),
    #[error(
        "environment {environment} of profile {profile} is busy: a live eden run ({owner}) holds its lease and renewed it while we waited {waited_s} s; retry later, or if no such run exists, `eden unlock -p {profile} --name {environment}`"
    )]
    Busy {
        profile: String,
        environment: String,
        owner: String,
        waited_s: u64,
        /// When trying again is worth it: one lease duration (a holder that stops renewing
        /// is taken over after that long).
        retry_after: Duration,
    },
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    #[error(transparent)]
    Aws(#[from] anyhow::Error),
}

/// The lease was lost while the run held it: the run stops before its next request.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the lease on {target} was lost ({reason}); this run stopped before its next AWS request. Run the same command again to finish")]
pub struct LeaseLost {
    pub target: String,
    pub reason: String,
}

pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

fn new_owner() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
    format!(
        "{host}:{}:{:016x}",
        std::process::id(),
        rand::thread_rng().gen::<u64>()
    )
}

pub(crate) fn new_rvn() -> String {
    format!("{:032x}", rand::thread_rng().gen::<u128>())
}

/// What a waiter saw: the holder and when (on the waiter's own clock) it first saw this RVN.
struct Seen {
    holder: Holder,
    at: Instant,
}

/// Take the lease, waiting while another run holds it and keeps renewing it. A lease whose RVN
/// did not change for its whole duration is taken over (its run died).
pub async fn acquire(
    engine: &Engine,
    profile: &str,
    environment: &str,
) -> Result<Lease, LeaseError> {
    let mut a = Acquire {
        engine,
        profile,
        environment,
        owner: new_owner(),
        start: Instant::now(),
        seen: None,
    };
    let table = engine.table.as_str();
    loop {
        let stale = a.stale();
        let rvn = new_rvn();
        let take = TakeLease {
            owner: &a.owner,
            rvn: &rvn,
            duration_ms: engine.lease.duration.as_millis(),
            now: now_secs(),
            kind: "environment",
            take_over: take_over(stale.as_ref()),
        };
        let sent = Instant::now();
        let taken = dynamodb::take_lease(&engine.aws, table, key(profile, environment), take).await;
        match taken {
            Ok(old) => return Ok(a.granted(old, stale, sent)),
            Err(e) if e.kind == DdbErrorKind::ConditionFailed => a.wait(e.item.as_ref()).await?,
            Err(e) if e.kind == DdbErrorKind::TableMissing => {
                return Err(LeaseError::TableMissing(table.to_string()))
            }
            Err(e) => {
                let what = format!("taking the lease in DynamoDB table {table}");
                return Err(e.failed(what).into());
            }
        }
    }
}

/// Whose lease this attempt may replace: nobody's, or a holder seen unchanged for its duration.
fn take_over(stale: Option<&Holder>) -> TakeOver<'_> {
    match stale {
        None => TakeOver::Nobody,
        Some(Holder { rvn: Some(rvn), .. }) => TakeOver::Rvn(rvn),
        Some(Holder {
            owner, rvn: None, ..
        }) => TakeOver::OwnerWithoutRvn(owner),
    }
}

/// One run's attempt to take an environment's lease: who it is, what it has seen, since when.
struct Acquire<'a> {
    engine: &'a Engine,
    profile: &'a str,
    environment: &'a str,
    owner: String,
    start: Instant,
    seen: Option<Seen>,
}

impl Acquire<'_> {
    /// The holder seen with the same RVN for its whole duration (its run died).
    fn stale(&self) -> Option<Holder> {
        self.seen
            .as_ref()
            .filter(|s| s.at.elapsed() >= s.holder.duration)
            .map(|s| s.holder.clone())
    }

    /// The lease is ours: start its heartbeat.
    fn granted(self, old: Option<Item>, took_over: Option<Holder>, sent: Instant) -> Lease {
        let (engine, profile, environment) = (self.engine, self.profile, self.environment);
        let previous = old
            .filter(|a| !is_lease_only(a))
            .map(|a| EnvState::from_item(&a));
        if let Some(h) = &took_over {
            tracing::warn!(
                "took over the lease of {profile}/{environment} from {} (no renewal for {} s: that run died)",
                h.owner,
                h.duration.as_secs()
            );
        }
        let heartbeat = heartbeat::start(
            engine.aws.clone(),
            &engine.table,
            key(profile, environment),
            self.owner.clone(),
            sent,
            engine.lease.clone(),
            format!("{profile}/{environment}"),
        );
        Lease {
            table: engine.table.clone(),
            profile: profile.to_string(),
            environment: environment.to_string(),
            owner: self.owner,
            previous,
            waited: match self.seen {
                Some(_) => self.start.elapsed(),
                None => Duration::ZERO,
            },
            took_over,
            heartbeat,
        }
    }

    /// Someone holds the lease (`item`, returned by the failed condition): note a new RVN,
    /// give up after the wait, else pause until the next try (or the holder goes stale).
    async fn wait(&mut self, item: Option<&Item>) -> Result<(), LeaseError> {
        let settings = &self.engine.lease;
        let Some(holder) = item.and_then(|i| Holder::from_item(i, settings.duration)) else {
            return Ok(()); // released between our read and write: try again now
        };
        let same = self
            .seen
            .as_ref()
            .is_some_and(|s| (&s.holder.owner, &s.holder.rvn) == (&holder.owner, &holder.rvn));
        if !same {
            // a new RVN (or a first look): the holder is alive as of now
            self.seen = Some(Seen {
                holder: holder.clone(),
                at: Instant::now(),
            });
        }
        if self.start.elapsed() >= settings.wait {
            return Err(LeaseError::Busy {
                profile: self.profile.to_string(),
                environment: self.environment.to_string(),
                owner: holder.owner,
                waited_s: self.start.elapsed().as_secs(),
                retry_after: settings.duration,
            });
        }
        let s = self.seen.as_ref().expect("set above");
        let until_stale = s.holder.duration.saturating_sub(s.at.elapsed());
        let poll = Duration::from_millis(rand::thread_rng().gen_range(200..600));
        let pause = poll.min(until_stale).max(Duration::from_millis(1));
        tokio::select! {
            _ = tokio::time::sleep(pause) => Ok(()),
            _ = self.engine.cancel.cancelled() => Err(Interrupted {
                operation: "waiting for the lease",
                target: format!("{}/{}", self.profile, self.environment),
                done: vec![],
            }
            .into()),
        }
    }
}

impl Lease {
    pub fn target(&self) -> String {
        format!("{}/{}", self.profile, self.environment)
    }

    /// Ok while the lease is ours: not lost by the heartbeat, and renewed recently enough.
    pub fn check(&self) -> Result<(), LeaseLost> {
        self.heartbeat.check()
    }

    /// The run's AWS clients with a guard that refuses every request once the lease is lost.
    pub fn guard(&self, aws: &Aws) -> Aws {
        let heartbeat = self.heartbeat.clone();
        aws.with_guard(move || heartbeat.check().map_err(Into::into))
    }

    /// How many times the heartbeat renewed the lease so far.
    pub fn renewals(&self) -> u64 {
        self.heartbeat.renewals()
    }

    /// Give the lease back without writing state: restore the item as it was (no item, if
    /// there was none before).
    pub async fn release(&self, aws: &Aws) -> Result<()> {
        self.heartbeat.stop();
        if self.previous.is_none() {
            return self.remove(aws).await;
        }
        dynamodb::remove_lease(
            aws,
            &self.table,
            key(&self.profile, &self.environment),
            &self.owner,
            &LEASE_ATTRIBUTES,
        )
        .await
        .map_err(|e| e.failed(format!("releasing the lease on {}", self.target())))?;
        Ok(())
    }

    /// Write the final state and release the lease in one conditional PutItem.
    pub async fn commit(&self, aws: &Aws, state: &EnvState) -> Result<()> {
        self.heartbeat.stop();
        self.check()?;
        dynamodb::put_owned(aws, &self.table, state.to_item(), &self.owner)
            .await
            .map_err(|e| e.failed(format!("writing the state of {}", self.target())))?;
        Ok(())
    }

    /// Set (and remove) attributes of the state item, keeping the lease: a recorded step of a
    /// longer change that a later run reads and finishes (sleep, wake).
    pub async fn record(
        &self,
        aws: &Aws,
        set: Vec<(&str, aws_sdk_dynamodb::types::AttributeValue)>,
        remove: &[&str],
    ) -> Result<()> {
        self.check()?;
        dynamodb::update_owned(
            aws,
            &self.table,
            key(&self.profile, &self.environment),
            &self.owner,
            set,
            remove,
        )
        .await
        .map_err(|e| e.failed(format!("recording the state of {}", self.target())))?;
        Ok(())
    }

    /// Remove the state item (end of delete), releasing the lease.
    pub async fn remove(&self, aws: &Aws) -> Result<()> {
        self.heartbeat.stop();
        self.check()?;
        dynamodb::delete_owned(
            aws,
            &self.table,
            key(&self.profile, &self.environment),
            &self.owner,
        )
        .await
        .map_err(|e| e.failed(format!("removing the state of {}", self.target())))?;
        Ok(())
    }
}

/// The error a run returns when it failed: the lease's loss if that is why, else `err`.
/// The one wrapper create and delete run their work in once the lease is theirs (`None`: no
/// state table, delete by name): every request of `work` goes through the lease's guard, and a
/// failed run gives the lease back at once (unless it was lost: then it is not ours to give,
/// and the loss is the error).
pub async fn run_guarded<T, F, Fut>(engine: &Engine, lease: Option<&Lease>, work: F) -> Result<T>
where
    F: FnOnce(Engine) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let guarded = match lease {
        Some(l) => Engine {
            aws: l.guard(&engine.aws),
            ..engine.clone()
        },
        None => engine.clone(),
    };
    let (result, l) = match (work(guarded).await, lease) {
        (Ok(v), _) => return Ok(v),
        (Err(e), None) => return Err(e),
        (Err(e), Some(l)) => (e, l),
    };
    let e = explain(l, result);
    if l.check().is_ok() {
        if let Err(r) = l.release(&engine.aws).await {
            tracing::warn!("{r:#}");
        }
    }
    Err(e)
}

pub fn explain(lease: &Lease, err: anyhow::Error) -> anyhow::Error {
    match lease.check() {
        Err(lost) => anyhow::Error::new(lost),
        Ok(()) => err,
    }
}
