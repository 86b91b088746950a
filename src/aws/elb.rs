//! Elastic Load Balancing v2 calls: target groups, tags; the pool of shared ALBs and the
//! account's limits in `pool.rs`, host-header rules in `rules.rs`.

use super::fail;
use std::collections::HashMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use aws_sdk_elasticloadbalancingv2::types::{Tag, TargetGroup, TargetGroupAttribute};

use super::{error_code, kind, Aws, AwsErrorKind};

mod pool;
mod rules;
mod shape;
pub use pool::{
    account_limits, alb, alb_of_listener, alb_use, albs, name_of, Alb, AlbUse, Limits,
    DEFAULT_RULES_PER_ALB, DEFAULT_TARGET_GROUPS_PER_ALB,
};
pub use rules::{
    create_host_rule, create_rule, delete_rule, list_rules, modify_rule, rule_by_arn, scan_rules,
    AlbFull, FullOf, HostRule, HostRules, Listed, Placement,
};
pub use shape::{Authenticate, HeaderMatch, Hidden, RuleShape, Then};

pub async fn target_group_by_arn(
    aws: &Aws,
    arn: &str,
) -> Result<(TargetGroup, Vec<TargetGroupAttribute>)> {
    let tg = async {
        aws.elb
            .describe_target_groups()
            .target_group_arns(arn)
            .send()
            .await
            .map_err(|e| {
                fail(
                    "elasticloadbalancing:DescribeTargetGroups",
                    format!("elbv2:DescribeTargetGroups {arn}"),
                    &e,
                )
            })?
            .target_groups
            .unwrap_or_default()
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("target group {arn} not found"))
    };
    let attrs = async {
        Ok::<_, anyhow::Error>(
            aws.elb
                .describe_target_group_attributes()
                .target_group_arn(arn)
                .send()
                .await
                .map_err(|e| {
                    fail(
                        "elasticloadbalancing:DescribeTargetGroupAttributes",
                        format!("elbv2:DescribeTargetGroupAttributes {arn}"),
                        &e,
                    )
                })?
                .attributes
                .unwrap_or_default(),
        )
    };
    tokio::try_join!(tg, attrs)
}

/// A target group found by name: its ARN, its tags, and its settings as DescribeTargetGroups
/// reports them (what a full-path deploy compares before it modifies).
#[derive(Debug, Clone)]
pub struct FoundTargetGroup {
    pub arn: String,
    pub tags: Vec<Tag>,
    pub group: TargetGroup,
}

/// A target group by name, with its tags; `None` if there is none.
pub async fn find_target_group(aws: &Aws, name: &str) -> Result<Option<FoundTargetGroup>> {
    let out = aws.elb.describe_target_groups().names(name).send().await;
    let (arn, group) = match out {
        Ok(o) => match o.target_groups.unwrap_or_default().into_iter().next() {
            Some(g) => match g.target_group_arn.clone() {
                Some(a) => (a, g),
                None => return Ok(None),
            },
            None => return Ok(None),
        },
        Err(e) if error_code(&e) == Some("TargetGroupNotFound") => return Ok(None),
        Err(e) => {
            return Err(fail(
                "elasticloadbalancing:DescribeTargetGroups",
                format!("elbv2:DescribeTargetGroups {name}"),
                &e,
            ))
        }
    };
    let tags = tags(aws, std::slice::from_ref(&arn))
        .await?
        .remove(&arn)
        .unwrap_or_default();
    Ok(Some(FoundTargetGroup { arn, tags, group }))
}

/// Tags of each resource that still exists; a resource that is gone is absent from the map.
///
/// Real ELBv2 fails the whole DescribeTags call (`TargetGroupNotFound`, `RuleNotFound`,
/// `LoadBalancerNotFound`, `ListenerNotFound`) when any one ARN no longer exists, where the
/// emulator answers with empty tags. Then each ARN is described alone, and only the missing
/// ones are left out: a resource that still exists is never mistaken for a gone one.
pub async fn tags(aws: &Aws, arns: &[String]) -> Result<HashMap<String, Vec<Tag>>> {
    if arns.is_empty() {
        return Ok(HashMap::new());
    }
    match describe_tags(aws, arns).await? {
        Some(found) => Ok(found),
        None if arns.len() == 1 => Ok(HashMap::new()),
        None => {
            let each = arns
                .iter()
                .map(|a| describe_tags(aws, std::slice::from_ref(a)));
            let mut out = HashMap::new();
            for found in futures::future::try_join_all(each).await? {
                out.extend(found.unwrap_or_default());
            }
            Ok(out)
        }
    }
}

/// One DescribeTags call; `None` when ELBv2 says one of the resources does not exist.
async fn describe_tags(aws: &Aws, arns: &[String]) -> Result<Option<HashMap<String, Vec<Tag>>>> {
    let out = aws
        .elb
        .describe_tags()
        .set_resource_arns(Some(arns.to_vec()))
        .send()
        .await;
    match out {
        Ok(o) => Ok(Some(
            o.tag_descriptions
                .unwrap_or_default()
                .into_iter()
                .filter_map(|d| Some((d.resource_arn?, d.tags.unwrap_or_default())))
                .collect(),
        )),
        Err(e) if kind(&e) == AwsErrorKind::NotFound => Ok(None),
        Err(e) => Err(fail(
            "elasticloadbalancing:DescribeTags",
            "elbv2:DescribeTags",
            &e,
        )),
    }
}

/// Tag load balancer resources (adopting what the Python eden made, before changing it).
/// Resources already gone are fine.
pub async fn add_tags(aws: &Aws, arns: &[String], tags: Vec<Tag>) -> Result<()> {
    if arns.is_empty() {
        return Ok(());
    }
    match aws
        .elb
        .add_tags()
        .set_resource_arns(Some(arns.to_vec()))
        .set_tags(Some(tags.clone()))
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if kind(&e) == AwsErrorKind::NotFound && arns.len() > 1 => {
            // one ARN is gone (the call fails whole, as DescribeTags does): tag the others alone
            for a in arns {
                Box::pin(add_tags(aws, std::slice::from_ref(a), tags.clone())).await?;
            }
            Ok(())
        }
        Err(e) if kind(&e) == AwsErrorKind::NotFound => Ok(()),
        Err(e) => Err(fail(
            "elasticloadbalancing:AddTags",
            format!("tagging {}", arns.join(", ")),
            &e,
        )),
    }
}

pub fn tags_of(tags: &[Tag]) -> impl Iterator<Item = (&str, &str)> {
    tags.iter().filter_map(|t| Some((t.key()?, t.value()?)))
}

pub fn to_tags(pairs: &[(String, String)]) -> Vec<Tag> {
    pairs
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// A target group's health check settings, on CreateTargetGroup or ModifyTargetGroup alike.
macro_rules! health_check {
    ($builder:expr, $r:expr) => {
        $builder
            .set_health_check_protocol($r.health_check_protocol.clone())
            .set_health_check_port($r.health_check_port.clone())
            .set_health_check_enabled($r.health_check_enabled)
            .set_health_check_path($r.health_check_path.clone())
            .set_health_check_interval_seconds($r.health_check_interval_seconds)
            .set_health_check_timeout_seconds($r.health_check_timeout_seconds)
            .set_healthy_threshold_count($r.healthy_threshold_count)
            .set_unhealthy_threshold_count($r.unhealthy_threshold_count)
            .set_matcher($r.matcher.clone())
    };
}

/// Create a target group with `reference`'s settings (the clone's: see
/// `engine::clone::target_group_settings`); on a name clash, return the existing one.
pub async fn create_target_group(
    aws: &Aws,
    name: &str,
    reference: &TargetGroup,
    tags: Vec<Tag>,
) -> Result<String> {
    let r = reference;
    let create = aws
        .elb
        .create_target_group()
        .name(name)
        .set_protocol(r.protocol.clone())
        .set_protocol_version(r.protocol_version.clone())
        .set_port(r.port)
        .set_vpc_id(r.vpc_id.clone());
    let out = health_check!(create, r)
        .set_target_type(r.target_type.clone())
        .set_ip_address_type(r.ip_address_type.clone())
        .set_tags(Some(tags))
        .send()
        .await;
    match out {
        Ok(o) => o
            .target_groups
            .unwrap_or_default()
            .into_iter()
            .next()
            .and_then(|t| t.target_group_arn)
            .ok_or_else(|| anyhow!("elbv2:CreateTargetGroup returned no ARN")),
        Err(e) if error_code(&e) == Some("DuplicateTargetGroupName") => {
            find_target_group(aws, name)
                .await?
                .map(|f| f.arn)
                .ok_or_else(|| anyhow!("target group {name} exists and vanished; retry"))
        }
        Err(e) => Err(fail(
            "elasticloadbalancing:CreateTargetGroup",
            format!("elbv2:CreateTargetGroup {name}"),
            &e,
        )),
    }
}

/// Set an existing target group's health check to `r`'s.
pub async fn align_health_check(aws: &Aws, arn: &str, r: &TargetGroup) -> Result<()> {
    let modify = aws.elb.modify_target_group().target_group_arn(arn);
    health_check!(modify, r).send().await.map_err(|e| {
        fail(
            "elasticloadbalancing:ModifyTargetGroup",
            format!("elbv2:ModifyTargetGroup {arn}"),
            &e,
        )
    })?;
    Ok(())
}

/// Set a clone's attributes (deregistration delay, stickiness, slow start, algorithm…).
pub async fn copy_attributes(aws: &Aws, arn: &str, attrs: &[TargetGroupAttribute]) -> Result<()> {
    if attrs.is_empty() {
        return Ok(());
    }
    aws.elb
        .modify_target_group_attributes()
        .target_group_arn(arn)
        .set_attributes(Some(attrs.to_vec()))
        .send()
        .await
        .map_err(|e| {
            fail(
                "elasticloadbalancing:ModifyTargetGroupAttributes",
                format!("elbv2:ModifyTargetGroupAttributes {arn}"),
                &e,
            )
        })?;
    Ok(())
}

/// DeleteTargetGroup, retried while a rule or service still holds it (ResourceInUse).
pub async fn delete_target_group(aws: &Aws, arn: &str) -> Result<()> {
    for attempt in 0..40u64 {
        match aws
            .elb
            .delete_target_group()
            .target_group_arn(arn)
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if kind(&e) == AwsErrorKind::NotFound => return Ok(()),
            Err(e) if error_code(&e) == Some("ResourceInUse") => {
                tokio::time::sleep(Duration::from_millis(250 + 250 * attempt.min(7))).await;
            }
            Err(e) => {
                return Err(fail(
                    "elasticloadbalancing:DeleteTargetGroup",
                    format!("elbv2:DeleteTargetGroup {arn}"),
                    &e,
                ))
            }
        }
    }
    bail!("target group {arn} is still in use after 60 s; run delete again")
}
