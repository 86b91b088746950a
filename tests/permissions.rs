//! eden's one list of IAM actions (`eden::aws::permissions`) against what ships and what runs:
//! the prerequisites template grants every action on the list, on a resource of its kind, and
//! nothing off it; every AWS call that create, deploy, ls, the readiness wait, delete, gc, the
//! reconcile loop, doctor and the SQS queue make (the instrumented call log, against the
//! emulator) needs only actions on the list, and the list says that command uses them.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::fake_github::FakeGitHub;
use common::serve::{fixture, server_with};
use common::*;
use eden::aws::permissions::{self, On, Permission, Use, PERMISSIONS, UNAUTHORIZED_CALLS};
use eden::aws::Instrument;
use eden::preview::{
    Command, Context, ManualClock, Origin, PrAction, ProfileSource, Request, Target,
};
use eden::server::job::Job;
use eden::server::reconcile::Reconciler;
use eden::server::Submit;
use futures::future::BoxFuture;
use serde_norway::Value;

const REPO: &str = "Codertocat/Hello-World";

// ---- the template ----

/// One statement of a policy: its actions and resources, CloudFormation's tags written as
/// `!Tag value` (`!Sub arn:…/${NamePrefix}-*`, `!GetAtt StateTable.Arn`, `!Ref TaskRoleArns`).
#[derive(Debug)]
struct Statement {
    sid: String,
    actions: Vec<String>,
    resources: Vec<String>,
}

fn template() -> Value {
    let path = root().join("docs/aws-prerequisites.cfn.yml");
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every statement of every IAM role's policies (both branches of an `!If`).
fn statements(t: &Value) -> Vec<Statement> {
    let mut out = Vec::new();
    for (_, r) in t["Resources"].as_mapping().unwrap() {
        if r["Type"].as_str() != Some("AWS::IAM::Role") {
            continue;
        }
        for policy in r["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            for s in policy["PolicyDocument"]["Statement"].as_sequence().unwrap() {
                collect(s, &mut out);
            }
        }
    }
    assert!(out.len() > 10, "{out:#?}");
    out
}

fn collect(s: &Value, out: &mut Vec<Statement>) {
    if let Value::Tagged(t) = s {
        match t.tag.to_string().as_str() {
            "!If" => {
                for branch in &t.value.as_sequence().unwrap()[1..] {
                    collect(branch, out);
                }
            }
            "!Ref" => assert_eq!(t.value.as_str(), Some("AWS::NoValue"), "{s:?}"),
            other => panic!("unexpected {other} in a policy"),
        }
        return;
    }
    assert_eq!(s["Effect"].as_str(), Some("Allow"), "{s:?}");
    out.push(Statement {
        sid: s["Sid"].as_str().unwrap_or_default().to_string(),
        actions: strings(&s["Action"]),
        resources: strings(&s["Resource"]),
    });
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        Value::Tagged(t) => vec![format!("{} {}", t.tag, t.value.as_str().unwrap())],
        other => panic!("not a string or list: {other:?}"),
    }
}

/// The kind of resource a template resource is, in the list's terms.
fn kind(resource: &str) -> Option<On> {
    let has = |s: &str| resource.contains(s);
    Some(match resource {
        "*" => On::Any,
        "!GetAtt StateTable.Arn" => On::Table,
        "!Sub ${EnvironmentsBucket.Arn}/*" => On::Object,
        "!GetAtt EnvironmentsBucket.Arn" => On::Bucket,
        "!Ref OtherEcrRepositoryArns" => On::Repository,
        "!Ref TaskRoleArns" | "!Ref InfrastructureRoleArn" => On::Role,
        "!Ref HttpsListener" => On::Listener,
        "!Ref JobQueueArn" => On::Queue,
        "!Ref Certificate" => On::Certificate,
        _ if has(":service/${ReferenceCluster}/${NamePrefix}-*") => On::Service,
        _ if has(":task-definition/${NamePrefix}-*:*") => On::TaskDefinition,
        _ if has(":targetgroup/${NamePrefix}-*/*") => On::TargetGroup,
        _ if has(":listener-rule/app/eden-previews*/*") => On::Rule,
        _ if has(":listener/app/eden-previews-*/*") => On::Listener,
        _ if has(":hostedzone/${HostedZoneId}") => On::Zone,
        _ if has(":repository/${EcrRepository}") => On::Repository,
        _ if has(":role/eden-previews") => On::Principal,
        _ if has(":log-group:${LogGroupName}:*") => On::LogGroup,
        _ => return None,
    })
}

/// A statement grants `p` when it names the action and a resource of its kind (or `*`).
fn grants(s: &Statement, p: &Permission) -> bool {
    s.actions.iter().any(|a| a == p.action)
        && s.resources
            .iter()
            .any(|r| r == "*" || kind(r) == Some(p.on))
}

#[test]
fn the_template_grants_every_action_on_the_list() {
    let statements = statements(&template());
    let missing: Vec<String> = PERMISSIONS
        .iter()
        .filter(|p| !statements.iter().any(|s| grants(s, p)))
        .map(|p| format!("{} on {:?}", p.action, p.on))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/aws-prerequisites.cfn.yml does not grant {missing:?}"
    );
}

#[test]
fn the_template_grants_nothing_off_the_list_and_no_write_on_everything() {
    for s in statements(&template()) {
        let kinds: Vec<On> = s
            .resources
            .iter()
            .map(|r| kind(r).unwrap_or_else(|| panic!("{}: {r} is no kind on the list", s.sid)))
            .collect();
        for a in &s.actions {
            let entries: Vec<&Permission> = permissions::entries(a).collect();
            assert!(!entries.is_empty(), "{}: {a} is not on eden's list", s.sid);
            assert!(
                entries
                    .iter()
                    .any(|p| kinds.contains(&p.on) || kinds.contains(&On::Any)),
                "{}: {a} is granted on {:?}, not on its kind",
                s.sid,
                s.resources
            );
            // On "*" only what AWS scopes no narrower, and reads of the reference service.
            if kinds.contains(&On::Any) {
                assert!(
                    entries
                        .iter()
                        .any(|p| matches!(p.on, On::Any | On::Reference)),
                    "{}: {a} is granted on *",
                    s.sid
                );
            }
        }
        for k in kinds {
            assert!(
                k == On::Any
                    || s.actions
                        .iter()
                        .any(|a| permissions::entries(a).any(|p| p.on == k)),
                "{}: no action in it needs {k:?}",
                s.sid
            );
        }
    }
}

#[test]
fn the_template_reader_sees_a_missing_grant() {
    let statements = statements(&template());
    let scan = PERMISSIONS
        .iter()
        .find(|p| p.action == "dynamodb:Scan")
        .unwrap();
    assert!(statements.iter().any(|s| grants(s, scan)));
    let elsewhere = Permission {
        on: On::Object,
        ..*scan
    };
    assert!(!statements.iter().any(|s| grants(s, &elsewhere)));
    let unknown = Permission {
        action: "dynamodb:BatchWriteItem",
        ..*scan
    };
    assert!(!statements.iter().any(|s| grants(s, &unknown)));
}

// ---- the calls eden makes ----

/// The operations `inst` logged since its last reset (then reset), each checked: it needs
/// only actions on the list, and the list says `what` (one of `uses`) needs one of them.
fn listed_calls(inst: &Instrument, what: &str, uses: &[Use]) -> BTreeSet<String> {
    let ops: BTreeSet<String> = inst.calls().into_iter().map(|c| c.operation).collect();
    assert!(!ops.is_empty(), "{what} made no call");
    for op in &ops {
        if UNAUTHORIZED_CALLS.contains(&op.as_str()) {
            continue;
        }
        let entries: Vec<&Permission> = permissions::for_call(op).collect();
        assert!(
            !entries.is_empty(),
            "{what} calls {op}: no action on eden's list (src/aws/permissions.rs) is needed by it"
        );
        assert!(
            entries
                .iter()
                .any(|p| p.uses.iter().any(|u| uses.contains(u))),
            "{what} calls {op}, but the list does not say {what} ({uses:?}) needs {:?}",
            entries.iter().map(|p| p.action).collect::<Vec<_>>()
        );
    }
    inst.reset();
    ops
}

fn saw(ops: &BTreeSet<String>, expected: &[&str]) {
    for e in expected {
        assert!(ops.contains(*e), "{e} not in {ops:?}");
    }
}

const CREATE: &[Use] = &[Use::Create, Use::Prune, Use::NewTable];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_deploy_ls_wait_delete_call_only_listed_actions() {
    let w = World::new("pm").await;
    let inst = Instrument::new();
    let engine = w.engine(Some(inst.clone())).await;
    let api = w.profile("api");

    // The world's table does not exist yet: the first create makes it.
    let created = engine
        .create(&api, &w.request("pr-7", &w.image("api", "sha-1")))
        .await
        .unwrap();
    let ops = listed_calls(&inst, "create", CREATE);
    saw(
        &ops,
        &[
            "DynamoDB.CreateTable",
            "ECS.CreateService",
            "Elastic Load Balancing v2.CreateRule",
        ],
    );

    engine
        .create(&api, &w.request("pr-7", &w.image("api", "sha-2")))
        .await
        .unwrap();
    let ops = listed_calls(&inst, "deploy", CREATE);
    saw(&ops, &["ECS.UpdateService", "ECS.RegisterTaskDefinition"]);

    // a deploy that protects the preview (the rule modified, a bypass rule added), and one
    // that opens it again (modified back, the bypass rule deleted)
    let mut raw = w.raw("api");
    for (k, v) in [
        ("allow_cidrs", "203.0.113.0/24"),
        ("bypass_header", "X-Preview-Token"),
        ("bypass_value_env", "PERMISSIONS_TEST_TOKEN"),
    ] {
        raw.insert(k.into(), v.into());
    }
    let protected = eden::profile::Profile::from_raw("api", &raw).unwrap();
    let mut with_token = w.engine(Some(inst.clone())).await;
    with_token.secrets = eden::engine::rule::SecretSource::from_fn(|_| {
        Some("0123456789abcdef0123456789abcdef".into())
    });
    let req = w.request("pr-7", &w.image("api", "sha-2"));
    with_token.create(&protected, &req).await.unwrap();
    let ops = listed_calls(&inst, "protecting deploy", CREATE);
    saw(
        &ops,
        &[
            "Elastic Load Balancing v2.ModifyRule",
            "Elastic Load Balancing v2.CreateRule",
        ],
    );
    with_token.create(&api, &req).await.unwrap();
    let ops = listed_calls(&inst, "opening deploy", CREATE);
    saw(
        &ops,
        &[
            "Elastic Load Balancing v2.ModifyRule",
            "Elastic Load Balancing v2.DeleteRule",
        ],
    );

    assert_eq!(engine.list(Some("api")).await.unwrap().len(), 1);
    saw(
        &listed_calls(&inst, "ls -p", &[Use::Ls]),
        &["DynamoDB.Query"],
    );
    assert_eq!(engine.list(None).await.unwrap().len(), 1);
    saw(&listed_calls(&inst, "ls", &[Use::Ls]), &["DynamoDB.Scan"]);

    let service_arn = created.service_arn.unwrap();
    let service = service_arn.rsplit('/').next().unwrap();
    let target_group = created.target_group_arn.unwrap();
    // moto runs no task: one poll, then the timeout (1 s, shorter than a poll interval)
    let subject = eden::engine::wait::Subject {
        cluster: api.target_cluster.clone(),
        service: service.to_string(),
        target_group,
        dns_change: created.dns_change_id.clone(),
    };
    let waited = eden::engine::wait::until_ready(
        &engine.aws,
        &subject,
        &eden::engine::wait::Settings::new(Duration::from_secs(1)),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            waited.downcast_ref(),
            Some(eden::engine::wait::WaitFailure::Timeout { .. })
        ),
        "{waited:#}"
    );
    let ops = listed_calls(&inst, "wait", &[Use::Wait]);
    saw(
        &ops,
        &[
            "ECS.DescribeServices",
            "ECS.ListTasks",
            "Route 53.GetChange",
        ],
    );
    // the reads a failed wait makes (a stopped task's log, the health check)
    let _ = eden::aws::logs::tail(&engine.aws, REGION, "/ecs/absent", "api/app/0", 30).await;
    let _ = eden::aws::ecs::describe_tasks(
        &engine.aws,
        &api.target_cluster,
        &["arn:aws:ecs:ap-northeast-1:123456789012:task/x/0".into()],
    )
    .await;
    let _ = eden::aws::alb::target_health(&engine.aws.elb, &subject.target_group).await;
    let ops = listed_calls(&inst, "wait", &[Use::Wait]);
    saw(
        &ops,
        &[
            "CloudWatch Logs.GetLogEvents",
            "ECS.DescribeTasks",
            "Elastic Load Balancing v2.DescribeTargetHealth",
        ],
    );

    engine.delete(&api, "pr-7").await.unwrap();
    let ops = listed_calls(&inst, "delete", &[Use::Delete]);
    saw(
        &ops,
        &["ECS.DeleteService", "Route 53.ChangeResourceRecordSets"],
    );
}

/// A queue that takes every job and runs none (the reconcile round's own calls only).
struct Discard;

impl Submit for Discard {
    fn submit(&self, _job: Job) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gc_and_the_reconcile_round_call_only_listed_actions() {
    let w = World::new("pg").await;
    w.warm().await;
    let inst = Instrument::new();
    let engine = w.engine(Some(inst.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let mut ctx = Context::new(
        engine.clone(),
        Origin {
            repository: REPO.into(),
            server_url: "https://github.com".into(),
            run_url: None,
        },
        ProfileSource::File(w.write_config(dir.path())),
    );
    let deploy = Request {
        event: None,
        command: Command::Deploy,
        label: None,
        name: Some("staging".into()),
        targets: vec![Target {
            profile: "api".into(),
            image_uri: Some(w.image("api", "sha-1")),
        }],
    };
    let report = ctx.execute(&ctx.prepare(deploy).await.unwrap()).await;
    assert_eq!(report.action, PrAction::Created, "{report:?}");
    inst.reset();

    let gh = FakeGitHub::start(&fixture("github/pull_request.synchronize.json")).await;
    let s = server_with(&w, &gh, "", |_| {}).await;
    let reconciler = Reconciler::new(
        s.config.clone(),
        engine,
        s.clients.clone(),
        Arc::new(Discard),
    );
    let round = reconciler.round(1).await;
    assert!(round.problems.is_empty(), "{:?}", round.problems);
    let ops = listed_calls(&inst, "reconcile", &[Use::Reconcile]);
    assert_eq!(ops, BTreeSet::from(["DynamoDB.Scan".to_string()]));

    ctx.clock = Arc::new(ManualClock::new(
        time::OffsetDateTime::now_utc() + Duration::from_secs(8 * 86400),
    ));
    let gc = ctx.gc(Duration::from_secs(7 * 86400), false).await.unwrap();
    assert_eq!(gc.deleted().count(), 1, "{:?}", gc.failures());
    let ops = listed_calls(&inst, "gc", &[Use::Gc, Use::Delete]);
    saw(&ops, &["DynamoDB.Scan", "ECS.DeleteService"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn doctor_and_the_sqs_queue_call_only_listed_actions() {
    let w = World::new("pd").await;
    w.warm().await;
    let inst = Instrument::new();
    let aws = common::aws(Some(inst.clone())).await;

    let report = eden::doctor::run(&aws, &w.profile("api"), &w.table).await;
    assert_eq!(report.checks.len(), 11, "{report:#?}");
    let ops = listed_calls(&inst, "doctor", &[Use::Doctor]);
    saw(
        &ops,
        &[
            "IAM.SimulatePrincipalPolicy",
            "ACM.DescribeCertificate",
            "Elastic Load Balancing v2.DescribeListenerCertificates",
        ],
    );

    let url = w
        .aws
        .sqs
        .create_queue()
        .queue_name(format!("eden-{}.fifo", w.prefix))
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    use eden::aws::sqs;
    sqs::send(&aws, &url, "pr-1", "d-1", "{}".into())
        .await
        .unwrap();
    let got = sqs::receive(&aws, &url, 1, Duration::ZERO, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    sqs::change_visibility(&aws, &url, &got[0].receipt, Duration::from_secs(30))
        .await
        .unwrap();
    sqs::delete(&aws, &url, &got[0].receipt).await.unwrap();
    sqs::counts(&aws, &url).await.unwrap();
    let ops = listed_calls(&inst, "serve's SQS queue", &[Use::ServeSqs]);
    assert_eq!(ops.len(), 5, "{ops:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sleep_wake_and_a_waking_deploy_call_only_listed_actions() {
    let w = World::new("pz").await;
    let (inst, inj) = (Instrument::new(), eden::aws::Injector::new());
    let aws = eden::aws::Aws::load(eden::aws::ClientOptions {
        instrument: Some(inst.clone()),
        inject: Some(inj.clone()),
        region: Some(REGION.into()),
        endpoint_url: Some(endpoint()),
        static_credentials: Some(("testing".into(), "testing".into())),
        ..Default::default()
    })
    .await;
    let engine = eden::engine::Engine::new(aws, &w.table);
    let api = w.profile("api");
    let made = engine
        .create(&api, &w.request("pr-5", &w.image("api", "sha-1")))
        .await
        .unwrap();
    inst.reset();
    engine.sleep(&api, "pr-5").await.unwrap();
    let ops = listed_calls(&inst, "sleep", &[Use::Sleep]);
    saw(
        &ops,
        &[
            "ECS.DescribeServices",
            "ECS.UpdateService",
            "Elastic Load Balancing v2.ModifyRule",
            "DynamoDB.UpdateItem",
            "DynamoDB.PutItem",
        ],
    );
    common::ready::answer(
        &inj,
        &common::ready::Waking {
            cluster: api.target_cluster.clone(),
            service_arn: made.service_arn.clone().unwrap(),
            target_group: made.target_group_arn.clone().unwrap(),
        },
        || true,
    );
    let quick = eden::engine::wait::Settings {
        interval: Duration::from_millis(10),
        ..eden::engine::wait::Settings::new(Duration::from_secs(30))
    };
    assert!(engine.wake(&api, "pr-5", quick).await.unwrap().woke);
    let ops = listed_calls(&inst, "wake", &[Use::Sleep, Use::Wait]);
    saw(
        &ops,
        &[
            "ECS.UpdateService",
            "Elastic Load Balancing v2.ModifyRule",
            "Elastic Load Balancing v2.DescribeTargetHealth",
        ],
    );
    engine.sleep(&api, "pr-5").await.unwrap();
    inst.reset();
    let out = engine
        .create(&api, &w.request("pr-5", &w.image("api", "sha-2")))
        .await
        .unwrap();
    assert!(out.woke);
    let mut uses = CREATE.to_vec();
    uses.push(Use::Wait);
    let ops = listed_calls(&inst, "a deploy that wakes", &uses);
    saw(&ops, &["Elastic Load Balancing v2.ModifyRule"]);
}
