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

use anyhow::{anyhow, Result};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use rand::Rng;
use tokio::time::Instant;

use super::heartbeat::{self, Heartbeat};
use super::state::{key, EnvState, Item};
pub use super::table::create as create_table;
use super::Engine;
use crate::aws::{describe, error_code, Aws};
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
    let (aws, table, settings) = (&engine.aws, engine.table.as_str(), &engine.lease);
    let owner = new_owner();
    let start = Instant::now();
    let mut seen: Option<Seen> = None;
    loop {
        let stale = seen
            .as_ref()
            .filter(|s| s.at.elapsed() >= s.holder.duration);
        let rvn = new_rvn();
        let now = now_secs();
        let mut q = aws
            .dynamodb
            .update_item()
            .table_name(table)
            .set_key(Some(key(profile, environment)))
            .update_expression(
                "SET lease_owner = :me, lease_rvn = :rvn, lease_duration_ms = :d, lease_since = :now, lease_renewed = :now, #k = if_not_exists(#k, :kind) REMOVE lease_expires",
            )
            .expression_attribute_names("#k", "kind")
            .expression_attribute_values(":me", AttributeValue::S(owner.clone()))
            .expression_attribute_values(":rvn", AttributeValue::S(rvn.clone()))
            .expression_attribute_values(
                ":d",
                AttributeValue::N(settings.duration.as_millis().to_string()),
            )
            .expression_attribute_values(":now", AttributeValue::N(format!("{now:.3}")))
            .expression_attribute_values(":kind", AttributeValue::S("environment".into()))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        q = match stale.map(|s| &s.holder) {
            None => q.condition_expression("attribute_not_exists(lease_owner)"),
            Some(Holder { rvn: Some(seen_rvn), .. }) => q
                .condition_expression("attribute_not_exists(lease_owner) OR lease_rvn = :seen")
                .expression_attribute_values(":seen", AttributeValue::S(seen_rvn.clone())),
            Some(Holder { owner: seen_owner, rvn: None, .. }) => q
                .condition_expression(
                    "attribute_not_exists(lease_owner) OR (lease_owner = :seen AND attribute_not_exists(lease_rvn))",
                )
                .expression_attribute_values(":seen", AttributeValue::S(seen_owner.clone())),
        };
        let sent = Instant::now();
        match q.send().await {
            Ok(out) => {
                let previous = out
                    .attributes
                    .filter(|a| !is_lease_only(a))
                    .map(|a| EnvState::from_item(&a));
                let took_over = stale.map(|s| s.holder.clone());
                if let Some(h) = &took_over {
                    tracing::warn!(
                        "took over the lease of {profile}/{environment} from {} (no renewal for {} s: that run died)",
                        h.owner,
                        h.duration.as_secs()
                    );
                }
                let target = format!("{profile}/{environment}");
                let heartbeat = heartbeat::start(
                    aws.clone(),
                    table,
                    key(profile, environment),
                    owner.clone(),
                    sent,
                    settings.clone(),
                    target,
                );
                return Ok(Lease {
                    table: table.to_string(),
                    profile: profile.to_string(),
                    environment: environment.to_string(),
                    owner,
                    previous,
                    waited: if seen.is_some() {
                        start.elapsed()
                    } else {
                        Duration::ZERO
                    },
                    took_over,
                    heartbeat,
                });
            }
            Err(e) => {
                let current = e.as_service_error().and_then(|s| match s {
                    UpdateItemError::ConditionalCheckFailedException(c) => c.item.clone(),
                    _ => None,
                });
                match error_code(&e) {
                    Some("ConditionalCheckFailedException") => {
                        let Some(holder) = current
                            .as_ref()
                            .and_then(|i| Holder::from_item(i, settings.duration))
                        else {
                            continue; // released between our read and write: try again now
                        };
                        let same = seen.as_ref().is_some_and(|s| {
                            (&s.holder.owner, &s.holder.rvn) == (&holder.owner, &holder.rvn)
                        });
                        if !same {
                            // a new RVN (or a first look): the holder is alive as of now
                            seen = Some(Seen {
                                holder: holder.clone(),
                                at: Instant::now(),
                            });
                        }
                        if start.elapsed() >= settings.wait {
                            return Err(LeaseError::Busy {
                                profile: profile.to_string(),
                                environment: environment.to_string(),
                                owner: holder.owner,
                                waited_s: start.elapsed().as_secs(),
                            });
                        }
                        let s = seen.as_ref().expect("set above");
                        let until_stale = s.holder.duration.saturating_sub(s.at.elapsed());
                        let poll = Duration::from_millis(rand::thread_rng().gen_range(200..600));
                        let pause = poll.min(until_stale).max(Duration::from_millis(1));
                        tokio::select! {
                            _ = tokio::time::sleep(pause) => {}
                            _ = engine.cancel.cancelled() => {
                                return Err(Interrupted {
                                    operation: "waiting for the lease",
                                    target: format!("{profile}/{environment}"),
                                    done: vec![],
                                }.into());
                            }
                        }
                    }
                    Some("ResourceNotFoundException") => {
                        return Err(LeaseError::TableMissing(table.to_string()))
                    }
                    _ => {
                        return Err(anyhow!(
                            "taking the lease in DynamoDB table {table} failed: {}",
                            describe(&e)
                        )
                        .into())
                    }
                }
            }
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
        aws.dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&self.profile, &self.environment)))
            .update_expression(format!("REMOVE {}", LEASE_ATTRIBUTES.join(", ")))
            .condition_expression("lease_owner = :me")
            .expression_attribute_values(":me", AttributeValue::S(self.owner.clone()))
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "releasing the lease on {} failed: {}",
                    self.target(),
                    describe(&e)
                )
            })?;
        Ok(())
    }

    /// Write the final state and release the lease in one conditional PutItem.
    pub async fn commit(&self, aws: &Aws, state: &EnvState) -> Result<()> {
        self.heartbeat.stop();
        self.check()?;
        aws.dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(state.to_item()))
            .condition_expression("lease_owner = :me")
            .expression_attribute_values(":me", AttributeValue::S(self.owner.clone()))
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "writing the state of {} failed: {}",
                    self.target(),
                    describe(&e)
                )
            })?;
        Ok(())
    }

    /// Remove the state item (end of delete), releasing the lease.
    pub async fn remove(&self, aws: &Aws) -> Result<()> {
        self.heartbeat.stop();
        self.check()?;
        aws.dynamodb
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(&self.profile, &self.environment)))
            .condition_expression("lease_owner = :me")
            .expression_attribute_values(":me", AttributeValue::S(self.owner.clone()))
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "removing the state of {} failed: {}",
                    self.target(),
                    describe(&e)
                )
            })?;
        Ok(())
    }
}

/// The error a run returns when it failed: the lease's loss if that is why, else `err`.
pub fn explain(lease: &Lease, err: anyhow::Error) -> anyhow::Error {
    match lease.check() {
        Err(lost) => anyhow::Error::new(lost),
        Ok(()) => err,
    }
}
