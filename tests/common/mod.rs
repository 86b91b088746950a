//! Test harness: the moto emulator (started by scripts/emulator.sh when AWS_ENDPOINT_URL is
//! unset), one seeded "world" per test, and independent reads of the account.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};

use eden::aws::{Aws, ClientOptions, Instrument};
use eden::engine::{CreateRequest, Engine, LeaseSettings};
use eden::profile::{Profile, RawProfile};
use serde_json::Value;

pub mod fake_github;
pub mod hold_proxy;
pub mod observe;
pub mod paused;
pub mod pool;
pub mod ready;
pub mod serve;

pub const REGION: &str = "ap-northeast-1";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The emulator's URL: AWS_ENDPOINT_URL, or one started now by the project's script.
/// The `eden` binary: cargo's for tests; for the examples (which cargo gives no binary path),
/// the debug build's.
pub fn eden_bin() -> PathBuf {
    match option_env!("CARGO_BIN_EXE_eden") {
        Some(p) => PathBuf::from(p),
        None => root().join("target/debug/eden"),
    }
}

pub fn endpoint() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("AWS_ENDPOINT_URL") {
            return url;
        }
        let out = Command::new("bash")
            .arg(root().join("scripts/emulator.sh"))
            .arg("start")
            .output()
            .expect("run scripts/emulator.sh");
        assert!(
            out.status.success(),
            "emulator did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    })
    .clone()
}

pub fn python() -> PathBuf {
    std::env::var_os("EDEN_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv-moto/bin/python"))
}

pub async fn aws(instrument: Option<Arc<Instrument>>) -> Aws {
    Aws::load(ClientOptions {
        instrument,
        region: Some(REGION.into()),
        endpoint_url: Some(endpoint()),
        static_credentials: Some(("testing".into(), "testing".into())),
        delay: None,
        ..Default::default()
    })
    .await
}

/// Clients whose answers can be replaced by real-AWS ones (see `eden::aws::inject`).
pub async fn aws_injected(injector: Arc<eden::aws::Injector>) -> Aws {
    Aws::load(ClientOptions {
        region: Some(REGION.into()),
        endpoint_url: Some(endpoint()),
        static_credentials: Some(("testing".into(), "testing".into())),
        inject: Some(injector),
        ..Default::default()
    })
    .await
}

/// Run the `eden` binary against the emulator with `home` as HOME (so `~/.eden/config` is
/// private to the test): (exit code, stdout, stderr).
pub fn eden_cli(home: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(eden_bin())
        .args(args)
        .env("HOME", home)
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env_remove("EDEN_PROFILE")
        .env_remove("EDEN_CONFIG_PATH")
        .env_remove("EDEN_TABLE")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// The `eden` binary as a child process (tokio), against `endpoint` (the emulator or a proxy in
/// front of it), with `home` as HOME and extra environment; stdout and stderr piped.
pub fn eden_process(
    home: &std::path::Path,
    endpoint: &str,
    args: &[&str],
    envs: &[(&str, &str)],
) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(eden_bin());
    c.args(args)
        .env("HOME", home)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env_remove("EDEN_PROFILE")
        .env_remove("EDEN_CONFIG_PATH")
        .env_remove("EDEN_TABLE")
        .env_remove("EDEN_LEASE_SECONDS")
        .envs(envs.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    c
}

/// A seeded, isolated slice of the emulator's account.
pub struct World {
    pub prefix: String,
    pub seed: Value,
    pub aws: Aws,
    pub table: String,
    /// Requests go through [`paused::offloaded`] (tests on tokio's paused clock).
    pub paused: bool,
}

impl World {
    pub async fn new(tag: &str) -> World {
        let prefix = format!("{tag}{:04x}", rand::random::<u16>());
        assert!(prefix.len() <= 8, "world prefix {prefix} too long");
        let out = Command::new(python())
            .arg(root().join("scripts/seed.py"))
            .args([
                "--endpoint",
                &endpoint(),
                "--prefix",
                &prefix,
                "--region",
                REGION,
            ])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .output()
            .expect("run scripts/seed.py");
        assert!(
            out.status.success(),
            "seeding failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let seed: Value = serde_json::from_slice(&out.stdout).unwrap();
        World {
            table: format!("{prefix}-eden"),
            prefix,
            seed,
            aws: aws(None).await,
            paused: false,
        }
    }

    /// A world for a test on tokio's paused clock (`#[tokio::test(start_paused = true)]`): every
    /// client sends its requests off the test's runtime, so time advances only while the code
    /// under test sleeps (lease waits, heartbeats), never while a request is in flight.
    pub async fn paused(tag: &str) -> World {
        let mut w = World::new(tag).await;
        w.aws = paused::offloaded(&w.aws);
        w.paused = true;
        w
    }

    /// Create the state table the way an account that used eden has it (create, then delete,
    /// one environment), so a snapshot taken now is what eden leaves behind.
    pub async fn warm(&self) {
        let engine = self.engine(None).await;
        let api = self.profile("api");
        engine
            .create(&api, &self.request("warm", &self.image("api", "sha-0")))
            .await
            .unwrap();
        engine.delete(&api, "warm").await.unwrap();
    }

    pub fn raw(&self, profile: &str) -> RawProfile {
        self.seed["profiles"][profile]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect()
    }

    /// A target group on the world's VPC, attached to the shared ALB through a rule when `attach`.
    pub async fn target_group(&self, name: &str, attach: bool) -> String {
        let w = self;
        let reference = w.s(&["references", "api", "target_group_arn"]);
        let vpc = w
            .aws
            .elb
            .describe_target_groups()
            .target_group_arns(reference)
            .send()
            .await
            .unwrap()
            .target_groups
            .unwrap()[0]
            .vpc_id
            .clone()
            .unwrap();
        let tg = w
            .aws
            .elb
            .create_target_group()
            .name(format!("{}-{name}", w.prefix))
            .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
            .port(8080)
            .vpc_id(vpc)
            .target_type(aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Ip)
            .send()
            .await
            .unwrap()
            .target_groups
            .unwrap()[0]
            .target_group_arn
            .clone()
            .unwrap();
        if attach {
            use aws_sdk_elasticloadbalancingv2::types::{
                Action as A, ActionTypeEnum, RuleCondition,
            };
            w.aws
                .elb
                .create_rule()
                .listener_arn(w.s(&["listener_arn"]))
                .priority(49_000)
                .conditions(
                    RuleCondition::builder()
                        .field("host-header")
                        .values("waker.invalid")
                        .build(),
                )
                .actions(
                    A::builder()
                        .r#type(ActionTypeEnum::Forward)
                        .target_group_arn(&tg)
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
        tg
    }

    pub fn profile(&self, name: &str) -> Profile {
        Profile::from_raw(name, &self.raw(name)).unwrap()
    }

    /// The profiles as an INI file, for the binary.
    pub fn write_config(&self, dir: &std::path::Path) -> PathBuf {
        let path = dir.join("config");
        let mut text = String::new();
        for name in ["api", "admin"] {
            text.push_str(&format!("[{name}]\n"));
            for (k, v) in self.raw(name) {
                text.push_str(&format!("{k} = {v}\n"));
            }
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    pub async fn engine(&self, instrument: Option<Arc<Instrument>>) -> Engine {
        let mut a = aws(instrument).await;
        if self.paused {
            a = paused::offloaded(&a);
        }
        let mut e = Engine::new(a, &self.table);
        e.lease = LeaseSettings {
            wait: std::time::Duration::from_secs(60),
            ..LeaseSettings::default()
        };
        e
    }

    /// An engine whose AWS answers can be replaced by real-AWS ones (tests/aws_real*.rs).
    pub async fn engine_injected(&self, injector: Arc<eden::aws::Injector>) -> Engine {
        let mut e = Engine::new(aws_injected(injector).await, &self.table);
        e.lease = LeaseSettings {
            wait: std::time::Duration::from_secs(60),
            ..LeaseSettings::default()
        };
        e
    }

    pub fn image(&self, profile: &str, tag: &str) -> String {
        self.seed["references"][profile]["images"][tag]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn digest_image(&self, profile: &str, tag: &str) -> String {
        self.seed["references"][profile]["digests"][tag]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn s(&self, path: &[&str]) -> String {
        let mut v = &self.seed;
        for p in path {
            v = &v[*p];
        }
        v.as_str()
            .unwrap_or_else(|| panic!("seed has no {path:?}"))
            .to_string()
    }

    /// Everything this world holds that eden could touch, read independently of the engine.
    pub async fn snapshot(&self) -> Snapshot {
        let aws = &self.aws;
        let cluster = self.s(&["cluster"]);
        let mut snap = Snapshot::default();

        let mut token = None;
        let mut arns = Vec::new();
        loop {
            let out = aws
                .ecs
                .list_services()
                .cluster(&cluster)
                .set_next_token(token)
                .send()
                .await
                .unwrap();
            arns.extend(out.service_arns.unwrap_or_default());
            token = out.next_token;
            if token.is_none() {
                break;
            }
        }
        for chunk in arns.chunks(10) {
            let out = aws
                .ecs
                .describe_services()
                .cluster(&cluster)
                .set_services(Some(chunk.to_vec()))
                .send()
                .await
                .unwrap();
            for s in out.services.unwrap_or_default() {
                if s.status() == Some("ACTIVE") || s.status() == Some("DRAINING") {
                    snap.services.insert(format!(
                        "{}|{}",
                        s.service_name().unwrap(),
                        s.task_definition().unwrap_or("")
                    ));
                }
            }
        }
        for status in [
            aws_sdk_ecs::types::TaskDefinitionStatus::Active,
            aws_sdk_ecs::types::TaskDefinitionStatus::Inactive,
        ] {
            let mut token = None;
            loop {
                let out = aws
                    .ecs
                    .list_task_definitions()
                    .status(status.clone())
                    .set_next_token(token)
                    .send()
                    .await
                    .unwrap();
                for a in out.task_definition_arns.unwrap_or_default() {
                    if a.contains(&format!("task-definition/{}-", self.prefix)) {
                        snap.task_definitions.insert(format!("{a}|{status}"));
                    }
                }
                token = out.next_token;
                if token.is_none() {
                    break;
                }
            }
        }
        let mut marker = None;
        loop {
            let out = aws
                .elb
                .describe_target_groups()
                .set_marker(marker)
                .send()
                .await
                .unwrap();
            for tg in out.target_groups.unwrap_or_default() {
                let name = tg.target_group_name().unwrap().to_string();
                if name.starts_with(&self.prefix) {
                    snap.target_groups.insert(name);
                }
            }
            marker = out.next_marker;
            if marker.is_none() {
                break;
            }
        }
        let mut marker = None;
        loop {
            let out = aws
                .elb
                .describe_rules()
                .listener_arn(self.s(&["listener_arn"]))
                .set_marker(marker)
                .send()
                .await
                .unwrap();
            for r in out.rules.unwrap_or_default() {
                let hosts: Vec<String> = r
                    .conditions()
                    .iter()
                    .flat_map(|c| {
                        c.host_header_config()
                            .map(|h| h.values().to_vec())
                            .unwrap_or_default()
                            .into_iter()
                            .chain(c.values().to_vec())
                    })
                    .collect();
                snap.rules.insert(format!(
                    "{}|{}",
                    r.priority().unwrap_or(""),
                    hosts.join(",")
                ));
            }
            marker = out.next_marker;
            if marker.is_none() {
                break;
            }
        }
        let out = aws
            .route53
            .list_resource_record_sets()
            .hosted_zone_id(self.s(&["zone_id"]))
            .send()
            .await
            .unwrap();
        for r in out.resource_record_sets {
            if !matches!(
                r.r#type,
                aws_sdk_route53::types::RrType::Ns | aws_sdk_route53::types::RrType::Soa
            ) {
                snap.records
                    .insert(format!("{}|{}", r.name, r.r#type.as_str()));
            }
        }
        if let Ok(out) = aws
            .s3
            .get_object()
            .bucket(self.s(&["bucket"]))
            .key("environments.json")
            .send()
            .await
        {
            let bytes = out.body.collect().await.unwrap().into_bytes();
            snap.environments_file = serde_json::from_slice(&bytes).unwrap();
        }
        if let Ok(out) = aws.dynamodb.scan().table_name(&self.table).send().await {
            for item in out.items.unwrap_or_default() {
                let t = item
                    .get("type")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                let n = item
                    .get("name")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                snap.state_items.insert(format!("{t}|{n}"));
            }
        }
        snap
    }

    pub fn request(&self, env: &str, image: &str) -> CreateRequest {
        CreateRequest {
            environment: env.into(),
            image_uri: image.into(),
            metadata: BTreeMap::new(),
            env: Vec::new(),
        }
    }

    pub async fn environments_file(&self) -> Value {
        self.snapshot().await.environments_file
    }
}

#[derive(Debug, Default, PartialEq, Clone)]
pub struct Snapshot {
    pub services: BTreeSet<String>,
    pub task_definitions: BTreeSet<String>,
    pub target_groups: BTreeSet<String>,
    pub rules: BTreeSet<String>,
    pub records: BTreeSet<String>,
    pub environments_file: Value,
    pub state_items: BTreeSet<String>,
}

/// Independently check that one environment is complete and correct, and return its ARNs.
pub struct Checked {
    pub service_arn: String,
    pub task_definition_arn: String,
    pub target_group_arn: String,
    pub rule_arn: String,
    pub hostname: String,
}

pub async fn verify_environment(w: &World, profile: &str, env: &str, image: &str) -> Checked {
    verify_environment_with_env(w, profile, env, image, &[]).await
}

/// `verify_environment`, where the target container's environment is the reference's with
/// `extra` set (added, or replaced in place).
pub async fn verify_environment_with_env(
    w: &World,
    profile: &str,
    env: &str,
    image: &str,
    extra: &[(&str, &str)],
) -> Checked {
    let aws = &w.aws;
    let p = w.profile(profile);
    let names = eden::names::ResourceNames::new(&p.name_prefix, &p.domain_name_prefix, env);
    let hostname = names.hostname(&w.s(&["zone_name"]));
    let cluster = w.s(&["cluster"]);

    // ECS service: one, ACTIVE, cloned from the reference, on the new target group.
    let svc = aws
        .ecs
        .describe_services()
        .cluster(&cluster)
        .services(&names.service)
        .include(aws_sdk_ecs::types::ServiceField::Tags)
        .send()
        .await
        .unwrap();
    let svc = svc
        .services()
        .first()
        .unwrap_or_else(|| panic!("service {} missing", names.service))
        .clone();
    assert_eq!(svc.status(), Some("ACTIVE"));
    let reference = aws
        .ecs
        .describe_services()
        .cluster(&cluster)
        .services(w.s(&["references", profile, "service_arn"]))
        .send()
        .await
        .unwrap()
        .services()[0]
        .clone();
    assert_eq!(svc.launch_type(), reference.launch_type());
    assert_eq!(
        svc.network_configuration(),
        reference.network_configuration()
    );
    assert_eq!(
        svc.health_check_grace_period_seconds(),
        reference.health_check_grace_period_seconds()
    );
    assert_eq!(svc.platform_version(), reference.platform_version());
    assert_eq!(svc.desired_count(), reference.desired_count());
    let lb = &svc.load_balancers()[0];
    assert_eq!(
        lb.container_name(),
        reference.load_balancers()[0].container_name()
    );
    assert_ne!(
        lb.target_group_arn(),
        reference.load_balancers()[0].target_group_arn()
    );
    let tags: BTreeMap<&str, &str> = svc
        .tags()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert_eq!(tags.get("eden:managed"), Some(&"true"));
    assert_eq!(tags.get("eden:profile"), Some(&profile));
    assert_eq!(svc.propagate_tags().map(|p| p.as_str()), Some("SERVICE"));

    // Task definition: every field of the reference, the image swapped in the target container only.
    let td_arn = svc.task_definition().unwrap().to_string();
    let td = aws
        .ecs
        .describe_task_definition()
        .task_definition(&td_arn)
        .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
        .send()
        .await
        .unwrap();
    let td_tags: BTreeMap<String, String> = td
        .tags()
        .iter()
        .map(|t| (t.key().unwrap().into(), t.value().unwrap().into()))
        .collect();
    let td = td.task_definition.unwrap();
    let rtd = aws
        .ecs
        .describe_task_definition()
        .task_definition(reference.task_definition().unwrap())
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap();
    assert_eq!(td.family(), Some(names.family.as_str()));
    assert_eq!(td.runtime_platform(), rtd.runtime_platform());
    assert_eq!(td.ephemeral_storage(), rtd.ephemeral_storage());
    assert_eq!(td.volumes(), rtd.volumes());
    assert_eq!(td.task_role_arn(), rtd.task_role_arn());
    assert_eq!(td.execution_role_arn(), rtd.execution_role_arn());
    assert_eq!((td.cpu(), td.memory()), (rtd.cpu(), rtd.memory()));
    assert_eq!(
        td.requires_compatibilities(),
        rtd.requires_compatibilities()
    );
    assert_eq!(
        td_tags.get("eden:environment").map(String::as_str),
        Some(eden::engine::tags::value(env).as_str())
    );
    let target = lb.container_name().unwrap();
    for (c, rc) in td
        .container_definitions()
        .iter()
        .zip(rtd.container_definitions())
    {
        if c.name() == Some(target) {
            assert_eq!(c.image(), Some(image));
            let mut want: Vec<(String, String)> = rc
                .environment()
                .iter()
                .map(|kv| {
                    (
                        kv.name().unwrap_or("").into(),
                        kv.value().unwrap_or("").into(),
                    )
                })
                .collect();
            for (k, v) in extra {
                match want.iter_mut().find(|(n, _)| n == k) {
                    Some(kv) => kv.1 = v.to_string(),
                    None => want.push((k.to_string(), v.to_string())),
                }
            }
            let got: Vec<(String, String)> = c
                .environment()
                .iter()
                .map(|kv| {
                    (
                        kv.name().unwrap_or("").into(),
                        kv.value().unwrap_or("").into(),
                    )
                })
                .collect();
            assert_eq!(got, want);
            assert_eq!(c.port_mappings(), rc.port_mappings());
        } else {
            assert_eq!(c, rc, "sidecar changed");
        }
    }

    // Target group: settings and attributes of the reference's.
    let tg_arn = lb.target_group_arn().unwrap().to_string();
    let tg = aws
        .elb
        .describe_target_groups()
        .target_group_arns(&tg_arn)
        .send()
        .await
        .unwrap()
        .target_groups()[0]
        .clone();
    let rtg = aws
        .elb
        .describe_target_groups()
        .target_group_arns(w.s(&["references", profile, "target_group_arn"]))
        .send()
        .await
        .unwrap()
        .target_groups()[0]
        .clone();
    assert_eq!(tg.target_group_name(), Some(names.target_group.as_str()));
    assert_eq!(
        (tg.port(), tg.protocol(), tg.vpc_id(), tg.target_type()),
        (rtg.port(), rtg.protocol(), rtg.vpc_id(), rtg.target_type())
    );
    // the reference's path and matcher; the profile's tuning (preview by default), or the
    // reference's interval, timeout and thresholds under `target_group_tuning = reference`
    assert_eq!(
        (tg.health_check_path(), tg.matcher()),
        (rtg.health_check_path(), rtg.matcher())
    );
    let hc = |t: &aws_sdk_elasticloadbalancingv2::types::TargetGroup| {
        (
            t.health_check_interval_seconds(),
            t.health_check_timeout_seconds(),
            t.healthy_threshold_count(),
            t.unhealthy_threshold_count(),
        )
    };
    let tuning = p.target_group_tuning;
    let want = match tuning {
        Some(t) => (
            Some(t.health_check_interval),
            Some(t.health_check_timeout),
            Some(t.healthy_threshold),
            Some(t.unhealthy_threshold),
        ),
        None => hc(&rtg),
    };
    assert_eq!(hc(&tg), want);
    let attrs = |arn: String| async move {
        aws.elb
            .describe_target_group_attributes()
            .target_group_arn(arn)
            .send()
            .await
            .unwrap()
            .attributes()
            .iter()
            .map(|a| (a.key().unwrap().to_string(), a.value().unwrap().to_string()))
            .collect::<BTreeMap<_, _>>()
    };
    let (a, ra) = (
        attrs(tg_arn.clone()).await,
        attrs(rtg.target_group_arn().unwrap().to_string()).await,
    );
    let delay = tuning.map_or(15, |t| t.deregistration_delay);
    assert_eq!(
        a.get("deregistration_delay.timeout_seconds"),
        Some(&delay.to_string())
    );
    assert_eq!(a.get("stickiness.enabled"), ra.get("stickiness.enabled"));

    // Exactly one host-header rule for the hostname, forwarding to the new target group.
    let rules = aws
        .elb
        .describe_rules()
        .listener_arn(w.s(&["listener_arn"]))
        .send()
        .await
        .unwrap();
    let ours: Vec<_> = rules
        .rules()
        .iter()
        .filter(|r| {
            r.conditions().iter().any(|c| {
                c.host_header_config()
                    .is_some_and(|h| h.values().contains(&hostname))
            })
        })
        .collect();
    assert_eq!(ours.len(), 1, "rules for {hostname}");
    assert_eq!(
        ours[0].actions()[0].target_group_arn(),
        Some(tg_arn.as_str())
    );

    // DNS: an A alias to the common ALB.
    let rr = aws
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(w.s(&["zone_id"]))
        .start_record_name(&hostname)
        .max_items(1)
        .send()
        .await
        .unwrap();
    let rec = &rr.resource_record_sets()[0];
    assert_eq!(rec.name(), format!("{hostname}."));
    assert_eq!(rec.r#type().as_str(), "A");
    assert!(rec
        .alias_target()
        .unwrap()
        .dns_name()
        .trim_end_matches('.')
        .eq_ignore_ascii_case(&w.s(&["alb_dns"])));

    // State item, original layout plus ARNs.
    let item = aws
        .dynamodb
        .get_item()
        .table_name(&w.table)
        .key(
            "type",
            aws_sdk_dynamodb::types::AttributeValue::S(profile.into()),
        )
        .key(
            "name",
            aws_sdk_dynamodb::types::AttributeValue::S(env.into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("state item");
    assert_eq!(item["kind"].as_s().unwrap(), "environment");
    assert_eq!(item["endpoint"].as_s().unwrap(), &hostname);
    assert!(item["last_updated"].as_n().is_ok());
    assert_eq!(
        item["service_arn"].as_s().unwrap(),
        svc.service_arn().unwrap()
    );
    assert_eq!(item["image"].as_s().unwrap(), image);
    assert!(!item.contains_key("lease_owner"), "lease still held");

    Checked {
        service_arn: svc.service_arn().unwrap().into(),
        task_definition_arn: td_arn,
        target_group_arn: tg_arn,
        rule_arn: ours[0].rule_arn().unwrap().into(),
        hostname,
    }
}

/// Attach `n` extra target groups to the world's shared ALB (each forwarded to by a rule on a
/// second listener, HTTP:8080): moto does not enforce the 100-per-ALB limit, so tests fill the
/// ALB to check eden's own precheck. One call at a time: moto's ELBv2 iterates its target
/// groups while validating actions and fails ("mutated during iteration") when another request
/// adds one at that moment.
pub async fn fill_alb_with_target_groups(w: &World, n: usize) {
    use aws_sdk_elasticloadbalancingv2::types::{
        Action, ActionTypeEnum, FixedResponseActionConfig, ProtocolEnum,
    };
    let elb = &w.aws.elb;
    let vpc = elb
        .describe_target_groups()
        .target_group_arns(w.s(&["references", "api", "target_group_arn"]))
        .send()
        .await
        .unwrap()
        .target_groups()[0]
        .vpc_id()
        .unwrap()
        .to_string();
    let listener = elb
        .create_listener()
        .load_balancer_arn(w.s(&["alb_arn"]))
        .protocol(ProtocolEnum::Http)
        .port(8080)
        .default_actions(
            Action::builder()
                .r#type(ActionTypeEnum::FixedResponse)
                .fixed_response_config(
                    FixedResponseActionConfig::builder()
                        .status_code("404")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .listeners()[0]
        .listener_arn()
        .unwrap()
        .to_string();
    let one = |i: usize| {
        let (vpc, listener) = (vpc.clone(), listener.clone());
        async move {
            let tg = elb
                .create_target_group()
                .name(format!("{}-fill{i}", w.prefix))
                .protocol(ProtocolEnum::Http)
                .port(80)
                .vpc_id(vpc)
                .send()
                .await
                .unwrap()
                .target_groups()[0]
                .target_group_arn()
                .unwrap()
                .to_string();
            add_forward_rule(
                w,
                &listener,
                i as i32 + 1,
                "path-pattern",
                &format!("/fill{i}"),
                &tg,
            )
            .await;
        }
    };
    for i in 0..n {
        one(i).await;
    }
}

/// One listener rule: `field` (`host-header`, `path-pattern`) = `value` → forward to `tg`.
async fn add_forward_rule(
    w: &World,
    listener: &str,
    priority: i32,
    field: &str,
    value: &str,
    tg: &str,
) {
    use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, RuleCondition};
    w.aws
        .elb
        .create_rule()
        .listener_arn(listener)
        .priority(priority)
        .conditions(RuleCondition::builder().field(field).values(value).build())
        .actions(
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(tg)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Add `n` host-header rules to the world's HTTPS listener (all forwarding to the api
/// reference's target group), one at a time (see above): moto does not enforce the quota.
pub async fn fill_listener_with_rules(w: &World, n: usize) {
    let tg = w.s(&["references", "api", "target_group_arn"]);
    let listener = w.s(&["listener_arn"]);
    let one = |i: usize| {
        let (tg, listener) = (tg.clone(), listener.clone());
        async move {
            let host = format!("stale{i}.example.com");
            add_forward_rule(w, &listener, 40_001 + i as i32, "host-header", &host, &tg).await;
        }
    };
    for i in 0..n {
        one(i).await;
    }
}

/// A new revision of the reference's task definition (its containers edited by `edit`), and
/// the reference service on it: the next create of a known environment takes the full path.
pub async fn change_reference_with(
    w: &World,
    edit: impl FnOnce(&mut Vec<aws_sdk_ecs::types::ContainerDefinition>),
) -> String {
    let cluster = w.s(&["cluster"]);
    let ref_arn = w.s(&["references", "api", "service_arn"]);
    let svc = w
        .aws
        .ecs
        .describe_services()
        .cluster(&cluster)
        .services(&ref_arn)
        .send()
        .await
        .unwrap()
        .services()[0]
        .clone();
    let td = w
        .aws
        .ecs
        .describe_task_definition()
        .task_definition(svc.task_definition().unwrap())
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap();
    let mut containers = td.container_definitions().to_vec();
    edit(&mut containers);
    let new_td = w
        .aws
        .ecs
        .register_task_definition()
        .family(td.family().unwrap())
        .set_task_role_arn(td.task_role_arn.clone())
        .set_execution_role_arn(td.execution_role_arn.clone())
        .set_network_mode(td.network_mode.clone())
        .set_container_definitions(Some(containers))
        .set_volumes(td.volumes.clone())
        .set_requires_compatibilities(td.requires_compatibilities.clone())
        .set_cpu(td.cpu.clone())
        .set_memory(td.memory.clone())
        .set_runtime_platform(td.runtime_platform.clone())
        .set_ephemeral_storage(td.ephemeral_storage.clone())
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap();
    w.aws
        .ecs
        .update_service()
        .cluster(&cluster)
        .service(&ref_arn)
        .task_definition(&new_td)
        .send()
        .await
        .unwrap();
    new_td
}

/// A new revision of the reference's task definition, unchanged, and the reference on it.
pub async fn change_reference(w: &World) {
    change_reference_with(w, |_| {}).await;
}

/// An ECS service's desired count, read back (DescribeServices).
pub async fn desired_count(w: &World, cluster: &str, service: &str) -> i32 {
    let out = w
        .aws
        .ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .unwrap();
    out.services.unwrap()[0].desired_count
}

/// A listener rule's last (final) action, read back (DescribeRules).
pub async fn final_action(
    w: &World,
    rule_arn: &str,
) -> aws_sdk_elasticloadbalancingv2::types::Action {
    let out = w
        .aws
        .elb
        .describe_rules()
        .rule_arns(rule_arn)
        .send()
        .await
        .unwrap();
    let rule = out.rules.unwrap().remove(0);
    rule.actions().last().unwrap().clone()
}

/// Whether a listener rule's final action forwards to `target_group`.
pub async fn forwards_to(w: &World, rule_arn: &str, target_group: Option<&str>) -> bool {
    final_action(w, rule_arn).await.target_group_arn() == target_group
}
