//! `eden unlock`: remove a lease from a state item by hand (an operator's tool), leaving the
//! state itself alone; an item that holds nothing but the lease is deleted.

use std::time::Duration;

use anyhow::{anyhow, Result};
use serde::Serialize;

use super::lease::{is_lease_only, now_secs, Holder, LEASE_ATTRIBUTES};
use super::state::key;
use super::Engine;
use crate::aws::dynamodb::{self, DdbErrorKind};

/// What `unlock` found and did.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Unlocked {
    pub profile: String,
    pub environment: String,
    /// `host:pid:random` of the run that held it.
    pub owner: String,
    /// When that run took the lease (epoch seconds, its clock).
    pub since: Option<f64>,
    pub rvn: Option<String>,
    /// Seconds since the holder last renewed (by this machine's clock).
    pub renewed_ago_s: Option<f64>,
    pub lease_duration_s: f64,
    /// Renewed within one lease duration: the run may still be alive.
    pub looked_alive: bool,
    /// The item held only the lease and was deleted.
    pub item_deleted: bool,
}

/// Remove the lease of (profile, environment); `None` when there was none.
pub async fn run(engine: &Engine, profile: &str, environment: &str) -> Result<Option<Unlocked>> {
    let aws = &engine.aws;
    let table = &engine.table;
    let item = match dynamodb::get(aws, table, key(profile, environment), true).await {
        Ok(item) => item,
        Err(e) if e.is(DdbErrorKind::TableMissing) => None,
        Err(e) => return Err(e.failed(format!("reading the state of {profile}/{environment}"))),
    };
    let Some(item) = item else { return Ok(None) };
    let Some(holder) = Holder::from_item(&item, engine.lease.duration) else {
        return Ok(None);
    };
    let renewed_ago = holder
        .renewed
        .or(holder.since)
        .map(|t| (now_secs() - t).max(0.0));
    let item_deleted = is_lease_only(&item);
    let res = if item_deleted {
        dynamodb::delete_owned(aws, table, key(profile, environment), &holder.owner).await
    } else {
        dynamodb::remove_lease(
            aws,
            table,
            key(profile, environment),
            &holder.owner,
            &LEASE_ATTRIBUTES,
        )
        .await
    };
    match res {
        Ok(()) => {}
        Err(e) if e.is(DdbErrorKind::ConditionFailed) => {
            return Err(anyhow!(
                "the lease on {profile}/{environment} changed hands while unlocking (it was held by {}); run `eden unlock` again to see the new holder",
                holder.owner
            ))
        }
        Err(e) => {
            return Err(e.failed(format!("removing the lease on {profile}/{environment}")))
        }
    }
    Ok(Some(Unlocked {
        profile: profile.to_string(),
        environment: environment.to_string(),
        looked_alive: renewed_ago.is_some_and(|a| a < holder.duration.as_secs_f64()),
        owner: holder.owner,
        since: holder.since,
        rvn: holder.rvn,
        renewed_ago_s: renewed_ago,
        lease_duration_s: holder.duration.as_secs_f64(),
        item_deleted,
    }))
}

/// For people: who held it, since when, its RVN and whether it looked alive.
pub fn render(u: &Unlocked) -> String {
    let since = u
        .since
        .map(super::rfc3339)
        .unwrap_or_else(|| "an unknown time".into());
    let rvn = u
        .rvn
        .as_deref()
        .unwrap_or("none (an eden without heartbeats)");
    let alive = match u.renewed_ago_s {
        Some(a) if u.looked_alive => format!(
            "last renewed {a:.0} s ago: it looked ALIVE (that run stops at its next heartbeat)"
        ),
        Some(a) => format!(
            "last renewed {} ago: it looked dead",
            human(Duration::from_secs_f64(a))
        ),
        None => "never renewed: it looked dead".into(),
    };
    let what = if u.item_deleted {
        "the item held only the lease and was deleted"
    } else {
        "the environment's state was left as it was"
    };
    format!(
        "Removed the lease on {}/{}: held by {} since {since}, RVN {rvn}, {alive}; {what}.\n",
        u.profile, u.environment, u.owner
    )
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        _ => format!("{} h", s / 3600),
    }
}
