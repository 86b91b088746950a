//! The clone's ECS service: created from the reference's settings, or brought back in line
//! with them on the full path.

use std::time::Instant;

use anyhow::Result;
use aws_sdk_ecs::types::{LoadBalancer, Service};

use super::super::clone;
use super::super::precheck::Infra;
use super::Plan;
use crate::aws::ecs;

impl Plan<'_> {
    /// The full path on an existing service: bring it back in line with the reference (what the
    /// original did on every deploy), point it at the new revision, and tag a legacy one.
    pub(super) async fn realign_service(
        &self,
        infra: &Infra,
        svc: &Service,
        td_arn: &str,
        tg_arn: &str,
        legacy: bool,
    ) -> Result<Option<String>> {
        let r = &infra.reference;
        let arn = svc.service_arn().unwrap_or(&self.names.service).to_string();
        if legacy {
            // Tag first: the prerequisites' policy lets eden change only what carries its tags.
            ecs::tag(self.aws(), &arn, ecs::to_tags(&self.tags())).await?;
        }
        let spec = self.spec(infra);
        let lb = LoadBalancer::builder()
            .target_group_arn(tg_arn)
            .container_name(&infra.container)
            .set_container_port(infra.container_port)
            .build();
        // A clone an older eden made under another controller is moved back to ECS.
        let controller = svc
            .deployment_controller()
            .filter(|c| *c != &spec.deployment_controller)
            .map(|_| spec.deployment_controller.clone());
        let service = ecs::CloneService {
            cluster: &self.profile.target_cluster,
            td_arn,
            load_balancer: lb,
            reference: r,
            spec,
        };
        if !ecs::realign_clone_service(self.aws(), &arn, service, controller).await? {
            return Ok(None);
        }
        Ok(Some(arn))
    }

    /// The reference's service settings a clone takes; what it leaves out is said once (`-v`).
    pub(super) fn spec(&self, infra: &Infra) -> clone::ServiceSpec {
        let spec = clone::service_spec(&infra.reference);
        if !spec.dropped.is_empty() {
            let detail = format!(
                "not copied from the reference: {} (clones use ECS rolling updates with the circuit breaker)",
                spec.dropped.join(", ")
            );
            tracing::info!("{detail}");
            self.steps.done(Instant::now(), "clone", detail);
        }
        spec
    }

    pub(super) async fn create_service(
        &self,
        infra: &Infra,
        td_arn: &str,
        tg_arn: &str,
    ) -> Result<String> {
        let r = &infra.reference;
        let n = &self.names;
        let token_src = format!("{}/{}/{}", self.profile.target_cluster, n.service, td_arn);
        let token =
            hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(token_src.as_bytes())[..16]);
        let lb = LoadBalancer::builder()
            .target_group_arn(tg_arn)
            .container_name(&infra.container)
            .set_container_port(infra.container_port)
            .build();
        let spec = self.spec(infra);
        let service = ecs::CloneService {
            cluster: &self.profile.target_cluster,
            td_arn,
            load_balancer: lb,
            reference: r,
            spec,
        };
        ecs::create_clone_service(
            self.aws(),
            &n.service,
            token,
            service,
            ecs::to_tags(&self.tags()),
        )
        .await
    }
}
