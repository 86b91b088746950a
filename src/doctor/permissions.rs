//! The permissions the caller lacks: iam:SimulatePrincipalPolicy for every action eden calls,
//! on the resources it would call it on (with eden's tags as condition context). Where the
//! caller may not simulate, the read-only checks' results stand in.

use std::collections::BTreeMap;

use super::checks::Facts;
use super::Check;
use crate::aws::iam::{self, Context, Refused, SimulationError};
use crate::aws::sts::Identity;
use crate::aws::Aws;
use crate::names::ResourceNames;
use crate::profile::Profile;

/// Which runs an action is needed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// create (and usually delete): missing blocks creates.
    Create,
    /// delete, ls, gc, table creation: missing leaves previews behind or unlisted.
    Other,
}

/// A resource kind eden acts on; one simulation per kind (with its concrete ARN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum On {
    Service,
    TaskDefinition,
    Alb,
    TargetGroup,
    Rule,
    Zone,
    Table,
    Object,
    Bucket,
    Repository,
    Role,
}

/// Every action eden calls, and on what.
const ACTIONS: &[(&str, On, Need)] = &[
    ("ecs:DescribeServices", On::Service, Need::Create),
    ("ecs:CreateService", On::Service, Need::Create),
    ("ecs:UpdateService", On::Service, Need::Create),
    ("ecs:TagResource", On::Service, Need::Create),
    ("ecs:DeleteService", On::Service, Need::Other),
    (
        "ecs:DescribeTaskDefinition",
        On::TaskDefinition,
        Need::Create,
    ),
    ("ecs:ListTaskDefinitions", On::TaskDefinition, Need::Create),
    (
        "ecs:RegisterTaskDefinition",
        On::TaskDefinition,
        Need::Create,
    ),
    (
        "ecs:DeregisterTaskDefinition",
        On::TaskDefinition,
        Need::Other,
    ),
    ("ecs:DeleteTaskDefinitions", On::TaskDefinition, Need::Other),
    (
        "elasticloadbalancing:DescribeLoadBalancers",
        On::Alb,
        Need::Create,
    ),
    (
        "elasticloadbalancing:DescribeListeners",
        On::Alb,
        Need::Create,
    ),
    ("elasticloadbalancing:DescribeRules", On::Alb, Need::Create),
    (
        "elasticloadbalancing:DescribeTargetGroups",
        On::Alb,
        Need::Create,
    ),
    (
        "elasticloadbalancing:DescribeTargetGroupAttributes",
        On::TargetGroup,
        Need::Create,
    ),
    (
        "elasticloadbalancing:DescribeTags",
        On::TargetGroup,
        Need::Create,
    ),
    (
        "elasticloadbalancing:CreateTargetGroup",
        On::TargetGroup,
        Need::Create,
    ),
    (
        "elasticloadbalancing:ModifyTargetGroup",
        On::TargetGroup,
        Need::Create,
    ),
    (
        "elasticloadbalancing:ModifyTargetGroupAttributes",
        On::TargetGroup,
        Need::Create,
    ),
    (
        "elasticloadbalancing:AddTags",
        On::TargetGroup,
        Need::Create,
    ),
    (
        "elasticloadbalancing:DeleteTargetGroup",
        On::TargetGroup,
        Need::Other,
    ),
    ("elasticloadbalancing:CreateRule", On::Rule, Need::Create),
    ("elasticloadbalancing:AddTags", On::Rule, Need::Create),
    ("elasticloadbalancing:DeleteRule", On::Rule, Need::Other),
    ("route53:GetHostedZone", On::Zone, Need::Create),
    ("route53:ListResourceRecordSets", On::Zone, Need::Other),
    ("route53:ChangeResourceRecordSets", On::Zone, Need::Create),
    ("dynamodb:GetItem", On::Table, Need::Other),
    ("dynamodb:PutItem", On::Table, Need::Create),
    ("dynamodb:UpdateItem", On::Table, Need::Create),
    ("dynamodb:DeleteItem", On::Table, Need::Other),
    ("dynamodb:Query", On::Table, Need::Other),
    ("dynamodb:DescribeTable", On::Table, Need::Other),
    ("s3:GetObject", On::Object, Need::Create),
    ("s3:PutObject", On::Object, Need::Create),
    ("s3:ListBucket", On::Bucket, Need::Create),
    ("ecr:DescribeImages", On::Repository, Need::Create),
    ("iam:PassRole", On::Role, Need::Create),
];

/// The ARNs eden would act on for a sample environment of `p`.
fn resources(p: &Profile, table: &str, account: &str, facts: &Facts) -> BTreeMap<On, Vec<String>> {
    let region = p.region().unwrap_or_default();
    let partition = p.reference_service_arn.split(':').nth(1).unwrap_or("aws");
    let n = ResourceNames::new(&p.name_prefix, &p.domain_name_prefix, "pr-1");
    let cluster = p.target_cluster.rsplit('/').next().unwrap_or_default();
    let elb = format!("arn:{partition}:elasticloadbalancing:{region}:{account}");
    let alb_path = p
        .master_alb_arn
        .split_once(":loadbalancer/")
        .map(|(_, r)| r.to_string())
        .unwrap_or_default();
    let mut m = BTreeMap::new();
    m.insert(
        On::Service,
        vec![format!(
            "arn:{partition}:ecs:{region}:{account}:service/{cluster}/{}",
            n.service
        )],
    );
    m.insert(
        On::TaskDefinition,
        vec![format!(
            "arn:{partition}:ecs:{region}:{account}:task-definition/{}:1",
            n.family
        )],
    );
    m.insert(On::Alb, vec![p.master_alb_arn.clone()]);
    m.insert(
        On::TargetGroup,
        vec![format!(
            "{elb}:targetgroup/{}/0123456789abcdef",
            n.target_group
        )],
    );
    m.insert(
        On::Rule,
        vec![format!(
            "{elb}:listener-rule/{}/0123456789abcdef/0123456789abcdef",
            alb_path
        )],
    );
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
    m
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
        let actions: Vec<&str> = ACTIONS
            .iter()
            .filter(|(_, o, _)| o == on)
            .map(|(a, _, _)| *a)
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
    let needed_by_create = |r: &Refused| {
        ACTIONS
            .iter()
            .any(|(a, _, need)| *a == r.action && *need == Need::Create)
    };
    let blocking = refused.iter().any(needed_by_create);
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
        };
        let m = resources(&p, "eden", "123456789012", &facts);
        for (action, on, _) in ACTIONS {
            assert!(m.contains_key(on), "{action}");
        }
        assert_eq!(
            m[&On::Rule],
            vec!["arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:listener-rule/app/common/0123456789abcdef/0123456789abcdef/0123456789abcdef"]
        );
        assert_eq!(
            m[&On::Service],
            vec!["arn:aws:ecs:ap-northeast-1:123456789012:service/dev/dev-api-pr-1"]
        );
    }
}
