//! The deploy path: a known, complete environment gets a new revision and a new deployment,
//! with no discovery (rounds 2-4 of a deploy; see docs/ARCHITECTURE.md).

use std::time::Instant;

use anyhow::Result;
use aws_sdk_ecs::types::{TaskDefinition, TaskDefinitionStatus};

use super::super::lease::{self, Lease};
use super::super::precheck::Infra;
use super::super::state::{EnvState, Sleep, SleepPhase};
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
        let side = self.side_effects(infra, hostname, t, "entry restored");
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
            // a sleeping preview's rule leads to the waker (or a page) until it wakes
            let asleep = prev.sleep.is_some();
            if !rule?
                .as_ref()
                .is_some_and(|r| asleep || r.forwards_to.contains(&tg_arn))
            {
                tracing::info!(
                    "listener rule {rule_arn} is missing; repairing through the full path"
                );
                return Ok(None);
            }
            // Round 3: a new deployment of the service.
            if !self.new_deployment(lease, prev, &td_arn).await? {
                return Ok(None);
            }
            Ok::<_, anyhow::Error>(Some((td_arn, revisions?)))
        };
        let (record_types, main) = tokio::join!(side, main);
        let record_types = record_types?;
        let Some((td_arn, revisions)) = main? else {
            return Ok(None);
        };
        if prev.sleep.is_some() {
            self.wake_after_deploy(prev).await?;
        }
        let state = EnvState {
            last_updated: Some(lease::now_secs()),
            image: Some(self.image.uri.clone()),
            task_definition_arn: Some(td_arn.clone()),
            record_types,
            metadata: self.metadata(lease),
            sleep: None,
            last_woke: self.last_woke(lease),
            ..prev.clone()
        };
        self.finish(lease, state, Action::Deployed, &td_arn, revisions)
            .await
            .map(Some)
    }

    /// Round 3: the service on the new revision (a sleeping preview's with its awake count);
    /// `false` if the service is gone (only the full path can repair it).
    async fn new_deployment(&self, lease: &Lease, prev: &EnvState, td_arn: &str) -> Result<bool> {
        self.checkpoint()?;
        let t = Instant::now();
        let service = prev.service_arn.clone().unwrap_or_default();
        let awake_count = self.waking(lease, prev).await?;
        let Some(service_arn) = self.update_service(&service, td_arn, awake_count).await? else {
            tracing::info!("service {service} is missing; repairing through the full path");
            return Ok(false);
        };
        self.steps.done(
            t,
            "service",
            format!("updated {service_arn} to {td_arn} (new deployment)"),
        );
        Ok(true)
    }

    /// UpdateService to a new revision with a new deployment (and a sleeping preview's awake
    /// count); `None` if the service is gone.
    pub(super) async fn update_service(
        &self,
        service: &str,
        td_arn: &str,
        desired: Option<i32>,
    ) -> Result<Option<String>> {
        let cluster = &self.profile.target_cluster;
        ecs::deploy_revision(self.aws(), cluster, service, td_arn, desired).await
    }

    /// A sleeping preview about to get its tasks back: phase `Waking` on the state item first
    /// (a run that dies after it is finished by the next), and the count to restore.
    async fn waking(&self, lease: &Lease, prev: &EnvState) -> Result<Option<i32>> {
        let Some(sleep) = prev.sleep else {
            return Ok(None);
        };
        if sleep.phase != SleepPhase::Waking {
            let waking = Sleep {
                phase: SleepPhase::Waking,
                since: Sleep::now(),
                awake_count: sleep.awake_count,
            };
            lease
                .record(self.aws(), waking.to_attributes(), &[])
                .await?;
        }
        Ok(Some(sleep.awake_count))
    }
}
