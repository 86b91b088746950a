//! ls: every environment in the table (all pages), or one profile's.

use anyhow::Result;

use super::state::{EnvState, Item};
use super::{Engine, Outcome};
use crate::aws::dynamodb::{self, DdbErrorKind};

pub async fn run(engine: &Engine, profile: Option<&str>) -> Result<Vec<Outcome>> {
    let mut items: Vec<Item> = Vec::new();
    let mut start = None;
    loop {
        let (page, next) = match dynamodb::page(&engine.aws, &engine.table, profile, start).await {
            Ok(v) => v,
            Err(e) if e.is(DdbErrorKind::TableMissing) => return Ok(vec![]),
            Err(e) => return Err(e.failed(format!("reading DynamoDB table {}", engine.table))),
        };
        items.extend(page);
        start = next;
        if start.is_none() {
            break;
        }
    }
    let mut out: Vec<Outcome> = items
        .iter()
        .filter(|i| {
            i.get("type")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|t| !t.starts_with('_'))
        })
        .filter(|i| {
            i.get("kind")
                .and_then(|v| v.as_s().ok())
                .is_none_or(|k| k == "environment")
        })
        .map(|i| row(EnvState::from_item(i), i.contains_key("lease_owner")))
        .collect();
    out.sort_by(|a, b| (&a.profile, &a.environment).cmp(&(&b.profile, &b.environment)));
    Ok(out)
}

fn row(s: EnvState, leased: bool) -> Outcome {
    // awake, asleep or half-way: only a complete environment sleeps
    let state = s
        .is_complete()
        .then(|| super::state::describe(s.sleep.as_ref()));
    let status = if s.is_complete() {
        if leased {
            "updating"
        } else {
            "ready"
        }
    } else if s.is_legacy() {
        "legacy"
    } else {
        "incomplete"
    };
    Outcome {
        profile: s.profile,
        environment: s.environment,
        url: s.endpoint.as_ref().map(|h| format!("https://{h}")),
        hostname: s.endpoint,
        service_arn: s.service_arn,
        target_group_arn: s.target_group_arn,
        task_definition_arn: s.task_definition_arn,
        rule_arn: s.rule_arn,
        action: None,
        image: s.image,
        last_updated: s.last_updated.map(super::rfc3339),
        status: Some(status.to_string()),
        metadata: s.metadata,
        steps: vec![],
        dns_change_id: None,
        last_woken: s.last_woke.map(super::rfc3339),
        sleep: s.sleep,
        state,
        woke: false,
    }
}
