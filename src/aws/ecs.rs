//! ECS calls the engine needs, with their expected errors turned into `Option`s.

use super::fail;
use anyhow::{anyhow, bail, Result};
use aws_sdk_ecs::types::{
    ContainerDefinition, Service, ServiceField, SortOrder, Tag, TaskDefinition,
    TaskDefinitionField, TaskDefinitionStatus,
};

pub use super::ecs_service::{
    create_clone_service, realign_clone_service, scale_service, CloneService, ServiceSpec,
};

use super::{error_code, Aws};

/// Describe one service; `None` when it is missing (ECS reports that as a failure, not an error).
pub async fn find_service(aws: &Aws, cluster: &str, service: &str) -> Result<Option<Service>> {
    let out = aws
        .ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .include(ServiceField::Tags)
        .send()
        .await;
    let out = match out {
        Ok(o) => o,
        Err(e) if error_code(&e) == Some("ClusterNotFoundException") => {
            return Err(crate::error::Refusal::new(
                format!("ECS cluster {cluster} does not exist"),
                "check target_cluster in the profile",
            )
            .into())
        }
        Err(e) => {
            return Err(fail(
                "ecs:DescribeServices",
                format!("ecs:DescribeServices {service}"),
                &e,
            ))
        }
    };
    Ok(out.services.unwrap_or_default().into_iter().next())
}

/// The latest ACTIVE revision of a family (or a given ARN), with its tags; `None` if missing.
pub async fn find_task_definition(
    aws: &Aws,
    td: &str,
) -> Result<Option<(TaskDefinition, Vec<Tag>)>> {
    let out = aws
        .ecs
        .describe_task_definition()
        .task_definition(td)
        .include(TaskDefinitionField::Tags)
        .send()
        .await;
    match out {
        Ok(o) => Ok(o.task_definition.map(|t| (t, o.tags.unwrap_or_default()))),
        Err(e) if error_code(&e) == Some("ClientException") => Ok(None),
        Err(e) => Err(fail(
            "ecs:DescribeTaskDefinition",
            format!("ecs:DescribeTaskDefinition {td}"),
            &e,
        )),
    }
}

/// Register a copy of `source` (every field RegisterTaskDefinition accepts back) in `family`,
/// with `image` in `container` only.
pub async fn register_clone(
    aws: &Aws,
    source: &TaskDefinition,
    family: &str,
    container: &str,
    image: &str,
    tags: Vec<Tag>,
) -> Result<String> {
    let mut found = false;
    let containers: Vec<ContainerDefinition> = source
        .container_definitions()
        .iter()
        .cloned()
        .map(|mut c| {
            if c.name.as_deref() == Some(container) {
                c.image = Some(image.to_string());
                found = true;
            }
            c
        })
        .collect();
    if !found {
        let names: Vec<&str> = source
            .container_definitions()
            .iter()
            .filter_map(|c| c.name.as_deref())
            .collect();
        bail!(
            "container {container:?} is not in task definition {} (containers: {}); set target_container_name in the profile",
            source.task_definition_arn.as_deref().unwrap_or("?"),
            names.join(", ")
        );
    }
    let out = aws
        .ecs
        .register_task_definition()
        .family(family)
        .set_task_role_arn(source.task_role_arn.clone())
        .set_execution_role_arn(source.execution_role_arn.clone())
        .set_network_mode(source.network_mode.clone())
        .set_container_definitions(Some(containers))
        .set_volumes(source.volumes.clone())
        .set_placement_constraints(source.placement_constraints.clone())
        .set_requires_compatibilities(source.requires_compatibilities.clone())
        .set_cpu(source.cpu.clone())
        .set_memory(source.memory.clone())
        .set_pid_mode(source.pid_mode.clone())
        .set_ipc_mode(source.ipc_mode.clone())
        .set_proxy_configuration(source.proxy_configuration.clone())
        .set_ephemeral_storage(source.ephemeral_storage.clone())
        .set_runtime_platform(source.runtime_platform.clone())
        .set_enable_fault_injection(source.enable_fault_injection)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| {
            fail(
                "ecs:RegisterTaskDefinition",
                format!("ecs:RegisterTaskDefinition {family}"),
                &e,
            )
        })?;
    out.task_definition
        .and_then(|t| t.task_definition_arn)
        .ok_or_else(|| anyhow!("ecs:RegisterTaskDefinition returned no ARN"))
}

/// ACTIVE revisions of exactly this family, newest first (all pages).
pub async fn list_revisions(
    aws: &Aws,
    family: &str,
    status: TaskDefinitionStatus,
) -> Result<Vec<String>> {
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        let out = aws
            .ecs
            .list_task_definitions()
            .family_prefix(family)
            .status(status.clone())
            .sort(SortOrder::Desc)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| {
                fail(
                    "ecs:ListTaskDefinitions",
                    format!("ecs:ListTaskDefinitions {family}"),
                    &e,
                )
            })?;
        arns.extend(
            out.task_definition_arns
                .unwrap_or_default()
                .into_iter()
                .filter(|a| family_of(a) == Some(family)),
        );
        token = out.next_token;
        if token.is_none() {
            return Ok(arns);
        }
    }
}

/// `arn:…:task-definition/FAMILY:REV` → FAMILY.
pub fn family_of(arn: &str) -> Option<&str> {
    arn.rsplit_once(":task-definition/")?
        .1
        .rsplit_once(':')
        .map(|(f, _)| f)
}

/// Deregister, then delete, the given revisions. Revisions already gone are skipped.
///
/// DeleteTaskDefinitions reports per-revision failures in its answer. A failure is accepted
/// only when DescribeTaskDefinition shows the revision gone (ECS's `ClientException`) or
/// `DELETE_IN_PROGRESS` (another run retired it first); any other status fails with ECS's
/// reasons. Decided by typed error and status, never by the reason's text.
pub async fn retire_revisions(aws: &Aws, arns: &[String]) -> Result<()> {
    if arns.is_empty() {
        return Ok(());
    }
    let deregs = arns.iter().map(|arn| async move {
        match aws
            .ecs
            .deregister_task_definition()
            .task_definition(arn)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if error_code(&e) == Some("ClientException") => Ok(()),
            Err(e) => Err(fail(
                "ecs:DeregisterTaskDefinition",
                format!("ecs:DeregisterTaskDefinition {arn}"),
                &e,
            )),
        }
    });
    futures::future::try_join_all(deregs).await?;
    let deletes = arns.chunks(10).map(|chunk| async move {
        let out = aws
            .ecs
            .delete_task_definitions()
            .set_task_definitions(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| fail("ecs:DeleteTaskDefinitions", "ecs:DeleteTaskDefinitions", &e))?;
        let failures = out.failures.unwrap_or_default();
        let checks = failures.iter().map(|f| async move {
            let reason = f.reason().unwrap_or("?");
            let Some(arn) = f.arn() else {
                return Ok(Some(format!("?: {reason}")));
            };
            Ok::<_, anyhow::Error>(
                still_there(aws, arn)
                    .await?
                    .map(|status| format!("{arn}: {reason} (the revision is {status})")),
            )
        });
        let refused: Vec<String> = futures::future::try_join_all(checks)
            .await?
            .into_iter()
            .flatten()
            .collect();
        if !refused.is_empty() {
            bail!(
                "ecs:DeleteTaskDefinitions failed for {}",
                refused.join("; ")
            );
        }
        Ok(())
    });
    futures::future::try_join_all(deletes).await?;
    Ok(())
}

/// After a failed delete: `None` when the revision is gone or being deleted, else its status.
async fn still_there(aws: &Aws, arn: &str) -> Result<Option<String>> {
    let out = aws
        .ecs
        .describe_task_definition()
        .task_definition(arn)
        .send()
        .await;
    match out {
        Ok(o) => match o.task_definition.and_then(|t| t.status) {
            Some(TaskDefinitionStatus::DeleteInProgress) => Ok(None),
            Some(status) => Ok(Some(status.as_str().to_string())),
            None => Ok(Some("of unknown status".to_string())),
        },
        // ECS's answer for a revision it no longer has (typed: DescribeTaskDefinition's
        // ClientException)
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_client_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(fail(
            "ecs:DescribeTaskDefinition",
            format!("ecs:DescribeTaskDefinition {arn}"),
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

/// Wait until a service deleted earlier has finished draining (a PR closed and reopened at
/// once): ECS refuses to create a service under a name that is still DRAINING.
pub async fn wait_drained(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    timeout: std::time::Duration,
    interval: std::time::Duration,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let status = service_now(ecs, cluster, service)
            .await?
            .and_then(|s| s.status().map(str::to_string));
        if status.as_deref() != Some("DRAINING") {
            return Ok(());
        }
        if tokio::time::Instant::now() + interval > deadline {
            bail!(
                "ECS service {service} is still draining from an earlier delete after {} s; retry in a minute",
                timeout.as_secs()
            );
        }
        tracing::info!("{service} is draining from an earlier delete; waiting");
        tokio::time::sleep(interval).await;
    }
}

/// Tag an ECS resource (adopting what the Python eden made, before changing it).
pub async fn tag(aws: &Aws, arn: &str, tags: Vec<Tag>) -> Result<()> {
    aws.ecs
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| fail("ecs:TagResource", format!("tagging ECS resource {arn}"), &e))?;
    Ok(())
}

/// DeleteService (force); `false` if it was already gone or inactive.
pub async fn delete_service(aws: &Aws, cluster: &str, arn: &str) -> Result<bool> {
    match aws
        .ecs
        .delete_service()
        .cluster(cluster)
        .service(arn)
        .force(true)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if is_service_gone(error_code(&e)) => Ok(false),
        Err(e) => Err(fail(
            "ecs:DeleteService",
            format!("ecs:DeleteService {arn}"),
            &e,
        )),
    }
}

/// Point a service at a new revision with a new deployment (and, for a sleeping preview, its
/// awake desired count); `None` if the service is gone.
pub async fn deploy_revision(
    aws: &Aws,
    cluster: &str,
    service: &str,
    td_arn: &str,
    desired: Option<i32>,
) -> Result<Option<String>> {
    let out = aws
        .ecs
        .update_service()
        .cluster(cluster)
        .service(service)
        .task_definition(td_arn)
        .force_new_deployment(true)
        .set_desired_count(desired)
        .send()
        .await;
    match out {
        Ok(o) => Ok(Some(
            o.service
                .and_then(|s| s.service_arn)
                .unwrap_or_else(|| service.to_string()),
        )),
        Err(e) if is_service_gone(error_code(&e)) => Ok(None),
        Err(e) => Err(fail(
            "ecs:UpdateService",
            format!("ecs:UpdateService {service}"),
            &e,
        )),
    }
}

/// ECS's codes for a service that no longer exists (or is being deleted).
pub fn is_service_gone(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("ServiceNotFoundException") | Some("ServiceNotActiveException")
    )
}

/// One service as ECS reports it now (deployments, counts); `None` when ECS has no such service.
pub async fn service_now(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
) -> Result<Option<Service>> {
    let out = ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .map_err(|e| {
            fail(
                "ecs:DescribeServices",
                format!("ecs:DescribeServices {service}"),
                &e,
            )
        })?;
    Ok(out.services.unwrap_or_default().into_iter().next())
}

/// The ARNs of a service's tasks with this desired status (RUNNING: pending and running;
/// STOPPED: stopping and stopped, for about an hour). One page of 100: a preview runs a few.
pub async fn task_arns(
    aws: &Aws,
    cluster: &str,
    service: &str,
    desired: aws_sdk_ecs::types::DesiredStatus,
) -> Result<Vec<String>> {
    // ListTasks filters by the service's name (its tasks' group `service:<name>`), not its ARN
    let name = service.rsplit('/').next().unwrap_or(service);
    let out = aws
        .ecs
        .list_tasks()
        .cluster(cluster)
        .service_name(name)
        .desired_status(desired.clone())
        .max_results(100)
        .send()
        .await
        .map_err(|e| {
            fail(
                "ecs:ListTasks",
                format!("ecs:ListTasks {service} ({})", desired.as_str()),
                &e,
            )
        })?;
    Ok(out.task_arns.unwrap_or_default())
}

/// The tasks (status, network attachment, stop code and reason, containers' exits) of up to
/// 100 ARNs; tasks ECS no longer knows are left out.
pub async fn describe_tasks(
    aws: &Aws,
    cluster: &str,
    arns: &[String],
) -> Result<Vec<aws_sdk_ecs::types::Task>> {
    if arns.is_empty() {
        return Ok(Vec::new());
    }
    let out = aws
        .ecs
        .describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(arns.iter().take(100).cloned().collect()))
        .send()
        .await
        .map_err(|e| fail("ecs:DescribeTasks", "ecs:DescribeTasks", &e))?;
    Ok(out.tasks.unwrap_or_default())
}
