//! The deploy path: a known, complete environment gets a new revision and a new deployment,
//! with no discovery (rounds 2-4 of a deploy; see docs/ARCHITECTURE.md).

use std::time::Instant;

use anyhow::Result;
use aws_sdk_ecs::types::{TaskDefinition, TaskDefinitionStatus};

use super::super::lease::{self, Lease};
use super::super::precheck::Infra;
use super::super::state::EnvState;
use super::super::{Action, Outcome};
use super::rules::BypassPlan;
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
        let container = prev
            .container_name
            .clone()
            .unwrap_or_else(|| infra.container.clone());
        let own_td = &with_env(own_td, &container, &self.req.env);
        let t = Instant::now();
        // the alias points at the preview's own ALB (the state's), never another of the pool
        let side = self.side_effects(alb, hostname, t, "entry restored");
        let main = self.deploy_chain(prev, own_td, &container, hostname, t);
        let (record_types, main) = tokio::join!(side, main);
        let record_types = record_types?;
        let Some(Deployed {
            td_arn,
            revisions,
            bypass_rule_arn,
        }) = main?
        else {
            return Ok(None);
        };
        let state = EnvState {
            last_updated: Some(lease::now_secs()),
            image: Some(self.image.uri.clone()),
            task_definition_arn: Some(td_arn.clone()),
            bypass_rule_arn,
            record_types,
            metadata: self.metadata(lease),
            ..prev.clone()
        };
        self.finish(lease, state, Action::Deployed, &td_arn, revisions)
            .await
            .map(Some)
    }

    /// Rounds 2-3 beside the DNS and the file: the new revision and a read of the rules (still
    /// there? still as the profile says?), then the new deployment with the rules realigned.
    async fn deploy_chain(
        &self,
        prev: &EnvState,
        own_td: &TaskDefinition,
        container: &str,
        hostname: &str,
        t: Instant,
    ) -> Result<Option<Deployed>> {
        let (aws, n) = (self.aws(), &self.names);
        let rule_arn = prev.rule_arn.clone().unwrap_or_default();
        let tg_arn = prev.target_group_arn.clone().unwrap_or_default();
        let (td_arn, rule, bypass, revisions) = tokio::join!(
            ecs::register_clone(
                aws,
                own_td,
                &n.family,
                container,
                &self.image.uri,
                ecs::to_tags(&self.tags())
            ),
            elb::rule_by_arn(aws, &rule_arn),
            async {
                match &prev.bypass_rule_arn {
                    Some(arn) => elb::rule_by_arn(aws, arn).await.map(Some),
                    None => Ok(None),
                }
            },
            ecs::list_revisions(aws, &n.family, TaskDefinitionStatus::Active),
        );
        let td_arn = td_arn?;
        self.steps
            .done(t, "task-definition", format!("registered {td_arn}"));
        let Some(rule) = rule?.filter(|r| r.forwards_to.contains(&tg_arn)) else {
            tracing::info!("listener rule {rule_arn} is missing; repairing through the full path");
            return Ok(None);
        };
        let wanted_bypass = self.wanted_bypass(hostname, &tg_arn);
        let prev_bypass = prev.bypass_rule_arn.as_deref();
        let bypass = self.plan_bypass(prev_bypass, bypass?, &rule, wanted_bypass, &tg_arn);
        if matches!(bypass, BypassPlan::FullPath) {
            tracing::info!("the bypass rule changes; applying it through the full path");
            return Ok(None);
        }
        // Round 3: a new deployment of the service; the rules realigned beside it.
        self.checkpoint()?;
        let t = Instant::now();
        let service = prev.service_arn.clone().unwrap_or_default();
        let wanted = self.wanted_rule(hostname, &tg_arn);
        let (service_arn, realigned, bypass_rule_arn) = tokio::try_join!(
            self.update_service(&service, &td_arn),
            self.realign(&rule, &wanted, "listener-rule"),
            self.apply_bypass(bypass),
        )?;
        let (Some(service_arn), true, Some(bypass_rule_arn)) =
            (service_arn, realigned, bypass_rule_arn)
        else {
            tracing::info!("the service or a rule is missing; repairing through the full path");
            return Ok(None);
        };
        self.steps.done(
            t,
            "service",
            format!("updated {service_arn} to {td_arn} (new deployment)"),
        );
        Ok(Some(Deployed {
            td_arn,
            revisions: revisions?,
            bypass_rule_arn,
        }))
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

/// What the deploy chain made: the revision, the family's revisions, the bypass rule.
struct Deployed {
    td_arn: String,
    revisions: Vec<String>,
    bypass_rule_arn: Option<String>,
}
