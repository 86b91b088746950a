//! The preview's rules brought in line with the profile (who may reach it), on both paths: the
//! host rule modified only when what was read differs from `rule::shape`, the bypass rule
//! created before it, realigned, or deleted when the profile no longer has one.

use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::{bail, Result};

use super::super::rule;
use super::Plan;
use crate::aws::elb::{self, HostRule, Placement, RuleShape, Then};

/// What the fast path does with the bypass rule.
pub(super) enum BypassPlan {
    /// Nothing to do: the state's bypass rule (if any) stays.
    Keep(Option<String>),
    /// ModifyRule it to this shape.
    Modify(String, Box<RuleShape>),
    /// DeleteRule: the profile no longer has a bypass.
    Delete(String),
    /// Something only the full path does (a new bypass rule, one gone or misplaced).
    FullPath,
}

impl Plan<'_> {
    /// The host rule this run wants (with the OIDC client secret it read), ending in `tg`.
    pub(super) fn wanted_rule(&self, hostname: &str, tg: &str) -> RuleShape {
        let shape = rule::shape(self.profile, hostname, Then::Forward(tg.to_string()));
        rule::with_secrets(shape, &self.secrets)
    }

    /// The bypass rule this run wants, if the profile has one.
    pub(super) fn wanted_bypass(&self, hostname: &str, tg: &str) -> Option<RuleShape> {
        rule::bypass(
            self.profile,
            &self.secrets,
            hostname,
            Then::Forward(tg.to_string()),
        )
    }

    /// ModifyRule when the rule read back does not say what `wanted` says; `false` if the rule
    /// is gone.
    pub(super) async fn realign(
        &self,
        found: &HostRule,
        wanted: &RuleShape,
        step: &str,
    ) -> Result<bool> {
        if found.shape.as_ref().is_some_and(|s| wanted.matches(s)) {
            return Ok(true);
        }
        let t = Instant::now();
        let modified = elb::modify_rule(self.aws(), &found.arn, wanted).await?;
        if modified {
            self.steps
                .done(t, step, format!("realigned {} with the profile", found.arn));
        }
        Ok(modified)
    }

    /// The fast path's plan for the bypass rule, from the state and the rule read in round 2
    /// (`read`: `None` when the state names none).
    pub(super) fn plan_bypass(
        &self,
        state_arn: Option<&str>,
        read: Option<Option<HostRule>>,
        host_rule: &HostRule,
        wanted: Option<RuleShape>,
        tg: &str,
    ) -> BypassPlan {
        match (wanted, state_arn, read.flatten()) {
            (None, None, _) => BypassPlan::Keep(None),
            (None, Some(arn), _) => BypassPlan::Delete(arn.to_string()),
            // a new one: the full path looks for one a run cut short left behind first
            (Some(_), None, _) | (Some(_), Some(_), None) => BypassPlan::FullPath,
            (Some(w), Some(_), Some(found)) => {
                let placed = before(&found, host_rule);
                if !placed || !found.forwards_to.iter().all(|a| a == tg) {
                    BypassPlan::FullPath
                } else if found.shape.as_ref().is_some_and(|s| w.matches(s)) {
                    BypassPlan::Keep(Some(found.arn))
                } else {
                    BypassPlan::Modify(found.arn, Box::new(w))
                }
            }
        }
    }

    /// Carry out the fast path's bypass plan: `Some(the bypass rule the state should name)`, or
    /// `None` when the full path must take over.
    pub(super) async fn apply_bypass(&self, plan: BypassPlan) -> Result<Option<Option<String>>> {
        let t = Instant::now();
        match plan {
            BypassPlan::Keep(arn) => Ok(Some(arn)),
            BypassPlan::FullPath => Ok(None),
            BypassPlan::Modify(arn, shape) => {
                if !elb::modify_rule(self.aws(), &arn, &shape).await? {
                    return Ok(None);
                }
                self.steps.done(
                    t,
                    "bypass-rule",
                    format!("realigned {arn} with the profile"),
                );
                Ok(Some(Some(arn)))
            }
            BypassPlan::Delete(arn) => {
                elb::delete_rule(self.aws(), &arn).await?;
                self.steps.done(
                    t,
                    "bypass-rule",
                    format!("deleted {arn} (the profile has no bypass_header)"),
                );
                Ok(Some(None))
            }
        }
    }

    /// The full path's bypass rule: the one found realigned (or deleted when the profile no
    /// longer has one, or when it sits after the host rule), else a new one placed before the
    /// host rule.
    pub(super) async fn bypass_rule(
        &self,
        listener: &str,
        hostname: &str,
        found: Option<&HostRule>,
        host: (&HostRule, &BTreeSet<i32>),
        tg: &str,
    ) -> Result<Option<String>> {
        let (host_rule, used) = host;
        let wanted = self.wanted_bypass(hostname, tg);
        let t = Instant::now();
        if let Some(f) = found {
            // tagged first: a run cut short may have left it untagged, and eden may modify and
            // delete only what carries its tags
            self.adopt(&f.arn).await?;
            match &wanted {
                Some(w) if before(f, host_rule) => {
                    if !self.realign(f, w, "bypass-rule").await? {
                        bail!("bypass rule {} vanished while deploying; retry", f.arn);
                    }
                    return Ok(Some(f.arn.clone()));
                }
                _ => {
                    elb::delete_rule(self.aws(), &f.arn).await?;
                    self.steps
                        .done(t, "bypass-rule", format!("deleted {}", f.arn));
                }
            }
        }
        let Some(wanted) = wanted else {
            return Ok(None);
        };
        let mut used = used.clone();
        used.extend(host_rule.priority);
        let place = Placement::Before(host_rule.priority.unwrap_or(1));
        let tags = elb::to_tags(&self.tags());
        let (arn, _) = elb::create_rule(self.aws(), listener, &wanted, used, tags, place).await?;
        let header = wanted.header.as_ref().map_or("", |h| h.name.as_str());
        self.steps.done(
            t,
            "bypass-rule",
            format!("requests carrying header {header} skip the protection ({arn})"),
        );
        Ok(Some(arn))
    }
}

/// Whether the bypass rule is evaluated before the host rule.
fn before(bypass: &HostRule, host_rule: &HostRule) -> bool {
    matches!((bypass.priority, host_rule.priority), (Some(b), Some(h)) if b < h)
}
