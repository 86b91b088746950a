//! The readiness wait against the emulator, on tokio's paused clock, with ECS and ELB answering
//! as they do mid-rollout. moto's services are steady at once, so DescribeServices, ListTasks,
//! DescribeTasks and DescribeTargetHealth are injected (`eden::aws::inject`) from a timeline:
//! what AWS says at that virtual moment, whatever the wait's polling pattern. The environment
//! (made by a real create), its target group's health check, the task definition with its
//! `awslogs` options and the CloudWatch Logs stream are moto's.
//!
//! Each test states when (virtual time) the wait ended and that no poll made more than three
//! requests.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ecs::operation::describe_services::DescribeServicesInput;
use aws_sdk_ecs::operation::list_tasks::ListTasksInput;
use aws_sdk_ecs::types::{ContainerDefinition, DesiredStatus, LogConfiguration, LogDriver};
use common::*;
use eden::aws::inject::{self, Fake, Rule, When};
use eden::aws::{Aws, ClientOptions, Injector, Instrument};
use eden::engine::wait::{self, Settings, Subject, WaitFailure};
use eden::engine::{Engine, LeaseSettings};
use serde_json::{json, Value};
use tokio::time::Instant;

/// When the deployment was created (epoch seconds, as ECS writes `createdAt`).
const EPOCH: f64 = 1_764_900_000.0;
const OLD_IP: &str = "10.0.1.10";
const NEW_IP: &str = "10.0.2.20";
const NEW_TASK: &str = "0f3c2b7e9d8a4c1b9e2f6a5d4c3b2a10";
const OLD_TASK: &str = "7a1b2c3d4e5f60718293a4b5c6d7e8f9";

/// The requests a poll may make.
const POLL_OPS: [&str; 5] = [
    "ECS.DescribeServices",
    "ECS.ListTasks",
    "ECS.DescribeTasks",
    "Elastic Load Balancing v2.DescribeTargetHealth",
    "Route 53.GetChange",
];

/// One environment made by a real create, and the names its rollout's answers use.
struct Rollout {
    _world: World,
    aws: Aws,
    inj: Arc<Injector>,
    inst: Arc<Instrument>,
    subject: Subject,
    ids: Ids,
    began: Instant,
}

#[derive(Debug, Clone)]
struct Ids {
    cluster: String,
    service_arn: String,
    service_name: String,
    /// The revision being rolled out: logs with `awslogs` (group below, prefix `api`).
    new_td: String,
    old_td: String,
    group: String,
}

impl Ids {
    fn task_arn(&self, id: &str) -> String {
        format!(
            "arn:aws:ecs:{REGION}:123456789012:task/{}/{id}",
            self.cluster
        )
    }
}

/// Clients to the emulator whose answers can be injected, sending requests off the paused
/// runtime, with a call log.
async fn clients(inj: Arc<Injector>, inst: Arc<Instrument>) -> Aws {
    let aws = Aws::load(ClientOptions {
        instrument: Some(inst),
        inject: Some(inj),
        region: Some(REGION.into()),
        endpoint_url: Some(endpoint()),
        static_credentials: Some(("testing".into(), "testing".into())),
        ..Default::default()
    })
    .await;
    let offloading = paused::offloaded(&aws)
        .ecs
        .config()
        .http_client()
        .expect("an HTTP client");
    aws.with_http_client(inject::injecting(offloading))
}

async fn rollout(tag: &str) -> Rollout {
    let w = World::paused(tag).await;
    let inj = Injector::new();
    let inst = Instrument::new();
    let aws = clients(inj.clone(), inst.clone()).await;
    let mut engine = Engine::new(aws.clone(), &w.table);
    engine.lease = LeaseSettings {
        wait: Duration::from_secs(60),
        ..LeaseSettings::default()
    };
    let api = w.profile("api");
    let out = engine
        .create(&api, &w.request("pr-1", &w.image("api", "sha-1")))
        .await
        .unwrap();
    assert!(out.dns_change_id.is_some(), "create carries its DNS change");
    let group = format!("/ecs/{}-api", w.prefix);
    let new_td = register_logging(&aws, &w.prefix, &group).await;
    let service_arn = out.service_arn.unwrap();
    let ids = Ids {
        cluster: api.target_cluster.clone(),
        service_name: service_arn.rsplit('/').next().unwrap().to_string(),
        service_arn: service_arn.clone(),
        new_td,
        old_td: out.task_definition_arn.unwrap(),
        group,
    };
    inst.reset();
    Rollout {
        _world: w,
        aws,
        inj,
        inst,
        subject: Subject {
            cluster: api.target_cluster,
            service: service_arn,
            target_group: out.target_group_arn.unwrap(),
            dns_change: out.dns_change_id,
        },
        ids,
        began: Instant::now(),
    }
}

/// The revision a deploy registered, as the reference's logs it: `awslogs`, stream prefix `api`.
async fn register_logging(aws: &Aws, prefix: &str, group: &str) -> String {
    let logs = LogConfiguration::builder()
        .log_driver(LogDriver::Awslogs)
        .options("awslogs-group", group)
        .options("awslogs-region", REGION)
        .options("awslogs-stream-prefix", "api")
        .build()
        .unwrap();
    aws.ecs
        .register_task_definition()
        .family(format!("{prefix}-api-pr-1"))
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image("123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/api:sha-2")
                .memory(512)
                .essential(true)
                .log_configuration(logs)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap()
}

impl Rollout {
    /// Seconds since the wait began (virtual).
    fn clock(&self) -> impl Fn() -> u64 + Send + Sync + Clone + 'static {
        let began = self.began;
        move || began.elapsed().as_secs()
    }

    /// ECS and ELB answer from `at(t)` for every read the wait makes.
    fn answer(&self, at: impl Fn(u64) -> Moment + Send + Sync + Clone + 'static) {
        let (ids, clock) = (self.ids.clone(), self.clock());
        let now = {
            let (at, clock) = (at.clone(), clock.clone());
            move || at(clock())
        };
        let n = now.clone();
        let i = ids.clone();
        let clone = ids.service_arn.clone();
        self.inj.add(
            Rule::answering("ECS", "DescribeServices", When::Instead, move || {
                services(&i, &n())
            })
            // the clone's only: a deploy before the wait reads the reference service too
            .input::<DescribeServicesInput>(move |d| d.services().contains(&clone)),
        );
        let n = now.clone();
        let i = ids.clone();
        self.inj.add(
            Rule::answering("ECS", "ListTasks", When::Instead, move || {
                list(&i, &n(), DesiredStatus::Running)
            })
            .input::<ListTasksInput>(|l| l.desired_status() != Some(&DesiredStatus::Stopped)),
        );
        let n = now.clone();
        let i = ids.clone();
        self.inj.add(
            Rule::answering("ECS", "ListTasks", When::Instead, move || {
                list(&i, &n(), DesiredStatus::Stopped)
            })
            .input::<ListTasksInput>(|l| l.desired_status() == Some(&DesiredStatus::Stopped)),
        );
        let n = now.clone();
        let i = ids.clone();
        self.inj.add(Rule::answering("ECS", "DescribeTasks", When::Instead, move || {
            Fake::ecs_ok(json!({ "tasks": n().tasks.iter().map(|t| t.json(&i)).collect::<Vec<_>>(), "failures": [] }))
        }));
        let n = now.clone();
        self.inj.add(Rule::answering(
            "Elastic Load Balancing v2",
            "DescribeTargetHealth",
            When::Instead,
            move || health(&n().targets),
        ));
        let n = now;
        self.inj.add(Rule::answering(
            "Route 53",
            "GetChange",
            When::Instead,
            move || change(n().dns_insync),
        ));
    }

    async fn wait(&self, timeout: Duration) -> anyhow::Result<()> {
        wait::until_ready(&self.aws, &self.subject, &Settings::new(timeout)).await
    }

    /// The poll requests, grouped by the (virtual) second they were made at; each poll made at
    /// most three, and the polls were 5 s apart.
    fn polls(&self) -> BTreeMap<u64, Vec<String>> {
        let mut by_time: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for c in self.inst.calls() {
            if POLL_OPS.contains(&c.operation.as_str()) {
                let t = c.ended.duration_since(self.began).as_secs();
                by_time.entry(t).or_default().push(c.operation);
            }
        }
        for (t, ops) in &by_time {
            assert!(ops.len() <= 3, "{} requests at {t} s: {ops:?}", ops.len());
            assert_eq!(t % 5, 0, "a poll at {t} s");
        }
        by_time
    }

    /// Every other request the wait made (on failure: the task definition, the log).
    fn others(&self) -> Vec<String> {
        let mut ops: Vec<String> = self
            .inst
            .calls()
            .into_iter()
            .map(|c| c.operation)
            .filter(|o| !POLL_OPS.contains(&o.as_str()))
            .collect();
        ops.sort();
        ops
    }
}

// ---- what AWS says at one moment ----

#[derive(Debug, Clone, Default)]
struct Moment {
    tasks: Vec<TaskNow>,
    /// (ip, state, reason, description)
    targets: Vec<(
        &'static str,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
    )>,
    failed_tasks: i32,
    /// (seconds after the deployment, message), newest first
    events: Vec<(f64, String)>,
    dns_insync: bool,
    rollout: &'static str,
    rollout_reason: Option<&'static str>,
}

#[derive(Debug, Clone)]
struct TaskNow {
    id: &'static str,
    new: bool,
    last: &'static str,
    desired: &'static str,
    ip: &'static str,
    stop: Option<(&'static str, &'static str)>,
    container: Value,
}

impl TaskNow {
    fn new(last: &'static str) -> TaskNow {
        TaskNow {
            id: NEW_TASK,
            new: true,
            last,
            desired: "RUNNING",
            ip: NEW_IP,
            stop: None,
            container: json!({ "name": "app", "lastStatus": last }),
        }
    }

    fn old(last: &'static str, desired: &'static str) -> TaskNow {
        TaskNow {
            id: OLD_TASK,
            new: false,
            last,
            desired,
            ip: OLD_IP,
            stop: None,
            container: json!({ "name": "app", "lastStatus": last }),
        }
    }

    fn stopped(mut self, code: &'static str, reason: &'static str, container: Value) -> TaskNow {
        self.last = "STOPPED";
        self.desired = "STOPPED";
        self.stop = Some((code, reason));
        self.container = container;
        self
    }

    /// A task as DescribeTasks returns it (awsvpc: the ENI attachment carries the address).
    fn json(&self, ids: &Ids) -> Value {
        let arn = ids.task_arn(self.id);
        let td = if self.new { &ids.new_td } else { &ids.old_td };
        let mut container = self.container.clone();
        container["taskArn"] = json!(arn);
        container["containerArn"] = json!(format!(
            "arn:aws:ecs:{REGION}:123456789012:container/{}/{}/1c2d",
            ids.cluster, self.id
        ));
        container["networkInterfaces"] =
            json!([{ "attachmentId": "a1b2", "privateIpv4Address": self.ip }]);
        let mut t = json!({
            "taskArn": arn,
            "clusterArn": format!("arn:aws:ecs:{REGION}:123456789012:cluster/{}", ids.cluster),
            "taskDefinitionArn": td,
            "lastStatus": self.last,
            "desiredStatus": self.desired,
            "launchType": "FARGATE",
            "group": format!("service:{}", ids.service_name),
            "startedBy": if self.new { "ecs-svc/2222222222222222222" } else { "ecs-svc/1111111111111111111" },
            "attachments": [{
                "id": "5e6f7a8b",
                "type": "ElasticNetworkInterface",
                "status": if self.last == "STOPPED" { "DELETED" } else { "ATTACHED" },
                "details": [
                    { "name": "subnetId", "value": "subnet-0a1b2c3d" },
                    { "name": "networkInterfaceId", "value": "eni-0a1b2c3d4e5f" },
                    { "name": "macAddress", "value": "0a:1b:2c:3d:4e:5f" },
                    { "name": "privateDnsName", "value": "ip-10-0-2-20.ap-northeast-1.compute.internal" },
                    { "name": "privateIPv4Address", "value": self.ip }
                ]
            }],
            "containers": [container],
            "createdAt": EPOCH + 1.0,
        });
        if let Some((code, reason)) = self.stop {
            t["stopCode"] = json!(code);
            t["stoppedReason"] = json!(reason);
            t["stoppingAt"] = json!(EPOCH + 20.0);
        }
        t
    }
}

fn services(ids: &Ids, m: &Moment) -> Fake {
    let running = |new: bool| {
        m.tasks
            .iter()
            .filter(|t| t.new == new && t.last == "RUNNING")
            .count()
    };
    Fake::ecs_ok(json!({
        "services": [{
            "serviceArn": ids.service_arn,
            "serviceName": ids.service_name,
            "clusterArn": format!("arn:aws:ecs:{REGION}:123456789012:cluster/{}", ids.cluster),
            "status": "ACTIVE",
            "desiredCount": 1,
            "runningCount": running(true) + running(false),
            "pendingCount": 0,
            "launchType": "FARGATE",
            "taskDefinition": ids.new_td,
            "deployments": [
                {
                    "id": "ecs-svc/2222222222222222222",
                    "status": "PRIMARY",
                    "taskDefinition": ids.new_td,
                    "desiredCount": 1,
                    "pendingCount": m.tasks.iter().filter(|t| t.new && t.last == "PENDING").count(),
                    "runningCount": running(true),
                    "failedTasks": m.failed_tasks,
                    "createdAt": EPOCH,
                    "updatedAt": EPOCH + 1.0,
                    "launchType": "FARGATE",
                    "rolloutState": m.rollout,
                    "rolloutStateReason": m.rollout_reason.unwrap_or("ECS deployment ecs-svc/2222222222222222222 in progress."),
                },
                {
                    "id": "ecs-svc/1111111111111111111",
                    "status": "ACTIVE",
                    "taskDefinition": ids.old_td,
                    "desiredCount": 1,
                    "pendingCount": 0,
                    "runningCount": running(false),
                    "failedTasks": 0,
                    "createdAt": EPOCH - 86_400.0,
                    "updatedAt": EPOCH - 86_000.0,
                    "launchType": "FARGATE",
                    "rolloutState": "COMPLETED",
                    "rolloutStateReason": "ECS deployment ecs-svc/1111111111111111111 completed.",
                }
            ],
            "events": m.events.iter().enumerate().map(|(i, (at, msg))| json!({
                "id": format!("e{i}"),
                "createdAt": EPOCH + at,
                "message": msg,
            })).collect::<Vec<_>>(),
        }],
        "failures": []
    }))
}

fn list(ids: &Ids, m: &Moment, status: DesiredStatus) -> Fake {
    let arns: Vec<String> = m
        .tasks
        .iter()
        .filter(|t| t.desired == status.as_str())
        .map(|t| ids.task_arn(t.id))
        .collect();
    Fake::ecs_ok(json!({ "taskArns": arns }))
}

fn health(targets: &[(&str, &str, Option<&str>, Option<&str>)]) -> Fake {
    let members: String = targets
        .iter()
        .map(|(ip, state, reason, description)| {
            let reason = reason.map(|r| format!("<Reason>{r}</Reason>")).unwrap_or_default();
            let description = description
                .map(|d| format!("<Description>{d}</Description>"))
                .unwrap_or_default();
            format!(
                "      <member>\n        <Target><Id>{ip}</Id><Port>8080</Port><AvailabilityZone>ap-northeast-1a</AvailabilityZone></Target>\n        <HealthCheckPort>8080</HealthCheckPort>\n        <TargetHealth><State>{state}</State>{reason}{description}</TargetHealth>\n      </member>\n"
            )
        })
        .collect();
    Fake::elbv2_ok(
        "DescribeTargetHealth",
        &format!("    <TargetHealthDescriptions>\n{members}    </TargetHealthDescriptions>"),
    )
}

fn change(insync: bool) -> Fake {
    let status = if insync { "INSYNC" } else { "PENDING" };
    Fake {
        status: 200,
        content_type: "text/xml",
        body: format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<GetChangeResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><ChangeInfo><Id>/change/C2682N5HXP0BZ4</Id><Status>{status}</Status><SubmittedAt>2025-12-05T06:00:00.000Z</SubmittedAt></ChangeInfo></GetChangeResponse>"),
    }
}

const HEALTHY: (&str, &str, Option<&str>, Option<&str>) = (OLD_IP, "healthy", None, None);

fn steady(
    tasks: Vec<TaskNow>,
    targets: Vec<(
        &'static str,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
    )>,
) -> Moment {
    Moment {
        tasks,
        targets,
        dns_insync: true,
        rollout: "IN_PROGRESS",
        ..Moment::default()
    }
}

// ---- the tests ----

/// A rolling update on tuned settings: the new task starts (PENDING until 10 s), registers,
/// passes its check at 25 s; ECS then deregisters the old task, whose target drains for the
/// deregistration delay (300 s on AWS's defaults) while the rollout stays IN_PROGRESS. The DNS
/// change is INSYNC from 15 s. Ready as soon as the new target is healthy and the old one drains.
#[tokio::test(start_paused = true)]
async fn ready_while_the_old_target_drains() {
    let r = rollout("wr").await;
    r.answer(|t| {
        let mut m = steady(vec![], vec![]);
        m.dns_insync = t >= 15;
        let new = TaskNow::new(if t < 10 { "PENDING" } else { "RUNNING" });
        let old = if t < 25 {
            TaskNow::old("RUNNING", "RUNNING")
        } else {
            TaskNow::old("DEACTIVATING", "STOPPED")
        };
        m.tasks = vec![new, old];
        m.targets = match t {
            0..10 => vec![HEALTHY],
            10..25 => vec![
                HEALTHY,
                (
                    NEW_IP,
                    "initial",
                    Some("Elb.RegistrationInProgress"),
                    Some("Target registration is in progress"),
                ),
            ],
            _ => vec![
                (
                    OLD_IP,
                    "draining",
                    Some("Target.DeregistrationInProgress"),
                    Some("Target deregistration is in progress"),
                ),
                (NEW_IP, "healthy", None, None),
            ],
        };
        m
    });
    // What the wait says it waits for, each time that changes (the comment shows it).
    let told = std::sync::Mutex::new(Vec::new());
    let progress = |w: &wait::Waiting| told.lock().unwrap().push(w.to_string());
    let settings = Settings::new(Duration::from_secs(600));
    wait::until_ready_reporting(&r.aws, &r.subject, &settings, &progress)
        .await
        .unwrap();
    let took = r.began.elapsed();
    assert!(
        took >= Duration::from_secs(25) && took <= Duration::from_secs(35),
        "ready at {took:?}: within two polls of the new target passing, not after the drain"
    );
    let told = told.into_inner().unwrap();
    assert!(
        told.first().is_some_and(|w| w.starts_with("starting task")),
        "{told:?}"
    );
    assert!(
        told.iter().any(|w| w.starts_with("health checks")),
        "{told:?}"
    );
    assert!(
        told.windows(2).all(|p| p[0] != p[1]),
        "told only on a change: {told:?}"
    );
    let polls = r.polls();
    assert_eq!(polls.len() as u64, took.as_secs() / 5 + 1, "{polls:?}");
    assert!(r.others().is_empty(), "{:?}", r.others());
}

/// Logs written by the container before it crashed, into moto's CloudWatch Logs.
async fn write_log(aws: &Aws, group: &str, stream: &str, lines: usize) {
    let _ = aws
        .logs
        .create_log_group()
        .log_group_name(group)
        .send()
        .await;
    aws.logs
        .create_log_stream()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await
        .unwrap();
    let mut put = aws
        .logs
        .put_log_events()
        .log_group_name(group)
        .log_stream_name(stream);
    // CloudWatch Logs (and moto) drop events older than 14 days: stamp them now
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for i in 1..=lines {
        put = put.log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(now - 60_000 + i as i64)
                .message(format!("line {i}"))
                .build()
                .unwrap(),
        );
    }
    let out = put.send().await.unwrap();
    assert!(out.rejected_log_events_info.is_none(), "{out:?}");
}

/// The container exits 1 at 20 s, after running 10 s. The wait fails at the next polls with the
/// stop code, the exit code, the last 30 of the 40 lines it logged, and the console link — not
/// after the circuit breaker's three failed tasks.
#[tokio::test(start_paused = true)]
async fn a_crash_fails_at_once_with_its_exit_code_and_log() {
    let r = rollout("wc").await;
    let stream = format!("api/app/{NEW_TASK}");
    write_log(&r.aws, &r.ids.group, &stream, 40).await;
    r.inst.reset();
    r.answer(|t| {
        let new = match t {
            0..10 => TaskNow::new("PENDING"),
            10..20 => TaskNow::new("RUNNING"),
            _ => TaskNow::new("RUNNING").stopped(
                "EssentialContainerExited",
                "Essential container in task exited",
                json!({ "name": "app", "lastStatus": "STOPPED", "exitCode": 1 }),
            ),
        };
        let mut m = steady(vec![new, TaskNow::old("RUNNING", "RUNNING")], vec![HEALTHY]);
        m.failed_tasks = i32::from(t >= 20);
        m
    });
    let err = r.wait(Duration::from_secs(600)).await.unwrap_err();
    let took = r.began.elapsed();
    let Some(WaitFailure::TaskStopped(stopped)) = err.downcast_ref::<WaitFailure>() else {
        panic!("{err:#}");
    };
    assert!(
        took >= Duration::from_secs(20) && took <= Duration::from_secs(30),
        "{took:?}"
    );
    assert_eq!(stopped.task_id, NEW_TASK);
    assert_eq!(
        stopped.stop_code.as_deref(),
        Some("EssentialContainerExited")
    );
    assert_eq!(stopped.containers.len(), 1);
    assert_eq!(stopped.containers[0].exit_code, Some(1));
    let log = stopped.log.as_ref().expect("the awslogs stream");
    assert_eq!(
        (log.group.as_str(), log.stream.as_str()),
        (r.ids.group.as_str(), stream.as_str())
    );
    let want: Vec<String> = (11..=40).map(|i| format!("line {i}")).collect();
    assert_eq!(log.lines, want);
    assert!(log.console_url.starts_with("https://ap-northeast-1.console.aws.amazon.com/cloudwatch/home?region=ap-northeast-1#logsV2:log-groups/log-group/"), "{}", log.console_url);
    assert!(
        log.console_url
            .ends_with(&format!("/log-events/api$252Fapp$252F{NEW_TASK}")),
        "{}",
        log.console_url
    );
    assert_eq!(
        err.to_string(),
        format!("task {NEW_TASK} stopped (EssentialContainerExited: Essential container in task exited); container app exited 1")
    );
    r.polls();
    assert_eq!(
        r.others(),
        ["CloudWatch Logs.GetLogEvents", "ECS.DescribeTaskDefinition"]
    );
}

/// The image cannot be pulled: the task stops at 8 s before it ever runs (TaskFailedToStart,
/// the container's reason, no exit code). The stream was never written: the failure still
/// names it and links it.
#[tokio::test(start_paused = true)]
async fn an_image_that_cannot_be_pulled_fails_with_the_reason() {
    let r = rollout("wp").await;
    const PULL: &str = "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/api:sha-2: not found";
    r.answer(|t| {
        let new = if t < 8 {
            TaskNow::new("PENDING")
        } else {
            TaskNow::new("PENDING").stopped(
                "TaskFailedToStart",
                PULL,
                json!({ "name": "app", "lastStatus": "STOPPED", "reason": PULL }),
            )
        };
        let mut m = steady(vec![new, TaskNow::old("RUNNING", "RUNNING")], vec![HEALTHY]);
        m.failed_tasks = i32::from(t >= 8);
        m
    });
    let err = r.wait(Duration::from_secs(600)).await.unwrap_err();
    let took = r.began.elapsed();
    let Some(WaitFailure::TaskStopped(stopped)) = err.downcast_ref::<WaitFailure>() else {
        panic!("{err:#}");
    };
    assert!(took <= Duration::from_secs(20), "{took:?}");
    assert_eq!(stopped.stop_code.as_deref(), Some("TaskFailedToStart"));
    assert_eq!(stopped.containers[0].reason.as_deref(), Some(PULL));
    assert_eq!(stopped.containers[0].exit_code, None);
    let log = stopped
        .log
        .as_ref()
        .expect("the stream is named even when empty");
    assert!(log.lines.is_empty());
    r.polls();
}

/// ECS cannot place the task (service event at 5 s); an older event from before this
/// deployment does not count. Fails at the first poll that sees the new event.
#[tokio::test(start_paused = true)]
async fn an_unplaceable_task_fails_with_the_service_event() {
    let r = rollout("wu").await;
    let name = r.ids.service_name.clone();
    r.answer(move |t| {
        let mut m = steady(vec![TaskNow::old("RUNNING", "RUNNING")], vec![HEALTHY]);
        let event = format!("(service {name}) was unable to place a task because no container instance met all of its requirements. Reason: No Container Instances were found in your cluster.");
        if t >= 5 {
            m.events.push((5.0, event.clone()));
        }
        m.events.push((-600.0, event));
        m
    });
    let err = r.wait(Duration::from_secs(600)).await.unwrap_err();
    let Some(WaitFailure::Unplaceable { event }) = err.downcast_ref::<WaitFailure>() else {
        panic!("{err:#}");
    };
    assert!(event.starts_with(&format!(
        "(service {}) was unable to place a task",
        r.ids.service_name
    )));
    assert_eq!(r.began.elapsed(), Duration::from_secs(5));
    r.polls();
}

/// The new task runs from 10 s, but its health check answers 404 from 20 s on; the old target
/// stays healthy. At the timeout (120 s) the wait names the target's state and reason, the
/// check's path and port (moto's target group, copied from the reference: `/health`), and how
/// long it has been failing.
#[tokio::test(start_paused = true)]
async fn a_404_health_check_says_so_at_the_timeout() {
    let r = rollout("wh").await;
    r.answer(|t| {
        let new = TaskNow::new(if t < 10 { "PENDING" } else { "RUNNING" });
        let targets = match t {
            0..10 => vec![HEALTHY],
            10..20 => vec![
                HEALTHY,
                (
                    NEW_IP,
                    "initial",
                    Some("Elb.RegistrationInProgress"),
                    Some("Target registration is in progress"),
                ),
            ],
            _ => vec![
                HEALTHY,
                (
                    NEW_IP,
                    "unhealthy",
                    Some("Target.ResponseCodeMismatch"),
                    Some("Health checks failed with these codes: [404]"),
                ),
            ],
        };
        steady(vec![new, TaskNow::old("RUNNING", "RUNNING")], targets)
    });
    let err = r.wait(Duration::from_secs(120)).await.unwrap_err();
    assert_eq!(r.began.elapsed(), Duration::from_secs(120));
    let Some(WaitFailure::Unhealthy(u)) = err.downcast_ref::<WaitFailure>() else {
        panic!("{err:#}");
    };
    assert_eq!(u.targets.len(), 1);
    assert_eq!(u.targets[0].id, NEW_IP);
    assert_eq!(
        u.targets[0].reason.as_deref(),
        Some("Target.ResponseCodeMismatch")
    );
    assert_eq!(
        u.targets[0].description.as_deref(),
        Some("Health checks failed with these codes: [404]")
    );
    let hc = u.health_check.as_ref().expect("the target group's check");
    assert_eq!(hc.path.as_deref(), Some("/health"));
    assert!(hc.port.is_some());
    assert!((90..=100).contains(&u.failing_secs), "{}", u.failing_secs);
    let one_line = err.to_string();
    assert!(
        one_line
            .contains("Target.ResponseCodeMismatch: Health checks failed with these codes: [404]"),
        "{one_line}"
    );
    r.polls();
    assert_eq!(
        r.others(),
        ["Elastic Load Balancing v2.DescribeTargetGroups"]
    );
}

/// ECS's circuit breaker gives up (rollout FAILED) before the wait saw a stopped task: that
/// fails it too, with ECS's reason.
#[tokio::test(start_paused = true)]
async fn a_failed_rollout_fails_with_its_reason() {
    let r = rollout("wf").await;
    r.answer(|t| {
        let mut m = steady(vec![TaskNow::old("RUNNING", "RUNNING")], vec![HEALTHY]);
        if t >= 15 {
            m.rollout = "FAILED";
            m.rollout_reason = Some("ECS deployment circuit breaker: tasks failed to start.");
        }
        m
    });
    let err = r.wait(Duration::from_secs(600)).await.unwrap_err();
    assert!(matches!(
        err.downcast_ref::<WaitFailure>(),
        Some(WaitFailure::RolloutFailed { reason }) if reason == "ECS deployment circuit breaker: tasks failed to start."
    ));
    assert_eq!(r.began.elapsed(), Duration::from_secs(15));
    r.polls();
}

/// The preview core's comment while a deploy waits: each poll (every 5 s) sees the new target in
/// a different state, so the wait tells a change every poll; the comment shows what it waits for
/// at most every 15 s (the latest state then), only after the deploying comment, and ends ready.
#[tokio::test(start_paused = true)]
async fn the_comment_tells_the_waits_progress_at_most_every_15_s() {
    use eden::preview::{
        Author, Command, Context, Options, Origin, PrEvent, ProfileSource, Request, Target,
        WaitSettings, PROGRESS_EVERY,
    };
    const REPO: &str = "Codertocat/Hello-World";
    let r = rollout("wp").await;
    let ready_at = 60;
    r.answer(move |t| {
        let mut m = steady(vec![], vec![]);
        let new = TaskNow::new(if t < 5 { "PENDING" } else { "RUNNING" });
        let old = TaskNow::old("RUNNING", if t < ready_at { "RUNNING" } else { "STOPPED" });
        m.tasks = vec![new, old];
        m.targets = match t {
            0..5 => vec![HEALTHY],
            t if t < ready_at && (t / 5) % 2 == 0 => vec![
                HEALTHY,
                (NEW_IP, "initial", Some("Elb.RegistrationInProgress"), None),
            ],
            t if t < ready_at => vec![
                HEALTHY,
                (
                    NEW_IP,
                    "unhealthy",
                    Some("Target.ResponseCodeMismatch"),
                    None,
                ),
            ],
            _ => vec![
                (
                    OLD_IP,
                    "draining",
                    Some("Target.DeregistrationInProgress"),
                    None,
                ),
                (NEW_IP, "healthy", None, None),
            ],
        };
        m
    });
    let event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            root().join("tests/fixtures/github/pull_request.synchronize.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let gh = common::fake_github::FakeGitHub::start(&event).await;
    let dir = tempfile::tempdir().unwrap();
    let w = &r._world;
    let mut engine = Engine::new(r.aws.clone(), &w.table);
    engine.lease.wait = Duration::from_secs(60);
    let mut ctx = Context::new(
        engine,
        Origin {
            repository: REPO.into(),
            server_url: "https://github.com".into(),
            run_url: None,
        },
        ProfileSource::File(w.write_config(dir.path())),
    );
    let (github, calls) = paused::github(&gh.url(), REPO);
    ctx.github = Some(github);
    ctx.author = Author::Discover;
    ctx.options = Options {
        comment: true,
        wait: Some(WaitSettings {
            timeout: Duration::from_secs(600),
            interval: Duration::from_secs(5),
        }),
        ..Options::default()
    };
    let prepared = ctx
        .prepare(Request {
            event: Some(PrEvent::parse(&event.to_string()).unwrap()),
            command: Command::Auto,
            label: None,
            name: Some("pr-1".into()),
            targets: vec![Target {
                profile: "api".into(),
                image_uri: Some(w.image("api", "sha-2")),
            }],
        })
        .await
        .unwrap();
    let began = Instant::now();
    let report = ctx.execute(&prepared).await;
    assert!(report.ok(), "{:?}", report.failures());
    let took = began.elapsed().as_secs();
    assert!(
        (ready_at..ready_at + 10).contains(&took),
        "ready at {took} s"
    );

    // The comment's writes, in order, with their virtual time.
    let writes: Vec<_> = calls
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.path.contains("/comments") && c.method != "GET")
        .cloned()
        .collect();
    let says = |c: &paused::GitHubCall, what: &str| c.body.contains(what);
    let progress: Vec<_> = writes.iter().filter(|c| says(c, "Waiting for ")).collect();
    assert!(says(&writes[0], "deploying") && !says(&writes[0], "Waiting for "));
    assert!(
        says(writes.last().unwrap(), "ready"),
        "{:?}",
        writes.last().map(|c| &c.body)
    );
    let waited: Vec<u64> = progress.iter().map(|c| (c.at - began).as_secs()).collect();
    eprintln!("progress edits at {waited:?} s; ready at {took} s");
    // Without the throttle every poll would edit it: 12 changes in 60 s.
    assert!(
        (3..=(ready_at / PROGRESS_EVERY.as_secs() + 1) as usize).contains(&progress.len()),
        "progress edits at {waited:?} s"
    );
    assert!(
        waited
            .windows(2)
            .all(|p| p[1] - p[0] >= PROGRESS_EVERY.as_secs()),
        "progress edits at {waited:?} s: at most every 15 s"
    );
    assert!(says(progress[0], "starting task"), "{}", progress[0].body);
    assert!(
        progress[1..].iter().all(|c| says(c, "health checks")),
        "after the task runs, the health checks: {:?}",
        progress.iter().map(|c| &c.body).collect::<Vec<_>>()
    );
    assert!(
        progress
            .windows(2)
            .any(|p| says(p[0], "initial") != says(p[1], "initial")),
        "each edit shows the state at its time, not the first one seen"
    );
    assert!(gh.unexpected().is_empty(), "{:?}", gh.unexpected());
}
