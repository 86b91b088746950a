//! A clone's ECS service: CreateService and the realigning UpdateService, with what it takes
//! from the reference (re-exported from [`super::ecs`]).

use super::fail;
use anyhow::{anyhow, Result};
use aws_sdk_ecs::types::{
    AvailabilityZoneRebalancing, CapacityProviderStrategyItem, DeploymentConfiguration,
    DeploymentController, LaunchType, LoadBalancer, PropagateTags, Service,
    ServiceVolumeConfiguration, Tag,
};

use super::ecs::is_service_gone;
use super::{error_code, Aws};

/// The settings of a clone's CreateService / UpdateService that come from the reference.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    pub launch_type: Option<LaunchType>,
    pub capacity_provider_strategy: Option<Vec<CapacityProviderStrategyItem>>,
    pub deployment_configuration: DeploymentConfiguration,
    pub deployment_controller: DeploymentController,
    /// EBS volumes configured at launch (each needs its infrastructure `roleArn`).
    pub volume_configurations: Option<Vec<ServiceVolumeConfiguration>>,
    pub availability_zone_rebalancing: Option<AvailabilityZoneRebalancing>,
    /// What the reference had that the clone does not get, for people.
    pub dropped: Vec<String>,
}

/// A clone's service: where it runs, what it runs, behind which target group, and the
/// reference it copies (placement, network, counts) with the settings it takes from it.
#[derive(Debug, Clone)]
pub struct CloneService<'a> {
    pub cluster: &'a str,
    pub td_arn: &'a str,
    pub load_balancer: LoadBalancer,
    pub reference: &'a Service,
    pub spec: ServiceSpec,
}

/// CreateService for a clone (idempotent through `client_token`); returns the service's ARN.
pub async fn create_clone_service(
    aws: &Aws,
    name: &str,
    client_token: String,
    s: CloneService<'_>,
    tags: Vec<Tag>,
) -> Result<String> {
    let (r, spec) = (s.reference, s.spec);
    let out = aws
        .ecs
        .create_service()
        .cluster(s.cluster)
        .service_name(name)
        .task_definition(s.td_arn)
        .load_balancers(s.load_balancer)
        .desired_count(r.desired_count.max(1))
        .client_token(client_token)
        .set_launch_type(spec.launch_type)
        .set_capacity_provider_strategy(spec.capacity_provider_strategy)
        .set_platform_version(r.platform_version.clone())
        .set_network_configuration(r.network_configuration.clone())
        .deployment_configuration(spec.deployment_configuration)
        .deployment_controller(spec.deployment_controller)
        .set_volume_configurations(spec.volume_configurations)
        .set_availability_zone_rebalancing(spec.availability_zone_rebalancing)
        .set_health_check_grace_period_seconds(r.health_check_grace_period_seconds)
        .set_placement_constraints(r.placement_constraints.clone())
        .set_placement_strategy(r.placement_strategy.clone())
        .set_scheduling_strategy(r.scheduling_strategy.clone())
        .enable_ecs_managed_tags(r.enable_ecs_managed_tags)
        .enable_execute_command(r.enable_execute_command)
        .propagate_tags(PropagateTags::Service)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| fail("ecs:CreateService", format!("ecs:CreateService {name}"), &e))?;
    out.service
        .and_then(|s| s.service_arn)
        .ok_or_else(|| anyhow!("ecs:CreateService returned no ARN"))
}

/// UpdateService bringing an existing clone back in line with the reference, on a new revision
/// with a new deployment; `controller`: move it back to this controller. `false` if the
/// service is gone.
pub async fn realign_clone_service(
    aws: &Aws,
    service: &str,
    s: CloneService<'_>,
    controller: Option<DeploymentController>,
) -> Result<bool> {
    let (r, spec) = (s.reference, s.spec);
    let out = aws
        .ecs
        .update_service()
        .cluster(s.cluster)
        .service(service)
        .task_definition(s.td_arn)
        .force_new_deployment(true)
        .desired_count(r.desired_count.max(1))
        .load_balancers(s.load_balancer)
        .set_platform_version(r.platform_version.clone())
        .set_network_configuration(r.network_configuration.clone())
        .deployment_configuration(spec.deployment_configuration)
        .set_deployment_controller(controller)
        .set_volume_configurations(spec.volume_configurations)
        .set_availability_zone_rebalancing(spec.availability_zone_rebalancing)
        .set_health_check_grace_period_seconds(r.health_check_grace_period_seconds)
        .propagate_tags(PropagateTags::Service)
        .send()
        .await;
    match out {
        Ok(_) => Ok(true),
        Err(e) if is_service_gone(error_code(&e)) => Ok(false),
        Err(e) => Err(fail(
            "ecs:UpdateService",
            format!("ecs:UpdateService {service}"),
            &e,
        )),
    }
}

/// UpdateService setting only the desired count (sleep: 0; wake: the awake count), with a new
/// deployment when `new_deployment` (a wake: its events and tasks are the readiness wait's own);
/// `false` if the service is gone.
pub async fn scale_service(
    aws: &Aws,
    cluster: &str,
    service: &str,
    desired: i32,
    new_deployment: bool,
) -> Result<bool> {
    let out = aws
        .ecs
        .update_service()
        .cluster(cluster)
        .service(service)
        .desired_count(desired)
        .force_new_deployment(new_deployment)
        .send()
        .await;
    match out {
        Ok(_) => Ok(true),
        Err(e) if is_service_gone(error_code(&e)) => Ok(false),
        Err(e) => Err(fail(
            "ecs:UpdateService",
            format!("ecs:UpdateService {service} (desired count {desired})"),
            &e,
        )),
    }
}
