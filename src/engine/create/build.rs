//! The dependency chain of a new environment (rounds 3-5): task definition ∥ (target group →
//! attributes ∥ rule), then the service. The target group is the reference's, with the
//! profile's health check and deregistration delay (`engine::clone`).

use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use aws_sdk_ecs::types::{Service, TaskDefinition};
use aws_sdk_elasticloadbalancingv2::types::{TargetGroup, TargetGroupAttribute};

use super::super::lease::Lease;
use super::super::precheck::{FoundTg, Infra, Observed};
use super::super::tags::{self, Owner};
use super::super::Action;
use super::super::{clone, rule};
use super::{with_env, Built, Plan};
use crate::aws::{ecs, elb};

impl Plan<'_> {
    /// Observe, then build: adopt an untagged target group of the Python eden's, the chain,
    /// the service.
    pub(super) async fn build(
        &self,
        lease: &Lease,
        infra: &Infra,
        observed: Observed,
        hostname: &str,
    ) -> Result<Built> {
        if let Some(found) = &observed.found_tg {
            let owner = tags::owner(
                elb::tags_of(&found.tags),
                &self.profile.name,
                &self.req.environment,
            );
            if owner == Owner::Legacy {
                self.adopt(&found.arn).await?;
            }
        }
        self.checkpoint()?;

        let tg = TgChain {
            infra,
            ref_tg: &observed.ref_tg,
            ref_attrs: &observed.ref_attrs,
            found_tg: &observed.found_tg,
            found_rule: observed.found_rule.as_ref(),
            used: &observed.used,
            hostname,
        };
        let (td_arn, (tg_arn, rule_arn)) = tokio::try_join!(
            self.register(infra, &observed.ref_td),
            self.target_group(lease, tg)
        )?;
        self.checkpoint()?;
        let (service_arn, action) = self
            .service(lease, infra, observed.found_svc.as_ref(), &td_arn, &tg_arn)
            .await?;
        Ok(Built {
            service_arn,
            td_arn,
            tg_arn,
            rule_arn,
            action,
            revisions: observed.revisions,
        })
    }

    /// The reference's task definition, cloned with this run's image and environment.
    async fn register(&self, infra: &Infra, ref_td: &TaskDefinition) -> Result<String> {
        let t = Instant::now();
        let td = with_env(ref_td, &infra.container, &self.req.env);
        let arn = ecs::register_clone(
            self.aws(),
            &td,
            &self.names.family,
            &infra.container,
            &self.image.uri,
            ecs::to_tags(&self.tags()),
        )
        .await?;
        self.steps
            .done(t, "task-definition", format!("registered {arn}"));
        Ok(arn)
    }

    /// The target group (found or created), then its attributes beside the rule. The clone's
    /// health check goes in CreateTargetGroup; a found target group's is modified only when it
    /// differs (an older eden's or the Python eden's kept the reference's); the deregistration
    /// delay rides in the attributes call, made every time.
    async fn target_group(&self, lease: &Lease, c: TgChain<'_>) -> Result<(String, String)> {
        let aws = self.aws();
        let t = Instant::now();
        let tuning = self.profile.target_group_tuning.as_ref();
        let wanted = clone::target_group_settings(c.ref_tg, tuning);
        let tg_arn = match c.found_tg {
            Some(found) => found.arn.clone(),
            None => {
                let arn = elb::create_target_group(
                    aws,
                    &self.names.target_group,
                    &wanted,
                    elb::to_tags(&self.tags()),
                )
                .await?;
                self.steps.done(t, "target-group", format!("created {arn}"));
                arn
            }
        };
        // Always (idempotent): a run that died between CreateTargetGroup and this call left a
        // target group with default attributes.
        let attrs = async {
            if let Some(found) = c.found_tg {
                if clone::health_check_differs(&found.group, &wanted) {
                    elb::align_health_check(aws, &tg_arn, &wanted).await?;
                    self.steps.done(
                        t,
                        "target-group",
                        format!("health check realigned on {tg_arn}"),
                    );
                }
            }
            elb::copy_attributes(
                aws,
                &tg_arn,
                &clone::target_group_attributes(c.ref_tg, c.ref_attrs, tuning),
            )
            .await
        };
        let (_, rule_arn) = tokio::try_join!(attrs, self.rule(lease, &c, &tg_arn))?;
        Ok((tg_arn, rule_arn))
    }

    /// The host-header rule: this hostname's own (re)tagged, or a new one. A sleeping
    /// preview's own rule (the state's) leads elsewhere until the preview wakes.
    async fn rule(&self, lease: &Lease, c: &TgChain<'_>, tg_arn: &str) -> Result<String> {
        let hostname = c.hostname;
        let sleeping_rule = lease
            .previous
            .as_ref()
            .filter(|s| s.sleep.is_some())
            .and_then(|s| s.rule_arn.as_deref());
        match c.found_rule {
            Some(rule)
                if rule.forwards_to.iter().any(|a| a == tg_arn)
                    || sleeping_rule == Some(rule.arn.as_str()) =>
            {
                // (re)tag: a rule the Python eden made, or one whose tagging was cut short
                self.adopt(&rule.arn).await?;
                Ok(rule.arn.clone())
            }
            Some(rule) => bail!(
                "listener rule {} for {hostname} forwards to another target group ({}); delete it and retry",
                rule.arn,
                rule.forwards_to.join(", ")
            ),
            None => {
                let t = Instant::now();
                let arn = elb::create_host_rule(
                    self.aws(),
                    &c.infra.alb.listener_arn,
                    &rule::shape(self.profile, hostname, elb::Then::Forward(tg_arn.into())),
                    c.used.clone(),
                    elb::to_tags(&self.tags()),
                )
                .await?;
                self.steps.done(
                    t,
                    "listener-rule",
                    format!("host {hostname} → target group ({arn})"),
                );
                Ok(arn)
            }
        }
    }

    /// The service: the one found realigned to this revision and target group, or a new one.
    async fn service(
        &self,
        lease: &Lease,
        infra: &Infra,
        found: Option<&Service>,
        td_arn: &str,
        tg_arn: &str,
    ) -> Result<(String, Action)> {
        let t = Instant::now();
        let Some(svc) = found else {
            let arn = self.create_service(infra, td_arn, tg_arn).await?;
            self.steps.done(t, "service", format!("created {arn}"));
            return Ok((arn, Action::Created));
        };
        let owner = tags::owner(
            ecs::tags_of(svc.tags()),
            &self.profile.name,
            &self.req.environment,
        );
        let arn = self
            .realign_service(infra, svc, td_arn, tg_arn, owner == Owner::Legacy)
            .await?
            .ok_or_else(|| {
                anyhow!(
                    "ECS service {} vanished while deploying; retry",
                    self.names.service
                )
            })?;
        self.steps
            .done(t, "service", format!("updated {arn} to {td_arn}"));
        let known = lease
            .previous
            .as_ref()
            .is_some_and(|s| s.endpoint.is_some());
        Ok((
            arn,
            if known {
                Action::Deployed
            } else {
                Action::Created
            },
        ))
    }
}

/// What the target-group chain works from.
struct TgChain<'a> {
    infra: &'a Infra,
    ref_tg: &'a TargetGroup,
    ref_attrs: &'a [TargetGroupAttribute],
    found_tg: &'a FoundTg,
    found_rule: Option<&'a elb::HostRule>,
    used: &'a BTreeSet<i32>,
    hostname: &'a str,
}
