//! The deploy path: a known, complete environment gets a new revision and a new deployment,
//! with no discovery (rounds 2-4 of a deploy; see docs/ARCHITECTURE.md).

use std::time::Instant;

use anyhow::Result;
use aws_sdk_ecs::types::{TaskDefinition, TaskDefinitionStatus};

use super::super::lease::{self, Lease};
use super::super::precheck::Infra;
use super::super::state::EnvState;
use super::super::{Action, Outcome};
use super::{with_env, Plan};
use crate::aws::{ecs, elb};

impl Plan<'_> {
    /// Deploy to a known environment: no discovery. `None` means "something is missing that
    /// only the full path can repair".
    pub(super) async fn deploy(
        &self,
        lease: &Lease,
        prev: &EnvState,
        infra: &Infra,
        alb: &elb::Alb,
        own_td: &TaskDefinition,
        hostname: &str,
    ) -> Result<Option<Outcome>> {
        let aws = self.aws();
        let n = &self.names;
        let steps = &self.steps;
        let container = prev
            .container_name
            .clone()
            .unwrap_or_else(|| infra.container.clone());
        let rule_arn = prev.rule_arn.clone().unwrap_or_default();
        let tg_arn = prev.target_group_arn.clone().unwrap_or_default();

        let own_td = &with_env(own_td, &container, &self.req.env);
        let t = Instant::now();
        // the alias points at the preview's own ALB (the state's), never another of the pool
        let side = self.side_effects(alb, hostname, t, "entry restored");
        let main = async {
            // Round 2: the new revision, and a check that the rule is still there.
            let (td_arn, rule, revisions) = tokio::join!(
                ecs::register_clone(
                    aws,
                    own_td,
                    &n.family,
                    &container,
                    &self.image.uri,
                    ecs::to_tags(&self.tags())
                ),
                elb::rule_by_arn(aws, &rule_arn),
                ecs::list_revisions(aws, &n.family, TaskDefinitionStatus::Active),
            );
            let td_arn = td_arn?;
            steps.done(t, "task-definition", format!("registered {td_arn}"));
            if !rule?
                .as_ref()
                .is_some_and(|r| r.forwards_to.contains(&tg_arn))
            {
                tracing::info!(
                    "listener rule {rule_arn} is missing; repairing through the full path"
                );
                return Ok(None);
            }
            // Round 3: a new deployment of the service.
            self.checkpoint()?;
            let t = Instant::now();
            let service = prev.service_arn.clone().unwrap_or_default();
            let Some(service_arn) = self.update_service(&service, &td_arn).await? else {
                tracing::info!("service {service} is missing; repairing through the full path");
                return Ok(None);
            };
            steps.done(
                t,
                "service",
                format!("updated {service_arn} to {td_arn} (new deployment)"),
            );
            Ok::<_, anyhow::Error>(Some((td_arn, revisions?)))
        };
        let (record_types, main) = tokio::join!(side, main);
        let record_types = record_types?;
        let Some((td_arn, revisions)) = main? else {
            return Ok(None);
        };
        let state = EnvState {
            last_updated: Some(lease::now_secs()),
            image: Some(self.image.uri.clone()),
            task_definition_arn: Some(td_arn.clone()),
            record_types,
            metadata: self.metadata(lease),
            ..prev.clone()
        };
        self.finish(lease, state, Action::Deployed, &td_arn, revisions)
            .await
            .map(Some)
    }

    /// UpdateService to a new revision with a new deployment; `None` if the service is gone.
    pub(super) async fn update_service(
        &self,
        service: &str,
        td_arn: &str,
    ) -> Result<Option<String>> {
        ecs::deploy_revision(self.aws(), &self.profile.target_cluster, service, td_arn).await
    }
}
