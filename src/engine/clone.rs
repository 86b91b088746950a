//! What a clone's ECS service takes from the reference, and what it never takes (pure).
//!
//! Clones always use the ECS deployment controller with rolling updates and the deployment
//! circuit breaker (with rollback): a reference under CodeDeploy or an external controller, or
//! with a blue/green, linear or canary strategy, alarms or lifecycle hooks, would give clones
//! that have no deployment group, hooks that call the reference's Lambdas, or alarms that
//! watch the reference. What was dropped is reported (the `clone` step, `-v`).
//!
//! A clone's target group is the reference's, with a health check and deregistration delay
//! tuned for previews ([`crate::profile::PREVIEW_TUNING`], or the profile's values) unless the
//! profile keeps the reference's (`target_group_tuning = reference`).

use aws_sdk_ecs::types::{
    CapacityProviderStrategyItem, DeploymentCircuitBreaker, DeploymentConfiguration,
    DeploymentController, DeploymentControllerType, DeploymentStrategy, LaunchType, Service,
};
use aws_sdk_elasticloadbalancingv2::types::{
    ProtocolEnum, TargetGroup, TargetGroupAttribute, TargetTypeEnum,
};

pub use crate::aws::ecs::ServiceSpec;
use crate::profile::TargetGroupTuning;

const DEREGISTRATION_DELAY: &str = "deregistration_delay.timeout_seconds";

pub fn service_spec(r: &Service) -> ServiceSpec {
    let mut dropped = Vec::new();
    if let Some(t) = r.deployment_controller().map(|c| c.r#type()) {
        if *t != DeploymentControllerType::Ecs {
            dropped.push(format!("deploymentController {}", t.as_str()));
        }
    }
    let rc = r.deployment_configuration();
    if let Some(s) = rc.and_then(|c| c.strategy()) {
        if *s != DeploymentStrategy::Rolling {
            dropped.push(format!("deploymentConfiguration.strategy {}", s.as_str()));
        }
    }
    if rc
        .and_then(|c| c.alarms())
        .is_some_and(|a| a.enable || !a.alarm_names().is_empty())
    {
        dropped.push("deployment alarms".into());
    }
    if rc.is_some_and(|c| !c.lifecycle_hooks().is_empty()) {
        dropped.push("deployment lifecycle hooks".into());
    }
    let deployment_configuration = DeploymentConfiguration::builder()
        .set_maximum_percent(rc.and_then(|c| c.maximum_percent))
        .set_minimum_healthy_percent(rc.and_then(|c| c.minimum_healthy_percent))
        .strategy(DeploymentStrategy::Rolling)
        .deployment_circuit_breaker(
            DeploymentCircuitBreaker::builder()
                .enable(true)
                .rollback(true)
                .build(),
        )
        .build();
    let deployment_controller = DeploymentController::builder()
        .r#type(DeploymentControllerType::Ecs)
        .build()
        .expect("type is set");
    // The service-level volume configuration is reported on the deployments; the primary
    // one is what the service runs now.
    let volume_configurations = r
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .map(|d| d.volume_configurations().to_vec())
        .filter(|v| !v.is_empty());
    let (launch_type, capacity_provider_strategy) = placement(r);
    ServiceSpec {
        launch_type,
        capacity_provider_strategy,
        deployment_configuration,
        deployment_controller,
        volume_configurations,
        availability_zone_rebalancing: r.availability_zone_rebalancing().cloned(),
        dropped,
    }
}

/// Target group attributes an ALB target group (HTTP/HTTPS) of `instance` or `ip` targets
/// accepts; a clone gets the reference's values of these only.
const ALB_ATTRIBUTES: &[&str] = &[
    DEREGISTRATION_DELAY,
    "stickiness.enabled",
    "stickiness.type",
    "stickiness.lb_cookie.duration_seconds",
    "stickiness.app_cookie.cookie_name",
    "stickiness.app_cookie.duration_seconds",
    "load_balancing.algorithm.type",
    "load_balancing.algorithm.anomaly_mitigation",
    "load_balancing.cross_zone.enabled",
    "slow_start.duration_seconds",
    "target_group_health.dns_failover.minimum_healthy_targets.count",
    "target_group_health.dns_failover.minimum_healthy_targets.percentage",
    "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count",
    "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage",
];

/// The same for a TCP/TLS/UDP (Network Load Balancer) target group.
const NLB_ATTRIBUTES: &[&str] = &[
    DEREGISTRATION_DELAY,
    "deregistration_delay.connection_termination.enabled",
    "preserve_client_ip.enabled",
    "proxy_protocol_v2.enabled",
    "stickiness.enabled",
    "stickiness.type",
    "load_balancing.cross_zone.enabled",
    "target_health_state.unhealthy.connection_termination.enabled",
    "target_health_state.unhealthy.draining_interval_seconds",
    "target_group_health.dns_failover.minimum_healthy_targets.count",
    "target_group_health.dns_failover.minimum_healthy_targets.percentage",
    "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count",
    "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage",
];

/// The target group a clone gets: the reference's (protocol, port, health check path, port and
/// matcher), with the tuning's interval, timeout and thresholds when there is one.
pub fn target_group_settings(
    reference: &TargetGroup,
    tuning: Option<&TargetGroupTuning>,
) -> TargetGroup {
    let mut tg = reference.clone();
    if let Some(t) = tuning {
        tg.health_check_interval_seconds = Some(t.health_check_interval);
        tg.health_check_timeout_seconds = Some(t.health_check_timeout);
        tg.healthy_threshold_count = Some(t.healthy_threshold);
        tg.unhealthy_threshold_count = Some(t.unhealthy_threshold);
    }
    tg
}

/// Whether an existing target group's health check differs from `wanted` (what
/// CreateTargetGroup and ModifyTargetGroup set), so that only then is it modified.
pub fn health_check_differs(current: &TargetGroup, wanted: &TargetGroup) -> bool {
    let hc = |t: &TargetGroup| {
        (
            t.health_check_protocol.clone(),
            t.health_check_port.clone(),
            t.health_check_enabled,
            t.health_check_path.clone(),
            t.health_check_interval_seconds,
            t.health_check_timeout_seconds,
            t.healthy_threshold_count,
            t.unhealthy_threshold_count,
            t.matcher.clone(),
        )
    };
    hc(current) != hc(wanted)
}

/// The attributes a clone's target group gets: the reference's that apply
/// ([`reference_attributes`]), the deregistration delay the tuning's when there is one.
pub fn target_group_attributes(
    reference: &TargetGroup,
    attrs: &[TargetGroupAttribute],
    tuning: Option<&TargetGroupTuning>,
) -> Vec<TargetGroupAttribute> {
    let mut out = reference_attributes(reference, attrs);
    let lambda = matches!(reference.target_type(), Some(TargetTypeEnum::Lambda));
    if let (Some(t), false) = (tuning, lambda) {
        out.retain(|a| a.key() != Some(DEREGISTRATION_DELAY));
        out.insert(
            0,
            TargetGroupAttribute::builder()
                .key(DEREGISTRATION_DELAY)
                .value(t.deregistration_delay.to_string())
                .build(),
        );
    }
    out
}

/// The reference's attributes that apply to the clone (by protocol and target type), never an
/// empty value: DescribeTargetGroupAttributes also reports attributes that do not apply (an
/// empty `stickiness.app_cookie.cookie_name`, `lambda.*`, another load balancer type's), and
/// ModifyTargetGroupAttributes refuses some of them.
fn reference_attributes(
    reference: &TargetGroup,
    attrs: &[TargetGroupAttribute],
) -> Vec<TargetGroupAttribute> {
    let allowed = match reference.protocol() {
        Some(ProtocolEnum::Http) | Some(ProtocolEnum::Https) | None => ALB_ATTRIBUTES,
        Some(_) => NLB_ATTRIBUTES,
    };
    if matches!(reference.target_type(), Some(TargetTypeEnum::Lambda)) {
        return Vec::new();
    }
    let value = |k: &str| {
        attrs
            .iter()
            .find(|a| a.key() == Some(k))
            .and_then(|a| a.value())
    };
    // anomaly mitigation exists only with the weighted_random algorithm
    let weighted = value("load_balancing.algorithm.type") == Some("weighted_random");
    attrs
        .iter()
        .filter(|a| a.key().is_some_and(|k| allowed.contains(&k)))
        .filter(|a| a.value().is_some_and(|v| !v.trim().is_empty()))
        .filter(|a| weighted || a.key() != Some("load_balancing.algorithm.anomaly_mitigation"))
        .cloned()
        .collect()
}

/// Launch type or capacity provider strategy (mutually exclusive in CreateService): a reference
/// on capacity providers (e.g. FARGATE_SPOT) is cloned onto the same strategy.
fn placement(
    r: &Service,
) -> (
    Option<LaunchType>,
    Option<Vec<CapacityProviderStrategyItem>>,
) {
    let strategy = r.capacity_provider_strategy().to_vec();
    if strategy.is_empty() {
        (r.launch_type.clone(), None)
    } else {
        (None, Some(strategy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{
        AvailabilityZoneRebalancing, DeploymentAlarms, DeploymentLifecycleHook,
        ServiceManagedEbsVolumeConfiguration, ServiceVolumeConfiguration,
    };

    // moto neither stores nor returns a service's capacityProviderStrategy, so this is proved here.
    #[test]
    fn capacity_provider_references_keep_their_strategy() {
        let spot = CapacityProviderStrategyItem::builder()
            .capacity_provider("FARGATE_SPOT")
            .weight(1)
            .build()
            .unwrap();
        let r = Service::builder()
            .capacity_provider_strategy(spot.clone())
            .build();
        assert_eq!(placement(&r), (None, Some(vec![spot])));
        let f = Service::builder().launch_type(LaunchType::Fargate).build();
        assert_eq!(placement(&f), (Some(LaunchType::Fargate), None));
    }

    fn blue_green_reference() -> Service {
        let ebs = ServiceVolumeConfiguration::builder()
            .name("data")
            .managed_ebs_volume(
                ServiceManagedEbsVolumeConfiguration::builder()
                    .role_arn("arn:aws:iam::123456789012:role/ecsInfrastructureRole")
                    .size_in_gib(20)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        Service::builder()
            .deployment_controller(
                DeploymentController::builder()
                    .r#type(DeploymentControllerType::CodeDeploy)
                    .build()
                    .unwrap(),
            )
            .deployment_configuration(
                DeploymentConfiguration::builder()
                    .maximum_percent(150)
                    .minimum_healthy_percent(50)
                    .strategy(DeploymentStrategy::BlueGreen)
                    .bake_time_in_minutes(10)
                    .alarms(
                        DeploymentAlarms::builder()
                            .alarm_names("reference-5xx")
                            .enable(true)
                            .rollback(true)
                            .build()
                            .unwrap(),
                    )
                    .lifecycle_hooks(
                        DeploymentLifecycleHook::builder()
                            .hook_target_arn(
                                "arn:aws:lambda:ap-northeast-1:123456789012:function:check",
                            )
                            .build(),
                    )
                    .build(),
            )
            .deployments(
                aws_sdk_ecs::types::Deployment::builder()
                    .status("PRIMARY")
                    .volume_configurations(ebs)
                    .build(),
            )
            .availability_zone_rebalancing(AvailabilityZoneRebalancing::Enabled)
            .build()
    }

    #[test]
    fn clones_use_rolling_ecs_deployments_with_the_circuit_breaker() {
        let spec = service_spec(&blue_green_reference());
        assert_eq!(
            spec.deployment_controller.r#type(),
            &DeploymentControllerType::Ecs
        );
        let dc = &spec.deployment_configuration;
        assert_eq!(dc.strategy(), Some(&DeploymentStrategy::Rolling));
        assert_eq!(
            (dc.maximum_percent, dc.minimum_healthy_percent),
            (Some(150), Some(50))
        );
        let cb = dc.deployment_circuit_breaker().unwrap();
        assert!(cb.enable && cb.rollback);
        assert!(dc.alarms().is_none() && dc.lifecycle_hooks().is_empty());
        assert_eq!(dc.bake_time_in_minutes, None);
        assert_eq!(
            spec.dropped,
            [
                "deploymentController CODE_DEPLOY",
                "deploymentConfiguration.strategy BLUE_GREEN",
                "deployment alarms",
                "deployment lifecycle hooks"
            ]
        );
    }

    // moto stores neither volumeConfigurations nor availabilityZoneRebalancing.
    #[test]
    fn ebs_volumes_at_launch_and_az_rebalancing_are_carried_over() {
        let spec = service_spec(&blue_green_reference());
        let vols = spec.volume_configurations.unwrap();
        assert_eq!(vols.len(), 1);
        assert_eq!(vols[0].name(), "data");
        let ebs = vols[0].managed_ebs_volume().unwrap();
        assert_eq!(
            ebs.role_arn(),
            "arn:aws:iam::123456789012:role/ecsInfrastructureRole"
        );
        assert_eq!(ebs.size_in_gib, Some(20));
        assert_eq!(
            spec.availability_zone_rebalancing,
            Some(AvailabilityZoneRebalancing::Enabled)
        );
    }

    #[test]
    fn target_group_attributes_are_an_allow_list_without_empty_values() {
        let a = |k: &str, v: &str| TargetGroupAttribute::builder().key(k).value(v).build();
        // what DescribeTargetGroupAttributes returns for an HTTP target group of ip targets
        let reported = vec![
            a("deregistration_delay.timeout_seconds", "15"),
            a("stickiness.enabled", "true"),
            a("stickiness.type", "lb_cookie"),
            a("stickiness.app_cookie.cookie_name", ""),
            a("stickiness.app_cookie.duration_seconds", "86400"),
            a(
                "load_balancing.algorithm.type",
                "least_outstanding_requests",
            ),
            a("load_balancing.algorithm.anomaly_mitigation", "off"),
            a("lambda.multi_value_headers.enabled", "false"),
            a("proxy_protocol_v2.enabled", "false"),
            a("slow_start.duration_seconds", "30"),
        ];
        let http = TargetGroup::builder()
            .protocol(ProtocolEnum::Http)
            .target_type(TargetTypeEnum::Ip)
            .build();
        let keys = |v: Vec<TargetGroupAttribute>| {
            v.into_iter()
                .map(|a| format!("{}={}", a.key().unwrap(), a.value().unwrap()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys(reference_attributes(&http, &reported)),
            [
                "deregistration_delay.timeout_seconds=15",
                "stickiness.enabled=true",
                "stickiness.type=lb_cookie",
                "stickiness.app_cookie.duration_seconds=86400",
                "load_balancing.algorithm.type=least_outstanding_requests",
                "slow_start.duration_seconds=30",
            ]
        );
        let mut weighted = reported.clone();
        weighted[5] = a("load_balancing.algorithm.type", "weighted_random");
        assert!(keys(reference_attributes(&http, &weighted))
            .contains(&"load_balancing.algorithm.anomaly_mitigation=off".to_string()));
        let tcp = TargetGroup::builder().protocol(ProtocolEnum::Tcp).build();
        assert_eq!(
            keys(reference_attributes(&tcp, &reported)),
            [
                "deregistration_delay.timeout_seconds=15",
                "stickiness.enabled=true",
                "stickiness.type=lb_cookie",
                "proxy_protocol_v2.enabled=false",
            ]
        );
    }

    fn reference_tg() -> TargetGroup {
        TargetGroup::builder()
            .protocol(ProtocolEnum::Http)
            .port(8080)
            .target_type(TargetTypeEnum::Ip)
            .health_check_protocol(ProtocolEnum::Http)
            .health_check_port("traffic-port")
            .health_check_enabled(true)
            .health_check_path("/health")
            .health_check_interval_seconds(30)
            .health_check_timeout_seconds(5)
            .healthy_threshold_count(5)
            .unhealthy_threshold_count(2)
            .matcher(
                aws_sdk_elasticloadbalancingv2::types::Matcher::builder()
                    .http_code("200-299")
                    .build(),
            )
            .build()
    }

    #[test]
    fn a_tuned_target_group_keeps_the_references_path_port_and_matcher() {
        let r = reference_tg();
        let tuned = target_group_settings(&r, Some(&crate::profile::PREVIEW_TUNING));
        assert_eq!(
            (
                tuned.health_check_interval_seconds,
                tuned.health_check_timeout_seconds,
                tuned.healthy_threshold_count,
                tuned.unhealthy_threshold_count
            ),
            (Some(5), Some(4), Some(2), Some(2))
        );
        assert_eq!(
            (
                tuned.protocol(),
                tuned.port(),
                tuned.health_check_protocol(),
                tuned.health_check_port(),
                tuned.health_check_path(),
                tuned.matcher(),
                tuned.health_check_enabled()
            ),
            (
                r.protocol(),
                r.port(),
                r.health_check_protocol(),
                r.health_check_port(),
                r.health_check_path(),
                r.matcher(),
                r.health_check_enabled()
            )
        );
        assert!(health_check_differs(&r, &tuned));
        assert!(!health_check_differs(&tuned, &tuned.clone()));
        // `target_group_tuning = reference`: the reference's as it is
        assert_eq!(target_group_settings(&r, None), r);
        assert!(!health_check_differs(&r, &target_group_settings(&r, None)));
        // a clone whose path drifted from the reference's is modified too
        let mut drifted = tuned.clone();
        drifted.health_check_path = Some("/".into());
        assert!(health_check_differs(&drifted, &tuned));
    }

    #[test]
    fn the_deregistration_delay_is_the_tunings() {
        let a = |k: &str, v: &str| TargetGroupAttribute::builder().key(k).value(v).build();
        let reported = vec![
            a("stickiness.enabled", "true"),
            a(DEREGISTRATION_DELAY, "300"),
        ];
        let r = reference_tg();
        let t = crate::profile::TargetGroupTuning {
            deregistration_delay: 0,
            ..crate::profile::PREVIEW_TUNING
        };
        assert_eq!(
            target_group_attributes(&r, &reported, Some(&t)),
            [
                a(DEREGISTRATION_DELAY, "0"),
                a("stickiness.enabled", "true")
            ]
        );
        // also when the reference reported none
        assert_eq!(
            target_group_attributes(&r, &reported[..1], Some(&t)),
            [
                a(DEREGISTRATION_DELAY, "0"),
                a("stickiness.enabled", "true")
            ]
        );
        assert_eq!(
            target_group_attributes(&r, &reported, None),
            [
                a("stickiness.enabled", "true"),
                a(DEREGISTRATION_DELAY, "300")
            ]
        );
        let lambda = TargetGroup::builder()
            .target_type(TargetTypeEnum::Lambda)
            .build();
        assert!(target_group_attributes(&lambda, &reported, Some(&t)).is_empty());
    }

    #[test]
    fn a_plain_rolling_reference_loses_nothing() {
        let r = Service::builder().launch_type(LaunchType::Fargate).build();
        let spec = service_spec(&r);
        assert!(spec.dropped.is_empty());
        assert_eq!(spec.volume_configurations, None);
        assert_eq!(spec.availability_zone_rebalancing, None);
    }
}
