//! `eden doctor`: one test per problem it detects, the all-ok case, the JSON shape, and that it
//! writes nothing. Answers moto cannot give (403s, IAM policy simulation) are injected
//! (`eden::aws::inject`).

mod common;

use common::*;
use eden::aws::inject::{Fake, Rule, When};
use eden::aws::Injector;
use eden::doctor::{self, Report, Status};
use eden::profile::Profile;

const ELB: &str = "Elastic Load Balancing v2";

/// A profile of the world with some keys changed.
fn profile_with(w: &World, name: &str, changes: &[(&str, &str)]) -> Profile {
    let mut raw = w.raw(name);
    for (k, v) in changes {
        raw.insert(k.to_string(), v.to_string());
    }
    Profile::from_raw(name, &raw).unwrap()
}

fn line<'a>(r: &'a Report, check: &str) -> &'a doctor::Check {
    r.checks
        .iter()
        .find(|c| c.check == check)
        .unwrap_or_else(|| panic!("no {check} line in {r:#?}"))
}

/// Exactly these lines are problems (and the report says creates are blocked).
fn assert_problems(r: &Report, checks: &[&str]) {
    let problems: Vec<&str> = r
        .checks
        .iter()
        .filter(|c| c.status == Status::Problem)
        .map(|c| c.check)
        .collect();
    assert_eq!(problems, checks, "{r:#?}");
    assert_eq!(r.ok, checks.is_empty());
    for c in &r.checks {
        if c.status != Status::Ok {
            assert!(c.fix.is_some(), "{} has no fix", c.check);
        }
    }
}

/// Give the listener an ISSUED certificate for the zone (moto's DNS-validated ones stay
/// PENDING_VALIDATION for a minute; private-CA ones are issued at once).
async fn issued_certificate(w: &World, domain: &str) {
    let acm = aws_sdk_acm::Client::new(&w.aws.config);
    let arn = acm
        .request_certificate()
        .domain_name(domain)
        .certificate_authority_arn(
            "arn:aws:acm-pca:ap-northeast-1:123456789012:certificate-authority/00000000-0000-0000-0000-000000000000",
        )
        .send()
        .await
        .unwrap()
        .certificate_arn
        .unwrap();
    w.aws
        .elb
        .modify_listener()
        .listener_arn(w.s(&["listener_arn"]))
        .certificates(
            aws_sdk_elasticloadbalancingv2::types::Certificate::builder()
                .certificate_arn(arn)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

fn simulation(decision: &str, action: &str) -> Fake {
    Fake {
        status: 200,
        content_type: "text/xml",
        body: format!(
            "<SimulatePrincipalPolicyResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated><EvaluationResults><member><EvalActionName>{action}</EvalActionName><EvalResourceName>arn:aws:ecs:ap-northeast-1:123456789012:service/x/y</EvalResourceName><EvalDecision>{decision}</EvalDecision><MatchedStatements/><MissingContextValues/></member></EvaluationResults></SimulatePrincipalPolicyResult><ResponseMetadata><RequestId>0e1f2a3b-eden-test</RequestId></ResponseMetadata></SimulatePrincipalPolicyResponse>"
        ),
    }
}

/// IAM's simulation, as AWS would answer it: `denied` refused, everything else allowed.
fn simulate_denying(inj: &Injector, denied: Option<&'static str>) {
    use aws_sdk_iam::operation::simulate_principal_policy::SimulatePrincipalPolicyInput as In;
    let asks = move |i: &In| denied.is_some_and(|d| i.action_names().iter().any(|a| a == d));
    if let Some(d) = denied {
        inj.add(
            Rule::new(
                "IAM",
                "SimulatePrincipalPolicy",
                When::Instead,
                simulation("implicitDeny", d),
            )
            .input::<In>(asks),
        );
    }
    inj.add(
        Rule::new(
            "IAM",
            "SimulatePrincipalPolicy",
            When::Instead,
            simulation("allowed", "ecs:DescribeServices"),
        )
        .input::<In>(move |i: &In| !asks(i)),
    );
}

async fn run(w: &World, p: &Profile, inj: Option<std::sync::Arc<Injector>>) -> Report {
    let inj = inj.unwrap_or_else(|| {
        let i = Injector::new();
        simulate_denying(&i, None);
        i
    });
    let aws = aws_injected(inj).await;
    doctor::run(&aws, p, &w.table).await
}

async fn ready_world(tag: &str) -> World {
    let w = World::new(tag).await;
    w.warm().await;
    issued_certificate(&w, &format!("*.{}", w.s(&["zone_name"]))).await;
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ready_account_is_all_ok_and_doctor_writes_nothing() {
    let w = ready_world("da").await;
    let before = w.snapshot().await;
    let r = run(&w, &w.profile("api"), None).await;
    for c in &r.checks {
        assert_eq!(c.status, Status::Ok, "{c:#?}");
    }
    assert!(r.ok);
    let names: Vec<&str> = r.checks.iter().map(|c| c.check).collect();
    assert_eq!(
        names,
        [
            "reference-service",
            "reference-target-group",
            "log-driver",
            "listener",
            "certificate",
            "alb-capacity",
            "zone",
            "hostname-length",
            "bucket",
            "table",
            "permissions"
        ]
    );
    assert_eq!(
        r.caller.as_deref(),
        Some("arn:aws:sts::123456789012:user/moto")
    );
    let cap = &line(&r, "alb-capacity").detail;
    assert!(
        cap.ends_with(": rules 0/100, target groups 0/100 (limits from DescribeAccountLimits)"),
        "{cap}"
    );
    assert_eq!(w.snapshot().await, before, "doctor wrote something");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_prints_the_checklist_as_json_and_exits_by_problems() {
    let w = ready_world("dj").await;
    let dir = tempfile::tempdir().unwrap();
    let config = w.write_config(dir.path());
    let cfg = config.to_str().unwrap();
    let args = [
        "-c",
        cfg,
        "--remote-table-name",
        &w.table,
        "-p",
        "api",
        "doctor",
    ];
    let mut json_args = args.to_vec();
    json_args.extend(["--output", "json"]);

    // moto cannot simulate IAM policies: the permissions line falls back (a warning), exit 0.
    let (code, stdout, stderr) = eden_cli(dir.path(), &json_args);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["profile"], "api");
    assert_eq!(v["ok"], true);
    assert!(v["caller"].is_string());
    let checks = v["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 11);
    for c in checks {
        let mut keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["check", "detail", "fix", "status"], "{c}");
        let status = c["status"].as_str().unwrap();
        assert!(["ok", "warning", "problem"].contains(&status), "{c}");
        assert_eq!(c["fix"].is_null(), status == "ok", "{c}");
    }
    let perms = checks.iter().find(|c| c["check"] == "permissions").unwrap();
    assert_eq!(perms["status"], "warning", "{perms}");
    assert!(perms["detail"]
        .as_str()
        .unwrap()
        .contains("could not simulate"));

    // A problem: exit 1, text with the fix.
    let mut broken = args.to_vec();
    broken.extend(["--target-container-name", "nope"]);
    let (code, stdout, _) = eden_cli(dir.path(), &broken);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("PROBLEM  reference-service"), "{stdout}");
    assert!(
        stdout.contains("fix: set target_container_name"),
        "{stdout}"
    );
    assert!(stdout.ends_with("1 problem(s) block creates; fix them and run eden doctor again.\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reference_problems() {
    let w = ready_world("dr").await;
    let missing = w
        .s(&["references", "api", "service_arn"])
        .replace("-api-ref", "-gone");
    let r = run(
        &w,
        &profile_with(&w, "api", &[("reference_service_arn", &missing)]),
        None,
    )
    .await;
    assert_problems(&r, &["reference-service"]);
    assert!(line(&r, "reference-service").detail.contains("not found"));

    let r = run(
        &w,
        &profile_with(&w, "api", &[("target_container_name", "nope")]),
        None,
    )
    .await;
    assert_problems(&r, &["reference-service"]);
    assert!(line(&r, "reference-service")
        .detail
        .contains("\"nope\" is not in"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_certificate_that_does_not_cover_the_zone() {
    let w = ready_world("dc").await;
    issued_certificate(&w, "*.elsewhere.example.com").await;
    let r = run(&w, &w.profile("api"), None).await;
    assert_problems(&r, &["certificate"]);
    let c = line(&r, "certificate");
    assert!(
        c.detail.contains("no certificate covers *."),
        "{}",
        c.detail
    );
    assert!(c.detail.contains("*.elsewhere.example.com"), "{}", c.detail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn zone_problems() {
    let w = ready_world("dz").await;
    let r = run(
        &w,
        &profile_with(&w, "api", &[("dynamic_zone_id", "Z0000000000NOPE")]),
        None,
    )
    .await;
    // The zone's name is unknown, so the certificate cannot be judged (a warning).
    assert_problems(&r, &["zone"]);
    assert_eq!(line(&r, "certificate").status, Status::Warning);

    let r = run(
        &w,
        &profile_with(&w, "api", &[("dynamic_zone_name", "other.example.com")]),
        None,
    )
    .await;
    assert_problems(&r, &["zone"]);
    assert!(line(&r, "zone")
        .fix
        .as_deref()
        .unwrap()
        .contains("dynamic_zone_name"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_zone_too_long_for_host_header_rules() {
    let w = ready_world("dl").await;
    let long = format!(
        "{}.{}.{}.example.com",
        "a".repeat(60),
        "b".repeat(60),
        w.prefix
    );
    let zone = w
        .aws
        .route53
        .create_hosted_zone()
        .name(&long)
        .caller_reference(format!("{}-long", w.prefix))
        .send()
        .await
        .unwrap();
    let id = zone
        .hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/")
        .to_string();
    let r = run(
        &w,
        &profile_with(&w, "api", &[("dynamic_zone_id", &id)]),
        None,
    )
    .await;
    // (the listener's certificate is for the world's zone, not this one)
    assert_problems(&r, &["certificate", "hostname-length"]);
    assert!(line(&r, "hostname-length")
        .detail
        .contains("every create fails"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bucket_problems() {
    let w = ready_world("db").await;
    use aws_sdk_s3::operation::get_object::GetObjectInput as In;

    // No s3:ListBucket: a missing key answers 403 (moto: 404). The file itself is readable.
    let inj = Injector::new();
    simulate_denying(&inj, None);
    inj.add(Rule::new(
        "S3",
        "GetObject",
        When::Replacing(404),
        Fake::s3(403, "AccessDenied", "Access Denied"),
    ));
    let r = run(&w, &w.profile("api"), Some(inj)).await;
    assert_problems(&r, &[]);
    let b = line(&r, "bucket");
    assert_eq!(b.status, Status::Warning);
    assert!(b.fix.as_deref().unwrap().contains("s3:ListBucket"), "{b:?}");

    // s3:GetObject denied on the file while a missing key answers 404: creates fail.
    let inj = Injector::new();
    simulate_denying(&inj, None);
    inj.add(
        Rule::new(
            "S3",
            "GetObject",
            When::Instead,
            Fake::s3(403, "AccessDenied", "Access Denied"),
        )
        .input::<In>(|i: &In| i.key() == Some("environments.json")),
    );
    let r = run(&w, &w.profile("api"), Some(inj)).await;
    assert_problems(&r, &["bucket"]);
    assert!(line(&r, "bucket")
        .fix
        .as_deref()
        .unwrap()
        .contains("s3:GetObject"));

    // No such bucket.
    let r = run(
        &w,
        &profile_with(
            &w,
            "api",
            &[("endpoint_s3_bucket_name", "no-such-bucket-eden")],
        ),
        None,
    )
    .await;
    assert_problems(&r, &["bucket"]);
    assert!(line(&r, "bucket").detail.contains("does not exist"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn table_problems() {
    let w = ready_world("dt").await;
    use aws_sdk_dynamodb::types::*;
    let other = format!("{}-other", w.prefix);
    w.aws
        .dynamodb
        .create_table()
        .table_name(&other)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let aws = aws_injected({
        let i = Injector::new();
        simulate_denying(&i, None);
        i
    })
    .await;
    let r = doctor::run(&aws, &w.profile("api"), &other).await;
    assert_problems(&r, &["table"]);
    assert!(
        line(&r, "table").detail.contains("has key id HASH (S)"),
        "{:?}",
        line(&r, "table")
    );

    // A table that does not exist yet: the first create makes it (a warning, not a problem).
    let r = doctor::run(&aws, &w.profile("api"), &format!("{}-new", w.prefix)).await;
    assert_problems(&r, &[]);
    assert_eq!(line(&r, "table").status, Status::Warning);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_alb() {
    let w = ready_world("dg").await;
    fill_alb_with_target_groups(&w, 100).await;
    let r = run(&w, &w.profile("api"), None).await;
    assert_problems(&r, &["alb-capacity"]);
    let c = line(&r, "alb-capacity");
    assert!(
        c.detail.contains(": rules 100/100, target groups 100/100"),
        "{}",
        c.detail
    );
    assert!(c.fix.as_deref().unwrap().contains("eden delete"));
    assert!(c
        .fix
        .as_deref()
        .unwrap()
        .contains("append another ALB ARN to master_alb_arn"));

    // In a pool, a full ALB is a warning (creates go to the other): one line per ALB.
    let mut raw = w.raw("api");
    raw.insert(
        "master_alb_arn".into(),
        format!("{},{}", w.s(&["alb_arn"]), w.s(&["alb6_arn"])),
    );
    let pool = eden::profile::Profile::from_raw("api", &raw).unwrap();
    let r = run(&w, &pool, None).await;
    assert_problems(&r, &[]);
    let caps: Vec<(Status, &str)> = r
        .checks
        .iter()
        .filter(|c| c.check == "alb-capacity")
        .map(|c| (c.status, c.detail.as_str()))
        .collect();
    assert_eq!(caps.len(), 2, "{caps:?}");
    assert_eq!(caps[0].0, Status::Warning);
    assert!(caps[0].1.contains("target groups 100/100"), "{caps:?}");
    assert_eq!(caps[1].0, Status::Ok);
    assert!(
        caps[1].1.contains("rules 0/100, target groups 0/100"),
        "{caps:?}"
    );
    let listeners = r.checks.iter().filter(|c| c.check == "listener").count();
    assert_eq!(listeners, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_listener_at_the_rules_quota() {
    let w = ready_world("dq").await;
    fill_listener_with_rules(&w, 100).await;
    let r = run(&w, &w.profile("api"), None).await;
    assert_problems(&r, &["alb-capacity"]);
    let c = line(&r, "alb-capacity");
    assert!(c.detail.contains("rules 100/100"), "{}", c.detail);
    assert!(c.fix.as_deref().unwrap().contains("Service Quotas"));

    // The account's own limit counts, not 100: a raised quota of 200 leaves room.
    let limits = |rules: usize| {
        Fake::elbv2_ok(
            "DescribeAccountLimits",
            &format!("<Limits><member><Name>rules-per-application-load-balancer</Name><Max>{rules}</Max></member><member><Name>target-groups-per-application-load-balancer</Name><Max>100</Max></member></Limits>"),
        )
    };
    let inj = Injector::new();
    simulate_denying(&inj, None);
    inj.add(Rule::new(
        ELB,
        "DescribeAccountLimits",
        When::Instead,
        limits(200),
    ));
    let r = run(&w, &w.profile("api"), Some(inj)).await;
    assert_problems(&r, &[]);
    let c = line(&r, "alb-capacity");
    assert!(
        c.detail.contains("rules 100/200, target groups 1/100"),
        "{}",
        c.detail
    );
    // Denied: the defaults, and doctor says so.
    let inj = Injector::new();
    simulate_denying(&inj, None);
    let denied = Fake::elbv2(
        403,
        "AccessDenied",
        "not authorized to perform: elasticloadbalancing:DescribeAccountLimits",
    );
    inj.add(Rule::new(
        ELB,
        "DescribeAccountLimits",
        When::Instead,
        denied,
    ));
    let r = run(&w, &w.profile("api"), Some(inj)).await;
    let c = line(&r, "alb-capacity");
    assert!(c.detail.contains("rules 100/100"), "{}", c.detail);
    assert!(
        c.detail.contains("DescribeAccountLimits was denied"),
        "{}",
        c.detail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn permissions_the_caller_lacks() {
    let w = ready_world("dp").await;
    let inj = Injector::new();
    simulate_denying(&inj, Some("ecs:CreateService"));
    let r = run(&w, &w.profile("api"), Some(inj)).await;
    assert_problems(&r, &["permissions"]);
    let c = line(&r, "permissions");
    assert!(
        c.detail
            .starts_with("arn:aws:iam::123456789012:user/moto lacks ecs:CreateService on"),
        "{}",
        c.detail
    );
    assert!(c.detail.contains("(implicitDeny)"));

    // The caller may not simulate: the read-only checks stand in (a warning).
    let inj = Injector::new();
    inj.add(Rule::new(
        "IAM",
        "SimulatePrincipalPolicy",
        When::Instead,
        Fake {
            status: 403,
            content_type: "text/xml",
            body: "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized to perform: iam:SimulatePrincipalPolicy</Message></Error><RequestId>0e1f2a3b</RequestId></ErrorResponse>".into(),
        },
    ));
    let r = run(&w, &w.profile("api"), Some(inj)).await;
    assert_problems(&r, &[]);
    let c = line(&r, "permissions");
    assert_eq!(c.status, Status::Warning);
    assert!(
        c.detail.contains("is not allowed for the caller"),
        "{}",
        c.detail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_credentials() {
    let w = ready_world("di").await;
    let inj = Injector::new();
    inj.add(Rule::new(
        "STS",
        "GetCallerIdentity",
        When::Instead,
        Fake {
            status: 403,
            content_type: "text/xml",
            body: "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error><RequestId>0e1f2a3b</RequestId></ErrorResponse>".into(),
        },
    ));
    let r = run(&w, &w.profile("api"), Some(inj)).await;
    assert_problems(&r, &["permissions"]);
    assert_eq!(r.caller, None);
    assert!(line(&r, "permissions")
        .detail
        .contains("InvalidClientTokenId"));
}

/// Every action on eden's list is simulated: gc's and reconcile's Scan (a warning: creates
/// work without it) and the readiness wait's DescribeTargetHealth (a problem: waiting deploys
/// fail without it), which doctor once did not ask about.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_scan_and_the_readiness_wait_are_simulated() {
    let w = ready_world("dw").await;
    let inj = Injector::new();
    simulate_denying(&inj, Some("dynamodb:Scan"));
    let r = run(&w, &w.profile("api"), Some(inj)).await;
    assert_problems(&r, &[]);
    let c = line(&r, "permissions");
    assert_eq!(c.status, Status::Warning);
    assert!(
        c.detail
            .starts_with("arn:aws:iam::123456789012:user/moto lacks dynamodb:Scan on"),
        "{}",
        c.detail
    );
    assert!(c.detail.ends_with("(not needed by create)"), "{}", c.detail);

    let inj = Injector::new();
    simulate_denying(&inj, Some("elasticloadbalancing:DescribeTargetHealth"));
    let r = run(&w, &w.profile("api"), Some(inj)).await;
    assert_problems(&r, &["permissions"]);
    assert!(line(&r, "permissions")
        .detail
        .contains("lacks elasticloadbalancing:DescribeTargetHealth on"));
}
