//! The listener's host-header rules: read every page, find this hostname's rule (and its
//! bypass rule, the one with an `http-header` condition), pick a free priority, create, modify
//! and delete.

use crate::aws::fail;
use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use aws_sdk_elasticloadbalancingv2::types::{ActionTypeEnum, Rule, Tag};
use rand::Rng;

use super::shape::RuleShape;
use crate::aws::{error_code, kind, Aws, AwsErrorKind};

/// A rule found on the listener.
#[derive(Debug, Clone)]
pub struct HostRule {
    pub arn: String,
    pub forwards_to: Vec<String>,
    /// What the rule says, if it is a shape eden writes.
    pub shape: Option<RuleShape>,
    /// Its priority (lower numbers are evaluated first).
    pub priority: Option<i32>,
}

impl HostRule {
    fn of(arn: &str, rule: &Rule) -> HostRule {
        HostRule {
            arn: arn.to_string(),
            forwards_to: forwards(rule),
            shape: RuleShape::read(rule),
            priority: rule.priority().and_then(|p| p.parse().ok()),
        }
    }

    /// A bypass rule: its conditions include an `http-header` one (eden's host rule never has).
    pub fn is_bypass(&self) -> bool {
        self.shape.as_ref().is_some_and(|s| s.header.is_some())
    }
}

/// A hostname's rules on a listener: eden's host rule and its bypass rule.
#[derive(Debug, Clone, Default)]
pub struct HostRules {
    pub rule: Option<HostRule>,
    pub bypass: Option<HostRule>,
}

/// Where a new rule goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The hostname's preferred priority, or the next free one.
    Preferred,
    /// The free priority closest below this one (evaluated before the rule that holds it).
    Before(i32),
}

fn hosts(rule: &Rule) -> impl Iterator<Item = &str> {
    rule.conditions()
        .iter()
        .filter(|c| c.field() == Some("host-header"))
        .flat_map(|c| {
            c.values()
                .iter()
                .chain(
                    c.host_header_config()
                        .map(|h| h.values())
                        .unwrap_or_default(),
                )
                .map(String::as_str)
        })
}

fn forwards(rule: &Rule) -> Vec<String> {
    let mut out = Vec::new();
    for a in rule.actions() {
        if a.r#type() == Some(&ActionTypeEnum::Forward) {
            out.extend(a.target_group_arn().map(str::to_string));
            if let Some(fc) = a.forward_config() {
                out.extend(
                    fc.target_groups()
                        .iter()
                        .filter_map(|t| t.target_group_arn().map(str::to_string)),
                );
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// One listener's rules, every page read.
#[derive(Debug, Clone, Default)]
pub struct Listed {
    /// The rules for the hostname asked about (its host rule and bypass rule), if any.
    pub found: HostRules,
    /// Priorities in use (default rules have none: they are not counted).
    pub used: BTreeSet<i32>,
    /// The target groups its rules forward to, the default rule's included: what attaches a
    /// target group to the listener's ALB.
    pub forwards: BTreeSet<String>,
}

/// All rules of a listener (every page): the rules for `hostname` if any, and the used
/// priorities.
pub async fn scan_rules(
    aws: &Aws,
    listener: &str,
    hostname: &str,
) -> Result<(HostRules, BTreeSet<i32>)> {
    let listed = list_rules(aws, listener, hostname).await?;
    Ok((listed.found, listed.used))
}

/// All rules of a listener (every page), with the target groups they forward to.
pub async fn list_rules(aws: &Aws, listener: &str, hostname: &str) -> Result<Listed> {
    let mut marker = None;
    let mut out = Listed::default();
    loop {
        let page = aws
            .elb
            .describe_rules()
            .listener_arn(listener)
            .page_size(400)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| {
                fail(
                    "elasticloadbalancing:DescribeRules",
                    format!("elbv2:DescribeRules on {listener}"),
                    &e,
                )
            })?;
        for rule in page.rules.unwrap_or_default() {
            if let Some(p) = rule.priority().and_then(|p| p.parse::<i32>().ok()) {
                out.used.insert(p);
            }
            out.forwards.extend(forwards(&rule));
            if !hostname.is_empty() && hosts(&rule).any(|h| h.eq_ignore_ascii_case(hostname)) {
                let r = HostRule::of(rule.rule_arn().unwrap_or_default(), &rule);
                let slot = if r.is_bypass() {
                    &mut out.found.bypass
                } else {
                    &mut out.found.rule
                };
                slot.get_or_insert(r);
            }
        }
        marker = page.next_marker;
        if marker.is_none() {
            return Ok(out);
        }
    }
}

/// A rule by ARN; `None` if it is gone.
pub async fn rule_by_arn(aws: &Aws, arn: &str) -> Result<Option<HostRule>> {
    match aws.elb.describe_rules().rule_arns(arn).send().await {
        Ok(o) => Ok(o
            .rules
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(|r| HostRule::of(arn, &r))),
        Err(e) if error_code(&e) == Some("RuleNotFound") => Ok(None),
        Err(e) => Err(fail(
            "elasticloadbalancing:DescribeRules",
            format!("elbv2:DescribeRules {arn}"),
            &e,
        )),
    }
}

/// CreateRule refused because the listener's ALB is full: it holds as many rules
/// (`TooManyRules`) or target groups (`TooManyTargetGroups`) as the account allows. The
/// precheck counted room, so this is a race with another create: nothing was written, and the
/// create moves on to the next ALB of the pool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the load balancer of listener {listener} holds as many {full_of} as the account allows")]
pub struct AlbFull {
    pub listener: String,
    pub full_of: FullOf,
}

/// Which limit an [`AlbFull`] hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullOf {
    Rules,
    TargetGroups,
}

impl std::fmt::Display for FullOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FullOf::Rules => "rules",
            FullOf::TargetGroups => "target groups",
        })
    }
}

/// A stable preferred priority per hostname, so concurrent creators rarely pick the same one.
fn preferred_priority(hostname: &str) -> i32 {
    let mut h: u32 = 0x811c9dc5;
    for b in hostname.bytes() {
        h = (h ^ b as u32).wrapping_mul(0x01000193);
    }
    1 + (h % 40_000) as i32
}

fn free_priority(used: &BTreeSet<i32>, preferred: i32) -> Option<i32> {
    (preferred..=50_000)
        .chain(1..preferred)
        .find(|p| !used.contains(p))
}

fn place(used: &BTreeSet<i32>, hostname: &str, placement: Placement) -> Option<i32> {
    match placement {
        Placement::Preferred => free_priority(used, preferred_priority(hostname)),
        Placement::Before(p) => (1..p).rev().find(|p| !used.contains(p)),
    }
}

/// Add a host rule of this shape at a free priority (see [`create_rule`]). A full ALB fails
/// with [`AlbFull`].
pub async fn create_host_rule(
    aws: &Aws,
    listener: &str,
    shape: &RuleShape,
    used: BTreeSet<i32>,
    tags: Vec<Tag>,
) -> Result<String> {
    let (arn, _) = create_rule(aws, listener, shape, used, tags, Placement::Preferred).await?;
    Ok(arn)
}

/// Add a rule of this shape at a free priority, placed as asked; its ARN and priority.
/// Retried on `PriorityInUse` with a fresh read of every page of rules (a rule of the same kind
/// for the hostname that a racing run made with this shape's target group is taken as ours).
pub async fn create_rule(
    aws: &Aws,
    listener: &str,
    shape: &RuleShape,
    mut used: BTreeSet<i32>,
    tags: Vec<Tag>,
    placement: Placement,
) -> Result<(String, i32)> {
    let hostname = shape.hostname.as_str();
    for attempt in 0..20 {
        let priority = place(&used, hostname, placement).ok_or_else(|| {
            anyhow!("listener {listener} has no free rule priority ({placement:?}) for {hostname}")
        })?;
        let out = aws
            .elb
            .create_rule()
            .listener_arn(listener)
            .priority(priority)
            .set_conditions(Some(shape.conditions()))
            .set_actions(Some(shape.actions()))
            .set_tags(Some(tags.clone()))
            .send()
            .await;
        match out {
            Ok(o) => {
                return o
                    .rules
                    .unwrap_or_default()
                    .into_iter()
                    .next()
                    .and_then(|r| r.rule_arn)
                    .map(|arn| (arn, priority))
                    .ok_or_else(|| anyhow!("elbv2:CreateRule returned no ARN"))
            }
            Err(e) if error_code(&e) == Some("PriorityInUse") => {
                let pause = rand::thread_rng().gen_range(5..40) * (attempt + 1);
                tokio::time::sleep(Duration::from_millis(pause)).await;
                let (existing, fresh) = scan_rules(aws, listener, hostname).await?;
                let existing = match shape.header {
                    Some(_) => existing.bypass,
                    None => existing.rule,
                };
                if let Some(rule) = existing {
                    if shape
                        .target_group()
                        .is_some_and(|tg| rule.forwards_to.iter().any(|t| t == tg))
                    {
                        return Ok((rule.arn, rule.priority.unwrap_or(priority)));
                    }
                }
                used = fresh;
                used.insert(priority);
            }
            Err(e) if error_code(&e) == Some("TooManyRules") => {
                return Err(AlbFull {
                    listener: listener.to_string(),
                    full_of: FullOf::Rules,
                }
                .into());
            }
            Err(e) if error_code(&e) == Some("TooManyTargetGroups") => {
                return Err(AlbFull {
                    listener: listener.to_string(),
                    full_of: FullOf::TargetGroups,
                }
                .into());
            }
            Err(e) => {
                return Err(fail(
                    "elasticloadbalancing:CreateRule",
                    format!("elbv2:CreateRule for {hostname}"),
                    &e,
                ))
            }
        }
    }
    bail!("could not find a free rule priority on {listener} after 20 attempts; retry")
}

/// ModifyRule: replace the rule's conditions and actions with this shape's, in one call;
/// `false` if the rule is gone.
pub async fn modify_rule(aws: &Aws, arn: &str, shape: &RuleShape) -> Result<bool> {
    let out = aws
        .elb
        .modify_rule()
        .rule_arn(arn)
        .set_conditions(Some(shape.conditions()))
        .set_actions(Some(shape.actions()))
        .send()
        .await;
    match out {
        Ok(_) => Ok(true),
        Err(e) if kind(&e) == AwsErrorKind::NotFound => Ok(false),
        Err(e) => Err(fail(
            "elasticloadbalancing:ModifyRule",
            format!("elbv2:ModifyRule {arn}"),
            &e,
        )),
    }
}

/// DeleteRule; `false` if it was already gone.
pub async fn delete_rule(aws: &Aws, arn: &str) -> Result<bool> {
    match aws.elb.delete_rule().rule_arn(arn).send().await {
        Ok(_) => Ok(true),
        Err(e) if kind(&e) == AwsErrorKind::NotFound => Ok(false),
        Err(e) => Err(fail(
            "elasticloadbalancing:DeleteRule",
            format!("elbv2:DeleteRule {arn}"),
            &e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_skip_used_ones_and_wrap() {
        let used: BTreeSet<i32> = [5, 6, 50_000].into_iter().collect();
        assert_eq!(free_priority(&used, 5), Some(7));
        assert_eq!(free_priority(&used, 50_000), Some(1));
        let p = preferred_priority("api-pr-1.dev.example.com");
        assert!((1..=40_000).contains(&p));
        assert_eq!(p, preferred_priority("api-pr-1.dev.example.com"));
    }

    #[test]
    fn a_rule_placed_before_another_takes_the_closest_free_priority_below() {
        let used: BTreeSet<i32> = [3, 9, 10].into_iter().collect();
        assert_eq!(place(&used, "h", Placement::Before(10)), Some(8));
        assert_eq!(place(&used, "h", Placement::Before(4)), Some(2));
        assert_eq!(place(&used, "h", Placement::Before(1)), None);
        let full: BTreeSet<i32> = [1, 2].into_iter().collect();
        assert_eq!(place(&full, "h", Placement::Before(3)), None);
    }
}
