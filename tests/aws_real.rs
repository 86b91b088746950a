//! What real AWS does that the emulator forgives, injected into the SDK's pipeline
//! (`eden::aws::inject`): S3 without `s3:ListBucket`, ELBv2 DescribeTags failing on one gone
//! ARN. Every other call goes to the emulator; results are checked with independent reads.
//! docs/aws-semantics.md lists each behaviour with the test that covers it.

mod common;

use common::*;
use eden::aws::inject::{Fake, Rule, When};
use eden::aws::Injector;
use eden::engine::Action;

fn access_denied_for_missing_keys() -> Rule {
    // Without s3:ListBucket, S3 answers a GET of a missing key with 403, where moto says 404.
    Rule::new(
        "S3",
        "GetObject",
        When::Replacing(404),
        Fake::s3(403, "AccessDenied", "Access Denied"),
    )
}

async fn object(w: &World, key: &str) -> Option<serde_json::Value> {
    let out = w
        .aws
        .s3
        .get_object()
        .bucket(w.s(&["bucket"]))
        .key(key)
        .send()
        .await
        .ok()?;
    let bytes = out.body.collect().await.unwrap().into_bytes();
    Some(serde_json::from_slice(&bytes).unwrap())
}

async fn remove_file(w: &World) {
    w.aws
        .s3
        .delete_object()
        .bucket(w.s(&["bucket"]))
        .key("environments.json")
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_without_list_bucket_create_and_delete_finish_on_a_fresh_bucket() {
    let w = World::new("s3a").await;
    let inj = Injector::new();
    let denied = inj.add(access_denied_for_missing_keys());
    let engine = w.engine_injected(inj.clone()).await;
    let api = w.profile("api");
    let img = w.image("api", "sha-1");
    remove_file(&w).await; // a fresh bucket

    let out = engine.create(&api, &w.request("pr-1", &img)).await.unwrap();
    assert_eq!(out.action, Some(Action::Created));
    assert!(denied.hits() >= 1, "the 403 was seen");
    let doc = object(&w, "environments.json").await.expect("file created");
    let entries = doc["environments"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{doc}");
    let f = api.endpoints.clone().unwrap();
    assert_eq!(
        entries[0]["name"].as_str(),
        Some(format!("{}-pr-1", f.name_prefix).as_str())
    );
    assert!(entries[0][&f.update_key].is_string(), "{doc}");
    verify_environment(&w, "api", "pr-1", &img).await;

    // The file vanishes again (a fresh bucket for delete): delete still finishes.
    remove_file(&w).await;
    let before = denied.hits();
    let out = engine.delete(&api, "pr-1").await.unwrap();
    assert_eq!(out.action, Some(Action::Deleted));
    assert!(denied.hits() > before, "delete met the 403 too");
    let snap = w.snapshot().await;
    assert!(
        !snap.state_items.iter().any(|i| i.ends_with("|pr-1")),
        "state removed: {:?}",
        snap.state_items
    );
    assert!(
        !snap.target_groups.iter().any(|t| t.contains("pr-1")),
        "{:?}",
        snap.target_groups
    );
    // the conditional create that settled the 403 left an empty, valid file
    assert_eq!(
        object(&w, "environments.json").await,
        Some(serde_json::json!({"environments": []}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_read_denied_on_an_existing_file_is_a_clear_error() {
    let w = World::new("s3b").await;
    let inj = Injector::new();
    // A real denial of s3:GetObject: 403 whether or not the key exists.
    inj.add(Rule::new(
        "S3",
        "GetObject",
        When::Instead,
        Fake::s3(403, "AccessDenied", "Access Denied"),
    ));
    let engine = w.engine_injected(inj).await;
    let before = object(&w, "environments.json").await;
    assert!(before.is_some());

    let err = engine
        .create(
            &w.profile("api"),
            &w.request("pr-2", &w.image("api", "sha-1")),
        )
        .await
        .expect_err("reading the file is denied");
    let msg = format!("{err:#}");
    assert!(msg.contains("s3:GetObject"), "{msg}");
    assert!(msg.contains("exists"), "{msg}");
    assert_eq!(
        object(&w, "environments.json").await,
        before,
        "file untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_denied_read_and_write_names_list_bucket() {
    let w = World::new("s3c").await;
    let inj = Injector::new();
    inj.add(access_denied_for_missing_keys());
    let put = inj.add(Rule::new(
        "S3",
        "PutObject",
        When::Instead,
        Fake::s3(403, "AccessDenied", "Access Denied"),
    ));
    let engine = w.engine_injected(inj).await;
    remove_file(&w).await;

    let err = engine
        .create(
            &w.profile("api"),
            &w.request("pr-3", &w.image("api", "sha-1")),
        )
        .await
        .expect_err("S3 refuses both");
    let msg = format!("{err:#}");
    let bucket = w.s(&["bucket"]);
    assert!(
        msg.contains(&format!("s3:ListBucket on arn:aws:s3:::{bucket}")),
        "{msg}"
    );
    assert!(
        msg.contains("s3:GetObject") && msg.contains("s3:PutObject"),
        "{msg}"
    );
    assert_eq!(put.hits(), 1);
    assert_eq!(
        object(&w, "environments.json").await,
        None,
        "a denied PUT never reached S3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_tags_failing_on_a_deleted_rule_does_not_orphan_the_target_group() {
    let w = World::new("dt").await;
    let inj = Injector::new();
    let engine = w.engine_injected(inj.clone()).await;
    let api = w.profile("api");
    let img = w.image("api", "sha-1");
    w.warm().await;
    let before = w.snapshot().await;

    engine.create(&api, &w.request("pr-4", &img)).await.unwrap();
    let env = verify_environment(&w, "api", "pr-4", &img).await;
    // A delete that died right after DeleteRule: the rule is gone, everything else is there.
    w.aws
        .elb
        .delete_rule()
        .rule_arn(&env.rule_arn)
        .send()
        .await
        .unwrap();
    // Real ELBv2 then fails any DescribeTags naming that rule (moto answers with empty tags).
    let gone = env.rule_arn.clone();
    let failed = inj.add(
        Rule::new(
            "Elastic Load Balancing v2",
            "DescribeTags",
            When::Instead,
            Fake::elbv2(400, "RuleNotFound", "One or more rules not found"),
        )
        .input(move |i: &aws_sdk_elasticloadbalancingv2::operation::describe_tags::DescribeTagsInput| {
            i.resource_arns().contains(&gone)
        }),
    );

    let out = engine.delete(&api, "pr-4").await.unwrap();
    assert_eq!(out.action, Some(Action::Deleted));
    assert!(failed.hits() >= 1, "DescribeTags met the real error");
    assert_eq!(
        out.target_group_arn.as_deref(),
        Some(env.target_group_arn.as_str())
    );
    let tg = w
        .aws
        .elb
        .describe_target_groups()
        .target_group_arns(&env.target_group_arn)
        .send()
        .await;
    assert!(tg.is_err(), "target group still there: {tg:?}");
    assert_eq!(w.snapshot().await, before, "nothing left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_in_another_account_is_checked_there_and_a_denial_says_what_to_allow() {
    let w = World::new("ecr").await;
    let inj = Injector::new();
    let other = "210987654321";
    // the image URI names another account's registry, on the dual-stack endpoint
    let own = w.image("api", "sha-1");
    let (_, path) = own.split_once('/').unwrap();
    let uri = format!("{other}.dkr-ecr.{REGION}.on.aws/{path}");
    let asked: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let seen = asked.clone();
    let denied = inj.add(
        Rule::new(
            "ECR",
            "DescribeImages",
            When::Instead,
            Fake::json(
                400,
                "AccessDeniedException",
                "User is not authorized to perform: ecr:DescribeImages",
            ),
        )
        .input(
            move |i: &aws_sdk_ecr::operation::describe_images::DescribeImagesInput| {
                seen.lock()
                    .unwrap()
                    .push(i.registry_id().unwrap_or_default().to_string());
                true
            },
        ),
    );
    let engine = w.engine_injected(inj).await;
    let before = w.snapshot().await;
    let err = engine
        .create(&w.profile("api"), &w.request("pr-9", &uri))
        .await
        .expect_err("the registry refuses");
    let msg = format!("{err:#}");
    assert!(denied.hits() >= 1);
    assert_eq!(
        asked.lock().unwrap().first().map(String::as_str),
        Some(other)
    );
    assert!(
        msg.contains(&format!(
            "ecr:DescribeImages on arn:aws:ecr:{REGION}:{other}:repository/"
        )),
        "{msg}"
    );
    assert!(msg.contains("repository's policy"), "{msg}");
    assert_eq!(w.snapshot().await, before, "nothing written");
}
