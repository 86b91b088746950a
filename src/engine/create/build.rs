//! The dependency chain of a new environment (rounds 3-5): task definition ∥ (target group →
//! attributes ∥ rule), then the service. The target group is the reference's, with the
//! profile's health check and deregistration delay (`engine::clone`).

use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use aws_sdk_ecs::types::{Service, TaskDefinition};
use aws_sdk_elasticloadbalancingv2::types::{TargetGroup, TargetGroupAttribute};

use super::super::clone;
use super::super::lease::Lease;
use super::super::pool::{self, Placement};
use super::super::precheck::{FoundTg, Infra, Observed};
use super::super::tags::{self, Owner};
use super::super::Action;
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
            ref_tg: &observed.ref_tg,
            ref_attrs: &observed.ref_attrs,
            found_tg: &observed.found_tg,
            placement: &observed.placement,
            hostname,
        };
        let (td_arn, (tg_arn, ((rule_arn, bypass_rule_arn), alb))) = tokio::try_join!(
            self.register(infra, &observed.ref_td),
            self.target_group(lease, tg)
        )?;
        self.checkpoint()?;
        let (service_arn, action) = self
            .service(lease, infra, observed.found_svc.as_ref(), &td_arn, &tg_arn)
            .await?;
        Ok(Built {
            alb,
            service_arn,
            td_arn,
            tg_arn,
            rule_arn,
            bypass_rule_arn,
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
    async fn target_group(
        &self,
        lease: &Lease,
        c: TgChain<'_>,
    ) -> Result<(String, ((String, Option<String>), elb::Alb))> {
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
        let (_, rule) = tokio::try_join!(attrs, self.rule(lease, &c, &tg_arn))?;
        Ok((tg_arn, rule))
    }

    /// The host-header rule: this hostname's own (re)tagged and realigned with the profile, or
    /// a new one on the placement's ALB; then its bypass rule (`rules.rs`); with the ALB they
    /// are on. A sleeping preview's own rule (the state's) leads elsewhere until the preview
    /// wakes: it is kept as it is.
    async fn rule(
        &self,
        lease: &Lease,
        c: &TgChain<'_>,
        tg_arn: &str,
    ) -> Result<((String, Option<String>), elb::Alb)> {
        let (hostname, placed) = (c.hostname, c.placement);
        let wanted = self.wanted_rule(hostname, tg_arn);
        let sleeping_rule = lease
            .previous
            .as_ref()
            .filter(|s| s.sleep.is_some())
            .and_then(|s| s.rule_arn.as_deref());
        let (host_rule, alb, used) = match &placed.found_rules.rule {
            Some(rule)
                if rule.forwards_to.iter().any(|a| a == tg_arn)
                    || sleeping_rule == Some(rule.arn.as_str()) =>
            {
                // (re)tag: a rule the Python eden made, or one whose tagging was cut short
                self.adopt(&rule.arn).await?;
                let asleep = sleeping_rule.is_some();
                if !asleep && !self.realign(rule, &wanted, "listener-rule").await? {
                    bail!("listener rule {} vanished while deploying; retry", rule.arn);
                }
                (rule.clone(), placed.alb.clone(), placed.used.clone())
            }
            Some(rule) => bail!(
                "listener rule {} for {hostname} forwards to another target group ({}); delete it and retry",
                rule.arn,
                rule.forwards_to.join(", ")
            ),
            None => self.new_rule(placed, &wanted).await?,
        };
        let bypass = self
            .bypass_rule(
                &alb.listener_arn,
                hostname,
                placed.found_rules.bypass.as_ref(),
                (&host_rule, &used),
                tg_arn,
            )
            .await?;
        Ok(((host_rule.arn, bypass), alb))
    }

    /// CreateRule on the chosen ALB; if a race filled it (`elb::AlbFull`: nothing was written
    /// there, and the target group attaches to an ALB only through a rule), on the next ALB with
    /// room, in the placement's order. The rule, the ALB and the priorities in use there.
    async fn new_rule(
        &self,
        placed: &Placement,
        wanted: &elb::RuleShape,
    ) -> Result<(elb::HostRule, elb::Alb, BTreeSet<i32>)> {
        let t = Instant::now();
        let hostname = &wanted.hostname;
        let candidates = std::iter::once((&placed.alb, &placed.used))
            .chain(placed.fallbacks.iter().map(|(a, u)| (a, u)));
        let mut tried = Vec::new();
        for (alb, used) in candidates {
            let created = elb::create_rule(
                self.aws(),
                &alb.listener_arn,
                wanted,
                used.clone(),
                elb::to_tags(&self.tags()),
                elb::Placement::Preferred,
            )
            .await;
            match created {
                Ok((arn, priority)) => {
                    self.steps.done(
                        t,
                        "listener-rule",
                        format!("host {hostname} → target group on {} ({arn})", alb.name()),
                    );
                    let mut used = used.clone();
                    used.insert(priority);
                    let rule = elb::HostRule {
                        arn,
                        forwards_to: wanted
                            .target_group()
                            .into_iter()
                            .map(String::from)
                            .collect(),
                        shape: Some(wanted.clone()),
                        priority: Some(priority),
                    };
                    return Ok((rule, alb.clone(), used));
                }
                Err(e) if e.downcast_ref::<elb::AlbFull>().is_some() => {
                    tracing::info!("{e:#}; trying the next ALB of the pool");
                    self.steps.done(
                        t,
                        "placement",
                        format!("{} filled up meanwhile", alb.name()),
                    );
                    tried.push(alb.name().to_string());
                }
                Err(e) => return Err(e),
            }
        }
        Err(pool::raced_full(&tried).into())
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
    ref_tg: &'a TargetGroup,
    ref_attrs: &'a [TargetGroupAttribute],
    found_tg: &'a FoundTg,
    placement: &'a Placement,
    hostname: &'a str,
}
