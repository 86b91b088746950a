//! Every check that can refuse a create runs before its first write: a refused create leaves
//! the account exactly as it was (snapshot equality), says what to fix, and the CLI exits 1.

mod common;

use common::*;
use eden::profile::Profile;

/// The `admin` profile, but sharing `api`'s name_prefix (so its resources get api's names).
fn twin_of_api(w: &World) -> Profile {
    let mut raw = w.raw("admin");
    raw.insert("name_prefix".into(), w.raw("api")["name_prefix"].clone());
    Profile::from_raw("admin", &raw).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_profile_sharing_name_prefix_is_refused_before_any_write() {
    let w = World::new("pc").await;
    let engine = w.engine(None).await;
    engine
        .create(
            &w.profile("api"),
            &w.request("pr-1", &w.image("api", "sha-1")),
        )
        .await
        .unwrap();
    let before = w.snapshot().await;

    let err = engine
        .create(
            &twin_of_api(&w),
            &w.request("pr-1", &w.image("admin", "sha-1")),
        )
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("belongs to eden profile \"api\""), "{msg}");
    assert!(msg.contains("name_prefix"), "{msg}");
    assert_eq!(
        w.snapshot().await,
        before,
        "the refused create wrote something"
    );
    verify_environment(&w, "api", "pr-1", &w.image("api", "sha-1")).await;
}

/// Run the CLI on the world's profiles; returns (exit code, stderr).
fn cli(w: &World, dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let config = w.write_config(dir);
    let mut all = vec![
        "-c",
        config.to_str().unwrap(),
        "--remote-table-name",
        &w.table,
    ];
    all.extend_from_slice(args);
    let (code, _, stderr) = eden_cli(dir, &all);
    (code, stderr)
}

/// A refused create through the CLI: exit 3 (refused by a check), one `error:` line containing
/// `expect`, and the account exactly as it was.
async fn refused(w: &World, args: &[&str], expect: &str) {
    let dir = tempfile::tempdir().unwrap();
    let before = w.snapshot().await;
    let (code, stderr) = cli(w, dir.path(), args);
    assert_eq!(code, 3, "{args:?}: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(expect), "{stderr:?} lacks {expect:?}");
    assert_eq!(w.snapshot().await, before, "{args:?} changed the account");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_alb_holding_100_target_groups_is_refused_before_any_write() {
    let w = World::new("pt").await;
    w.warm().await;
    fill_alb_with_target_groups(&w, 100).await;
    let img = w.image("api", "sha-1");
    refused(
        &w,
        &["-p", "api", "create", "--name", "pr-1", "--image-uri", &img],
        "target groups 100/100",
    )
    .await;
    let (_, stderr) = cli(
        &w,
        tempfile::tempdir().unwrap().path(),
        &["-p", "api", "create", "--name", "pr-1", "--image-uri", &img],
    );
    assert!(
        stderr.contains("hard limit") && stderr.contains("eden delete"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_listener_at_the_rules_quota_is_refused_before_any_write() {
    let w = World::new("pr").await;
    w.warm().await;
    fill_listener_with_rules(&w, 100).await;
    let img = w.image("api", "sha-1");
    refused(
        &w,
        &["-p", "api", "create", "--name", "pr-1", "--image-uri", &img],
        "Service Quotas",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hostname_longer_than_a_host_header_condition_is_refused_before_any_write() {
    let w = World::new("ph").await;
    w.warm().await;
    // Every label fits DNS (≤ 63), the whole name fits DNS (≤ 253): only the ALB refuses it.
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
    let zone_id = zone
        .hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/")
        .to_string();
    let img = w.image("api", "sha-1");
    refused(
        &w,
        &[
            "-p",
            "api",
            "create",
            "--name",
            "pr-1",
            "--image-uri",
            &img,
            "--dynamic-zone-id",
            &zone_id,
        ],
        "at most 128",
    )
    .await;
    let records = w
        .aws
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .send()
        .await
        .unwrap();
    assert!(
        records.resource_record_sets().iter().all(|r| matches!(
            r.r#type(),
            aws_sdk_route53::types::RrType::Ns | aws_sdk_route53::types::RrType::Soa
        )),
        "a record was written into the long zone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_zone_name_that_is_not_the_zones_is_refused_before_any_write() {
    let w = World::new("pz").await;
    w.warm().await;
    let img = w.image("api", "sha-1");
    refused(
        &w,
        &[
            "-p",
            "api",
            "create",
            "--name",
            "pr-1",
            "--image-uri",
            &img,
            "--dynamic-zone-name",
            "elsewhere.example.com",
        ],
        "fix dynamic_zone_name",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hostname_taken_by_another_profile_is_refused_before_any_write() {
    let w = World::new("pn").await;
    let engine = w.engine(None).await;
    engine
        .create(
            &w.profile("api"),
            &w.request("pr-1", &w.image("api", "sha-1")),
        )
        .await
        .unwrap();
    // admin with api's domain_name_prefix: distinct resources, the same hostname.
    let img = w.image("admin", "sha-1");
    refused(
        &w,
        &[
            "-p",
            "admin",
            "create",
            "--name",
            "pr-1",
            "--image-uri",
            &img,
            "--domain-name-prefix",
            "api",
        ],
        "forwards to another target group",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_family_owned_by_another_profile_is_refused_before_any_write() {
    let w = World::new("pf").await;
    w.warm().await;
    let api = w.profile("api");
    let family = eden::names::ResourceNames::new(&api.name_prefix, "api", "pr-1").family;
    let tag = |k: &str, v: &str| aws_sdk_ecs::types::Tag::builder().key(k).value(v).build();
    w.aws
        .ecs
        .register_task_definition()
        .family(&family)
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("app")
                .image("nginx")
                .memory(512)
                .build(),
        )
        .tags(tag("eden:managed", "true"))
        .tags(tag("eden:profile", "other"))
        .tags(tag("eden:environment", "pr-1"))
        .send()
        .await
        .unwrap();
    let img = w.image("api", "sha-1");
    refused(
        &w,
        &["-p", "api", "create", "--name", "pr-1", "--image-uri", &img],
        "task definition family",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_container_missing_from_the_reference_is_refused_before_any_write() {
    let w = World::new("pk").await;
    w.warm().await;
    let img = w.image("api", "sha-1");
    refused(
        &w,
        &[
            "-p",
            "api",
            "create",
            "--name",
            "pr-1",
            "--image-uri",
            &img,
            "--target-container-name",
            "nope",
        ],
        "set target_container_name",
    )
    .await;
}

#[test]
fn config_check_reports_profiles_that_would_collide() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    let arn = |c: &str| format!("arn:aws:ecs:ap-northeast-1:123456789012:service/{c}/ref");
    let alb =
        "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:loadbalancer/app/common/0123";
    let section = |name: &str, prefix: &str, domain: &str| {
        format!(
            "[{name}]\nname_prefix = {prefix}\nreference_service_arn = {}\ntarget_cluster = dev\ndomain_name_prefix = {domain}\nmaster_alb_arn = {alb}\ndynamic_zone_id = Z0123456789ABC\n",
            arn("dev")
        )
    };
    let config = |text: String| {
        std::fs::write(&path, text).unwrap();
        let p = path.to_str().unwrap();
        eden_cli(dir.path(), &["-c", p, "config", "check"])
    };

    let (code, stdout, stderr) =
        config(section("api", "dev-api", "api") + &section("admin", "dev-admin", "admin"));
    assert_eq!(code, 0, "{stdout}{stderr}");

    let (code, _, stderr) =
        config(section("api", "dev-api", "api") + &section("api2", "dev-api", "api2"));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("profiles api and api2 would collide"),
        "{stderr}"
    );
    assert!(stderr.contains("rename name_prefix"), "{stderr}");

    let (code, _, stderr) = config(section("a", "dev_api", "a") + &section("b", "dev-api", "b"));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("target group dev-api-pr-1"), "{stderr}");
}
