//! The precheck: every read and check that can refuse a create, run before its first write.
//!
//! Round 1 (beside the lease, which is restored if anything here fails): the image, the
//! reference service, the ALB and its HTTPS listener, the hosted zone, the family's latest
//! revision. Checks: the reference is ACTIVE behind a target group, the zone is the one the
//! profile names, the hostname fits a host-header condition.
//!
//! Round 2 (the full path only; a deploy to a known environment needs none of it): the
//! reference's task definition and target group, whatever already carries this environment's
//! names (service, target group, the rule for its hostname), the target groups on the ALB.
//! Each starts as soon as the lease is ours and what it needs is read ([`Early`]).
//! Checks: nothing belongs to another profile or environment, the container exists, the ALB has
//! room for one more target group and one more rule.

use std::collections::BTreeSet;

use tokio_util::task::AbortOnDropHandle;

use anyhow::{anyhow, Result};
use aws_sdk_ecs::types::{LoadBalancer, Service, TaskDefinition, TaskDefinitionStatus};
use aws_sdk_elasticloadbalancingv2::types::{TargetGroup, TargetGroupAttribute};

use super::tags::{self, Owner};
use crate::aws::{alb, dns, ecr, ecs, elb, Aws};
use crate::error::Refusal;
use crate::image::ImageRef;
use crate::names::{self, ResourceNames};
use crate::profile::Profile;

/// Target groups one Application Load Balancer can hold (a hard limit).
pub const TARGET_GROUPS_PER_ALB: usize = 100;
/// Rules per Application Load Balancer, not counting default rules (the default quota).
pub const RULES_PER_ALB: usize = 100;

/// What round 1 learns about the shared infrastructure (valid whatever the environment's state).
pub struct Infra {
    pub reference: Service,
    pub reference_tg: String,
    pub container: String,
    pub container_port: Option<i32>,
    pub alb: elb::Alb,
    pub zone_name: String,
    /// Round 2's reads that no eden run changes, started as soon as what they need was read.
    pub early: Early,
}

/// Round 2's reads, each started the moment the lease is ours (and shows an environment that
/// is not complete: a complete one is deployed without them) and what it needs has been read:
/// the reference's task definition and target group once the reference service is read, the
/// ALB's target groups once the ALB is, the rule for the hostname once the listener and the
/// zone are, the family's revisions once the family is known to exist, the service and the
/// target group with this environment's names at once. No read waits for the slowest call of
/// round 1, and none is made before the lease is ours. They run as tasks, so round 1 returns
/// without them; dropping `Early` aborts what is still running.
#[derive(Default)]
pub struct Early {
    ref_td: Option<Pending<OwnTd>>,
    ref_tg: Option<Pending<(TargetGroup, Vec<TargetGroupAttribute>)>>,
    on_alb: Option<Pending<Vec<String>>>,
    revisions: Option<Pending<Vec<String>>>,
    found_tg: Option<Pending<FoundTg>>,
    found_svc: Option<Pending<Option<Service>>>,
    rules: Option<Pending<(Option<elb::HostRule>, BTreeSet<i32>)>>,
}

/// A target group with this environment's name: its ARN, tags and settings.
pub type FoundTg = Option<elb::FoundTargetGroup>;

/// What the lease has shown so far: `None` until it is ours, then whether the environment is
/// complete (a deploy). A lease that failed counts as complete: nothing more is started.
pub type LeaseSeen = tokio::sync::watch::Receiver<Option<bool>>;

/// Whether the full path's reads should start: once the lease is ours, and only when it shows
/// an environment that is not complete.
async fn lease_says_full_path(lease: &LeaseSeen) -> bool {
    let mut rx = lease.clone();
    let full = match rx.wait_for(Option::is_some).await {
        Ok(v) => *v == Some(false),
        Err(_) => false,
    };
    full
}

type Pending<T> = AbortOnDropHandle<Result<T>>;

fn start<T: Send + 'static>(
    read: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Pending<T> {
    AbortOnDropHandle::new(tokio::spawn(read))
}

/// The family's latest revision and its tags, if the family exists.
pub type OwnTd = Option<(TaskDefinition, Vec<aws_sdk_ecs::types::Tag>)>;

/// What round 2 learns: everything the full path builds from or on.
pub struct Observed {
    pub ref_td: TaskDefinition,
    pub ref_tg: TargetGroup,
    pub ref_attrs: Vec<TargetGroupAttribute>,
    /// A target group with this environment's name (ours or the Python eden's).
    pub found_tg: FoundTg,
    /// The rule for the hostname, known to forward to `found_tg`.
    pub found_rule: Option<elb::HostRule>,
    /// Priorities in use on the listener.
    pub used: BTreeSet<i32>,
    /// The service with this environment's name (not INACTIVE, not draining).
    pub found_svc: Option<Service>,
    /// ACTIVE revisions of the family, newest first.
    pub revisions: Vec<String>,
}

/// The one create being checked.
pub struct Subject<'a> {
    pub profile: &'a Profile,
    pub environment: &'a str,
    pub image: &'a ImageRef,
    pub names: &'a ResourceNames,
    /// The environment's own rule while it sleeps (the state's `rule_arn`): it leads to the
    /// waker or a page, not to the target group, and is still ours.
    pub sleeping_rule: Option<&'a str>,
}

/// Round 1, and round 2's reads as their inputs and the lease arrive ([`Early`]): four chains
/// of reads, side by side, then the checks on what they found.
pub async fn infra(aws: &Aws, s: &Subject<'_>, lease: &LeaseSeen) -> Result<(Infra, OwnTd)> {
    let (image, reference, alb, own_td, (found_tg, found_svc)) = tokio::join!(
        ecr::check_image(aws, s.image),
        reference_chain(aws, s.profile, lease),
        alb_chain(aws, s, lease),
        own_td_chain(aws, s, lease),
        named_reads(aws, s, lease),
    );
    image?;
    let (reference, ref_reads) = reference?;
    let (alb, on_alb, zone_name, rules) = alb?;
    let (own_td, revisions) = own_td?;
    let (ref_td, ref_tg) = ref_reads.unzip();
    let early = Early {
        ref_td,
        ref_tg,
        on_alb,
        revisions,
        found_tg,
        found_svc,
        rules,
    };
    let infra = check(s, reference, alb, zone_name, early)?;
    Ok((infra, own_td))
}

/// The reference's reads of round 2, started once it is read and the lease says full path.
type RefReads = (
    Pending<OwnTd>,
    Pending<(TargetGroup, Vec<TargetGroupAttribute>)>,
);

/// The reference service; then its task definition and target group.
async fn reference_chain(
    aws: &Aws,
    p: &Profile,
    lease: &LeaseSeen,
) -> Result<(Service, Option<RefReads>)> {
    let found = ecs::find_service(aws, &p.target_cluster, &p.reference_service_arn).await?;
    let r = reference_found(p, found)?;
    let tg = r
        .load_balancers()
        .iter()
        .find_map(|l| l.target_group_arn.clone());
    let reads = match (r.task_definition(), tg) {
        (Some(td), Some(tg)) if lease_says_full_path(lease).await => {
            let (a, td) = (aws.clone(), td.to_string());
            let ref_td = start(async move { ecs::find_task_definition(&a, &td).await });
            let a = aws.clone();
            let ref_tg = start(async move { elb::target_group_by_arn(&a, &tg).await });
            Some((ref_td, ref_tg))
        }
        _ => None,
    };
    Ok((r, reads))
}

type AlbReads = (
    elb::Alb,
    Option<Pending<Vec<String>>>,
    String,
    Option<Pending<(Option<elb::HostRule>, BTreeSet<i32>)>>,
);

/// The shared ALB (then the target groups on it) beside the zone; then the listener's rules.
async fn alb_chain(aws: &Aws, s: &Subject<'_>, lease: &LeaseSeen) -> Result<AlbReads> {
    let p = s.profile;
    let (alb, zone) = tokio::join!(
        async {
            let alb = elb::alb(aws, &p.master_alb_arn).await?;
            let on_alb = lease_says_full_path(lease).await.then(|| {
                let (a, arn) = (aws.clone(), alb.arn.clone());
                start(async move { alb::target_groups_on(&a, &arn).await })
            });
            Ok::<_, anyhow::Error>((alb, on_alb))
        },
        dns::zone_name(aws, &p.dynamic_zone_id),
    );
    let (alb, on_alb) = alb?;
    let zone = zone?;
    let rules = lease_says_full_path(lease).await.then(|| {
        let (a, listener) = (aws.clone(), alb.listener_arn.clone());
        let hostname = s.names.hostname(&zone);
        start(async move { elb::scan_rules(&a, &listener, &hostname).await })
    });
    Ok((alb, on_alb, zone, rules))
}

/// The family's latest revision; then, if there is one, its ACTIVE revisions.
async fn own_td_chain(
    aws: &Aws,
    s: &Subject<'_>,
    lease: &LeaseSeen,
) -> Result<(OwnTd, Option<Pending<Vec<String>>>)> {
    let own = ecs::find_task_definition(aws, &s.names.family).await?;
    let full = own.is_some() && lease_says_full_path(lease).await;
    let revisions = full.then(|| {
        let (a, family) = (aws.clone(), s.names.family.clone());
        start(async move { ecs::list_revisions(&a, &family, TaskDefinitionStatus::Active).await })
    });
    Ok((own, revisions))
}

/// The target group and service with this environment's names, once the lease says full path.
async fn named_reads(
    aws: &Aws,
    s: &Subject<'_>,
    lease: &LeaseSeen,
) -> (Option<Pending<FoundTg>>, Option<Pending<Option<Service>>>) {
    if !lease_says_full_path(lease).await {
        return (None, None);
    }
    let (a, name) = (aws.clone(), s.names.target_group.clone());
    let tg = start(async move { elb::find_target_group(&a, &name).await });
    let (a, cluster, name) = (
        aws.clone(),
        s.profile.target_cluster.clone(),
        s.names.service.clone(),
    );
    let svc = start(async move { ecs::find_service(&a, &cluster, &name).await });
    (Some(tg), Some(svc))
}

/// Round 1's checks: the reference is usable, the names and the hostname are legal.
fn check(
    s: &Subject<'_>,
    reference: Service,
    alb: elb::Alb,
    zone_name: String,
    early: Early,
) -> Result<Infra> {
    let p = s.profile;
    check_reference(p, &reference)?;
    let lb = reference_lb(p, &reference)?;
    let container = container_of(p, lb)?;
    let ref_family = reference
        .task_definition()
        .and_then(ecs::family_of)
        .unwrap_or_default();
    if ref_family == s.names.family {
        return Err(Refusal::new(
            format!(
                "environment {} would reuse the reference's task family {ref_family}",
                s.environment
            ),
            "choose another name or name_prefix",
        )
        .into());
    }
    let zone_name = check_zone_name(
        &p.dynamic_zone_id,
        p.dynamic_zone_name.as_deref(),
        zone_name,
    )?;
    names::check_hostname(&s.names.hostname(&zone_name))?;
    Ok(Infra {
        reference_tg: lb.target_group_arn.clone().unwrap_or_default(),
        container_port: lb.container_port,
        container,
        alb,
        zone_name,
        reference,
        early,
    })
}

/// Round 2, for the full path: observe, then refuse before anything is written.
pub async fn observe(
    aws: &Aws,
    s: &Subject<'_>,
    infra: &mut Infra,
    own_td: &OwnTd,
    hostname: &str,
) -> Result<Observed> {
    let (p, n) = (s.profile, s.names);
    let ref_td_arn = infra.reference.task_definition().unwrap_or_default();
    let early = std::mem::take(&mut infra.early);
    let (ref_td, ref_tg, found_tg, rules, found_svc, revisions, on_alb) = tokio::join!(
        or_read(early.ref_td, ecs::find_task_definition(aws, ref_td_arn)),
        or_read(
            early.ref_tg,
            elb::target_group_by_arn(aws, &infra.reference_tg)
        ),
        or_read(early.found_tg, elb::find_target_group(aws, &n.target_group)),
        or_read(
            early.rules,
            elb::scan_rules(aws, &infra.alb.listener_arn, hostname)
        ),
        or_read(
            early.found_svc,
            ecs::find_service(aws, &p.target_cluster, &n.service)
        ),
        or_read(early.revisions, async {
            // Round 1 found no ACTIVE revision of the family: there is nothing to list.
            match own_td {
                Some(_) => ecs::list_revisions(aws, &n.family, TaskDefinitionStatus::Active).await,
                None => Ok(Vec::new()),
            }
        }),
        or_read(early.on_alb, alb::target_groups_on(aws, &infra.alb.arn)),
    );
    let (ref_td, _) = ref_td?.ok_or_else(|| {
        Refusal::new(
            format!("reference task definition {ref_td_arn} not found"),
            "check that the reference service's task definition revision exists",
        )
    })?;
    check_container(&ref_td, &infra.container)?;
    let (ref_tg, ref_attrs) = ref_tg?;
    let (found_rule, used) = rules?;
    let found_tg = found_tg?;
    let mut found_svc = found_svc?.filter(|s| s.status() != Some("INACTIVE"));

    check_owners(s, found_svc.as_ref(), found_tg.as_ref(), own_td)?;
    let found_tg_arn = found_tg.as_ref().map(|f| f.arn.as_str());
    check_rule(hostname, found_rule.as_ref(), found_tg_arn, s.sleeping_rule)?;
    check_capacity(
        &infra.alb,
        &on_alb?,
        found_tg_arn,
        used.len(),
        found_rule.is_some(),
    )?;

    if found_svc
        .as_ref()
        .is_some_and(|s| s.status() == Some("DRAINING"))
    {
        // A service being deleted: wait until its name is free again.
        let (timeout, interval) = (
            std::time::Duration::from_secs(300),
            std::time::Duration::from_secs(5),
        );
        ecs::wait_drained(&aws.ecs, &p.target_cluster, &n.service, timeout, interval).await?;
        found_svc = None;
    }
    Ok(Observed {
        ref_td,
        ref_tg,
        ref_attrs,
        found_tg,
        found_rule,
        used,
        found_svc,
        revisions: revisions?,
    })
}

/// An early read's result, or the read made now.
async fn or_read<T>(
    early: Option<Pending<T>>,
    read: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match early {
        Some(h) => h.await.map_err(|e| anyhow!("an early read stopped: {e}"))?,
        None => read.await,
    }
}

/// The reference service must exist (also `eden doctor`'s check).
pub fn reference_found(p: &Profile, found: Option<Service>) -> Result<Service, Refusal> {
    found.ok_or_else(|| {
        Refusal::new(
            format!(
                "reference service {} not found in cluster {}",
                p.reference_service_arn, p.target_cluster
            ),
            "check reference_service_arn and target_cluster",
        )
    })
}

/// The reference service must be ACTIVE (also `eden doctor`'s check).
pub fn check_reference(p: &Profile, reference: &Service) -> Result<(), Refusal> {
    match reference.status() {
        Some("ACTIVE") => Ok(()),
        other => Err(Refusal::new(
            format!(
                "reference service {} is {}, not ACTIVE",
                p.reference_service_arn,
                other.unwrap_or("?")
            ),
            "point reference_service_arn at an ACTIVE service",
        )),
    }
}

/// The reference's load balancer entry that names its target group.
pub fn reference_lb<'s>(p: &Profile, reference: &'s Service) -> Result<&'s LoadBalancer, Refusal> {
    reference
        .load_balancers()
        .iter()
        .find(|l| l.target_group_arn.is_some())
        .ok_or_else(|| {
            Refusal::new(
                format!(
                    "reference service {} has no target group",
                    p.reference_service_arn
                ),
                "use a reference service behind a target group: eden clones it",
            )
        })
}

/// The container the clone's target group forwards to: the profile's, else the reference's.
pub fn container_of(p: &Profile, lb: &LoadBalancer) -> Result<String, Refusal> {
    p.target_container_name
        .clone()
        .or_else(|| lb.container_name.clone())
        .ok_or_else(|| {
            Refusal::new(
                "the reference's load balancer names no container",
                "set target_container_name in the profile",
            )
        })
}

/// The zone's name, checked against `dynamic_zone_name` when the profile sets it.
pub fn check_zone_name(
    zone_id: &str,
    configured: Option<&str>,
    actual: String,
) -> Result<String, Refusal> {
    match configured {
        Some(c) if !c.trim_end_matches('.').eq_ignore_ascii_case(&actual) => Err(Refusal::new(
            format!("dynamic_zone_name {c} is not the name of hosted zone {zone_id} ({actual})"),
            "fix dynamic_zone_name or remove it",
        )),
        _ => Ok(actual),
    }
}

/// The service, target group and family with this environment's names must be ours (or
/// untagged): never another profile's or environment's.
fn check_owners(
    s: &Subject<'_>,
    found_svc: Option<&Service>,
    found_tg: Option<&elb::FoundTargetGroup>,
    own_td: &OwnTd,
) -> Result<(), Refusal> {
    let (p, n, env) = (s.profile, s.names, s.environment);
    if let Some(svc) = found_svc {
        let owner = tags::owner(ecs::tags_of(svc.tags()), &p.name, env);
        check_owner("ECS service", &n.service, owner)?;
    }
    if let Some(tg) = found_tg {
        let owner = tags::owner(elb::tags_of(&tg.tags), &p.name, env);
        check_owner("target group", &n.target_group, owner)?;
    }
    if let Some((_, td_tags)) = own_td {
        let owner = tags::owner(ecs::tags_of(td_tags), &p.name, env);
        check_owner("task definition family", &n.family, owner)?;
    }
    Ok(())
}

/// Resources with this environment's names that eden tagged for someone else are never touched.
pub fn check_owner(kind: &str, name: &str, owner: Owner) -> Result<(), Refusal> {
    match owner {
        Owner::Foreign { profile, environment } => Err(Refusal::new(
            format!("{kind} {name} belongs to eden profile {profile:?}, environment {environment:?}"),
            "profiles that share a cluster or account need distinct name_prefix values (rename name_prefix in one of them; `eden config check` lists such profiles)",
        )),
        _ => Ok(()),
    }
}

/// A rule for the hostname must forward to this environment's target group (or be its own
/// `sleeping` rule, which leads elsewhere until the environment wakes).
fn check_rule(
    hostname: &str,
    rule: Option<&elb::HostRule>,
    tg: Option<&str>,
    sleeping: Option<&str>,
) -> Result<(), Refusal> {
    match rule.filter(|r| Some(r.arn.as_str()) != sleeping) {
        Some(r) if !tg.is_some_and(|tg| r.forwards_to.iter().any(|a| a == tg)) => {
            Err(Refusal::new(
                format!(
                    "listener rule {} for {hostname} forwards to another target group ({})",
                    r.arn,
                    r.forwards_to.join(", ")
                ),
                "delete it and retry",
            ))
        }
        _ => Ok(()),
    }
}

/// The container must be one of the task definition's (also `eden doctor`'s check).
pub fn check_container(td: &TaskDefinition, container: &str) -> Result<(), Refusal> {
    let names: Vec<&str> = td
        .container_definitions()
        .iter()
        .filter_map(|c| c.name.as_deref())
        .collect();
    if !names.contains(&container) {
        return Err(Refusal::new(
            format!(
                "container {container:?} is not in task definition {} (containers: {})",
                td.task_definition_arn.as_deref().unwrap_or("?"),
                names.join(", ")
            ),
            "set target_container_name in the profile",
        ));
    }
    Ok(())
}

/// What to do when the shared ALB is full.
pub const WAY_OUT: &str = "delete stale previews (`eden ls`, then `eden delete -p PROFILE --name NAME`, or the action's gc)";

/// Room on the ALB for what this create adds: a target group (unless ours is already attached)
/// and a rule (unless ours exists).
fn check_capacity(
    alb: &elb::Alb,
    on_alb: &[String],
    found_tg: Option<&str>,
    rules: usize,
    rule_exists: bool,
) -> Result<(), Refusal> {
    let tg_attached = found_tg.is_some_and(|tg| on_alb.iter().any(|a| a == tg));
    if !tg_attached && on_alb.len() >= TARGET_GROUPS_PER_ALB {
        return Err(Refusal::new(
            format!(
                "load balancer {} already holds {} target groups, the most an Application Load Balancer can hold ({TARGET_GROUPS_PER_ALB}, a hard limit)",
                alb.arn,
                on_alb.len()
            ),
            format!("{WAY_OUT}, or point master_alb_arn at another ALB"),
        ));
    }
    if !rule_exists && rules >= RULES_PER_ALB {
        return Err(Refusal::new(
            format!(
                "listener {} already has {rules} rules, the default quota ({RULES_PER_ALB} rules per Application Load Balancer, not counting the default rule)",
                alb.listener_arn
            ),
            format!("{WAY_OUT}, raise the quota \"Rules per Application Load Balancer\" in Service Quotas, or point master_alb_arn at another ALB"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alb() -> elb::Alb {
        elb::Alb {
            arn: "alb".into(),
            dns_name: String::new(),
            canonical_zone_id: String::new(),
            dualstack: false,
            listener_arn: "listener".into(),
        }
    }

    #[test]
    fn a_full_alb_refuses_only_what_would_be_new() {
        let full: Vec<String> = (0..100).map(|i| format!("tg-{i}")).collect();
        let err = check_capacity(&alb(), &full, None, 10, false).unwrap_err();
        assert!(format!("{err}").contains("hard limit"), "{err}");
        // Our target group is already attached (a resumed run): nothing new.
        assert!(check_capacity(&alb(), &full, Some("tg-7"), 10, false).is_ok());
        let err = check_capacity(&alb(), &full[..5], None, 100, false).unwrap_err();
        assert!(format!("{err}").contains("Service Quotas"), "{err}");
        assert!(check_capacity(&alb(), &full[..5], None, 100, true).is_ok());
        assert!(check_capacity(&alb(), &full[..99], None, 99, false).is_ok());
    }

    #[test]
    fn a_rule_must_forward_to_our_target_group() {
        let rule = elb::HostRule {
            arn: "r".into(),
            forwards_to: vec!["mine".into()],
            shape: None,
        };
        assert!(check_rule("h", Some(&rule), Some("mine"), None).is_ok());
        assert!(check_rule("h", Some(&rule), Some("other"), None).is_err());
        assert!(check_rule("h", Some(&rule), None, None).is_err());
        assert!(check_rule("h", None, None, None).is_ok());
        // the environment's own rule while it sleeps leads elsewhere, and is still its own
        let own = rule.arn.clone();
        assert!(check_rule("h", Some(&rule), Some("other"), Some(&own)).is_ok());
        assert!(check_rule("h", Some(&rule), Some("other"), Some("another")).is_err());
    }

    #[test]
    fn the_configured_zone_name_must_match() {
        assert_eq!(
            check_zone_name("Z1", Some("dev.example.com."), "dev.example.com".into()).unwrap(),
            "dev.example.com"
        );
        let err = check_zone_name("Z1", Some("prod.example.com"), "dev.example.com".into());
        assert!(format!("{}", err.unwrap_err()).contains("fix dynamic_zone_name"));
    }
}
