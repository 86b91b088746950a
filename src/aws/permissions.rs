//! The one list of the IAM actions eden needs: each with the kind of resource it is scoped to,
//! what needs it, and the SDK operations (as the call log names them, `Service.Operation`)
//! that need it.
//!
//! `eden doctor` simulates the caller's policies from this list (`doctor::permissions`);
//! `tests/permissions.rs` checks that `docs/aws-prerequisites.cfn.yml` grants every action on
//! it (on a resource of its kind) and that every call the lifecycle tests log maps to an action
//! on it. An operation added under `src/aws/` without an entry here fails that test.
//!
//! IAM names that differ from the operation: ELBv2's prefix is `elasticloadbalancing`; S3's
//! HeadObject needs `s3:GetObject` and ListObjectsV2 `s3:ListBucket` (eden sends neither);
//! some operations need more than their own action (tags on create need the tagging action,
//! a role in a task definition needs `iam:PassRole`, a GET of a missing key answers 404 rather
//! than 403 only with `s3:ListBucket`). STS GetCallerIdentity needs no permission.

/// The kind of resource an action is scoped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum On {
    /// `*`: AWS allows nothing narrower (ELB Describe*, ECS task-definition reads and
    /// registration).
    Any,
    /// A preview's ECS service: `service/<cluster>/<name_prefix>-*`.
    Service,
    /// The reference service eden copies (read only).
    Reference,
    /// eden's task-definition families: `task-definition/<name_prefix>-*:*`.
    TaskDefinition,
    /// eden's target groups: `targetgroup/<name_prefix>-*/*`.
    TargetGroup,
    /// eden's host-header rules on the shared ALB's listener: `listener-rule/app/<alb>/*`.
    Rule,
    /// The shared ALB's HTTPS listener that eden adds rules to.
    Listener,
    /// The previews' hosted zone: `hostedzone/<id>`.
    Zone,
    /// The state table.
    Table,
    /// The environments file: `<bucket>/<key>`.
    Object,
    /// The environments file's bucket.
    Bucket,
    /// The ECR repositories of the images previews run.
    Repository,
    /// The task, execution (and EBS infrastructure) roles of the reference task definition.
    Role,
    /// The SQS FIFO queue of `eden serve` (`queue = "sqs://…"`).
    Queue,
    /// The listener's ACM certificate (doctor).
    Certificate,
    /// The caller's own role or user (doctor's policy simulation).
    Principal,
    /// The reference's log groups (its task definition's `awslogs-group`), read on a failed
    /// wait.
    LogGroup,
}

/// What needs an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Use {
    /// create and deploy (the CLI, the Action, the server): without it they fail.
    Create,
    /// create and deploy retiring old revisions: without it old revisions stay (a warning).
    Prune,
    /// creating the state table when it is missing (the first create, `config push`).
    NewTable,
    /// delete (also gc's and the server's deletes).
    Delete,
    /// `eden ls`.
    Ls,
    /// gc of closed-PR and idle previews (the Action's `gc`, the server's rechecks).
    Gc,
    /// the server's reconcile loop.
    Reconcile,
    /// the server's image wait and API (any queue).
    Serve,
    /// the server with `queue = "sqs://…"`.
    ServeSqs,
    /// the readiness wait (the Action's `wait`).
    Wait,
    /// remote profiles (`eden config push/pull/ls/remote-rm`, `remote-profile`).
    Profiles,
    /// `eden unlock`.
    Unlock,
    /// `eden doctor`'s own reads.
    Doctor,
    /// sleep and wake (the CLI, the Action's `sleep`/`wake`, the server's waker and
    /// reconcile loop); a wake's readiness wait is `Wait`.
    Sleep,
    /// finding idle previews to put to sleep (`sleep_after` in eden serve, `eden gc
    /// --sleep-after`).
    Idleness,
}

/// One action on one kind of resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    /// The IAM action, `prefix:Name`.
    pub action: &'static str,
    pub on: On,
    pub uses: &'static [Use],
    /// The operations that need it, as the call log names them (`Service.Operation`).
    pub calls: &'static [&'static str],
}

impl Permission {
    /// Without it, creates or deploys (or the readiness wait they are followed by) fail.
    pub fn blocks_create(&self) -> bool {
        self.uses
            .iter()
            .any(|u| matches!(u, Use::Create | Use::Wait))
    }
}

/// Operations that need no permission at all.
pub const UNAUTHORIZED_CALLS: &[&str] = &["STS.GetCallerIdentity"];

const fn p(
    action: &'static str,
    on: On,
    uses: &'static [Use],
    calls: &'static [&'static str],
) -> Permission {
    Permission {
        action,
        on,
        uses,
        calls,
    }
}

use On::*;
use Use::*;

/// Every IAM action eden needs.
#[rustfmt::skip]
pub const PERMISSIONS: &[Permission] = &[
    // ECS
    p("ecs:DescribeServices", Service, &[Create, Delete, Wait, Sleep], &["ECS.DescribeServices"]),
    p("ecs:DescribeServices", Reference, &[Create, Doctor], &["ECS.DescribeServices"]),
    p("ecs:DescribeTaskDefinition", Any, &[Create, Prune, Doctor, Wait], &["ECS.DescribeTaskDefinition"]),
    p("ecs:ListTaskDefinitions", Any, &[Create, Delete], &["ECS.ListTaskDefinitions"]),
    p("ecs:RegisterTaskDefinition", Any, &[Create], &["ECS.RegisterTaskDefinition"]),
    p("ecs:DeregisterTaskDefinition", TaskDefinition, &[Prune, Delete], &["ECS.DeregisterTaskDefinition"]),
    p("ecs:DeleteTaskDefinitions", TaskDefinition, &[Prune, Delete], &["ECS.DeleteTaskDefinitions"]),
    p("ecs:CreateService", Service, &[Create], &["ECS.CreateService"]),
    p("ecs:UpdateService", Service, &[Create, Sleep], &["ECS.UpdateService"]),
    p("ecs:DeleteService", Service, &[Delete], &["ECS.DeleteService"]),
    p("ecs:TagResource", Service, &[Create, Delete], &["ECS.TagResource", "ECS.CreateService"]),
    p("ecs:TagResource", TaskDefinition, &[Create], &["ECS.RegisterTaskDefinition"]),
    p("iam:PassRole", Role, &[Create], &["ECS.RegisterTaskDefinition", "ECS.CreateService"]),
    p("ecs:ListTasks", Any, &[Wait], &["ECS.ListTasks"]),
    p("ecs:DescribeTasks", Any, &[Wait], &["ECS.DescribeTasks"]),
    // ELBv2: every Describe* takes "*" only.
    p("elasticloadbalancing:DescribeLoadBalancers", Any, &[Create, Doctor], &["Elastic Load Balancing v2.DescribeLoadBalancers"]),
    p("elasticloadbalancing:DescribeListeners", Any, &[Create, Doctor], &["Elastic Load Balancing v2.DescribeListeners"]),
    p("elasticloadbalancing:DescribeRules", Any, &[Create, Delete, Doctor], &["Elastic Load Balancing v2.DescribeRules"]),
    p("elasticloadbalancing:DescribeTargetGroups", Any, &[Create, Delete, Doctor, Wait, Sleep], &["Elastic Load Balancing v2.DescribeTargetGroups"]),
    p("elasticloadbalancing:DescribeTargetGroupAttributes", Any, &[Create, Doctor], &["Elastic Load Balancing v2.DescribeTargetGroupAttributes"]),
    p("elasticloadbalancing:DescribeTags", Any, &[Create, Delete], &["Elastic Load Balancing v2.DescribeTags"]),
    p("elasticloadbalancing:DescribeTargetHealth", Any, &[Wait], &["Elastic Load Balancing v2.DescribeTargetHealth"]),
    p("elasticloadbalancing:DescribeAccountLimits", Any, &[Create, Doctor], &["Elastic Load Balancing v2.DescribeAccountLimits"]),
    p("elasticloadbalancing:DescribeListenerCertificates", Any, &[Doctor], &["Elastic Load Balancing v2.DescribeListenerCertificates"]),
    p("elasticloadbalancing:CreateTargetGroup", TargetGroup, &[Create], &["Elastic Load Balancing v2.CreateTargetGroup"]),
    p("elasticloadbalancing:ModifyTargetGroup", TargetGroup, &[Create], &["Elastic Load Balancing v2.ModifyTargetGroup"]),
    p("elasticloadbalancing:ModifyTargetGroupAttributes", TargetGroup, &[Create], &["Elastic Load Balancing v2.ModifyTargetGroupAttributes"]),
    p("elasticloadbalancing:DeleteTargetGroup", TargetGroup, &[Delete], &["Elastic Load Balancing v2.DeleteTargetGroup"]),
    p("elasticloadbalancing:CreateRule", Rule, &[Create], &["Elastic Load Balancing v2.CreateRule"]),
    p("elasticloadbalancing:CreateRule", Listener, &[Create], &["Elastic Load Balancing v2.CreateRule"]),
    // A deploy realigns a rule with the profile's access keys, and deletes a bypass rule the
    // profile no longer has; eden's own rules only: a sleeping preview's rule leads to the
    // waker, and back (a deploy to a sleeping preview forwards it again).
    p("elasticloadbalancing:ModifyRule", Rule, &[Create, Sleep], &["Elastic Load Balancing v2.ModifyRule"]),
    p("elasticloadbalancing:DeleteRule", Rule, &[Create, Delete], &["Elastic Load Balancing v2.DeleteRule"]),
    p("elasticloadbalancing:AddTags", TargetGroup, &[Create, Delete], &["Elastic Load Balancing v2.AddTags", "Elastic Load Balancing v2.CreateTargetGroup"]),
    p("elasticloadbalancing:AddTags", Rule, &[Create, Delete], &["Elastic Load Balancing v2.AddTags", "Elastic Load Balancing v2.CreateRule"]),
    // Route 53
    p("route53:GetHostedZone", Zone, &[Create, Delete, Doctor], &["Route 53.GetHostedZone"]),
    p("route53:ListResourceRecordSets", Zone, &[Delete], &["Route 53.ListResourceRecordSets"]),
    p("route53:ChangeResourceRecordSets", Zone, &[Create, Delete], &["Route 53.ChangeResourceRecordSets"]),
    // A change's id is only known once made: GetChange takes "*".
    p("route53:GetChange", Any, &[Wait], &["Route 53.GetChange"]),
    // CloudWatch Logs: the tail of a stopped task's container log
    p("logs:GetLogEvents", LogGroup, &[Wait], &["CloudWatch Logs.GetLogEvents"]),
    // CloudWatch: the previews' RequestCount (idleness: the reconcile loop, gc --sleep-after).
    // GetMetricData takes "*" only.
    p("cloudwatch:GetMetricData", Any, &[Idleness], &["CloudWatch.GetMetricData"]),
    // DynamoDB: the state table (environments, leases, remote profiles)
    p("dynamodb:GetItem", Table, &[Create, Delete, Unlock, Profiles], &["DynamoDB.GetItem"]),
    p("dynamodb:PutItem", Table, &[Create, Delete, Profiles, Sleep], &["DynamoDB.PutItem"]),
    p("dynamodb:UpdateItem", Table, &[Create, Delete, Unlock, Sleep], &["DynamoDB.UpdateItem"]),
    p("dynamodb:DeleteItem", Table, &[Create, Delete, Unlock, Profiles, Sleep], &["DynamoDB.DeleteItem"]),
    p("dynamodb:Query", Table, &[Ls, Profiles], &["DynamoDB.Query"]),
    p("dynamodb:Scan", Table, &[Ls, Gc, Reconcile], &["DynamoDB.Scan"]),
    p("dynamodb:DescribeTable", Table, &[NewTable, Doctor], &["DynamoDB.DescribeTable"]),
    p("dynamodb:CreateTable", Table, &[NewTable], &["DynamoDB.CreateTable"]),
    // S3: the environments file
    p("s3:GetObject", Object, &[Create, Delete, Doctor], &["S3.GetObject"]),
    p("s3:PutObject", Object, &[Create, Delete], &["S3.PutObject"]),
    p("s3:ListBucket", Bucket, &[Create, Delete, Doctor], &["S3.GetObject"]),
    // ECR
    p("ecr:DescribeImages", Repository, &[Create, Serve], &["ECR.DescribeImages"]),
    // SQS: eden serve's job queue
    p("sqs:SendMessage", Queue, &[ServeSqs], &["SQS.SendMessage"]),
    p("sqs:ReceiveMessage", Queue, &[ServeSqs], &["SQS.ReceiveMessage"]),
    p("sqs:DeleteMessage", Queue, &[ServeSqs], &["SQS.DeleteMessage"]),
    p("sqs:ChangeMessageVisibility", Queue, &[ServeSqs], &["SQS.ChangeMessageVisibility"]),
    p("sqs:GetQueueAttributes", Queue, &[ServeSqs], &["SQS.GetQueueAttributes"]),
    // doctor
    p("acm:DescribeCertificate", Certificate, &[Doctor], &["ACM.DescribeCertificate"]),
    p("iam:SimulatePrincipalPolicy", Principal, &[Doctor], &["IAM.SimulatePrincipalPolicy"]),
];

/// The entries an operation (`Service.Operation`, as the call log names it) needs.
pub fn for_call(operation: &str) -> impl Iterator<Item = &'static Permission> + '_ {
    PERMISSIONS
        .iter()
        .filter(move |p| p.calls.contains(&operation))
}

/// The entries for an IAM action (one per kind of resource it is needed on).
pub fn entries(action: &str) -> impl Iterator<Item = &'static Permission> + '_ {
    PERMISSIONS.iter().filter(move |p| p.action == action)
}

/// Whether a create (or deploy, or its readiness wait) fails without `action`.
pub fn blocks_create(action: &str) -> bool {
    entries(action).any(Permission::blocks_create)
}

/// The IAM action named like an operation: `ECS.DescribeServices` → `ecs:DescribeServices`
/// (`None` for a service eden does not call).
pub fn own_action(operation: &str) -> Option<String> {
    let (service, name) = operation.split_once('.')?;
    let prefix = match service {
        "ECS" => "ecs",
        "Elastic Load Balancing v2" => "elasticloadbalancing",
        "Route 53" => "route53",
        "DynamoDB" => "dynamodb",
        "S3" => "s3",
        "ECR" => "ecr",
        "SQS" => "sqs",
        "ACM" => "acm",
        "IAM" => "iam",
        "STS" => "sts",
        "CloudWatch Logs" => "logs",
        "CloudWatch" => "cloudwatch",
        _ => return None,
    };
    let name = match (prefix, name) {
        ("s3", "HeadObject") => "GetObject",
        ("s3", "ListObjectsV2") => "ListBucket",
        _ => name,
    };
    Some(format!("{prefix}:{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_needs_its_own_action_and_every_entry_a_call() {
        for p in PERMISSIONS {
            assert!(!p.calls.is_empty() && !p.uses.is_empty(), "{p:?}");
            for call in p.calls {
                let own = own_action(call).unwrap_or_else(|| panic!("{call}: unknown service"));
                assert!(
                    entries(&own).any(|e| e.calls.contains(call)),
                    "{call} needs {own}, which is not on the list with it"
                );
                assert!(!UNAUTHORIZED_CALLS.contains(call), "{call}");
            }
        }
    }

    #[test]
    fn actions_are_spelled_as_iam_spells_them() {
        for p in PERMISSIONS {
            let (prefix, name) = p.action.split_once(':').unwrap();
            assert!(
                [
                    "ecs",
                    "elasticloadbalancing",
                    "route53",
                    "dynamodb",
                    "s3",
                    "ecr",
                    "sqs",
                    "acm",
                    "iam",
                    "logs",
                    "cloudwatch"
                ]
                .contains(&prefix),
                "{}",
                p.action
            );
            assert!(
                name.chars().next().unwrap().is_ascii_uppercase(),
                "{}",
                p.action
            );
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric()),
                "{}",
                p.action
            );
        }
    }

    #[test]
    fn names_that_differ_from_the_operation() {
        assert_eq!(own_action("S3.HeadObject").unwrap(), "s3:GetObject");
        assert_eq!(own_action("S3.ListObjectsV2").unwrap(), "s3:ListBucket");
        assert_eq!(
            own_action("Elastic Load Balancing v2.DescribeTargetHealth").unwrap(),
            "elasticloadbalancing:DescribeTargetHealth"
        );
        assert_eq!(own_action("Lambda.Invoke"), None);
        let scan: Vec<_> = for_call("DynamoDB.Scan").map(|p| p.action).collect();
        assert_eq!(scan, ["dynamodb:Scan"]);
        let get: Vec<_> = for_call("S3.GetObject").map(|p| p.action).collect();
        assert_eq!(get, ["s3:GetObject", "s3:ListBucket"]);
        assert!(blocks_create("ecs:CreateService"));
        assert!(blocks_create("elasticloadbalancing:DescribeTargetHealth"));
        assert!(!blocks_create("dynamodb:Scan"));
        assert!(!blocks_create("ecs:DeleteService"));
    }
}
