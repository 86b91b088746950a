//! The account's side of a profile: reference, listener and certificate, zone, bucket, table,
//! ALB capacity. Each check reads; none writes.

use aws_sdk_dynamodb::types::{KeyType, ScalarAttributeType};
use aws_sdk_ecs::types::TaskDefinition;
use aws_sdk_elasticloadbalancingv2::types::{TargetGroup, TargetGroupAttribute};

use super::Check;
#[cfg(test)]
use super::Status;
use crate::aws::probe::{self, ObjectRead};
use crate::aws::{acm, alb, dns, ecs, elb, Aws};
use crate::engine::pool::{self as placement, ADD_AN_ALB, WAY_OUT};
use crate::engine::precheck;
use crate::error::Refusal;
use crate::names::{self, HOST_HEADER_MAX};
use crate::profile::Profile;

/// What the permission check needs from the reference (roles passed, the image repository).
#[derive(Debug, Default, Clone)]
pub struct Facts {
    pub task_roles: Vec<String>,
    pub repository_arn: Option<String>,
    /// The essential containers' `awslogs` groups, as (region or `None`: the profile's, group).
    pub log_groups: Vec<(Option<String>, String)>,
}

/// A key that certainly does not exist: reading it tells 404 (may list) from 403 (may not).
pub const PROBE_KEY: &str = "eden-doctor/this-key-does-not-exist";

pub async fn infra(aws: &Aws, p: &Profile, table: &str) -> (Vec<Check>, Facts) {
    let (reference, listener, zone, bucket, table) = tokio::join!(
        reference(aws, p),
        listener(aws, p),
        zone(aws, p),
        bucket(aws, p),
        table_schema(aws, table),
    );
    let (mut out, facts) = reference;
    out.extend(listener);
    out.extend(zone);
    out.extend(bucket);
    out.push(table);
    (out, facts)
}

const SVC: &str = "reference-service";
const TG: &str = "reference-target-group";

/// A refusal of create's precheck, shown as doctor's problem: the same words, the same fix.
fn refused(check: &'static str, r: Refusal) -> Check {
    Check::problem(check, r.why, r.fix)
}

/// The reference service and its target group: the precheck's own checks, read-only.
async fn reference(aws: &Aws, p: &Profile) -> (Vec<Check>, Facts) {
    let svc = match ecs::find_service(aws, &p.target_cluster, &p.reference_service_arn).await {
        Ok(svc) => svc,
        Err(e) => {
            let fix = "check target_cluster and ecs:DescribeServices";
            return (
                vec![Check::problem(SVC, format!("{e:#}"), fix)],
                Facts::default(),
            );
        }
    };
    let usable = precheck::reference_found(p, svc).and_then(|svc| {
        precheck::check_reference(p, &svc)?;
        let lb = precheck::reference_lb(p, &svc)?.clone();
        Ok((svc, lb))
    });
    let (svc, lb) = match usable {
        Ok(found) => found,
        Err(r) => return (vec![refused(SVC, r)], Facts::default()),
    };
    let td_arn = svc.task_definition().unwrap_or_default();
    let tg_arn = lb.target_group_arn().unwrap_or_default();
    let (td, tg) = tokio::join!(
        ecs::find_task_definition(aws, td_arn),
        elb::target_group_by_arn(aws, tg_arn),
    );
    let td = td.ok().flatten().map(|(td, _)| td);
    let svc_check = match &td {
        None => Check::problem(
            SVC,
            format!("its task definition {td_arn} could not be read"),
            "check ecs:DescribeTaskDefinition and that the revision exists",
        ),
        Some(td) => match precheck::container_of(p, &lb)
            .and_then(|c| precheck::check_container(td, &c).map(|_| c))
        {
            Ok(c) => Check::ok(
                SVC,
                format!(
                    "{} is ACTIVE; container {c} in {td_arn}",
                    p.reference_service_arn
                ),
            ),
            Err(r) => refused(SVC, r),
        },
    };
    let mut checks = vec![svc_check, target_group_check(tg_arn, tg)];
    checks.extend(td.as_ref().map(log_driver_check));
    (checks, facts(td.as_ref()))
}

fn target_group_check(
    tg_arn: &str,
    tg: anyhow::Result<(TargetGroup, Vec<TargetGroupAttribute>)>,
) -> Check {
    match tg {
        Ok((tg, _)) => Check::ok(
            TG,
            format!(
                "{} ({} port {})",
                tg.target_group_name().unwrap_or(tg_arn),
                tg.protocol().map(|p| p.as_str()).unwrap_or("?"),
                tg.port().unwrap_or_default()
            ),
        ),
        Err(e) => Check::problem(
            TG,
            format!("{e:#}"),
            "the reference's target group must exist: eden copies its settings",
        ),
    }
}

/// A failed wait shows the stopped container's last log lines only from the `awslogs` driver.
pub fn log_driver_check(td: &TaskDefinition) -> Check {
    const L: &str = "log-driver";
    let other: Vec<String> = td
        .container_definitions()
        .iter()
        .filter(|c| c.essential() != Some(false))
        .filter_map(|c| {
            let driver = c.log_configuration().map(|l| l.log_driver().as_str());
            match driver {
                Some("awslogs") => None,
                d => Some(format!(
                    "{} ({})",
                    c.name().unwrap_or("?"),
                    d.unwrap_or("none")
                )),
            }
        })
        .collect();
    if other.is_empty() {
        return Check::ok(L, "every essential container logs with awslogs");
    }
    Check::warning(
        L,
        format!(
            "essential containers without the awslogs driver: {}; failure logs will not be shown",
            other.join(", ")
        ),
        "use the awslogs log driver (awslogs-group, awslogs-region, awslogs-stream-prefix) in the reference's task definition",
    )
}

fn facts(td: Option<&TaskDefinition>) -> Facts {
    let Some(td) = td else {
        return Facts::default();
    };
    let task_roles = [td.task_role_arn(), td.execution_role_arn()]
        .into_iter()
        .flatten()
        .map(str::to_string)
        .collect();
    let repository_arn = td.container_definitions().iter().find_map(|c| {
        let img = crate::image::ImageRef::parse(c.image()?).ok()?;
        Some(format!(
            "arn:aws:ecr:{}:{}:repository/{}",
            img.region, img.registry_id, img.repository
        ))
    });
    let log_groups = td
        .container_definitions()
        .iter()
        .filter(|c| c.essential() != Some(false))
        .filter_map(|c| {
            let options = c.log_configuration()?.options()?;
            let group = options.get("awslogs-group")?.clone();
            Some((options.get("awslogs-region").cloned(), group))
        })
        .collect();
    Facts {
        task_roles,
        repository_arn,
        log_groups,
    }
}

/// Each ALB of the pool: its HTTPS listener, its certificate, its use against the account's
/// limits (`rules x/limit, target groups y/limit`).
async fn listener(aws: &Aws, p: &Profile) -> Vec<Check> {
    const L: &str = "listener";
    let arns = p.alb_pool();
    let (pool, zone, limits) = tokio::join!(
        elb::albs(aws, &arns),
        dns::zone_name(aws, &p.dynamic_zone_id),
        elb::account_limits(aws),
    );
    let pool = match pool {
        Ok(a) => a,
        Err(e) => {
            let fix = "point master_alb_arn at ALBs (comma-separated) with an HTTPS:443 listener";
            return vec![Check::problem(L, format!("{e:#}"), fix)];
        }
    };
    let zone = zone.ok();
    let limits = limits.as_ref().map_err(|e| format!("{e:#}"));
    let (zone, limits, n) = (zone.as_deref(), &limits, pool.len());
    let each = pool.iter().map(|alb| async move {
        let (cert, cap) = tokio::join!(
            certificate(aws, &alb.listener_arn, zone),
            capacity(aws, alb, limits.clone(), n),
        );
        vec![
            Check::ok(L, format!("{}: HTTPS:443 {}", alb.name(), alb.listener_arn)),
            cert,
            cap,
        ]
    });
    futures::future::join_all(each)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Does `cert_name` (maybe a wildcard) cover every `<label>.<zone>`?
pub fn covers_wildcard(cert_name: &str, zone: &str) -> bool {
    let zone = zone.trim_end_matches('.').to_ascii_lowercase();
    cert_name.trim_end_matches('.').to_ascii_lowercase() == format!("*.{zone}")
}

async fn certificate(aws: &Aws, listener_arn: &str, zone: Option<&str>) -> Check {
    const C: &str = "certificate";
    let Some(zone) = zone else {
        return Check::warning(
            C,
            "not checked: the zone could not be read",
            "see the zone line",
        );
    };
    let want = format!("*.{zone}");
    let fix = format!(
        "add an ACM certificate for {want} to listener {listener_arn} (elbv2 add-listener-certificates)"
    );
    let arns = match alb::listener_certificates(aws, listener_arn).await {
        Ok(a) => a,
        Err(e) => return Check::problem(C, format!("{e:#}"), fix),
    };
    let mut seen = Vec::new();
    let mut not_acm = Vec::new();
    for (arn, _) in &arns {
        if !arn.contains(":acm:") {
            not_acm.push(arn.clone());
            continue;
        }
        match acm::certificate(aws, arn).await {
            Ok(c) if c.names.iter().any(|n| covers_wildcard(n, zone)) => {
                return match c.status.as_str() {
                    "ISSUED" => Check::ok(C, format!("{arn} covers {want}")),
                    "PENDING_VALIDATION" => Check::warning(
                        C,
                        format!("{arn} covers {want} but is not issued yet (PENDING_VALIDATION)"),
                        "complete the certificate's DNS validation",
                    ),
                    other => Check::problem(C, format!("{arn} covers {want} but is {other}"), fix),
                };
            }
            Ok(c) => seen.push(format!("{arn} ({})", c.names.join(", "))),
            Err(e) => seen.push(format!("{e:#}")),
        }
    }
    if !not_acm.is_empty() && seen.is_empty() {
        return Check::warning(
            C,
            format!(
                "not checked: {} are not ACM certificates",
                not_acm.join(", ")
            ),
            format!("make sure one covers {want}"),
        );
    }
    let detail = if seen.is_empty() {
        format!("listener {listener_arn} has no certificate")
    } else {
        format!("no certificate covers {want}: {}", seen.join("; "))
    };
    Check::problem(C, detail, fix)
}

/// One ALB's use: rules across its listeners and target groups on it, against the limits.
async fn capacity(
    aws: &Aws,
    a: &elb::Alb,
    limits: Result<&elb::Limits, String>,
    pool_size: usize,
) -> Check {
    const K: &str = "alb-capacity";
    let (usage, limits) = match (elb::alb_use(aws, a, "").await, limits) {
        (Ok(u), Ok(l)) => (u, *l),
        (Err(e), _) => {
            let fix = "check elasticloadbalancing:DescribeTargetGroups and DescribeRules";
            return Check::problem(K, format!("{e:#}"), fix);
        }
        (_, Err(e)) => {
            return Check::problem(K, e, "check elasticloadbalancing:DescribeAccountLimits")
        }
    };
    let detail = format!(
        "{}: {} ({})",
        a.name(),
        placement::usage_line(&usage, &limits),
        placement::limits_source(&limits)
    );
    let (rules, tgs) = placement::free(&usage, &limits);
    let fix = format!("{WAY_OUT}; {ADD_AN_ALB}; or raise the rules quota in Service Quotas");
    let nearly = |free: usize, limit: usize| free * 10 <= limit;
    if rules == 0 || tgs == 0 {
        // one full ALB of several is not a problem: creates go to the others
        match pool_size {
            1 => Check::problem(K, detail, fix),
            _ => Check::warning(K, detail, fix),
        }
    } else if nearly(rules, limits.rules) || nearly(tgs, limits.target_groups) {
        Check::warning(K, detail, fix)
    } else {
        Check::ok(K, detail)
    }
}

async fn zone(aws: &Aws, p: &Profile) -> Vec<Check> {
    const Z: &str = "zone";
    let name = match dns::zone_name(aws, &p.dynamic_zone_id).await {
        Ok(n) => n,
        Err(e) => {
            let fix = "check dynamic_zone_id and route53:GetHostedZone";
            return vec![Check::problem(Z, format!("{e:#}"), fix)];
        }
    };
    let zone_check = match precheck::check_zone_name(
        &p.dynamic_zone_id,
        p.dynamic_zone_name.as_deref(),
        name.clone(),
    ) {
        Ok(_) => Check::ok(Z, format!("{} is {name}", p.dynamic_zone_id)),
        Err(r) => refused(Z, r),
    };
    vec![zone_check, hostname_length(&p.domain_name_prefix, &name)]
}

/// How long an environment name can be before its hostname exceeds a host-header condition.
pub fn hostname_length(domain_name_prefix: &str, zone: &str) -> Check {
    const H: &str = "hostname-length";
    let room = HOST_HEADER_MAX as i64 - 1 - zone.len() as i64;
    let sample = names::ResourceNames::new("x", domain_name_prefix, "pr-1").hostname(zone);
    let fix = "use a shorter zone (dynamic_zone_id) or domain_name_prefix";
    if names::check_hostname(&sample).is_err() {
        return Check::problem(
            H,
            format!("{sample} is longer than {HOST_HEADER_MAX} characters (the ALB host-header limit): every create fails"),
            fix,
        );
    }
    if room >= names::DNS_LABEL_MAX as i64 {
        return Check::ok(
            H,
            format!("any environment name fits in {HOST_HEADER_MAX} characters"),
        );
    }
    let env_max = room - domain_name_prefix.len() as i64 - 1;
    Check::warning(
        H,
        format!(
            "environment names longer than {env_max} characters make hostnames over {HOST_HEADER_MAX} characters (the ALB host-header limit) and are refused"
        ),
        fix,
    )
}

async fn bucket(aws: &Aws, p: &Profile) -> Vec<Check> {
    const B: &str = "bucket";
    let Some(f) = &p.endpoints else {
        return vec![];
    };
    let (file, probe) = tokio::join!(
        probe::read_object(aws, &f.bucket, &f.key),
        probe::read_object(aws, &f.bucket, PROBE_KEY),
    );
    let at = format!("s3://{}/{}", f.bucket, f.key);
    let list_fix = format!(
        "grant s3:ListBucket on arn:aws:s3:::{} (without it S3 answers 403, not 404, for a missing key)",
        f.bucket
    );
    let check = match (file, probe) {
        (Err(e), _) | (_, Err(e)) => Check::problem(B, format!("{e:#}"), "check the bucket name and s3:GetObject"),
        (Ok(ObjectRead::NoBucket), _) => Check::problem(
            B,
            format!("bucket {} does not exist", f.bucket),
            "create the bucket or fix endpoint_s3_bucket_name",
        ),
        (Ok(ObjectRead::Found), Ok(ObjectRead::Forbidden)) => Check::warning(
            B,
            format!("{at} is readable; a missing key answers 403: s3:ListBucket is not granted"),
            list_fix,
        ),
        (Ok(ObjectRead::Found), _) => Check::ok(B, format!("{at} is readable; a missing key answers 404")),
        (Ok(ObjectRead::Missing), _) => Check::ok(
            B,
            format!("{at} does not exist yet (the first create writes it); a missing key answers 404"),
        ),
        (Ok(ObjectRead::Forbidden), Ok(ObjectRead::Forbidden)) => Check::warning(
            B,
            format!("reading {at} answers 403, and so does a key that does not exist: s3:ListBucket is not granted, so either the file does not exist yet (eden then creates it with a conditional write) or s3:GetObject is denied"),
            list_fix,
        ),
        (Ok(ObjectRead::Forbidden), _) => Check::problem(
            B,
            format!("reading {at} answers 403 AccessDenied"),
            format!("grant s3:GetObject and s3:PutObject on arn:aws:s3:::{}/{}", f.bucket, f.key),
        ),
    };
    vec![check]
}

async fn table_schema(aws: &Aws, table: &str) -> Check {
    const T: &str = "table";
    let layout = "partition key `type` (S), sort key `name` (S), as the Python eden";
    match probe::table_key(aws, table).await {
        Err(e) => Check::problem(T, format!("{e:#}"), "check dynamodb:DescribeTable"),
        Ok(None) => Check::warning(
            T,
            format!("table {table} does not exist; the first create makes it"),
            "allow dynamodb:CreateTable once, or create it (docs/aws-prerequisites.cfn.yml)",
        ),
        Ok(Some(key)) => {
            let want = [("type", KeyType::Hash), ("name", KeyType::Range)];
            let right = key.len() == 2
                && want.iter().all(|(n, k)| {
                    key.iter().any(|(kn, kk, ty)| {
                        kn == n && kk == k && ty.as_ref() == Some(&ScalarAttributeType::S)
                    })
                });
            let have: Vec<String> = key
                .iter()
                .map(|(n, k, t)| {
                    format!(
                        "{n} {} ({})",
                        k.as_str(),
                        t.as_ref().map(|t| t.as_str()).unwrap_or("?")
                    )
                })
                .collect();
            if right {
                Check::ok(T, format!("{table}: {layout}"))
            } else {
                Check::problem(
                    T,
                    format!("{table} has key {}; eden needs {layout}", have.join(", ")),
                    "point --remote-table-name (EDEN_TABLE) at a table with that key, or at a new name (created on the first create)",
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_without_awslogs_are_a_warning() {
        use aws_sdk_ecs::types::{ContainerDefinition, LogConfiguration, LogDriver};
        let container = |name: &str, driver: Option<LogDriver>, essential: bool| {
            let log = driver.map(|d| LogConfiguration::builder().log_driver(d).build().unwrap());
            ContainerDefinition::builder()
                .name(name)
                .essential(essential)
                .set_log_configuration(log)
                .build()
        };
        let td = |containers: Vec<ContainerDefinition>| {
            TaskDefinition::builder()
                .set_container_definitions(Some(containers))
                .build()
        };
        let ok = log_driver_check(&td(vec![
            container("app", Some(LogDriver::Awslogs), true),
            container("sidecar", None, false),
        ]));
        assert_eq!(ok.status, Status::Ok, "{ok:?}");
        let warn = log_driver_check(&td(vec![
            container("app", Some(LogDriver::Fluentd), true),
            container("log-router", None, true),
        ]));
        assert_eq!(warn.status, Status::Warning);
        assert!(
            warn.detail.contains("app (fluentd), log-router (none)"),
            "{}",
            warn.detail
        );
        assert!(warn.detail.contains("failure logs will not be shown"));
    }

    #[test]
    fn wildcards_cover_one_label() {
        assert!(covers_wildcard("*.dev.example.com", "dev.example.com."));
        assert!(covers_wildcard("*.DEV.example.com", "dev.example.com"));
        assert!(!covers_wildcard("dev.example.com", "dev.example.com"));
        assert!(!covers_wildcard("*.example.com", "dev.example.com"));
    }

    #[test]
    fn hostname_room() {
        assert_eq!(hostname_length("api", "dev.example.com").status, Status::Ok);
        let zone = format!("{}.example.com", "z".repeat(60)); // 72: 55 left for the label
        let c = hostname_length("api", &zone);
        assert_eq!(c.status, Status::Warning);
        assert!(
            c.detail.contains("longer than 51 characters"),
            "{}",
            c.detail
        );
        let zone = format!("{}.{}.example.com", "z".repeat(60), "y".repeat(60));
        assert_eq!(hostname_length("api", &zone).status, Status::Problem);
    }
}
