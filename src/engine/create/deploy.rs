//! The deploy path: a known, complete environment gets a new revision and a new deployment,
//! with no discovery (rounds 2-4 of a deploy; see docs/ARCHITECTURE.md).

use std::time::Instant;

use anyhow::Result;
use aws_sdk_ecs::types::{TaskDefinition, TaskDefinitionStatus};

use super::super::lease::{self, Lease};
use super::super::precheck::Infra;
use super::super::state::{EnvState, Sleep, SleepPhase};
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
        let main = self.deploy_chain(lease, prev, own_td, &container, hostname, t);
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
        if prev.sleep.is_some() {
            self.wake_after_deploy(prev).await?;
        }
        let state = EnvState {
            last_updated: Some(lease::now_secs()),
            image: Some(self.image.uri.clone()),
            task_definition_arn: Some(td_arn.clone()),
            bypass_rule_arn,
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

    /// Rounds 2-3 beside the DNS and the file: the new revision and a read of the rules (still
    /// there? still as the profile says?), then the new deployment with the rules realigned.
    async fn deploy_chain(
        &self,
        lease: &Lease,
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
        // a sleeping preview's rule leads to the waker (or a page) until it wakes
        let asleep = prev.sleep.is_some();
        let Some(rule) = rule?.filter(|r| asleep || r.forwards_to.contains(&tg_arn)) else {
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
        let bypass_rule_arn = self
            .round_three(lease, prev, &td_arn, (&rule, hostname), bypass)
            .await?;
        let revisions = revisions?;
        Ok(bypass_rule_arn.map(|bypass_rule_arn| Deployed {
            td_arn,
            revisions,
            bypass_rule_arn,
        }))
    }

    /// Round 3: a new deployment of the service (a sleeping preview's with its awake count,
    /// `Waking` recorded first), the rules realigned beside it — a sleeping preview's host rule
    /// is left leading to the waker until its tasks are ready. `None`: the service or a rule is
    /// missing (only the full path can repair it); else the bypass rule.
    async fn round_three(
        &self,
        lease: &Lease,
        prev: &EnvState,
        td_arn: &str,
        (rule, hostname): (&elb::HostRule, &str),
        bypass: BypassPlan,
    ) -> Result<Option<Option<String>>> {
        self.checkpoint()?;
        let t = Instant::now();
        let service = prev.service_arn.clone().unwrap_or_default();
        let tg_arn = prev.target_group_arn.clone().unwrap_or_default();
        let awake_count = self.waking(lease, prev).await?;
        let wanted = self.wanted_rule(hostname, &tg_arn);
        let realign = async {
            match prev.sleep {
                Some(_) => Ok(true),
                None => self.realign(rule, &wanted, "listener-rule").await,
            }
        };
        let (service_arn, realigned, bypass_rule_arn) = tokio::try_join!(
            self.update_service(&service, td_arn, awake_count),
            realign,
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
        Ok(Some(bypass_rule_arn))
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

/// What the deploy chain made: the revision, the family's revisions, the bypass rule.
struct Deployed {
    td_arn: String,
    revisions: Vec<String>,
    bypass_rule_arn: Option<String>,
}
