//! The permissions the caller lacks: iam:SimulatePrincipalPolicy for every action on eden's one
//! list (`aws::permissions`), on the resources it would call it on (with eden's tags as
//! condition context), one simulation per kind of resource. Where the caller may not simulate,
//! the read-only checks' results stand in.

use std::collections::BTreeMap;

use super::checks::Facts;
use super::Check;
use crate::aws::iam::{self, Context, Refused, SimulationError};
use crate::aws::permissions::{self, On, PERMISSIONS};
use crate::aws::sts::Identity;
use crate::aws::Aws;
use crate::names::ResourceNames;
use crate::profile::Profile;

/// The ARNs eden would act on for a sample environment of `p`, by kind of resource. Kinds
/// doctor cannot name (the listener and its certificate, the server's queue, the caller) are
/// left out: those actions are not simulated.
fn resources(p: &Profile, table: &str, account: &str, facts: &Facts) -> BTreeMap<On, Vec<String>> {
    let mut m = ecs_and_elb(p, account);
    let region = p.region().unwrap_or_default();
    let partition = partition(p);
    m.insert(On::Any, vec!["*".to_string()]);
    m.insert(
        On::Zone,
        vec![format!(
            "arn:{partition}:route53:::hostedzone/{}",
            p.dynamic_zone_id
        )],
    );
    m.insert(
        On::Table,
        vec![format!(
            "arn:{partition}:dynamodb:{region}:{account}:table/{table}"
        )],
    );
    if let Some(f) = &p.endpoints {
        m.insert(
            On::Object,
            vec![format!("arn:{partition}:s3:::{}/{}", f.bucket, f.key)],
        );
        m.insert(
            On::Bucket,
            vec![format!("arn:{partition}:s3:::{}", f.bucket)],
        );
    }
    if let Some(r) = &facts.repository_arn {
        m.insert(On::Repository, vec![r.clone()]);
    }
    if !facts.task_roles.is_empty() {
        m.insert(On::Role, facts.task_roles.clone());
    }
    if !facts.log_groups.is_empty() {
        let arns = facts.log_groups.iter().map(|(r, group)| {
            let r = r.as_deref().unwrap_or(region);
            format!("arn:{partition}:logs:{r}:{account}:log-group:{group}:*")
        });
        m.insert(On::LogGroup, arns.collect());
    }
    m
}

fn partition(p: &Profile) -> &str {
    p.reference_service_arn.split(':').nth(1).unwrap_or("aws")
}

/// The ECS and ELB resources of environment `pr-1`, and the reference service.
fn ecs_and_elb(p: &Profile, account: &str) -> BTreeMap<On, Vec<String>> {
    let region = p.region().unwrap_or_default();
    let partition = partition(p);
    let n = ResourceNames::new(&p.name_prefix, &p.domain_name_prefix, "pr-1");
    let cluster = p.target_cluster.rsplit('/').next().unwrap_or_default();
    let ecs = format!("arn:{partition}:ecs:{region}:{account}");
    let elb = format!("arn:{partition}:elasticloadbalancing:{region}:{account}");
    // a rule on every ALB of the pool
    let rules = p
        .alb_pool()
        .iter()
        .filter_map(|a| a.split_once(":loadbalancer/").map(|(_, r)| r.to_string()))
        .map(|alb_path| format!("{elb}:listener-rule/{alb_path}/0123456789abcdef/0123456789abcdef"))
        .collect();
    BTreeMap::from([
        (
            On::Service,
            vec![format!("{ecs}:service/{cluster}/{}", n.service)],
        ),
        (On::Reference, vec![p.reference_service_arn.clone()]),
        (
            On::TaskDefinition,
            vec![format!("{ecs}:task-definition/{}:1", n.family)],
        ),
        (
            On::TargetGroup,
            vec![format!(
                "{elb}:targetgroup/{}/0123456789abcdef",
                n.target_group
            )],
        ),
        (On::Rule, rules),
    ])
}

/// Condition keys eden's requests carry: its tags, the service a role is passed to.
fn context(p: &Profile) -> Vec<Context> {
    let profile = crate::engine::tags::value(&p.name);
    vec![
        ("aws:ResourceTag/eden:managed", vec!["true".into()], false),
        ("aws:ResourceTag/eden:profile", vec![profile.clone()], false),
        ("aws:RequestTag/eden:managed", vec!["true".into()], false),
        ("aws:RequestTag/eden:profile", vec![profile], false),
        (
            "aws:TagKeys",
            vec![
                "eden:managed".into(),
                "eden:profile".into(),
                "eden:environment".into(),
            ],
            true,
        ),
        (
            "iam:PassedToService",
            vec!["ecs-tasks.amazonaws.com".into()],
            false,
        ),
    ]
}

/// The caller (for the report) and the permissions line.
pub async fn check(
    aws: &Aws,
    p: &Profile,
    table: &str,
    facts: &Facts,
    identity: anyhow::Result<Identity>,
) -> (Option<String>, Check) {
    const P: &str = "permissions";
    let id = match identity {
        Ok(id) => id,
        Err(e) => {
            let fix = "configure AWS credentials (environment, profile or role)";
            return (None, Check::problem(P, format!("{e:#}"), fix));
        }
    };
    let caller = Some(id.arn.clone());
    let Some(principal) = id.principal_arn() else {
        let detail = format!("{} is not a user or role: not simulated", id.arn);
        return (caller, Check::ok(P, detail));
    };
    let by_resource = resources(p, table, &id.account, facts);
    let ctx = context(p);
    let sims = by_resource.iter().map(|(on, arns)| {
        let actions: Vec<&str> = PERMISSIONS
            .iter()
            .filter(|p| p.on == *on)
            .map(|p| p.action)
            .collect();
        let (principal, ctx) = (&principal, &ctx);
        async move { iam::simulate(aws, principal, &actions, arns, ctx).await }
    });
    let results = futures::future::join_all(sims).await;
    let mut refused = Vec::new();
    for r in results {
        match r {
            Ok(mut r) => refused.append(&mut r),
            Err(e) => return (caller, fallback(&principal, e)),
        }
    }
    (caller, judge(&principal, refused))
}

/// No simulation: the read-only checks (every other line) are the evidence.
fn fallback(principal: &str, e: SimulationError) -> Check {
    Check::warning(
        "permissions",
        format!("could not simulate {principal}'s policies ({e}); judged by the read-only checks above only, which cover the reads but not the writes"),
        "allow iam:SimulatePrincipalPolicy on the role to check every action, or compare it with docs/aws-prerequisites.cfn.yml",
    )
}

/// Problem when something a create needs is refused; warning when only deletes are affected.
pub fn judge(principal: &str, refused: Vec<Refused>) -> Check {
    const P: &str = "permissions";
    if refused.is_empty() {
        return Check::ok(P, format!("{principal} may make every call eden makes"));
    }
    let blocking = refused
        .iter()
        .any(|r| permissions::blocks_create(&r.action));
    let list: Vec<String> = refused
        .iter()
        .map(|r| format!("{} on {} ({})", r.action, r.resource, r.decision))
        .collect();
    let detail = format!("{principal} lacks {}", list.join(", "));
    let fix = "grant these to the role eden runs as (docs/aws-prerequisites.cfn.yml lists every action eden needs)";
    if blocking {
        Check::problem(P, detail, fix)
    } else {
        Check::warning(P, format!("{detail} (not needed by create)"), fix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(action: &str) -> Refused {
        Refused {
            action: action.into(),
            resource: "arn".into(),
            decision: "implicitDeny".into(),
        }
    }

    #[test]
    fn create_actions_block_delete_actions_warn() {
        use super::super::Status;
        assert_eq!(judge("r", vec![]).status, Status::Ok);
        let c = judge("r", vec![refused("s3:ListBucket")]);
        assert_eq!(c.status, Status::Problem);
        assert!(c.detail.contains("s3:ListBucket on arn (implicitDeny)"));
        assert_eq!(
            judge("r", vec![refused("ecs:DeleteService")]).status,
            Status::Warning
        );
    }

    #[test]
    fn every_action_has_a_resource() {
        let raw = [
            ("name_prefix", "dev-api"),
            ("reference_service_arn", "arn:aws:ecs:ap-northeast-1:123456789012:service/dev/api"),
            ("target_cluster", "dev"),
            ("domain_name_prefix", "api"),
            ("master_alb_arn", "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:loadbalancer/app/common/0123456789abcdef"),
            ("dynamic_zone_id", "Z0123456789ABC"),
            ("endpoint_s3_bucket_name", "cfg"),
            ("endpoint_s3_key", "envs.json"),
            ("endpoint_update_key", "api_endpoint"),
            ("endpoint_name_prefix", "dev"),
            ("endpoint_env_type", "preview"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let p = Profile::from_raw("api", &raw).unwrap();
        let facts = Facts {
            task_roles: vec!["arn:aws:iam::123456789012:role/task".into()],
            repository_arn: Some("arn:aws:ecr:ap-northeast-1:123456789012:repository/api".into()),
            log_groups: vec![(None, "/ecs/api".into())],
        };
        let m = resources(&p, "eden", "123456789012", &facts);
        for p in PERMISSIONS {
            let simulated = m.contains_key(&p.on);
            let unnamed = [On::Listener, On::Queue, On::Certificate, On::Principal].contains(&p.on);
            assert_eq!(simulated, !unnamed, "{}", p.action);
        }
        assert_eq!(m[&On::Any], ["*"]);
        assert_eq!(m[&On::Reference], vec![p.reference_service_arn.clone()]);
        assert_eq!(
            m[&On::LogGroup],
            ["arn:aws:logs:ap-northeast-1:123456789012:log-group:/ecs/api:*"]
        );
        assert_eq!(
            m[&On::Rule],
            vec!["arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:listener-rule/app/common/0123456789abcdef/0123456789abcdef/0123456789abcdef"]
        );
        assert_eq!(
            m[&On::Service],
            vec!["arn:aws:ecs:ap-northeast-1:123456789012:service/dev/dev-api-pr-1"]
        );
        // a pool: the rule actions are simulated on a rule of every ALB
        let mut pool = p.clone();
        pool.master_alb_arn = format!(
            "{},arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:loadbalancer/app/common-2/fedcba9876543210",
            p.master_alb_arn
        );
        let m = resources(&pool, "eden", "123456789012", &facts);
        assert_eq!(m[&On::Rule].len(), 2);
        assert!(m[&On::Rule][1].contains(":listener-rule/app/common-2/fedcba9876543210/"));
    }
}
