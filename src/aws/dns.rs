//! Route 53: the zone's name, alias records to the shared ALB, and removing them again.

use super::fail;
use anyhow::{anyhow, bail, Result};
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecordSet, RrType,
};

use super::{error_code, Aws};

pub async fn zone_name(aws: &Aws, zone_id: &str) -> Result<String> {
    match aws.route53.get_hosted_zone().id(zone_id).send().await {
        Ok(o) => Ok(o
            .hosted_zone
            .map(|z| z.name.trim_end_matches('.').to_string())
            .ok_or_else(|| anyhow!("route53:GetHostedZone {zone_id} returned no zone"))?),
        Err(e) if error_code(&e) == Some("NoSuchHostedZone") => Err(crate::error::Refusal::new(
            format!("hosted zone {zone_id} does not exist"),
            "check dynamic_zone_id in the profile",
        )
        .into()),
        Err(e) => Err(fail(
            "route53:GetHostedZone",
            format!("route53:GetHostedZone {zone_id}"),
            &e,
        )),
    }
}

/// What an UPSERT did: the record types written, and the change Route 53 propagates them in
/// (`GetChange` says when every name server answers with them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upserted {
    pub types: Vec<String>,
    pub change_id: Option<String>,
}

/// UPSERT the alias records (A, and AAAA for a dual-stack ALB).
pub async fn upsert_alias(
    aws: &Aws,
    zone_id: &str,
    hostname: &str,
    alb_dns: &str,
    alb_zone: &str,
    dualstack: bool,
) -> Result<Upserted> {
    let target = alias_target_name(alb_dns, dualstack);
    let types: Vec<RrType> = if dualstack {
        vec![RrType::A, RrType::Aaaa]
    } else {
        vec![RrType::A]
    };
    let mut batch = ChangeBatch::builder().comment("Created by eden");
    for t in &types {
        let set = ResourceRecordSet::builder()
            .name(hostname)
            .r#type(t.clone())
            .alias_target(
                AliasTarget::builder()
                    .hosted_zone_id(alb_zone)
                    .dns_name(&target)
                    .evaluate_target_health(false)
                    .build()?,
            )
            .build()?;
        batch = batch.changes(
            Change::builder()
                .action(ChangeAction::Upsert)
                .resource_record_set(set)
                .build()?,
        );
    }
    let out = aws
        .route53
        .change_resource_record_sets()
        .hosted_zone_id(zone_id)
        .change_batch(batch.build()?)
        .send()
        .await
        .map_err(|e| {
            fail(
                "route53:ChangeResourceRecordSets",
                format!("route53:ChangeResourceRecordSets UPSERT {hostname}"),
                &e,
            )
        })?;
    Ok(Upserted {
        types: types.iter().map(|t| t.as_str().to_string()).collect(),
        change_id: out.change_info.map(|c| c.id),
    })
}

/// Whether a change has reached every Route 53 name server (`INSYNC`).
pub async fn change_insync(aws: &Aws, change_id: &str) -> Result<bool> {
    let out = aws
        .route53
        .get_change()
        .id(change_id)
        .send()
        .await
        .map_err(|e| {
            fail(
                "route53:GetChange",
                format!("route53:GetChange {change_id}"),
                &e,
            )
        })?;
    Ok(out
        .change_info
        .is_some_and(|c| c.status == aws_sdk_route53::types::ChangeStatus::Insync))
}

/// The alias target for an ALB: `dualstack.<dns name>` when the ALB is dual-stack, so AAAA
/// queries get the load balancer's IPv6 addresses (what the Route 53 console writes too).
pub fn alias_target_name(alb_dns: &str, dualstack: bool) -> String {
    let name = alb_dns.trim_end_matches('.');
    if dualstack && !name.to_ascii_lowercase().starts_with("dualstack.") {
        format!("dualstack.{name}")
    } else {
        name.to_string()
    }
}

/// The records eden may own at `hostname`: alias A/AAAA and a legacy CNAME.
pub async fn find_records(
    aws: &Aws,
    zone_id: &str,
    hostname: &str,
) -> Result<Vec<ResourceRecordSet>> {
    let out = aws
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(zone_id)
        .start_record_name(hostname)
        .max_items(10)
        .send()
        .await
        .map_err(|e| {
            fail(
                "route53:ListResourceRecordSets",
                format!("route53:ListResourceRecordSets {hostname}"),
                &e,
            )
        })?;
    let want = format!("{}.", hostname.trim_end_matches('.').to_ascii_lowercase());
    Ok(out
        .resource_record_sets
        .into_iter()
        .filter(|r| r.name.to_ascii_lowercase() == want)
        .filter(|r| {
            matches!(r.r#type, RrType::Cname)
                || (matches!(r.r#type, RrType::A | RrType::Aaaa) && r.alias_target.is_some())
        })
        .collect())
}

/// Delete exactly the given record sets (as listed). Already-gone records are fine: when the
/// batch is refused (`InvalidChangeBatch`: a record changed or vanished since it was listed, e.g.
/// by a concurrent run), the same names and types are listed again and what is still there is
/// deleted as it is now. Decided by observation, not by the error's message.
pub async fn delete_records(
    aws: &Aws,
    zone_id: &str,
    mut records: Vec<ResourceRecordSet>,
) -> Result<()> {
    let wanted: Vec<(String, RrType)> = records
        .iter()
        .map(|r| (r.name.to_ascii_lowercase(), r.r#type.clone()))
        .collect();
    for _ in 0..3 {
        if records.is_empty() {
            return Ok(());
        }
        let mut batch = ChangeBatch::builder().comment("Deleted by eden");
        for r in records.iter().cloned() {
            batch = batch.changes(
                Change::builder()
                    .action(ChangeAction::Delete)
                    .resource_record_set(r)
                    .build()?,
            );
        }
        match aws
            .route53
            .change_resource_record_sets()
            .hosted_zone_id(zone_id)
            .change_batch(batch.build()?)
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if error_code(&e) == Some("InvalidChangeBatch") => {
                let mut names: Vec<&str> = wanted.iter().map(|(n, _)| n.as_str()).collect();
                names.dedup();
                let mut now = Vec::new();
                for n in names {
                    now.extend(find_records(aws, zone_id, n).await?);
                }
                records = now
                    .into_iter()
                    .filter(|r| wanted.contains(&(r.name.to_ascii_lowercase(), r.r#type.clone())))
                    .collect();
            }
            Err(e) => {
                return Err(fail(
                    "route53:ChangeResourceRecordSets",
                    "route53:ChangeResourceRecordSets DELETE",
                    &e,
                ))
            }
        }
    }
    bail!("route53: the records kept changing while eden deleted them; run delete again")
}

/// Route 53 allows 5 requests per second per account, and refuses a change to a zone still
/// applying the previous one: both answer HTTP 400 with a throttling code (`Throttling`,
/// `PriorRequestNotComplete`) that the SDK's standard retry classifier recognises. Retried
/// with jittered exponential backoff, more times than the default 3 attempts.
pub fn retry_config() -> aws_smithy_types::retry::RetryConfig {
    aws_smithy_types::retry::RetryConfig::standard()
        .with_max_attempts(ROUTE53_ATTEMPTS)
        .with_initial_backoff(std::time::Duration::from_millis(200))
        .with_max_backoff(std::time::Duration::from_secs(10))
}

/// Attempts per Route 53 call (first try included).
pub const ROUTE53_ATTEMPTS: u32 = 10;
