//! Reads about the shared ALB that the precheck, `eden doctor` and the readiness wait need:
//! the target groups it holds (against the 100-per-ALB limit), the certificates of a listener,
//! the health of a target group's targets.

use super::fail;
use anyhow::Result;
use aws_sdk_elasticloadbalancingv2::types::TargetHealthDescription;

use super::{error_code, Aws};

/// ARNs of every target group attached to the load balancer (through a listener or rule).
pub async fn target_groups_on(aws: &Aws, alb_arn: &str) -> Result<Vec<String>> {
    let mut marker = None;
    let mut arns = Vec::new();
    loop {
        let out = aws
            .elb
            .describe_target_groups()
            .load_balancer_arn(alb_arn)
            .page_size(400)
            .set_marker(marker)
            .send()
            .await;
        let out = match out {
            Ok(o) => o,
            // moto answers "none" with TargetGroupNotFound; AWS with an empty list.
            Err(e) if error_code(&e) == Some("TargetGroupNotFound") => return Ok(arns),
            Err(e) => {
                return Err(fail(
                    "elasticloadbalancing:DescribeTargetGroups",
                    format!("elbv2:DescribeTargetGroups on load balancer {alb_arn}"),
                    &e,
                ))
            }
        };
        arns.extend(
            out.target_groups
                .unwrap_or_default()
                .into_iter()
                .filter_map(|t| t.target_group_arn),
        );
        marker = out.next_marker;
        if marker.is_none() {
            return Ok(arns);
        }
    }
}

/// The load balancers each of these target groups is attached to (DescribeTargetGroups by ARN,
/// up to 20 at once): (target group ARN, its `LoadBalancerArns`).
pub async fn load_balancers_of(aws: &Aws, arns: &[String]) -> Result<Vec<(String, Vec<String>)>> {
    let out = aws
        .elb
        .describe_target_groups()
        .set_target_group_arns(Some(arns.iter().take(20).cloned().collect()))
        .send()
        .await
        .map_err(|e| {
            fail(
                "elasticloadbalancing:DescribeTargetGroups",
                format!("elbv2:DescribeTargetGroups {}", arns.join(", ")),
                &e,
            )
        })?;
    Ok(out
        .target_groups
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| {
            Some((
                t.target_group_arn?,
                t.load_balancer_arns.unwrap_or_default(),
            ))
        })
        .collect())
}

/// A listener's certificates: (ARN, is the default certificate).
pub async fn listener_certificates(aws: &Aws, listener_arn: &str) -> Result<Vec<(String, bool)>> {
    let mut marker = None;
    let mut certs = Vec::new();
    loop {
        let out = aws
            .elb
            .describe_listener_certificates()
            .listener_arn(listener_arn)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| {
                fail(
                    "elasticloadbalancing:DescribeListenerCertificates",
                    format!("elbv2:DescribeListenerCertificates on {listener_arn}"),
                    &e,
                )
            })?;
        certs.extend(
            out.certificates
                .unwrap_or_default()
                .into_iter()
                .filter_map(|c| Some((c.certificate_arn?, c.is_default.unwrap_or(false)))),
        );
        marker = out.next_marker;
        if marker.is_none() {
            return Ok(certs);
        }
    }
}

/// The targets of a target group and their health.
pub async fn target_health(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    target_group: &str,
) -> Result<Vec<TargetHealthDescription>> {
    let out = elb
        .describe_target_health()
        .target_group_arn(target_group)
        .send()
        .await
        .map_err(|e| {
            fail(
                "elasticloadbalancing:DescribeTargetHealth",
                "elbv2:DescribeTargetHealth",
                &e,
            )
        })?;
    Ok(out.target_health_descriptions.unwrap_or_default())
}

/// A target group's health check, as the wait's "never healthy" report names it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HealthCheck {
    pub protocol: Option<String>,
    pub path: Option<String>,
    /// `traffic-port` or a number.
    pub port: Option<String>,
    /// The HTTP codes that count as healthy (`200`, `200-399`).
    pub matcher: Option<String>,
    pub interval_secs: Option<i32>,
}

/// The health check of a target group; `None` when it is gone.
pub async fn health_check(aws: &Aws, target_group: &str) -> Result<Option<HealthCheck>> {
    let out = aws
        .elb
        .describe_target_groups()
        .target_group_arns(target_group)
        .send()
        .await;
    let out = match out {
        Ok(o) => o,
        Err(e) if error_code(&e) == Some("TargetGroupNotFound") => return Ok(None),
        Err(e) => {
            return Err(fail(
                "elasticloadbalancing:DescribeTargetGroups",
                format!("elbv2:DescribeTargetGroups {target_group}"),
                &e,
            ))
        }
    };
    Ok(out
        .target_groups
        .unwrap_or_default()
        .into_iter()
        .next()
        .map(|t| HealthCheck {
            protocol: t.health_check_protocol.map(|p| p.as_str().to_string()),
            path: t.health_check_path,
            port: t.health_check_port,
            matcher: t.matcher.and_then(|m| m.http_code),
            interval_secs: t.health_check_interval_seconds,
        }))
}
