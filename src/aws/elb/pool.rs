//! The pool of shared ALBs (`master_alb_arn`, one or several): each ALB and its listeners (one
//! DescribeLoadBalancers for the whole pool beside one DescribeListeners per ALB), the
//! account's ELB limits (DescribeAccountLimits), and what an ALB holds (its rules across every
//! listener, and the target groups they forward to: one DescribeRules per listener).

use std::collections::BTreeSet;

use anyhow::Result;
use aws_sdk_elasticloadbalancingv2::types::{IpAddressType, LoadBalancer, ProtocolEnum};

use super::rules::{list_rules, HostRules};
use crate::aws::{error_code, fail, kind, Aws, AwsErrorKind};
use crate::error::Refusal;

/// A shared ALB, its HTTPS:443 listener (where eden's host rules go) and every listener it has
/// (whose rules count against the ALB's rule limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alb {
    pub arn: String,
    pub dns_name: String,
    pub canonical_zone_id: String,
    pub dualstack: bool,
    pub listener_arn: String,
    pub listeners: Vec<String>,
}

impl Alb {
    /// The ALB's name, from its ARN (`…:loadbalancer/app/NAME/ID`).
    pub fn name(&self) -> &str {
        name_of(&self.arn)
    }
}

/// An ALB's name from its ARN (`…:loadbalancer/app/NAME/ID`); the ARN itself if it has no name.
pub fn name_of(arn: &str) -> &str {
    arn.split_once(":loadbalancer/")
        .and_then(|(_, r)| r.split('/').nth(1))
        .unwrap_or(arn)
}

/// The ALB a listener belongs to, from the listener's ARN
/// (`…:listener/app/NAME/ALB-ID/LISTENER-ID` → `…:loadbalancer/app/NAME/ALB-ID`).
pub fn alb_of_listener(listener_arn: &str) -> Option<String> {
    let (head, path) = listener_arn.split_once(":listener/")?;
    let (lb, _) = path.rsplit_once('/')?;
    Some(format!("{head}:loadbalancer/{lb}"))
}

/// One ALB (its HTTPS listener and every other listener).
pub async fn alb(aws: &Aws, arn: &str) -> Result<Alb> {
    let mut all = albs(aws, &[arn.to_string()]).await?;
    Ok(all.remove(0))
}

/// Every ALB of the pool, in the pool's order: one DescribeLoadBalancers for all of them (up to
/// 20 ARNs a call, which the profile's validation keeps to) beside one DescribeListeners each.
pub async fn albs(aws: &Aws, arns: &[String]) -> Result<Vec<Alb>> {
    let listeners = futures::future::try_join_all(arns.iter().map(|a| listeners_of(aws, a)));
    let (lbs, listeners) = tokio::try_join!(load_balancers(aws, arns), listeners)?;
    arns.iter()
        .zip(listeners)
        .map(|(arn, (https, all))| {
            let lb = lbs
                .iter()
                .find(|l| l.load_balancer_arn() == Some(arn.as_str()))
                .ok_or_else(|| alb_missing(arn))?;
            let listener_arn = https.ok_or_else(|| {
                Refusal::new(
                    format!("load balancer {arn} has no HTTPS listener on port 443"),
                    "add one with a wildcard certificate for the zone",
                )
            })?;
            Ok(Alb {
                arn: arn.clone(),
                dns_name: lb.dns_name.clone().unwrap_or_default(),
                canonical_zone_id: lb.canonical_hosted_zone_id.clone().unwrap_or_default(),
                dualstack: matches!(
                    lb.ip_address_type,
                    Some(IpAddressType::Dualstack)
                        | Some(IpAddressType::DualstackWithoutPublicIpv4)
                ),
                listener_arn,
                listeners: all,
            })
        })
        .collect()
}

/// DescribeLoadBalancers for the whole pool; when one ARN is unknown (the call fails whole),
/// each is described alone so the error names it.
async fn load_balancers(aws: &Aws, arns: &[String]) -> Result<Vec<LoadBalancer>> {
    let out = aws
        .elb
        .describe_load_balancers()
        .set_load_balancer_arns(Some(arns.to_vec()))
        .send()
        .await;
    match out {
        Ok(o) => Ok(o.load_balancers.unwrap_or_default()),
        Err(e) if error_code(&e) == Some("LoadBalancerNotFound") && arns.len() > 1 => {
            let each = arns
                .iter()
                .map(|a| Box::pin(load_balancers(aws, std::slice::from_ref(a))));
            Ok(futures::future::try_join_all(each)
                .await?
                .into_iter()
                .flatten()
                .collect())
        }
        Err(e) if error_code(&e) == Some("LoadBalancerNotFound") => {
            Err(alb_missing(arns.first().map(String::as_str).unwrap_or("?")))
        }
        Err(e) => Err(fail(
            "elasticloadbalancing:DescribeLoadBalancers",
            "elbv2:DescribeLoadBalancers",
            &e,
        )),
    }
}

/// Every listener of an ALB (all pages): the HTTPS:443 one, and all of them.
async fn listeners_of(aws: &Aws, arn: &str) -> Result<(Option<String>, Vec<String>)> {
    let mut marker = None;
    let (mut https, mut all) = (None, Vec::new());
    loop {
        let out = aws
            .elb
            .describe_listeners()
            .load_balancer_arn(arn)
            .set_marker(marker)
            .send()
            .await;
        let out = match out {
            Ok(o) => o,
            Err(e) if error_code(&e) == Some("LoadBalancerNotFound") => {
                return Err(alb_missing(arn))
            }
            Err(e) => {
                return Err(fail(
                    "elasticloadbalancing:DescribeListeners",
                    format!("elbv2:DescribeListeners on {arn}"),
                    &e,
                ))
            }
        };
        for l in out.listeners.unwrap_or_default() {
            let Some(la) = l.listener_arn else { continue };
            if l.port == Some(443) && l.protocol == Some(ProtocolEnum::Https) {
                https = Some(la.clone());
            }
            all.push(la);
        }
        marker = out.next_marker;
        if marker.is_none() {
            return Ok((https, all));
        }
    }
}

fn alb_missing(arn: &str) -> anyhow::Error {
    Refusal::new(
        format!("load balancer {arn} not found"),
        "check master_alb_arn in the profile (each ARN of the pool must name an existing ALB)",
    )
    .into()
}

/// Rules per ALB (the default quota) when DescribeAccountLimits may not be called or does not
/// name the limit.
pub const DEFAULT_RULES_PER_ALB: usize = 100;
/// Target groups per ALB (a hard limit) when DescribeAccountLimits may not be called or does
/// not name the limit.
pub const DEFAULT_TARGET_GROUPS_PER_ALB: usize = 100;

/// The account's limits for one ALB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `rules-per-application-load-balancer` (default rules not counted).
    pub rules: usize,
    /// `target-groups-per-application-load-balancer`.
    pub target_groups: usize,
    /// Whether DescribeAccountLimits answered (else: the defaults, the call being denied).
    pub from_account: bool,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        rules: DEFAULT_RULES_PER_ALB,
        target_groups: DEFAULT_TARGET_GROUPS_PER_ALB,
        from_account: false,
    };
}

/// DescribeAccountLimits (every page): the two per-ALB limits. Denied (no
/// `elasticloadbalancing:DescribeAccountLimits`): the defaults, 100 and 100; a limit the
/// answer does not name also keeps its default.
pub async fn account_limits(aws: &Aws) -> Result<Limits> {
    let mut marker = None;
    let mut limits = Limits {
        from_account: true,
        ..Limits::DEFAULT
    };
    loop {
        let out = aws
            .elb
            .describe_account_limits()
            .set_marker(marker)
            .send()
            .await;
        let out = match out {
            Ok(o) => o,
            Err(e) if kind(&e) == AwsErrorKind::AccessDenied => {
                tracing::warn!("elasticloadbalancing:DescribeAccountLimits denied: assuming 100 rules and 100 target groups per ALB");
                return Ok(Limits::DEFAULT);
            }
            Err(e) => {
                return Err(fail(
                    "elasticloadbalancing:DescribeAccountLimits",
                    "elbv2:DescribeAccountLimits",
                    &e,
                ))
            }
        };
        for l in out.limits.unwrap_or_default() {
            let max = l.max.as_deref().and_then(|m| m.parse::<usize>().ok());
            match (l.name.as_deref(), max) {
                (Some("rules-per-application-load-balancer"), Some(m)) => limits.rules = m,
                (Some("target-groups-per-application-load-balancer"), Some(m)) => {
                    limits.target_groups = m
                }
                _ => {}
            }
        }
        marker = out.next_marker;
        if marker.is_none() {
            return Ok(limits);
        }
    }
}

/// What an ALB holds, and what its HTTPS listener says about one hostname.
#[derive(Debug, Clone, Default)]
pub struct AlbUse {
    /// Rules across all its listeners, default rules not counted.
    pub rules: usize,
    /// Target groups attached to it: those its listeners' rules (default rules included)
    /// forward to — a target group attaches to an ALB only that way.
    pub target_groups: Vec<String>,
    /// The HTTPS listener's rules for the hostname (host rule, bypass rule), if any.
    pub host_rules: HostRules,
    /// Priorities in use on the HTTPS listener.
    pub used: BTreeSet<i32>,
}

/// Every listener's rules (all pages), all at once: one DescribeRules per listener counts the
/// ALB's rules and, from their forward actions, its target groups.
pub async fn alb_use(aws: &Aws, alb: &Alb, hostname: &str) -> Result<AlbUse> {
    let others = alb.listeners.iter().filter(|l| **l != alb.listener_arn);
    let others = futures::future::try_join_all(others.map(|l| list_rules(aws, l, "")));
    let (https, others) = tokio::try_join!(list_rules(aws, &alb.listener_arn, hostname), others)?;
    let mut target_groups = https.forwards.clone();
    for o in &others {
        target_groups.extend(o.forwards.iter().cloned());
    }
    Ok(AlbUse {
        rules: https.used.len() + others.iter().map(|o| o.used.len()).sum::<usize>(),
        target_groups: target_groups.into_iter().collect(),
        host_rules: https.found,
        used: https.used,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_owners_come_from_the_arns() {
        let alb = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:loadbalancer/app/common-b/50dc6c495c0c9188";
        assert_eq!(name_of(alb), "common-b");
        let listener = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:listener/app/common-b/50dc6c495c0c9188/f2f7dc8efc522ab2";
        assert_eq!(alb_of_listener(listener).as_deref(), Some(alb));
        assert_eq!(alb_of_listener("not-a-listener"), None);
        assert_eq!(name_of("odd"), "odd");
    }
}
