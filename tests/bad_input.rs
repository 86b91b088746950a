//! Bad input gets a clear error, a non-zero exit, and leaves the account unchanged.

mod common;

use common::*;

fn eden(config: &std::path::Path, table: &str, args: &[&str]) -> (i32, String, String) {
    let config = config.to_str().unwrap();
    let mut all = vec!["-c", config, "--remote-table-name", table];
    all.extend_from_slice(args);
    eden_cli(std::path::Path::new(config).parent().unwrap(), &all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_inputs_change_nothing() {
    let w = World::new("bi").await;
    let dir = tempfile::tempdir().unwrap();
    let config = w.write_config(dir.path());
    let before = w.snapshot().await;
    let img = w.image("api", "sha-1");
    let missing_tag = img.replace(":sha-1", ":no-such-tag");
    let missing_repo = img.replace("/api:", "/nope:");
    let bad_config = dir.path().join("bad");
    std::fs::write(
        &bad_config,
        "[api]\nname_prefix = x\nreference_service_arn = nope\n",
    )
    .unwrap();
    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, "[api\nname_prefix = x\n").unwrap();

    // The exit code follows the kind: 2 bad input, 3 refused by a check, 4 not found.
    let cases: Vec<(Vec<&str>, &str, Option<&std::path::Path>, i32)> = vec![
        (
            vec![
                "-p",
                "api",
                "create",
                "--name",
                "pr-1",
                "--image-uri",
                &missing_tag,
            ],
            "not found",
            None,
            3,
        ),
        (
            vec![
                "-p",
                "api",
                "create",
                "--name",
                "pr-1",
                "--image-uri",
                &missing_repo,
            ],
            "no ECR repository",
            None,
            3,
        ),
        (
            vec![
                "-p",
                "api",
                "create",
                "--name",
                "pr-1",
                "--image-uri",
                "nginx:latest",
            ],
            "not an Amazon ECR image",
            None,
            2,
        ),
        (
            vec![
                "-p",
                "nope",
                "create",
                "--name",
                "pr-1",
                "--image-uri",
                &img,
            ],
            "profile \"nope\" is not in",
            None,
            4,
        ),
        (
            vec!["-p", "api", "create", "--name", "", "--image-uri", &img],
            "environment name is empty",
            None,
            2,
        ),
        (
            vec!["-p", "api", "create", "--name", "pr-1", "--image-uri", &img],
            "required key target_cluster is missing",
            Some(&bad_config),
            2,
        ),
        (
            vec!["-p", "api", "create", "--name", "pr-1", "--image-uri", &img],
            "not a valid INI",
            Some(&garbage),
            2,
        ),
        (
            vec!["-p", "api", "delete", "--name", "///"],
            "no letter or digit",
            None,
            2,
        ),
        (
            vec![
                "-p",
                "api",
                "create",
                "--name",
                "pr-1",
                "--image-uri",
                &img,
                "--reference-service-arn",
                "arn:aws:ecs:ap-northeast-1:123456789012:service/x/missing",
                "--target-cluster",
                "x",
            ],
            "cluster",
            None,
            3,
        ),
    ];
    for (args, expect, cfg, want) in cases {
        let (code, stdout, stderr) = eden(cfg.unwrap_or(&config), &w.table, &args);
        assert_ne!(code, 0, "{args:?} succeeded: {stdout}");
        assert_eq!(code, want, "{args:?}: exit code; stderr {stderr}");
        assert!(
            stderr.contains(expect),
            "{args:?}: stderr {stderr:?} lacks {expect:?}"
        );
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "one clear line, not a backtrace: {stderr}"
        );
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert_eq!(w.snapshot().await, before, "{args:?} changed the account");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missing_image_does_not_touch_an_existing_environment() {
    let w = World::new("bx").await;
    let engine = w.engine(None).await;
    let api = w.profile("api");
    engine
        .create(&api, &w.request("pr-1", &w.image("api", "sha-1")))
        .await
        .unwrap();
    let before = w.snapshot().await;
    let err = engine
        .create(
            &api,
            &w.request("pr-1", &w.image("api", "sha-1").replace("sha-1", "gone")),
        )
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("push the image first"),
        "{err:#}"
    );
    assert_eq!(w.snapshot().await, before);
    verify_environment(&w, "api", "pr-1", &w.image("api", "sha-1")).await;
    engine.delete(&api, "pr-1").await.unwrap();
}
