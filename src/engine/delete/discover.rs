//! What a delete removes: from the state's ARNs when it is complete, else found by name (ours
//! and the Python eden's spellings), each resource only if its tags allow it.

use anyhow::Result;
use aws_sdk_ecs::types::TaskDefinitionStatus;
use aws_sdk_route53::types::ResourceRecordSet;

use super::super::state::EnvState;
use super::super::tags::{self, Owner};
use crate::aws::{dns, ecs, elb, Aws};
use crate::names::ResourceNames;
use crate::profile::Profile;

#[derive(Debug, Default)]
pub(super) struct Targets {
    pub(super) hostname: Option<String>,
    pub(super) service: Option<String>,
    pub(super) target_group: Option<String>,
    pub(super) rule: Option<String>,
    /// The bypass rule (`bypass_header`), deleted before the host rule.
    pub(super) bypass_rule: Option<String>,
    pub(super) revisions: Vec<String>,
    pub(super) records: Vec<ResourceRecordSet>,
    pub(super) skipped: Vec<String>,
    /// Untagged (Python eden, or tagging cut short): tagged before they are deleted, since the
    /// prerequisites' policy lets eden delete only what carries its tags.
    pub(super) adopt_elb: Vec<String>,
    pub(super) adopt_service: Option<String>,
}

pub(super) struct Guard {
    pub(super) service: String,
    pub(super) target_groups: Vec<String>,
    pub(super) family: String,
}

impl Guard {
    /// What belongs to the reference: never deleted.
    pub(super) fn of(reference: &aws_sdk_ecs::types::Service) -> Guard {
        Guard {
            service: reference.service_arn().unwrap_or_default().to_string(),
            target_groups: reference
                .load_balancers()
                .iter()
                .filter_map(|l| l.target_group_arn.clone())
                .collect(),
            family: reference
                .task_definition()
                .and_then(ecs::family_of)
                .unwrap_or_default()
                .to_string(),
        }
    }
}

/// What every discovery needs.
struct Ask<'a> {
    aws: &'a Aws,
    profile: &'a Profile,
    names: &'a ResourceNames,
    environment: &'a str,
    guard: &'a Guard,
}

/// Find what to delete: from the state's ARNs when it is complete, else by name.
pub(super) async fn discover(
    aws: &Aws,
    profile: &Profile,
    names: &ResourceNames,
    environment: &str,
    state: Option<&EnvState>,
    guard: &Guard,
) -> Result<Targets> {
    let ask = Ask {
        aws,
        profile,
        names,
        environment,
        guard,
    };
    let mut out = match state {
        Some(st) => from_state(&ask, st).await?,
        None => by_name(&ask).await?,
    };
    if out.service.as_deref() == Some(guard.service.as_str()) {
        out.service = None;
        out.adopt_service = None;
    }
    Ok(out)
}

/// Every ACTIVE and INACTIVE revision of the environment's families (ours and the legacy
/// spelling), never the reference's.
async fn revisions(ask: &Ask<'_>) -> Result<Vec<String>> {
    let names = ask.names;
    let mut families = vec![names.family.clone()];
    if names.legacy_family != names.family {
        families.push(names.legacy_family.clone());
    }
    families.retain(|f| *f != ask.guard.family);
    let lists = families.iter().flat_map(|f| {
        [TaskDefinitionStatus::Active, TaskDefinitionStatus::Inactive]
            .map(|st| ecs::list_revisions(ask.aws, f, st))
    });
    let lists = futures::future::try_join_all(lists).await?;
    Ok(lists.into_iter().flatten().collect())
}

/// A complete state names every resource: read their tags, the service, the revisions and the
/// records at once.
async fn from_state(ask: &Ask<'_>, st: &EnvState) -> Result<Targets> {
    let (aws, profile, environment) = (ask.aws, ask.profile, ask.environment);
    let mut out = Targets::default();
    let hostname = st.endpoint.clone().unwrap_or_default();
    let arns: Vec<String> = [
        st.target_group_arn.clone(),
        st.rule_arn.clone(),
        st.bypass_rule_arn.clone(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let cluster = st
        .cluster
        .clone()
        .unwrap_or_else(|| profile.target_cluster.clone());
    let service_arn = st.service_arn.clone().unwrap_or_default();
    let (tags, service, revisions, records) = tokio::join!(
        elb::tags(aws, &arns),
        ecs::find_service(aws, &cluster, &service_arn),
        revisions(ask),
        dns::find_records(aws, &profile.dynamic_zone_id, &hostname),
    );
    let tags = tags?;
    for (slot, arn, kind) in [
        (&mut out.target_group, &st.target_group_arn, "target group"),
        (&mut out.rule, &st.rule_arn, "listener rule"),
        (&mut out.bypass_rule, &st.bypass_rule_arn, "bypass rule"),
    ] {
        let Some((arn, t)) = arn.as_ref().and_then(|a| Some((a, tags.get(a)?))) else {
            continue;
        };
        let owner = tags::owner(elb::tags_of(t), &profile.name, environment);
        // the state names it, so eden made it (untagged only if tagging was cut short)
        if !matches!(owner, Owner::Foreign { .. }) {
            if owner == Owner::Legacy {
                out.adopt_elb.push(arn.clone());
            }
            *slot = Some(arn.clone());
        } else {
            allowed(owner, kind, arn, false, &mut out.skipped);
        }
    }
    if let Some(svc) = service?.filter(|s| s.status() != Some("INACTIVE")) {
        let owner = tags::owner(ecs::tags_of(svc.tags()), &profile.name, environment);
        let arn = svc.service_arn().unwrap_or_default().to_string();
        if allowed(owner, "ECS service", &arn, false, &mut out.skipped) {
            out.service = Some(arn);
        }
    }
    out.revisions = revisions?;
    out.records = records?;
    out.hostname = Some(hostname);
    Ok(out)
}

/// Without a complete state (the Python eden's, or a create cut short): find each resource by
/// its name, ours and the legacy spelling, then the rules and records by hostname.
async fn by_name(ask: &Ask<'_>) -> Result<Targets> {
    let (aws, profile, names, environment, guard) =
        (ask.aws, ask.profile, ask.names, ask.environment, ask.guard);
    let mut out = Targets::default();
    let zone = async {
        match &profile.dynamic_zone_name {
            Some(z) => Ok(z.clone()),
            None => dns::zone_name(aws, &profile.dynamic_zone_id).await,
        }
    };
    let arns = profile.alb_pool();
    let (zone, services, tg, revisions, pool) = tokio::join!(
        zone,
        services_by_name(ask),
        elb::find_target_group(aws, &names.target_group),
        revisions(ask),
        elb::albs(aws, &arns),
    );
    let zone = zone?;
    let hostname = names.hostname(&zone);
    let legacy_hostname = names.legacy_hostname(&zone);
    for svc in services?
        .into_iter()
        .filter(|s| s.status() != Some("INACTIVE"))
    {
        let owner = tags::owner(ecs::tags_of(svc.tags()), &profile.name, environment);
        let arn = svc.service_arn().unwrap_or_default().to_string();
        let legacy = owner == Owner::Legacy;
        if arn != guard.service && allowed(owner, "ECS service", &arn, true, &mut out.skipped) {
            if legacy {
                out.adopt_service = Some(arn.clone());
            }
            out.service = Some(arn);
        }
    }
    if let Some(elb::FoundTargetGroup { arn, tags: t, .. }) = tg? {
        let owner = tags::owner(elb::tags_of(&t), &profile.name, environment);
        let legacy = owner == Owner::Legacy;
        if !guard.target_groups.contains(&arn)
            && allowed(owner, "target group", &arn, true, &mut out.skipped)
        {
            if legacy {
                out.adopt_elb.push(arn.clone());
            }
            out.target_group = Some(arn);
        }
    }
    out.revisions = revisions?;
    let mut hostnames = vec![hostname.clone()];
    if !legacy_hostname.eq_ignore_ascii_case(&hostname) {
        hostnames.push(legacy_hostname);
    }
    by_host(ask, &pool?, &hostnames, &mut out).await?;
    out.hostname = Some(hostname);
    Ok(out)
}

/// The service by our name and by the Python eden's.
async fn services_by_name(ask: &Ask<'_>) -> Result<Vec<aws_sdk_ecs::types::Service>> {
    let (names, profile) = (ask.names, ask.profile);
    let mut found = Vec::new();
    let mut wanted = vec![names.service.clone()];
    if names.legacy_service != names.service {
        wanted.push(names.legacy_service.clone());
    }
    for s in wanted {
        if let Some(svc) = ecs::find_service(ask.aws, &profile.target_cluster, &s).await? {
            found.push(svc);
        }
    }
    Ok(found)
}

/// The rule and the records for each hostname (ours, then the legacy spelling); a rule only
/// if it forwards to the target group found by name. The rule is looked for on every ALB of
/// the pool (which one it is on, only a complete state records).
async fn by_host(
    ask: &Ask<'_>,
    pool: &[elb::Alb],
    hostnames: &[String],
    out: &mut Targets,
) -> Result<()> {
    for h in hostnames {
        let rules = pool
            .iter()
            .map(|alb| elb::scan_rules(ask.aws, &alb.listener_arn, h));
        let (rules, records) = tokio::join!(
            futures::future::try_join_all(rules),
            dns::find_records(ask.aws, &ask.profile.dynamic_zone_id, h),
        );
        // the hostname's rules on whichever ALB of the pool holds them
        let found = rules?
            .into_iter()
            .map(|(r, _)| r)
            .find(|r| r.rule.is_some() || r.bypass.is_some())
            .unwrap_or_default();
        for (rule, slot) in [
            (found.rule, &mut out.rule),
            (found.bypass, &mut out.bypass_rule),
        ] {
            let (Some(rule), Some(tg), None) = (rule, &out.target_group, &slot) else {
                continue;
            };
            if rule.forwards_to.iter().all(|a| a == tg) {
                // found by host, its tags unread: tag it like the target group it serves
                out.adopt_elb.push(rule.arn.clone());
                *slot = Some(rule.arn);
            } else {
                out.skipped.push(format!(
                    "listener rule {}: also forwards elsewhere",
                    rule.arn
                ));
            }
        }
        out.records.extend(records?);
    }
    Ok(())
}

/// May delete touch a resource with this owner? If not, say why in `skipped`.
pub(super) fn allowed(
    owner: Owner,
    kind: &str,
    what: &str,
    legacy_ok: bool,
    skipped: &mut Vec<String>,
) -> bool {
    match owner {
        Owner::Ours => true,
        Owner::Legacy if legacy_ok => true,
        Owner::Legacy => {
            skipped.push(format!("{kind} {what}: not tagged by eden"));
            false
        }
        Owner::Foreign {
            profile,
            environment,
        } => {
            skipped.push(format!(
                "{kind} {what}: belongs to profile {profile}, environment {environment}"
            ));
            false
        }
    }
}
