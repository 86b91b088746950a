//! Remote profiles in the state table, in the original layout:
//! `{type: "_profile", name: PROFILE, kind: "profile", profile: "<JSON of the keys>"}`.

use anyhow::{anyhow, Result};
use aws_sdk_dynamodb::types::AttributeValue;

use crate::aws::dynamodb::{self, DdbErrorKind};
use crate::aws::Aws;
use crate::engine::{lease, state::key};
use crate::profile::{raw_from_json, Profile, RawProfile};

pub const PROFILE_TYPE: &str = "_profile";

pub async fn push(aws: &Aws, table: &str, profile: &Profile) -> Result<()> {
    let json = serde_json::to_string(&profile.to_raw())?;
    for attempt in 0..2 {
        let mut item = key(PROFILE_TYPE, &profile.name);
        item.insert("profile".into(), AttributeValue::S(json.clone()));
        item.insert("kind".into(), AttributeValue::S("profile".into()));
        match dynamodb::put(aws, table, item).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is(DdbErrorKind::TableMissing) && attempt == 0 => {
                lease::create_table(aws, table).await?;
            }
            Err(e) => {
                return Err(e.failed(format!("storing profile {} in table {table}", profile.name)))
            }
        }
    }
    unreachable!("the second attempt returns")
}

/// The stored keys of one profile; a clear error when it is not there.
pub async fn fetch(aws: &Aws, table: &str, name: &str) -> Result<RawProfile> {
    let out = dynamodb::get(aws, table, key(PROFILE_TYPE, name), true).await;
    let item = match out {
        Ok(item) => item,
        Err(e) if e.is(DdbErrorKind::TableMissing) => {
            return Err(anyhow!("DynamoDB table {table} does not exist; push a profile first with `eden config push -p {name}`"))
        }
        Err(e) => return Err(e.failed(format!("reading profile {name} from table {table}"))),
    };
    let item = item.ok_or_else(|| {
        crate::error::NotFound(format!(
            "profile {name} is not in table {table}; push it with `eden config push -p {name}`"
        ))
    })?;
    let json = item
        .get("profile")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| {
            anyhow!("profile {name} in table {table} has no `profile` attribute; push it again")
        })?;
    raw_from_json(json).map_err(|e| anyhow!("profile {name} in table {table}: {e}"))
}

/// Every stored profile (all pages).
pub async fn list(aws: &Aws, table: &str) -> Result<Vec<(String, RawProfile)>> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = dynamodb::page(aws, table, Some(PROFILE_TYPE), start).await;
        let (items, next) = match page {
            Ok(p) => p,
            Err(e) if e.is(DdbErrorKind::TableMissing) => return Ok(out),
            Err(e) => return Err(e.failed(format!("listing profiles in table {table}"))),
        };
        for item in items {
            let name = item
                .get("name")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            let raw = item
                .get("profile")
                .and_then(|v| v.as_s().ok())
                .map(|j| raw_from_json(j))
                .transpose();
            out.push((
                name.clone(),
                raw.map_err(|e| anyhow!("profile {name}: {e}"))?
                    .unwrap_or_default(),
            ));
        }
        start = next;
        if start.is_none() {
            return Ok(out);
        }
    }
}

/// Remove a stored profile. Returns whether it existed.
pub async fn remove(aws: &Aws, table: &str, name: &str) -> Result<bool> {
    match dynamodb::delete(aws, table, key(PROFILE_TYPE, name), true).await {
        Ok(old) => Ok(old.is_some_and(|a| !a.is_empty())),
        Err(e) if e.is(DdbErrorKind::TableMissing) => Ok(false),
        Err(e) => Err(e.failed(format!("removing profile {name} from table {table}"))),
    }
}
